//! Webhooks: HTTP POSTs of the event log to the endpoints of `[[webhook]]`
//! and of the API, at least once, across restarts. Owns the [`Engine`]
//! (one delivery consumer per enabled endpoint, started, stopped and
//! restarted as endpoints come, go, are disabled or replayed), the consumer
//! loop (`deliver`), signing (`sign`), the retry schedule (`schedule`) and
//! the bodies (`envelope`). It owns no SQL (the store keeps endpoints,
//! delivery records and cursors) and no face: the gateway's `webhook_*`
//! methods call it, and the control socket and HTTP API call those.
//!
//! On PostgreSQL each endpoint is served by one host at a time, under a
//! consumer lease (`crate::events::lease`).
//!
//! Each endpoint is its own durable consumer of the log (`webhook:<id>`),
//! with its own cursor and backlog: a slow or dead endpoint only falls
//! behind; sending, receiving, hooks and the other endpoints never wait for
//! it. The cursor never passes an event that is not delivered (2xx) or
//! given up after the last retry, so `kill -9` costs at most repeats.

pub mod deliver;
pub mod envelope;
pub mod schedule;
pub mod sign;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::store::{NewWebhook, Store, StoreError, WebhookEndpoint};

/// What deliveries need from the configuration; replaced on reload
/// without restarting the consumers (each attempt reads the current one).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub timeout: Duration,
    pub retry: Vec<Duration>,
    /// `[compat] signing_key`: signs android deliveries when set.
    pub signing_key: Option<String>,
    /// `[compat] device_id`.
    pub device_id: String,
    /// Modem names in configuration order (android `simNumber` = position + 1).
    pub modems: Vec<String>,
    /// This host's name and the length of a consumer's lease: on
    /// PostgreSQL each endpoint is served by one host at a time (see
    /// `crate::events::lease`): `[cluster] node` and `lease`. Read when a
    /// consumer starts.
    pub lease: crate::events::ConsumerLease,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        Settings {
            timeout: cfg.webhooks.timeout,
            retry: cfg.webhooks.retry.clone(),
            signing_key: cfg.compat.signing_key.clone(),
            device_id: cfg.compat.device_id.clone(),
            modems: cfg.modems.iter().map(|m| m.name.clone()).collect(),
            lease: crate::events::ConsumerLease::new(cfg.cluster.node.clone(), cfg.cluster.lease),
        }
    }

    /// A modem's 1-based position in the configuration.
    pub fn sim_number(&self, modem: &str) -> Option<u32> {
        self.modems
            .iter()
            .position(|m| m == modem)
            .and_then(|i| u32::try_from(i + 1).ok())
    }
}

/// Delivery counters by result (for `status` and the metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Attempts answered 2xx.
    pub ok: AtomicU64,
    /// Attempts that failed and will be tried again.
    pub failed: AtomicU64,
    /// Events given up after the last retry.
    pub gave_up: AtomicU64,
    /// Endpoints disabled by a 410.
    pub disabled: AtomicU64,
    /// Notified after every attempt.
    pub attempted: tokio::sync::Notify,
}

impl Stats {
    /// `{"ok", "failed", "gave_up", "disabled"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "gave_up": self.gave_up.load(Ordering::Relaxed),
            "disabled": self.disabled.load(Ordering::Relaxed),
        })
    }
}

/// What the consumers share.
pub(crate) struct Shared {
    pub store: Store,
    pub client: reqwest::Client,
    /// The settings in force: the configuration's, with the signing key
    /// set through the API (when there is one) in place of `[compat]`'s.
    pub settings: Mutex<Arc<Settings>>,
    /// The configuration's settings.
    pub configured: Mutex<Settings>,
    /// The signing key set through the API (`PATCH /3rdparty/v1/settings`).
    pub api_signing_key: Mutex<Option<String>>,
    pub stats: Arc<Stats>,
}

impl Shared {
    pub fn settings(&self) -> Arc<Settings> {
        lock(&self.settings).clone()
    }
}

struct Running {
    endpoint: WebhookEndpoint,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The running webhook consumers.
pub struct Engine {
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// The stored setting of the signing key set through the API.
const SIGNING_KEY: &str = "compat.signing_key";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many deliveries to one endpoint are in flight at once.
pub const PARALLEL: usize = 8;

impl Engine {
    /// An engine with no consumer yet (`sync_config` starts them). They
    /// stop when `cancel` fires; `tracker` holds them so shutdown can wait.
    pub fn new(
        store: Store,
        settings: Settings,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<Engine, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("smsgate/", env!("CARGO_PKG_VERSION")))
            // The user's own application, often on this host or the LAN:
            // no proxy from the environment in between.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Engine {
            shared: Arc::new(Shared {
                store,
                client,
                settings: Mutex::new(Arc::new(settings.clone())),
                configured: Mutex::new(settings),
                api_signing_key: Mutex::new(None),
                stats: Arc::new(Stats::default()),
            }),
            running: tokio::sync::Mutex::new(HashMap::new()),
            cancel,
            tracker,
        })
    }

    /// The delivery counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Replaces the configuration's delivery settings (reload); attempts
    /// from now on use them.
    pub fn set_settings(&self, settings: Settings) {
        *lock(&self.shared.configured) = settings;
        self.apply();
    }

    fn apply(&self) {
        let mut s = lock(&self.shared.configured).clone();
        if let Some(k) = lock(&self.shared.api_signing_key).clone() {
            s.signing_key = Some(k);
        }
        *lock(&self.shared.settings) = Arc::new(s);
    }

    /// The key that signs android deliveries now: the one set through the
    /// API, else `[compat] signing_key`.
    pub fn signing_key(&self) -> Option<String> {
        self.shared.settings().signing_key.clone()
    }

    /// Sets (or, with `None`, clears) the signing key of android
    /// deliveries through the API; kept in the store, it wins over
    /// `[compat] signing_key` across restarts.
    pub async fn set_signing_key(&self, key: Option<String>) -> Result<(), StoreError> {
        self.shared
            .store
            .set_webhook_setting(SIGNING_KEY, key.clone(), Utc::now())
            .await?;
        *lock(&self.shared.api_signing_key) = key;
        self.apply();
        Ok(())
    }

    /// Makes the store's configured endpoints those of `cfg` (new secrets
    /// for new endpoints without one), then starts and stops consumers to
    /// match.
    pub async fn sync_config(&self, cfg: &Config) -> Result<(), StoreError> {
        let key = self.shared.store.webhook_setting(SIGNING_KEY).await?;
        *lock(&self.shared.api_signing_key) = key;
        self.apply();
        let mut wanted = Vec::with_capacity(cfg.webhook.len());
        for w in &cfg.webhook {
            let fallback = sign::new_secret().map_err(StoreError::Unavailable)?;
            wanted.push(NewWebhook {
                id: w.id.clone(),
                url: w.url.clone(),
                events: w.events.clone(),
                secret: w.secret.clone(),
                fallback_secret: fallback,
                flavour: w.flavour.as_str().to_string(),
            });
        }
        // Consumers of endpoints leaving the configuration stop first, and
        // no refresh runs until the store has dropped them: a consumer that
        // stopped after the store dropped its cursor would write it back.
        {
            let mut running = self.running.lock().await;
            let leaving: Vec<String> = running
                .iter()
                .filter(|(id, r)| {
                    r.endpoint.source == "config" && !wanted.iter().any(|w| &w.id == *id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in leaving {
                if let Some(r) = running.remove(&id) {
                    stop(r).await;
                }
            }
            self.shared.store.webhook_sync(wanted, Utc::now()).await?;
        }
        self.refresh().await
    }

    /// Starts a consumer for every enabled endpoint without one, and stops
    /// (and waits for) those whose endpoint is gone, disabled or changed;
    /// a changed one starts again with the new settings, from its cursor.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let endpoints = self.shared.store.webhooks().await?;
        let mut running = self.running.lock().await;
        let stale: Vec<String> = running
            .iter()
            .filter(|(id, r)| {
                r.task.is_finished()
                    || !endpoints
                        .iter()
                        .any(|e| &e.id == *id && e.disabled_at.is_none() && *e == r.endpoint)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(r) = running.remove(&id) {
                stop(r).await;
            }
        }
        for ep in endpoints {
            if ep.disabled_at.is_some() || running.contains_key(&ep.id) {
                continue;
            }
            let cancel = self.cancel.child_token();
            let consumer = {
                let (shared, ep) = (self.shared.clone(), ep.clone());
                move |stop| deliver::run(shared.clone(), ep.clone(), stop)
            };
            let task = self.tracker.spawn(crate::events::lease::serve(
                self.shared.store.clone(),
                crate::store::webhook_consumer(&ep.id),
                self.shared.settings().lease.clone(),
                cancel.clone(),
                consumer,
            ));
            info!(webhook = %ep.id, url = %ep.url, "webhook consumer started");
            running.insert(
                ep.id.clone(),
                Running {
                    endpoint: ep,
                    cancel,
                    task,
                },
            );
        }
        Ok(())
    }

    /// Stops an endpoint's consumer (if it runs), then deletes the
    /// endpoint with its cursor and records; false when there was none.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.remove(id) {
            stop(r).await;
        }
        self.shared.store.webhook_delete(id).await
    }

    /// Moves an endpoint's cursor to `since` (its consumer stopped first,
    /// so it cannot write an older position over it), enables it and
    /// starts it again: every event after `since` is delivered again.
    pub async fn replay(&self, id: &str, since: i64) -> Result<(), StoreError> {
        {
            let mut running = self.running.lock().await;
            if let Some(r) = running.remove(id) {
                stop(r).await;
            }
            self.shared
                .store
                .webhook_rewind(id, since, Utc::now())
                .await?;
        }
        self.refresh().await
    }

    /// Whether an endpoint's consumer runs now (on PostgreSQL: serves the
    /// endpoint, or waits for its lease while another host does).
    pub async fn is_running(&self, id: &str) -> bool {
        self.running
            .lock()
            .await
            .get(id)
            .is_some_and(|r| !r.task.is_finished())
    }
}

async fn stop(r: Running) {
    r.cancel.cancel();
    if let Err(e) = r.task.await {
        warn!(webhook = %r.endpoint.id, "webhook consumer: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(store: &Store, cfg: &Config) -> Engine {
        Engine::new(
            store.clone(),
            Settings::from_config(cfg),
            CancellationToken::new(),
            TaskTracker::new(),
        )
        .expect("engine")
    }

    #[tokio::test]
    async fn an_api_signing_key_wins_over_the_config_across_restarts() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("s.db")).expect("store");
        let mut cfg = Config::default();
        cfg.compat.signing_key = Some("from-config".into());
        let e = engine(&store, &cfg);
        e.sync_config(&cfg).await.expect("sync");
        assert_eq!(e.signing_key().as_deref(), Some("from-config"));
        e.set_signing_key(Some("from-api".into()))
            .await
            .expect("set");
        assert_eq!(e.signing_key().as_deref(), Some("from-api"));
        // A reload keeps it.
        e.set_settings(Settings::from_config(&cfg));
        assert_eq!(e.signing_key().as_deref(), Some("from-api"));
        // A restart reads it back; clearing it falls back to the config.
        let again = engine(&store, &cfg);
        again.sync_config(&cfg).await.expect("sync");
        assert_eq!(again.signing_key().as_deref(), Some("from-api"));
        again.set_signing_key(None).await.expect("clear");
        assert_eq!(again.signing_key().as_deref(), Some("from-config"));
        store.close().await.expect("close");
    }

    #[test]
    fn sim_numbers_follow_the_configuration_order() {
        let s = Settings {
            timeout: Duration::from_secs(1),
            retry: vec![],
            signing_key: None,
            device_id: "d".into(),
            modems: vec!["a".into(), "b".into()],
            lease: crate::events::ConsumerLease::default(),
        };
        assert_eq!(s.sim_number("a"), Some(1));
        assert_eq!(s.sim_number("b"), Some(2));
        assert_eq!(s.sim_number("c"), None);
    }
}
