//! `[hooks]` through the real binary: hostile message text and a hostile
//! sender reach the hook verbatim on stdin and in the environment and nothing
//! executes; a hook that hangs is killed at its timeout; hooks never hold up
//! sending. Hooks report back through FIFOs, so the tests wait on events
//! (a line written, a writer gone), never on sleeps.
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A TOML string holding `s` (JSON string escapes are valid TOML).
fn toml_str(s: &str) -> String {
    json!(s).to_string()
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// Lines written to the FIFO at `p`, as they come. The FIFO is opened read
/// and write, so it never reports end of file between writers.
fn fifo_lines(p: &Path) -> mpsc::Receiver<String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .expect("open fifo");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A hook that records what it got: stdin to `<event>-<n>.json`, the
/// variables to `.text` / `.from` / `.to`, then announces `<event>-<n>` on
/// the FIFO `done`. Every expansion is quoted: the hook itself runs nothing
/// it was given.
fn recorder(dir: &Path) -> String {
    format!(
        r#"d='{d}'; n="$SMSGATE_EVENT-$SMSGATE_ID"; cat > "$d/$n.json"; printf '%s' "$SMSGATE_TEXT" > "$d/$n.text"; printf '%s' "$SMSGATE_FROM" > "$d/$n.from"; printf '%s' "$SMSGATE_TO" > "$d/$n.to"; echo "$n" > "$d/done""#,
        d = dir.display()
    )
}

struct Recorded {
    stdin: Value,
    text: String,
    from: String,
    to: String,
}

fn recorded(dir: &Path, name: &str) -> Recorded {
    let read = |ext: &str| {
        std::fs::read_to_string(dir.join(format!("{name}.{ext}")))
            .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"))
    };
    Recorded {
        stdin: serde_json::from_str(read("json").trim_end()).expect("stdin is one JSON object"),
        text: read("text"),
        from: read("from"),
        to: read("to"),
    }
}

/// Waits for the hooks in `names` to announce themselves on `done`.
fn wait_hooks(done: &mpsc::Receiver<String>, names: &[String], g: &Gateway) {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    while !names.iter().all(|n| seen.contains(n)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match done.recv_timeout(left) {
            Ok(n) => seen.push(n),
            Err(_) => panic!(
                "hooks {names:?} did not all run; seen {seen:?}; log:\n{}",
                g.log()
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_and_sender_reach_hooks_verbatim_and_nothing_runs() {
    let work = tempfile::tempdir().expect("tempdir");
    let rec = work.path().join("rec");
    std::fs::create_dir(&rec).expect("mkdir");
    mkfifo(&rec.join("done"));
    let done = fifo_lines(&rec.join("done"));
    let canary: PathBuf = work.path().join("pwned");
    let hook = format!(
        "[\"/bin/sh\", \"-c\", {}, \"hook\"]",
        toml_str(&recorder(&rec))
    );
    let extra = format!(
        "[hooks]\nreceived = {hook}\nsent = {hook}\ndelivered = {hook}\ntimeout = \"20s\"\n"
    );
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], &extra).await;

    let c = canary.display();
    let hostile = format!(
        "$(touch {c}) `touch {c}`; touch {c} && touch {c} || touch {c} | tee {c}\n\
         ' \" \\ ${{IFS}}$HOME %s %n\ttab\r\nline 3 > {c} < /dev/null & 😀 -- -rf *"
    );
    // Out through m0 to m1, with a report: `sent`, `delivered` and `received`.
    let id = g.ok(
        json!({"cmd": "send", "to": msisdn(1), "text": hostile, "report": true, "modem": "m0"}),
    )["id"]
        .as_i64()
        .expect("id");
    g.wait_state(id, "delivered", T);
    // In from the outside world, from an alphanumeric sender made of shell
    // syntax (11 characters, the most an alphanumeric sender holds).
    let sender = "$(id)'\";&<>";
    let mut w = g.watch();
    g.net.inject(sender, &msisdn(0), &hostile).expect("inject");
    let from_outside = w.until(T, |e| e["type"] == "received" && e["modem"] == "m0");
    assert_eq!(from_outside["from"], json!(sender), "{from_outside}");
    let inbound = from_outside["id"].as_i64().expect("id");
    let from_m0 = g
        .ok(json!({"cmd": "inbox"}))
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["modem"] == "m1")
        .and_then(|m| m["id"].as_i64())
        .expect("m1 received the message");

    let names: Vec<String> = vec![
        format!("sent-{id}"),
        format!("delivered-{id}"),
        format!("received-{from_m0}"),
        format!("received-{inbound}"),
    ];
    wait_hooks(&done, &names, &g);

    let sent = recorded(&rec, &names[0]);
    assert_eq!(sent.text, hostile);
    assert_eq!(sent.stdin["text"], json!(hostile));
    assert_eq!(sent.stdin["type"], json!("sent"));
    assert_eq!(sent.stdin["id"], json!(id));
    assert_eq!(sent.to, msisdn(1));

    let delivered = recorded(&rec, &names[1]);
    assert_eq!(delivered.stdin["type"], json!("delivered"));
    assert_eq!(delivered.text, hostile);

    let received = recorded(&rec, &names[2]);
    assert_eq!(received.text, hostile);
    assert_eq!(received.stdin["text"], json!(hostile));
    assert_eq!(received.from, msisdn(0));

    let outside = recorded(&rec, &names[3]);
    assert_eq!(outside.text, hostile);
    assert_eq!(outside.stdin["text"], json!(hostile));
    assert_eq!(outside.from, sender);
    assert_eq!(outside.stdin["from"], json!(sender));

    assert!(!canary.exists(), "message text was executed");
    // Nothing ran in the daemon's working directory either.
    assert!(!Path::new("pwned").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_hook_is_killed_at_its_timeout_and_holds_up_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let hold = work.path().join("hold");
    mkfifo(&hold);
    // The first `sent` hook opens `hold` for writing and sleeps with it open
    // (only the kill at the timeout closes it); the later ones just sleep.
    let script = format!(
        "if mkdir '{first}' 2>/dev/null; then exec /bin/sleep 600 > '{hold}'; else exec /bin/sleep 600; fi",
        first = work.path().join("first").display(),
        hold = hold.display()
    );
    let extra = format!(
        "[hooks]\nsent = [\"/bin/sh\", \"-c\", {}]\ntimeout = \"5s\"\nmax_concurrent = 1\n",
        toml_str(&script)
    );
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;

    // Reader of `hold`: when the hung hook opened it, and when it went away.
    let (tx, rx) = mpsc::channel::<(&str, Instant)>();
    let hold2 = hold.clone();
    std::thread::spawn(move || {
        let Ok(mut f) = std::fs::File::open(&hold2) else {
            return;
        };
        let _ = tx.send(("opened", Instant::now()));
        let mut sink = Vec::new();
        let _ = f.read_to_end(&mut sink);
        let _ = tx.send(("closed", Instant::now()));
    });

    let mut w = g.watch();
    let ids: Vec<i64> = (0..6)
        .map(|i| g.send(&format!("+49151000000{i:02}"), &format!("message {i}")))
        .collect();
    let started = Instant::now();
    let mut sent = BTreeMap::new();
    while sent.len() < ids.len() {
        let ev = w.until(T, |e| e["type"] == "sent" || e["type"] == "failed");
        assert_eq!(ev["type"], json!("sent"), "{ev}");
        sent.insert(ev["id"].as_i64().expect("id"), Instant::now());
    }
    let all_sent = started.elapsed();

    let (what, opened) = rx.recv_timeout(T).expect("the hook started");
    assert_eq!(what, "opened");
    let (what, closed) = rx.recv_timeout(T).expect("the hook was killed");
    assert_eq!(what, "closed");
    let ran = closed - opened;
    assert!(
        ran >= Duration::from_secs(4) && ran < Duration::from_secs(15),
        "the hanging hook ran {ran:?}, its timeout is 5 s"
    );
    // Six sends, one hook at a time, each hanging 5 s: had the hooks held up
    // sending, the last message could not have gone out before the first
    // hook was killed.
    let last_sent = sent.values().max().copied().expect("sent");
    assert!(
        last_sent < closed,
        "sending waited for the hook ({all_sent:?} for all sends)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_follow_a_reload() {
    let work = tempfile::tempdir().expect("tempdir");
    let rec = work.path().join("rec");
    std::fs::create_dir(&rec).expect("mkdir");
    mkfifo(&rec.join("done"));
    let done = fifo_lines(&rec.join("done"));
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    // No hooks at start; a reload adds one for `received`.
    let text = std::fs::read_to_string(&g.config).expect("config");
    let hook = format!("[\"/bin/sh\", \"-c\", {}]", toml_str(&recorder(&rec)));
    std::fs::write(
        &g.config,
        text.replacen(
            "[[modem]]",
            &format!("[hooks]\nreceived = {hook}\n\n[[modem]]"),
            1,
        ),
    )
    .expect("config");
    let r = g.ok(json!({"cmd": "reload"}));
    assert_eq!(r["unchanged"], json!(["m0"]), "{r}");
    let mut w = g.watch();
    g.net
        .inject("+4917099999999", &msisdn(0), "after the reload")
        .expect("inject");
    let ev = w.until(T, |e| e["type"] == "received");
    let id = ev["id"].as_i64().expect("id");
    wait_hooks(&done, &[format!("received-{id}")], &g);
    let got = recorded(&rec, &format!("received-{id}"));
    assert_eq!(got.text, "after the reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modem_up_and_down_hooks() {
    let work = tempfile::tempdir().expect("tempdir");
    let done_path = work.path().join("done");
    mkfifo(&done_path);
    let done = fifo_lines(&done_path);
    let script = format!(
        r#"echo "$1 $SMSGATE_EVENT $SMSGATE_MODEM $SMSGATE_STATE" > '{}'"#,
        done_path.display()
    );
    let extra = format!(
        "[hooks]\nmodem_up = [\"/bin/sh\", \"-c\", {s}, \"hook\", \"up\"]\nmodem_down = [\"/bin/sh\", \"-c\", {s}, \"hook\", \"down\"]\n",
        s = toml_str(&script)
    );
    let g = Gateway::start(vec![ModemPlan::default()], &extra).await;
    let line = done.recv_timeout(T).expect("modem_up hook");
    assert_eq!(line, "up modem_up m0 ready");
    g.sims[0].unplug().await;
    let line = done
        .recv_timeout(T)
        .unwrap_or_else(|_| panic!("no modem_down hook; log:\n{}", g.log()));
    assert_eq!(line, "down modem_down m0 gone");
    g.sims[0].replug().await.expect("replug");
    let line = done.recv_timeout(T).expect("modem_up hook again");
    assert_eq!(line, "up modem_up m0 ready");
}
