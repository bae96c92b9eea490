//! Webhooks through the real binary on simulated modems, delivered to
//! receivers written here (a small HTTP/1.1 server on 127.0.0.1): a
//! receiver that is down, then answers 500, then 200 gets every event at
//! least once, also across `kill -9` during the backlog; 410 disables an
//! endpoint and a replay enables it again; a dead endpoint slows neither
//! sending nor another endpoint; the PyPI `standardwebhooks` verifier
//! accepts every signature we make and refuses a changed body. Tests wait
//! on the receiver's notifications and the daemon's events, never on sleeps.
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use hmac::Mac;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The secret every test endpoint uses (24 bytes).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// The status it was answered (None: not answered).
    status: Option<u16>,
    /// When it arrived.
    at: Instant,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers request number `n` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Status(u16),
    /// A status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// Hold the request until the gate opens, then answer 200.
    Gate,
    /// Never answer.
    Hang,
}

type Plan = Box<dyn FnMut(usize) -> Reply + Send>;

struct State {
    got: Vec<Got>,
    plan: Plan,
}

/// A local webhook receiver.
struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    gate: Arc<tokio::sync::Semaphore>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// A port nothing listens on yet (connections are refused until `listen`).
    async fn reserve(plan: Plan) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        Receiver {
            port,
            state: Arc::new(Mutex::new(State {
                got: Vec::new(),
                plan,
            })),
            changed: Arc::new(Notify::new()),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            task: None,
        }
    }

    async fn start(plan: Plan) -> Receiver {
        let mut r = Receiver::reserve(plan).await;
        r.listen().await;
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn listen(&mut self) {
        let l = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the reserved port");
        let (state, changed, gate) = (self.state.clone(), self.changed.clone(), self.gate.clone());
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    return;
                };
                let (state, changed, gate) = (state.clone(), changed.clone(), gate.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, state, changed, gate).await;
                });
            }
        }));
    }

    fn open_gate(&self) {
        self.gate.add_permits(1_000_000);
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().expect("state").got.clone()
    }

    /// Waits until `cond` holds for what the receiver got.
    async fn wait(&self, timeout: Duration, what: &str, cond: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.got();
            if cond(&got) {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: not within {timeout:?}; got {} requests",
                got.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// One connection: requests in a row (keep-alive), each recorded, then
/// answered as the plan says.
async fn serve(
    sock: tokio::net::TcpStream,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    gate: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).await?;
        let (index, reply) = {
            let mut s = state.lock().expect("state");
            let n = s.got.len();
            let reply = (s.plan)(n);
            s.got.push(Got {
                headers,
                body,
                status: None,
                at: Instant::now(),
            });
            (n, reply)
        };
        changed.notify_waiters();
        let mut extra = String::new();
        let status = match reply {
            Reply::Status(s) => s,
            Reply::RetryAfter(s, after) => {
                extra = format!("retry-after: {after}\r\n");
                s
            }
            Reply::Gate => {
                let _permit = gate.acquire().await;
                200
            }
            Reply::Hang => {
                std::future::pending::<()>().await;
                return Ok(());
            }
        };
        let answer = format!("HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\n\r\n");
        w.write_all(answer.as_bytes()).await?;
        if let Some(g) = state.lock().expect("state").got.get_mut(index) {
            g.status = Some(status);
        }
        changed.notify_waiters();
    }
}

/// A `[[webhook]]` section.
fn endpoint(id: &str, url: &str, events: &[&str]) -> String {
    format!(
        "[[webhook]]\nid = \"{id}\"\nurl = \"{url}\"\nevents = {}\nsecret = \"{SECRET}\"\n\n",
        json!(events)
    )
}

/// `[webhooks]` with a short schedule for tests.
fn settings(retry: &[&str], timeout: &str) -> String {
    format!(
        "[webhooks]\ntimeout = \"{timeout}\"\nretry = {}\n\n",
        json!(retry)
    )
}

/// Checks a request's Standard Webhooks headers and signature (computed
/// here with the hmac crate, independently of the daemon's code).
fn check_signature(g: &Got) {
    let id = &g.headers["webhook-id"];
    let ts = &g.headers["webhook-timestamp"];
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("key");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&g.body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(g.headers["webhook-signature"], want, "signature of {id}");
    let ev = g.json();
    assert_eq!(
        *id,
        format!("evt_{}", ev["event_id"]),
        "webhook-id names the event"
    );
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().expect("unix seconds");
    assert!((0..300).contains(&age), "timestamp {ts} is {age} s old");
}

/// The message ids of the `sent` events answered 200.
fn delivered_ids(got: &[Got]) -> BTreeSet<i64> {
    got.iter()
        .filter(|g| g.status == Some(200))
        .map(|g| g.json())
        .filter(|v| v["type"] == "sent")
        .filter_map(|v| v["data"]["id"].as_i64())
        .collect()
}

fn send_many(g: &Gateway, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| g.send(&external(i), &format!("webhook test {i}")))
        .collect()
}

/// A long, patient schedule of short steps: the receiver may be down for
/// seconds without an event being given up.
const PATIENT: &[&str] = &[
    "100ms", "200ms", "300ms", "500ms", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s",
    "1s", "1s", "1s", "1s", "1s", "1s", "1s",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn down_then_500_then_200_loses_nothing_across_kill_9() {
    const N: usize = 60;
    // Down (refused) at first; then 5 times 500; then 20 answers at once;
    // then every answer waits for the gate, so a backlog is in flight when
    // the daemon is killed.
    let mut rx = Receiver::reserve(Box::new(|n| match n {
        0..=4 => Reply::Status(500),
        5..=24 => Reply::Status(200),
        _ => Reply::Gate,
    }))
    .await;
    let extra = format!(
        "{}{}",
        settings(PATIENT, "5s"),
        endpoint("app", &rx.url(), &["sent"])
    );
    let mut g = Gateway::start(vec![ModemPlan::default(); 2], &extra).await;
    let ids = send_many(&g, N);
    for id in &ids {
        g.wait_final(*id, T);
    }
    // While the receiver is down, attempts fail and are recorded.
    let deadline = Instant::now() + T;
    loop {
        let d = g.ok(json!({"cmd": "webhook_deliveries", "webhook": "app"}));
        let refused = d.as_array().expect("list").iter().any(|r| {
            r["result"] == "failed" && r["status"].is_null() && r["error"].as_str().is_some()
        });
        if refused {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt recorded: {d}");
        g.watch().next(Duration::from_millis(200));
    }
    rx.listen().await;
    // 500s, then 20 accepted, then the rest held: kill -9 with the backlog
    // in flight, open the gate, start again.
    rx.wait(T, "the receiver holds answers", |got| {
        got.iter().filter(|g| g.status.is_none()).count() >= 1
            && got.iter().filter(|g| g.status == Some(200)).count() >= 20
    })
    .await;
    g.kill9();
    rx.open_gate();
    g.spawn();
    g.wait_notify("READY=1", T);
    let got = rx
        .wait(
            Duration::from_secs(120),
            "every sent event delivered",
            |got| delivered_ids(got).len() >= N,
        )
        .await;
    let want: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(
        delivered_ids(&got),
        want,
        "every message's sent event, at least once"
    );
    assert!(got.iter().filter(|g| g.status == Some(500)).count() >= 5);
    for r in &got {
        check_signature(r);
        assert_eq!(r.json()["type"], "sent", "only the endpoint's events");
    }
    // The same event keeps its webhook-id on every retry: each id that was
    // answered 500 came again and was answered 200.
    let mut by_id: BTreeMap<String, Vec<Option<u16>>> = BTreeMap::new();
    for r in &got {
        by_id
            .entry(r.headers["webhook-id"].clone())
            .or_default()
            .push(r.status);
    }
    for (id, statuses) in &by_id {
        assert!(statuses.contains(&Some(200)), "{id}: {statuses:?}");
    }
    // Nothing was given up; the records show the failures and the successes.
    let records = g.ok(json!({"cmd": "webhook_deliveries", "webhook": "app", "limit": 10000}));
    let records = records.as_array().expect("list");
    assert!(
        records.iter().all(|r| r["result"] != "gave_up"),
        "{records:?}"
    );
    assert!(records.iter().any(|r| r["status"] == 500));
    let status = g.ok(json!({"cmd": "status"}));
    assert!(
        status["events"]["pending"].get("webhook:app").is_some(),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gone_disables_and_replay_enables() {
    let gone = Receiver::start(Box::new(|n| {
        if n == 0 {
            Reply::Status(410)
        } else {
            Reply::Status(200)
        }
    }))
    .await;
    let witness = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let extra = format!(
        "{}{}{}",
        settings(&["100ms"], "5s"),
        endpoint("gone", &gone.url(), &["sent"]),
        endpoint("witness", &witness.url(), &["sent"])
    );
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;
    let first = g.send(&external(1), "one");
    gone.wait(T, "the first event reaches the endpoint", |got| {
        got.iter().any(|g| g.status == Some(410))
    })
    .await;
    // Disabled: a second event reaches the witness but not the endpoint.
    let deadline = Instant::now() + T;
    loop {
        let list = g.ok(json!({"cmd": "webhook_list"}));
        let e = list
            .as_array()
            .expect("list")
            .iter()
            .find(|w| w["id"] == "gone")
            .cloned()
            .expect("endpoint");
        if e["disabled"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "not disabled: {e}");
        g.watch().next(Duration::from_millis(200));
    }
    let second = g.send(&external(2), "two");
    witness
        .wait(T, "the witness gets both", |got| {
            delivered_ids(got).len() == 2
        })
        .await;
    assert_eq!(gone.got().len(), 1, "a disabled endpoint gets nothing more");
    let d = g.ok(json!({"cmd": "webhook_deliveries", "webhook": "gone"}));
    assert_eq!(d[0]["result"], "disabled", "{d}");
    assert_eq!(d[0]["status"], 410, "{d}");
    // A replay from before the first event enables it and delivers both.
    let since = g.ok(json!({"cmd": "status"}))["events"]["last_id"]
        .as_i64()
        .expect("id")
        - 100;
    let r = g.ok(json!({"cmd": "webhook_replay", "webhook": "gone", "since": since.max(0)}));
    assert_eq!(r["disabled"], false, "{r}");
    let got = gone
        .wait(T, "both events after the replay", |got| {
            delivered_ids(got).len() == 2
        })
        .await;
    assert_eq!(delivered_ids(&got), BTreeSet::from([first, second]));
    // An endpoint from the configuration cannot be removed over the socket.
    let r = g.call(json!({"cmd": "webhook_remove", "webhook": "gone"}));
    assert_eq!(r["error"]["code"], "conflict", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_endpoint_slows_neither_sending_nor_another_endpoint() {
    const N: usize = 40;
    let dead = Receiver::start(Box::new(|_| Reply::Hang)).await;
    let live = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let extra = format!(
        "{}{}{}",
        settings(&["1m"], "60s"),
        endpoint("dead", &dead.url(), &[]),
        endpoint("live", &live.url(), &["sent"])
    );
    let g = Gateway::start(vec![ModemPlan::default(); 2], &extra).await;
    let started = Instant::now();
    let ids = send_many(&g, N);
    for id in &ids {
        let m = g.wait_final(*id, T);
        assert_eq!(m["state"], "sent", "{m}");
    }
    let got = live
        .wait(T, "the live endpoint gets every sent event", |got| {
            delivered_ids(got).len() >= N
        })
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "sending and the live endpoint took {took:?}"
    );
    assert_eq!(
        delivered_ids(&got),
        ids.iter().copied().collect::<BTreeSet<i64>>()
    );
    // The dead one holds only its parallel deliveries, all unanswered.
    let stuck = dead.got();
    assert!(
        !stuck.is_empty() && stuck.len() <= 8,
        "{} requests",
        stuck.len()
    );
    assert!(stuck.iter().all(|g| g.status.is_none()));
    // Its backlog shows in status.
    let s = g.ok(json!({"cmd": "status"}));
    let pending = s["events"]["pending"]["webhook:dead"]
        .as_i64()
        .expect("pending");
    assert!(pending >= N as i64, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socket_endpoints_android_flavour_and_signing_key() {
    let rx = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let extra = "[compat]\nsigning_key = \"k3y\"\ndevice_id = \"gw1\"\n\n".to_string()
        + &settings(&["100ms"], "5s");
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;
    let native = g.ok(json!({"cmd": "webhook_add", "url": rx.url(), "events": ["queued"]}));
    let secret = native["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{native}");
    let android = g.ok(json!({"cmd": "webhook_add", "url": rx.url(),
                               "events": ["sms:sent"], "flavour": "android"}));
    // A client-named endpoint, registered twice: replaced, not doubled.
    let named = json!({"cmd": "webhook_add", "webhook": "mine", "url": "http://127.0.0.1:1/x"});
    g.ok(named.clone());
    let again = g.ok(named);
    assert_eq!(again["id"], "mine");
    let list = g.ok(json!({"cmd": "webhook_list"}));
    let mine = list
        .as_array()
        .expect("list")
        .iter()
        .filter(|w| w["id"] == "mine")
        .count();
    assert_eq!(mine, 1, "{list}");
    let bad = g.call(json!({"cmd": "webhook_add", "webhook": "a b", "url": rx.url()}));
    assert_eq!(bad["error"]["code"], "invalid", "{bad}");
    g.ok(json!({"cmd": "webhook_remove", "webhook": "mine"}));
    let bad = g.call(json!({"cmd": "webhook_add", "url": "ftp://x", "events": []}));
    assert_eq!(bad["error"]["code"], "invalid", "{bad}");
    let bad = g.call(json!({"cmd": "webhook_add", "url": rx.url(), "events": ["sms:sent"]}));
    assert_eq!(bad["error"]["code"], "invalid", "{bad}");
    let id = g.send(&external(3), "compat");
    let got = rx
        .wait(T, "queued (native) and sms:sent (android)", |got| {
            got.iter().filter(|g| g.status == Some(200)).count() >= 2
        })
        .await;
    let env = got
        .iter()
        .find(|g| g.headers.contains_key("x-signature"))
        .expect("an android delivery");
    let v = env.json();
    assert_eq!(v["event"], "sms:sent");
    assert_eq!(v["deviceId"], "gw1");
    assert_eq!(v["webhookId"], android["id"]);
    assert_eq!(v["payload"]["messageId"], id.to_string());
    assert_eq!(v["payload"]["simNumber"], 1);
    let ts = &env.headers["x-timestamp"];
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y").expect("hmac");
    mac.update(&env.body);
    mac.update(ts.as_bytes());
    assert_eq!(
        env.headers["x-signature"],
        hex::encode(mac.finalize().into_bytes())
    );
    let n = got
        .iter()
        .find(|g| g.headers.contains_key("webhook-id"))
        .expect("a native delivery");
    assert_eq!(n.json()["type"], "queued");
    // Removed: listed no more.
    let nid = native["id"].as_str().expect("id");
    g.ok(json!({"cmd": "webhook_remove", "webhook": nid}));
    let list = g.ok(json!({"cmd": "webhook_list"}));
    assert_eq!(list.as_array().expect("list").len(), 1, "{list}");
    let s = g.ok(json!({"cmd": "status"}));
    assert!(
        s["events"]["pending"]
            .get(format!("webhook:{nid}"))
            .is_none(),
        "the cursor goes with the endpoint: {s}"
    );
    let r = g.call(json!({"cmd": "webhook_deliveries", "webhook": nid}));
    assert_eq!(r["error"]["code"], "not_found", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_adds_and_removes_configured_endpoints() {
    let rx = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let mut g = Gateway::start(vec![ModemPlan::default()], &settings(&["100ms"], "5s")).await;
    let list = g.ok(json!({"cmd": "webhook_list"}));
    assert_eq!(list, json!([]));
    // Added by a reload: gets what is committed after it.
    let before = g.send(&external(1), "before");
    g.wait_final(before, T);
    g.extra = settings(&["100ms"], "5s") + &endpoint("app", &rx.url(), &["sent"]);
    g.write_config();
    g.ok(json!({"cmd": "reload"}));
    let list = g.ok(json!({"cmd": "webhook_list"}));
    assert_eq!(list[0]["id"], "app", "{list}");
    assert_eq!(list[0]["source"], "config", "{list}");
    let after = g.send(&external(2), "after");
    let got = rx
        .wait(T, "the new endpoint gets the new event", |got| {
            !delivered_ids(got).is_empty()
        })
        .await;
    assert_eq!(
        delivered_ids(&got),
        BTreeSet::from([after]),
        "not the older event"
    );
    // Removed by a reload: gone with its cursor.
    g.extra = settings(&["100ms"], "5s");
    g.write_config();
    g.ok(json!({"cmd": "reload"}));
    assert_eq!(g.ok(json!({"cmd": "webhook_list"})), json!([]));
    let s = g.ok(json!({"cmd": "status"}));
    assert!(s["events"]["pending"].get("webhook:app").is_none(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_is_honoured_and_the_last_retry_gives_up() {
    // "slow": 429 with Retry-After: 2, then 200. "never": no answer at all.
    let slow = Receiver::start(Box::new(|n| {
        if n == 0 {
            Reply::RetryAfter(429, "2")
        } else {
            Reply::Status(200)
        }
    }))
    .await;
    let never = Receiver::start(Box::new(|_| Reply::Hang)).await;
    let extra = format!(
        "{}{}{}",
        settings(&["100ms", "100ms"], "300ms"),
        endpoint("slow", &slow.url(), &["sent"]),
        endpoint("never", &never.url(), &["sent"])
    );
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;
    let id = g.send(&external(5), "patience");
    let got = slow
        .wait(T, "the retry after 429", |got| {
            delivered_ids(got).len() == 1
        })
        .await;
    assert_eq!(delivered_ids(&got), BTreeSet::from([id]));
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "Retry-After: 2 honoured over a 100ms schedule: waited {waited:?}"
    );
    // Three attempts (the first and two retries), each timing out, then
    // given up: recorded, and the cursor moves on.
    let deadline = Instant::now() + T;
    let records = loop {
        let d = g.ok(json!({"cmd": "webhook_deliveries", "webhook": "never"}));
        if d[0]["result"] == "gave_up" || Instant::now() > deadline {
            break d;
        }
        g.watch().next(Duration::from_millis(200));
    };
    let records = records.as_array().expect("list").clone();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["result"], "gave_up", "{records:?}");
    assert_eq!(records[0]["attempt"], 3);
    assert!(records[0]["error"]
        .as_str()
        .expect("error")
        .contains("no answer within 300ms"));
    assert!(records[1..]
        .iter()
        .all(|r| r["result"] == "failed" && !r["next_at"].is_null()));
    assert_eq!(never.got().len(), 3);
    let s = g.ok(json!({"cmd": "status"}));
    let last = s["events"]["last_id"].as_i64().expect("last");
    let deadline = Instant::now() + T;
    loop {
        let list = g.ok(json!({"cmd": "webhook_list"}));
        let never = list
            .as_array()
            .expect("list")
            .iter()
            .find(|w| w["id"] == "never")
            .cloned()
            .expect("never");
        if never["position"].as_i64() >= Some(last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cursor stays behind: {never}"
        );
        g.watch().next(Duration::from_millis(200));
    }
    assert!(g.ok(json!({"cmd": "status"}))["webhooks"]["deliveries"]["gave_up"] == 1);
}

/// Runs `smsgate ARGS --socket S`; answers (exit code, stdout).
fn cli(g: &Gateway, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .arg("--socket")
        .arg(&g.socket)
        .output()
        .expect("smsgate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_webhook_commands() {
    let rx = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let g = Gateway::start(vec![ModemPlan::default()], &settings(&["100ms"], "5s")).await;
    let url = rx.url();
    let (code, out) = cli(&g, &["webhook", "add", &url, "--event", "sent", "--json"]);
    assert_eq!(code, 0, "{out}");
    let added: Value = serde_json::from_str(&out).expect("json");
    let id = added["id"].as_str().expect("id").to_string();
    assert!(added["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));
    let (code, out) = cli(&g, &["webhook", "add", &url, "--event", "nonsense"]);
    assert_eq!(code, 2, "an invalid endpoint is a usage error: {out}");
    let m = g.send(&external(4), "cli");
    rx.wait(T, "the sent event", |got| {
        delivered_ids(got) == BTreeSet::from([m])
    })
    .await;
    let (code, out) = cli(&g, &["webhook", "list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&id) && out.contains("PENDING") && out.contains("enabled"),
        "{out}"
    );
    // Deliveries: JSON lines, newest first; the table names the result.
    let deadline = Instant::now() + T;
    let lines = loop {
        let (code, out) = cli(&g, &["webhook", "deliveries", &id, "--json"]);
        assert_eq!(code, 0, "{out}");
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            break lines;
        }
        g.watch().next(Duration::from_millis(100));
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "ok");
    assert_eq!(lines[0]["status"], 200);
    let (_, table) = cli(&g, &["webhook", "deliveries", &id]);
    assert!(table.contains("RESULT") && table.contains("ok"), "{table}");
    // Replay from 0: the same event again, with the same webhook-id.
    let (code, out) = cli(&g, &["webhook", "replay", &id, "--since", "0"]);
    assert_eq!(code, 0, "{out}");
    let got = rx.wait(T, "the replayed event", |got| got.len() >= 2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    let (code, out) = cli(&g, &["webhook", "replay", &id, "--since", "-1"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = cli(&g, &["webhook", "remove", &id]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&g, &["webhook", "remove", &id]);
    assert_eq!(code, 1, "not found is a runtime error: {out}");
    let (_, out) = cli(&g, &["webhook", "list", "--json"]);
    assert_eq!(out.trim(), "", "no endpoint left");
}

/// The Python interpreter of the venv `.ci/run` makes.
fn pyenv() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    p.exists().then_some(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standardwebhooks_verifies_every_signature_and_refuses_a_changed_body() {
    let Some(python) = pyenv() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: target/pyenv (with standardwebhooks) is missing; .ci/run makes it"
        );
        eprintln!("SKIPPED: no target/pyenv; run .ci/run's venv line to make it");
        return;
    };
    let rx = Receiver::start(Box::new(|_| Reply::Status(200))).await;
    let extra = settings(&["100ms"], "5s") + &endpoint("app", &rx.url(), &[]);
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;
    // Texts with quotes, backslashes, non-ASCII and a long one: every body
    // byte is signed as sent.
    let texts = [
        "plain",
        "quote \" and \\ backslash",
        "grüße ünïcödé €",
        &"x".repeat(400),
    ];
    for (i, t) in texts.iter().enumerate() {
        g.send(&external(i), t);
    }
    let got = rx
        .wait(T, "queued and sent of every message", |got| {
            got.iter().filter(|g| g.json()["type"] == "sent").count() >= texts.len()
        })
        .await;
    let cases: Vec<Value> = got
        .iter()
        .map(|g| {
            json!({
                "headers": {
                    "webhook-id": g.headers["webhook-id"],
                    "webhook-timestamp": g.headers["webhook-timestamp"],
                    "webhook-signature": g.headers["webhook-signature"],
                },
                "body": base64::engine::general_purpose::STANDARD.encode(&g.body),
            })
        })
        .collect();
    let file = g.dir.path().join("webhooks.json");
    std::fs::write(
        &file,
        json!({"secret": SECRET, "requests": cases}).to_string(),
    )
    .expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/verify_webhooks.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&file)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verifier failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("verified {}", cases.len())),
        "{stdout}"
    );
}
