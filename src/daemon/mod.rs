//! The daemon: wires the store, the spool watcher, the control socket, the
//! modem actors, the dispatcher and the hooks together, and owns start-up,
//! reload (SIGHUP / `reload`) and shutdown (SIGTERM / SIGINT).
//!
//! Start-up order: configuration, store (recovering parts left `sending`),
//! control socket, spool watcher, modems, dispatcher; then READY. Modems come
//! up on their own schedule: a missing or broken modem never blocks start-up
//! or the others. Shutdown: stop taking work, let sends in flight finish
//! (bounded by their own timeouts), stop the modems, flush the store.

mod intake;
mod receive;
mod requests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

pub use crate::codec::MessageOptions;

use crate::config::{Config, ModemConfig};
use crate::control::server::{self, Call, Event, ServerOptions};
use crate::dispatch::{
    self, Caps, DispatchEvent, DispatchHandle, Dispatcher, EncoderSettings, Encoding, HealthConfig,
    ModemSlot, ModemUpdates, Policy, RetryPolicy, Routes, Strategy,
};
use crate::hooks::{HookEvent, HookOptions, Hooks};
use crate::modem::{self, DriverOptions, ModemEvent, ModemHandle, ModemState, ModemStatus};
use crate::notify;
use crate::spool::Spool;
use crate::store::Store;

/// Why the daemon could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Control(#[from] crate::control::server::ControlError),
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("{0}")]
    Io(String),
}

impl DaemonError {
    /// 2 for a configuration problem (a `[control] group` that does not
    /// exist included), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            DaemonError::Config(_)
            | DaemonError::Control(crate::control::server::ControlError::NoSuchGroup(_)) => 2,
            _ => 1,
        }
    }
}

/// One running modem actor.
struct ModemEntry {
    handle: ModemHandle,
    cancel: CancellationToken,
    cfg: ModemConfig,
}

/// What the request handlers, the intake and the receive path share.
pub(crate) struct Shared {
    pub store: Store,
    pub cfg: Mutex<Arc<Config>>,
    modems: Mutex<BTreeMap<String, ModemEntry>>,
    pub dispatch: DispatchHandle,
    pub events: broadcast::Sender<Event>,
    hooks: Mutex<Hooks>,
    hooks_cancel: CancellationToken,
    tracker: TaskTracker,
    /// The encoder settings, shared with the dispatcher; a reload replaces them.
    pub encoding: Encoding,
    pub started: Instant,
    reload_tx: mpsc::Sender<oneshot::Sender<Result<Value, String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        lock(&self.cfg).clone()
    }

    pub fn modem(&self, name: &str) -> Option<ModemHandle> {
        lock(&self.modems).get(name).map(|m| m.handle.clone())
    }

    pub fn modem_statuses(&self) -> Vec<ModemStatus> {
        lock(&self.modems)
            .values()
            .map(|m| m.handle.status().borrow().clone())
            .collect()
    }

    /// The SIM key for a modem: its IMSI when known, else its name (the
    /// store and the dispatcher count per SIM the same way).
    pub fn sim_key(&self, modem: &str) -> String {
        self.modem(modem)
            .and_then(|h| h.status().borrow().imsi.clone())
            .unwrap_or_else(|| modem.to_string())
    }

    /// Emits an event to `watch` clients and to its hook.
    pub fn emit(&self, hook: Option<HookEvent>, event: Value) {
        if let Some(h) = hook {
            lock(&self.hooks).fire(h, event.clone());
        }
        let _ = self.events.send(Arc::new(event));
    }

    /// A message reached `sent`, `delivered` or `failed` (decided by the
    /// dispatcher or by a status report): one event shape for `watch` and
    /// hooks (`to`, `modem`, `text`, `error`, `parts`), and the smstools3 copy.
    pub async fn message_state(&self, id: i64, state: crate::store::MessageState) {
        use crate::store::MessageState;
        let hook = match state {
            MessageState::Sent => HookEvent::Sent,
            MessageState::Failed => HookEvent::Failed,
            MessageState::Delivered => HookEvent::Delivered,
            _ => return,
        };
        let view = self.store.show(id).await.ok().flatten();
        let mut event = json!({"type": state.as_str(), "id": id});
        if let Some(v) = &view {
            event["to"] = json!(v.to);
            event["modem"] = json!(v.modem);
            event["text"] = json!(v.text);
            event["error"] = json!(v.error);
            event["parts"] = json!(v.parts.len());
        }
        self.emit(Some(hook), event);
        if let Some(v) = view {
            intake::write_copy(self, &v, state);
        }
    }

    /// Asks the main loop to reload the configuration; answers with what changed.
    pub async fn reload(&self) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.reload_tx
            .send(tx)
            .await
            .map_err(|_| "the daemon is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the daemon is shutting down".to_string())?
    }
}

/// Builds the modem actor's options from its configuration section.
pub fn driver_options(m: &ModemConfig, cfg: &Config) -> DriverOptions {
    let mut o = DriverOptions::new(m.name.clone(), m.device.clone());
    o.baud = m.baud;
    o.pin = m.pin.clone();
    o.mode = m.mode;
    o.cnmi = m.cnmi.clone();
    o.storage = m.storage.clone();
    o.report_storage = m.report_storage.clone();
    o.smsc = m.smsc.clone();
    o.init = m.init.clone();
    o.quirks = m.quirks;
    o.send_timeout = m.send_timeout;
    o.health_interval = m.health_interval;
    o.sweep_interval = cfg.receive.sweep_interval;
    o.radio_reset = m.radio_reset;
    o
}

fn slot(m: &ModemConfig, handle: &ModemHandle) -> ModemSlot {
    ModemSlot {
        name: m.name.clone(),
        modem: handle.clone(),
        weight: m.weight,
        queues: m.queues.clone(),
        caps: Caps::from_counts(m.per_minute, m.per_hour, m.per_day),
    }
}

fn dispatch_config(cfg: &Config) -> dispatch::DispatchConfig {
    let d = &cfg.dispatch;
    let strategy = match d.policy {
        crate::config::Policy::LeastLoaded => Strategy::LeastLoaded,
        crate::config::Policy::RoundRobin => Strategy::RoundRobin,
        crate::config::Policy::Weighted => Strategy::Weighted,
    };
    dispatch::DispatchConfig {
        policy: Policy {
            strategy,
            sticky: d.sticky,
        },
        routes: Routes::new(
            cfg.routes
                .iter()
                .map(|r| (r.prefix.clone(), r.modems.clone())),
        ),
        retry: RetryPolicy {
            base: d.retry_base,
            max: d.retry_max,
            max_attempts: d.max_attempts,
            resend_uncertain: cfg.store.resend_uncertain,
            ..RetryPolicy::default()
        },
        health: HealthConfig {
            failure_threshold: d.failure_threshold,
            cooldown: d.cooldown,
            ..HealthConfig::default()
        },
        ..dispatch::DispatchConfig::default()
    }
}

fn encoder(cfg: &Config) -> EncoderSettings {
    EncoderSettings {
        default_validity: cfg.dispatch.validity,
        ref16: cfg.dispatch.concat_ref16,
        languages: cfg.dispatch.languages.clone(),
        smsc: None,
    }
}

fn hook_options(cfg: &Config) -> HookOptions {
    let h = &cfg.hooks;
    let pairs = [
        (HookEvent::Received, &h.received),
        (HookEvent::Sent, &h.sent),
        (HookEvent::Delivered, &h.delivered),
        (HookEvent::Failed, &h.failed),
        (HookEvent::Report, &h.report),
        (HookEvent::ModemUp, &h.modem_up),
        (HookEvent::ModemDown, &h.modem_down),
    ];
    HookOptions {
        commands: pairs
            .into_iter()
            .filter_map(|(e, argv)| argv.clone().filter(|a| !a.is_empty()).map(|a| (e, a)))
            .collect(),
        timeout: h.timeout,
        max_concurrent: h.max_concurrent,
    }
}

fn server_options(cfg: &Config) -> ServerOptions {
    ServerOptions {
        path: cfg.control.socket.clone(),
        mode: cfg.control.mode,
        group: cfg.control.group.clone(),
        max_request_bytes: cfg.control.max_request_bytes,
        max_clients: cfg.control.max_clients,
    }
}

/// Sets up logging from `[log] level` (RUST_LOG wins when set).
pub fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Under systemd the journal adds timestamps; plain lines otherwise.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = if journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the daemon until SIGTERM/SIGINT. `ready` is told once the store is
/// open, the socket listens and the spool is watched (tests and `demo` use
/// it; systemd gets READY=1 through `$NOTIFY_SOCKET`).
pub async fn run(
    cfg: Config,
    config_path: &Path,
    ready: Option<oneshot::Sender<()>>,
) -> Result<(), DaemonError> {
    let cfg = Arc::new(cfg);
    info!(config = %config_path.display(), "smsgate {} starting", env!("CARGO_PKG_VERSION"));

    // Store.
    if let Some(dir) = cfg
        .store
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DaemonError::Io(format!("store directory {}: {e}", dir.display())))?;
    }
    let store = Store::open(&cfg.store.path)?;
    let recovered = store
        .recover_on_start(cfg.store.resend_uncertain, chrono::Utc::now())
        .await?;
    if recovered.uncertain > 0 {
        warn!(
            uncertain = recovered.uncertain,
            requeued = recovered.requeued,
            failed = recovered.failed,
            "parts were in flight when the daemon stopped"
        );
    }

    // Control socket.
    let listener = server::bind(&server_options(&cfg)).await?;

    // Spool.
    let spool = if cfg.spool.enabled {
        Some(Spool::start(
            &cfg.spool.dir,
            cfg.spool.scan_interval,
            cfg.spool.max_file_bytes,
        )?)
    } else {
        None
    };

    let root = CancellationToken::new();
    let intake_cancel = root.child_token();
    let dispatch_cancel = CancellationToken::new();
    let modems_cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    // Modems.
    let (modem_tx, mut modem_rx) = mpsc::channel::<ModemEvent>(1024);
    let mut modems = BTreeMap::new();
    for m in cfg.modems.iter().filter(|m| m.enabled) {
        let cancel = modems_cancel.child_token();
        let handle = modem::spawn(driver_options(m, &cfg), modem_tx.clone(), cancel.clone());
        modems.insert(
            m.name.clone(),
            ModemEntry {
                handle,
                cancel,
                cfg: m.clone(),
            },
        );
    }

    // Dispatcher.
    let slots = modems.values().map(|m| slot(&m.cfg, &m.handle)).collect();
    let encoding = Encoding::new(encoder(&cfg));
    let dispatcher = Dispatcher::new(
        dispatch_config(&cfg),
        store.clone(),
        slots,
        encoding.clone(),
    );
    let dispatch = dispatcher.handle();
    let modem_updates: ModemUpdates = dispatcher.modem_updates();
    let dispatch_events = dispatch.subscribe();
    let mut dispatch_task = tokio::spawn(dispatcher.run(dispatch_cancel.clone()));

    // Hooks and events.
    let hooks_cancel = root.child_token();
    let hooks = Hooks::start(hook_options(&cfg), hooks_cancel.clone(), tracker.clone());
    let (events, _) = broadcast::channel::<Event>(4096);
    let (reload_tx, mut reload_rx) = mpsc::channel(4);
    let shared = Arc::new(Shared {
        store: store.clone(),
        cfg: Mutex::new(cfg.clone()),
        modems: Mutex::new(modems),
        dispatch: dispatch.clone(),
        events: events.clone(),
        hooks: Mutex::new(hooks),
        hooks_cancel,
        tracker: tracker.clone(),
        encoding,
        started: Instant::now(),
        reload_tx,
    });

    // Dispatcher events become watch events and hooks, in order, in their
    // own task: building them reads the store, which the main loop must not
    // wait for.
    let forward_stop = CancellationToken::new();
    let forwarder = tokio::spawn(forward_dispatch_events(
        shared.clone(),
        dispatch_events,
        forward_stop.clone(),
    ));

    // Control server.
    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(256);
    tracker.spawn(server::serve(
        listener,
        server_options(&cfg),
        calls_tx,
        events.clone(),
        intake_cancel.clone(),
    ));

    // Spool intake.
    let spool_handle = match spool {
        Some((spool, claimed)) => {
            tracker.spawn(intake::run(shared.clone(), claimed, intake_cancel.clone()));
            Some(spool)
        }
        None => None,
    };

    // Modem status watchers: modem_up / modem_down events and the store's
    // record of modems and SIMs.
    for (name, entry) in lock(&shared.modems).iter() {
        tracker.spawn(watch_modem(
            shared.clone(),
            name.clone(),
            entry.handle.status(),
            entry.cancel.clone(),
        ));
    }

    // Signal handlers go in before READY: a SIGTERM or SIGHUP sent as soon
    // as systemd (or a test) sees READY must not hit the default action.
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| DaemonError::Io(e.to_string()))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Io(e.to_string()))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Io(e.to_string()))?;

    notify::ready(&status_line(&shared).await);
    if let Some(r) = ready {
        let _ = r.send(());
    }
    info!(socket = %cfg.control.socket.display(), "ready");

    let watchdog = notify::Watchdog::from_env();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.period().unwrap_or(Duration::from_secs(3600)));
    let flush_every = (cfg.receive.incomplete_timeout / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut flush_tick = tokio::time::interval(flush_every);
    let mut status_tick = tokio::time::interval(Duration::from_secs(30));

    let reload_ctx = ReloadCtx {
        path: config_path,
        modem_tx: &modem_tx,
        updates: &modem_updates,
        modems_cancel: &modems_cancel,
        tracker: &tracker,
    };
    let mut dispatch_result = None;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break; }
            _ = sighup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let r = reload(&shared, &reload_ctx).await;
                if let Err(e) = r {
                    error!("reload refused, keeping the running configuration: {e}");
                }
            }
            Some(reply) = reload_rx.recv() => {
                let r = reload(&shared, &reload_ctx).await;
                if let Err(e) = &r {
                    error!("reload refused, keeping the running configuration: {e}");
                }
                let _ = reply.send(r);
            }
            Some(ev) = modem_rx.recv() => {
                if let ModemEvent::Pdu { modem, location, pdu, tpdu_len, .. } = ev {
                    tracker.spawn(receive::on_pdu(shared.clone(), modem, location, pdu, tpdu_len));
                }
            }
            Some(call) = calls_rx.recv() => {
                tracker.spawn(requests::handle(shared.clone(), call));
            }
            res = &mut dispatch_task, if dispatch_result.is_none() => {
                error!("the dispatcher stopped; shutting down");
                dispatch_result = Some(res);
                break;
            }
            _ = flush_tick.tick() => {
                tracker.spawn(receive::flush_incomplete(shared.clone()));
            }
            _ = watchdog_tick.tick() => {
                let alive = !dispatch_task.is_finished()
                    && tokio::time::timeout(Duration::from_secs(5), store.counts()).await.is_ok_and(|r| r.is_ok());
                watchdog.feed_if_alive(alive);
                if !alive {
                    warn!("core loop not answering: watchdog not fed");
                }
            }
            _ = status_tick.tick() => notify::status(&status_line(&shared).await),
        }
    }

    // Shutdown.
    notify::stopping();
    intake_cancel.cancel();
    if let Some(s) = spool_handle {
        s.stop().await;
    }
    dispatch_cancel.cancel();
    let res = match dispatch_result {
        Some(res) => res,
        None => dispatch_task.await,
    };
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("dispatcher: {e}"),
        Err(e) => warn!("dispatcher task: {e}"),
    }
    // The forwarder passes on what the dispatcher emitted while finishing
    // (the last sends), then stops.
    forward_stop.cancel();
    if let Err(e) = forwarder.await {
        warn!("event forwarder: {e}");
    }
    modems_cancel.cancel();
    root.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        warn!("some tasks did not finish in 10 s");
    }
    store.close().await?;
    info!("stopped");
    Ok(())
}

async fn status_line(shared: &Shared) -> String {
    let statuses = shared.modem_statuses();
    let ready = statuses
        .iter()
        .filter(|s| s.state == ModemState::Ready)
        .count();
    let queued = shared
        .store
        .counts()
        .await
        .map(|c| c.queued + c.sending)
        .unwrap_or_default();
    format!(
        "{ready}/{} modems ready, {queued} messages queued",
        statuses.len()
    )
}

/// Follows one modem's status: records it in the store and emits
/// `modem_up` / `modem_down` on transitions.
async fn watch_modem(
    shared: Arc<Shared>,
    name: String,
    mut rx: watch::Receiver<ModemStatus>,
    cancel: CancellationToken,
) {
    let mut was_ready = false;
    let mut recorded: Option<(Option<String>, Option<String>, Option<String>)> = None;
    loop {
        let status = rx.borrow_and_update().clone();
        let ready = status.state == ModemState::Ready;
        let ident = (
            status.imei.clone(),
            status.imsi.clone(),
            status.iccid.clone(),
        );
        if ready && recorded.as_ref() != Some(&ident) {
            let seen = crate::store::ModemSeen {
                name: name.clone(),
                imei: status.imei.clone(),
                imsi: status.imsi.clone(),
                iccid: status.iccid.clone(),
                manufacturer: status.manufacturer.clone(),
                model: status.model.clone(),
            };
            if let Err(e) = shared.store.upsert_modem(seen, chrono::Utc::now()).await {
                warn!(modem = %name, "recording the modem: {e}");
            } else {
                recorded = Some(ident);
            }
        }
        if ready != was_ready {
            let (hook, kind) = if ready {
                (HookEvent::ModemUp, "modem_up")
            } else {
                (HookEvent::ModemDown, "modem_down")
            };
            info!(modem = %name, state = ?status.state, "{kind}");
            shared.emit(
                Some(hook),
                json!({"type": kind, "modem": name, "state": state_name(&status.state), "imsi": status.imsi}),
            );
            was_ready = ready;
            shared.dispatch.work_added();
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = rx.changed() => if changed.is_err() { break; },
        }
    }
    if was_ready {
        shared.emit(
            Some(HookEvent::ModemDown),
            json!({"type": "modem_down", "modem": name, "state": "stopped"}),
        );
    }
}

/// A modem state as one word, for events and `status`.
pub fn state_name(s: &ModemState) -> String {
    match s {
        ModemState::Starting => "starting".into(),
        ModemState::Ready => "ready".into(),
        ModemState::Recovering => "recovering".into(),
        ModemState::Gone => "gone".into(),
        ModemState::Failed(_) => "failed".into(),
        ModemState::Stopped => "stopped".into(),
    }
}

/// Forwards dispatcher events until `stop`, then what is still queued.
async fn forward_dispatch_events(
    shared: Arc<Shared>,
    mut rx: broadcast::Receiver<DispatchEvent>,
    stop: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = stop.cancelled() => break,
        };
        match ev {
            Ok(ev) => on_dispatch_event(&shared, ev).await,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                warn!(missed = n, "dispatch events lagged")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
    while let Ok(ev) = rx.try_recv() {
        on_dispatch_event(&shared, ev).await;
    }
}

/// Turns a dispatcher event into `watch` events and hooks.
async fn on_dispatch_event(shared: &Shared, ev: DispatchEvent) {
    match ev {
        DispatchEvent::PartSent { id, seq, modem, mr } => {
            shared.emit(
                None,
                json!({"type": "part_sent", "id": id, "seq": seq, "modem": modem, "mr": mr}),
            );
        }
        DispatchEvent::PartFailed {
            id,
            seq,
            modem,
            error,
            ..
        } => {
            shared.emit(None, json!({"type": "part_failed", "id": id, "seq": seq, "modem": modem, "error": error}));
        }
        DispatchEvent::State { id, state } => shared.message_state(id, state).await,
        DispatchEvent::Expired { id } => {
            shared.emit(
                Some(HookEvent::Failed),
                json!({"type": "expired", "id": id}),
            );
        }
        DispatchEvent::ModemOut { modem, until } => {
            shared.emit(
                None,
                json!({"type": "modem_out", "modem": modem, "until": until.to_rfc3339()}),
            );
        }
        DispatchEvent::ModemBack { modem } => {
            shared.emit(None, json!({"type": "modem_back", "modem": modem}));
        }
        DispatchEvent::Assigned { .. } => {}
    }
}

/// How long a reload waits for the actors it stops to let go of their ports
/// before starting their successors on the same devices.
const RELOAD_STOP_WAIT: Duration = Duration::from_secs(10);

/// Re-reads the configuration and applies it. Modems added, removed or
/// changed are started, stopped or restarted; the others are not touched. A
/// bad file changes nothing.
/// What a reload needs to start and stop modems.
struct ReloadCtx<'a> {
    path: &'a Path,
    modem_tx: &'a mpsc::Sender<ModemEvent>,
    updates: &'a ModemUpdates,
    modems_cancel: &'a CancellationToken,
    tracker: &'a TaskTracker,
}

async fn reload(shared: &Arc<Shared>, ctx: &ReloadCtx<'_>) -> Result<Value, String> {
    notify::reloading();
    let result = reload_inner(shared, ctx).await;
    notify::ready(&status_line(shared).await);
    result
}

async fn reload_inner(shared: &Arc<Shared>, ctx: &ReloadCtx<'_>) -> Result<Value, String> {
    let ReloadCtx {
        path,
        modem_tx,
        updates,
        modems_cancel,
        tracker,
    } = *ctx;
    let new = Arc::new(Config::load(path).map_err(|e| e.to_string())?);
    let old = shared.config();
    let enabled = |c: &Config| -> BTreeMap<String, ModemConfig> {
        c.modems
            .iter()
            .filter(|m| m.enabled)
            .map(|m| (m.name.clone(), m.clone()))
            .collect()
    };
    let (before, after) = (enabled(&old), enabled(&new));
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for (name, m) in &before {
        match after.get(name) {
            None => removed.push(name.clone()),
            Some(n) if n != m => changed.push(name.clone()),
            Some(_) => unchanged.push(name.clone()),
        }
    }
    for name in after.keys() {
        if !before.contains_key(name) {
            added.push(name.clone());
        }
    }
    // Stop what goes away or changes.
    let reused: Vec<&Path> = added
        .iter()
        .chain(&changed)
        .filter_map(|n| after.get(n))
        .map(|m| m.device.as_path())
        .collect();
    let mut letting_go = Vec::new();
    for name in removed.iter().chain(&changed) {
        updates.remove(name);
        if let Some(entry) = lock(&shared.modems).remove(name) {
            entry.cancel.cancel();
            if reused.contains(&entry.cfg.device.as_path()) {
                letting_go.push(entry.handle.status());
            }
        }
        info!(modem = %name, "modem stopped by reload");
    }
    // A port is opened exclusively: the new actor for a changed (or renamed)
    // modem can open it only once the old actor has closed it. An actor ends
    // (dropping its status sender) right after the send it may have in flight.
    let closed = async {
        for mut rx in letting_go {
            while rx.changed().await.is_ok() {}
        }
    };
    if tokio::time::timeout(RELOAD_STOP_WAIT, closed)
        .await
        .is_err()
    {
        warn!("a modem stopped by the reload still holds its port after {RELOAD_STOP_WAIT:?}: its successor may find the port locked");
    }
    // Start what is new or changed.
    for name in added.iter().chain(&changed) {
        let Some(m) = after.get(name) else { continue };
        let cancel = modems_cancel.child_token();
        let handle = modem::spawn(driver_options(m, &new), modem_tx.clone(), cancel.clone());
        updates.add(slot(m, &handle));
        tracker.spawn(watch_modem(
            shared.clone(),
            name.clone(),
            handle.status(),
            cancel.clone(),
        ));
        lock(&shared.modems).insert(
            name.clone(),
            ModemEntry {
                handle,
                cancel,
                cfg: m.clone(),
            },
        );
        info!(modem = %name, "modem started by reload");
    }
    shared.encoding.replace(encoder(&new));
    updates.configure(dispatch_config(&new));
    if new.hooks != old.hooks {
        // The old runner drains: its queue closes when its sender is dropped.
        let hooks = Hooks::start(
            hook_options(&new),
            shared.hooks_cancel.clone(),
            shared.tracker.clone(),
        );
        *lock(&shared.hooks) = hooks;
        info!("hooks reloaded");
    }
    *lock(&shared.cfg) = new;
    if old.control.socket != shared.config().control.socket {
        warn!("[control] socket changed: takes effect at the next restart");
    }
    Ok(json!({"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}))
}

/// The default config path (`/etc/smsgate/smsgate.toml`).
pub fn default_config_path() -> PathBuf {
    PathBuf::from("/etc/smsgate/smsgate.toml")
}
