//! Opt-out and verification codes through the real binary on simulated
//! modems: a recipient answers `stop` through the simulated network, their
//! queued marketing messages end `skipped` / "opted out", transactional
//! ones still reach them, `START` lets marketing through again, and the
//! events are in the log; verification codes over HTTP are good once, die
//! after 5 wrong tries or their ttl, are limited per number and hour, and
//! never sit in the database in clear.
mod common;

use std::time::Duration;

use common::http::{section, Client};
use common::*;
use serde_json::json;

fn later() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
}

fn texts_to(g: &Gateway, to: &str) -> Vec<String> {
    g.net
        .external_messages()
        .iter()
        .filter(|m| digits(&m.to) == digits(to))
        .map(|m| m.text.clone())
        .collect()
}

/// Waits until the network carried a message to `to` with `text`.
fn wait_net(g: &Gateway, to: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + T;
    let mut w = g.watch();
    loop {
        if let Some(t) = texts_to(g, to).into_iter().find(|t| pred(t)) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never reached {to}: {:?}\nlog:\n{}",
            texts_to(g, to),
            g.log()
        );
        w.next(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_skips_marketing_keeps_transactional_and_start_undoes_it() {
    let g = Gateway::start(
        vec![ModemPlan::default()],
        "[optout]\nreply = \"You will get no more offers. START to undo.\"\n",
    )
    .await;
    let fan = external(1);
    let other = external(2);
    // Held for an hour, so they are still queued when the STOP comes. The
    // second is written with 00 instead of +: the same number.
    let queued: Vec<i64> = [fan.clone(), format!("00{}", &fan[1..]), other.clone()]
        .iter()
        .map(|to| {
            g.ok(json!({"cmd": "send", "to": to, "text": "50% off today",
                "category": "marketing", "send_after": later()}))["id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    let shown = g.ok(json!({"cmd": "show", "message": queued[0]}));
    assert_eq!(shown["category"], json!("marketing"), "{shown}");
    assert_eq!(shown["state"], json!("queued"));

    let mut events = g.watch_since(0);
    g.net
        .inject(&fan, &msisdn(0), "  Stop \n")
        .expect("inject STOP");
    let ev = events.until(T, |e| e["type"] == json!("opted_out"));
    assert_eq!(ev["number"], json!(fan), "{ev}");
    assert_eq!(ev["keyword"], json!("STOP"));
    assert_eq!(ev["source"], json!("sms"));
    for id in &queued[..2] {
        let m = g.ok(json!({"cmd": "show", "message": id}));
        assert_eq!(m["state"], json!("skipped"), "{m}");
        assert_eq!(m["error"], json!("opted out"), "{m}");
    }
    let m = g.ok(json!({"cmd": "show", "message": queued[2]}));
    assert_eq!(
        m["state"],
        json!("queued"),
        "another number is not touched: {m}"
    );
    let skipped = events.until(T, |e| e["type"] == json!("skipped"));
    assert_eq!(skipped["error"], json!("opted out"));

    // The reply goes back; a transactional message still goes out; a new
    // marketing one is skipped at intake and never reaches the network.
    wait_net(&g, &fan, "the opt-out reply", |t| {
        t.starts_with("You will get no more")
    });
    let receipt = g.send(&fan, "your parcel is here");
    g.wait_state(receipt, "sent", T);
    let promo = g.ok(json!({"cmd": "send", "to": fan, "text": "flash sale",
        "category": "marketing"}))["id"]
        .as_i64()
        .expect("id");
    let m = g.ok(json!({"cmd": "show", "message": promo}));
    assert_eq!(m["state"], json!("skipped"), "{m}");
    let list = g.ok(json!({"cmd": "optout_list"}));
    assert_eq!(list[0]["number"], json!(fan), "{list}");

    // START takes the number off the list: marketing reaches it again.
    g.net
        .inject(&fan, &msisdn(0), "start")
        .expect("inject START");
    let ev = events.until(T, |e| e["type"] == json!("opted_in"));
    assert_eq!(ev["number"], json!(fan), "{ev}");
    let again = g.ok(
        json!({"cmd": "send", "to": fan, "text": "welcome back offer",
        "category": "marketing"}),
    )["id"]
        .as_i64()
        .expect("id");
    g.wait_state(again, "sent", T);
    let seen = texts_to(&g, &fan);
    assert!(seen.iter().any(|t| t == "welcome back offer"), "{seen:?}");
    assert!(seen.iter().any(|t| t == "your parcel is here"), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|t| t == "flash sale" || t == "50% off today"),
        "no skipped message went out: {seen:?}"
    );
    assert!(g
        .ok(json!({"cmd": "optout_list"}))
        .as_array()
        .expect("list")
        .is_empty());

    // The CLI: add (national form needs no country for +/00 numbers), list,
    // remove; a bad number is a clear error (exit 2, a refused request).
    let cli = |args: &[&str]| {
        std::process::Command::new(bin())
            .args(args)
            .arg("--socket")
            .arg(&g.socket)
            .output()
            .expect("run smsgate")
    };
    let out = cli(&["optout", "add", &format!("00{}", &other[1..])]);
    assert!(out.status.success(), "{out:?}");
    let m = g.ok(json!({"cmd": "show", "message": queued[2]}));
    assert_eq!(m["state"], json!("skipped"), "added by hand: {m}");
    let out = cli(&["optout", "list", "--json"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&format!("\"number\":\"{other}\"")),
        "{listed}"
    );
    let out = cli(&["optout", "remove", &other]);
    assert!(out.status.success(), "{out:?}");
    let out = cli(&["optout", "add", "not a number"]);
    assert_eq!(out.status.code(), Some(2), "refused request: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad number"),
        "{out:?}"
    );

    // The events are in the durable log, in order.
    let log: Vec<String> = {
        let mut w = g.watch_since(0);
        let mut kinds = Vec::new();
        while let Some(e) = w.next(Duration::from_millis(300)) {
            kinds.push(e["type"].as_str().unwrap_or_default().to_string());
        }
        kinds
    };
    let pos = |k: &str| log.iter().position(|x| x == k).unwrap_or(usize::MAX);
    assert!(pos("opted_out") < pos("skipped"), "{log:?}");
    assert!(pos("skipped") < pos("opted_in"), "{log:?}");
    assert_eq!(
        log.iter().filter(|k| *k == "opted_out").count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|k| *k == "opted_in").count(),
        2,
        "{log:?}"
    );
}

fn code_in(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_codes_over_http() {
    let port = common::http::free_port();
    let g = Gateway::start(vec![ModemPlan::default()], &section(port, "")).await;
    let token = g.ok(json!({"cmd": "token_create", "name": "app", "scopes": ["send"]}))["token"]
        .as_str()
        .expect("token")
        .to_string();
    let c = Client::new(port, Some(&token));
    let mut codes: Vec<String> = Vec::new();

    // The right code is good once.
    let alice = external(11);
    let r = c.post("/api/v1/verify", &json!({"to": alice}));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let sent = r.json();
    assert_eq!(sent["to"], json!(alice));
    assert!(sent["expires_at"].as_str().is_some(), "{sent}");
    let text = wait_net(&g, &alice, "the code", |t| {
        t.starts_with("Your verification code is ")
    });
    let code = code_in(&text);
    assert_eq!(code.len(), 6, "{text}");
    codes.push(code.clone());
    let stored = g.ok(json!({"cmd": "show", "message": sent["message"]}));
    assert_eq!(
        stored["text"],
        json!("Your verification code is ******"),
        "{stored}"
    );
    assert_eq!(stored["priority"], json!("urgent"), "{stored}");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let check = |to: &str, code: &str| {
        let r = c.post("/api/v1/verify/check", &json!({"to": to, "code": code}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let v = check(&alice, wrong);
    assert_eq!(v["valid"], json!(false));
    assert_eq!(v["reason"], json!("wrong_code"));
    assert_eq!(v["tries_left"], json!(4));
    assert_eq!(check(&alice, &code)["valid"], json!(true));
    let v = check(&alice, &code);
    assert_eq!(v, json!({"valid": false, "reason": "used"}));

    // Five wrong tries kill a code: the right one is refused after them.
    let r = c.post(
        "/api/v1/verify",
        &json!({"to": alice, "text": "Ihr Code lautet {{code}}.", "length": 8}),
    );
    assert_eq!(r.status, 201);
    let text = wait_net(&g, &alice, "the German code", |t| t.starts_with("Ihr Code"));
    let code = code_in(&text);
    assert_eq!(code.len(), 8, "{text}");
    codes.push(code.clone());
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    for left in (0..5).rev() {
        let v = check(&alice, wrong);
        assert_eq!(v["valid"], json!(false));
        if left > 0 {
            assert_eq!(v["tries_left"], json!(left), "{v}");
        } else {
            assert_eq!(v["reason"], json!("too_many_tries"), "{v}");
        }
    }
    let v = check(&alice, &code);
    assert_eq!(v["valid"], json!(false));
    assert_eq!(v["reason"], json!("too_many_tries"));

    // An expired code is invalid (a 1 s ttl; wait for the moment the
    // answer named, not a guess).
    let bob = external(12);
    let sent = c
        .post("/api/v1/verify", &json!({"to": bob, "ttl": "1s"}))
        .json();
    let text = wait_net(&g, &bob, "the short code", |t| t.contains("code is"));
    let code = code_in(&text);
    codes.push(code.clone());
    let until = chrono::DateTime::parse_from_rfc3339(sent["expires_at"].as_str().expect("at"))
        .expect("rfc3339");
    let wait = (until.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    std::thread::sleep(wait + Duration::from_millis(50));
    assert_eq!(
        check(&bob, &code),
        json!({"valid": false, "reason": "expired"})
    );

    // The sixth code within an hour for one number gets 429.
    let carol = external(13);
    for _ in 0..5 {
        let r = c.post("/api/v1/verify", &json!({"to": carol}));
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let p = c
        .post("/api/v1/verify", &json!({"to": carol}))
        .problem(429, "rate_limited");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("max_per_hour"),
        "{p}"
    );
    // The socket says the same with its own code.
    let r = g.call(json!({"cmd": "verify_send", "to": carol}));
    assert_eq!(r["error"]["code"], json!("rate_limited"), "{r}");

    // Bad input: clear refusals, nothing queued.
    let before = g
        .ok(json!({"cmd": "outbox", "limit": 1000}))
        .as_array()
        .map_or(0, Vec::len);
    c.post("/api/v1/verify", &json!({"to": "not a number"}))
        .problem(422, "invalid");
    c.post("/api/v1/verify", &json!({"to": alice, "length": 3}))
        .problem(422, "invalid");
    c.post("/api/v1/verify", &json!({"to": alice, "ttl": "forever"}))
        .problem(422, "invalid");
    c.post(
        "/api/v1/verify",
        &json!({"to": alice, "text": "no placeholder"}),
    )
    .problem(422, "invalid");
    c.post("/api/v1/verify", &json!({"to": alice, "colour": "red"}))
        .problem(400, "bad_request");
    c.post("/api/v1/verify", &json!({}))
        .problem(400, "bad_request");
    let p = c
        .post("/api/v1/verify/check", &json!({"to": alice, "code": "  "}))
        .problem(422, "invalid");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("empty"),
        "{p}"
    );
    c.post(
        "/api/v1/verify/check",
        &json!({"to": alice, "code": "12ab56"}),
    )
    .problem(422, "invalid");
    c.post("/api/v1/verify/check", &json!({"to": "", "code": "123456"}))
        .problem(422, "invalid");
    let huge = format!(
        r#"{{"to": "{alice}", "text": "{}{{{{code}}}}"}}"#,
        "x".repeat(2 << 20)
    );
    let r = c.req(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/json")],
        huge.as_bytes(),
    );
    r.problem(413, "too_large");
    let after = g
        .ok(json!({"cmd": "outbox", "limit": 1000}))
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(before, after, "a refused request queues nothing");

    // No code in clear: not in the code table, nor anywhere in the
    // database files (text next to it, as the messages carry it).
    let db = rusqlite::Connection::open(&g.db).expect("open db");
    let rows: Vec<(String, Vec<u8>)> = {
        let mut s = db
            .prepare("SELECT number, hash FROM verify_code")
            .expect("prepare");
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(rows.len(), 8, "codes stored");
    for (_, hash) in &rows {
        assert_eq!(hash.len(), 32);
        for code in &codes {
            assert!(!hash.windows(code.len()).any(|w| w == code.as_bytes()));
        }
    }
    drop(db);
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", g.db.display()));
        bytes.extend(std::fs::read(&p).unwrap_or_default());
    }
    assert!(!bytes.is_empty());
    for code in &codes {
        for needle in [
            format!("is {code}"),
            format!("lautet {code}"),
            format!("\"{code}\""),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in the database"
            );
        }
    }
    let key = g.db.with_file_name("verify.key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
