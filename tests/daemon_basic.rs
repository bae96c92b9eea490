//! The gateway end to end on simulated modems: the real binary, READY on
//! a fake NOTIFY_SOCKET, a message from one simulated SIM to another with a
//! status report, and the received message in the inbox.
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
    // Still answering well after the drivers' timeouts would have passed.
    let status = g.ok(json!({"cmd": "status"}));
    let ready = status["modems"]
        .as_array()
        .expect("modems")
        .iter()
        .filter(|m| m["state"] == json!("ready"))
        .count();
    assert_eq!(ready, 2, "{status}");
}
