//! The event log through the real binary on simulated modems: a slow hook
//! gets every `sent` event of a burst exactly once (multipart messages with
//! status reports included), at least once across `kill -9` and a restart;
//! a `watch` client that went away gets exactly the events it missed; the
//! log's ids only grow. Hooks append to a file; the tests wait on inotify
//! events of its directory, never on sleeps.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A `sent` hook that takes 50 ms and then appends "<message id> <event id>"
/// to `file` (one short `>>` write: atomic between concurrent runs).
fn slow_hook(file: &Path) -> String {
    let script = format!(
        "sleep 0.05; echo \"$SMSGATE_ID $SMSGATE_EVENT_ID\" >> '{}'",
        file.display()
    );
    format!(
        "[hooks]\nsent = [\"/bin/sh\", \"-c\", {}]\ntimeout = \"30s\"\n",
        json!(script)
    )
}

/// (message id, event id) per line of the hook's file.
fn runs(file: &Path) -> Vec<(i64, i64)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

/// Queues `n` messages: every tenth a two-part one; all ask for a report.
fn burst(g: &Gateway, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let text = if i % 10 == 0 {
                format!("{i} {}", "long message ".repeat(15))
            } else {
                format!("message {i}")
            };
            g.ok(json!({"cmd": "send", "to": external(i % 50), "text": text, "report": true}))["id"]
                .as_i64()
                .expect("id")
        })
        .collect()
}

fn status(g: &Gateway) -> Value {
    g.ok(json!({"cmd": "status"}))
}

/// Waits (on inotify events of the hook file's directory) until `done`
/// holds for the hook's runs; on a timeout, says how far it got.
fn wait_runs(g: &Gateway, file: &Path, timeout: Duration, done: impl Fn(&[(i64, i64)]) -> bool) {
    let dir = file.parent().expect("dir");
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_fs(&[dir], timeout, "hook runs", || done(&runs(file)))
    }));
    if ok.is_err() {
        let log = g.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "hook runs: {} after {timeout:?}; status {}; log tail:\n{}",
            runs(file).len(),
            status(g),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hook_gets_every_sent_event_exactly_once() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("sent.log");
    let modems = vec![ModemPlan::default(); 4];
    let g = Gateway::start(modems, &slow_hook(&file)).await;
    const N: usize = 5_000;
    let ids = burst(&g, N);
    let want: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(want.len(), N);

    // The hook's backlog drains long after the sends and reports (a run
    // takes 50 ms, four at a time): wait for N runs, then check they are N
    // different messages, and that every message went out.
    wait_runs(&g, &file, Duration::from_secs(600), |r| r.len() >= N);
    let s = status(&g);
    let q = &s["queue"];
    let out = q["sent"].as_u64().unwrap_or(0) + q["delivered"].as_u64().unwrap_or(0);
    assert_eq!(out, N as u64, "{s}");
    assert!(
        q["delivered"].as_u64().unwrap_or(0) >= N as u64 * 99 / 100,
        "status reports reached their messages: {s}"
    );
    let runs = runs(&file);
    let mut per_message: BTreeMap<i64, usize> = BTreeMap::new();
    for (id, _) in &runs {
        *per_message.entry(*id).or_default() += 1;
    }
    let got: BTreeSet<i64> = per_message.keys().copied().collect();
    assert_eq!(got, want, "the hook saw other messages than were sent");
    let twice: Vec<_> = per_message.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent announced more than once: {twice:?}");
    let events: BTreeSet<i64> = runs.iter().map(|(_, e)| *e).collect();
    assert_eq!(events.len(), N, "each run had its own event id");
    let log = g.log();
    assert!(
        !log.contains("dropped"),
        "the daemon dropped events:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_hook_backlog_loses_no_event() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("sent.log");
    let modems = vec![ModemPlan::default(); 2];
    let mut g = Gateway::start(modems, &slow_hook(&file)).await;
    const N: usize = 600;
    let ids = burst(&g, N);
    // The sends finish long before the hook (50 ms a run): kill the daemon
    // once the hook is partway through its backlog.
    wait_runs(&g, &file, T, |r| r.len() >= 100);
    g.restart9();
    wait_runs(&g, &file, Duration::from_secs(300), |r| {
        r.iter().map(|r| r.0).collect::<BTreeSet<i64>>().len() >= N
    });
    for id in &ids {
        let m = g.wait_final(*id, T);
        assert!(m["state"] == "sent" || m["state"] == "delivered", "{m}");
    }
    let hooked: BTreeSet<i64> = runs(&file).iter().map(|r| r.0).collect();
    let want: BTreeSet<i64> = ids.into_iter().collect();
    assert_eq!(hooked, want, "every message's sent event, at least once");
    // Only what ran around the kill may have run twice.
    let total = runs(&file).len();
    assert!(total < N + 100, "{total} runs for {N} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_since_gets_exactly_what_a_client_missed() {
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    let mut w = g.watch();
    let first: Vec<i64> = (0..10)
        .map(|i| g.send(&external(i), &format!("before {i}")))
        .collect();
    // Read until the last of these is sent, then leave.
    let last = *first.last().expect("ids");
    let mut seen = Vec::new();
    loop {
        let ev = w.next(T).expect("an event");
        seen.push(ev["event_id"].as_i64().expect("event_id"));
        if ev["type"] == "sent" && ev["data"]["id"] == json!(last) {
            break;
        }
    }
    drop(w);
    let resume = *seen.last().expect("seen");
    // While away: more messages, more events.
    let later: Vec<i64> = (10..20)
        .map(|i| g.send(&external(i), &format!("after {i}")))
        .collect();
    for id in &later {
        g.wait_final(*id, T);
    }
    let newest = status(&g)["events"]["last_id"].as_i64().expect("last_id");
    assert!(newest > resume);

    // Resuming after the last event seen gives exactly the rest.
    let mut w = g.watch_since(resume);
    let mut missed = Vec::new();
    while missed.last().copied().unwrap_or(0) < newest {
        let ev = w.next(T).expect("a missed event");
        missed.push(ev["event_id"].as_i64().expect("event_id"));
    }
    // The whole log, from the start, for comparison.
    let mut all = g.watch_since(0);
    let mut everything = Vec::new();
    while everything.last().copied().unwrap_or(0) < newest {
        let ev = all.next(T).expect("an event");
        everything.push(ev["event_id"].as_i64().expect("event_id"));
    }
    let want: Vec<i64> = everything.iter().copied().filter(|e| *e > resume).collect();
    assert_eq!(missed, want, "resumed stream differs from the log");
    // The live stream began at the end of the log when it connected (a
    // modem_up may already have been there): from its first event to the
    // resume point it must match the log exactly.
    let first = *seen.first().expect("seen");
    let before: Vec<i64> = everything
        .iter()
        .copied()
        .filter(|e| *e >= first && *e <= resume)
        .collect();
    assert_eq!(seen, before, "the live stream skipped or repeated events");
    assert!(
        everything.windows(2).all(|w| w[0] < w[1]),
        "event ids only grow"
    );
    // Every message of the second batch shows up in the resumed stream.
    let mut w = g.watch_since(resume);
    let mut sent_later = BTreeSet::new();
    while sent_later.len() < later.len() {
        let ev = w.until(T, |e| e["type"] == "sent");
        sent_later.insert(ev["data"]["id"].as_i64().expect("id"));
    }
    assert_eq!(sent_later, later.into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_indication_is_an_event_not_an_inbox_message() {
    use smsgate::codec::address::Address;
    use smsgate::codec::dcs::Dcs;
    use smsgate::codec::pdu::{Deliver, UserData};
    use smsgate::codec::scts::Scts;
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    let mut w = g.watch();
    // DCS 0xD8: group 1101 (store message, GSM-7), indication active,
    // voicemail waiting.
    let mwi = Deliver {
        more_messages: false,
        loop_prevention: false,
        status_report_indication: false,
        reply_path: false,
        originator: Address::parse("+4917012345").expect("number"),
        pid: 0,
        dcs: Dcs(0xD8),
        scts: Scts::new(26, 12, 2, 10, 0, 0, 4),
        udh: None,
        data: UserData::Text("1 new voicemail".into()),
    };
    let pdu = mwi.encode(None);
    let (smsc, tpdu) = pdu.split_at(1);
    g.net
        .inject_raw(g.sims[0].msisdn(), smsc, tpdu)
        .expect("inject");
    let ev = w.until(T, |e| e["type"] == "mwi");
    assert_eq!(ev["data"]["kind"], json!("voicemail"), "{ev}");
    assert_eq!(ev["data"]["active"], json!(true), "{ev}");
    assert_eq!(ev["data"]["from"], json!("+4917012345"), "{ev}");
    assert_eq!(ev["data"]["text"], json!("1 new voicemail"), "{ev}");
    // An ordinary message after it: the inbox holds only that one.
    g.net
        .inject("+4917012345", g.sims[0].msisdn(), "call me back")
        .expect("inject");
    w.until(T, |e| e["type"] == "received");
    let inbox = g.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["text"], json!("call me back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_text_mode_modems_a_long_message_waits_and_show_says_why() {
    let plan = ModemPlan {
        faults: smsgate::sim::Faults {
            text_only: true,
            ..Default::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![plan], "").await;
    let short = g.send(&external(1), "short and plain");
    g.wait_final(short, T);
    let long = g.send(&external(2), &"a long message ".repeat(20));
    let mut w = g.watch();
    // Give the dispatcher every chance: another short one goes out after it.
    let after = g.send(&external(3), "after the long one");
    w.until(T, |e| {
        e["type"] == "sent" && e["data"]["id"] == json!(after)
    });
    let shown = g.show(long);
    assert_eq!(shown["state"], json!("queued"), "{shown}");
    let why = shown["waiting"].as_str().unwrap_or_default();
    assert!(why.contains("PDU mode"), "{shown}");
}
