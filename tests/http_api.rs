//! The HTTP API against the real daemon on simulated modems: tokens and
//! scopes, every kind of bad input answered with its status and a
//! problem+json body while the daemon keeps sending, idempotency under 20
//! concurrent clients and across a `kill -9`, multi-recipient sends in one
//! commit, paging, health, the OpenAPI document, and Server-Sent Events
//! resumed with `Last-Event-ID`.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::http::{section, Client};
use common::{msisdn, Gateway, ModemPlan, T};
use serde_json::{json, Value};

async fn start(modems: usize, http_extra: &str) -> (Gateway, Client, String) {
    let port = common::http::free_port();
    let g = Gateway::start(
        vec![ModemPlan::default(); modems],
        &section(port, http_extra),
    )
    .await;
    let token = g.ok(json!({"cmd": "token_create", "name": "app", "scopes": ["admin"]}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = Client::new(port, Some(&token));
    (g, c, token)
}

fn wait_ready(c: &Client) {
    let deadline = Instant::now() + T;
    while c.get("/health/ready").status != 200 {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_scopes_and_authentication() {
    let (g, c, token) = start(1, "").await;
    // No token, a wrong one, a malformed header: 401 with a challenge.
    let anon = c.with_auth(None);
    let r = anon.get("/api/v1/status");
    r.problem(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().contains("Bearer"));
    c.with_auth(Some("Bearer sgt_nope".into()))
        .get("/api/v1/status")
        .problem(401, "unauthorized");
    c.with_auth(Some("Token x".into()))
        .get("/api/v1/status")
        .problem(401, "unauthorized");
    // Basic: the token's name as user, the token as password.
    use base64::Engine;
    let basic = |user: &str| {
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        ))
    };
    assert_eq!(c.with_auth(basic("app")).get("/api/v1/status").status, 200);
    c.with_auth(basic("other"))
        .get("/api/v1/status")
        .problem(401, "unauthorized");
    // Scopes: read cannot send; send cannot read; admin does all.
    let ro = g.ok(json!({"cmd": "token_create", "name": "ro", "scopes": ["read"]}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ro = c.with_auth(Some(format!("Bearer {ro}")));
    assert_eq!(ro.get("/api/v1/messages").status, 200);
    ro.post("/api/v1/messages", &json!({"to": msisdn(9), "text": "x"}))
        .problem(403, "forbidden");
    ro.post("/api/v1/ussd", &json!({"modem": "m0", "code": "*100#"}))
        .problem(403, "forbidden");
    let list = g.ok(json!({"cmd": "token_list"}));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "ro"]);
    assert!(
        !list.to_string().contains("sgt_"),
        "list shows no secret: {list}"
    );
    // A duplicate name is a conflict; revoking works at once.
    let dup = g.call(json!({"cmd": "token_create", "name": "ro"}));
    assert_eq!(dup["error"]["code"], "conflict", "{dup}");
    g.ok(json!({"cmd": "token_revoke", "name": "ro"}));
    ro.get("/api/v1/messages").problem(401, "unauthorized");
    // The store keeps only a hash.
    let db = std::fs::read(&g.db).unwrap_or_default();
    let wal = std::fs::read(g.db.with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the secret is not in the database"
        );
    }
    // The CLI: the secret once (with --json: name, token, scopes), then
    // list and revoke.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::bin())
            .args(args)
            .arg("--socket")
            .arg(&g.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let made: Value = serde_json::from_str(&cli(&[
        "token", "create", "cli", "--scope", "send", "--json",
    ]))
    .unwrap();
    assert_eq!(made["name"], "cli");
    assert_eq!(made["scopes"], json!(["send"]));
    let secret = made["token"].as_str().unwrap();
    let sender = c.with_auth(Some(format!("Bearer {secret}")));
    sender.get("/api/v1/status").problem(403, "forbidden");
    assert!(cli(&["token", "list"]).contains("cli\tsend"));
    cli(&["token", "revoke", "cli"]);
    sender.get("/api/v1/status").problem(401, "unauthorized");
    assert!(!cli(&["token", "list"]).contains("cli\t"));
    // Health needs no token.
    assert_eq!(anon.get("/health/live").status, 200);
    wait_ready(&anon);
    assert_eq!(anon.get("/health/ready").json()["status"], "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_its_status_and_a_problem_and_sending_goes_on() {
    let (g, c, _) = start(1, "max_body_bytes = 65536").await;
    let post = |body: &[u8]| c.req("POST", "/api/v1/messages", &[], body);
    post(b"{\"to\": ").problem(400, "bad_request");
    post(b"not json").problem(400, "bad_request");
    post(b"").problem(400, "bad_request");
    post(br#"{"to": 15551234, "text": "x"}"#).problem(400, "bad_request");
    post(br#"{"to": "+15551234", "text": "x", "report": "yes"}"#).problem(400, "bad_request");
    let p =
        post(br#"{"to": "+15551234", "text": "x", "colour": "red"}"#).problem(400, "bad_request");
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    post(br#"{"to": "call me", "text": "x"}"#).problem(422, "invalid");
    post(br#"{"to": "+15551234", "text": "x", "validity": "1m"}"#).problem(422, "invalid");
    post(br#"{"to": "+15551234", "text": "x", "modem": "nope"}"#).problem(422, "invalid");
    post(br#"{"to": [], "text": "x"}"#).problem(400, "bad_request");
    // 10 MB: refused without reading it all.
    let big = vec![b'a'; 10 << 20];
    post(&big).problem(413, "too_large");
    // Paths, methods, queries, ids.
    c.get("/api/v1/nothing").problem(404, "not_found");
    c.req("PUT", "/api/v1/messages", &[], b"")
        .problem(405, "method_not_allowed");
    c.get("/api/v1/messages/abc").problem(400, "bad_request");
    c.get("/api/v1/messages/999999").problem(404, "not_found");
    c.get("/api/v1/messages?limit=0")
        .problem(400, "bad_request");
    c.get("/api/v1/messages?state=lost")
        .problem(400, "bad_request");
    c.get("/api/v1/inbox?since=x").problem(400, "bad_request");
    c.req("GET", "/api/v1/events", &[("Last-Event-ID", "x")], b"")
        .problem(400, "bad_request");
    c.req(
        "POST",
        "/api/v1/messages",
        &[("Idempotency-Key", "")],
        b"{}",
    )
    .problem(400, "bad_request");
    // Slow headers: the connection is closed after the header deadline
    // (2 s here) while other clients are served.
    let mut slow = c.connect();
    slow.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    assert_eq!(c.get("/health/live").status, 200);
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "slow client held for {waited:?}"
    );
    assert!(
        rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // Past cancelling: 409.
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": msisdn(5), "text": "one", "report": true}),
    );
    assert_eq!(r.status, 202, "{:?}", r.json());
    let id = r.json()["id"].as_i64().unwrap();
    g.wait_state(id, "delivered", T);
    c.delete(&format!("/api/v1/messages/{id}"))
        .problem(409, "conflict");
    c.post(&format!("/api/v1/messages/{id}/retry"), &json!({}))
        .problem(409, "conflict");
    // And the daemon still sends.
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": msisdn(6), "text": "after all that"}),
    );
    assert_eq!(r.status, 202);
    let m = g.wait_state(r.json()["id"].as_i64().unwrap(), "sent", T);
    assert_eq!(m["text"], "after all that");
    let got = c.get(&format!("/api/v1/messages/{}", m["id"])).json();
    assert_eq!(got, m, "HTTP and the socket show the same object");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_requests_past_the_rate_get_429_and_sending_goes_on() {
    let (g, c, _) = start(1, "rate = 20").await;
    // A message queued before the flood is sent during it.
    let during = g.send(&msisdn(2), "during the flood");
    let started = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        threads.push(std::thread::spawn(move || {
            let (mut ok, mut limited) = (0, 0);
            for _ in 0..1250 {
                let r = c.get("/api/v1/status");
                match r.status {
                    200 => ok += 1,
                    429 => {
                        r.problem(429, "rate_limited");
                        let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
                        assert!(after >= 1);
                        limited += 1;
                    }
                    s => panic!("status {s}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for t in threads {
        let (o, l) = t.join().unwrap();
        ok += o;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(ok + limited, 10_000);
    // A bucket of 20 plus 20 per second, however slow the machine is.
    let budget = 20.0 + 20.0 * elapsed + 1.0;
    assert!(
        ok >= 20 && f64::from(ok) <= budget && limited > 0,
        "ok {ok} (budget {budget:.0} in {elapsed:.1} s), limited {limited}"
    );
    g.wait_state(during, "sent", T);
    // Another token has its own budget; the daemon still takes work.
    let t2 = g.ok(json!({"cmd": "token_create", "name": "other"}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let c2 = c.with_auth(Some(format!("Bearer {t2}")));
    let r = c2.post(
        "/api/v1/messages",
        &json!({"to": msisdn(3), "text": "still"}),
    );
    assert_eq!(r.status, 202, "{:?}", r.json());
    g.wait_state(r.json()["id"].as_i64().unwrap(), "sent", T);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_cap_holds_and_idle_clients_are_cut_off() {
    let (_g, c, _) = start(1, "max_connections = 2").await;
    // Two clients that never send a request take both slots...
    let idle: Vec<_> = (0..2).map(|_| c.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // ...so a third waits in the backlog until the header deadline (2 s)
    // frees a slot, then is served.
    let started = Instant::now();
    let r = c.get("/api/v1/status");
    let waited = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(15),
        "served after {waited:?}"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_from_20_clients_queues_one_message_across_restarts() {
    let (mut g, c, _) = start(1, "").await;
    let body = json!({"to": msisdn(4), "text": "exactly once"});
    let mut threads = Vec::new();
    for _ in 0..20 {
        let (c, body) = (c.clone(), body.clone());
        threads.push(std::thread::spawn(move || {
            let mut ids = Vec::new();
            for _ in 0..50 {
                let r = c.req(
                    "POST",
                    "/api/v1/messages",
                    &[("Idempotency-Key", "order-42")],
                    body.to_string().as_bytes(),
                );
                assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
                ids.push(r.json()["id"].as_i64().unwrap());
            }
            ids
        }));
    }
    let ids: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000);
    assert!(ids.iter().all(|i| *i == ids[0]), "one id for every answer");
    let to_4: Vec<Value> = g
        .outbox()
        .into_iter()
        .filter(|m| m["to"] == json!(msisdn(4)))
        .collect();
    assert_eq!(to_4.len(), 1, "one message queued");
    // The same key with another body is a conflict.
    c.req(
        "POST",
        "/api/v1/messages",
        &[("Idempotency-Key", "order-42")],
        json!({"to": msisdn(4), "text": "changed"})
            .to_string()
            .as_bytes(),
    )
    .problem(409, "conflict");
    // After kill -9, the key still answers the first result.
    g.restart9();
    let r = c.req(
        "POST",
        "/api/v1/messages",
        &[("Idempotency-Key", "order-42")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["id"], ids[0]);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        g.outbox()
            .iter()
            .filter(|m| m["to"] == json!(msisdn(4)))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_array_of_recipients_is_one_commit_and_pages_list_it() {
    let (g, c, _) = start(2, "").await;
    let to: Vec<String> = (10..13).map(msisdn).collect();
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": to, "text": "to all", "report": true}),
    );
    assert_eq!(r.status, 202, "{:?}", r.json());
    let msgs = r.json()["messages"].as_array().unwrap().clone();
    assert_eq!(msgs.len(), 3);
    for (m, n) in msgs.iter().zip(&to) {
        assert_eq!(m["to"], json!(n));
        assert_eq!(m["parts"], 1);
        g.wait_state(m["id"].as_i64().unwrap(), "delivered", T);
    }
    // One bad number refuses the whole request; nothing is queued.
    let before = g.outbox().len();
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": [msisdn(20), "nonsense"], "text": "x"}),
    );
    let p = r.problem(422, "invalid");
    assert!(p["detail"].as_str().unwrap().contains("nonsense"), "{p}");
    assert_eq!(g.outbox().len(), before);
    // Pages: newest first, `next` is the cursor, null at the end.
    let page = c.get("/api/v1/messages?limit=2").json();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], msgs[2]["id"]);
    let next = page["next"].as_i64().unwrap();
    let page2 = c
        .get(&format!("/api/v1/messages?limit=2&before={next}"))
        .json();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2["items"][0]["id"], msgs[0]["id"]);
    assert_eq!(page2["next"], Value::Null);
    let delivered = c.get("/api/v1/messages?state=delivered").json();
    assert_eq!(delivered["items"].as_array().unwrap().len(), 3);
    // The inbox pages oldest first.
    g.net.inject("+4915100000001", &msisdn(0), "first").unwrap();
    g.wait_inbox(T, |i| !i.is_empty());
    g.net
        .inject("+4915100000002", &msisdn(1), "second")
        .unwrap();
    g.wait_inbox(T, |i| i.len() == 2);
    let inbox = c.get("/api/v1/inbox?limit=1").json();
    assert_eq!(inbox["items"][0]["text"], "first");
    let since = inbox["next"].as_i64().unwrap();
    let inbox = c
        .get(&format!("/api/v1/inbox?since={since}&limit=1"))
        .json();
    assert_eq!(inbox["items"][0]["text"], "second");
    // A scheduled message cancels (200), a second cancel is a conflict,
    // and a retry puts it back in the queue.
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": msisdn(21), "text": "later", "send_after": tomorrow}),
    );
    assert_eq!(r.status, 202, "{:?}", r.json());
    let later = r.json()["id"].as_i64().unwrap();
    let r = c.delete(&format!("/api/v1/messages/{later}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"id": later, "state": "cancelled"}));
    c.delete(&format!("/api/v1/messages/{later}"))
        .problem(409, "conflict");
    let r = c.post(&format!("/api/v1/messages/{later}/retry"), &json!({}));
    assert_eq!(r.json(), json!({"id": later, "state": "queued"}));
    // USSD (admin).
    let u = c.post("/api/v1/ussd", &json!({"modem": "m0", "code": "*100#"}));
    assert_eq!(u.status, 200, "{:?}", u.json());
    assert_eq!(u.json()["reply"], "Balance: 12.34 EUR");
    c.post("/api/v1/ussd", &json!({"modem": "nope", "code": "*100#"}))
        .problem(422, "invalid");
    // Status is the socket's.
    let st = c.get("/api/v1/status").json();
    assert_eq!(st["modems"].as_array().unwrap().len(), 2);
    // The OpenAPI document names every endpoint.
    let doc = c.get("/api/v1/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/messages",
        "/api/v1/messages/{id}",
        "/api/v1/messages/{id}/retry",
        "/api/v1/inbox",
        "/api/v1/status",
        "/api/v1/ussd",
        "/api/v1/events",
        "/api/v1/openapi.json",
        "/health/live",
        "/health/ready",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_sent_events_resume_with_last_event_id() {
    let (g, c, _) = start(1, "").await;
    let mut sse = c.events("/api/v1/events?since=0", None);
    let id = g.send(&msisdn(7), "watch me");
    let mut seen = Vec::new();
    loop {
        let ev = sse.next();
        let obj: Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(Some(obj["event_id"].as_i64().unwrap()), ev.id);
        assert_eq!(ev.event.as_deref(), obj["type"].as_str());
        let done = obj["type"] == "sent" && obj["data"]["id"] == id;
        seen.push((ev.id.unwrap(), obj));
        if done {
            break;
        }
    }
    let ids: Vec<i64> = seen.iter().map(|(i, _)| *i).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing: {ids:?}");
    drop(sse);
    // Resume from the middle: Last-Event-ID wins over since.
    let (mid, _) = seen[seen.len() / 2];
    let mut again = c.events("/api/v1/events?since=0", Some(mid));
    let first = again.next();
    assert_eq!(first.id, Some(mid + 1), "resumes right after {mid}");
    let mut rest = vec![first.id.unwrap()];
    while rest.len() < ids.iter().filter(|i| **i > mid).count() {
        rest.push(again.next().id.unwrap());
    }
    let want: Vec<i64> = ids.iter().copied().filter(|i| *i > mid).collect();
    assert_eq!(rest, want);
    // Shutdown ends open streams instead of waiting for them.
    let started = Instant::now();
    let mut g = g;
    assert_eq!(g.terminate(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// A receiver on 127.0.0.1 answering 200 to everything: each request's
/// body comes out of the channel.
fn receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then Content-Length bytes of body.
            let body = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(b) = body {
                let _ = tx.send(serde_json::from_slice(&b).unwrap_or(Value::Null));
            }
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_created_listed_delivered_and_deleted() {
    let (g, c, _) = start(1, "").await;
    let (url, rx) = receiver();
    // Refusals: a bad URL or event type is 422, read scope cannot create.
    c.post("/api/v1/webhooks", &json!({"url": "ftp://x/"}))
        .problem(422, "invalid");
    c.post("/api/v1/webhooks", &json!({"url": url, "events": ["nope"]}))
        .problem(422, "invalid");
    c.post("/api/v1/webhooks", &json!({"url": url, "bogus": 1}))
        .problem(400, "bad_request");
    let ro = g.ok(json!({"cmd": "token_create", "name": "ro", "scopes": ["read"]}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ro = c.with_auth(Some(format!("Bearer {ro}")));
    ro.post("/api/v1/webhooks", &json!({"url": url}))
        .problem(403, "forbidden");
    // Create: 201 with an id and the secret.
    let r = c.post(
        "/api/v1/webhooks",
        &json!({"url": url, "events": ["queued"]}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let made = r.json();
    let id = made["id"].as_str().unwrap().to_string();
    assert!(
        made["secret"].as_str().unwrap().starts_with("whsec_"),
        "{made}"
    );
    assert_eq!(made["events"], json!(["queued"]));
    // Listed (read scope is enough), without the secret.
    let list = ro.get("/api/v1/webhooks").json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0].get("secret").is_none(), "{list}");
    assert!(items[0]["pending"].is_i64(), "{list}");
    // An event arrives at the receiver.
    let sent = c.post(
        "/api/v1/messages",
        &json!({"to": msisdn(9), "text": "hook me"}),
    );
    assert_eq!(sent.status, 202);
    let msg = sent.json()["id"].as_i64().unwrap();
    let got = loop {
        let v = rx.recv_timeout(T).expect("a delivery");
        if v["type"] == "queued" {
            break v;
        }
    };
    assert!(got.to_string().contains(&msg.to_string()), "{got}");
    // Its delivery record.
    let deadline = Instant::now() + T;
    let deliveries = loop {
        let d = ro.get(&format!("/api/v1/webhooks/{id}/deliveries")).json();
        if !d["items"].as_array().unwrap().is_empty() {
            break d;
        }
        assert!(Instant::now() < deadline, "no delivery record");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = &deliveries["items"][0];
    assert_eq!(first["result"], "ok", "{deliveries}");
    assert_eq!(first["status"], 200, "{deliveries}");
    assert!(
        first["at"].is_string() && first["event_id"].is_i64(),
        "{deliveries}"
    );
    // Unknown ids are 404; read cannot delete; admin can, once.
    c.get("/api/v1/webhooks/wh_none/deliveries")
        .problem(404, "not_found");
    c.delete("/api/v1/webhooks/wh_none")
        .problem(404, "not_found");
    ro.delete(&format!("/api/v1/webhooks/{id}"))
        .problem(403, "forbidden");
    assert_eq!(c.delete(&format!("/api/v1/webhooks/{id}")).status, 204);
    c.delete(&format!("/api/v1/webhooks/{id}"))
        .problem(404, "not_found");
    assert_eq!(c.get("/api/v1/webhooks").json()["items"], json!([]));
    // The document describes them.
    let doc = c.get("/api/v1/openapi.json").json();
    assert!(doc["paths"]["/api/v1/webhooks"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/webhooks/{id}/deliveries"]["get"].is_object());
}
