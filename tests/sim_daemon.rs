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
