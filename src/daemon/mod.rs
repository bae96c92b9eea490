//! The daemon: builds the gateway core (`crate::gateway`) and wires the
//! store, the faces (spool, control socket), the modem actors, the
//! dispatcher and the event-log consumers (hooks, smstools3 copies,
//! webhooks) around
//! it; owns start-up, reload (SIGHUP / `reload`) and shutdown (SIGTERM /
//! SIGINT).
//!
//! The shape of tokio-rs/mini-redis: the main loop only selects on signals,
//! reload requests and the dispatcher's exit; reload, the watchdog and
//! status, the receive path, the periodic flush and pruning are tasks of
//! their own, all joined by one `TaskTracker` (modem actors included).
//!
//! Start-up order: configuration, store (recovering parts left `sending`),
//! control socket, spool watcher, modems, dispatcher; then READY. Modems come
//! up on their own schedule: a missing or broken modem never blocks start-up
//! or the others. Shutdown: stop taking work, let sends in flight finish
//! (bounded by their own timeouts), stop the modems, flush the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

pub use crate::codec::MessageOptions;
pub use crate::gateway::state_name;

use crate::config::{Config, ModemConfig};
use crate::control::server::{self, Call, ServerOptions};
use crate::dispatch::{
    self, Caps, DispatchEvent, Dispatcher, EncoderSettings, Encoding, HealthConfig, ModemSlot,
    ModemUpdates, Policy, RetryPolicy, Routes, Strategy,
};
use crate::gateway::{intake, lock, receive, Gateway, ModemEntry};
use crate::hooks::{HookEvent, HookOptions, Hooks};
use crate::modem::{self, DriverOptions, ModemEvent, ModemHandle, ModemState, ModemStatus};
use crate::notify;
use crate::spool::Spool;
use crate::store::{EventData, ModemEvent as ModemEventData, Store};

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
        cluster: cfg.store.url.as_ref().map(|_| dispatch::ClusterDispatch {
            node: cfg.cluster.node.clone(),
            lease: cfg.cluster.lease,
            orphan_after: cfg.cluster.orphan_after,
        }),
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
        lease: crate::events::ConsumerLease::new(cfg.cluster.node.clone(), cfg.cluster.lease),
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
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let sink = log_sink(
        std::env::var_os("JOURNAL_STREAM").as_deref(),
        Path::new(JOURNAL_SOCKET),
    );
    if sink == LogSink::Journal {
        // Fields go to the journal as they are named (MODEM=, ID= of a
        // send, NAME= of a modem's span, SPAN_NAME=), no prefix.
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("smsgate".into());
                let _ = tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .try_init();
                return;
            }
            Err(e) => eprintln!("smsgate: cannot log to the journal ({e}); logging to stderr"),
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // Under systemd (stderr to the journal) the journal adds timestamps.
    let _ = if sink != LogSink::Stderr {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// Where systemd-journald takes native (structured) entries.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// Native journal entries with structured fields: systemd started us
    /// with stderr connected to the journal (`JOURNAL_STREAM`) and the
    /// journal's socket is there.
    Journal,
    /// Plain lines on stderr, which systemd hands to the journal, without
    /// our own timestamps (`JOURNAL_STREAM` set, no journal socket).
    JournalStream,
    /// Plain lines with timestamps on stderr.
    Stderr,
}

/// The choice [`init_tracing`] makes, from `$JOURNAL_STREAM` and whether
/// `socket` exists.
pub fn log_sink(journal_stream: Option<&std::ffi::OsStr>, socket: &Path) -> LogSink {
    match journal_stream {
        Some(v) if !v.is_empty() && socket.exists() => LogSink::Journal,
        Some(v) if !v.is_empty() => LogSink::JournalStream,
        _ => LogSink::Stderr,
    }
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
    let store = open_store(&cfg)?;
    if store.is_postgres() {
        store
            .node_register(&cfg.cluster.node, chrono::Utc::now())
            .await?;
    }
    let recovered = match &cfg.store.url {
        None => {
            store
                .recover_on_start(cfg.store.resend_uncertain, chrono::Utc::now())
                .await?
        }
        // Only this host's parts: the others' may be in flight right now.
        Some(_) => {
            store
                .recover_node_on_start(
                    &cfg.cluster.node,
                    cfg.store.resend_uncertain,
                    chrono::Utc::now(),
                )
                .await?
        }
    };
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
    // HTTP API: bound before READY, so a taken port fails the start.
    let http_listener = match cfg.http.listen {
        Some(addr) => Some(
            crate::http::bind(addr)
                .await
                .map_err(|e| DaemonError::Io(format!("[http] listen {addr}: {e}")))?,
        ),
        None => None,
    };
    // SMPP (when `[smpp] listen` is set).
    let smpp_listener = crate::smpp::bind(&cfg.smpp.listen)
        .await
        .map_err(|e| DaemonError::Io(format!("[smpp] listen {}: {e}", cfg.smpp.listen)))?;

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

    // Cancellation, outermost last: faces stop taking work, then the
    // dispatcher finishes its sends, then the modems and consumers stop.
    let root = CancellationToken::new();
    let intake_cancel = root.child_token();
    let dispatch_cancel = CancellationToken::new();
    let modems_cancel = CancellationToken::new();
    let consumers_cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    // Modems.
    let (modem_tx, modem_rx) = mpsc::channel::<ModemEvent>(1024);
    let mut modems = BTreeMap::new();
    for m in cfg.modems.iter().filter(|m| m.enabled) {
        let cancel = modems_cancel.child_token();
        let handle = modem::spawn_on(
            driver_options(m, &cfg),
            modem_tx.clone(),
            cancel.clone(),
            Some(&tracker),
        );
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

    // Webhook consumers: started below, once the configured endpoints are
    // synced into the store.
    let webhooks = Arc::new(
        crate::webhooks::Engine::new(
            store.clone(),
            crate::webhooks::Settings::from_config(&cfg),
            consumers_cancel.child_token(),
            tracker.clone(),
        )
        .map_err(DaemonError::Io)?,
    );

    // The core.
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let gw = Arc::new(Gateway {
        store: store.clone(),
        cfg: Mutex::new(cfg.clone()),
        modems: Mutex::new(modems),
        dispatch: dispatch.clone(),
        encoding,
        started: Instant::now(),
        reload_tx: reload_tx.clone(),
        tokens: Default::default(),
        webhooks: webhooks.clone(),
        faces: Mutex::new(BTreeMap::new()),
        metrics: crate::gateway::metrics::Metrics::new(store.last_event_id(), webhooks.stats()),
        verify_key: match cfg.store.url {
            // Every host of a cluster checks the codes of every other.
            Some(_) => crate::gateway::verify::VerifyKey::in_store(store.clone()),
            None => crate::gateway::verify::VerifyKey::beside(&cfg.store.path),
        },
    });
    // Metrics: counters and histograms folded from the log from here on.
    tracker.spawn(crate::gateway::metrics::follow(
        gw.clone(),
        consumers_cancel.child_token(),
    ));

    // Event-log consumers: hooks and smstools3 copies, each from its cursor.
    let hooks = Hooks::start(
        hook_options(&cfg),
        store.clone(),
        consumers_cancel.clone(),
        &tracker,
    )
    .await;
    let copies_cancel = consumers_cancel.child_token();
    crate::events::copies::start(gw.clone(), copies_cancel.clone(), &tracker).await;
    if let Err(e) = webhooks.sync_config(&cfg).await {
        error!("webhook endpoints: {e}; webhooks are not delivered until a reload");
    }

    // The dispatcher's health breaker becomes events too.
    let forward_stop = CancellationToken::new();
    let forwarder = tokio::spawn(forward_dispatch_events(
        store.clone(),
        dispatch_events,
        forward_stop.clone(),
    ));

    // Control server: calls are answered by the gateway, each in its task.
    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(256);
    tracker.spawn(server::serve(
        listener,
        server_options(&cfg),
        calls_tx,
        store.clone(),
        intake_cancel.clone(),
    ));
    {
        let (gw, tracker2) = (gw.clone(), tracker.clone());
        tracker.spawn(async move {
            while let Some(call) = calls_rx.recv().await {
                tracker2.spawn(crate::control::handler::handle(gw.clone(), call));
            }
        });
    }

    // HTTP API: every handler is a gateway call; it stops taking work
    // with the other intakes.
    if let Some(l) = http_listener {
        tracker.spawn(crate::http::serve(l, gw.clone(), intake_cancel.clone()));
    }

    // SMPP server: sessions and per-account delivery consumers.
    if let Some(l) = smpp_listener {
        let smpp = crate::smpp::Smpp::new(gw.clone());
        let s = smpp.clone();
        gw.add_face("smpp", Arc::new(move || s.status()));
        let s = smpp.clone();
        gw.metrics
            .add_face("smpp", Arc::new(move |enc| s.encode_metrics(enc)));
        tracker.spawn(crate::smpp::serve(
            smpp,
            l,
            intake_cancel.clone(),
            tracker.clone(),
        ));
    }

    // Spool intake.
    let spool_handle = match spool {
        Some((spool, claimed)) => {
            tracker.spawn(intake::run(gw.clone(), claimed, intake_cancel.clone()));
            Some(spool)
        }
        None => None,
    };

    // The receive path: every PDU a modem reads, in its own task.
    tracker.spawn(receive_loop(gw.clone(), modem_rx, tracker.clone()));

    // Modem status watchers: modem_up / modem_down events and the store's
    // record of modems and SIMs.
    for (name, entry) in lock(&gw.modems).iter() {
        tracker.spawn(watch_modem(
            gw.clone(),
            name.clone(),
            entry.handle.status(),
            entry.cancel.clone(),
        ));
    }

    // The store's health (PostgreSQL may go away) is logged once per change;
    // in a cluster, this host's heartbeat renews its claims.
    tracker.spawn(log_store_health(store.clone(), root.child_token()));
    if store.is_postgres() {
        tracker.spawn(heartbeat(gw.clone(), root.child_token()));
    }

    // Housekeeping: incomplete sets, retention, watchdog and status.
    tracker.spawn(housekeeping(
        gw.clone(),
        dispatch_task_alive(&dispatch_task),
        root.child_token(),
    ));

    // Reload runs in its own task; the main loop only forwards SIGHUP.
    let reload_task = tokio::spawn(reload_loop(
        gw.clone(),
        ReloadCtx {
            path: config_path.to_path_buf(),
            modem_tx,
            updates: modem_updates,
            modems_cancel: modems_cancel.clone(),
            tracker: tracker.clone(),
            hooks,
            consumers_cancel: consumers_cancel.clone(),
            copies_cancel,
        },
        reload_rx,
    ));

    // Signal handlers go in before READY: a SIGTERM or SIGHUP sent as soon
    // as systemd (or a test) sees READY must not hit the default action.
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| DaemonError::Io(e.to_string()))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Io(e.to_string()))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Io(e.to_string()))?;

    notify::ready(&status_line(&gw).await);
    if let Some(r) = ready {
        let _ = r.send(());
    }
    info!(socket = %cfg.control.socket.display(), "ready");
    gw.store.release_memory().await;
    release_free_heap();

    let mut dispatch_result = None;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break; }
            _ = sighup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let (tx, rx) = oneshot::channel();
                if reload_tx.try_send(tx).is_ok() {
                    tokio::spawn(async move {
                        if let Ok(Err(e)) = rx.await {
                            error!("reload refused, keeping the running configuration: {e}");
                        }
                    });
                } else {
                    warn!("a reload is already waiting; this SIGHUP adds nothing");
                }
            }
            res = &mut dispatch_task, if dispatch_result.is_none() => {
                error!("the dispatcher stopped; shutting down");
                dispatch_result = Some(res);
                break;
            }
        }
    }

    // Shutdown.
    notify::stopping();
    intake_cancel.cancel();
    reload_task.abort();
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
    forward_stop.cancel();
    if let Err(e) = forwarder.await {
        warn!("event forwarder: {e}");
    }
    modems_cancel.cancel();
    consumers_cancel.cancel();
    root.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        warn!("some tasks did not finish in 10 s");
    }
    if store.is_postgres() {
        let node = &gw.config().cluster.node;
        if let Err(e) = store.node_stopped(node, chrono::Utc::now()).await {
            warn!("telling the cluster this host stops: {e}");
        }
    }
    store.close().await?;
    info!("stopped");
    Ok(())
}

/// Opens the store `[store]` names: the PostgreSQL database of `url`
/// (registering this host as `[cluster] node`), or the SQLite file of
/// `path` (creating its directory).
fn open_store(cfg: &Config) -> Result<Store, DaemonError> {
    if let Some(url) = &cfg.store.url {
        let store = Store::open_postgres_as(url, Some(&cfg.cluster.node))?;
        info!(
            store = %crate::store::redact_url(url),
            node = %cfg.cluster.node,
            "store on PostgreSQL"
        );
        return Ok(store);
    }
    if let Some(dir) = cfg
        .store
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DaemonError::Io(format!("store directory {}: {e}", dir.display())))?;
    }
    Ok(Store::open(&cfg.store.path)?)
}

/// Logs the store's health once per change, and tells systemd (STATUS=):
/// waiting for PostgreSQL (new work is refused meanwhile) and back.
async fn log_store_health(store: Store, cancel: CancellationToken) {
    let mut rx = store.health_watch();
    let mut waiting_since: Option<Instant> = None;
    loop {
        let health = rx.borrow_and_update().clone();
        match (health.waiting(), waiting_since) {
            (true, None) => {
                error!(
                    error = health.error.as_deref().unwrap_or_default(),
                    "store unavailable: waiting for the PostgreSQL server; new work is refused until it answers"
                );
                notify::status("store unavailable: waiting for the PostgreSQL server");
                waiting_since = Some(Instant::now());
            }
            (false, Some(since)) => {
                info!(
                    waited_s = since.elapsed().as_secs(),
                    "store available again: the PostgreSQL server answers"
                );
                notify::status("store available again");
                waiting_since = None;
            }
            _ => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return; },
        }
    }
}

/// This host's heartbeat in a cluster: every third of `[cluster] lease`, its
/// `node` row and the leases of the messages it claimed are renewed. A
/// store that does not answer is the health watcher's to log.
async fn heartbeat(gw: Arc<Gateway>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(gw.config().cluster.lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let cfg = gw.config();
                let beat = gw
                    .store
                    .node_heartbeat(&cfg.cluster.node, cfg.cluster.lease, chrono::Utc::now())
                    .await;
                if let Err(e) = beat {
                    tracing::debug!("heartbeat: {e}");
                }
            }
        }
    }
}

/// A probe the watchdog task uses to see that the dispatcher still runs.
fn dispatch_task_alive<T>(task: &tokio::task::JoinHandle<T>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    let abort = task.abort_handle();
    tokio::spawn(async move {
        while !abort.is_finished() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tx.is_closed() {
                return;
            }
        }
        let _ = tx.send(false);
    });
    rx
}

/// Hands every PDU a modem read to the receive path, each in its own task.
async fn receive_loop(
    gw: Arc<Gateway>,
    mut modem_rx: mpsc::Receiver<ModemEvent>,
    tracker: TaskTracker,
) {
    while let Some(ev) = modem_rx.recv().await {
        if let ModemEvent::Pdu {
            modem,
            location,
            pdu,
            tpdu_len,
            ..
        } = ev
        {
            tracker.spawn(receive::on_pdu(gw.clone(), modem, location, pdu, tpdu_len));
        }
    }
}

/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The periodic work: flushing incomplete concatenated sets, pruning, the
/// systemd watchdog and status line. Never in the way of a signal.
async fn housekeeping(
    gw: Arc<Gateway>,
    dispatcher: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let cfg = gw.config();
    let watchdog = notify::Watchdog::from_env();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.period().unwrap_or(Duration::from_secs(3600)));
    let flush_every = (cfg.receive.incomplete_timeout / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut flush_tick = tokio::time::interval(flush_every);
    let mut status_tick = tokio::time::interval(Duration::from_secs(30));
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = flush_tick.tick() => receive::flush_incomplete(gw.clone()).await,
            _ = prune_tick.tick() => match gw.prune().await {
                Ok(p) if p.messages + p.inbox + p.reports + p.events + p.received_pdus > 0 => {
                    info!(messages = p.messages, inbox = p.inbox, reports = p.reports,
                          events = p.events, "pruned rows older than [store] keep");
                }
                Ok(_) => {}
                Err(e) => warn!("pruning: {e}"),
            },
            _ = watchdog_tick.tick() => {
                let alive = *dispatcher.borrow()
                    && tokio::time::timeout(Duration::from_secs(5), gw.store.counts()).await.is_ok_and(|r| r.is_ok());
                watchdog.feed_if_alive(alive);
                if !alive {
                    warn!("core loop not answering: watchdog not fed");
                }
            }
            _ = status_tick.tick() => notify::status(&status_line(&gw).await),
        }
    }
}

/// Hands the malloc heap's free pages back to the kernel (after the store
/// has released its caches' unused pages). Start-up (the
/// migrations, the OpenAPI document, sixteen modem probes) frees about 2 MiB
/// that glibc would otherwise keep resident for good, as holes below the
/// live data at the top of the heap; `malloc_trim` returns whole free pages
/// anywhere in the arenas (`MADV_DONTNEED`). Called at READY and whenever
/// every modem has become ready: rare moments after the bursts of start-up,
/// never on a hot path (it takes the arena locks for a walk of the free
/// lists, well under a millisecond at this size).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    // SAFETY: malloc_trim only walks glibc's own free lists under its locks.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

async fn status_line(gw: &Gateway) -> String {
    let statuses = gw.modem_statuses();
    let ready = statuses
        .iter()
        .filter(|s| s.state == ModemState::Ready)
        .count();
    let queued = gw
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

/// Records a modem event in the log (durably, so hooks and webhooks see
/// it); a store that refuses it is logged.
async fn modem_event(gw: &Gateway, data: EventData) {
    if let Err(e) = gw.store.append_event(data, chrono::Utc::now()).await {
        warn!("recording a modem event: {e}");
    }
}

/// Follows one modem's status: records it in the store and emits
/// `modem_up` / `modem_down` on transitions.
async fn watch_modem(
    gw: Arc<Gateway>,
    name: String,
    mut rx: watch::Receiver<ModemStatus>,
    cancel: CancellationToken,
) {
    let mut was_ready = false;
    type Ident = (Option<String>, Option<String>, Option<String>);
    let mut recorded: Option<Ident> = None;
    // What `node_modem` holds for it (in a cluster): state and identity.
    let mut in_cluster: Option<(String, Ident)> = None;
    loop {
        let status = rx.borrow_and_update().clone();
        let ready = status.state == ModemState::Ready;
        let ident = (
            status.imei.clone(),
            status.imsi.clone(),
            status.iccid.clone(),
        );
        let shown = (state_name(&status.state), ident.clone());
        if gw.store.is_postgres() && in_cluster.as_ref() != Some(&shown) {
            let node = gw.config().cluster.node.clone();
            let m = crate::store::NodeModem {
                modem: name.clone(),
                imsi: status.imsi.clone(),
                iccid: status.iccid.clone(),
                imei: status.imei.clone(),
                state: shown.0.clone(),
            };
            match gw.store.node_modem(&node, m, chrono::Utc::now()).await {
                Ok(()) => in_cluster = Some(shown),
                Err(e) => warn!(modem = %name, "recording the modem in the cluster: {e}"),
            }
        }
        if ready && recorded.as_ref() != Some(&ident) {
            let seen = crate::store::ModemSeen {
                name: name.clone(),
                imei: status.imei.clone(),
                imsi: status.imsi.clone(),
                iccid: status.iccid.clone(),
                manufacturer: status.manufacturer.clone(),
                model: status.model.clone(),
            };
            if let Err(e) = gw.store.upsert_modem(seen, chrono::Utc::now()).await {
                warn!(modem = %name, "recording the modem: {e}");
            } else {
                recorded = Some(ident);
            }
        }
        if ready != was_ready {
            let data = ModemEventData {
                modem: name.clone(),
                state: state_name(&status.state),
                imsi: status.imsi.clone(),
                until: None,
                error: status.last_error.clone().filter(|_| !ready),
            };
            info!(modem = %name, state = ?status.state, "{}", if ready { "modem_up" } else { "modem_down" });
            let data = if ready {
                EventData::ModemUp(data)
            } else {
                EventData::ModemDown(data)
            };
            modem_event(&gw, data).await;
            was_ready = ready;
            gw.dispatch.work_added();
            if ready
                && gw
                    .modem_statuses()
                    .iter()
                    .all(|s| s.state == ModemState::Ready)
            {
                // The last modem's start-up (probe, storage sweep) is done.
                gw.store.release_memory().await;
                release_free_heap();
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = rx.changed() => if changed.is_err() { break; },
        }
    }
    if was_ready {
        let data = ModemEventData {
            modem: name.clone(),
            state: "stopped".into(),
            ..ModemEventData::default()
        };
        modem_event(&gw, EventData::ModemDown(data)).await;
    }
}

/// Records the dispatcher's health-breaker decisions in the event log until
/// `stop`, then what is still queued. (Message and part events are written
/// by the store with the changes themselves.)
async fn forward_dispatch_events(
    store: Store,
    mut rx: broadcast::Receiver<DispatchEvent>,
    stop: CancellationToken,
) {
    let record = |ev: DispatchEvent| {
        let store = store.clone();
        async move {
            let data = match ev {
                DispatchEvent::ModemOut { modem, until } => EventData::ModemOut(ModemEventData {
                    modem,
                    state: "out".into(),
                    until: Some(until.to_rfc3339()),
                    ..ModemEventData::default()
                }),
                DispatchEvent::ModemBack { modem } => EventData::ModemBack(ModemEventData {
                    modem,
                    state: "back".into(),
                    ..ModemEventData::default()
                }),
                _ => return,
            };
            if let Err(e) = store.append_event(data, chrono::Utc::now()).await {
                warn!("recording a dispatcher event: {e}");
            }
        }
    };
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = stop.cancelled() => break,
        };
        match ev {
            Ok(ev) => record(ev).await,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                warn!(missed = n, "dispatch events lagged")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
    while let Ok(ev) = rx.try_recv() {
        record(ev).await;
    }
}

/// How long a reload waits for the actors it stops to let go of their ports
/// before starting their successors on the same devices.
const RELOAD_STOP_WAIT: Duration = Duration::from_secs(10);

/// What the reload task needs to start and stop modems and consumers.
struct ReloadCtx {
    path: PathBuf,
    modem_tx: mpsc::Sender<ModemEvent>,
    updates: ModemUpdates,
    modems_cancel: CancellationToken,
    tracker: TaskTracker,
    hooks: Hooks,
    consumers_cancel: CancellationToken,
    copies_cancel: CancellationToken,
}

/// Applies reload requests one at a time, in their own task, so a reload
/// that waits for a modem to let go of its port never holds up a signal or
/// a control call.
async fn reload_loop(
    gw: Arc<Gateway>,
    mut ctx: ReloadCtx,
    mut requests: mpsc::Receiver<oneshot::Sender<Result<Value, String>>>,
) {
    while let Some(reply) = requests.recv().await {
        notify::reloading();
        let result = reload_inner(&gw, &mut ctx).await;
        notify::ready(&status_line(&gw).await);
        if let Err(e) = &result {
            error!("reload refused, keeping the running configuration: {e}");
        }
        let _ = reply.send(result);
    }
}

/// Re-reads the configuration and applies it. Modems added, removed or
/// changed are started, stopped or restarted; the others are not touched. A
/// bad file changes nothing.
async fn reload_inner(shared: &Arc<Gateway>, ctx: &mut ReloadCtx) -> Result<Value, String> {
    let new = Arc::new(Config::load(&ctx.path).map_err(|e| e.to_string())?);
    let (modem_tx, updates, modems_cancel, tracker) = (
        &ctx.modem_tx,
        &ctx.updates,
        &ctx.modems_cancel,
        &ctx.tracker,
    );
    let old = shared.config();
    // The store and this host's name hold for the life of the process.
    if new.store.url != old.store.url
        || (old.store.url.is_none() && new.store.path != old.store.path)
        || new.cluster.node != old.cluster.node
    {
        return Err(
            "[store] path/url and [cluster] node cannot change by reload: restart the daemon"
                .into(),
        );
    }
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
        let handle = modem::spawn_on(
            driver_options(m, &new),
            modem_tx.clone(),
            cancel.clone(),
            Some(tracker),
        );
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
    if shared.store.is_postgres() && !removed.is_empty() {
        let keep: Vec<String> = lock(&shared.modems).keys().cloned().collect();
        if let Err(e) = shared.store.node_keep_modems(&new.cluster.node, keep).await {
            warn!("forgetting removed modems in the cluster: {e}");
        }
    }
    shared.encoding.replace(encoder(&new));
    updates.configure(dispatch_config(&new));
    let hooks_changed = new.hooks != old.hooks;
    let copies_changed = (
        &new.spool.sent_dir,
        &new.spool.failed_copy_dir,
        &new.spool.incoming_dir,
        &new.spool.report_dir,
    ) != (
        &old.spool.sent_dir,
        &old.spool.failed_copy_dir,
        &old.spool.incoming_dir,
        &old.spool.report_dir,
    );
    *lock(&shared.cfg) = new;
    if hooks_changed {
        // The old consumers finish their runs; the new ones go on from the
        // same durable cursors, so no event is skipped.
        ctx.hooks.stop();
        let cfg = shared.config();
        ctx.hooks = Hooks::start(
            hook_options(&cfg),
            shared.store.clone(),
            ctx.consumers_cancel.clone(),
            &ctx.tracker,
        )
        .await;
        info!("hooks reloaded");
    }
    {
        let cfg = shared.config();
        shared
            .webhooks
            .set_settings(crate::webhooks::Settings::from_config(&cfg));
        if cfg.webhook != old.webhook {
            // Endpoints added, removed or changed; the others keep running.
            shared
                .webhooks
                .sync_config(&cfg)
                .await
                .map_err(|e| format!("webhook endpoints: {e}"))?;
            info!("webhook endpoints reloaded");
        }
    }
    if copies_changed {
        ctx.copies_cancel.cancel();
        ctx.copies_cancel = ctx.consumers_cancel.child_token();
        crate::events::copies::start(shared.clone(), ctx.copies_cancel.clone(), &ctx.tracker).await;
        info!("smstools3 copy directories reloaded");
    }
    if old.http != shared.config().http && old.http.rate == shared.config().http.rate {
        warn!("[http] changed: takes effect at the next restart (rate applies at once)");
    }
    if old.control.socket != shared.config().control.socket {
        warn!("[control] socket changed: takes effect at the next restart");
    }
    Ok(json!({"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}))
}

/// The default config path (`/etc/smsgate/smsgate.toml`).
pub fn default_config_path() -> PathBuf {
    PathBuf::from("/etc/smsgate/smsgate.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_journal_only_under_systemd_with_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let missing = dir.path().join("missing");
        std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        let stream = Some(OsStr::new("8:12345"));
        let table: &[(Option<&OsStr>, &Path, LogSink)] = &[
            (stream, &socket, LogSink::Journal),
            (stream, &missing, LogSink::JournalStream),
            (None, &socket, LogSink::Stderr),
            (Some(OsStr::new("")), &socket, LogSink::Stderr),
            (None, &missing, LogSink::Stderr),
        ];
        for (env, path, want) in table {
            assert_eq!(log_sink(*env, path), *want, "{env:?} {path:?}");
        }
    }
}
