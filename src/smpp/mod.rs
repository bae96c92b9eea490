//! The SMPP face: an SMPP 3.4 server that makes the modem pool an SMSC for
//! ESMEs (Kannel, Jasmin, smpplib, …). It owns the listener and the cap on
//! sessions, the table of live sessions and per-account counters (for
//! `status`), and one durable event consumer per account (`smpp:<system_id>`)
//! that turns receipts and received SMS into `deliver_sm` for that account's
//! receiver/transceiver binds. The per-connection protocol is in
//! [`session`]; the pure parts (times, codings, concatenation, receipt text)
//! in [`text`].
//!
//! It holds no business logic: a submit is one `Gateway::send`, and what goes
//! back to the ESME is read from the event log. PDUs are encoded and decoded
//! with `rusmpp`; the framing (length checks) is ours, so garbage gets a
//! `generic_nack` before the session closes.

pub mod session;
pub mod text;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::gateway::{lock, Gateway};
use crate::store::{Event, EventData};

/// One `deliver_sm` waiting for a receiver: the PDU and who to tell once
/// the ESME answered it.
pub struct Outbound {
    pub pdu: rusmpp::pdus::DeliverSm,
    pub acked: oneshot::Sender<()>,
}

/// A live session as `status` shows it.
struct SessionEntry {
    system_id: Option<String>,
    bind: &'static str,
    peer: SocketAddr,
    since: DateTime<Utc>,
    /// Receiver and transceiver binds take `deliver_sm` here.
    deliver: Option<mpsc::Sender<Outbound>>,
    cancel: CancellationToken,
}

/// Counters per account (for `status` and later metrics).
#[derive(Default)]
pub struct Counters {
    pub submitted: AtomicU64,
    pub refused: AtomicU64,
    pub throttled: AtomicU64,
    pub receipts: AtomicU64,
    pub mo: AtomicU64,
}

/// The server's shared state: sessions, per-account counters, throttles.
pub struct Smpp {
    pub gw: Arc<Gateway>,
    next_id: AtomicU64,
    sessions: Mutex<BTreeMap<u64, SessionEntry>>,
    counters: Mutex<HashMap<String, Arc<Counters>>>,
    /// Per account: the current second and how many submits it took.
    tps: Mutex<HashMap<String, (Instant, u32)>>,
    /// Bumped whenever a receiver bind comes or goes.
    receivers: watch::Sender<u64>,
}

impl Smpp {
    pub fn new(gw: Arc<Gateway>) -> Arc<Smpp> {
        Arc::new(Smpp {
            gw,
            next_id: AtomicU64::new(1),
            sessions: Mutex::new(BTreeMap::new()),
            counters: Mutex::new(HashMap::new()),
            tps: Mutex::new(HashMap::new()),
            receivers: watch::channel(0).0,
        })
    }

    pub fn counters(&self, system_id: &str) -> Arc<Counters> {
        lock(&self.counters)
            .entry(system_id.to_string())
            .or_default()
            .clone()
    }

    /// Takes one submit from `max_tps` of the account; false when the
    /// account is past it this second.
    pub fn take_tps(&self, system_id: &str, max_tps: u32, now: Instant) -> bool {
        if max_tps == 0 {
            return true;
        }
        let mut t = lock(&self.tps);
        let e = t.entry(system_id.to_string()).or_insert((now, 0));
        if now.saturating_duration_since(e.0) >= Duration::from_secs(1) {
            *e = (now, 0);
        }
        if e.1 >= max_tps {
            return false;
        }
        e.1 += 1;
        true
    }

    fn register(&self, peer: SocketAddr, cancel: CancellationToken) -> Option<u64> {
        let max = self.gw.config().smpp.max_sessions;
        let mut s = lock(&self.sessions);
        if s.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        s.insert(
            id,
            SessionEntry {
                system_id: None,
                bind: "open",
                peer,
                since: Utc::now(),
                deliver: None,
                cancel,
            },
        );
        Some(id)
    }

    /// Records a session's bind; receivers get `deliver_sm` from now on.
    pub fn bound(
        &self,
        id: u64,
        system_id: &str,
        bind: &'static str,
        deliver: Option<mpsc::Sender<Outbound>>,
    ) {
        let receiver = deliver.is_some();
        if let Some(e) = lock(&self.sessions).get_mut(&id) {
            e.system_id = Some(system_id.to_string());
            e.bind = bind;
            e.deliver = deliver;
        }
        if receiver {
            self.receivers.send_modify(|n| *n += 1);
        }
    }

    fn unregister(&self, id: u64) {
        let was = lock(&self.sessions).remove(&id);
        if was.is_some_and(|e| e.deliver.is_some()) {
            self.receivers.send_modify(|n| *n += 1);
        }
    }

    /// The receiver binds of an account, least recently used first.
    fn receivers_of(&self, system_id: &str) -> Vec<mpsc::Sender<Outbound>> {
        lock(&self.sessions)
            .values()
            .filter(|e| e.system_id.as_deref() == Some(system_id))
            .filter_map(|e| e.deliver.clone())
            .collect()
    }

    /// Unbinds every session of an account that is gone (or changed).
    fn drop_sessions_not_in(&self, keep: &dyn Fn(&str) -> bool) {
        for e in lock(&self.sessions).values() {
            if let Some(sid) = &e.system_id {
                if !keep(sid) {
                    e.cancel.cancel();
                }
            }
        }
    }

    /// Every session and account, for `status`.
    pub fn status(&self) -> Value {
        let sessions: Vec<Value> = lock(&self.sessions)
            .iter()
            .map(|(id, e)| {
                json!({
                    "id": id,
                    "system_id": e.system_id,
                    "bind": e.bind,
                    "peer": e.peer.to_string(),
                    "since": e.since.to_rfc3339(),
                })
            })
            .collect();
        let cfg = self.gw.config();
        let accounts: Vec<Value> = cfg
            .smpp
            .accounts
            .iter()
            .map(|a| {
                let c = self.counters(&a.system_id);
                let n = |x: &AtomicU64| x.load(Ordering::Relaxed);
                json!({
                    "system_id": a.system_id,
                    "max_tps": a.max_tps,
                    "receive_mo": a.receive_mo,
                    "submitted": n(&c.submitted),
                    "refused": n(&c.refused),
                    "throttled": n(&c.throttled),
                    "receipts_delivered": n(&c.receipts),
                    "mo_delivered": n(&c.mo),
                })
            })
            .collect();
        json!({"listen": cfg.smpp.listen, "sessions": sessions, "accounts": accounts})
    }
}

impl Smpp {
    /// The per-account families for `/metrics` (registered with
    /// `Metrics::add_face`): bound sessions, submits by result, receipts
    /// and MO delivered. The label is the account's `system_id`.
    pub fn encode_metrics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let cfg = self.gw.config();
        let accounts: Vec<String> = cfg
            .smpp
            .accounts
            .iter()
            .map(|a| a.system_id.clone())
            .collect();
        let mut bound: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        for e in lock(&self.sessions).values() {
            if let Some(sid) = &e.system_id {
                *bound.entry((sid.clone(), e.bind)).or_default() += 1;
            }
        }
        let g = ConstGauge::new(0i64);
        let mut f = encoder.encode_descriptor(
            "smpp_sessions",
            "Bound SMPP sessions, by account and bind type.",
            None,
            g.metric_type(),
        )?;
        for ((sid, bind), n) in &bound {
            let l = [("account", sid.clone()), ("bind", bind.to_string())];
            ConstGauge::new(*n).encode(f.encode_family(&l)?)?;
        }
        let n = |x: &AtomicU64| x.load(Ordering::Relaxed);
        let counters: Vec<(String, Arc<Counters>)> = accounts
            .iter()
            .map(|a| (a.clone(), self.counters(a)))
            .collect();
        let c = ConstCounter::new(0u64);
        let mut f = encoder.encode_descriptor(
            "smpp_submits",
            "submit_sm by account and result: accepted, refused (an error status), throttled (past max_tps).",
            None,
            c.metric_type(),
        )?;
        for (sid, k) in &counters {
            for (result, v) in [
                ("accepted", n(&k.submitted)),
                ("refused", n(&k.refused)),
                ("throttled", n(&k.throttled)),
            ] {
                let l = [("account", sid.clone()), ("result", result.to_string())];
                ConstCounter::new(v).encode(f.encode_family(&l)?)?;
            }
        }
        for (name, help, get) in [
            (
                "smpp_receipts_delivered",
                "Delivery receipts an ESME acknowledged (deliver_sm_resp), by account.",
                (|k: &Counters| &k.receipts) as fn(&Counters) -> &AtomicU64,
            ),
            (
                "smpp_mo_delivered",
                "Received SMS an ESME acknowledged (deliver_sm_resp), by account.",
                |k: &Counters| &k.mo,
            ),
        ] {
            let mut f = encoder.encode_descriptor(name, help, None, c.metric_type())?;
            for (sid, k) in &counters {
                let l = [("account", sid.clone())];
                ConstCounter::new(n(get(k))).encode(f.encode_family(&l)?)?;
            }
        }
        Ok(())
    }
}

/// The `source` our messages from an account carry.
pub fn source_of(system_id: &str) -> String {
    format!("smpp:{system_id}")
}

/// Binds the listener (when `[smpp] listen` is set). Done before READY, so
/// a port in use is a start-up error.
pub async fn bind(listen: &str) -> std::io::Result<Option<TcpListener>> {
    if listen.is_empty() {
        return Ok(None);
    }
    TcpListener::bind(listen).await.map(Some)
}

/// Runs the server until `cancel`: accepts sessions (each in its task on
/// `tracker`), and keeps one delivery consumer per account in step with the
/// configuration (a reload adds and removes accounts; a removed account's
/// sessions are unbound).
pub async fn serve(
    smpp: Arc<Smpp>,
    listener: TcpListener,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    if let Ok(a) = listener.local_addr() {
        info!(listen = %a, "SMPP server listening");
    }
    let mut consumers: Consumers = HashMap::new();
    // The consumers' cursors exist before the first session can submit (a
    // new consumer starts at the end of the log).
    for a in &smpp.gw.config().smpp.accounts {
        let name = source_of(&a.system_id);
        if let Err(e) = smpp.gw.store.cursor(&name, Utc::now()).await {
            warn!(consumer = %name, "creating the cursor: {e}");
        }
    }
    reconcile(&smpp, &mut consumers, &cancel, &tracker);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                reconcile(&smpp, &mut consumers, &cancel, &tracker);
            }
            conn = listener.accept() => match conn {
                Ok((stream, peer)) => {
                    let token = cancel.child_token();
                    match smpp.register(peer, token.clone()) {
                        Some(id) => {
                            let s = smpp.clone();
                            tracker.spawn(async move {
                                session::run(s.clone(), id, stream, peer, token).await;
                                s.unregister(id);
                            });
                        }
                        None => {
                            warn!(%peer, "SMPP: too many sessions; closing the new one");
                            drop(stream);
                        }
                    }
                }
                Err(e) => {
                    warn!("SMPP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    for (_, (c, _)) in consumers {
        c.cancel();
    }
}

type Consumers = HashMap<String, (CancellationToken, crate::config::SmppAccount)>;

/// Brings the delivery consumers and sessions in step with the accounts
/// configured now: a new account gets its consumer, a removed (or changed)
/// one loses it, and a removed account's sessions are unbound.
fn reconcile(
    smpp: &Arc<Smpp>,
    consumers: &mut Consumers,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) {
    let cfg = smpp.gw.config();
    let accounts = &cfg.smpp.accounts;
    consumers.retain(|sid, (c, a)| {
        let keep = accounts.iter().any(|n| n == a);
        if !keep {
            c.cancel();
            info!(system_id = %sid, "SMPP account removed or changed");
        }
        keep
    });
    smpp.drop_sessions_not_in(&|sid| accounts.iter().any(|a| a.system_id == sid));
    for a in accounts {
        if !consumers.contains_key(&a.system_id) {
            let c = cancel.child_token();
            tracker.spawn(deliveries(smpp.clone(), a.clone(), c.clone()));
            consumers.insert(a.system_id.clone(), (c, a.clone()));
        }
    }
}

/// How many `deliver_sm` one account's consumer has in flight at most.
const DELIVERY_WINDOW: usize = 64;

/// One account's durable consumer: every receipt for its messages and (with
/// `receive_mo`) every received SMS becomes a `deliver_sm`, waits for a
/// receiver bind, and counts as done only after its `deliver_sm_resp`; the
/// stored cursor passes an event only when it and all before it are done,
/// so a crash or a dropped session sends it again (at least once).
async fn deliveries(
    smpp: Arc<Smpp>,
    account: crate::config::SmppAccount,
    cancel: CancellationToken,
) {
    let store = smpp.gw.store.clone();
    let name = source_of(&account.system_id);
    let start = loop {
        match store.cursor(&name, Utc::now()).await {
            Ok(p) => break p,
            Err(e) => {
                warn!(consumer = %name, "reading the cursor: {e}");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let kinds: Vec<String> = ["delivered", "failed", "expired", "cancelled", "received"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut reader = crate::events::Reader::new(store.clone(), start, kinds.clone());
    // Events in order; each with whether its delivery finished.
    let mut open: VecDeque<(i64, Arc<std::sync::atomic::AtomicBool>)> = VecDeque::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut saved = start;
    let mut backlog: VecDeque<Event> = VecDeque::new();
    loop {
        while tasks.len() < DELIVERY_WINDOW {
            let Some(ev) = backlog.pop_front() else { break };
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            open.push_back((ev.event_id, done.clone()));
            match outbound_for(&smpp, &account, &ev) {
                Some((pdu, counter)) => {
                    let s = smpp.clone();
                    let sid = account.system_id.clone();
                    tasks.spawn(async move {
                        deliver(&s, &sid, pdu).await;
                        counter(&s.counters(&sid));
                        done.store(true, Ordering::Release);
                    });
                }
                None => done.store(true, Ordering::Release),
            }
        }
        let mut safe = saved;
        while let Some((id, d)) = open.front() {
            if !d.load(Ordering::Acquire) {
                break;
            }
            safe = *id;
            open.pop_front();
        }
        if open.is_empty() && backlog.is_empty() {
            safe = safe.max(reader.position());
        }
        if safe > saved {
            match store.set_cursor(&name, safe, Utc::now()).await {
                Ok(()) => saved = safe,
                Err(e) => warn!(consumer = %name, "saving the cursor: {e}"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            batch = reader.next(), if backlog.len() < crate::events::BATCH => match batch {
                None => break,
                Some(Ok(events)) => backlog.extend(events),
                Some(Err(e)) => {
                    warn!(consumer = %name, "reading events: {e}");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let from = backlog.back().map_or(reader.position(), |e| e.event_id);
                    reader = crate::events::Reader::new(store.clone(), from, kinds.clone());
                }
            },
        }
    }
    // What is not acknowledged stays after the cursor: sent again next time.
    tasks.abort_all();
}

type CountFn = fn(&Counters);

/// The `deliver_sm` an event stands for, for this account, if any.
fn outbound_for(
    _smpp: &Smpp,
    account: &crate::config::SmppAccount,
    ev: &Event,
) -> Option<(rusmpp::pdus::DeliverSm, CountFn)> {
    match &ev.data {
        EventData::Received(m) if account.receive_mo => Some((
            session::mo_pdu(&m.from, &m.text),
            (|c: &Counters| {
                c.mo.fetch_add(1, Ordering::Relaxed);
            }) as CountFn,
        )),
        data => {
            let m = data.message()?;
            let state = text::ReceiptState::for_event(ev.kind())?;
            if m.source != source_of(&account.system_id) || !m.report {
                return None;
            }
            let submitted = DateTime::parse_from_rfc3339(&m.created_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(ev.at);
            Some((
                session::receipt_pdu(m, state, submitted, ev.at),
                (|c: &Counters| {
                    c.receipts.fetch_add(1, Ordering::Relaxed);
                }) as CountFn,
            ))
        }
    }
}

/// Hands one `deliver_sm` to a receiver bind of the account and waits for
/// its `deliver_sm_resp`; a session that dies first means another try (on
/// the next bind, if none is left).
async fn deliver(smpp: &Smpp, system_id: &str, pdu: rusmpp::pdus::DeliverSm) {
    let mut changed = smpp.receivers.subscribe();
    let mut turn = 0usize;
    loop {
        changed.borrow_and_update();
        let rx = smpp.receivers_of(system_id);
        if rx.is_empty() {
            if changed.changed().await.is_err() {
                // The server is gone: never done (the task is aborted).
                std::future::pending::<()>().await;
            }
            continue;
        }
        turn = turn.wrapping_add(1);
        let Some(tx) = rx.get(turn % rx.len()) else {
            continue;
        };
        let (acked, wait) = oneshot::channel();
        let out = Outbound {
            pdu: pdu.clone(),
            acked,
        };
        if tx.send(out).await.is_err() {
            continue;
        }
        if wait.await.is_ok() {
            return;
        }
    }
}
