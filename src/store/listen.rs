//! Wake-ups across hosts on PostgreSQL: a commit that appends events sends
//! `NOTIFY smsgate_events` in its transaction (see `events::append`; a
//! new message appends its `queued` event, so new outgoing work notifies
//! too). Each store keeps one listening connection on a thread of its own
//! (the blocking client, which runs a runtime of its own, never inside the
//! daemon's): on a notification it reads the newest event id and moves the
//! store's event watch forward (so `watch`, hooks and webhooks of this
//! host follow events committed by the others), and bumps the store's
//! cluster wake, which the dispatcher follows.
//!
//! A notification is only a hint: after (re)connecting the thread reads
//! the newest id once, since it missed what committed while it was away,
//! and the dispatcher keeps its own timer. Idle, the thread sends nothing
//! to the server; it wakes every [`TICK`] only to see whether the store was
//! closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::watch;
use tracing::{info, warn};

use super::events::EVENT_CHANNEL;

/// How often the idle listener looks whether its store was closed (no
/// traffic to the server).
const TICK: Duration = Duration::from_secs(2);

/// The listening connection's name in `pg_stat_activity`.
pub(crate) const APPLICATION: &str = "smsgate listen";

/// The first pause before connecting again.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest pause between attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the listener moves.
pub(crate) struct Targets {
    /// The store's newest committed event id (moved forward only).
    pub last_event: Weak<watch::Sender<i64>>,
    /// Bumped after every notification (and after a reconnect).
    pub wake: Weak<watch::Sender<u64>>,
    /// Set when the store closes.
    pub stop: Arc<AtomicBool>,
}

impl Targets {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.last_event.strong_count() == 0
    }

    /// Moves the watches after a notification: `newest` is the newest
    /// committed event id. False when the store is gone.
    fn tell(&self, newest: i64) -> bool {
        let (Some(last), Some(wake)) = (self.last_event.upgrade(), self.wake.upgrade()) else {
            return false;
        };
        forward(&last, newest);
        wake.send_modify(|n| *n = n.wrapping_add(1));
        true
    }
}

/// Moves `watch` to `id` if that is newer (never back: the store thread
/// and the listener both report, each what it read last).
pub(crate) fn forward(watch: &watch::Sender<i64>, id: i64) {
    watch.send_if_modified(|v| {
        if id > *v {
            *v = id;
            true
        } else {
            false
        }
    });
}

/// Starts the listening thread for the database at `url`. It ends soon
/// after `targets.stop` is set or the store's handles are all gone.
pub(crate) fn spawn(url: String, targets: Targets) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("smsgate-listen".into())
        .spawn(move || run(&url, &targets))
        .map(|_| ())
}

fn run(url: &str, targets: &Targets) {
    let mut backoff = FIRST_BACKOFF;
    let mut lost = false;
    while !targets.stopped() {
        match listen(url, targets, &mut lost, &mut backoff) {
            Ok(()) => return,
            Err(e) => {
                if !lost {
                    warn!("PostgreSQL notifications: {e}; listening again");
                    lost = true;
                }
                // Wait before the next attempt, still answering a close.
                let mut left = backoff;
                while !left.is_zero() && !targets.stopped() {
                    let step = left.min(TICK);
                    std::thread::sleep(step);
                    left -= step;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection's life: `Ok` when the store closed, `Err` when the
/// connection failed (the caller connects again).
fn listen(
    url: &str,
    targets: &Targets,
    lost: &mut bool,
    backoff: &mut Duration,
) -> Result<(), postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.application_name(APPLICATION);
    let mut client = config.connect(postgres::NoTls)?;
    client.batch_execute(&format!("LISTEN {EVENT_CHANNEL}"))?;
    if std::mem::take(lost) {
        info!("PostgreSQL notifications: listening again");
    }
    *backoff = FIRST_BACKOFF;
    // What committed before LISTEN took effect was not notified here.
    let newest = |client: &mut postgres::Client| -> Result<i64, postgres::Error> {
        client
            .query_one("SELECT COALESCE(MAX(id), 0) FROM event", &[])
            .map(|r| r.get::<_, i64>(0))
    };
    let id = newest(&mut client)?;
    if !targets.tell(id) {
        return Ok(());
    }
    loop {
        if targets.stopped() {
            return Ok(());
        }
        let got = client.notifications().timeout_iter(TICK).next()?;
        if got.is_none() {
            if client.is_closed() {
                // Surface the reason through a query.
                client.simple_query("")?;
            }
            continue;
        }
        // Several commits may have notified: one read covers them all.
        while client.notifications().iter().next()?.is_some() {}
        let id = newest(&mut client)?;
        if !targets.tell(id) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::{pgtest, EventData, ModemEvent};

    const WAIT: Duration = Duration::from_secs(30);

    use crate::store::pgtest::open;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_appended_through_one_host_wakes_the_watchers_of_another() {
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let a = open(&url).await;
        let b = open(&url).await;
        assert!(b.is_shared());
        let mut events = b.event_watch();
        let mut wake = b.cluster_wake();
        // B's listener is up once it has read the newest id after LISTEN.
        let up = *tokio::time::timeout(WAIT, wake.wait_for(|n| *n > 0))
            .await
            .expect("b listens in time")
            .expect("wake");
        let id = a
            .append_event(
                EventData::ModemUp(ModemEvent {
                    modem: "m0".into(),
                    state: "ready".into(),
                    ..ModemEvent::default()
                }),
                chrono::Utc::now(),
            )
            .await
            .expect("append through a");
        // Only the notification can tell B: it polls nothing.
        tokio::time::timeout(WAIT, events.wait_for(|v| *v >= id))
            .await
            .expect("b's watch moves in time")
            .expect("watch");
        assert_eq!(b.last_event_id(), id);
        tokio::time::timeout(WAIT, wake.wait_for(|n| *n > up))
            .await
            .expect("b's wake in time")
            .expect("wake");
        // And B reads it.
        let read = b.events_after(0, 10, vec![]).await.expect("read");
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].event_id, id);
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }

    /// A figure, not a check: events appended through two stores on one
    /// database at once (each append its own request, so the group commit
    /// gathers what comes while the event lock is held), the commits they
    /// took, and whether every id reached both stores' watches.
    /// `cargo test --lib store::listen::tests::speed -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listener_whose_connection_is_cut_listens_again() {
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let a = open(&url).await;
        let b = open(&url).await;
        for s in [&a, &b] {
            tokio::time::timeout(WAIT, s.cluster_wake().wait_for(|n| *n > 0))
                .await
                .expect("the listener is up in time")
                .expect("wake");
        }
        // Cut every listening connection of the database (A's and B's).
        let cut = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                c.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE application_name = $1 AND datname = current_database()",
                    &[&super::APPLICATION],
                )
                .expect("terminate")
                .len()
            })
            .await
            .expect("join")
        };
        assert_eq!(cut, 2);
        let id = a
            .append_event(
                EventData::ModemUp(ModemEvent {
                    modem: "m1".into(),
                    state: "ready".into(),
                    ..ModemEvent::default()
                }),
                chrono::Utc::now(),
            )
            .await
            .expect("append through a");
        // B learns of it: by the notification, or by the read after it
        // listens again.
        tokio::time::timeout(WAIT, b.event_watch().wait_for(|v| *v >= id))
            .await
            .expect("b's watch moves in time")
            .expect("watch");
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run by hand"]
    async fn speed() {
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let a = open(&url).await;
        let b = open(&url).await;
        const EACH: usize = 2_000;
        const CLIENTS: usize = 16;
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for (k, store) in [a.clone(), b.clone()].into_iter().enumerate() {
            for c in 0..CLIENTS {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..EACH / CLIENTS {
                        store
                            .append_event(
                                EventData::ModemUp(ModemEvent {
                                    modem: format!("h{k}c{c}i{i}"),
                                    state: "ready".into(),
                                    ..ModemEvent::default()
                                }),
                                chrono::Utc::now(),
                            )
                            .await
                            .expect("append");
                    }
                }));
            }
        }
        for t in tasks {
            t.await.expect("client");
        }
        let took = started.elapsed();
        let n = 2 * (EACH / CLIENTS) * CLIENTS;
        let last = a.last_event_id().max(b.last_event_id());
        for s in [&a, &b] {
            tokio::time::timeout(WAIT, s.event_watch().wait_for(|v| *v >= last))
                .await
                .expect("in time")
                .expect("watch");
        }
        let read = a.events_after(0, n + 10, vec![]).await.expect("read");
        assert_eq!(read.len(), n);
        eprintln!(
            "two hosts, {CLIENTS} clients each: {n} events in {:.2} s ({:.0} events/s), \
             {} + {} commits",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            a.transactions(),
            b.transactions()
        );
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }
}
