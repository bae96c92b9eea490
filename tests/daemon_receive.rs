//! What comes back from the network, through the real binary on simulated
//! modems: status reports land on the right parts of the right message even
//! when two SIMs hand out the same message references, and inbound
//! concatenated messages are reassembled with parts out of order and across
//! a daemon restart. Sending paths are in `daemon_spool.rs` and
//! `daemon_dispatch.rs`.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use smsgate::sim::NetworkOptions;

/// The TP-MR byte of a SUBMIT TPDU in hex (octet 1).
fn mr_of(pdu_hex: &str) -> u8 {
    pdu_hex
        .get(2..4)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .expect("SUBMIT with an MR")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_land_on_the_right_parts() {
    let opts = NetworkOptions {
        report_delay: Duration::from_millis(200),
        ..NetworkOptions::default()
    };
    let g = Gateway::start_with(opts, vec![ModemPlan::default(), ModemPlan::default()], "").await;
    // Both SIMs start their references at the same number, so the same MR
    // comes back in reports on both: only (SIM, MR, recipient) tells them apart.
    let text = |k: usize| format!("{k} ").repeat(90);
    let mut ids = Vec::new();
    for (k, modem) in ["m0", "m1", "m0", "m1"].iter().enumerate() {
        let id = g.ok(json!({"cmd": "send", "to": external(k), "text": text(k),
            "report": true, "modem": modem}))["id"]
            .as_i64()
            .expect("id");
        ids.push((k, *modem, id));
    }
    for (k, modem, id) in &ids {
        let m = g.wait_state(*id, "delivered", T);
        assert_eq!(m["modem"], json!(modem));
        let sent = g.net.external_messages();
        let on_net: Vec<_> = sent
            .iter()
            .filter(|n| digits(&n.to) == digits(&external(*k)))
            .collect();
        let parts = m["parts"].as_array().expect("parts");
        assert!(parts.len() >= 2, "multipart: {m}");
        assert_eq!(on_net.len(), parts.len());
        for p in parts {
            let seq = p["seq"].as_u64().expect("seq") as u8;
            let n = on_net
                .iter()
                .find(|n| n.concat.map(|c| c.2) == Some(seq))
                .expect("part on the network");
            assert_eq!(p["mr"], json!(mr_of(&n.pdu_hex)), "message {id} part {seq}");
            assert_eq!(p["status"], json!(0), "message {id} part {seq}");
            assert_eq!(p["state"], json!("delivered"), "message {id} part {seq}");
        }
    }
    let counts = g.ok(json!({"cmd": "status"}))["queue"].clone();
    assert_eq!(counts["unmatched_reports"], json!(0), "{counts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_report_fails_the_message() {
    let opts = NetworkOptions {
        report_status: 0x41, // incompatible destination: permanent
        ..NetworkOptions::default()
    };
    let g = Gateway::start_with(opts, vec![ModemPlan::default()], "").await;
    let id = g
        .ok(json!({"cmd": "send", "to": external(1), "text": "never arrives", "report": true}))
        ["id"]
        .as_i64()
        .expect("id");
    let m = g.wait_state(id, "failed", T);
    assert_eq!(m["parts"][0]["status"], json!(0x41), "{m}");
}

/// (name, text, the order its parts are injected in)
fn reassembly_cases() -> Vec<(&'static str, String, Vec<usize>)> {
    vec![
        ("reversed", "reversed ".repeat(40), vec![2, 1, 0]),
        ("middle first", "middle ".repeat(45), vec![1, 2, 0]),
        ("ucs2 rotated", "Ωμέγα ✓ ".repeat(30), vec![1, 2, 3, 0]),
        ("emoji twice", "😀".repeat(80), vec![1, 0, 1, 2]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_parts_out_of_order_are_reassembled() {
    let table = reassembly_cases();
    assert!(!table.is_empty());
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    for (i, (name, text, order)) in table.iter().enumerate() {
        let (_, total) = g
            .net
            .inject_parts(&external(i), &msisdn(0), text, Some(order))
            .expect("inject");
        assert!(
            order.iter().all(|&o| o < total) && (0..total).all(|p| order.contains(&p)),
            "{name}: the order covers the {total} parts"
        );
    }
    let inbox = g.wait_inbox(T, |i| {
        i.len() == table.len() && i.iter().all(|m| m["complete"] == json!(true))
    });
    for (i, (name, text, _)) in table.iter().enumerate() {
        let m = inbox
            .iter()
            .find(|m| m["from"].as_str().map(digits) == Some(digits(&external(i))))
            .unwrap_or_else(|| panic!("{name} in the inbox: {inbox:?}"));
        assert_eq!(m["text"].as_str(), Some(text.as_str()), "{name}");
    }
    g.sims[0]
        .wait_stored(0, T)
        .await
        .expect("every part deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_parts_across_a_restart() {
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    let text = "restart ".repeat(50);
    let (reference, total) = g
        .net
        .inject_parts(&external(1), &msisdn(0), &text, Some(&[1]))
        .expect("inject");
    assert_eq!(total, 3);
    // Part 2 is durable once the daemon deletes it from the SIM.
    g.sims[0].wait_stored(0, T).await.expect("part 2 stored");
    assert!(g.inbox().iter().all(|m| m["complete"] != json!(true)));
    g.restart9();
    g.net
        .inject_with_ref(&external(1), &msisdn(0), &text, reference, Some(&[2]))
        .expect("inject");
    g.sims[0].wait_stored(0, T).await.expect("part 3 stored");
    g.restart9();
    g.net
        .inject_with_ref(&external(1), &msisdn(0), &text, reference, Some(&[0]))
        .expect("inject");
    let inbox = g.wait_inbox(T, |i| i.iter().any(|m| m["complete"] == json!(true)));
    let done: Vec<_> = inbox
        .iter()
        .filter(|m| m["complete"] == json!(true))
        .collect();
    assert_eq!(done.len(), 1, "{inbox:?}");
    assert_eq!(done[0]["text"].as_str(), Some(text.as_str()));
    assert_eq!(done[0]["parts"], json!(3));
}
