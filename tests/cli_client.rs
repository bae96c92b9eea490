//! The client commands of CONTRACT.md through the real binary against a
//! running daemon: `send` (with `--text` and from stdin), `status`, `show`,
//! `outbox --state/--limit`, `inbox --since/--limit`, `cancel`, `retry`,
//! `watch`, `ussd`, `reload`; the `--json` field names; the socket lookup
//! order; exit codes 0/1/2; a daemon that is not running; `completions` and
//! `manpage`. The socket protocol itself is tested in `control_socket.rs`.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// What one run of the binary produced.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Out {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// The JSON Lines on stdout.
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    fn json(&self) -> Value {
        let lines = self.lines();
        assert_eq!(lines.len(), 1, "one JSON object: {self:?}");
        lines.into_iter().next().expect("one")
    }

    /// A failure: the given code, one line on stderr, no panic.
    fn fails(self, code: i32) -> Out {
        assert_eq!(self.code, code, "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
        assert!(self.stderr.starts_with("smsgate: "), "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }
}

/// Runs `smsgate ARGS` with `env` (and no inherited `$SMSGATE_SOCKET`),
/// feeding `stdin`; bounded by `T`.
fn run_env(args: &[&str], env: &[(&str, &Path)], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("SMSGATE_SOCKET")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("smsgate runs");
    if let Some(text) = stdin {
        let mut i = child.stdin.take().expect("stdin");
        i.write_all(text.as_bytes()).expect("stdin");
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(T) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("smsgate {args:?} did not finish in {T:?}");
        }
    };
    Out {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

fn run(args: &[&str]) -> Out {
    run_env(args, &[], None)
}

/// `smsgate CMD --socket S ARGS…` against the gateway.
fn cli(g: &Gateway, args: &[&str]) -> Out {
    let sock = g.socket.to_str().expect("utf-8 path").to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.push("--socket");
    all.push(&sock);
    run(&all)
}

/// Waits until every modem in `names` is ready, woken by events.
fn wait_ready(g: &Gateway, names: &[&str]) {
    let mut w = g.watch();
    let deadline = Instant::now() + T;
    loop {
        let s = g.ok(json!({"cmd": "status"}));
        if names.iter().all(|n| {
            s["modems"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["name"] == *n && m["state"] == "ready"))
        }) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "modems {names:?} not ready: {s}");
        w.next(left);
    }
}

fn has_keys(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(*k).is_some(), "no {k:?} in {v}");
    }
}

fn rfc3339(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "not RFC 3339: {s}"
    );
}

const OUTBOX_KEYS: &[&str] = &[
    "id",
    "to",
    "text",
    "state",
    "modem",
    "created_at",
    "error",
    "parts",
];
const PART_KEYS: &[&str] = &["seq", "state", "mr", "status"];
const INBOX_KEYS: &[&str] = &[
    "id",
    "modem",
    "from",
    "text",
    "sent_at",
    "received_at",
    "parts",
    "complete",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_command_through_the_binary() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    wait_ready(&g, &["m0", "m1"]);

    // send --text: the id on stdout.
    let out = cli(&g, &["send", "--to", "+4915112345678", "--text", "plain"]).ok();
    let plain: i64 = out.stdout.trim().parse().expect("an id");

    // send from stdin: one trailing newline is dropped, the rest kept.
    let sock = g.socket.clone();
    let out = run_env(
        &[
            "send",
            "--to",
            "+4915112345679",
            "--socket",
            sock.to_str().expect("utf-8"),
        ],
        &[],
        Some("from stdin\nsecond line\n"),
    )
    .ok();
    let stdin_id: i64 = out.stdout.trim().parse().expect("an id");
    assert_eq!(
        g.ok(json!({"cmd": "show", "message": stdin_id}))["text"],
        json!("from stdin\nsecond line")
    );

    // send --json with every option.
    let out = cli(
        &g,
        &[
            "send",
            "--to",
            "+4915112345670",
            "--text",
            "with options €",
            "--report",
            "--modem",
            "m0",
            "--priority",
            "high",
            "--validity",
            "12h",
            "--json",
        ],
    )
    .ok();
    let sent = out.json();
    has_keys(&sent, &["id", "parts"]);
    assert_eq!(sent["parts"], json!(1));
    let reported = sent["id"].as_i64().expect("id");
    g.wait_state(reported, "delivered", T);
    g.wait_state(plain, "sent", T);
    g.wait_state(stdin_id, "sent", T);

    // show / show --json
    let show = cli(&g, &["show", &reported.to_string(), "--json"])
        .ok()
        .json();
    has_keys(&show, OUTBOX_KEYS);
    assert_eq!(show["id"], json!(reported));
    assert_eq!(show["to"], json!("+4915112345670"));
    assert_eq!(show["text"], json!("with options €"));
    assert_eq!(show["state"], json!("delivered"));
    assert_eq!(show["modem"], json!("m0"));
    assert_eq!(show["error"], Value::Null);
    rfc3339(&show["created_at"]);
    let parts = show["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 1);
    has_keys(&parts[0], PART_KEYS);
    assert_eq!(parts[0]["seq"], json!(1));
    assert_eq!(parts[0]["state"], json!("delivered"));
    assert_eq!(parts[0]["status"], json!(0));
    assert!(parts[0]["mr"].is_u64());
    let text = cli(&g, &["show", &reported.to_string()]).ok().stdout;
    assert!(
        text.contains("delivered") && text.contains("with options €"),
        "{text}"
    );

    // outbox: JSON Lines, newest first, --state and --limit.
    let all = cli(&g, &["outbox", "--json"]).ok().lines();
    let ids: Vec<i64> = all.iter().map(|m| m["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, [reported, stdin_id, plain], "newest first");
    for m in &all {
        has_keys(m, OUTBOX_KEYS);
        for p in m["parts"].as_array().expect("parts") {
            has_keys(p, PART_KEYS);
        }
    }
    let delivered = cli(&g, &["outbox", "--state", "delivered", "--json"])
        .ok()
        .lines();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["id"], json!(reported));
    let limited = cli(&g, &["outbox", "--limit", "2", "--json"]).ok().lines();
    assert_eq!(limited.len(), 2);
    let table = cli(&g, &["outbox"]).ok().stdout;
    assert!(
        table.lines().count() == 4 && table.contains("plain"),
        "{table}"
    );

    // inbox: three messages from the outside world to m0.
    {
        let mut w = g.watch();
        for i in 0..3 {
            g.net
                .inject("+4917099999999", &msisdn(0), &format!("inbound {i}"))
                .expect("inject");
            w.until(T, |e| {
                e["type"] == "received" && e["text"] == json!(format!("inbound {i}"))
            });
        }
    }
    let inbox = cli(&g, &["inbox", "--json"]).ok().lines();
    assert_eq!(inbox.len(), 3);
    for (i, m) in inbox.iter().enumerate() {
        has_keys(m, INBOX_KEYS);
        assert_eq!(m["text"], json!(format!("inbound {i}")), "oldest first");
        assert_eq!(m["from"], json!("+4917099999999"));
        assert_eq!(m["modem"], json!("m0"));
        assert_eq!(m["parts"], json!(1));
        assert_eq!(m["complete"], json!(true));
        rfc3339(&m["sent_at"]);
        rfc3339(&m["received_at"]);
        // The SMSC time stamp keeps its offset: `Z` or `±hh:mm` at the end.
        let sent_at = m["sent_at"].as_str().expect("sent_at");
        assert!(
            sent_at.ends_with('Z')
                || sent_at
                    .get(sent_at.len() - 6..)
                    .is_some_and(|t| t.starts_with(['+', '-'])),
            "{sent_at}"
        );
    }
    let first = inbox[0]["id"].as_i64().expect("id").to_string();
    let since = cli(&g, &["inbox", "--since", &first, "--json"])
        .ok()
        .lines();
    assert_eq!(since.len(), 2);
    assert_eq!(since[0]["text"], json!("inbound 1"));
    let one = cli(&g, &["inbox", "--since", &first, "--limit", "1", "--json"])
        .ok()
        .lines();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["text"], json!("inbound 1"));
    let table = cli(&g, &["inbox"]).ok().stdout;
    assert!(table.contains("inbound 2"), "{table}");

    // cancel / retry
    let later = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let held: i64 = cli(
        &g,
        &[
            "send",
            "--to",
            "+4915112345671",
            "--text",
            "held",
            "--send-after",
            &later,
        ],
    )
    .ok()
    .stdout
    .trim()
    .parse()
    .expect("id");
    let c = cli(&g, &["cancel", &held.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(c, json!({"id": held, "state": "cancelled"}));
    cli(&g, &["cancel", &held.to_string()]).fails(1);
    cli(&g, &["retry", &held.to_string()]).ok();
    assert_eq!(
        g.ok(json!({"cmd": "show", "message": held}))["state"],
        json!("queued")
    );
    cli(&g, &["cancel", &held.to_string()]).ok();
    cli(&g, &["cancel", &reported.to_string()]).fails(1);
    cli(&g, &["show", "999999"]).fails(1);
    cli(&g, &["retry", "999999"]).fails(1);

    // ussd
    let out = cli(&g, &["ussd", "--modem", "m1", "*100#"]).ok();
    assert_eq!(out.stdout.trim(), "Balance: 12.34 EUR");
    cli(&g, &["ussd", "--modem", "nope", "*100#"]).fails(2);

    // status
    let s = cli(&g, &["status", "--json"]).ok().json();
    has_keys(&s, &["daemon", "queue", "modems"]);
    for m in s["modems"].as_array().expect("modems") {
        has_keys(
            m,
            &[
                "name",
                "state",
                "imei",
                "imsi",
                "iccid",
                "operator",
                "registration",
                "signal",
                "sent",
                "received",
                "errors",
            ],
        );
    }
    assert_eq!(s["queue"]["inbox"], json!(3));
    let text = cli(&g, &["status"]).ok().stdout;
    assert!(
        text.contains("m0") && text.contains("m1") && text.contains("ready"),
        "{text}"
    );

    // reload
    let r = cli(&g, &["reload", "--json"]).ok().json();
    assert_eq!(
        r,
        json!({"added": [], "removed": [], "changed": [], "unchanged": ["m0", "m1"]})
    );

    // Usage and validation errors exit 2; nothing was stored for them.
    let before = g.ok(json!({"cmd": "outbox", "limit": 1000}));
    cli(&g, &["send", "--to", "not a number", "--text", "x"]).fails(2);
    cli(
        &g,
        &[
            "send",
            "--to",
            "+4915112345678",
            "--text",
            "x",
            "--modem",
            "nope",
        ],
    )
    .fails(2);
    cli(
        &g,
        &[
            "send",
            "--to",
            "+4915112345678",
            "--text",
            "x",
            "--validity",
            "forever",
        ],
    )
    .fails(2);
    cli(&g, &["outbox", "--state", "lost"]).fails(2);
    assert_eq!(g.ok(json!({"cmd": "outbox", "limit": 1000})), before);
    for args in [
        &["send", "--text", "no destination"][..],
        &[
            "send",
            "--to",
            "+1",
            "--priority",
            "critical",
            "--text",
            "x",
        ],
        &["show", "seven"],
        &["outbox", "--limit", "many"],
        &["frobnicate"],
    ] {
        let out = cli(&g, args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_events_as_they_happen() {
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    wait_ready(&g, &["m0"]);
    let mut child = Command::new(bin())
        .args(["watch", "--json", "--socket"])
        .arg(&g.socket)
        .env_remove("SMSGATE_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str(&line) else {
                break;
            };
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    // The watcher prints nothing until its subscription is answered, so
    // messages go out until one shows up; after that every one must.
    let deadline = Instant::now() + T;
    let mut first = None;
    while first.is_none() {
        assert!(Instant::now() < deadline, "`smsgate watch` printed nothing");
        let id = g.send("+4915112345678", "watch me");
        while let Ok(ev) = rx.recv_timeout(Duration::from_secs(2)) {
            if ev["type"] == "sent" {
                first = Some(id);
                break;
            }
        }
    }
    let id = g.send("+4915112345678", "and me");
    let ev = loop {
        let ev = rx.recv_timeout(T).expect("an event");
        if ev["type"] == "sent" && ev["data"]["id"] == json!(id) {
            break ev;
        }
    };
    assert!(ev["event_id"].as_i64().is_some(), "{ev}");
    assert_eq!(ev["data"]["modem"], json!("m0"));
    assert_eq!(ev["data"]["text"], json!("and me"));
    // The daemon going away ends `watch` with exit 1 and one line.
    let mut g = g;
    assert_eq!(g.terminate(), Some(0));
    let code = wait_exit(child, T);
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_found_in_the_documented_order() {
    let g = Gateway::start(vec![], "").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let good = g.socket.as_path();
    let bad = dir.path().join("nobody-listens.sock");
    let good_cfg = g.config.as_path();
    let bad_cfg = dir.path().join("bad.toml");
    std::fs::write(
        &bad_cfg,
        format!("[control]\nsocket = \"{}\"\n", bad.display()),
    )
    .expect("config");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    // (what, arguments, environment, exit code)
    type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a Path)>, i32);
    let cases: Vec<Case> = vec![
        (
            "--socket alone",
            vec!["--socket".into(), s(good)],
            vec![],
            0,
        ),
        (
            "--socket wins over $SMSGATE_SOCKET",
            vec!["--socket".into(), s(good)],
            vec![("SMSGATE_SOCKET", bad.as_path())],
            0,
        ),
        (
            "--socket wins over $SMSGATE_SOCKET (bad --socket)",
            vec!["--socket".into(), s(&bad)],
            vec![("SMSGATE_SOCKET", good)],
            1,
        ),
        (
            "--socket wins over -c",
            vec!["--socket".into(), s(good), "-c".into(), s(&bad_cfg)],
            vec![],
            0,
        ),
        (
            "$SMSGATE_SOCKET alone",
            vec![],
            vec![("SMSGATE_SOCKET", good)],
            0,
        ),
        (
            "$SMSGATE_SOCKET wins over -c",
            vec!["-c".into(), s(&bad_cfg)],
            vec![("SMSGATE_SOCKET", good)],
            0,
        ),
        (
            "$SMSGATE_SOCKET wins over -c (bad env)",
            vec!["-c".into(), s(good_cfg)],
            vec![("SMSGATE_SOCKET", bad.as_path())],
            1,
        ),
        ("-c alone", vec!["-c".into(), s(good_cfg)], vec![], 0),
        (
            "-c naming a dead socket",
            vec!["-c".into(), s(&bad_cfg)],
            vec![],
            1,
        ),
    ];
    assert!(!cases.is_empty());
    for (what, args, env, code) in &cases {
        let mut all = vec!["status", "--json"];
        all.extend(args.iter().map(String::as_str));
        let out = run_env(&all, env, None);
        assert_eq!(out.code, *code, "{what}: {out:?}");
        if *code == 0 {
            assert_eq!(out.json()["daemon"]["protocol"], json!(2), "{what}");
        } else {
            out.fails(*code);
        }
    }
    // -c of a missing file is a usage error.
    let missing = dir.path().join("missing.toml");
    run(&["status", "-c", &s(&missing)]).fails(2);
    // With nothing given, the default path is tried and named.
    if !Path::new("/run/smsgate/smsgate.sock").exists() {
        let out = run(&["status"]).fails(1);
        assert!(out.stderr.contains("/run/smsgate/smsgate.sock"), "{out:?}");
    }
}

#[test]
fn without_a_daemon_every_client_command_fails_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.sock");
    // A stale socket file: bound once, nobody listening any more.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--json"],
        vec!["show", "1"],
        vec!["outbox"],
        vec!["inbox", "--since", "3"],
        vec!["cancel", "1"],
        vec!["retry", "1"],
        vec!["watch"],
        vec!["ussd", "--modem", "m0", "*100#"],
        vec!["reload"],
        vec!["send", "--to", "+4915112345678", "--text", "hi"],
    ];
    assert!(!commands.is_empty());
    for sock in [&missing, &stale] {
        for args in &commands {
            let mut all = args.clone();
            all.push("--socket");
            all.push(sock.to_str().expect("utf-8"));
            let out = run(&all).fails(1);
            assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
            assert!(
                out.stderr.contains(sock.to_str().expect("utf-8")),
                "names the socket: {out:?}"
            );
        }
    }
    // `send` from stdin with no daemon: still one line, exit 1.
    run_env(
        &[
            "send",
            "--to",
            "+4915112345678",
            "--socket",
            missing.to_str().expect("utf-8"),
        ],
        &[],
        Some("text\n"),
    )
    .fails(1);
}

#[test]
fn completions_manpage_version_and_help() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["completions", "bash"], "_smsgate"),
        (vec!["completions", "zsh"], "#compdef smsgate"),
        (vec!["completions", "fish"], "complete -c smsgate"),
        (vec!["manpage"], ".TH smsgate"),
        (vec!["--version"], env!("CARGO_PKG_VERSION")),
        (vec!["--help"], "Usage"),
        (vec!["send", "--help"], "--to"),
    ];
    assert!(!cases.is_empty());
    for (args, needle) in &cases {
        let out = run(args).ok();
        assert!(out.stdout.contains(needle), "{args:?}: {out:?}");
    }
    // Every client command shows up in the bash completions.
    let bash = run(&["completions", "bash"]).ok().stdout;
    for cmd in [
        "send", "status", "show", "outbox", "inbox", "cancel", "retry", "watch", "ussd", "reload",
    ] {
        assert!(bash.contains(cmd), "{cmd} missing from the completions");
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.code, 2, "{out:?}");
    let out = run(&[]);
    assert_eq!(out.code, 2, "no command is a usage error: {out:?}");
}
