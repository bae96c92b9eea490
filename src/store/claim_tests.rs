//! Claims with leases on PostgreSQL (`cluster.rs`): hosts claiming at once
//! take different messages, only what they can send, give back what they
//! do not start, take over the work of a host whose lease lapsed (its parts
//! in flight made uncertain), and start a message half-sent on a SIM away
//! for `orphan_after` again, whole. On SQLite, `claim_ready` is `ready`.

use std::time::Duration;

use super::tests::fixture::{msg, t};
use super::*;

const LEASE: Duration = Duration::from_secs(30);
const ORPHAN: Duration = Duration::from_secs(600);

async fn postgres() -> Option<Store> {
    let url = tokio::task::spawn_blocking(crate::store::pgtest::url)
        .await
        .expect("url")?;
    Some(crate::store::pgtest::open(&url).await)
}

fn scope(node: &str, imsi: &str, modem: &str) -> ClaimScope {
    ClaimScope {
        node: node.into(),
        sims: vec![imsi.into()],
        modems: vec![modem.into()],
        ..ClaimScope::default()
    }
}

async fn claim(store: &Store, s: &ClaimScope, at: i64, limit: usize) -> Vec<MessageId> {
    store
        .claim_ready(s.clone(), LEASE, ORPHAN, true, t(at), limit, Vec::new())
        .await
        .expect("claim")
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_claim_apart_give_back_and_take_over_after_a_lease() {
    let Some(store) = postgres().await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            store
                .enqueue(msg(&format!("+4915100000{i}"), 1), t(0))
                .await
                .expect("enqueue")
                .id,
        );
    }
    let (a, b) = (scope("a", "26201a", "sim1"), scope("b", "26201b", "sim1"));
    store.node_register("a", t(0)).await.expect("a");
    store.node_register("b", t(0)).await.expect("b");
    let got_a = claim(&store, &a, 1, 2).await;
    assert_eq!(got_a, ids[..2]);
    let got_b = claim(&store, &b, 1, 10).await;
    assert_eq!(got_b, ids[2..], "b gets only what a did not claim");
    // a starts its first message; the second goes back at the end of its pass.
    store
        .assign(
            ids[0],
            "sim1",
            Some("26201a"),
            vec![PartPdu::hex(1, "00", 1)],
        )
        .await
        .expect("assign");
    store
        .part_sending(ids[0], 1, "sim1", t(2))
        .await
        .expect("sending");
    assert_eq!(
        store
            .release_claims("a", vec![ids[0]])
            .await
            .expect("release"),
        1
    );
    store
        .release_claims("b", Vec::new())
        .await
        .expect("release b");
    let got_b = claim(&store, &b, 3, 10).await;
    assert_eq!(got_b, vec![ids[1], ids[2], ids[3]]);
    // a dies with its part in flight: after the lease the part is uncertain
    // and the message stays with a's SIM (pinned), which b does not have.
    store
        .release_claims("b", Vec::new())
        .await
        .expect("release b");
    let later = 2 + LEASE.as_secs() as i64 + 1;
    let got_b = claim(&store, &b, later, 10).await;
    assert!(!got_b.contains(&ids[0]), "{got_b:?}");
    let shown = store.show(ids[0]).await.expect("show").expect("message");
    assert_eq!(shown.parts[0].state, PartState::Uncertain);
    assert!(
        shown.parts[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("host a"),
        "{shown:?}"
    );
    // a comes back (same SIM): it takes its uncertain part again.
    store
        .release_claims("b", Vec::new())
        .await
        .expect("release b");
    store
        .node_modem(
            "a",
            NodeModem {
                modem: "sim1".into(),
                imsi: Some("26201a".into()),
                state: "ready".into(),
                ..NodeModem::default()
            },
            t(later),
        )
        .await
        .expect("modem");
    let got_a = claim(&store, &a, later + 1, 10).await;
    assert!(got_a.contains(&ids[0]), "{got_a:?}");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_half_sent_on_a_sim_away_too_long_starts_again_whole() {
    let Some(store) = postgres().await else {
        return;
    };
    let id = store
        .enqueue(msg("+491510000001", 2), t(0))
        .await
        .expect("enqueue")
        .id;
    store.node_register("a", t(0)).await.expect("a");
    store
        .node_modem(
            "a",
            NodeModem {
                modem: "sim1".into(),
                imsi: Some("26201a".into()),
                state: "ready".into(),
                ..NodeModem::default()
            },
            t(0),
        )
        .await
        .expect("modem");
    let a = scope("a", "26201a", "sim1");
    let b = scope("b", "26201b", "sim1");
    assert_eq!(claim(&store, &a, 1, 10).await, vec![id]);
    store
        .assign(
            id,
            "sim1",
            Some("26201a"),
            vec![PartPdu::hex(1, "00", 1), PartPdu::hex(2, "00", 1)],
        )
        .await
        .expect("assign");
    store
        .part_sending(id, 1, "sim1", t(2))
        .await
        .expect("sending");
    store.part_sent(id, 1, 7, t(3)).await.expect("sent");
    // a vanishes after part 1. Within orphan_after the message waits for
    // a's SIM; past it, b restarts it whole through its own SIM.
    let soon = 3 + LEASE.as_secs() as i64 + 1;
    assert!(claim(&store, &b, soon, 10).await.is_empty());
    let late = ORPHAN.as_secs() as i64 + 5;
    assert_eq!(claim(&store, &b, late, 10).await, vec![id]);
    let shown = store.show(id).await.expect("show").expect("message");
    assert_eq!(shown.state, MessageState::Queued);
    assert!(
        shown
            .parts
            .iter()
            .all(|p| p.state == PartState::Pending && p.mr.is_none()),
        "{shown:?}"
    );
    assert!(
        shown
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("restarted whole through another SIM"),
        "{shown:?}"
    );
    assert_eq!(shown.sim, None);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_claim_ready_is_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("s.db")).expect("open");
    let id = store
        .enqueue(msg("+491510000001", 1), t(0))
        .await
        .expect("enqueue")
        .id;
    let a = scope("a", "x", "sim9");
    assert_eq!(claim(&store, &a, 1, 10).await, vec![id]);
    assert_eq!(
        store
            .release_claims("a", Vec::new())
            .await
            .expect("release"),
        0
    );
    assert_eq!(claim(&store, &scope("b", "y", "z"), 1, 10).await, vec![id]);
    store.close().await.expect("close");
}
