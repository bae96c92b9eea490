//! Taking work in: validating a new message (from a spool file or a `send`
//! request) and committing it to the store, and the spool loop that claims,
//! stores and removes files. Also the optional smstools3-format copies of
//! sent, failed and received messages.
//!
//! A spool file is removed only after its message is committed; its spool key
//! makes a second intake of the same file (after a crash between the commit
//! and the removal) answer "duplicate" instead of storing it twice. While the
//! store is unavailable (disk full, read-only), files stay where they are and
//! are tried again: refused, never lost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Gateway;
use crate::codec::MessageOptions;
use crate::codec::{self, address::Address};
use crate::spool::{self, Claimed, SpoolMessage};
use crate::store::{
    Category, Enqueued, MessageState, NewMessage, OutgoingView, Priority, StoreError,
};

/// A message as a user asked for it, before validation.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub to: String,
    pub text: String,
    pub report: bool,
    pub flash: bool,
    pub priority: Option<Priority>,
    pub validity: Option<Duration>,
    pub not_before: Option<DateTime<Utc>>,
    pub modem: Option<String>,
    pub queue: Option<String>,
    pub options: MessageOptions,
    pub source: String,
    pub spool_key: Option<String>,
    /// `marketing` messages are skipped for numbers that opted out.
    pub category: Category,
}

/// The name faces use for a message to queue.
pub type SendRequest = Request;

impl From<IntakeError> for super::GatewayError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid(m) => super::GatewayError::Invalid(m),
            IntakeError::Unavailable(m) => super::GatewayError::Unavailable(m),
        }
    }
}

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The message itself is wrong: a bad number, too long, an unknown modem.
    #[error("{0}")]
    Invalid(String),
    /// The store cannot take work now; nothing was accepted.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Validates `req` and commits it. Returns only after the commit.
pub async fn accept(shared: &Gateway, req: Request) -> Result<Enqueued, IntakeError> {
    let now = Utc::now();
    let new = prepare(shared, req, now)?;
    let priority = new.priority;
    let announced = shared.dispatch.announce(priority);
    let enq = shared.store.enqueue(new, now).await.map_err(|e| match e {
        StoreError::Invalid { .. } => IntakeError::Invalid(e.to_string()),
        other => IntakeError::Unavailable(other.to_string()),
    })?;
    if !enq.duplicate {
        announced.committed();
    }
    Ok(enq)
}

/// Validates `req` and turns it into the row to store (no I/O).
pub fn prepare(
    shared: &Gateway,
    req: Request,
    now: DateTime<Utc>,
) -> Result<NewMessage, IntakeError> {
    let cfg = shared.config();
    // TP-VP cannot say less than 5 minutes (23.040 §9.2.3.12.1).
    if req.validity.is_some_and(|v| v < Duration::from_secs(300)) {
        return Err(IntakeError::Invalid("validity must be at least 5m".into()));
    }
    let to = Address::parse(&req.to)
        .map_err(|e| IntakeError::Invalid(format!("bad number {:?}: {e}", req.to)))?;
    if let Some(m) = &req.modem {
        if cfg.modem(m).is_none() {
            return Err(IntakeError::Invalid(format!("no modem named {m:?}")));
        }
    }
    if let Some(q) = &req.queue {
        if !cfg.modems.iter().any(|m| m.queues.iter().any(|mq| mq == q)) {
            return Err(IntakeError::Invalid(format!("no modem serves queue {q:?}")));
        }
    }
    // The settings that change the part count are recorded with the message:
    // the dispatcher encodes with them, whatever a reload changes meanwhile.
    let encoding = shared.encoding.get();
    let options = encoding.record(&req.options);
    let submit = encoding.submit_options(req.report, req.flash, req.validity, 0, &options);
    let parts = codec::count_parts(&req.text, &submit)
        .map_err(|e| IntakeError::Invalid(format!("text: {e}")))?;
    let validity = req.validity.unwrap_or(cfg.dispatch.validity);
    // A message not sent in time expires: after its own validity when it
    // asked for one, else after `dispatch.expire_after` (default: validity).
    let expire_after = req.validity.unwrap_or(cfg.dispatch.expire_after);
    let start = req.not_before.filter(|t| *t > now).unwrap_or(now);
    let expires_at = chrono::TimeDelta::from_std(expire_after)
        .ok()
        .and_then(|d| start.checked_add_signed(d));
    let new = NewMessage {
        to: to.to_string(),
        text: req.text,
        report: req.report,
        flash: req.flash,
        priority: req.priority.unwrap_or(Priority::Normal),
        validity: Some(validity),
        expires_at,
        not_before: req.not_before,
        modem: req.modem,
        queue: req.queue,
        parts: u32::try_from(parts).unwrap_or(u32::MAX),
        options,
        source: req.source,
        spool_key: req.spool_key,
        campaign: None,
        category: req.category,
        optout_key: codec::e164::normal_form(&req.to, cfg.optout.country).ok(),
    };
    Ok(new)
}

fn spool_request(name: &str, key: &str, m: SpoolMessage) -> Request {
    Request {
        to: m.to,
        text: m.text,
        report: m.report.unwrap_or(false),
        flash: m.flash,
        priority: Some(match m.priority {
            spool::format::Priority::Urgent => Priority::Urgent,
            spool::format::Priority::High => Priority::High,
            spool::format::Priority::Normal => Priority::Normal,
            spool::format::Priority::Low => Priority::Low,
        }),
        validity: m.validity,
        not_before: m.send_after,
        modem: m.modem,
        queue: m.queue,
        options: MessageOptions {
            languages: m.languages,
            ucs2: m.alphabet == spool::format::Alphabet::Ucs2,
            ref16: None,
            sealed: false,
        },
        source: format!("spool:{name}"),
        spool_key: Some(key.to_string()),
        category: m.category,
    }
}

/// Takes claimed spool files until `cancel` fires.
pub async fn run(
    shared: Arc<Gateway>,
    mut claimed: mpsc::Receiver<Claimed>,
    cancel: CancellationToken,
) {
    loop {
        let file = tokio::select! {
            _ = cancel.cancelled() => return,
            f = claimed.recv() => match f { Some(f) => f, None => return },
        };
        one_file(&shared, file, &cancel).await;
    }
}

async fn one_file(shared: &Gateway, file: Claimed, cancel: &CancellationToken) {
    let msg = match file.read().await {
        Ok(m) => m,
        Err(e) => {
            reject(file, &e.to_string()).await;
            return;
        }
    };
    if msg.binary.is_some() {
        reject(file, "binary messages are not supported").await;
        return;
    }
    for w in &msg.warnings {
        info!(file = %file.name, "spool: {w}");
    }
    let req = spool_request(&file.name, &file.key, msg);
    let mut backoff = Duration::from_millis(500);
    loop {
        match accept(shared, req.clone()).await {
            Ok(enq) => {
                if enq.duplicate {
                    info!(file = %file.name, id = enq.id, "spool file already stored; removing it");
                } else {
                    info!(file = %file.name, id = enq.id, parts = enq.parts, "queued from the spool");
                }
                if let Err(e) = file.done().await {
                    warn!("spool: removing a stored file: {e}");
                }
                return;
            }
            Err(IntakeError::Invalid(reason)) => {
                reject(file, &reason).await;
                return;
            }
            Err(IntakeError::Unavailable(reason)) => {
                // Keep the file (in processing/, re-read at the next start)
                // and try again: refused for now, never lost.
                warn!(file = %file.name, "spool: {reason}; retrying in {backoff:?}");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn reject(file: Claimed, reason: &str) {
    let name = file.name.clone();
    match file.fail(reason).await {
        Ok(p) => warn!(file = %name, moved_to = %p.display(), "spool file refused: {reason}"),
        Err(e) => warn!(file = %name, "spool file refused ({reason}), and moving it failed: {e}"),
    }
}

/// Writes an smstools3-format copy of a finished message into `dir`
/// (`spool.sent_dir` / `spool.failed_copy_dir`), named after the message, so
/// a copy written twice (at-least-once delivery) is the same file.
pub fn write_copy_to(
    shared: &Gateway,
    dir: &Path,
    v: &OutgoingView,
    state: MessageState,
    now: chrono::DateTime<chrono::FixedOffset>,
) {
    let status = v
        .modem
        .as_deref()
        .and_then(|m| shared.modem(m))
        .map(|h| h.status().borrow().clone());
    let imsi = status.as_ref().and_then(|s| s.imsi.clone());
    let imei = status.as_ref().and_then(|s| s.imei.clone());
    let out = spool::smstools::Outgoing {
        to: &v.to,
        text: &v.text,
        flash: v.flash,
        report: v.report,
        queue: v.queue.as_deref(),
    };
    let bytes = match state {
        MessageState::Sent => spool::smstools::format_sent(
            &out,
            &spool::smstools::SentInfo {
                modem: v.modem.as_deref().unwrap_or("-"),
                sent_at: now,
                sending_time: Duration::ZERO,
                message_id: v.parts.last().and_then(|p| p.mr).map(u16::from),
                imsi: imsi.as_deref(),
                imei: imei.as_deref(),
            },
        ),
        _ => spool::smstools::format_failed(
            &out,
            &spool::smstools::FailedInfo {
                modem: v.modem.as_deref(),
                failed_at: now,
                reason: v.error.as_deref().unwrap_or("failed"),
                imsi: imsi.as_deref(),
                imei: imei.as_deref(),
            },
        ),
    };
    write_file(dir, &format!("smsgate.{}", v.id), &bytes);
}

/// Writes `name` into `dir` atomically (temporary file, then rename) on
/// tokio's blocking pool, without waiting for it (the runtime finishes it at
/// shutdown); a failure is logged. Outside a runtime it writes in place.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) {
    let (dir, name, bytes) = (dir.to_path_buf(), name.to_string(), bytes.to_vec());
    let work = move || {
        if let Err(e) = write_file_blocking(&dir, &name, &bytes) {
            warn!(dir = %dir.display(), "writing {name}: {e}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(work)),
        Err(_) => work(),
    }
}

/// [`write_file`]'s work, blocking, for a caller that must know when the
/// file is there (run it with `spawn_blocking`).
pub fn write_file_blocking(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}
