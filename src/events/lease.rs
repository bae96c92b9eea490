//! One host at a time per consumer: on PostgreSQL, where several hosts
//! share the event log, each hook and webhook consumer is served only by
//! the host that holds its lease (a `consumer_lease` row, see the store's
//! migration 14). [`serve`] waits for the lease, runs the consumer while it
//! renews the lease every third of its length, stops the consumer when the
//! lease is lost (another host took it after it expired, or the database
//! could not be reached for as long as a lease), and gives the lease back
//! when the consumer ends, so another host takes over at once after a
//! clean stop, and within about a lease after a host died. The consumer
//! starts from its durable cursor wherever it runs, so every event reaches
//! it at least once; the events the dead host had handled but not yet
//! recorded are handled again.
//!
//! On SQLite nothing changes: one host serves everything, and [`serve`]
//! just runs the consumer.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::{Store, StoreError};

/// The default length of a consumer's lease (`[cluster] lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Who serves consumers here, and for how long a lease runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerLease {
    /// This host's name (`[cluster] node`).
    pub node: String,
    /// `[cluster] lease`.
    pub lease: Duration,
}

impl ConsumerLease {
    pub fn new(node: impl Into<String>, lease: Duration) -> ConsumerLease {
        ConsumerLease {
            node: node.into(),
            lease,
        }
    }

    /// How often the lease is renewed, and how often a host without it
    /// asks for it: a third of the lease.
    pub fn every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(10))
    }
}

impl Default for ConsumerLease {
    /// This machine's host name and [`DEFAULT_LEASE`].
    fn default() -> ConsumerLease {
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        ConsumerLease::new(node, DEFAULT_LEASE)
    }
}

/// Runs the consumer `name` (`run`, given a token that stops it) whenever
/// this host holds its lease, until `cancel`. See the module comment.
pub async fn serve<F, Fut>(
    store: Store,
    name: String,
    lease: ConsumerLease,
    cancel: CancellationToken,
    mut run: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    if !store.is_shared() {
        run(cancel).await;
        return;
    }
    let every = lease.every();
    loop {
        // Wait for the lease.
        loop {
            match store.consumer_lease(&name, &lease.node, lease.lease).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(StoreError::Closed) => return,
                Err(e) => warn!(consumer = %name, "asking for the lease: {e}"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
        info!(consumer = %name, node = %lease.node, "serving the consumer");
        let stop = cancel.child_token();
        let task = run(stop.clone());
        tokio::pin!(task);
        let mut renewed = tokio::time::Instant::now();
        let ended = loop {
            tokio::select! {
                () = &mut task => break true,
                _ = tokio::time::sleep(every) => {
                    match store.consumer_lease(&name, &lease.node, lease.lease).await {
                        Ok(true) => renewed = tokio::time::Instant::now(),
                        Ok(false) => {
                            warn!(consumer = %name, "another host took the lease; stopping");
                            break false;
                        }
                        Err(StoreError::Closed) => break false,
                        // Stop before the lease can have run out: another
                        // host may take it then.
                        Err(e) if renewed.elapsed() + every >= lease.lease => {
                            warn!(consumer = %name, "cannot renew the lease ({e}); stopping");
                            break false;
                        }
                        Err(e) => warn!(consumer = %name, "renewing the lease: {e}"),
                    }
                }
            }
        };
        if !ended {
            stop.cancel();
            task.await;
        }
        if ended || cancel.is_cancelled() {
            // Stopped here (shutdown, or the consumer ended by itself): hand
            // the lease over at once.
            if let Err(e) = store.consumer_lease_release(&name, &lease.node).await {
                warn!(consumer = %name, "giving the lease back: {e}");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use chrono::Utc;

    use super::*;
    use crate::store::{pgtest, Event, EventData, ModemEvent};

    const WAIT: Duration = Duration::from_secs(60);

    use crate::store::pgtest::open;

    fn modem_up(i: usize) -> EventData {
        EventData::ModemUp(ModemEvent {
            modem: format!("m{i}"),
            state: "ready".into(),
            ..ModemEvent::default()
        })
    }

    type Seen = Arc<Mutex<Vec<(&'static str, i64)>>>;

    /// One host's hook-like consumer of `modem_up` events, under a lease;
    /// each handled event is recorded with the host's name.
    fn host(
        store: &Store,
        node: &'static str,
        lease: Duration,
        seen: &Seen,
        handled: &Arc<tokio::sync::Notify>,
    ) -> tokio::task::JoinHandle<()> {
        let (store, seen, handled) = (store.clone(), seen.clone(), handled.clone());
        tokio::spawn(serve(
            store.clone(),
            "hook:modem_up".into(),
            ConsumerLease::new(node, lease),
            CancellationToken::new(),
            move |cancel| {
                let (seen, handled) = (seen.clone(), handled.clone());
                crate::events::run_durable(
                    store.clone(),
                    "hook:modem_up".into(),
                    vec!["modem_up".into()],
                    1,
                    cancel,
                    move |ev: Event| {
                        let (seen, handled) = (seen.clone(), handled.clone());
                        async move {
                            seen.lock().expect("seen").push((node, ev.event_id));
                            handled.notify_waiters();
                        }
                    },
                )
            },
        ))
    }

    /// Waits until every id in `ids` was handled by someone.
    async fn all_handled(seen: &Seen, handled: &tokio::sync::Notify, ids: &[i64]) {
        tokio::time::timeout(WAIT, async {
            loop {
                let wait = handled.notified();
                tokio::pin!(wait);
                wait.as_mut().enable();
                let got: BTreeSet<i64> = seen.lock().expect("seen").iter().map(|s| s.1).collect();
                if ids.iter().all(|id| got.contains(id)) {
                    return;
                }
                wait.await;
            }
        })
        .await
        .expect("every event handled in time");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_host_serves_a_consumer_and_another_takes_over_when_it_dies() {
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let (a, b) = (open(&url).await, open(&url).await);
        // The consumer exists before anything happens (as `Hooks::start`
        // makes it), at the start of the log.
        assert_eq!(
            a.cursor("hook:modem_up", Utc::now()).await.expect("cursor"),
            0
        );
        let seen: Seen = Arc::default();
        let handled = Arc::new(tokio::sync::Notify::new());
        let lease = Duration::from_millis(900);
        let host_a = host(&a, "a", lease, &seen, &handled);
        // A serves it (alone so far): its first event goes through A.
        let first = a
            .append_event(modem_up(0), Utc::now())
            .await
            .expect("append");
        all_handled(&seen, &handled, &[first]).await;
        let host_b = host(&b, "b", lease, &seen, &handled);
        let mut ids = vec![first];
        for i in 1..5 {
            let store = if i % 2 == 0 { &a } else { &b };
            ids.push(
                store
                    .append_event(modem_up(i), Utc::now())
                    .await
                    .expect("append"),
            );
        }
        all_handled(&seen, &handled, &ids).await;
        // B asked meanwhile (its lease request is a row it never got).
        assert!(
            seen.lock()
                .expect("seen")
                .iter()
                .all(|(node, _)| *node == "a"),
            "{:?}",
            seen.lock().expect("seen")
        );
        let leases = a.consumer_leases().await.expect("leases");
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].node, "a");
        assert!(leases[0].expires_in_ms > 0, "{leases:?}");

        // A dies: it stops renewing and gives nothing back.
        host_a.abort();
        let _ = host_a.await;
        let mut later = Vec::new();
        for i in 5..10 {
            later.push(
                b.append_event(modem_up(i), Utc::now())
                    .await
                    .expect("append"),
            );
        }
        all_handled(&seen, &handled, &later).await;
        let seen = seen.lock().expect("seen").clone();
        // Every event at least once; what came after A died went through B,
        // which resumed from the cursor A left.
        let all: BTreeSet<i64> = seen.iter().map(|s| s.1).collect();
        assert!(ids.iter().chain(&later).all(|id| all.contains(id)));
        for id in &later {
            assert!(seen.contains(&("b", *id)), "{id} through b: {seen:?}");
        }
        let leases = b.consumer_leases().await.expect("leases");
        assert_eq!(leases[0].node, "b");
        host_b.abort();
        let _ = host_b.await;
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }

    #[tokio::test]
    async fn on_sqlite_the_consumer_just_runs() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("s.db")).expect("open");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        serve(
            store.clone(),
            "hook:sent".into(),
            ConsumerLease::new("a", Duration::from_secs(30)),
            CancellationToken::new(),
            move |_| {
                let tx = tx.take();
                async move {
                    if let Some(tx) = tx {
                        let _ = tx.send(());
                    }
                }
            },
        )
        .await;
        rx.await.expect("ran");
        assert!(store.consumer_leases().await.expect("leases").is_empty());
        store.close().await.expect("close");
    }
}
