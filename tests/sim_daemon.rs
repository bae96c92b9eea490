//! The simulator against the real daemon and modem driver: for every
//! personality, a message from one simulated SIM to another goes out, its status
//! report comes back, and the received text lands in the inbox. Waits on the
//! daemon's own state changes with timeouts, never sleeps.
mod common;

use common::*;
use serde_json::json;
use smsgate::sim::ALL_PERSONALITIES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personality_carries_a_message_and_its_report_through_the_daemon() {
    assert!(!ALL_PERSONALITIES.is_empty());
    for p in ALL_PERSONALITIES {
        let plan = || ModemPlan {
            personality: p,
            ..ModemPlan::default()
        };
        let g = Gateway::start(vec![plan(), plan()], "").await;
        let text = format!("Hello from a {p} modem €");
        let id = g.ok(json!({"cmd": "send", "to": msisdn(1), "text": text, "report": true}))["id"]
            .as_i64()
            .expect("id");
        let m = g.wait_state(id, "delivered", T);
        assert_eq!(m["parts"][0]["status"], json!(0), "{p}");
        let inbox = g.ok(json!({"cmd": "inbox"}));
        let texts: Vec<&str> = inbox
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|m| m["text"].as_str())
            .collect();
        assert_eq!(texts, [text.as_str()], "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_slow_modems_still_deliver() {
    let plan = || ModemPlan {
        personality: smsgate::sim::Personality::Huawei,
        faults: smsgate::sim::Faults {
            cmgs_latency: std::time::Duration::from_millis(30),
            urc_noise_interval: Some(std::time::Duration::from_millis(40)),
            ..smsgate::sim::Faults::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(vec![plan(), plan()], "").await;
    let id = g
        .ok(json!({"cmd": "send", "to": msisdn(1), "text": "through the noise", "report": true}))
        ["id"]
        .as_i64()
        .expect("id");
    let m = g.wait_state(id, "delivered", T);
    assert_eq!(m["parts"][0]["status"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_sending_across_a_replug() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    // One of the two: the gateway keeps going while that modem comes back.
    g.sims[0].unplug().await;
    g.sims[0].replug().await.expect("replug");
    let id = g.ok(json!({"cmd": "send", "to": "+4915112345678", "text": "after replug"}))["id"]
        .as_i64()
        .expect("id");
    g.wait_state(id, "sent", T);
    let out = g.net.wait_external(1, T).await.expect("went out");
    assert_eq!(out[0].text, "after replug");
}
