//! The dispatcher: moves ready messages from the store to modem actors.
//!
//! Owns the pure policy ([`policy`], [`rate`], [`retry`], [`health`]), the
//! encoding of a message's parts ([`encode`]) and the async dispatch task.
//! Never runs SQL nor AT commands: it calls the store (`store::Store`) and
//! the modem actors (`modem::ModemHandle`) directly; nothing here is a trait
//! a higher module implements.
//!
//! How a message goes out:
//! 1. A pass asks the store for ready messages (high priority first) and
//!    calls [`policy::choose`] for each. A message that cannot go now is
//!    skipped, never waited on: no head-of-line blocking.
//! 2. First dispatch (or after a failover): for a multipart message (the
//!    part count the store recorded at intake) a concatenation reference
//!    from the store for (SIM, destination); the text is split and encoded
//!    once, with the options recorded at intake ([`encode`]); `assign` pins
//!    the message to the modem and records the PDU bytes. All parts then go
//!    through that one SIM; once one part is out, a `Failover` becomes a
//!    `RetryAt`. A message that needs a user data header (several parts, a
//!    national table) never goes to a modem in text mode; it waits for one
//!    in PDU mode ([`policy::why_waiting`] says so).
//! 3. A job per message runs in its own task: per part, wait for the SIM's
//!    caps, `part_sending` (committed), the modem's send, then `part_sent` or
//!    `part_failed` with [`retry::classify`]'s disposition. One job per modem
//!    at a time; modems run in parallel.
//!
//! Priorities: a pass takes ready messages highest priority first. A job
//! sends its message's parts one after the other, but before each part
//! after the first it looks at its preempt flag: a pass that leaves a
//! message of a higher priority waiting because every modem is busy sets
//! the flag of every job of a lower priority, which then stops after the
//! part it is sending. The rest of its message stays pinned to that SIM and
//! goes on when nothing more urgent waits. Between passes, [`Pending`]
//! carries what intake announced (before and after its commit), so no
//! moment after a commit leaves a lower job free to start a part. So an
//! `urgent` message waits at most for the part each modem is sending.
//!
//! Campaigns: a pass reads the campaigns that may send
//! (`Store::campaigns_live`), opens or closes each by its window
//! ([`crate::campaign::Window`], on the task's clock) and holds back those
//! at their rate cap; the store's `ready` leaves out the messages of
//! campaigns that are not `running` or held. The next window change or the
//! end of a rate minute is a wake time like any other.
//!
//! The task sleeps until an event: work enqueued ([`DispatchHandle::work_added`]),
//! a job finished, a modem's status changed, or the earliest time the store
//! (schedule, retry, expiry), a cap window or a cooldown names. No polling.
//!
//! `resend_uncertain` ([`RetryPolicy`], default `true`): a part whose
//! `AT+CMGS` was in flight at a crash, or whose send timed out after the PDU
//! was written, is sent again (a possible duplicate rather than a possible
//! loss); with `false` its message fails with a reason that says so. The
//! daemon passes the same setting to the store's `recover_on_start`.

pub mod encode;
pub mod health;
pub mod policy;
pub mod rate;
pub mod retry;
pub mod types;

#[cfg(test)]
mod core_tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

pub use encode::{EncoderSettings, Encoding};
pub use health::{Health, HealthConfig};
pub use policy::{
    why_waiting, Candidate, Caps, Choice, Policy, RoundRobin, Routes, Routing, Strategy,
};
pub use rate::RateWindows;
pub use retry::{backoff, classify, RetryPolicy};
pub use types::{
    Disposition, ErrorClass, MessageState, PartPdu, PartRow, PartState, Priority, ReadyBatch,
    ReadyMessage, SendError, SendRequest, Usage,
};

use crate::campaign::Window;
use crate::modem::{ModemHandle, ModemState, ModemStatus};
use crate::store::{CampaignState, Store, StoreError};

/// Errors of the dispatch task. A failure of one message is stored on that
/// message and never surfaces here.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A store call failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What happened, for hooks, `watch` and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchEvent {
    /// The message goes out through this modem.
    Assigned {
        id: i64,
        modem: String,
    },
    PartSent {
        id: i64,
        seq: u32,
        modem: String,
        mr: u8,
    },
    PartFailed {
        id: i64,
        seq: u32,
        modem: String,
        error: String,
        disposition: Disposition,
    },
    /// The message's state after a part changed.
    State {
        id: i64,
        state: MessageState,
    },
    Expired {
        id: i64,
    },
    /// The modem keeps failing: out of rotation until `until`.
    ModemOut {
        modem: String,
        until: DateTime<Utc>,
    },
    /// The modem's cooldown ended; it takes work again.
    ModemBack {
        modem: String,
    },
    /// A message of a higher priority waits: the job of message `id` on
    /// `modem` stops after the part in flight.
    Preempted {
        id: i64,
        modem: String,
    },
}

/// One configured modem.
#[derive(Debug, Clone)]
pub struct ModemSlot {
    pub name: String,
    pub modem: ModemHandle,
    pub weight: u32,
    pub queues: Vec<String>,
    pub caps: Caps,
}

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub policy: Policy,
    pub routes: Routes,
    pub retry: RetryPolicy,
    pub health: HealthConfig,
    /// Messages fetched from the store per pass.
    pub batch: usize,
    /// Wait after a failed store call before trying again.
    pub store_retry: Duration,
    /// This host in a cluster on PostgreSQL: it claims the work it sends
    /// (`None` on SQLite: one host sends everything).
    pub cluster: Option<ClusterDispatch>,
}

/// How a host of a cluster takes its work (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDispatch {
    /// This host's name.
    pub node: String,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// A half-sent message on a SIM away this long starts again whole.
    pub orphan_after: Duration,
}

/// How often a host of a cluster looks for work without a wake-up. Work
/// entered through another host wakes this one's dispatcher at once
/// (`NOTIFY`); the poll finds what no notification announces: claims
/// another host gave back or let lapse.
pub const CLUSTER_POLL: Duration = Duration::from_millis(500);

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            routes: Routes::default(),
            retry: RetryPolicy::default(),
            health: HealthConfig::default(),
            batch: 256,
            store_retry: Duration::from_secs(5),
            cluster: None,
        }
    }
}

/// Wakes the dispatcher and subscribes to its events; cheap to clone.
#[derive(Debug, Clone)]
pub struct DispatchHandle {
    wake: Arc<Notify>,
    events: broadcast::Sender<DispatchEvent>,
    pending_top: Arc<Pending>,
}

/// The highest priority announced by intake since a pass last looked,
/// shared by the dispatcher, its handles and the jobs.
///
/// A job of a lower priority stops before its next part while it is raised.
/// Intake raises it before its commit and again after; a pass lowers it
/// only at its end, once it has set the preempt flags of the jobs below
/// what it left waiting, and only if nothing was announced since the pass
/// began and no intake is between its announcement and its commit. So no
/// moment after a commit leaves a lower job free to start another part.
#[derive(Debug, Default)]
pub struct Pending {
    /// Low 8 bits: the highest rank announced (`Priority::rank_u8`, 0:
    /// none); above them, a count of announcements.
    word: AtomicU64,
    /// Intakes between their announcement and the end of their commit.
    open: AtomicUsize,
}

impl Pending {
    fn raise(&self, rank: u8) {
        let _ = self
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                let count = (v >> 8).wrapping_add(1) & (u64::MAX >> 8);
                Some((count << 8) | (v & 0xff).max(u64::from(rank)))
            });
    }

    /// The rank a job compares its own with.
    fn top(&self) -> u8 {
        (self.word.load(Ordering::SeqCst) & 0xff) as u8
    }

    fn snapshot(&self) -> u64 {
        self.word.load(Ordering::SeqCst)
    }

    /// Lowers the rank to none unless something was announced since `snap`
    /// or an intake is still committing.
    fn settle(&self, snap: u64) {
        if self.open.load(Ordering::SeqCst) == 0 {
            let _ =
                self.word
                    .compare_exchange(snap, snap & !0xff, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
}

/// An intake between its announcement and its commit; see
/// [`DispatchHandle::announce`].
#[derive(Debug)]
#[must_use = "say `committed` after the commit, or drop it when nothing was queued"]
pub struct Announced {
    handle: DispatchHandle,
    rank: u8,
}

impl Announced {
    /// The work is committed: wakes the dispatcher.
    pub fn committed(self) {
        self.handle.pending_top.raise(self.rank);
        self.handle.wake.notify_one();
    }
}

impl Drop for Announced {
    fn drop(&mut self) {
        self.handle.pending_top.open.fetch_sub(1, Ordering::SeqCst);
        // Committed or not, a pass settles the announcement.
        self.handle.wake.notify_one();
    }
}

impl DispatchHandle {
    /// Work was enqueued (or cancelled, or retried): look at the store again.
    pub fn work_added(&self) {
        self.wake.notify_one();
    }

    /// Work of priority `p` was committed: a job of a lower priority stops
    /// before its next part at once, without waiting for the task's pass.
    pub fn work_added_at(&self, p: Priority) {
        self.pending_top.raise(p.rank_u8());
        self.wake.notify_one();
    }

    /// Work of priority `p` is about to be committed: lower-priority jobs
    /// stop before their next part from now on, and no pass lowers that
    /// until the returned guard is gone. Say [`Announced::committed`] after
    /// the commit.
    pub fn announce(&self, p: Priority) -> Announced {
        self.pending_top.open.fetch_add(1, Ordering::SeqCst);
        self.pending_top.raise(p.rank_u8());
        Announced {
            handle: self.clone(),
            rank: p.rank_u8(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DispatchEvent> {
        self.events.subscribe()
    }
}

/// Wall-clock time that follows tokio's clock, so a paused test clock moves
/// schedules, retries and expiry too. Drift from the system clock is bounded
/// by the daemon's uptime times the clock skew.
#[derive(Debug, Clone, Copy)]
struct Clock {
    base: Instant,
    base_utc: DateTime<Utc>,
}

impl Clock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            base_utc: Utc::now(),
        }
    }

    fn utc(&self) -> DateTime<Utc> {
        retry::later(self.base_utc, Instant::now().duration_since(self.base))
    }

    fn utc_at(&self, t: Instant) -> DateTime<Utc> {
        retry::later(self.base_utc, t.saturating_duration_since(self.base))
    }

    fn instant_at(&self, t: DateTime<Utc>) -> Instant {
        let now_utc = self.utc();
        let now = Instant::now();
        match (t - now_utc).to_std() {
            Ok(d) => now
                .checked_add(d)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            Err(_) => now,
        }
    }
}

/// The shortest rest between two passes that time (not an event) triggers.
const MIN_REST: Duration = Duration::from_millis(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Up, registered and taking sends.
fn is_ready(s: &ModemStatus) -> bool {
    s.state == ModemState::Ready
}

/// Per-modem state of the task.
struct Slot {
    cfg: ModemSlot,
    status: watch::Receiver<ModemStatus>,
    busy: bool,
    health: Health,
    out_announced: bool,
    /// Removed by a reload: never chosen again; kept so indices stay stable
    /// while a send it started finishes.
    retired: bool,
    /// The running job's priority and its preempt flag.
    job: Option<(Priority, i64, Arc<AtomicBool>)>,
}

/// A change to the set of modems, from a configuration reload.
pub enum ModemUpdate {
    /// Start using this modem (replacing an active one of the same name).
    Add(ModemSlot),
    /// Stop choosing the modem with this name; a send in flight finishes.
    Remove(String),
    /// New policy, routes, retry and health settings (a reload).
    Config(Box<DispatchConfig>),
}

/// Sends [`ModemUpdate`]s to a running dispatcher; cheap to clone.
#[derive(Clone)]
pub struct ModemUpdates {
    tx: mpsc::UnboundedSender<ModemUpdate>,
    wake: Arc<Notify>,
}

impl ModemUpdates {
    pub fn add(&self, slot: ModemSlot) {
        let _ = self.tx.send(ModemUpdate::Add(slot));
        self.wake.notify_one();
    }

    pub fn remove(&self, name: &str) {
        let _ = self.tx.send(ModemUpdate::Remove(name.to_string()));
        self.wake.notify_one();
    }

    /// Replaces the dispatch settings; sends in flight are not touched.
    pub fn configure(&self, cfg: DispatchConfig) {
        let _ = self.tx.send(ModemUpdate::Config(Box::new(cfg)));
        self.wake.notify_one();
    }
}

/// One part to send: its seq, the request for the modem, attempts so far.
#[derive(Debug, Clone)]
struct JobPart {
    seq: u32,
    req: SendRequest,
    attempts: u32,
}

/// One message's parts through one modem.
#[derive(Debug, Clone)]
struct Job {
    id: i64,
    to: String,
    pinned: bool,
    /// Set by the task when a message of a higher priority waits: stop
    /// after the part in flight.
    preempt: Arc<AtomicBool>,
    /// Freshly encoded parts to record first (`Store::assign`), with the SIM.
    /// The job does it, not the dispatcher task, so the commits of several
    /// modems' jobs share one group commit.
    assign: Option<(Option<String>, Vec<PartPdu>)>,
    parts: Vec<JobPart>,
}

/// A finished send job, back to the task.
struct Done {
    modem: usize,
    id: i64,
    outcomes: Vec<Result<(), ErrorClass>>,
    /// A store call failed: hold the message back for a while.
    store_trouble: bool,
}

/// The dispatch task. Build it, take a [`DispatchHandle`], then `run` it.
pub struct Dispatcher {
    cfg: DispatchConfig,
    store: Store,
    encoding: Encoding,
    slots: Vec<Slot>,
    wake: Arc<Notify>,
    events: broadcast::Sender<DispatchEvent>,
    /// The highest priority announced since a pass last settled it; see
    /// [`Pending`].
    pending_top: Arc<Pending>,
    rates: HashMap<String, Arc<Mutex<RateWindows>>>,
    in_flight: HashSet<i64>,
    /// Messages a store call failed for, held back until then.
    held: HashMap<i64, Instant>,
    rr: RoundRobin,
    next_expiry: Option<DateTime<Utc>>,
    clock: Clock,
    /// Per campaign with a rate cap: the cap and when its messages of the
    /// last minute started.
    campaign_starts: HashMap<i64, (u32, VecDeque<Instant>)>,
    updates_tx: mpsc::UnboundedSender<ModemUpdate>,
    updates_rx: Option<mpsc::UnboundedReceiver<ModemUpdate>>,
    /// In a cluster: this host may hold claims it is not sending (a pass
    /// claimed more than it started, or failed on the way), so the next
    /// pass gives back what it does not start.
    claims_dirty: bool,
}

impl Dispatcher {
    /// `encoding` is the daemon's one [`Encoding`], shared with intake.
    pub fn new(
        cfg: DispatchConfig,
        store: Store,
        modems: Vec<ModemSlot>,
        encoding: Encoding,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        let slots = modems
            .into_iter()
            .map(|m| Slot {
                status: m.modem.status(),
                cfg: m,
                busy: false,
                health: Health::new(),
                out_announced: false,
                retired: false,
                job: None,
            })
            .collect();
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        Self {
            cfg,
            store,
            encoding,
            slots,
            wake: Arc::new(Notify::new()),
            events,
            pending_top: Arc::new(Pending::default()),
            rates: HashMap::new(),
            in_flight: HashSet::new(),
            held: HashMap::new(),
            rr: RoundRobin::new(),
            next_expiry: None,
            clock: Clock::new(),
            campaign_starts: HashMap::new(),
            updates_tx,
            updates_rx: Some(updates_rx),
            claims_dirty: true,
        }
    }

    /// Starts the task's clock at `utc` instead of now (tests of windows
    /// run on tokio's paused clock from a chosen wall-clock time).
    pub fn starting_at(mut self, utc: DateTime<Utc>) -> Self {
        self.clock.base_utc = utc;
        self
    }

    pub fn handle(&self) -> DispatchHandle {
        DispatchHandle {
            wake: self.wake.clone(),
            events: self.events.clone(),
            pending_top: self.pending_top.clone(),
        }
    }

    fn emit(&self, ev: DispatchEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(ev);
    }

    /// Runs until `cancel`; then takes no new work and waits for the sends in
    /// flight (bounded by the modems' own timeouts). Parts not started stay
    /// pending in the store for the next start.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), DispatchError> {
        let tracker = TaskTracker::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut updates_rx = self
            .updates_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        for slot in &self.slots {
            self.watch_status(slot.status.clone(), &cancel);
        }
        if self.cfg.cluster.is_some() {
            self.watch_cluster(&cancel);
        }
        let mut first = true;
        loop {
            while let Ok(done) = done_rx.try_recv() {
                self.finished(done);
            }
            if cancel.is_cancelled() {
                break;
            }
            let next = match self.pass(first, &tracker, &done_tx, &cancel).await {
                Ok(next) => next,
                Err(e) => {
                    if self.store.health().waiting() {
                        // The daemon has said once that the store waits.
                        debug!(error = %e, "dispatch pass failed; trying again later");
                    } else {
                        warn!(error = %e, "dispatch pass failed; trying again later");
                    }
                    Some(Instant::now() + self.cfg.store_retry)
                }
            };
            first = false;
            // A time already past (a store answering a stale `next_wake`) must
            // not turn the loop into a spin.
            let next = next.map(|t| t.max(Instant::now() + MIN_REST));
            let sleep = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(done) = done_rx.recv() => self.finished(done),
                Some(update) = updates_rx.recv() => self.apply(update, &cancel),
                _ = self.wake.notified() => {}
                _ = sleep => {}
            }
        }
        info!(
            in_flight = tracker.len(),
            "dispatcher stopping; waiting for sends in flight"
        );
        tracker.close();
        tracker.wait().await;
        drop(done_tx);
        while let Some(done) = done_rx.recv().await {
            self.finished(done);
        }
        Ok(())
    }

    /// Wakes the task whenever another host's commit added events or work
    /// (PostgreSQL `NOTIFY`, see `Store::cluster_wake`): work entered
    /// through another host is looked at at once, not at the next
    /// [`CLUSTER_POLL`].
    fn watch_cluster(&self, cancel: &CancellationToken) {
        self.wake_on_change(self.store.cluster_wake(), cancel);
    }

    /// Wakes the task whenever this modem's status changes.
    fn watch_status(&self, rx: watch::Receiver<ModemStatus>, cancel: &CancellationToken) {
        self.wake_on_change(rx, cancel);
    }

    /// Wakes the task whenever `rx` changes, until it closes or `cancel`.
    fn wake_on_change<T: Send + Sync + 'static>(
        &self,
        mut rx: watch::Receiver<T>,
        cancel: &CancellationToken,
    ) {
        let wake = self.wake.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    changed = rx.changed() => {
                        if changed.is_err() { break; }
                        wake.notify_one();
                    }
                }
            }
        });
    }

    /// Applies a reload's change to the modem set.
    fn apply(&mut self, update: ModemUpdate, cancel: &CancellationToken) {
        match update {
            ModemUpdate::Config(cfg) => {
                self.cfg = *cfg;
                info!("dispatch settings reloaded");
            }
            ModemUpdate::Remove(name) => {
                for s in self.slots.iter_mut().filter(|s| s.cfg.name == name) {
                    s.retired = true;
                }
                info!(modem = %name, "modem removed from dispatch");
            }
            ModemUpdate::Add(slot) => {
                for s in self.slots.iter_mut().filter(|s| s.cfg.name == slot.name) {
                    s.retired = true;
                }
                info!(modem = %slot.name, "modem added to dispatch");
                let status = slot.modem.status();
                self.watch_status(status.clone(), cancel);
                self.slots.push(Slot {
                    cfg: slot,
                    status,
                    busy: false,
                    health: Health::new(),
                    out_announced: false,
                    retired: false,
                    job: None,
                });
            }
        }
    }

    /// The handle a reload uses to add and remove modems.
    pub fn modem_updates(&self) -> ModemUpdates {
        ModemUpdates {
            tx: self.updates_tx.clone(),
            wake: self.wake.clone(),
        }
    }

    /// A send job ended: the modem is idle again; health learns the outcomes.
    fn finished(&mut self, done: Done) {
        self.in_flight.remove(&done.id);
        let now = Instant::now();
        if done.store_trouble {
            self.held.insert(done.id, now + self.cfg.store_retry);
        }
        let cfg = self.cfg.health;
        let Some(slot) = self.slots.get_mut(done.modem) else {
            return;
        };
        slot.busy = false;
        slot.job = None;
        let mut tripped = None;
        for outcome in done.outcomes {
            match outcome {
                Ok(()) => slot.health.on_success(),
                Err(class) if health::counts_against_modem(class) => {
                    if let Some(until) = slot.health.on_failure(now.into_std(), &cfg) {
                        tripped = Some(until);
                    }
                }
                Err(_) => {}
            }
        }
        if let Some(until) = tripped {
            slot.out_announced = true;
            let name = slot.cfg.name.clone();
            let until = self.clock.utc_at(Instant::from_std(until));
            warn!(modem = %name, %until, "modem keeps failing; out of rotation");
            self.emit(DispatchEvent::ModemOut { modem: name, until });
        }
    }

    fn rate_key(&self, i: usize) -> String {
        let slot = self.slots.get(i);
        match slot.and_then(|s| s.status.borrow().imsi.clone()) {
            Some(imsi) => imsi,
            // The store counts sends of a SIM it does not know under the modem name.
            None => slot.map_or(String::new(), |s| s.cfg.name.clone()),
        }
    }

    /// The rate windows of modem `i`'s SIM, seeded from the store on first use.
    async fn rates_for(&mut self, i: usize) -> Result<Arc<Mutex<RateWindows>>, DispatchError> {
        let key = self.rate_key(i);
        if let Some(r) = self.rates.get(&key) {
            return Ok(r.clone());
        }
        let usage = self.store.usage(&key, self.clock.utc()).await?;
        let r = Arc::new(Mutex::new(RateWindows::seeded(
            usage,
            Instant::now().into_std(),
        )));
        self.rates.insert(key, r.clone());
        Ok(r)
    }

    /// One look at the store: expire, then start every message that can go
    /// now. Returns when the task must look again without an event.
    async fn pass(
        &mut self,
        first: bool,
        tracker: &TaskTracker,
        done_tx: &mpsc::UnboundedSender<Done>,
        cancel: &CancellationToken,
    ) -> Result<Option<Instant>, DispatchError> {
        let now_utc = self.clock.utc();
        if first || self.next_expiry.is_some_and(|t| t <= now_utc) {
            self.next_expiry = None;
            for id in self.store.expire(now_utc).await? {
                info!(id, "message expired");
                self.emit(DispatchEvent::Expired { id });
            }
        }
        // Seed the windows of every ready SIM (a store call the first time).
        for i in 0..self.slots.len() {
            self.rates_for(i).await?;
        }
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.out_announced && slot.health.available(now.into_std()) {
                slot.out_announced = false;
                let _ = self.events.send(DispatchEvent::ModemBack {
                    modem: slot.cfg.name.clone(),
                });
            }
        }

        self.held.retain(|_, until| *until > now);
        if let Some(cluster) = self
            .cfg
            .cluster
            .as_ref()
            .filter(|_| !self.can_start() && !self.preempt_possible())
        {
            // Every modem is busy and nothing announced outranks a job: no
            // claim could start now (a job's end or a modem's return wakes
            // the task). Other hosts' notifications and this host's modem
            // status changes come several times per part: they cost no
            // store call here, unless a failed pass left claims to give back.
            if self.claims_dirty {
                let keep: Vec<i64> = self.in_flight.iter().copied().collect();
                self.store.release_claims(&cluster.node, keep).await?;
                self.claims_dirty = false;
            }
            let poll = now + CLUSTER_POLL;
            let expiry = self.next_expiry.map(|e| self.clock.instant_at(e));
            return Ok(Some(expiry.map_or(poll, |e| e.min(poll))));
        }
        let mut next: Option<Instant> = None;
        let mut expire_now = false;
        // What this pass reads includes everything announced before this
        // snapshot and committed; the end of the pass settles that much.
        let announced = self.pending_top.snapshot();
        let held_campaigns = self.campaigns(now_utc, now, &mut next).await?;
        // The highest priority left waiting while every modem was busy.
        let mut waiting: Option<Priority> = None;
        // Read only as many ready messages as the idle modems can plausibly
        // take (each read costs a row per message): the ones in flight or held
        // come back too, so they are added. When that short batch leaves a
        // modem idle, the full batch is read before giving up.
        let idle = self.slots.iter().filter(|s| !s.busy).count();
        let short = match &self.cfg.cluster {
            // A host of a cluster claims what its ready modems can start
            // (what it claims and does not start it must give back, a store
            // call); its messages in flight come back without a claim.
            Some(_) => self.ready_idle().max(1).min(self.cfg.batch),
            None => (idle.max(1) * 4 + self.in_flight.len() + self.held.len()).min(self.cfg.batch),
        };
        let mut limit = short;
        let mut seen = HashSet::new();
        // In a cluster: whether this pass may leave claims it does not
        // start (until its end proves otherwise; an error on the way
        // leaves it so).
        let mut unstarted = self.cfg.cluster.is_some() && self.claims_dirty;
        let mut seen_claimed: Vec<i64> = Vec::new();
        if self.cfg.cluster.is_some() {
            self.claims_dirty = true;
        }
        loop {
            let mut batch = match &self.cfg.cluster {
                None => {
                    self.store
                        .ready_except(now_utc, limit, held_campaigns.clone())
                        .await?
                }
                Some(cluster) => {
                    let mut scope = self.claim_scope(&cluster.node);
                    scope.skip = self.in_flight.iter().copied().collect();
                    scope.skip.extend(self.held.keys().copied());
                    self.store
                        .claim_ready(
                            scope,
                            cluster.lease,
                            cluster.orphan_after,
                            self.cfg.retry.resend_uncertain,
                            now_utc,
                            limit,
                            held_campaigns.clone(),
                        )
                        .await?
                }
            };
            let filled = batch.messages.len() >= limit;
            if self.cfg.cluster.is_some() {
                let fresh = batch
                    .messages
                    .iter()
                    .filter(|m| !self.in_flight.contains(&m.id))
                    .count();
                // Claimed rows the read did not return (a campaign held
                // here at its rate) are claims this pass does not start.
                unstarted |= batch.claimed > fresh as u64;
                seen_claimed.extend(batch.messages.iter().map(|m| m.id));
            }
            batch
                .messages
                .sort_by_key(|m| (std::cmp::Reverse(m.priority), m.created_at, m.id));
            if let Some(t) = batch.next_wake.map(|t| self.clock.instant_at(t)) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            // The store's wake time may be an expiry this task cannot see (a
            // message not returned as ready): expire when it comes, to be sure.
            if let Some(w) = batch.next_wake {
                self.next_expiry = Some(self.next_expiry.map_or(w, |e| e.min(w)));
            }
            for msg in batch.messages {
                if !seen.insert(msg.id) || self.in_flight.contains(&msg.id) {
                    continue;
                }
                if let Some(&until) = self.held.get(&msg.id) {
                    next = Some(next.map_or(until, |n| n.min(until)));
                    continue;
                }
                if let Some(exp) = msg.expires_at {
                    if exp <= now_utc {
                        expire_now = true;
                        continue;
                    }
                    self.next_expiry = Some(self.next_expiry.map_or(exp, |e| e.min(exp)));
                }
                if self.slots.iter().all(|s| s.busy) {
                    waiting = waiting.max(Some(msg.priority));
                    break;
                }
                if let Some(c) = msg.campaign {
                    if self.campaign_full(c, now) {
                        continue;
                    }
                }
                let (id, priority, campaign) = (msg.id, msg.priority, msg.campaign);
                let placed = self.place(msg, now, tracker, done_tx, cancel).await;
                if self.in_flight.contains(&id) {
                    if let Some(c) = campaign {
                        if let Some((_, starts)) = self.campaign_starts.get_mut(&c) {
                            starts.push_back(now);
                        }
                    }
                } else if matches!(placed, Ok(Some(_))) || self.slots.iter().all(|s| s.busy) {
                    waiting = waiting.max(Some(priority));
                }
                match placed {
                    Ok(Some(t)) => next = Some(next.map_or(t, |n| n.min(t))),
                    Ok(None) => {}
                    // One message the store chokes on must not hold up the others.
                    Err(e) => {
                        warn!(id, error = %e, "cannot dispatch message; holding it back");
                        let until = now + self.cfg.store_retry;
                        self.held.insert(id, until);
                        next = Some(next.map_or(until, |n| n.min(until)));
                    }
                }
            }
            if !filled || limit >= self.cfg.batch || self.slots.iter().all(|s| s.busy) {
                break;
            }
            limit = self.cfg.batch;
        }
        if let Some(top) = waiting {
            for slot in &self.slots {
                if let Some((p, id, flag)) = &slot.job {
                    if *p < top && !flag.swap(true, Ordering::SeqCst) {
                        debug!(modem = %slot.cfg.name, id, waiting = %top, "preempting a lower-priority job");
                        let _ = self.events.send(DispatchEvent::Preempted {
                            id: *id,
                            modem: slot.cfg.name.clone(),
                        });
                    }
                }
            }
        }
        // The jobs below what waits are flagged: the announcement has done
        // its work, unless a newer one came meanwhile.
        self.pending_top.settle(announced);
        // Announce a modem's return when its cooldown ends.
        for slot in &self.slots {
            if slot.out_announced {
                if let Some(t) = slot.health.out_until(now.into_std()).map(Instant::from_std) {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        if expire_now {
            self.next_expiry = Some(now_utc);
            next = Some(now);
        }
        if let Some(e) = self.next_expiry {
            let t = self.clock.instant_at(e);
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(cluster) = &self.cfg.cluster {
            // What this pass claimed and did not start goes back at once
            // (when it started everything it claimed, there is nothing to
            // give back: no store call); work entered elsewhere is looked
            // for again soon.
            unstarted |= seen_claimed.iter().any(|id| !self.in_flight.contains(id));
            if unstarted {
                let keep: Vec<i64> = self.in_flight.iter().copied().collect();
                self.store.release_claims(&cluster.node, keep).await?;
            }
            self.claims_dirty = false;
            let poll = now + CLUSTER_POLL;
            next = Some(next.map_or(poll, |n| n.min(poll)));
        }
        Ok(next)
    }

    /// Modems that could take a message now: up, in rotation, idle.
    fn ready_idle(&self) -> usize {
        let now = Instant::now().into_std();
        self.slots
            .iter()
            .filter(|s| {
                !s.busy && !s.retired && is_ready(&s.status.borrow()) && s.health.available(now)
            })
            .count()
    }

    /// Whether a pass could start anything: a modem is idle and up (one
    /// out of rotation counts: its return is announced by a pass).
    fn can_start(&self) -> bool {
        self.slots
            .iter()
            .any(|s| !s.busy && !s.retired && is_ready(&s.status.borrow()))
    }

    /// Whether intake announced a priority above a running job's: a pass
    /// must look, to flag the jobs it preempts.
    fn preempt_possible(&self) -> bool {
        let top = self.pending_top.top();
        top > 0
            && self
                .slots
                .iter()
                .any(|s| s.job.as_ref().is_some_and(|(p, _, _)| p.rank_u8() < top))
    }

    /// What this host may claim: messages pinned to its SIMs (by IMSI),
    /// asking for its modems or queues.
    fn claim_scope(&self, node: &str) -> crate::store::ClaimScope {
        let live = self.slots.iter().filter(|s| !s.retired);
        let mut scope = crate::store::ClaimScope {
            node: node.to_string(),
            ..Default::default()
        };
        for slot in live {
            if let Some(imsi) = slot.status.borrow().imsi.clone() {
                scope.sims.push(imsi);
            }
            scope.modems.push(slot.cfg.name.clone());
            for q in &slot.cfg.queues {
                if !scope.queues.contains(q) {
                    scope.queues.push(q.clone());
                }
            }
        }
        scope
    }

    /// Opens and closes campaigns by their windows and returns those at
    /// their rate cap; `next` learns the next window change or cap end.
    async fn campaigns(
        &mut self,
        now_utc: DateTime<Utc>,
        now: Instant,
        next: &mut Option<Instant>,
    ) -> Result<Vec<i64>, DispatchError> {
        let live = self.store.campaigns_live().await?;
        let mut held = Vec::new();
        let mut keep = HashSet::new();
        for c in live {
            keep.insert(c.id);
            let window = c
                .window
                .as_ref()
                .and_then(|w| Window::parse(&w.start, &w.end, &w.tz).ok());
            let open = window.is_none_or(|w| w.is_open(now_utc));
            if open != (c.state == CampaignState::Running) {
                info!(campaign = c.id, open, "campaign window");
                self.store.campaign_set_open(c.id, open, now_utc).await?;
            }
            if let Some(w) = window {
                let t = self.clock.instant_at(w.next_change(now_utc));
                *next = Some(next.map_or(t, |n| n.min(t)));
            }
            match c.rate_per_min {
                Some(rate) => {
                    let entry = self.campaign_starts.entry(c.id).or_default();
                    entry.0 = rate;
                    if self.campaign_full(c.id, now) {
                        held.push(c.id);
                    }
                    if let Some(first) = self.campaign_starts.get(&c.id).and_then(|s| s.1.front()) {
                        let t = *first + Duration::from_secs(60);
                        *next = Some(next.map_or(t, |n| n.min(t)));
                    }
                }
                None => {
                    self.campaign_starts.remove(&c.id);
                }
            }
        }
        self.campaign_starts.retain(|id, _| keep.contains(id));
        Ok(held)
    }

    /// Drops starts older than a minute; true when the campaign has a cap
    /// and has used it up.
    fn campaign_full(&mut self, id: i64, now: Instant) -> bool {
        let Some((rate, starts)) = self.campaign_starts.get_mut(&id) else {
            return false;
        };
        while starts
            .front()
            .is_some_and(|t| *t + Duration::from_secs(60) <= now)
        {
            starts.pop_front();
        }
        starts.len() >= *rate as usize
    }

    /// Decides one message: start it, leave it waiting (returning when to
    /// look again, if time-bound), or fail it when nothing can ever send it.
    async fn place(
        &mut self,
        msg: ReadyMessage,
        now: Instant,
        tracker: &TaskTracker,
        done_tx: &mpsc::UnboundedSender<Done>,
        cancel: &CancellationToken,
    ) -> Result<Option<Instant>, DispatchError> {
        let now_utc = self.clock.utc();
        let resend = self.cfg.retry.resend_uncertain;
        // Parts left uncertain by a crash: resend or give up, per policy.
        if !resend {
            if let Some(p) = msg.parts.iter().find(|p| p.state == PartState::Uncertain) {
                let error = "uncertain: AT+CMGS was in flight at a crash; not resent (resend_uncertain = false)";
                self.fail(msg.id, p.seq, "", error, Disposition::Permanent, now_utc)
                    .await?;
                return Ok(None);
            }
        }
        let sendable: Vec<&PartRow> = msg
            .parts
            .iter()
            .filter(|p| {
                p.state == PartState::Pending || (resend && p.state == PartState::Uncertain)
            })
            .collect();
        let progressed = msg.parts.iter().any(|p| p.state.progressed());
        if sendable.is_empty() && !msg.parts.is_empty() {
            return Ok(None);
        }
        let pinned = msg
            .assigned_modem
            .clone()
            .filter(|a| progressed || self.retry_here_on(a, &msg));
        let sticky = if self.cfg.policy.sticky && pinned.is_none() {
            self.store.last_modem_for(&msg.to).await?
        } else {
            None
        };
        let encoding = self.encoding.get();
        let needs_udh = encoding.needs_udh(&msg.text, msg.parts.len(), &msg.options);
        let routing = Routing {
            explicit_modem: msg.modem.clone(),
            queue: msg.queue.clone(),
            destination: msg.to.clone(),
            pinned: pinned.clone(),
            tried: msg.tried_modems.clone(),
            sticky,
            needs_udh,
        };

        let mut usages = Vec::with_capacity(self.slots.len());
        for i in 0..self.slots.len() {
            let rates = self.rates_for(i).await?;
            let mut w = lock(&rates);
            let caps = self.slots.get(i).map(|s| s.cfg.caps).unwrap_or_default();
            usages.push((w.usage(now.into_std()), w.next_free(&caps, now.into_std())));
        }
        let choice = {
            let cands: Vec<Candidate> = self
                .slots
                .iter()
                .zip(&usages)
                .map(|(s, (usage, free))| {
                    let status = s.status.borrow();
                    Candidate {
                        name: &s.cfg.name,
                        ready: !s.retired && is_ready(&status),
                        text_mode: status.text_mode,
                        busy: s.busy,
                        weight: s.cfg.weight,
                        queues: &s.cfg.queues,
                        caps: s.cfg.caps,
                        usage: *usage,
                        cap_free_at: *free,
                        load: usage.last_hour.saturating_add(u32::from(s.busy)),
                        health: &s.health,
                    }
                })
                .collect();
            policy::choose(
                &cands,
                &routing,
                &self.cfg.policy,
                &self.cfg.routes,
                &mut self.rr,
                now.into_std(),
            )
        };
        let i = match choice {
            Choice::Use(i) => i,
            Choice::Wait { until } => return Ok(until.map(Instant::from_std)),
            Choice::NoRoute(reason) => {
                let seq = sendable.first().map_or(1, |p| p.seq);
                warn!(id = msg.id, %reason, "no modem can send this message");
                self.fail(msg.id, seq, "", &reason, Disposition::Permanent, now_utc)
                    .await?;
                return Ok(None);
            }
        };
        let Some(slot) = self.slots.get(i) else {
            return Ok(None);
        };
        let modem = slot.cfg.name.clone();
        let sim = slot.status.borrow().imsi.clone();
        // Every modem gets the SUBMIT; one in text mode (only messages
        // without a UDH get there) turns it into its text-mode commands.
        let request = |pdu: &[u8], tpdu_len: u32| SendRequest::Pdu {
            pdu: pdu.to_vec(),
            tpdu_len: tpdu_len as usize,
        };
        let reuse = progressed
            || (msg.assigned_modem.as_deref() == Some(modem.as_str())
                && sendable
                    .iter()
                    .all(|p| p.pdu.is_some() && p.tpdu_len.is_some()));
        let mut assign = None;
        let parts: Vec<JobPart> = if reuse {
            let mut parts = Vec::new();
            for p in &sendable {
                match (&p.pdu, p.tpdu_len) {
                    (Some(pdu), Some(len)) => parts.push(JobPart {
                        seq: p.seq,
                        req: request(pdu, len),
                        attempts: p.attempts,
                    }),
                    _ => {
                        let error = format!("part {} has no stored PDU", p.seq);
                        self.fail(
                            msg.id,
                            p.seq,
                            &modem,
                            &error,
                            Disposition::Permanent,
                            now_utc,
                        )
                        .await?;
                        return Ok(None);
                    }
                }
            }
            parts
        } else {
            // Only a long text costs the store write that hands out a
            // concatenation reference; the count is the one stored at intake.
            let concat_ref = if msg.parts.len() > 1 {
                let key = self.rate_key(i);
                self.store.next_concat_ref(&key, &msg.to).await?
            } else {
                0
            };
            let encoded = match encoding.encode(&msg, concat_ref) {
                Ok(e) => e,
                Err(e) => {
                    let error = format!("cannot encode: {e}");
                    let seq = sendable.first().map_or(1, |p| p.seq);
                    self.fail(msg.id, seq, &modem, &error, Disposition::Permanent, now_utc)
                        .await?;
                    return Ok(None);
                }
            };
            let attempts: HashMap<u32, u32> =
                msg.parts.iter().map(|p| (p.seq, p.attempts)).collect();
            let parts = encoded
                .iter()
                .map(|e| JobPart {
                    seq: e.seq,
                    req: request(&e.pdu, e.tpdu_len),
                    attempts: attempts.get(&e.seq).copied().unwrap_or(0),
                })
                .collect();
            assign = Some((sim.clone(), encoded));
            parts
        };

        let rates = self.rates_for(i).await?;
        let Some(slot) = self.slots.get_mut(i) else {
            return Ok(None);
        };
        slot.busy = true;
        let preempt = Arc::new(AtomicBool::new(false));
        slot.job = Some((msg.priority, msg.id, preempt.clone()));
        let (port, caps) = (slot.cfg.modem.clone(), slot.cfg.caps);
        self.in_flight.insert(msg.id);
        debug!(id = msg.id, modem = %modem, parts = parts.len(), "dispatching");
        if assign.is_none() {
            self.emit(DispatchEvent::Assigned {
                id: msg.id,
                modem: modem.clone(),
            });
        }
        let ctx = JobCtx {
            modem_index: i,
            modem: modem.clone(),
            port,
            caps,
            rates,
            store: self.store.clone(),
            events: self.events.clone(),
            retry: self.cfg.retry,
            pending_top: self.pending_top.clone(),
            priority: msg.priority,
            clock: self.clock,
            cancel: cancel.clone(),
            done: done_tx.clone(),
            cluster: self.cfg.cluster.clone(),
        };
        let job = Job {
            id: msg.id,
            to: msg.to,
            pinned: progressed,
            preempt,
            assign,
            parts,
        };
        let span = tracing::info_span!("send", id = job.id, modem = %modem);
        tracker.spawn(ctx.run(job).instrument(span));
        Ok(None)
    }

    /// After a `RetryAt` the message goes back to the SIM it failed on while
    /// that modem is up and in rotation (a `Failover` puts the modem in
    /// `tried` instead).
    fn retry_here_on(&self, assigned: &str, msg: &ReadyMessage) -> bool {
        let now = Instant::now().into_std();
        msg.parts.iter().any(|p| p.attempts > 0)
            && !msg.tried_modems.iter().any(|t| t == assigned)
            && self.slots.iter().any(|s| {
                s.cfg.name == assigned && is_ready(&s.status.borrow()) && s.health.available(now)
            })
    }

    async fn fail(
        &self,
        id: i64,
        seq: u32,
        modem: &str,
        error: &str,
        disposition: Disposition,
        now: DateTime<Utc>,
    ) -> Result<(), DispatchError> {
        let state = self
            .store
            .part_failed(id, seq, error, disposition, now)
            .await?;
        self.emit(DispatchEvent::PartFailed {
            id,
            seq,
            modem: modem.to_string(),
            error: error.to_string(),
            disposition,
        });
        self.emit(DispatchEvent::State { id, state });
        Ok(())
    }
}

/// Everything one send job needs, owned, so it runs in its own task.
struct JobCtx {
    modem_index: usize,
    modem: String,
    port: ModemHandle,
    caps: Caps,
    rates: Arc<Mutex<RateWindows>>,
    store: Store,
    events: broadcast::Sender<DispatchEvent>,
    retry: RetryPolicy,
    /// See [`Pending`]; with `priority`, the job's own.
    pending_top: Arc<Pending>,
    priority: Priority,
    clock: Clock,
    cancel: CancellationToken,
    done: mpsc::UnboundedSender<Done>,
    /// In a cluster: each part goes out only while this host's claim on
    /// the message holds (`Store::part_sending_claimed`).
    cluster: Option<ClusterDispatch>,
}

impl JobCtx {
    /// Sends the parts in order through this one modem; stops at the first
    /// failure (the store holds the rest) or at shutdown between parts.
    async fn run(self, job: Job) {
        let mut outcomes = Vec::new();
        let mut store_trouble = false;
        let mut any_sent = job.pinned;
        // The encoded parts are recorded with the first part's `sending`
        // (one commit), or alone when no part goes out.
        let mut assign = job.assign;
        for (k, JobPart { seq, req, attempts }) in job.parts.into_iter().enumerate() {
            let more_urgent = self.pending_top.top() > self.priority.rank_u8();
            if more_urgent || (k > 0 && job.preempt.load(Ordering::SeqCst)) {
                debug!(
                    seq,
                    "a more urgent message waits; the rest of this one later"
                );
                break;
            }
            if self.cancel.is_cancelled() || !self.wait_for_caps().await {
                break;
            }
            let now = self.clock.utc();
            let claim = self.cluster.as_ref().map(|c| (c.node.as_str(), c.lease));
            let marked = match (assign.take(), claim) {
                (Some((sim, rows)), claim) => {
                    let r = self
                        .store
                        .assign_sending(job.id, &self.modem, sim.as_deref(), rows, seq, claim, now)
                        .await;
                    if r.is_ok() {
                        let _ = self.events.send(DispatchEvent::Assigned {
                            id: job.id,
                            modem: self.modem.clone(),
                        });
                    }
                    r
                }
                (None, None) => self.store.part_sending(job.id, seq, &self.modem, now).await,
                (None, Some((node, lease))) => {
                    self.store
                        .part_sending_claimed(job.id, seq, &self.modem, node, lease, now)
                        .await
                }
            };
            if let Err(e) = marked {
                warn!(error = %e, seq, "cannot mark part sending; not sent");
                store_trouble = true;
                break;
            }
            match self.port.send(req).await {
                Ok(mr) => {
                    outcomes.push(Ok(()));
                    any_sent = true;
                    let state = self
                        .store
                        .part_sent(job.id, seq, mr, self.clock.utc())
                        .await;
                    let _ = self.events.send(DispatchEvent::PartSent {
                        id: job.id,
                        seq,
                        modem: self.modem.clone(),
                        mr,
                    });
                    match state {
                        Ok(state) => {
                            let _ = self.events.send(DispatchEvent::State { id: job.id, state });
                        }
                        Err(e) => {
                            warn!(error = %e, seq, "part sent but not recorded");
                            store_trouble = true;
                            break;
                        }
                    }
                }
                Err(err) => {
                    outcomes.push(Err(err.class));
                    let now = self.clock.utc();
                    let seed = (job.id as u64).rotate_left(16) ^ u64::from(seq);
                    let mut disposition = classify(
                        err.class,
                        attempts.saturating_add(1),
                        &self.retry,
                        seed,
                        now,
                    );
                    // Parts already left through this SIM: the rest must follow.
                    if any_sent {
                        if let Disposition::Failover(t) = disposition {
                            disposition = Disposition::RetryAt(t);
                        }
                    }
                    let error = err.to_string();
                    warn!(seq, to = %job.to, %error, ?disposition, "send failed");
                    let state = self
                        .store
                        .part_failed(job.id, seq, &error, disposition, now)
                        .await;
                    let _ = self.events.send(DispatchEvent::PartFailed {
                        id: job.id,
                        seq,
                        modem: self.modem.clone(),
                        error,
                        disposition,
                    });
                    match state {
                        Ok(state) => {
                            let _ = self.events.send(DispatchEvent::State { id: job.id, state });
                        }
                        Err(e) => {
                            warn!(error = %e, seq, "failure not recorded");
                            store_trouble = true;
                        }
                    }
                    break;
                }
            }
        }
        if let Some((sim, rows)) = assign {
            // No part went out (preempted, shut down): the encoding is kept.
            match self
                .store
                .assign(job.id, &self.modem, sim.as_deref(), rows)
                .await
            {
                Ok(()) => {
                    let _ = self.events.send(DispatchEvent::Assigned {
                        id: job.id,
                        modem: self.modem.clone(),
                    });
                }
                Err(e) => {
                    warn!(error = %e, "cannot record the encoded parts");
                    store_trouble = true;
                }
            }
        }
        let _ = self.done.send(Done {
            modem: self.modem_index,
            id: job.id,
            outcomes,
            store_trouble,
        });
    }

    /// Waits until the SIM's caps allow one more part, then counts it.
    /// False when shutdown came first or a more urgent message was
    /// announced meanwhile.
    async fn wait_for_caps(&self) -> bool {
        loop {
            let now = Instant::now();
            let free = {
                let mut w = lock(&self.rates);
                match w.next_free(&self.caps, now.into_std()) {
                    None => {
                        // The caps may have held it a while: look again
                        // before taking a slot of the cap.
                        if self.pending_top.top() > self.priority.rank_u8() {
                            debug!("a more urgent message came while waiting for the caps");
                            return false;
                        }
                        w.record(now.into_std());
                        return true;
                    }
                    Some(t) => Instant::from_std(t),
                }
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return false,
                _ = tokio::time::sleep_until(free) => {}
            }
        }
    }
}
