//! The gateway end to end on simulated modems: the real binary, READY on
//! a fake NOTIFY_SOCKET, a message from one simulated SIM to another with a
//! status report, and the received message in the inbox; SIGHUP and SIGTERM
//! right after READY are handled, not met by the default action.
mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_to_sim_with_a_status_report() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    let id = g.ok(json!({"cmd": "send", "to": msisdn(1), "text": "Hello 😀 €", "report": true}))
        ["id"]
        .as_i64()
        .expect("id");
    let m = g.wait_state(id, "delivered", T);
    assert_eq!(m["parts"][0]["status"], json!(0));
    let inbox = g.ok(json!({"cmd": "inbox"}));
    let texts: Vec<&str> = inbox
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["Hello 😀 €"]);
}

/// Regression: both modems unplugged and plugged again while the daemon is
/// still initialising them. The drivers must notice that the device path now
/// names another device and reopen it, and the daemon must keep answering
/// (its notify socket once blocked the main loop when nobody read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modems_replugged_during_start_up() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    for s in &g.sims {
        s.unplug().await;
    }
    for s in &g.sims {
        s.replug().await.expect("replug");
    }
    let id = g.send(&msisdn(1), "after a replug");
    let m = g.wait_state(id, "sent", T);
    assert!(m["modem"].is_string(), "{m}");
    // Both come back, and the daemon keeps answering well after the
    // drivers' timeouts would have passed: check after every event.
    let mut w = g.watch();
    let deadline = std::time::Instant::now() + T;
    loop {
        let status = g.ok(json!({"cmd": "status"}));
        let ready = status["modems"]
            .as_array()
            .expect("modems")
            .iter()
            .filter(|m| m["state"] == json!("ready"))
            .count();
        if ready == 2 {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "not both ready: {status}");
        w.next(left);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_right_after_ready_are_handled() {
    // SIGHUP at once: a reload, not the default action (which would kill).
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    g.sighup();
    let id = g.send(&msisdn(0), "still here");
    g.wait_state(id, "sent", T);
    assert_eq!(
        g.terminate(),
        Some(0),
        "SIGTERM after a reload exits cleanly"
    );
    // SIGTERM at once after READY: a clean exit too.
    g.spawn();
    g.wait_notify("READY=1", T);
    assert_eq!(
        g.terminate(),
        Some(0),
        "SIGTERM right after READY exits cleanly"
    );
}
