//! Failover and recovery through the real binary on simulated modems: a SIM
//! that fails every send is taken out of rotation while the other sends
//! everything, a modem unplugged with messages queued sends them after the
//! replug without a daemon restart, and a receiving SIM whose storage is full
//! loses nothing. Crashes of the daemon itself are in `daemon_crash.rs`.
mod common;

use common::*;
use serde_json::json;
use smsgate::sim::Faults;

const FAST_RETRY: &str = "[dispatch]\nretry_base = \"1s\"\nretry_max = \"2s\"\nfailure_threshold = 2\ncooldown = \"10m\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sim_leaves_the_rotation_and_the_other_sends_everything() {
    let broken = ModemPlan {
        faults: Faults {
            cms_error_rate: 1.0,
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![broken, ModemPlan::default()], FAST_RETRY).await;
    let mut w = g.watch();
    let long = "failover ".repeat(30);
    let mut ids = Vec::new();
    for i in 0..8 {
        let text = if i % 3 == 0 {
            format!("{long}{i}")
        } else {
            format!("short {i}")
        };
        ids.push((i, text.clone(), g.send(&external(i), &text)));
    }
    w.until(T, |e| {
        e["type"] == json!("modem_out") && e["modem"] == json!("m0")
    });
    for (_, _, id) in &ids {
        let m = g.wait_state(*id, "sent", T);
        assert_eq!(m["modem"], json!("m1"), "{m}");
    }
    let net = g.net.external_messages();
    for (i, text, _) in &ids {
        assert_eq!(&text_to(&net, &external(*i)), text);
        assert_eq!(senders_to(&net, &external(*i)), [msisdn(1)]);
    }
    assert!(g.sims[0].submitted().is_empty());
    // Out of rotation: while it rests, new messages do not even try it.
    let tried = g.sims[0]
        .commands()
        .iter()
        .filter(|c| c.contains("AT+CMGS="))
        .count();
    let id = g.send(&external(50), "after the cooldown started");
    g.wait_state(id, "sent", T);
    let tried_after = g.sims[0]
        .commands()
        .iter()
        .filter(|c| c.contains("AT+CMGS="))
        .count();
    assert_eq!(tried, tried_after, "m0 was tried while out of rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_with_messages_queued() {
    let g = Gateway::start(vec![ModemPlan::default()], FAST_RETRY).await;
    g.wait_modem("m0", "ready", T);
    let pid = g.ok(json!({"cmd": "status"}))["daemon"]["pid"].clone();
    let mut w = g.watch();
    g.sims[0].unplug().await;
    w.until(T, |e| {
        e["type"] == json!("modem_down") && e["modem"] == json!("m0")
    });
    let long = "queued while unplugged ".repeat(12);
    let ids = [
        g.send(&external(1), "one"),
        g.send(&external(2), &long),
        g.send(&external(3), "three 😀"),
    ];
    g.spool_file(
        "unplugged",
        &spool_text(&[("To", &external(4))], "from the spool"),
    );
    let out = g.spool.join("outgoing");
    let processing = g.spool.join("processing");
    wait_fs(&[&out, &processing], T, "spool drained", || {
        entries(&out).is_empty() && entries(&processing).is_empty()
    });
    for id in ids {
        let s = g.show(id)["state"].clone();
        assert!(s == json!("queued"), "message {id} is {s} with no modem");
    }
    assert!(g.net.external_messages().is_empty());

    g.sims[0].replug().await.expect("replug");
    g.wait_modem("m0", "ready", T);
    for id in ids {
        g.wait_state(id, "sent", T);
    }
    let spooled = g
        .outbox()
        .iter()
        .find(|m| m["text"] == json!("from the spool"))
        .and_then(|m| m["id"].as_i64())
        .expect("stored");
    g.wait_state(spooled, "sent", T);
    let net = g.net.external_messages();
    assert_eq!(text_to(&net, &external(1)), "one");
    assert_eq!(text_to(&net, &external(2)), long);
    assert_eq!(text_to(&net, &external(3)), "three 😀");
    assert_eq!(text_to(&net, &external(4)), "from the spool");
    assert_eq!(
        g.ok(json!({"cmd": "status"}))["daemon"]["pid"],
        pid,
        "no daemon restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiving_sim_with_full_storage_loses_nothing() {
    let full = ModemPlan {
        faults: Faults {
            storage_full: true,
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![ModemPlan::default(), full], "").await;
    // m0 sends to m1, whose storage reports full: the network holds it.
    let id = g.send(&msisdn(1), "held by the network");
    g.wait_state(id, "sent", T);
    assert_eq!(g.sims[1].waiting(), 1);
    assert!(g.inbox().is_empty());
    // Space again: it arrives, is stored, and is deleted from the SIM.
    g.sims[1].set_faults(Faults::default());
    let inbox = g.wait_inbox(T, |i| i.len() == 1);
    assert_eq!(inbox[0]["text"], json!("held by the network"));
    assert_eq!(inbox[0]["modem"], json!("m1"));
    g.sims[1]
        .wait_stored(0, T)
        .await
        .expect("deleted from the SIM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_filled_while_the_daemon_was_down_is_drained() {
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    g.kill9();
    // 30 slots: 36 messages fill the SIM and leave 6 waiting in the network.
    let n = 36;
    for i in 0..n {
        g.net
            .inject(&external(i), &msisdn(0), &format!("backlog {i}"))
            .expect("inject");
    }
    assert_eq!(g.sims[0].stored(), 30);
    assert_eq!(g.sims[0].waiting(), n - 30);
    g.spawn();
    g.wait_notify("READY=1", T);
    let inbox = g.wait_inbox(T, |i| i.len() == n);
    let mut texts: Vec<String> = inbox
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    texts.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("backlog {i}")).collect();
    want.sort();
    assert_eq!(texts, want);
    g.sims[0].wait_stored(0, T).await.expect("SIM emptied");
    assert_eq!(g.sims[0].waiting(), 0);
}
