//! CONTRACT.md "durable", through the real binary on simulated modems:
//! `kill -9` while an `AT+CMGS` is in flight resends the part by default and
//! fails it with `resend_uncertain = false`; and `kill -9` at random points of
//! a multipart-heavy load (spool files and socket sends) loses nothing: every
//! accepted message ends sent, the network sees each part at least once and
//! more than once only for parts that were sent again after a crash; and
//! `kill -9` while receiving neither loses nor duplicates a received message.
//! A part that may have gone out stays with its SIM across the restart.
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use smsgate::sim::{Faults, NetworkOptions};

const FAST_RETRY: &str = "[dispatch]\nretry_base = \"1s\"\nretry_max = \"2s\"\n";

fn latency(ms: u64) -> ModemPlan {
    ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(ms),
            ..Faults::default()
        },
        ..ModemPlan::default()
    }
}

/// Starts a gateway whose only modem answers `AT+CMGS` after 1.5 s, sends one
/// message and kills the daemon while its `AT+CMGS` is in flight. Returns the
/// gateway (daemon not running, the part already on the network) and the id.
async fn kill_during_cmgs(store: &str) -> (Gateway, i64) {
    let sections = Sections {
        store: store.into(),
        ..Sections::default()
    };
    let mut g = Gateway::start_full(
        NetworkOptions::default(),
        vec![latency(1500)],
        sections,
        FAST_RETRY,
    )
    .await;
    let id = g.send(&external(1), "in flight at the crash");
    // Killed once the modem has the whole PDU, during its 1.5 s latency.
    g.sims[0].wait_payloads(1, T).await.expect("PDU written");
    g.kill9();
    // The modem finishes the send on its own: the network has it.
    g.net.wait_external(1, T).await.expect("sent by the modem");
    g.sims[0].set_faults(Faults::default());
    (g, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_in_flight_at_a_crash_is_resent_by_default() {
    let (mut g, id) = kill_during_cmgs("").await;
    g.spawn();
    g.wait_notify("READY=1", T);
    let m = g.wait_state(id, "sent", T);
    assert!(
        m["parts"][0]["attempts"].as_u64() >= Some(2),
        "a second attempt: {m}"
    );
    let seen = parts_to(&g.net.external_messages(), &external(1));
    assert_eq!(seen.len(), 2, "sent again: a duplicate rather than a loss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_in_flight_at_a_crash_fails_without_resend_uncertain() {
    let (mut g, id) = kill_during_cmgs("resend_uncertain = false").await;
    g.spawn();
    g.wait_notify("READY=1", T);
    let m = g.wait_state(id, "failed", T);
    let error = m["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("resend_uncertain"),
        "the reason says why: {m}"
    );
    // Nothing else is pending: a new message goes out, the old one does not.
    let next = g.send(&external(2), "after the crash");
    g.wait_state(next, "sent", T);
    assert_eq!(parts_to(&g.net.external_messages(), &external(1)).len(), 1);
}

/// One accepted message: where it goes and what it says.
struct Accepted {
    to: String,
    text: String,
    /// The id the socket answered; `None` for a spool file.
    id: Option<i64>,
}

fn load_text(rng: &mut fastrand::Rng, n: usize) -> String {
    let words = [
        "alpha", "Ωmega", "kill", "nine", "€uro", "part", "😀", "durable",
    ];
    let len = match rng.u8(..4) {
        0 => 1,
        1 => 30,
        _ => 40 + rng.usize(..60),
    };
    let mut s = format!("msg{n}:");
    for _ in 0..len {
        s.push(' ');
        s.push_str(words[rng.usize(..words.len())]);
    }
    s
}

/// Checks one message against the network: every part seen at least once,
/// more often only if it was attempted more often, all through one SIM.
fn check_on_network(m: &Value, net: &[smsgate::sim::NetMessage], a: &Accepted) {
    assert_eq!(m["state"], json!("sent"), "{m}");
    assert_eq!(m["text"].as_str(), Some(a.text.as_str()));
    let seen = parts_to(net, &a.to);
    let mut counts: HashMap<u8, usize> = HashMap::new();
    for (seq, _) in &seen {
        *counts.entry(*seq).or_default() += 1;
    }
    for p in m["parts"].as_array().expect("parts") {
        let seq = u8::try_from(p["seq"].as_u64().expect("seq")).expect("seq fits");
        let attempts = usize::try_from(p["attempts"].as_u64().unwrap_or(1)).unwrap_or(1);
        let n = counts.get(&seq).copied().unwrap_or(0);
        assert!(
            n >= 1,
            "part {seq} of {} never reached the network: {m}",
            a.to
        );
        assert!(
            n <= attempts,
            "part {seq} of {} seen {n} times in {attempts} attempts: {m}",
            a.to
        );
    }
    assert_eq!(text_to(net, &a.to), a.text, "{}", a.to);
    assert_eq!(senders_to(net, &a.to).len(), 1, "one SIM for {}", a.to);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing() {
    let seed = 0x5eed_0009;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut g = Gateway::start(vec![latency(40), latency(60)], FAST_RETRY).await;
    let mut accepted: Vec<Accepted> = Vec::new();
    let rounds = 8;
    for round in 0..rounds {
        let mut w = g.watch();
        for _ in 0..3 {
            let n = accepted.len();
            let (to, text) = (external(n), load_text(&mut rng, n));
            let id = g.send(&to, &text);
            accepted.push(Accepted {
                to,
                text,
                id: Some(id),
            });
        }
        for _ in 0..2 {
            let n = accepted.len();
            let (to, text) = (external(n), load_text(&mut rng, n));
            g.spool_file(&format!("r{round}-{n}"), &spool_text(&[("To", &to)], &text));
            accepted.push(Accepted { to, text, id: None });
        }
        // Every round's load makes at least 10 events (a part and a message
        // event per message), so waiting for up to 10 cannot hang.
        let k = rng.usize(0..=10);
        for _ in 0..k {
            assert!(w.next(T).is_some(), "round {round}: event stream ended");
        }
        g.restart9();
    }
    let out = g.spool.join("outgoing");
    let processing = g.spool.join("processing");
    wait_fs(&[&out, &processing], T, "spool drained", || {
        entries(&out).is_empty() && entries(&processing).is_empty()
    });
    assert!(entries(&g.spool.join("failed")).is_empty());

    let outbox = g.outbox();
    let by_to: HashMap<String, &Value> = outbox
        .iter()
        .filter_map(|m| Some((digits(m["to"].as_str()?), m)))
        .collect();
    assert_eq!(
        outbox.len(),
        accepted.len(),
        "every accepted message stored exactly once"
    );
    let mut resent = 0;
    for a in &accepted {
        let m = by_to
            .get(&digits(&a.to))
            .unwrap_or_else(|| panic!("{} lost (seed {seed:#x})", a.to));
        let id = m["id"].as_i64().expect("id");
        if let Some(want) = a.id {
            assert_eq!(id, want, "the id the socket answered");
        }
        let m = g.wait_final(id, T);
        check_on_network(&m, &g.net.external_messages(), a);
        resent += m["parts"].as_array().map_or(0, |ps| {
            ps.iter()
                .filter(|p| p["attempts"].as_u64() > Some(1))
                .count()
        });
    }
    let parts: usize = g
        .outbox()
        .iter()
        .filter_map(|m| m["parts"].as_array().map(Vec::len))
        .sum();
    eprintln!(
        "{} messages, {parts} parts, {resent} parts attempted more than once, {} part sends seen",
        accepted.len(),
        g.net.external_messages().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_receiving_loses_and_duplicates_nothing() {
    let seed = 0x5eed_0010;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    let mut want: Vec<String> = Vec::new();
    for _round in 0..6 {
        let mut w = g.watch();
        let batch = 4;
        for j in 0..batch {
            let n = want.len();
            let text = if j % 2 == 0 {
                format!("in{n} ") + &"long inbound ".repeat(20)
            } else {
                format!("in{n} short")
            };
            g.net
                .inject(&external(n), &msisdn(0), &text)
                .expect("inject");
            want.push(text);
        }
        // Each round brings `batch` messages, so `batch` received events at
        // most are waited for.
        let k = rng.usize(0..=batch);
        for _ in 0..k {
            w.until(T, |e| e["type"] == json!("received"));
        }
        g.restart9();
    }
    let inbox = g.wait_inbox(T, |i| {
        i.iter().filter(|m| m["complete"] == json!(true)).count() >= want.len()
    });
    g.sims[0].wait_stored(0, T).await.expect("SIM emptied");
    let mut got: Vec<String> = inbox
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "each received message once (seed {seed:#x})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncertain_part_is_resent_through_the_same_sim() {
    // One SIM at first, so the message is assigned to m0 by the policy alone.
    let mut g = Gateway::start(vec![latency(1500)], FAST_RETRY).await;
    let text = "pinned ".repeat(40);
    let id = g.send(&external(1), &text);
    g.sims[0].wait_payloads(1, T).await.expect("part 1 written");
    g.kill9();
    g.net.wait_external(1, T).await.expect("part 1 sent by m0");
    // m0 is away at the restart and a second SIM is configured: part 1 may
    // have gone out through m0, so the message must wait for m0.
    g.sims[0].set_faults(Faults::default());
    g.sims[0].unplug().await;
    g.add_sim(ModemPlan::default()).await;
    g.write_config();
    g.spawn();
    g.wait_notify("READY=1", T);
    g.wait_modem("m1", "ready", T);
    let other = g.send(&external(2), "through m1");
    g.wait_state(other, "sent", T);
    assert_eq!(g.show(id)["state"], json!("sending"), "waits for its SIM");
    g.sims[0].replug().await.expect("replug");
    g.wait_state(id, "sent", T);
    let net = g.net.external_messages();
    assert_eq!(
        senders_to(&net, &external(1)),
        [msisdn(0)],
        "one SIM for all parts"
    );
    assert_eq!(text_to(&net, &external(1)), text);
}
