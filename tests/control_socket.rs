//! The control socket through the real binary: every request of
//! docs/PROTOCOL.md with its answer and its error cases, pipelined requests on
//! one connection, 50 clients at once (all answered, every message stored
//! once), stuck clients that do not hold up the others, `max_clients`, and the
//! socket file's mode. The CLI on top of the socket is tested in
//! `cli_client.rs`; hooks and signals have their own files.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// One connection carrying any number of requests.
struct Conn {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Conn {
    fn open(g: &Gateway) -> Conn {
        let w = UnixStream::connect(&g.socket).expect("connect to the daemon");
        w.set_read_timeout(Some(T)).expect("timeout");
        let r = BufReader::new(w.try_clone().expect("clone"));
        Conn { w, r }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    fn reply(&mut self) -> Value {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).expect("a reply in time");
        assert!(n > 0, "the daemon closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?} is not JSON: {e}"))
    }

    /// One raw line out (newline added), one reply back.
    fn raw(&mut self, line: &[u8]) -> Value {
        let mut b = line.to_vec();
        b.push(b'\n');
        self.write(&b);
        self.reply()
    }

    fn req(&mut self, v: Value) -> Value {
        self.raw(v.to_string().as_bytes())
    }
}

/// The error code of a refused reply (panics on success).
fn code(reply: &Value) -> &str {
    assert_eq!(reply["ok"], json!(false), "expected an error: {reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error names what was wrong: {reply}"
    );
    reply["error"]["code"].as_str().expect("error code")
}

/// Waits until every modem in `names` is `ready` in `status`, woken by events.
fn wait_ready(g: &Gateway, names: &[&str]) -> Value {
    let mut w = g.watch();
    let deadline = Instant::now() + T;
    loop {
        let s = g.ok(json!({"cmd": "status"}));
        let all = names.iter().all(|n| {
            s["modems"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["name"] == *n && m["state"] == "ready"))
        });
        if all {
            return s;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "modems {names:?} not ready: {s}");
        w.next(left);
    }
}

/// Rewrites the config with `edit`, restarts the daemon and waits for READY.
fn restart_with(g: &mut Gateway, edit: impl Fn(String) -> String) {
    assert_eq!(g.terminate(), Some(0), "clean exit; log:\n{}", g.log());
    let text = std::fs::read_to_string(&g.config).expect("config");
    std::fs::write(&g.config, edit(text)).expect("config");
    g.spawn();
    g.wait_notify("READY=1", T);
}

fn control_key(line: &'static str) -> impl Fn(String) -> String {
    move |cfg: String| cfg.replacen("[control]\n", &format!("[control]\n{line}\n"), 1)
}

fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_answers_as_documented() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    let mut c = Conn::open(&g);

    // version
    let r = c.req(json!({"id": 1, "cmd": "version"}));
    assert_eq!(r["id"], json!(1));
    assert_eq!(r["ok"], json!(true));
    assert_eq!(r["result"]["protocol"], json!(2));
    assert_eq!(r["result"]["version"], json!(env!("CARGO_PKG_VERSION")));

    // status, once both modems are up
    let s = wait_ready(&g, &["m0", "m1"]);
    let d = &s["daemon"];
    assert_eq!(d["protocol"], json!(2));
    assert_eq!(d["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        d["pid"],
        json!(g.child.as_ref().expect("running").id()),
        "{s}"
    );
    assert!(d["uptime_s"].is_u64(), "{s}");
    for key in [
        "queued",
        "sending",
        "sent",
        "delivered",
        "failed",
        "cancelled",
        "expired",
        "inbox",
        "unmatched_reports",
    ] {
        assert!(s["queue"][key].is_u64(), "queue.{key} in {s}");
    }
    let modems = s["modems"].as_array().expect("modems");
    assert_eq!(modems.len(), 2, "{s}");
    let m0 = modems.iter().find(|m| m["name"] == "m0").expect("m0");
    assert_eq!(m0["imei"], json!("350000000000000"), "{m0}");
    assert_eq!(m0["imsi"], json!("001010000000000"), "{m0}");
    assert_eq!(m0["iccid"], json!("89010000000000000"), "{m0}");
    assert_eq!(m0["registration"], json!("home"), "{m0}");
    assert!(m0["signal"].is_u64(), "{m0}");
    for key in ["operator", "sent", "received", "errors"] {
        assert!(m0.get(key).is_some(), "modem.{key} in {m0}");
    }

    // send -> delivered, then show / outbox / inbox
    let r = c.req(json!({"id": "a", "cmd": "send", "to": msisdn(1), "text": "Hello 😀 €", "report": true, "modem": "m0", "priority": "high", "validity": "12h"}));
    assert_eq!(r["id"], json!("a"), "{r}");
    let id = r["result"]["id"].as_i64().expect("id");
    assert_eq!(r["result"]["parts"], json!(1), "{r}");
    let m = g.wait_state(id, "delivered", T);
    assert_eq!(m["id"], json!(id));
    assert_eq!(m["to"], json!(msisdn(1)));
    assert_eq!(m["text"], json!("Hello 😀 €"));
    assert_eq!(m["modem"], json!("m0"));
    assert_eq!(m["error"], Value::Null);
    assert!(
        chrono::DateTime::parse_from_rfc3339(m["created_at"].as_str().expect("created_at")).is_ok(),
        "{m}"
    );
    let parts = m["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["seq"], json!(1));
    assert_eq!(parts[0]["state"], json!("delivered"));
    assert!(parts[0]["mr"].is_u64(), "{m}");
    assert_eq!(parts[0]["status"], json!(0));

    let out = c.req(json!({"cmd": "outbox", "state": "delivered", "limit": 5}));
    let list = out["result"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(list[0]["id"], json!(id));
    let out = c.req(json!({"cmd": "outbox", "state": "failed"}));
    assert_eq!(out["result"], json!([]), "{out}");

    // The message went from m0 to m1: m1's inbox has it (the harness waited
    // for `delivered`; the receive side may trail it, so wait for it too).
    let inbox = {
        let mut w = g.watch();
        let deadline = Instant::now() + T;
        loop {
            let inbox = g.ok(json!({"cmd": "inbox"}));
            if inbox.as_array().is_some_and(|l| !l.is_empty()) {
                break inbox;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "nothing received");
            w.next(left);
        }
    };
    let first = &inbox[0];
    assert_eq!(first["modem"], json!("m1"), "{first}");
    assert_eq!(first["from"], json!(msisdn(0)), "{first}");
    assert_eq!(first["text"], json!("Hello 😀 €"));
    assert_eq!(first["parts"], json!(1));
    assert_eq!(first["complete"], json!(true));
    let sent_at = first["sent_at"].as_str().expect("sent_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(sent_at).is_ok(),
        "{sent_at}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(first["received_at"].as_str().expect("received_at"))
            .is_ok(),
        "{first}"
    );
    let in_id = first["id"].as_i64().expect("inbox id");
    let r = c.req(json!({"cmd": "inbox", "since": in_id, "limit": 10}));
    assert_eq!(r["result"], json!([]), "{r}");

    // cancel / retry on a message held back by send_after
    let r = c.req(
        json!({"cmd": "send", "to": "+4915112345678", "text": "later", "send_after": in_an_hour()}),
    );
    let later = r["result"]["id"].as_i64().expect("id");
    assert_eq!(
        g.ok(json!({"cmd": "show", "message": later}))["state"],
        json!("queued")
    );
    let r = c.req(json!({"cmd": "retry", "message": later}));
    assert_eq!(code(&r), "conflict", "a queued message cannot be retried");
    let r = c.req(json!({"cmd": "cancel", "message": later}));
    assert_eq!(
        r["result"],
        json!({"id": later, "state": "cancelled"}),
        "{r}"
    );
    let r = c.req(json!({"cmd": "cancel", "message": later}));
    assert_eq!(code(&r), "conflict", "{r}");
    let r = c.req(json!({"cmd": "retry", "message": later}));
    assert_eq!(r["result"], json!({"id": later, "state": "queued"}), "{r}");
    let r = c.req(json!({"cmd": "cancel", "message": later}));
    assert_eq!(r["result"]["state"], json!("cancelled"), "{r}");
    let r = c.req(json!({"cmd": "cancel", "message": id}));
    assert_eq!(
        code(&r),
        "conflict",
        "a delivered message cannot be cancelled"
    );
    let out = c.req(json!({"cmd": "outbox", "limit": 1}));
    assert_eq!(out["result"][0]["id"], json!(later), "newest first: {out}");

    // not_found
    for cmd in ["show", "cancel", "retry"] {
        let r = c.req(json!({"id": cmd, "cmd": cmd, "message": 999_999}));
        assert_eq!(code(&r), "not_found", "{cmd}: {r}");
        assert_eq!(r["id"], json!(cmd));
    }

    // ussd
    let r = c.req(json!({"cmd": "ussd", "modem": "m0", "code": "*100#"}));
    assert_eq!(
        r["result"],
        json!({"modem": "m0", "answer": "Balance: 12.34 EUR"}),
        "{r}"
    );
    let r = c.req(json!({"cmd": "ussd", "modem": "nope", "code": "*100#"}));
    assert_eq!(code(&r), "invalid", "{r}");

    // reload with an unchanged file
    let r = c.req(json!({"cmd": "reload"}));
    assert_eq!(
        r["result"],
        json!({"added": [], "removed": [], "changed": [], "unchanged": ["m0", "m1"]}),
        "{r}"
    );

    // The connection is still the same one after every error.
    let r = c.req(json!({"id": 99, "cmd": "version"}));
    assert_eq!(r["id"], json!(99));
    assert_eq!(r["ok"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_get_the_documented_codes() {
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    let mut c = Conn::open(&g);
    let huge = format!(
        "{{\"cmd\":\"send\",\"to\":\"+1\",\"text\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"cmd\":\"status\"".to_vec(),
            "bad_request",
        ),
        ("not JSON at all", b"hello".to_vec(), "bad_request"),
        ("not an object", b"[1,2,3]".to_vec(), "bad_request"),
        (
            "not UTF-8",
            b"{\"cmd\":\"st\xffatus\"}".to_vec(),
            "bad_request",
        ),
        ("missing cmd", b"{\"id\":1}".to_vec(), "bad_request"),
        ("cmd not a string", b"{\"cmd\":7}".to_vec(), "bad_request"),
        (
            "unknown command",
            b"{\"cmd\":\"launch\"}".to_vec(),
            "bad_request",
        ),
        (
            "unknown field",
            b"{\"cmd\":\"status\",\"verbose\":true}".to_vec(),
            "bad_request",
        ),
        (
            "unknown send field",
            br#"{"cmd":"send","to":"+1555","text":"x","colour":"red"}"#.to_vec(),
            "bad_request",
        ),
        (
            "missing field",
            br#"{"cmd":"send","to":"+1555"}"#.to_vec(),
            "bad_request",
        ),
        (
            "wrong type",
            br#"{"cmd":"show","message":"seven"}"#.to_vec(),
            "bad_request",
        ),
        (
            "negative limit",
            br#"{"cmd":"outbox","limit":-1}"#.to_vec(),
            "bad_request",
        ),
        ("oversized line", huge.into_bytes(), "too_large"),
        (
            "bad number",
            br#"{"cmd":"send","to":"call me","text":"x"}"#.to_vec(),
            "invalid",
        ),
        (
            "empty number",
            br#"{"cmd":"send","to":"","text":"x"}"#.to_vec(),
            "invalid",
        ),
        (
            "unknown modem",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","modem":"nope"}"#.to_vec(),
            "invalid",
        ),
        (
            "unknown queue",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","queue":"nope"}"#.to_vec(),
            "invalid",
        ),
        (
            "bad priority",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","priority":"critical"}"#.to_vec(),
            "invalid",
        ),
        (
            "bad validity",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","validity":"forever"}"#.to_vec(),
            "invalid",
        ),
        (
            "bare number validity",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","validity":"12"}"#.to_vec(),
            "invalid",
        ),
        (
            "too short validity",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","validity":"1m"}"#.to_vec(),
            "invalid",
        ),
        (
            "bad send_after",
            br#"{"cmd":"send","to":"+4915112345678","text":"x","send_after":"tomorrow"}"#.to_vec(),
            "invalid",
        ),
        (
            "unknown state",
            br#"{"cmd":"outbox","state":"lost"}"#.to_vec(),
            "invalid",
        ),
        (
            "unknown ussd modem",
            br#"{"cmd":"ussd","modem":"nope","code":"*100#"}"#.to_vec(),
            "invalid",
        ),
        (
            "no such message",
            br#"{"cmd":"show","message":424242}"#.to_vec(),
            "not_found",
        ),
    ];
    assert!(!cases.is_empty());
    for (what, line, want) in &cases {
        let r = c.raw(line);
        assert_eq!(code(&r), *want, "{what}: {r}");
    }
    // The id is echoed when it could be read, even on errors.
    let r = c.raw(br#"{"id":[1,"x"],"cmd":"nope"}"#);
    assert_eq!(r["id"], json!([1, "x"]), "{r}");
    assert_eq!(code(&r), "bad_request");
    // Blank lines are skipped, not answered.
    c.write(b"\n\r\n");
    let r = c.req(json!({"id": "after", "cmd": "version"}));
    assert_eq!(r["id"], json!("after"), "{r}");
    // None of the refused sends was stored.
    let out = g.ok(json!({"cmd": "outbox"}));
    assert_eq!(out, json!([]), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    let mut c = Conn::open(&g);
    let mut batch = String::new();
    for i in 0..20 {
        let req = match i % 4 {
            0 => json!({"id": i, "cmd": "version"}),
            1 => json!({"id": i, "cmd": "status"}),
            2 => {
                json!({"id": i, "cmd": "send", "to": "+4915112345678", "text": format!("pipelined {i}"), "send_after": in_an_hour()})
            }
            _ => json!({"id": i, "cmd": "show", "message": 10_000 + i}),
        };
        batch.push_str(&req.to_string());
        batch.push('\n');
    }
    // One write carrying every request, the last one split across two writes.
    let (a, b) = batch.split_at(batch.len() - 7);
    c.write(a.as_bytes());
    c.write(b.as_bytes());
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = c.reply();
        assert_eq!(r["id"], json!(i), "in order: {r}");
        match i % 4 {
            3 => assert_eq!(code(&r), "not_found"),
            _ => assert_eq!(r["ok"], json!(true), "{r}"),
        }
        if i % 4 == 2 {
            ids.push(r["result"]["id"].as_i64().expect("id"));
        }
    }
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "five distinct messages: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_at_once_with_stuck_ones_around() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    wait_ready(&g, &["m0", "m1"]);

    // Stuck clients: one sent half a line and waits forever, one subscribed to
    // `watch` and never reads, one connected and said nothing.
    let mut half = UnixStream::connect(&g.socket).expect("connect");
    half.write_all(b"{\"cmd\":\"sta").expect("write");
    let mut deaf = UnixStream::connect(&g.socket).expect("connect");
    deaf.write_all(b"{\"cmd\":\"watch\"}\n").expect("write");
    let silent = UnixStream::connect(&g.socket).expect("connect");

    // A reading watcher sees every message go out.
    let mut w = g.watch();

    let started = Instant::now();
    let socket = g.socket.clone();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let s = UnixStream::connect(&socket).expect("connect");
                s.set_read_timeout(Some(T)).expect("timeout");
                let mut c = Conn {
                    w: s.try_clone().expect("clone"),
                    r: BufReader::new(s),
                };
                // Long texts make long events, so the deaf watcher's socket
                // buffer fills while the others carry on.
                let text = format!("client {i:02} {}", "long text ".repeat(40));
                let r = c.req(
                    json!({"id": i, "cmd": "send", "to": format!("+49151000{i:05}"), "text": text}),
                );
                assert_eq!(r["ok"], json!(true), "{r}");
                assert_eq!(r["id"], json!(i));
                (i, r["result"]["id"].as_i64().expect("id"), text)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for c in clients {
        accepted.push(c.join().expect("client thread"));
    }
    assert_eq!(accepted.len(), 50);
    let answered_in = started.elapsed();
    assert!(
        answered_in < Duration::from_secs(20),
        "50 sends took {answered_in:?}"
    );

    // Every message stored exactly once, with its own text.
    let out = g.ok(json!({"cmd": "outbox", "limit": 1000}));
    let list = out.as_array().expect("list");
    assert_eq!(list.len(), 50, "{out}");
    for (i, id, text) in &accepted {
        let stored: Vec<&Value> = list.iter().filter(|m| m["text"] == json!(text)).collect();
        assert_eq!(stored.len(), 1, "client {i}'s message stored once");
        assert_eq!(stored[0]["id"], json!(id));
    }

    // And every one goes out exactly once, while the stuck clients stay stuck.
    let mut sent = std::collections::BTreeSet::new();
    while sent.len() < 50 {
        let ev = w.until(T, |e| e["type"] == "sent" || e["type"] == "failed");
        assert_eq!(ev["type"], json!("sent"), "{ev}");
        sent.insert(ev["id"].as_i64().expect("id"));
    }
    // Each text is three parts: 150 SUBMITs, three per destination, each
    // part once.
    let external = g
        .net
        .wait_external(150, T)
        .await
        .expect("150 parts on the network");
    assert_eq!(external.len(), 150, "nothing sent twice");
    for i in 0..50 {
        let to = format!("+49151000{i:05}");
        let mut seqs: Vec<u8> = external
            .iter()
            .filter(|m| m.to == to)
            .filter_map(|m| m.concat.map(|(_, _, seq)| seq))
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3], "parts to {to}");
    }

    // The daemon still answers new clients quickly.
    let r = g.ok(json!({"cmd": "version"}));
    assert_eq!(r["protocol"], json!(2));
    drop((half, deaf, silent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_never_reads_is_dropped_and_blocks_nobody() {
    use std::io::Read;
    // Every send fails at once (a permanent +CMS ERROR), and each `failed`
    // event carries the whole 32 KB text: a few of them fill the socket
    // buffer of a watcher that does not read.
    let plan = ModemPlan {
        faults: smsgate::sim::Faults {
            cms_error_rate: 1.0,
            cms_error_code: 21,
            ..Default::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![plan], "[dispatch]\nmax_attempts = 1\n").await;
    wait_ready(&g, &["m0"]);
    let mut deaf = UnixStream::connect(&g.socket).expect("connect");
    deaf.write_all(b"{\"cmd\":\"watch\"}\n").expect("write");
    let mut w = g.watch();
    let text: String = "😀".repeat(8000);
    let started = Instant::now();
    let mut failed = std::collections::BTreeSet::new();
    for i in 0..12 {
        let id = g.send(&format!("+4915100000{i:03}"), &text);
        let ev = w.until(T, |e| e["type"] == "failed" && e["id"] == json!(id));
        assert_eq!(ev["text"].as_str().map(str::len), Some(text.len()));
        failed.insert(id);
    }
    assert_eq!(failed.len(), 12);
    // The deaf watcher is dropped once its writes stall for 10 s: its end
    // hangs up (seen without reading, which would unstall it), what was
    // buffered can still be read, then the stream ends.
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&deaf),
        // POLLRDHUP (0x2000): the peer closed; POLLHUP is reported anyway.
        nix::poll::PollFlags::from_bits_retain(0x2000),
    )];
    // Nobody waited for its write deadline: all twelve were seen while it
    // was still connected.
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).expect("poll");
    assert_eq!(
        n, 0,
        "the deaf watcher was dropped before the 12 sends were seen"
    );
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(30_000u16)).expect("poll");
    assert_eq!(n, 1, "the deaf watcher was not dropped in 30 s");
    let hung_up = started.elapsed();
    assert!(
        hung_up >= Duration::from_secs(10),
        "dropped after {hung_up:?}, before the 10 s write deadline"
    );
    deaf.set_read_timeout(Some(T)).expect("timeout");
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    loop {
        match deaf.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("the deaf watcher's stream did not end ({got} bytes read): {e}"),
        }
    }
    assert!(got > 0);
    assert!(
        got < 12 * text.len(),
        "the deaf watcher got every event ({got} bytes): it was never stuck"
    );
    assert_eq!(g.ok(json!({"cmd": "version"}))["protocol"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_max_clients_is_told_so() {
    let mut g = Gateway::start(vec![], "").await;
    restart_with(&mut g, control_key("max_clients = 2"));
    let mut a = Conn::open(&g);
    let mut b = Conn::open(&g);
    // Both hold a slot once they have been answered.
    assert_eq!(a.req(json!({"cmd": "version"}))["ok"], json!(true));
    assert_eq!(b.req(json!({"cmd": "version"}))["ok"], json!(true));
    let mut c = Conn::open(&g);
    let r = c.reply();
    assert_eq!(code(&r), "unavailable", "{r}");
    // A slot freed is a slot taken again.
    drop(a);
    let deadline = Instant::now() + T;
    loop {
        let mut d = Conn::open(&g);
        d.write(b"{\"cmd\":\"version\"}\n");
        let r = d.reply();
        if r["ok"] == json!(true) {
            break;
        }
        // The daemon may not have seen `a` leave yet; its reply says so.
        assert_eq!(code(&r), "unavailable");
        assert!(Instant::now() < deadline, "the slot never came back");
        // Wait for the freed slot: `b` answering proves the daemon is running
        // its loop, after which `a`'s EOF has been read.
        assert_eq!(b.req(json!({"cmd": "version"}))["ok"], json!(true));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_is_0660_by_default_and_configurable() {
    let mut g = Gateway::start(vec![], "").await;
    let mode = |g: &Gateway| {
        std::fs::metadata(&g.socket)
            .expect("socket exists")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&g), 0o660);
    restart_with(&mut g, control_key("mode = \"0600\""));
    assert_eq!(mode(&g), 0o600);
    assert_eq!(g.ok(json!({"cmd": "version"}))["protocol"], json!(2));
    // The socket file goes away with the daemon.
    assert_eq!(g.terminate(), Some(0));
    assert!(!g.socket.exists(), "socket left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_send_survives_kill_9() {
    // No modem: everything stays queued, so the store alone holds it.
    let mut g = Gateway::start(vec![], "").await;
    let mut c = Conn::open(&g);
    let mut ids = Vec::new();
    for i in 0..20 {
        let r = c.req(
            json!({"id": i, "cmd": "send", "to": "+4915112345678", "text": format!("durable {i}")}),
        );
        ids.push(r["result"]["id"].as_i64().expect("id"));
    }
    // Killed the moment the last answer arrived.
    g.kill9();
    g.spawn();
    g.wait_notify("READY=1", T);
    for (i, id) in ids.iter().enumerate() {
        let m = g.ok(json!({"cmd": "show", "message": id}));
        assert_eq!(m["text"], json!(format!("durable {i}")));
        assert_eq!(m["state"], json!("queued"));
    }
    let out = g.ok(json!({"cmd": "outbox", "limit": 100}));
    assert_eq!(
        out.as_array().map(Vec::len),
        Some(20),
        "nothing stored twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_request_bytes_is_configurable() {
    let mut g = Gateway::start(vec![], "").await;
    restart_with(&mut g, control_key("max_request_bytes = 1024"));
    let mut c = Conn::open(&g);
    let fits = json!({"cmd": "send", "to": "+4915112345678", "text": "x".repeat(900)});
    assert_eq!(c.req(fits)["ok"], json!(true));
    let long = json!({"id": 1, "cmd": "send", "to": "+4915112345678", "text": "x".repeat(1100)});
    let r = c.req(long);
    assert_eq!(code(&r), "too_large", "{r}");
    // The rest of the long line was skipped; the connection carries on.
    let r = c.req(json!({"id": 2, "cmd": "version"}));
    assert_eq!(r["id"], json!(2), "{r}");
    let out = g.ok(json!({"cmd": "outbox"}));
    assert_eq!(out.as_array().map(Vec::len), Some(1), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_group_is_set_and_a_missing_group_is_a_config_error() {
    let Some(group) = ["users", "daemon", "nogroup", "adm", "bin"]
        .iter()
        .find_map(|n| nix::unistd::Group::from_name(n).ok().flatten())
    else {
        panic!("no usual group in /etc/group");
    };
    let mut g = Gateway::start(vec![], "").await;
    let line: &'static str = Box::leak(format!("group = \"{}\"", group.name).into_boxed_str());
    restart_with(&mut g, control_key(line));
    let meta = std::fs::metadata(&g.socket).expect("socket");
    assert_eq!(
        std::os::unix::fs::MetadataExt::gid(&meta),
        group.gid.as_raw()
    );
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);

    // A group that does not exist: the daemon does not start, says why in
    // one line and exits 2, like any other configuration error.
    assert_eq!(g.terminate(), Some(0));
    let text = std::fs::read_to_string(&g.config).expect("config");
    std::fs::write(
        &g.config,
        text.replace(line, "group = \"no-such-group-smsgate\""),
    )
    .expect("config");
    let out = std::process::Command::new(bin())
        .args(["run", "-c"])
        .arg(&g.config)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("smsgate: ") && last.contains("no-such-group-smsgate"),
        "{stderr}"
    );
}
