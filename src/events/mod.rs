//! Consumers of the event log. Each consumer (each hook, each smstools3 copy
//! directory, each `watch` client) reads the store's log from its own
//! position: hooks and copies keep it durably in the store (a cursor per
//! consumer), so every event reaches them at least once, in order, across
//! load, `kill -9` and restarts; nothing is dropped because a consumer is
//! slow, since the log, not a channel, holds what it has not read yet.
//!
//! Owns the [`Reader`] (catch up from the log, then wait for the next commit)
//! and the durable consumer loop [`run_durable`]; `hooks` and `copies` are its
//! two users in the daemon. `lease` runs a consumer only while this host
//! holds its lease (PostgreSQL, several hosts; nothing changes on SQLite). It owns no SQL (the store does) and no event
//! content (the store writes events with the changes they describe).

pub mod copies;
pub mod lease;

pub use lease::ConsumerLease;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::store::{Event, Store, StoreError};

/// How many events one read takes from the log.
pub const BATCH: usize = 256;

/// Reads the log from a position: what is there, then what commits next.
pub struct Reader {
    store: Store,
    position: i64,
    kinds: Vec<String>,
    /// Only the events this host appended (a cluster's metrics).
    node: Option<String>,
    newest: watch::Receiver<i64>,
}

impl Reader {
    /// A reader that hands out events after `position`, of the `kinds`
    /// given (all when empty).
    pub fn new(store: Store, position: i64, kinds: Vec<String>) -> Reader {
        let newest = store.event_watch();
        Reader {
            store,
            position,
            kinds,
            node: None,
            newest,
        }
    }

    /// Hands out only the events host `node` appended (when given): the
    /// others are skipped as events of other kinds are.
    pub fn of_node(mut self, node: Option<String>) -> Reader {
        self.node = node;
        self
    }

    /// The id of the last event handed out (or skipped by the type filter).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The next events, waiting for a commit when the reader is at the end.
    /// An empty batch means the reader skipped events of other kinds (its
    /// position moved). `None` when the store is closed.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>, StoreError>> {
        loop {
            // Mark the current value seen before reading, so a commit that
            // lands during the read wakes the next wait.
            let newest = *self.newest.borrow_and_update();
            if newest > self.position {
                let batch = match &self.node {
                    None => {
                        self.store
                            .events_after(self.position, BATCH, self.kinds.clone())
                            .await
                    }
                    Some(node) => {
                        self.store
                            .events_of(node, self.position, BATCH, self.kinds.clone())
                            .await
                    }
                };
                match batch {
                    Ok(events) if events.is_empty() => {
                        // Only events of other kinds: skip past them, and
                        // say so (an empty batch), so a durable consumer
                        // can store the new position.
                        self.position = self.position.max(newest);
                        return Some(Ok(Vec::new()));
                    }
                    Ok(events) => {
                        if let Some(last) = events.last() {
                            self.position = last.event_id;
                        }
                        return Some(Ok(events));
                    }
                    Err(StoreError::Closed) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            if self.newest.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// How often a durable consumer writes its position at most (it also writes
/// it when it has caught up). A crash replays at most this much.
pub const CURSOR_EVERY: Duration = Duration::from_millis(250);

/// Runs one durable consumer named `name` until `cancel`: reads the events
/// of `kinds` after its stored cursor and hands each to `handle`, in order,
/// with up to `limit` handlings running at once. The cursor only ever moves
/// past events whose handling finished (a hook run ended, a file was
/// written), so after a crash the consumer starts again at the oldest event
/// it had not finished: each event at least once, none lost. A store error
/// is retried after a pause; nothing is skipped.
pub async fn run_durable<F, Fut>(
    store: Store,
    name: String,
    kinds: Vec<String>,
    limit: usize,
    cancel: CancellationToken,
    mut handle: F,
) where
    F: FnMut(Event) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = limit.max(1);
    let start = loop {
        match store.cursor(&name, Utc::now()).await {
            Ok(p) => break p,
            Err(StoreError::Closed) => return,
            Err(e) => {
                warn!(consumer = %name, "reading the cursor: {e}; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let mut reader = Reader::new(store.clone(), start, kinds.clone());
    let mut queue: VecDeque<Event> = VecDeque::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, i64> = HashMap::new();
    let mut saved = start;
    let mut last_save = tokio::time::Instant::now();
    let mut reading = true;
    loop {
        // Shutting down: what is queued is not started (it stays after the
        // cursor); what runs is let finish.
        while reading && tasks.len() < limit {
            let Some(ev) = queue.pop_front() else { break };
            let id = ev.event_id;
            let handle = tasks.spawn(handle(ev));
            running.insert(handle.id(), id);
        }
        // Everything before the oldest event not yet finished is done.
        let oldest_open = running
            .values()
            .copied()
            .chain(queue.front().map(|e| e.event_id))
            .min();
        let safe = oldest_open.map_or(reader.position(), |id| id - 1);
        let idle = running.is_empty() && (queue.is_empty() || !reading);
        if safe > saved && (idle || last_save.elapsed() >= CURSOR_EVERY) {
            match store.set_cursor(&name, safe, Utc::now()).await {
                Ok(()) => {
                    saved = safe;
                    last_save = tokio::time::Instant::now();
                }
                Err(e) => warn!(consumer = %name, "saving the cursor: {e}"),
            }
        }
        if !reading && idle {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled(), if reading => { reading = false; }
            done = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Some(Ok((id, ()))) => Some(id),
                    Some(Err(e)) => {
                        warn!(consumer = %name, "an event handler failed: {e}");
                        Some(e.id())
                    }
                    None => None,
                };
                if let Some(id) = id {
                    running.remove(&id);
                }
            }
            batch = reader.next(), if reading && queue.len() < BATCH => match batch {
                None => reading = false,
                Some(Ok(events)) => queue.extend(events),
                Some(Err(e)) => {
                    warn!(consumer = %name, "reading events: {e}; trying again");
                    tokio::select! {
                        _ = cancel.cancelled() => reading = false,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let from = queue.back().map_or(reader.position(), |e| e.event_id);
                    reader = Reader::new(store.clone(), from, kinds.clone());
                }
            },
        }
    }
}
