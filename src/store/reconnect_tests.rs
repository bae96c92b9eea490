//! The store on PostgreSQL when its server goes away and comes back: new
//! work is refused with `StoreError::Unavailable` while the store thread
//! reconnects with back-off, `health` says it waits, and everything
//! answered before is still there afterwards. Each test has a server of
//! its own (`pgtest::private_server`), stopped and started under it.

use std::time::Duration;

use chrono::Utc;

use super::pgtest;
use super::{EventData, ModemEvent, Store, StoreError, StoreHealth};

fn modem_up(n: u32) -> EventData {
    EventData::ModemUp(ModemEvent {
        modem: format!("sim{n}"),
        state: "ready".into(),
        imsi: None,
        until: None,
        error: None,
    })
}

/// Waits until `health` satisfies `want` (the store thread changes it).
async fn until_health(store: &Store, want: impl Fn(&StoreHealth) -> bool) -> StoreHealth {
    let mut rx = store.health_watch();
    let seen = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|h| want(h)))
        .await
        .expect("the store's health did not change in time")
        .expect("the store thread ended")
        .clone();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_refuses_work_meanwhile_and_carries_on() {
    let Some(server) = pgtest::private_server() else {
        return;
    };
    let url = server.fresh_url();
    let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
        .await
        .expect("open")
        .expect("open");
    assert_eq!(store.health().state, "up");
    let first = store
        .append_event(modem_up(1), Utc::now())
        .await
        .expect("before the restart");

    let server = std::sync::Arc::new(server);
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("stop");
    // The first request after the loss fails; from then on the store waits.
    let lost = store.append_event(modem_up(2), Utc::now()).await;
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    let waiting = until_health(&store, StoreHealth::waiting).await;
    assert!(
        waiting.since.is_some() && waiting.error.is_some(),
        "{waiting:?}"
    );
    let refused = store.append_event(modem_up(3), Utc::now()).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("waiting")),
        "{refused:?}"
    );

    let s = server.clone();
    tokio::task::spawn_blocking(move || s.start())
        .await
        .expect("start");
    let up = until_health(&store, |h| !h.waiting()).await;
    assert_eq!(up.reconnects, 1, "{up:?}");
    let after = store
        .append_event(modem_up(4), Utc::now())
        .await
        .expect("after the restart");
    assert!(after > first);
    // Followers hear of it (the watch moves after the commit's answers).
    let mut watch = store.event_watch();
    tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|id| *id >= after))
        .await
        .expect("the event watch moves")
        .expect("watch");
    // What was answered before the restart is there; what was refused is not.
    let modems: Vec<String> = store
        .events_after(0, 10, Vec::new())
        .await
        .expect("events")
        .into_iter()
        .filter_map(|e| match e.data {
            EventData::ModemUp(m) => Some(m.modem),
            _ => None,
        })
        .collect();
    assert_eq!(modems, ["sim1", "sim4"]);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_waiting_for_its_server_still_closes() {
    let Some(server) = pgtest::private_server() else {
        return;
    };
    let url = server.fresh_url();
    let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
        .await
        .expect("open")
        .expect("open");
    let server = std::sync::Arc::new(server);
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("stop");
    let _ = store.append_event(modem_up(1), Utc::now()).await;
    until_health(&store, StoreHealth::waiting).await;
    tokio::time::timeout(Duration::from_secs(30), store.close())
        .await
        .expect("close in time")
        .expect("close");
    assert!(matches!(
        store.append_event(modem_up(2), Utc::now()).await,
        Err(StoreError::Closed)
    ));
}
