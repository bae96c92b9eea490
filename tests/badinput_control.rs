//! Bad control requests through the real daemon: thousands of malformed,
//! mutated, wrongly typed, unknown and oversized request lines on one
//! connection, and slow clients (half a line and silence, a byte at a time, a
//! client that never reads its replies). Each bad line gets exactly one clear
//! error reply, the connection stays usable, other clients are served, a stuck
//! client is dropped, and the daemon keeps working. The parser's own tables
//! live in `src/control/`.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const CODES: &[&str] = &[
    "bad_request",
    "too_large",
    "invalid",
    "not_found",
    "conflict",
    "unavailable",
    "internal",
];

/// Request lines that must be refused, and a few that may be valid.
/// (line, must_fail)
fn cases(n: usize, seed: u64) -> Vec<(Vec<u8>, bool)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let templates: &[&str] = &[
        r#"{"cmd":"send","to":"+4915112345678","text":"hi","report":true}"#,
        r#"{"id":7,"cmd":"show","message":42}"#,
        r#"{"cmd":"outbox","state":"failed","limit":10}"#,
        r#"{"cmd":"inbox","since":10,"limit":100}"#,
        r#"{"cmd":"cancel","message":42}"#,
        r#"{"cmd":"retry","message":41}"#,
        r#"{"cmd":"ussd","modem":"nope","code":"*100#"}"#,
        r#"{"cmd":"status"}"#,
        r#"{"cmd":"version"}"#,
    ];
    let fixed: &[&str] = &[
        "not json",
        "[]",
        "null",
        "42",
        "\"status\"",
        "{}",
        r#"{"cmd":null}"#,
        r#"{"cmd":"launch_missiles"}"#,
        r#"{"cmd":"STATUS"}"#,
        r#"{"cmd":"status","extra":1}"#,
        r#"{"cmd":"show","message":"42"}"#,
        r#"{"cmd":"show","message":-1e400}"#,
        r#"{"cmd":"show"}"#,
        r#"{"cmd":"send","to":"+49"}"#,
        r#"{"cmd":"send","to":"abc","text":"x"}"#,
        r#"{"cmd":"send","to":"+4915112345678","text":"x","priority":"critical"}"#,
        r#"{"cmd":"send","to":"+4915112345678","text":"x","validity":"forever"}"#,
        r#"{"cmd":"send","to":"+4915112345678","text":"x","send_after":"yesterday"}"#,
        r#"{"cmd":"send","to":"+4915112345678","text":"x","modem":"nope"}"#,
        r#"{"cmd":"outbox","limit":-5}"#,
        r#"{"cmd":"outbox","state":"exploded"}"#,
        r#"{"cmd":"status"}{"cmd":"status"}"#,
        "{\"cmd\":\"st\u{0}atus\"}",
    ];
    let mut out = Vec::new();
    for i in 0..n {
        let case = match i % 6 {
            0 => {
                // Random bytes, one line, never blank.
                let len = rng.usize(1..300);
                let mut b: Vec<u8> = std::iter::repeat_with(|| rng.u8(..))
                    .filter(|c| *c != b'\n')
                    .take(len)
                    .collect();
                b.insert(0, b'#');
                (b, true)
            }
            1 => (fixed[i / 6 % fixed.len()].as_bytes().to_vec(), true),
            2 => {
                // A template cut short.
                let t = templates[rng.usize(..templates.len())].as_bytes();
                let cut = rng.usize(1..t.len());
                (t[..cut].to_vec(), true)
            }
            3 => {
                // A template with bytes replaced: anything may come of it.
                let mut t = templates[rng.usize(..templates.len())].as_bytes().to_vec();
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(..t.len());
                    let mut c = rng.u8(..);
                    if c == b'\n' {
                        c = b'?';
                    }
                    t[at] = c;
                }
                (t, false)
            }
            4 => {
                // Deep nesting and invalid UTF-8.
                if i % 12 == 4 {
                    let depth = rng.usize(200..5000);
                    (
                        format!(
                            "{{\"cmd\":\"status\",\"x\":{}{}}}",
                            "[".repeat(depth),
                            "]".repeat(depth)
                        )
                        .into_bytes(),
                        true,
                    )
                } else {
                    let mut b = br#"{"cmd":"send","to":"+4915112345678","text":""#.to_vec();
                    b.extend([0xC3, 0x28, 0xFF, 0xFE]);
                    b.extend(br#""}"#);
                    (b, true)
                }
            }
            _ => {
                // Valid requests with the wrong type in one field.
                let wrong = [
                    r#"{"cmd":"send","to":4915112345678,"text":"x"}"#,
                    r#"{"cmd":"send","to":"+4915112345678","text":["x"]}"#,
                    r#"{"cmd":"send","to":"+4915112345678","text":"x","report":"yes"}"#,
                    r#"{"cmd":"inbox","since":"ten"}"#,
                    r#"{"cmd":"cancel","message":{"id":1}}"#,
                    r#"{"cmd":"outbox","limit":1.5}"#,
                ];
                (wrong[rng.usize(..wrong.len())].as_bytes().to_vec(), true)
            }
        };
        out.push(case);
    }
    out
}

fn connect(g: &Gateway) -> UnixStream {
    let s = UnixStream::connect(&g.socket).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.set_write_timeout(Some(T)).expect("timeout");
    s
}

fn reply(r: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).expect("a reply line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_bad_requests_each_get_one_clear_error() {
    let g = Gateway::start(vec![], "").await;
    let table = cases(3000, 7);
    assert!(!table.is_empty());
    tokio::task::block_in_place(|| {
        let s = connect(&g);
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        // Write and read in step, a batch at a time, so neither side blocks.
        let mut errors = std::collections::BTreeMap::<String, usize>::new();
        for batch in table.chunks(100) {
            let mut out = Vec::new();
            for (line, _) in batch {
                out.extend(line);
                out.push(b'\n');
            }
            w.write_all(&out).expect("write");
            for (line, must_fail) in batch {
                let v = reply(&mut r);
                let shown = String::from_utf8_lossy(line);
                match v["ok"].as_bool() {
                    Some(true) => assert!(!must_fail, "accepted: {shown}\n-> {v}"),
                    Some(false) => {
                        let code = v["error"]["code"].as_str().unwrap_or("");
                        assert!(CODES.contains(&code), "{shown} -> {v}");
                        let msg = v["error"]["message"].as_str().unwrap_or("");
                        assert!(!msg.is_empty(), "an error without a message: {v}");
                        *errors.entry(code.to_string()).or_default() += 1;
                    }
                    None => panic!("reply without ok: {shown} -> {v}"),
                }
            }
        }
        eprintln!("{} bad request lines: {errors:?}", table.len());

        // Oversized lines: too_large, and the connection stays usable.
        for size in [70_000usize, 65_537, 1 << 20] {
            let mut big = br#"{"cmd":"send","to":"+4915112345678","text":""#.to_vec();
            big.resize(size, b'x');
            big.extend(b"\"}\n");
            w.write_all(&big).expect("write a big line");
            let v = reply(&mut r);
            assert_eq!(v["error"]["code"], json!("too_large"), "{v}");
        }
        w.write_all(b"{\"id\":\"after\",\"cmd\":\"version\"}\n")
            .expect("write");
        let v = reply(&mut r);
        assert_eq!(v["ok"], json!(true), "{v}");
        assert_eq!(v["id"], json!("after"));
    });
    // Nothing was queued by any of it but what a valid mutation asked for.
    let st = g.ok(json!({"cmd": "status"}));
    assert!(st["daemon"]["pid"].as_i64().is_some(), "{st}");
    let id = g.send("+19990000001", "still working");
    assert!(id > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stuck_clients_do_not_stop_the_others() {
    let g = Gateway::start(vec![], "").await;
    tokio::task::block_in_place(|| {
        // Half a request, then silence.
        let mut silent = Vec::new();
        for _ in 0..30 {
            let mut s = connect(&g);
            s.write_all(b"{\"cmd\":\"sta").expect("write");
            silent.push(s);
        }
        // A client that sends a byte at a time.
        let mut slow = connect(&g);
        for b in b"{\"id\":1,\"cmd\":\"version\"}\n" {
            slow.write_all(&[*b]).expect("write a byte");
        }
        let mut r = BufReader::new(slow.try_clone().expect("clone"));
        assert_eq!(reply(&mut r)["ok"], json!(true));

        // A client that never reads its replies.
        let mut stuck = connect(&g);
        stuck
            .set_write_timeout(Some(Duration::from_secs(40)))
            .expect("timeout");
        let req = b"{\"cmd\":\"status\"}\n".repeat(200);

        // Others are served promptly meanwhile.
        let start = Instant::now();
        let st = g.ok(json!({"cmd": "status"}));
        assert!(st["daemon"].is_object());
        let id = g.send("+19990000001", "before the stuck one");
        assert!(id > 0);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );

        // The stuck client fills its socket, is dropped after the write
        // deadline, and its writes then fail.
        let start = Instant::now();
        let dropped = loop {
            if stuck.write_all(&req).is_err() {
                break true;
            }
            if start.elapsed() > Duration::from_secs(40) {
                break false;
            }
        };
        assert!(dropped, "a client that never reads was not dropped");
        eprintln!("stuck client dropped after {:?}", start.elapsed());
        let v = g.call(json!({"cmd": "version"}));
        assert_eq!(v["ok"], json!(true), "{v}");
        let id = g.send("+19990000001", "still working");
        assert!(id > 0);

        // The half-line clients finish their requests and are answered.
        for s in &mut silent {
            s.write_all(b"tus\"}\n").expect("finish");
        }
        for s in silent {
            let mut r = BufReader::new(s);
            let v = reply(&mut r);
            assert_eq!(v["ok"], json!(true), "{v}");
        }
        // A client that goes away mid-line leaves nothing behind.
        let mut gone = connect(&g);
        gone.write_all(b"{\"cmd\":\"send\",\"to\":\"+1999\"")
            .expect("write");
        drop(gone);
        let mut s = connect(&g);
        s.write_all(b"{\"cmd\":\"version\"}\n").expect("write");
        let mut buf = String::new();
        let mut r = BufReader::new(&mut s);
        r.read_line(&mut buf).expect("reply");
        assert!(buf.contains("\"ok\":true"), "{buf}");
    });
}
