//! The gateway core: the one API every face calls (the spool, the control
//! socket, and the HTTP and SMPP faces to come). It owns intake (validation
//! and the durable commit of new messages), the queries (`show`, `outbox`,
//! `inbox`, `status`), control (cancel, retry, USSD, reload, prune), the
//! receive path (a PDU a modem read → the store → confirm to the modem),
//! the event stream (the store's event log) and webhook endpoints
//! (`webhooks`). A face turns its wire format
//! into these calls and back and holds no business logic; the core knows no
//! face (errors are [`GatewayError`] kinds, which each face maps to its own
//! codes).
//!
//! It does not own the process: signals, start-up, reload and shutdown are
//! the daemon's (`crate::daemon`), which builds the `Gateway` and hands an
//! `Arc` of it to every face and consumer.

pub mod api;
pub mod campaigns;
pub mod intake;
pub mod metrics;
pub mod optout;
pub mod receive;
pub mod verify;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ModemConfig};
use crate::dispatch::DispatchHandle;
use crate::modem::{ModemHandle, ModemState, ModemStatus};
use crate::store::{
    Event, InboxMessage, MessageId, MessageState, OutgoingView, Pruned, Report, ReportBy, Series,
    Store, StoreError,
};

pub use campaigns::{CampaignRecipients, CampaignRequest, MAX_CAMPAIGN_RECIPIENTS};
pub use intake::SendRequest;
pub use webhooks::{WebhookRequest, WebhookView};

/// How far back a report looks when the caller does not say.
pub const DEFAULT_REPORT_SINCE: &str = "7d";

/// The dashboard's chart window and bucket when the caller names none.
pub const DEFAULT_SERIES_SINCE: &str = "6h";
pub const DEFAULT_SERIES_STEP: &str = "5m";

/// A report's start: a duration back from `now` (`7d`, `90m`, `1h 30m`) or
/// an RFC 3339 moment.
pub fn parse_since(
    s: &str,
    now: chrono::DateTime<Utc>,
) -> Result<chrono::DateTime<Utc>, GatewayError> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        GatewayError::Invalid(format!(
            "since {s:?} is neither a duration (7d, 12h) nor an RFC 3339 time: {e}"
        ))
    })?;
    let d = chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
    Ok(now
        .checked_sub_signed(d)
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC))
}

/// The protocol version of the control socket (also in `status`).
pub use crate::control::protocol::PROTOCOL_VERSION;

/// Why a call failed. Each face maps the kind to its own codes (socket error
/// codes, HTTP statuses, SMPP command statuses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request is wrong: a bad number, too long, an unknown modem.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The thing exists but is past what was asked (cancel a sent message).
    #[error("{0}")]
    Conflict(String),
    /// The store or a modem cannot take it now; nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// A limit was reached (verification codes an hour for one number).
    #[error("{0}")]
    RateLimited(String),
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchMessage { .. }
            | StoreError::NoSuchPart { .. }
            | StoreError::NoSuchCampaign { .. } => GatewayError::NotFound(e.to_string()),
            StoreError::InvalidState { .. } | StoreError::CampaignInState { .. } => {
                GatewayError::Conflict(e.to_string())
            }
            StoreError::Invalid { .. } => GatewayError::Invalid(e.to_string()),
            StoreError::RateLimited(m) => GatewayError::RateLimited(m),
            StoreError::Unavailable(_) | StoreError::Closed => {
                GatewayError::Unavailable(e.to_string())
            }
            other => GatewayError::Internal(other.to_string()),
        }
    }
}

/// One running modem actor.
pub(crate) struct ModemEntry {
    pub handle: ModemHandle,
    pub cancel: CancellationToken,
    pub cfg: ModemConfig,
}

/// The core. Cheap to share (`Arc<Gateway>`); every face holds one.
pub struct Gateway {
    pub store: Store,
    pub(crate) cfg: Mutex<Arc<Config>>,
    pub(crate) modems: Mutex<BTreeMap<String, ModemEntry>>,
    pub dispatch: DispatchHandle,
    /// The encoder settings, shared with the dispatcher; a reload replaces them.
    pub encoding: crate::dispatch::Encoding,
    pub started: Instant,
    pub(crate) reload_tx: mpsc::Sender<oneshot::Sender<Result<Value, String>>>,
    /// API tokens, loaded from the store on first use and kept current by
    /// `token_create` / `token_revoke`.
    pub(crate) tokens: api::TokenCache,
    /// The webhook consumers (`webhook_*` calls start and stop them).
    pub webhooks: Arc<crate::webhooks::Engine>,
    /// Faces that show their own state in `status` (SMPP sessions), by name.
    pub(crate) faces: Mutex<BTreeMap<&'static str, FaceStatus>>,
    /// The Prometheus registry (`metrics_text`), fed by `metrics::follow`.
    pub metrics: metrics::Metrics,
    /// The verification codes' HMAC key (`verify.key` beside the SQLite
    /// file; in the database on PostgreSQL).
    pub verify_key: verify::VerifyKey,
}

/// A face's part of `status`.
pub type FaceStatus = Arc<dyn Fn() -> Value + Send + Sync>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gateway {
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

    /// Lets a face add its own section to `status`.
    pub fn add_face(&self, name: &'static str, status: FaceStatus) {
        lock(&self.faces).insert(name, status);
    }

    // --- intake -------------------------------------------------------------

    /// Validates and queues a message; answers once it is durable.
    pub async fn send(&self, req: SendRequest) -> Result<crate::store::Enqueued, GatewayError> {
        Ok(intake::accept(self, req).await?)
    }

    // --- queries ------------------------------------------------------------

    /// One outgoing message with its parts, and why it waits, if it does.
    pub async fn show(&self, id: MessageId) -> Result<MessageView, GatewayError> {
        let view = self
            .store
            .show(id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("no message {id}")))?;
        Ok(MessageView {
            waiting: self.why_waiting(&view),
            message: view,
        })
    }

    /// Outgoing messages, newest first.
    pub async fn outbox(
        &self,
        state: Option<MessageState>,
        limit: usize,
    ) -> Result<Vec<OutgoingView>, GatewayError> {
        Ok(self.store.outbox(state, limit.min(10_000)).await?)
    }

    /// Received messages after `since`, oldest first.
    pub async fn inbox(
        &self,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, GatewayError> {
        Ok(self.store.inbox(since, limit.min(10_000)).await?)
    }

    /// Received messages with an id below `before` (all when `None`),
    /// newest first.
    pub async fn inbox_latest(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, GatewayError> {
        Ok(self.store.inbox_before(before, limit.min(10_000)).await?)
    }

    /// The daemon and every modem.
    pub async fn status(&self) -> Result<Value, GatewayError> {
        // While the store waits for its server, status still answers: with
        // the store's state, without what only the store knows.
        let health = self.store.health();
        let waiting = |e: &StoreError| health.waiting() || matches!(e, StoreError::Unavailable(_));
        let counts = match self.store.counts().await {
            Ok(c) => json!(c),
            Err(e) if waiting(&e) => Value::Null,
            Err(e) => return Err(e.into()),
        };
        let consumers = match self.store.cursors().await {
            Ok(c) => c,
            Err(e) if waiting(&e) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let cluster = if self.store.is_postgres() {
            let cfg = self.config();
            let nodes = match self.store.nodes(cfg.cluster.lease, Utc::now()).await {
                Ok(n) => json!(n),
                Err(e) if waiting(&e) => Value::Null,
                Err(e) => return Err(e.into()),
            };
            // Which host serves each hook and webhook consumer.
            let leases = match self.store.consumer_leases().await {
                Ok(l) => json!(l),
                Err(e) if waiting(&e) => Value::Null,
                Err(e) => return Err(e.into()),
            };
            json!({"node": cfg.cluster.node, "nodes": nodes, "leases": leases})
        } else {
            Value::Null
        };
        let last = self.store.last_event_id();
        let modems: Vec<Value> = self.modem_statuses().iter().map(modem_json).collect();
        let pending: BTreeMap<String, i64> = consumers
            .into_iter()
            .map(|(name, pos)| (name, (last - pos).max(0)))
            .collect();
        let faces: Vec<(&'static str, FaceStatus)> = lock(&self.faces)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut out = json!({
            "daemon": {
                "version": env!("CARGO_PKG_VERSION"),
                "protocol": PROTOCOL_VERSION,
                "pid": std::process::id(),
                "uptime_s": self.started.elapsed().as_secs(),
            },
            "store": self.store.health(),
            "queue": counts,
            "modems": modems,
            "events": {"last_id": last, "pending": pending},
            "webhooks": {"deliveries": self.webhooks.stats().to_json()},
        });
        if let Some(obj) = out.as_object_mut() {
            if !cluster.is_null() {
                obj.insert("cluster".into(), cluster);
            }
            for (name, f) in faces {
                obj.insert(name.to_string(), f());
            }
        }
        Ok(out)
    }

    // --- control ------------------------------------------------------------

    /// Cancels a queued message, or the unsent rest of a sending one.
    pub async fn cancel(&self, id: MessageId) -> Result<MessageState, GatewayError> {
        Ok(self.store.cancel(id, Utc::now()).await?)
    }

    /// Requeues a failed, expired or cancelled message as a whole.
    pub async fn retry(&self, id: MessageId) -> Result<MessageState, GatewayError> {
        let state = self.store.retry(id, Utc::now()).await?;
        self.dispatch.work_added();
        Ok(state)
    }

    /// Runs a USSD code on one modem and returns the network's answer.
    pub async fn ussd(&self, modem: &str, code: String) -> Result<String, GatewayError> {
        let h = self
            .modem(modem)
            .ok_or_else(|| GatewayError::Invalid(format!("no modem named {modem:?}")))?;
        h.ussd(code)
            .await
            .map_err(|e| GatewayError::Unavailable(e.to_string()))
    }

    /// Re-reads the configuration (the daemon's reload task applies it);
    /// answers with what changed.
    pub async fn reload(&self) -> Result<Value, GatewayError> {
        let (tx, rx) = oneshot::channel();
        let gone = || GatewayError::Unavailable("the daemon is shutting down".into());
        self.reload_tx.send(tx).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?.map_err(GatewayError::Invalid)
    }

    /// Deletes what `[store] keep` says is old enough.
    pub async fn prune(&self) -> Result<Pruned, GatewayError> {
        let keep = self.config().store.keep;
        let keep = chrono::TimeDelta::from_std(keep).unwrap_or(chrono::TimeDelta::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let pruned = self.store.prune(cutoff).await?;
        self.prune_keys(cutoff).await?;
        Ok(pruned)
    }

    // --- reports ------------------------------------------------------------

    /// The delivery report of what was queued or received since `since`
    /// (`7d`, `12h`... back from now, or an RFC 3339 moment; default 7
    /// days), grouped `by` modem (default), day or campaign (every message
    /// is in `none` until messages carry a campaign). The socket's `report`
    /// and `GET /api/v1/report` answer with this.
    pub async fn report(
        &self,
        since: Option<&str>,
        by: Option<&str>,
    ) -> Result<Report, GatewayError> {
        let now = Utc::now();
        let since = parse_since(since.unwrap_or(DEFAULT_REPORT_SINCE), now)?;
        let by = match by {
            Some(b) => b.parse::<ReportBy>()?,
            None => ReportBy::default(),
        };
        Ok(self.store.report(since, by, now).await?)
    }

    /// The dashboard's time series: counts per bucket of `step` (default
    /// `5m`, at least `1m`) over the window `since` back from now (default
    /// `6h`, at most `24h`: the send log keeps a day). Index ranges only.
    pub async fn series(
        &self,
        since: Option<&str>,
        step: Option<&str>,
    ) -> Result<Series, GatewayError> {
        let now = Utc::now();
        let since = since.unwrap_or(DEFAULT_SERIES_SINCE).trim();
        let window = humantime::parse_duration(since).map_err(|e| {
            GatewayError::Invalid(format!("since {since:?} is not a duration (6h, 90m): {e}"))
        })?;
        if window > std::time::Duration::from_secs(24 * 3600) || window.is_zero() {
            return Err(GatewayError::Invalid(format!(
                "since {since:?}: the window is 1s to 24h (the send log keeps a day)"
            )));
        }
        let step = step.unwrap_or(DEFAULT_SERIES_STEP).trim();
        let step_d = humantime::parse_duration(step).map_err(|e| {
            GatewayError::Invalid(format!("step {step:?} is not a duration (5m, 1h): {e}"))
        })?;
        if step_d < std::time::Duration::from_secs(60) || step_d > window {
            return Err(GatewayError::Invalid(format!(
                "step {step:?}: at least 1m and at most the window ({since})"
            )));
        }
        let step_ms = i64::try_from(step_d.as_millis()).unwrap_or(i64::MAX);
        let start = now - chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::zero());
        Ok(self.store.series(start, now, step_ms).await?)
    }

    // --- the event stream ---------------------------------------------------

    /// Events after `after`, oldest first (at most `limit`), of the given
    /// types (all when empty).
    pub async fn events_after(
        &self,
        after: i64,
        limit: usize,
        kinds: Vec<String>,
    ) -> Result<Vec<Event>, GatewayError> {
        Ok(self.store.events_after(after, limit, kinds).await?)
    }

    /// Changes whenever events are committed (its value: the newest id).
    pub fn event_watch(&self) -> watch::Receiver<i64> {
        self.store.event_watch()
    }

    /// Why a queued message is not going out, when the reason is one the
    /// user can act on (no modem can take it).
    fn why_waiting(&self, v: &OutgoingView) -> Option<String> {
        if !matches!(v.state, MessageState::Queued | MessageState::Sending) {
            return None;
        }
        let ready: Vec<ModemStatus> = self
            .modem_statuses()
            .into_iter()
            .filter(|s| s.state == ModemState::Ready)
            .collect();
        if ready.is_empty() {
            return Some("no modem is ready".into());
        }
        // More than one part always needs a header; a single part only
        // when it uses a national table (which the count alone does not
        // show: text-mode modems take it, and refuse it if it needs one).
        crate::dispatch::why_waiting(v.parts.len() > 1, &ready)
    }
}

/// `show`: the message object plus, while it waits for a reason the user can
/// act on, that reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MessageView {
    #[serde(flatten)]
    pub message: OutgoingView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// A modem's status as `status` shows it.
fn modem_json(s: &ModemStatus) -> Value {
    let mut v = match serde_json::to_value(s) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    v.insert("state".into(), json!(state_name(&s.state)));
    if let Some(r) = &s.registration {
        v.insert("registration".into(), json!(registration_name(r.stat)));
        v.insert("lac".into(), json!(r.lac));
        v.insert("ci".into(), json!(r.ci));
    }
    if let ModemState::Failed(reason) = &s.state {
        v.insert("failed_reason".into(), json!(reason));
    }
    Value::Object(v)
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

/// 27.007 `+CREG` `<stat>` as a word.
fn registration_name(stat: u8) -> &'static str {
    match stat {
        0 => "not registered",
        1 => "home",
        2 => "searching",
        3 => "denied",
        5 => "roaming",
        6 => "home (SMS only)",
        7 => "roaming (SMS only)",
        8 => "emergency only",
        9 => "home (CSFB not preferred)",
        10 => "roaming (CSFB not preferred)",
        _ => "unknown",
    }
}

/// How many items a list call returns when the caller names no limit.
pub const DEFAULT_LIMIT: usize = 50;
