//! Tests of the store handle: group commit, durability, full and read-only
//! databases, closing; plus the shared fixtures the query tests use.

use super::*;

/// Fixtures shared by the store's tests.
pub(crate) mod fixture {
    use super::super::*;
    use chrono::TimeZone;

    /// The injected clock: `t(s)` is `s` seconds after a fixed instant.
    pub(crate) fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("fixed instant")
            + chrono::Duration::seconds(secs)
    }

    pub(crate) fn msg(to: &str, parts: u32) -> NewMessage {
        NewMessage {
            to: to.to_string(),
            text: format!("hello {to}"),
            report: true,
            flash: false,
            priority: Priority::Normal,
            validity: None,
            expires_at: None,
            not_before: None,
            modem: None,
            queue: None,
            parts,
            options: MessageOptions::default(),
            source: "test".into(),
            spool_key: None,
            campaign: None,
            category: Default::default(),
            optout_key: None,
        }
    }

    pub(crate) fn open_temp() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("smsgate.db")).expect("open store");
        (dir, store)
    }

    /// A migrated in-memory connection for the pure query functions.
    pub(crate) fn memory() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().expect("memory db");
        c.execute_batch("PRAGMA foreign_keys=ON").expect("fk");
        super::super::schema::migrate(&mut c).expect("migrate");
        c
    }
}

pub(crate) use fixture::msg;
use fixture::{open_temp, t};

const WAIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("store answered in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_are_all_durable_and_share_commits() {
    let (dir, store) = open_temp();
    let before = store.transactions();
    let n = 200;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let s = store.clone();
        tasks.spawn(async move { s.enqueue(msg(&format!("+4917000{i:05}"), 1), t(0)).await });
    }
    let mut ids = Vec::new();
    while let Some(done) = within(tasks.join_next()).await {
        ids.push(done.expect("task").expect("enqueue").id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
    let commits = store.transactions() - before;
    assert!(
        commits < n as u64,
        "group commit: {commits} commits for {n} requests"
    );
    within(store.close()).await.expect("close");
    let again = Store::open(&dir.path().join("smsgate.db")).expect("reopen");
    assert_eq!(
        within(again.counts()).await.expect("counts").queued,
        n as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_memory_keeps_every_row_and_the_store_working() {
    let (_dir, store) = open_temp();
    let first = within(store.enqueue(msg("+491700000001", 1), t(0)))
        .await
        .expect("enqueue");
    within(store.release_memory()).await;
    let second = within(store.enqueue(msg("+491700000002", 2), t(1)))
        .await
        .expect("enqueue after release");
    assert!(within(store.show(first.id)).await.expect("show").is_some());
    assert!(within(store.show(second.id)).await.expect("show").is_some());
    assert_eq!(within(store.counts()).await.expect("counts").queued, 2);
}

#[tokio::test]
async fn a_full_database_refuses_work_and_loses_nothing_answered() {
    let (dir, store) = open_temp();
    // Fill the current pages, then forbid growth.
    let pages = within(store.query_i64_for_test("PRAGMA page_count"))
        .await
        .expect("page_count");
    assert!(pages > 0);
    within(store.exec_for_test(format!("PRAGMA max_page_count = {}", pages + 8)))
        .await
        .expect("cap");
    let mut accepted = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let mut m = msg("+491701234567", 1);
        m.text = "x".repeat(1500);
        m.spool_key = Some(format!("file{i}"));
        match within(store.enqueue(m, t(i))).await {
            Ok(e) => accepted.push(e.id),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        !accepted.is_empty(),
        "some work fitted before the disk filled"
    );
    match refused {
        Some(StoreError::Unavailable(reason)) => assert!(reason.contains("full"), "{reason}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The disk is back: the same handle works again.
    within(store.exec_for_test("PRAGMA max_page_count = 1073741823".into()))
        .await
        .expect("uncap");
    let after = within(store.enqueue(msg("+491701234567", 1), t(5000)))
        .await
        .expect("works again");
    accepted.push(after.id);
    within(store.close()).await.expect("close");
    let again = Store::open(&dir.path().join("smsgate.db")).expect("reopen");
    for id in accepted {
        assert!(
            within(again.show(id)).await.expect("show").is_some(),
            "message {id} was answered Ok and must survive"
        );
    }
}

#[tokio::test]
async fn a_read_only_store_is_unavailable_then_recovers() {
    let (_dir, store) = open_temp();
    within(store.exec_for_test("PRAGMA query_only = ON".into()))
        .await
        .expect("read-only");
    match within(store.enqueue(msg("+491701234567", 1), t(0))).await {
        Err(StoreError::Unavailable(reason)) => assert!(reason.contains("read-only"), "{reason}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Reads still work.
    assert_eq!(within(store.counts()).await.expect("counts").queued, 0);
    within(store.exec_for_test("PRAGMA query_only = OFF".into()))
        .await
        .expect("writable");
    within(store.enqueue(msg("+491701234567", 1), t(1)))
        .await
        .expect("writable again");
}

#[tokio::test]
async fn everything_answered_survives_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smsgate.db");
    let store = Store::open(&path).expect("open");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            within(store.enqueue(msg("+491701234567", 2), t(i)))
                .await
                .expect("enqueue")
                .id,
        );
    }
    store
        .assign(ids[0], "m1", Some("sim1"), vec![PartPdu::hex(1, "00", 1)])
        .await
        .expect("assign");
    store
        .part_sending(ids[0], 1, "m1", t(30))
        .await
        .expect("sending");
    store.part_sent(ids[0], 1, 9, t(31)).await.expect("sent");
    // Snapshot the files while the connection is open and never closed: what a
    // `kill -9` leaves behind.
    let crashed = tempfile::tempdir().expect("tempdir");
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            std::fs::copy(&from, crashed.path().join(format!("smsgate.db{suffix}"))).expect("copy");
        }
    }
    std::mem::forget(store);
    let again = Store::open(&crashed.path().join("smsgate.db")).expect("reopen copy");
    let usage = within(again.usage("sim1", t(40))).await.expect("usage");
    assert_eq!(usage.last_minute, 1, "usage survives a restart");
    for id in ids {
        let view = within(again.show(id)).await.expect("show").expect("kept");
        assert_eq!(view.parts.len(), 2);
    }
}

#[tokio::test]
async fn a_closed_store_says_so() {
    let (_dir, store) = open_temp();
    let other = store.clone();
    within(store.close()).await.expect("close");
    assert_eq!(within(other.counts()).await, Err(StoreError::Closed));
    within(other.close()).await.expect("second close is fine");
}

#[test]
fn open_on_a_bad_path_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing-dir").join("x.db");
    match Store::open(&path) {
        Err(StoreError::Open { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Open error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn number_matching() {
    let cases: &[(&str, &str, bool)] = &[
        ("+491701234567", "491701234567", true),
        ("+491701234567", "01701234567", true),
        ("+491701234567", "1701234567", true),
        ("+491701234567", "+491701234568", false),
        ("+491701234567", "+441701234567", false),
        ("+491701234567", "234567", false),
        ("12345", "12345", true),
        ("+1 (555) 123-4567", "15551234567", true),
    ];
    assert!(!cases.is_empty());
    fn check(a: &str, b: &str, want: bool) {
        assert_eq!(same_number(a, b), want, "{a} vs {b}");
        assert_eq!(same_number(b, a), want, "{b} vs {a}");
    }
    for (a, b, want) in cases {
        check(a, b, *want);
    }
}

#[test]
fn state_names_round_trip() {
    assert!(!MessageState::ALL.is_empty());
    for s in MessageState::ALL {
        assert_eq!(s.as_str().parse::<MessageState>().expect("parse"), *s);
        assert_eq!(
            serde_json::to_string(s).expect("json"),
            format!("\"{}\"", s.as_str())
        );
    }
    for s in PartState::ALL {
        assert_eq!(s.as_str().parse::<PartState>().expect("parse"), *s);
    }
    for p in Priority::ALL {
        assert_eq!(Priority::from_rank(p.rank()).expect("rank"), *p);
    }
    assert!("bogus".parse::<MessageState>().is_err());
}

#[tokio::test]
async fn the_connection_is_set_up_for_durability() {
    let (_dir, store) = open_temp();
    let cases: &[(&str, i64)] = &[
        ("PRAGMA synchronous", 2),
        ("PRAGMA foreign_keys", 1),
        ("SELECT journal_mode = 'wal' FROM pragma_journal_mode", 1),
    ];
    assert!(!cases.is_empty());
    for (sql, want) in cases {
        let got = within(store.query_i64_for_test(sql)).await.expect("pragma");
        assert_eq!(got, *want, "{sql}");
    }
}

/// A commit that fails answers every caller of its batch with the error, and
/// none of their work is kept.
#[tokio::test]
async fn a_failed_commit_fails_the_whole_batch() {
    let (_dir, store) = open_temp();
    // Hold the thread inside a batch of its own until the next batch is queued.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let gate = store
        .submit_for_test(move |_| {
            let _ = started_tx.send(());
            release_rx
                .recv_timeout(WAIT)
                .map_err(|_| StoreError::Closed)
        })
        .expect("gate");
    started_rx.recv_timeout(WAIT).expect("gate running");
    let mut answers = Vec::new();
    for i in 0..5 {
        let m = msg(&format!("+49170000000{i}"), 1);
        answers.push(
            store
                .submit_for_test(move |c| outgoing::enqueue(c, &m, t(0)).map(|e| e.id))
                .expect("submit"),
        );
    }
    // A deferred foreign key violation passes its savepoint and fails COMMIT.
    answers.push(
        store
            .submit_for_test(|c| {
                c.execute_batch(
                    "PRAGMA defer_foreign_keys = ON;
                     INSERT INTO outgoing_part (message_id, seq, state) VALUES (999999, 1, 'pending');",
                )
                .map_err(StoreError::sql("poison"))
                .map(|()| 0)
            })
            .expect("submit"),
    );
    release_tx.send(()).expect("release");
    within(gate).await.expect("gate answered").expect("gate ok");
    for answer in answers {
        match within(answer).await.expect("answered") {
            Err(StoreError::Sql { op: "commit", .. }) => {}
            other => panic!("expected the commit error, got {other:?}"),
        }
    }
    let counts = within(store.counts()).await.expect("counts");
    assert_eq!(counts.queued, 0, "nothing of the failed batch was kept");
    // The next batch commits normally.
    within(store.enqueue(msg("+491701234567", 1), t(1)))
        .await
        .expect("works again");
}

/// A database opened read-only (as on a read-only file system) serves reads
/// and refuses writes with `Unavailable`.
#[tokio::test]
async fn a_read_only_file_refuses_writes_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smsgate.db");
    let store = Store::open(&path).expect("open");
    let id = within(store.enqueue(msg("+491701234567", 1), t(0)))
        .await
        .expect("enqueue")
        .id;
    // Keep this writer open so the WAL index exists for the read-only reader.
    let ro = Store::open(Path::new(&format!("file:{}?mode=ro", path.display()))).expect("open ro");
    assert!(within(ro.show(id)).await.expect("read").is_some());
    match within(ro.enqueue(msg("+491701234567", 1), t(1))).await {
        Err(StoreError::Unavailable(reason)) => assert!(reason.contains("read-only"), "{reason}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(within(ro.counts()).await.expect("counts").queued, 1);
    within(ro.close()).await.expect("close ro");
    within(store.close()).await.expect("close");
}

proptest::proptest! {
    /// Number comparison never panics and does not depend on argument order.
    #[test]
    fn number_matching_is_symmetric(a in "[+0-9 ]{0,16}", b in "[+0-9a-z ]{0,16}") {
        proptest::prop_assert_eq!(same_number(&a, &b), same_number(&b, &a));
    }
}

/// A job that does nothing, for the gathering tests.
fn noop() -> Job {
    Box::new(|_| {
        let reply: Reply = Box::new(|_: Option<&StoreError>| {});
        (true, reply)
    })
}

#[test]
fn a_transaction_takes_what_waits_up_to_a_request_to_run_alone() {
    let (tx, rx) = mpsc::channel();
    for r in [
        Request::Intake(noop()),
        Request::Job(noop()),
        Request::Alone(noop()),
        Request::Intake(noop()),
    ] {
        tx.send(r).expect("queue");
    }
    let mut g = Gather::new(&rx, noop(), 1, 0, true);
    assert_eq!(g.by_ref().count(), 3, "the first, the intake and the job");
    assert_eq!((g.intake, g.target), (2, 2));
    assert!(g.held.is_some(), "the alone request waits for the next one");
    assert!(g.next().is_none(), "ended");
    assert!(
        matches!(rx.try_recv(), Ok(Request::Intake(_))),
        "what came after stays queued"
    );
}

#[test]
fn a_transaction_ends_at_the_close_and_at_its_limit() {
    let (tx, rx) = mpsc::channel();
    tx.send(Request::Job(noop())).expect("queue");
    tx.send(Request::Close(oneshot::channel().0))
        .expect("queue");
    let mut g = Gather::new(&rx, noop(), 0, 0, false);
    assert_eq!(g.by_ref().count(), 2);
    assert!(g.closing.is_some());

    for _ in 0..MAX_BATCH + 10 {
        tx.send(Request::Intake(noop())).expect("queue");
    }
    // Many expected back: it still stops at the limit.
    let mut g = Gather::new(&rx, noop(), 0, 1000, true);
    assert_eq!(g.by_ref().count(), MAX_BATCH);
    assert_eq!(rx.try_iter().count(), 11);
}

#[test]
fn a_transaction_waits_no_longer_than_its_limit_for_clients_that_do_not_come() {
    let (_tx, rx) = mpsc::channel();
    // One client answered last time and it is this one: nothing to wait for.
    let mut g = Gather::new(&rx, noop(), 1, 1, false);
    assert_eq!(g.by_ref().count(), 1);
    // Ten answered, one came back: the others are waited for, not forever.
    let started = std::time::Instant::now();
    let mut g = Gather::new(&rx, noop(), 1, 10, false);
    assert_eq!(g.by_ref().count(), 1);
    assert!(started.elapsed() >= GATHER_GAP, "it waited for the others");
}
