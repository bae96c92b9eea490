//! Tests of streamed campaign creation: chunks inside one transaction that
//! nobody sees before the end, a feed dropped or gone silent halfway that
//! leaves nothing, messages skipped at insertion, and a batch before the
//! campaign that does not wait for it. Each runs on SQLite (a temporary
//! file) and on PostgreSQL (a fresh database of `pgtest.rs`).

use std::time::Duration;

use super::super::sql::{args, Db, PgConn};
use super::super::tests::fixture::{msg, open_temp, t};
use super::super::*;
use super::campaign_feed;

const WAIT: Duration = Duration::from_secs(60);

fn new_campaign() -> NewCampaign {
    NewCampaign {
        name: "stream".into(),
        text: "hello {{x}}".into(),
        priority: Priority::Low,
        report: false,
        window: None,
        rate_per_min: None,
    }
}

/// `n` campaign messages to distinct numbers, from `first` on.
fn chunk(first: usize, n: usize) -> Vec<NewMessage> {
    (first..first + n)
        .map(|i| {
            let to = format!("+49151{i:08}");
            let mut m = msg(&to, 1);
            m.priority = Priority::Low;
            m.category = Category::Marketing;
            m.optout_key = Some(to);
            m
        })
        .collect()
}

/// Where a test's store keeps its data.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    /// Rows of `table`, read on a connection of its own (what another
    /// process, host or the report reader would see).
    async fn committed(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let read: Box<dyn FnOnce() -> i64 + Send> = match self {
            Place::Sqlite(dir) => {
                let path = dir.path().join("smsgate.db");
                Box::new(move || {
                    let c = rusqlite::Connection::open(path).expect("open");
                    c.query_row(&sql, [], |r| r.get(0)).expect("count")
                })
            }
            Place::Postgres(url) => {
                let url = url.clone();
                Box::new(move || {
                    let c = PgConn::connect(&url).expect("connect");
                    (&c as &dyn Db)
                        .query_one(&sql, args![], |r| r.get(0))
                        .expect("count")
                })
            }
        };
        // The blocking PostgreSQL client starts a runtime of its own: on a
        // thread outside tokio's.
        tokio::task::spawn_blocking(move || std::thread::spawn(read).join().expect("read"))
            .await
            .expect("join")
    }
}

/// `both!(name, |place, store| async move { … })`: the test on each engine.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (dir, store) = open_temp();
                ($body)(Place::Sqlite(dir), store.clone()).await;
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
                let store = crate::store::pgtest::open(&url).await;
                ($body)(Place::Postgres(url), store.clone()).await;
                store.close().await.expect("close");
            }
        }
    };
}

both!(
    chunks_commit_together_and_are_seen_by_nobody_before_the_end,
    |place: Place, store: Store| async move {
        let (feed, rows) = campaign_feed();
        let s = store.clone();
        let created =
            tokio::spawn(
                async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await },
            );
        // The feed holds one chunk: once the fourth is handed over, the store
        // has taken the third, so it has inserted the first two.
        for k in 0..4 {
            tokio::time::timeout(WAIT, feed.send(chunk(k * 100, 100)))
                .await
                .expect("the store takes chunks")
                .expect("feed open");
        }
        assert_eq!(place.committed("campaign").await, 0);
        assert_eq!(place.committed("outgoing").await, 0);
        feed.send(chunk(400, 50)).await.expect("feed open");
        feed.finish().await.expect("feed open");
        let (id, total) = tokio::time::timeout(WAIT, created)
            .await
            .expect("answered")
            .expect("task")
            .expect("created");
        assert_eq!(total, 450);
        assert_eq!(place.committed("outgoing").await, 450);
        let view = store.campaign(id).await.expect("read").expect("exists");
        assert_eq!((view.total, view.queued, view.skipped), (450, 450, 0));
        assert_eq!(view.state, CampaignState::Running);
    }
);

both!(
    a_feed_dropped_after_some_chunks_leaves_nothing,
    |place: Place, store: Store| async move {
        let events_before = place.committed("event").await;
        let (feed, rows) = campaign_feed();
        let s = store.clone();
        let created =
            tokio::spawn(
                async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await },
            );
        for k in 0..3 {
            feed.send(chunk(k * 100, 100)).await.expect("feed open");
        }
        // A bad row in the fourth chunk: the producer stops.
        drop(feed);
        let err = tokio::time::timeout(WAIT, created)
            .await
            .expect("answered")
            .expect("task")
            .expect_err("rolled back");
        assert!(err.to_string().contains("abandoned"), "{err}");
        assert_eq!(place.committed("campaign").await, 0);
        assert_eq!(place.committed("outgoing").await, 0);
        assert_eq!(place.committed("outgoing_part").await, 0);
        assert_eq!(place.committed("event").await, events_before);
        // The store goes on.
        store
            .enqueue(msg("+4917000001", 1), t(1))
            .await
            .expect("enqueue");
        assert_eq!(place.committed("outgoing").await, 1);
    }
);

both!(
    a_silent_feed_is_given_up_and_the_producer_told,
    |place: Place, store: Store| async move {
        let (feed, rows) = campaign_feed();
        let rows = rows.with_timeout(Duration::from_millis(200));
        feed.send(chunk(0, 10)).await.expect("feed open");
        let err = tokio::time::timeout(
            WAIT,
            store.campaign_create_streamed(new_campaign(), rows, t(0)),
        )
        .await
        .expect("answered")
        .expect_err("given up");
        assert!(err.to_string().contains("no recipients came"), "{err}");
        assert_eq!(feed.send(chunk(10, 10)).await, Err(FeedClosed));
        assert_eq!(place.committed("campaign").await, 0);
        assert_eq!(place.committed("outgoing").await, 0);
    }
);

both!(
    messages_skipped_at_insertion_do_not_finish_the_campaign_early,
    |_place: Place, store: Store| async move {
        // Every number of the first chunk is on the suppression list.
        for m in chunk(0, 100) {
            let key = m.optout_key.clone().expect("key");
            store
                .optout_add(&key, "test", None, t(0))
                .await
                .expect("opt out");
        }
        let (feed, rows) = campaign_feed();
        let s = store.clone();
        let created =
            tokio::spawn(
                async move { s.campaign_create_streamed(new_campaign(), rows, t(1)).await },
            );
        feed.send(chunk(0, 100)).await.expect("feed open");
        feed.send(chunk(100, 20)).await.expect("feed open");
        feed.finish().await.expect("feed open");
        let (id, _) = created.await.expect("task").expect("created");
        let view = store.campaign(id).await.expect("read").expect("exists");
        assert_eq!(
            (view.total, view.queued, view.skipped, view.state),
            (120, 20, 100, CampaignState::Running)
        );
        // All skipped: done at once, and its counters still add up.
        let (feed, rows) = campaign_feed();
        let s = store.clone();
        let created =
            tokio::spawn(
                async move { s.campaign_create_streamed(new_campaign(), rows, t(2)).await },
            );
        feed.send(chunk(0, 100)).await.expect("feed open");
        feed.finish().await.expect("feed open");
        let (id, _) = created.await.expect("task").expect("created");
        let view = store.campaign(id).await.expect("read").expect("exists");
        assert_eq!(
            (view.total, view.queued, view.skipped, view.state),
            (100, 0, 100, CampaignState::Done)
        );
        assert!(view.finished_at.is_some());
    }
);

both!(
    a_request_before_a_streamed_campaign_does_not_wait_for_it,
    |_place: Place, store: Store| async move {
        let first =
            store.submit_db_for_test(|c| outgoing::enqueue(c, &msg("+4917000001", 1), t(0)));
        let (feed, rows) = campaign_feed();
        let s = store.clone();
        let created =
            tokio::spawn(
                async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await },
            );
        // The campaign's feed is still open: the enqueue before it is answered.
        let enq = tokio::time::timeout(WAIT, first.expect("submitted"))
            .await
            .expect("answered while the campaign streams")
            .expect("reply")
            .expect("enqueued");
        assert!(!enq.duplicate);
        feed.send(chunk(0, 10)).await.expect("feed open");
        feed.finish().await.expect("feed open");
        let (_, total) = created.await.expect("task").expect("created");
        assert_eq!(total, 10);
    }
);
