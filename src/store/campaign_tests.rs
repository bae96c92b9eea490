//! Tests of streamed campaign creation: chunks inside one transaction that
//! nobody sees before the end, a feed dropped or gone silent halfway that
//! leaves nothing, messages skipped at insertion, and a batch before the
//! campaign that does not wait for it.

use std::time::Duration;

use super::super::tests::fixture::{msg, open_temp, t};
use super::super::*;
use super::campaign_feed;

const WAIT: Duration = Duration::from_secs(20);

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

/// Rows of `table`, read on a connection of its own (what another process
/// or the report reader would see).
fn committed(dir: &tempfile::TempDir, table: &str) -> i64 {
    let c = rusqlite::Connection::open(dir.path().join("smsgate.db")).expect("open");
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_commit_together_and_are_seen_by_nobody_before_the_end() {
    let (dir, store) = open_temp();
    let (feed, rows) = campaign_feed();
    let s = store.clone();
    let created =
        tokio::spawn(async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await });
    // The feed holds one chunk: once the fourth is handed over, the store
    // has taken the third, so it has inserted the first two.
    for k in 0..4 {
        tokio::time::timeout(WAIT, feed.send(chunk(k * 1000, 1000)))
            .await
            .expect("the store takes chunks")
            .expect("feed open");
    }
    assert_eq!(committed(&dir, "campaign"), 0);
    assert_eq!(committed(&dir, "outgoing"), 0);
    feed.send(chunk(4000, 500)).await.expect("feed open");
    feed.finish().await.expect("feed open");
    let (id, total) = tokio::time::timeout(WAIT, created)
        .await
        .expect("answered")
        .expect("task")
        .expect("created");
    assert_eq!(total, 4500);
    assert_eq!(committed(&dir, "outgoing"), 4500);
    let view = store.campaign(id).await.expect("read").expect("exists");
    assert_eq!((view.total, view.queued, view.skipped), (4500, 4500, 0));
    assert_eq!(view.state, CampaignState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_dropped_after_some_chunks_leaves_nothing() {
    let (dir, store) = open_temp();
    let events_before = committed(&dir, "event");
    let (feed, rows) = campaign_feed();
    let s = store.clone();
    let created =
        tokio::spawn(async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await });
    for k in 0..3 {
        feed.send(chunk(k * 1000, 1000)).await.expect("feed open");
    }
    // A bad row in the fourth chunk: the producer stops.
    drop(feed);
    let err = tokio::time::timeout(WAIT, created)
        .await
        .expect("answered")
        .expect("task")
        .expect_err("rolled back");
    assert!(err.to_string().contains("abandoned"), "{err}");
    assert_eq!(committed(&dir, "campaign"), 0);
    assert_eq!(committed(&dir, "outgoing"), 0);
    assert_eq!(committed(&dir, "outgoing_part"), 0);
    assert_eq!(committed(&dir, "event"), events_before);
    // The store goes on.
    store
        .enqueue(msg("+4917000001", 1), t(1))
        .await
        .expect("enqueue");
    assert_eq!(committed(&dir, "outgoing"), 1);
}

#[tokio::test]
async fn a_silent_feed_is_given_up_and_the_producer_told() {
    let (dir, store) = open_temp();
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
    assert_eq!(committed(&dir, "campaign"), 0);
    assert_eq!(committed(&dir, "outgoing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_skipped_at_insertion_do_not_finish_the_campaign_early() {
    let store = Store::open_in_memory().expect("store");
    // Every number of the first chunk is on the suppression list.
    for m in chunk(0, 1000) {
        let key = m.optout_key.clone().expect("key");
        store
            .optout_add(&key, "test", None, t(0))
            .await
            .expect("opt out");
    }
    let (feed, rows) = campaign_feed();
    let s = store.clone();
    let created =
        tokio::spawn(async move { s.campaign_create_streamed(new_campaign(), rows, t(1)).await });
    feed.send(chunk(0, 1000)).await.expect("feed open");
    feed.send(chunk(1000, 200)).await.expect("feed open");
    feed.finish().await.expect("feed open");
    let (id, _) = created.await.expect("task").expect("created");
    let view = store.campaign(id).await.expect("read").expect("exists");
    assert_eq!(
        (view.total, view.queued, view.skipped, view.state),
        (1200, 200, 1000, CampaignState::Running)
    );
    // All skipped: done at once, and its counters still add up.
    let (feed, rows) = campaign_feed();
    let s = store.clone();
    let created =
        tokio::spawn(async move { s.campaign_create_streamed(new_campaign(), rows, t(2)).await });
    feed.send(chunk(0, 1000)).await.expect("feed open");
    feed.finish().await.expect("feed open");
    let (id, _) = created.await.expect("task").expect("created");
    let view = store.campaign(id).await.expect("read").expect("exists");
    assert_eq!(
        (view.total, view.queued, view.skipped, view.state),
        (1000, 0, 1000, CampaignState::Done)
    );
    assert!(view.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_before_a_streamed_campaign_does_not_wait_for_it() {
    let store = Store::open_in_memory().expect("store");
    let first = store.submit(|c| outgoing::enqueue(c, &msg("+4917000001", 1), t(0)));
    let (feed, rows) = campaign_feed();
    let s = store.clone();
    let created =
        tokio::spawn(async move { s.campaign_create_streamed(new_campaign(), rows, t(0)).await });
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
