//! Which SIM sends what, and when, through the real binary on simulated
//! modems: the load spreads across SIMs, per-SIM caps, prefix routes and
//! queues are respected, high priority goes first while a modem is busy,
//! `send_after` holds a message back, an unsent message expires, and cancel /
//! retry work through the control socket. Failover and crashes are in
//! `daemon_failover.rs` and `daemon_crash.rs`.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use smsgate::sim::Faults;

fn slow(ms: u64) -> ModemPlan {
    ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(ms),
            ..Faults::default()
        },
        ..ModemPlan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_spreads_across_sims() {
    let g = Gateway::start(vec![slow(150), slow(150), slow(150)], "").await;
    let n = 15;
    let ids: Vec<i64> = (0..n)
        .map(|i| g.send(&external(i), &format!("spread {i}")))
        .collect();
    for id in &ids {
        g.wait_state(*id, "sent", T);
    }
    let counts: Vec<usize> = g.sims.iter().map(|s| s.submitted().len()).collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        n,
        "each message once: {counts:?}"
    );
    for (i, c) in counts.iter().enumerate() {
        assert!(*c >= 2, "sim m{i} sent only {c} of {n}: {counts:?}");
    }
    let net = g.net.external_messages();
    for i in 0..n {
        assert_eq!(text_to(&net, &external(i)), format!("spread {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_routes_and_queues_are_respected() {
    let capped = ModemPlan {
        extra: "per_minute = 2".into(),
        ..slow(50)
    };
    let bulk = ModemPlan {
        extra: "queues = [\"bulk\"]".into(),
        ..slow(50)
    };
    let routes = "[[route]]\nprefix = \"+4478\"\nmodems = [\"m2\"]\n";
    let g = Gateway::start(vec![capped, bulk, slow(50)], routes).await;
    let mut ids = Vec::new();
    // Anywhere: 8 messages, of which the capped SIM may take 2 at most.
    for i in 0..8 {
        ids.push(g.send(&external(i), &format!("any {i}")));
    }
    // Routed: +4478… only through m2.
    let routed: Vec<String> = (0..4).map(|i| format!("+447800000{i:03}")).collect();
    for (i, to) in routed.iter().enumerate() {
        ids.push(g.send(to, &format!("routed {i}")));
    }
    // Queued: only m1 serves "bulk" (from a spool file and from the socket).
    g.spool_file(
        "bulk-file",
        &spool_text(&[("To", &external(100)), ("Queue", "bulk")], "bulk file"),
    );
    ids.push(
        g.ok(json!({"cmd": "send", "to": external(101), "text": "bulk call", "queue": "bulk"}))
            ["id"]
            .as_i64()
            .expect("id"),
    );
    let out = g.spool.join("outgoing");
    let processing = g.spool.join("processing");
    wait_fs(&[&out, &processing], T, "spool drained", || {
        entries(&out).is_empty() && entries(&processing).is_empty()
    });
    let all: Vec<i64> = g.outbox().iter().filter_map(|m| m["id"].as_i64()).collect();
    assert_eq!(all.len(), ids.len() + 1);
    for id in &all {
        g.wait_state(*id, "sent", T);
    }
    let net = g.net.external_messages();
    let m0 = g.sims[0].submitted().len();
    assert!(m0 <= 2, "m0 is capped at 2 per minute and sent {m0}");
    for to in &routed {
        assert_eq!(senders_to(&net, to), [msisdn(2)], "route for {to}");
    }
    for to in [external(100), external(101)] {
        assert_eq!(senders_to(&net, &to), [msisdn(1)], "queue bulk for {to}");
    }
    assert_eq!(text_to(&net, &external(100)), "bulk file");
    // A queue no modem serves is refused at once.
    let r = g.call(json!({"cmd": "send", "to": external(102), "text": "x", "queue": "nobody"}));
    assert_eq!(r["error"]["code"], json!("invalid"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_goes_first_while_the_modem_is_busy() {
    let g = Gateway::start(vec![slow(2000)], "").await;
    let first = g.send(&external(0), "first, already in flight");
    wait_cmgs(&g.sims[0], 1, T).await;
    let low = g.ok(json!({"cmd": "send", "to": external(1), "text": "low", "priority": "low"}))
        ["id"]
        .as_i64()
        .expect("id");
    let normal = g.send(&external(2), "normal");
    g.spool_file(
        "urgent",
        &spool_text(
            &[("To", &external(3)), ("Priority", "high")],
            "high from the spool",
        ),
    );
    let high = g.ok(json!({"cmd": "send", "to": external(4), "text": "high", "priority": "high"}))
        ["id"]
        .as_i64()
        .expect("id");
    let out = g.spool.join("outgoing");
    let processing = g.spool.join("processing");
    wait_fs(&[&out, &processing], T, "spool drained", || {
        entries(&out).is_empty() && entries(&processing).is_empty()
    });
    // Everything is queued while the first send is still in flight.
    assert_eq!(g.show(first)["state"], json!("sending"));
    g.sims[0].set_faults(Faults::default());
    for id in [first, low, normal, high] {
        g.wait_state(id, "sent", T);
    }
    let spooled = g
        .outbox()
        .iter()
        .find(|m| m["text"] == json!("high from the spool"))
        .and_then(|m| m["id"].as_i64())
        .expect("spooled message");
    g.wait_state(spooled, "sent", T);
    let order: Vec<String> = g
        .net
        .external_messages()
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(order[0], "first, already in flight");
    let mut highs = order[1..3].to_vec();
    highs.sort();
    assert_eq!(highs, ["high", "high from the spool"], "{order:?}");
    assert_eq!(order[3..], ["normal", "low"], "{order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_holds_a_message_back() {
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    let t0 = Instant::now();
    let hold = Duration::from_millis(2500);
    let after = chrono::Utc::now() + chrono::TimeDelta::from_std(hold).expect("delta");
    let later = g.ok(json!({"cmd": "send", "to": external(1), "text": "later",
        "send_after": after.to_rfc3339()}))["id"]
        .as_i64()
        .expect("id");
    let far = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    g.spool_file(
        "far",
        &spool_text(&[("To", &external(2)), ("Send_after", &far)], "much later"),
    );
    let now_id = g.send(&external(3), "now");
    g.wait_state(now_id, "sent", T);
    assert_eq!(g.show(later)["state"], json!("queued"));
    g.wait_state(later, "sent", T);
    let seen = g
        .net
        .external_messages()
        .into_iter()
        .find(|m| m.text == "later")
        .expect("sent");
    assert!(
        seen.at.duration_since(t0) + Duration::from_millis(50) >= hold,
        "sent {:?} after the request, asked for {hold:?}",
        seen.at.duration_since(t0)
    );
    // The far one is still queued; cancelling it works, and it never goes out.
    let far_id = g
        .outbox()
        .iter()
        .find(|m| m["text"] == json!("much later"))
        .and_then(|m| m["id"].as_i64())
        .expect("spooled message stored");
    assert_eq!(g.show(far_id)["state"], json!("queued"));
    let r = g.ok(json!({"cmd": "cancel", "message": far_id}));
    assert_eq!(r["state"], json!("cancelled"));
    assert_eq!(g.show(far_id)["state"], json!("cancelled"));
    assert!(parts_to(&g.net.external_messages(), &external(2)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_message_expires() {
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    assert_eq!(g.terminate(), Some(0));
    // The only modem is gone, and a message pinned to it expires in 2 s: a
    // store handle from the library stands in for a message accepted earlier
    // (the minimum `expire_after` of a minute would make this test slow).
    g.sims[0].unplug().await;
    let store = smsgate::store::Store::open(&g.db).expect("store opens");
    let now = chrono::Utc::now();
    let enq = store
        .enqueue(
            smsgate::store::NewMessage {
                to: external(1),
                text: "too late".into(),
                report: false,
                flash: false,
                priority: smsgate::store::Priority::Normal,
                validity: Some(Duration::from_secs(300)),
                expires_at: Some(now + chrono::TimeDelta::seconds(2)),
                not_before: None,
                modem: Some("m0".into()),
                queue: None,
                parts: 1,
                options: smsgate::codec::MessageOptions::default(),
                source: "test".into(),
                spool_key: None,
                campaign: None,
                category: Default::default(),
                optout_key: None,
            },
            now,
        )
        .await
        .expect("enqueue");
    store.close().await.expect("close");
    drop(store);
    g.spawn();
    g.wait_notify("READY=1", T);
    let mut w = g.watch();
    assert_eq!(g.show(enq.id)["state"], json!("queued"));
    w.until(T, |e| {
        e["type"] == json!("expired") && e["id"] == json!(enq.id)
    });
    assert_eq!(g.show(enq.id)["state"], json!("expired"));
    // The modem comes back: the expired message stays unsent.
    g.sims[0].replug().await.expect("replug");
    g.wait_modem("m0", "ready", T);
    let id = g.send(&external(2), "fresh");
    g.wait_state(id, "sent", T);
    assert!(parts_to(&g.net.external_messages(), &external(1)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_through_the_socket() {
    let rejecting = ModemPlan {
        faults: Faults {
            cms_error_rate: 1.0,
            cms_error_code: 21, // short message transfer rejected: permanent
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![rejecting], "").await;
    let id = g.send(&external(1), "rejected, then retried");
    let m = g.wait_state(id, "failed", T);
    let error = m["error"].as_str().unwrap_or_default();
    assert!(error.contains("21"), "the error names the CMS code: {m}");
    // Cancelling a failed message is a conflict; retrying it works.
    let r = g.call(json!({"cmd": "cancel", "message": id}));
    assert_eq!(r["error"]["code"], json!("conflict"), "{r}");
    g.sims[0].set_faults(Faults::default());
    let r = g.ok(json!({"cmd": "retry", "message": id}));
    assert_eq!(r["state"], json!("queued"), "{r}");
    g.wait_state(id, "sent", T);
    assert_eq!(
        text_to(&g.net.external_messages(), &external(1)),
        "rejected, then retried"
    );
    // A sent message can be neither cancelled nor retried; an unknown one is not found.
    for cmd in ["cancel", "retry"] {
        let r = g.call(json!({"cmd": cmd, "message": id}));
        assert_eq!(r["error"]["code"], json!("conflict"), "{cmd}: {r}");
        let r = g.call(json!({"cmd": cmd, "message": 999_999}));
        assert_eq!(r["error"]["code"], json!("not_found"), "{cmd}: {r}");
    }
}
