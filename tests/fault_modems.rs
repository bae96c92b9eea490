//! Fault tests for the modem pool, through the real binary on simulated
//! modems: `+CMS ERROR`s at 10%, commands left unanswered at 1%, garbage
//! before answers, URC storms, a full SIM storage, and a modem unplugged and
//! replugged every few seconds. The pool keeps sending, every message and
//! every received SMS is accounted for, and a replugged modem is back within
//! seconds. Not here: the daemon's normal kill -9 paths (`daemon_*.rs`) and
//! the store's disk faults (`fault_disk.rs`).
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use smsgate::sim::{Faults, NetworkOptions};

/// Retries come fast and no modem is rested, so faults cost seconds, not minutes.
/// Quick retries, and a short receive sweep: a `+CMTI` garbled by the
/// injected garbage is lost as a notification (as on a real line), and the
/// sweep is what picks its message up; the default 5 minutes is longer than
/// a test.
const FAST_RETRIES: &str = "[dispatch]\nretry_base = \"1s\"\nretry_max = \"2s\"\nmax_attempts = 100\nfailure_threshold = 1000\ncooldown = \"0s\"\n\n[receive]\nsweep_interval = \"3s\"\n";

fn noisy() -> Faults {
    Faults {
        cms_error_rate: 0.10,
        no_answer_rate: 0.01,
        garbage_rate: 0.05,
        urc_noise_interval: Some(Duration::from_millis(150)),
        ..Faults::default()
    }
}

/// The `state` of every message in the outbox, by id.
fn states(g: &Gateway) -> BTreeMap<i64, Value> {
    g.ok(json!({"cmd": "outbox", "limit": 1000}))
        .as_array()
        .expect("outbox is a list")
        .iter()
        .filter_map(|m| Some((m["id"].as_i64()?, m.clone())))
        .collect()
}

fn modem_state(g: &Gateway, name: &str) -> String {
    let s = g.ok(json!({"cmd": "status"}));
    s["modems"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == json!(name)))
        .and_then(|m| m["state"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Waits until every id in `ids` is `sent`, `delivered` or `failed`.
fn wait_all_final(g: &Gateway, ids: &BTreeSet<i64>, timeout: Duration) -> BTreeMap<i64, Value> {
    let mut w = g.watch();
    let deadline = Instant::now() + timeout;
    loop {
        let all = states(g);
        let open: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| {
                !matches!(
                    all.get(id).and_then(|m| m["state"].as_str()),
                    Some("sent" | "delivered" | "failed")
                )
            })
            .collect();
        if open.is_empty() {
            return all;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let shown: Vec<Value> = open
                .iter()
                .map(|id| g.ok(json!({"cmd": "show", "message": id})))
                .collect();
            let log = g.log();
            let about: Vec<&str> = log
                .lines()
                .filter(|l| {
                    open.iter().any(|id| {
                        l.contains(&format!("id={id}")) || l.contains(&format!("message={id}"))
                    }) || l.contains("WARN")
                        || l.contains("ERROR")
                        || l.contains("state=")
                })
                .collect();
            panic!(
                "{} messages still open after {timeout:?}: {shown:#?}\nstatus: {}\nlog about them:\n{}",
                open.len(),
                g.ok(json!({"cmd": "status"})),
                about.join("\n")
            );
        }
        w.next(left.min(Duration::from_secs(1)));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_keeps_going_through_modem_faults() {
    let plans = vec![
        // m0: errors, silence, garbage and URC storms.
        ModemPlan {
            faults: noisy(),
            ..ModemPlan::default()
        },
        // m1: the same, and its SIM storage is full.
        ModemPlan {
            faults: Faults {
                storage_full: true,
                ..noisy()
            },
            ..ModemPlan::default()
        },
        // m2: clean, but unplugged and replugged every few seconds.
        ModemPlan::default(),
    ];
    let opts = NetworkOptions {
        seed: 7,
        ..NetworkOptions::default()
    };
    let g = Gateway::start_with(opts, plans, FAST_RETRIES).await;

    // Received messages: two for each modem; m1's wait in the network.
    let mut inbound = BTreeSet::new();
    for (m, sim) in g.sims.iter().enumerate() {
        for k in 0..2 {
            let text = format!("inbound {m}.{k}");
            g.net
                .inject("+4917099999999", sim.msisdn(), &text)
                .expect("inject");
            inbound.insert(text);
        }
    }

    // m2 goes away for ~0.7 s every ~2 s, four times; a wave of messages
    // is queued at each unplug and at each replug. The flapper is a thread
    // driving the simulator on this runtime, so this task can block on the
    // control socket meanwhile.
    const WAVE: usize = 5;
    const FLAPS: usize = 4;
    const N: usize = WAVE * FLAPS * 2;
    let rt = tokio::runtime::Handle::current();
    let (flaps, ids, texts, all) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
            let sim = &g.sims[2];
            let rt = &rt;
            let flapper = s.spawn(move || {
                for _ in 0..FLAPS {
                    std::thread::sleep(Duration::from_millis(1300));
                    rt.block_on(sim.unplug());
                    let _ = tx.send("unplugged");
                    std::thread::sleep(Duration::from_millis(700));
                    rt.block_on(sim.replug()).expect("replug");
                    let _ = tx.send("replugged");
                }
                FLAPS
            });
            let mut ids = BTreeSet::new();
            let mut texts = BTreeSet::new();
            let mut i = 0usize;
            while let Ok(what) = rx.recv_timeout(T) {
                for _ in 0..WAVE {
                    let text = format!("fault test {i} ({what})");
                    ids.insert(g.send(&format!("+1999000{i:04}"), &text));
                    texts.insert(text);
                    i += 1;
                }
            }
            let flaps = flapper.join().expect("flapper");
            let all = wait_all_final(&g, &ids, Duration::from_secs(40));
            (flaps, ids, texts, all)
        })
    });
    assert_eq!(ids.len(), N, "every wave was queued");

    // Every message is accounted for: sent (none should fail with 100
    // attempts), and on the network at least once; nothing else went out.
    let failed: Vec<&Value> = all
        .values()
        .filter(|m| ids.contains(&m["id"].as_i64().unwrap_or(-1)) && m["state"] == json!("failed"))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let out = g.net.external_messages();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &out {
        *seen.entry(m.text.clone()).or_default() += 1;
    }
    let got: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(got, texts, "what reached the network");
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "{N} messages sent through faults; {} duplicates on the network: {twice:?}; m2 unplugged {flaps} times",
        out.len() - N
    );

    // The storage frees up: m1's waiting messages arrive; every received
    // SMS is in the inbox exactly once.
    g.sims[1].set_faults(noisy());
    g.sims[2].replug().await.ok();
    let inbox = tokio::task::block_in_place(|| {
        let mut w = g.watch();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let inbox = g.ok(json!({"cmd": "inbox", "limit": 1000}));
            let got: Vec<String> = inbox
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect();
            if got.len() >= inbound.len() {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "inbox has {got:?}, want {inbound:?}\n{}",
                tail(&g.log())
            );
            w.next(left.min(Duration::from_secs(1)));
        }
    });
    let mut sorted = inbox.clone();
    sorted.sort();
    let want: Vec<String> = inbound.iter().cloned().collect();
    assert_eq!(sorted, want, "each received SMS stored exactly once");

    // And the pool is whole again.
    tokio::task::block_in_place(|| {
        for name in ["m0", "m1", "m2"] {
            wait_modem_ready(&g, name, Duration::from_secs(20));
        }
    });
}

/// `Watch::until` that shows the daemon's log when the event does not come.
fn wait_event(
    g: &Gateway,
    w: &mut Watch,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "expected event not seen in {timeout:?}\n{}",
            tail(&g.log())
        );
        if let Some(ev) = w.next(left) {
            if pred(&ev) {
                return ev;
            }
        }
    }
}

fn wait_modem_ready(g: &Gateway, name: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    let mut w = g.watch();
    loop {
        if modem_state(g, name) == "ready" {
            return start.elapsed();
        }
        let left = timeout.saturating_sub(start.elapsed());
        assert!(
            !left.is_zero(),
            "modem {name} not ready {timeout:?} after its replug\n{}",
            tail(&g.log())
        );
        w.next(left.min(Duration::from_secs(1)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replugged_modem_is_back_within_seconds() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    tokio::task::block_in_place(|| {
        wait_modem_ready(&g, "m0", T);
        wait_modem_ready(&g, "m1", T);
    });
    let mut worst = Duration::ZERO;
    for round in 0..4 {
        let mut w = tokio::task::block_in_place(|| g.watch());
        g.sims[0].unplug().await;
        tokio::task::block_in_place(|| {
            wait_event(&g, &mut w, T, |e| {
                e["type"] == json!("modem_down") && e["modem"] == json!("m0")
            })
        });
        // The other modem is not disturbed and keeps sending meanwhile.
        let id = tokio::task::block_in_place(|| {
            g.ok(json!({"cmd": "send", "to": "+19990001111", "text": format!("while m0 is out {round}"), "modem": "m1"}))["id"]
                .as_i64()
                .expect("id")
        });
        // Out for a while longer each time, so a reopen backoff would show.
        tokio::time::sleep(Duration::from_millis(500 * (round + 1))).await;
        g.sims[0].replug().await.expect("replug");
        let back = tokio::task::block_in_place(|| {
            let start = Instant::now();
            wait_event(&g, &mut w, Duration::from_secs(15), |e| {
                e["type"] == json!("modem_up") && e["modem"] == json!("m0")
            });
            start.elapsed()
        });
        worst = worst.max(back);
        tokio::task::block_in_place(|| g.wait_state(id, "sent", T));
    }
    eprintln!("slowest return after a replug: {worst:?}");
    assert!(
        worst < Duration::from_secs(5),
        "a replugged modem took {worst:?} to come back"
    );
    // And it sends.
    let id = tokio::task::block_in_place(|| {
        g.ok(json!({"cmd": "send", "to": "+19990002222", "text": "m0 is back", "modem": "m0"}))
            ["id"]
            .as_i64()
            .expect("id")
    });
    tokio::task::block_in_place(|| g.wait_state(id, "sent", T));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_in_the_middle_of_faults_loses_nothing() {
    let slow_noisy = Faults {
        cmgs_latency: Duration::from_millis(150),
        ..noisy()
    };
    let plans = vec![
        ModemPlan {
            faults: slow_noisy.clone(),
            ..ModemPlan::default()
        },
        ModemPlan {
            faults: slow_noisy,
            ..ModemPlan::default()
        },
    ];
    let opts = NetworkOptions {
        seed: 3,
        ..NetworkOptions::default()
    };
    let mut g = Gateway::start_with(opts, plans, FAST_RETRIES).await;
    const N: usize = 24;
    let (ids, texts) = tokio::task::block_in_place(|| {
        let mut w = g.watch();
        let mut ids = BTreeSet::new();
        let mut texts = BTreeSet::new();
        for i in 0..N {
            let text = format!("crash test {i}");
            ids.insert(g.send(&format!("+1999100{i:04}"), &text));
            texts.insert(text);
        }
        // kill -9 once a few have gone out and more are in flight.
        let mut sent = 0;
        while sent < 4 {
            wait_event(&g, &mut w, T, |e| e["type"] == json!("sent"));
            sent += 1;
        }
        (ids, texts)
    });
    g.kill9();
    g.spawn();
    g.wait_notify("READY=1", T);
    let all = tokio::task::block_in_place(|| wait_all_final(&g, &ids, Duration::from_secs(40)));
    for id in &ids {
        let m = &all[id];
        assert_ne!(m["state"], json!("failed"), "{m}");
    }
    let out = g.net.external_messages();
    let got: BTreeSet<String> = out.iter().map(|m| m.text.clone()).collect();
    assert_eq!(got, texts, "each accepted message reached the network");
    eprintln!(
        "{N} messages through a kill -9 under faults: {} transmissions ({} resent after the crash)",
        out.len(),
        out.len() - N
    );
}
