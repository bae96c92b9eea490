//! The store's tests that run against both engines: each `both!` case is
//! one async body over a [`Store`], run once on SQLite (a temporary file)
//! and once on PostgreSQL (a fresh database on the test server of
//! `pgtest.rs`; skipped when none can be started, failed under `CI`).
//! A case belongs here as soon as every store operation it calls is
//! written for both engines (see docs/cluster.md for which those are).

use std::time::Duration;

use super::tests::fixture::t;
use super::*;

const WAIT: Duration = Duration::from_secs(30);

/// `both!(name, |store| async move { … })`: the test `name` on each engine.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Store::open(&dir.path().join("smsgate.db")).expect("open sqlite");
                tokio::time::timeout(WAIT, ($body)(store.clone()))
                    .await
                    .expect("in time");
                store.close().await.expect("close");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = tokio::task::spawn_blocking(crate::store::pgtest::url)
                    .await
                    .expect("url")
                else {
                    return;
                };
                let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
                    .await
                    .expect("join")
                    .expect("open postgres");
                tokio::time::timeout(WAIT, ($body)(store.clone()))
                    .await
                    .expect("in time");
                store.close().await.expect("close");
            }
        }
    };
}

fn modem_up(name: &str) -> EventData {
    EventData::ModemUp(ModemEvent {
        modem: name.into(),
        state: "ready".into(),
        imsi: Some(format!("imsi-{name}")),
        ..ModemEvent::default()
    })
}

both!(
    the_event_log_reads_back_in_order,
    |store: Store| async move {
        assert_eq!(store.last_event_id(), 0);
        let mut watch = store.event_watch();
        let mut ids = Vec::new();
        for i in 0..5 {
            let data = if i % 2 == 0 {
                modem_up(&format!("m{i}"))
            } else {
                EventData::ModemDown(ModemEvent {
                    modem: format!("m{i}"),
                    state: "gone".into(),
                    ..ModemEvent::default()
                })
            };
            ids.push(store.append_event(data, t(i)).await.expect("append"));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // Followers hear of the newest id after its commit.
        watch.wait_for(|id| *id == ids[4]).await.expect("watch");
        assert_eq!(store.last_event_id(), ids[4]);

        let all = store.events_after(0, 100, vec![]).await.expect("all");
        assert_eq!(all.iter().map(|e| e.event_id).collect::<Vec<_>>(), ids);
        assert_eq!(all[0].data, modem_up("m0"));
        assert_eq!(all[3].at, t(3));

        let page = store.events_after(ids[1], 2, vec![]).await.expect("page");
        assert_eq!(
            page.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            &ids[2..4]
        );
        let downs = store
            .events_after(0, 100, vec!["modem_down".into()])
            .await
            .expect("kinds");
        assert_eq!(
            downs.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            vec![ids[1], ids[3]]
        );
        assert!(store
            .events_after(ids[4], 100, vec![])
            .await
            .expect("none")
            .is_empty());
    }
);

both!(
    cursors_start_at_the_end_and_never_go_back,
    |store: Store| async move {
        let first = store.append_event(modem_up("a"), t(0)).await.expect("a");
        let second = store.append_event(modem_up("b"), t(1)).await.expect("b");
        // A consumer seen for the first time is not handed history.
        assert_eq!(store.cursor("hook", t(2)).await.expect("new"), second);
        store.set_cursor("hook", first, t(3)).await.expect("back");
        assert_eq!(store.cursor("hook", t(4)).await.expect("kept"), second);
        let third = store.append_event(modem_up("c"), t(5)).await.expect("c");
        store
            .set_cursor("hook", third, t(6))
            .await
            .expect("forward");
        store.set_cursor("other", first, t(7)).await.expect("other");
        assert_eq!(
            store.cursors().await.expect("cursors"),
            vec![("hook".to_string(), third), ("other".to_string(), first)]
        );
    }
);

both!(
    pruning_removes_old_events_in_steps,
    |store: Store| async move {
        let old = PRUNE_STEP as usize + 10;
        let mut last_old = 0;
        for i in 0..old {
            last_old = store
                .append_event(modem_up(&format!("old{i}")), t(0))
                .await
                .expect("old");
        }
        let young = store
            .append_event(modem_up("young"), t(100))
            .await
            .expect("young");
        let pruned = store.prune(t(50)).await.expect("prune");
        assert_eq!(pruned.events, old as u64);
        assert!(!pruned.more);
        let left = store.events_after(0, 100, vec![]).await.expect("left");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event_id, young);
        assert!(young > last_old);
        // Ids are never reused after pruning.
        let next = store
            .append_event(modem_up("next"), t(101))
            .await
            .expect("next");
        assert!(next > young);
    }
);

both!(
    concurrent_requests_share_commits_and_all_land,
    |store: Store| async move {
        let before = store.transactions();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.append_event(modem_up(&format!("m{i}")), t(i)).await
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("join").expect("append"));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 64);
        let commits = store.transactions() - before;
        assert!((1..=64).contains(&commits), "{commits} commits");
        assert_eq!(
            store
                .events_after(0, 1000, vec![])
                .await
                .expect("all")
                .len(),
            64
        );
    }
);

both!(
    a_failing_request_rolls_back_alone,
    |store: Store| async move {
        // Submitted back to back so that they usually share a batch: the
        // failing one (its event appended, then an error) leaves no trace, the
        // others commit.
        let good1 = store.submit_db_for_test(|c| events::append(c, t(1), &modem_up("good1")));
        let bad = store.submit_db_for_test(|c| {
            events::append(c, t(2), &modem_up("bad"))?;
            c.execute("INSERT INTO no_such_table VALUES (1)", sql::args![])
                .map_err(StoreError::sql("bad"))
        });
        let good2 = store.submit_db_for_test(|c| events::append(c, t(3), &modem_up("good2")));
        let good1 = good1
            .expect("submit")
            .await
            .expect("answer")
            .expect("good1");
        let bad = bad.expect("submit").await.expect("answer");
        assert!(
            matches!(bad, Err(StoreError::Sql { op: "bad", .. })),
            "{bad:?}"
        );
        let good2 = good2
            .expect("submit")
            .await
            .expect("answer")
            .expect("good2");
        let all = store.events_after(0, 100, vec![]).await.expect("all");
        let modems: Vec<_> = all
            .iter()
            .filter_map(|e| match &e.data {
                EventData::ModemUp(m) => Some(m.modem.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(modems, vec!["good1".to_string(), "good2".to_string()]);
        assert_eq!(all[0].event_id, good1);
        assert_eq!(all[1].event_id, good2);
    }
);

#[tokio::test]
async fn an_operation_not_yet_on_postgres_says_so() {
    let Some(url) = tokio::task::spawn_blocking(crate::store::pgtest::url)
        .await
        .expect("url")
    else {
        return;
    };
    let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
        .await
        .expect("join")
        .expect("open postgres");
    // Every store operation runs on both engines now; a request written
    // for SQLite alone (`Store::call`, kept for tests) still says so.
    match store.exec_for_test("SELECT 1".into()).await {
        Err(StoreError::Unsupported(_)) => {}
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // The thread carries on.
    store
        .append_event(modem_up("a"), t(0))
        .await
        .expect("append");
    store.close().await.expect("close");
}

#[test]
fn a_bad_postgres_url_names_the_server_without_its_password() {
    let err = Store::open_postgres("postgresql://smsgate:secret@127.0.0.1:1/smsgate")
        .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(
        text.contains("postgresql://smsgate@127.0.0.1:1/smsgate"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}
