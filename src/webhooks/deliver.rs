//! One endpoint's delivery consumer: reads the log after the endpoint's
//! cursor (`webhook:<id>`), POSTs each event of its types, up to
//! [`super::PARALLEL`] at once, each retried on the schedule until it is
//! answered 2xx or given up, and moves the cursor only past events that
//! are finished. An event whose retries a stop interrupted stays before the
//! cursor, and the records of its failed attempts tell the next start
//! where its schedule stands. A 410 disables the endpoint and ends the
//! consumer. Owns no SQL (the store's calls) and no policy of its own
//! (`schedule` decides when).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::schedule::{self, Next};
use super::{envelope, sign, Settings, Shared, PARALLEL};
use crate::events::{Reader, BATCH, CURSOR_EVERY};
use crate::store::{
    webhook_consumer, DeliveryResult, Event, RetryState, StoreError, WebhookDelivery,
    WebhookEndpoint,
};

/// How an event's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Delivered, or given up after the last retry: the cursor may pass.
    Done,
    /// Interrupted by a stop: the event stays before the cursor.
    Stopped,
    /// The endpoint answered 410 and is disabled.
    Disabled,
}

/// The most of an answer's body that is read (so the connection can be
/// reused); the rest is dropped with the connection.
const MAX_ANSWER: usize = 64 * 1024;

/// Runs the consumer of `ep` until `cancel` (or a 410).
pub(crate) async fn run(shared: Arc<Shared>, ep: WebhookEndpoint, cancel: CancellationToken) {
    let name = webhook_consumer(&ep.id);
    let kinds: Vec<String> = if ep.flavour == "android" {
        ep.events
            .first()
            .map(|e| envelope::android_kinds(e))
            .unwrap_or_default()
            .iter()
            .map(|k| k.to_string())
            .collect()
    } else {
        ep.events.clone()
    };
    let key = if ep.flavour == "android" {
        None
    } else {
        match crate::config::webhook_secret_key(&ep.secret) {
            Ok(k) => Some(Arc::new(k)),
            Err(e) => {
                warn!(webhook = %ep.id, "the stored secret is unusable ({e}); not delivering");
                return;
            }
        }
    };
    let store = shared.store.clone();
    let Some(start) = retrying(&cancel, &name, || store.cursor(&name, Utc::now())).await else {
        return;
    };
    let Some(resumed) = retrying(&cancel, &name, || store.webhook_retry_state(&ep.id, start)).await
    else {
        return;
    };
    let mut resume: HashMap<i64, RetryState> =
        resumed.into_iter().map(|r| (r.event_id, r)).collect();
    if !resume.is_empty() {
        info!(webhook = %ep.id, events = resume.len(), "resuming retries");
    }
    let ep = Arc::new(ep);
    let mut reader = Reader::new(store.clone(), start, kinds.clone());
    let mut queue: VecDeque<Event> = VecDeque::new();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, i64> = HashMap::new();
    // Events a stop interrupted: never passed by the cursor.
    let mut unfinished: BTreeSet<i64> = BTreeSet::new();
    let stop = cancel.child_token();
    let mut saved = start;
    let mut last_save = tokio::time::Instant::now();
    let mut reading = true;
    loop {
        while reading && tasks.len() < PARALLEL {
            let Some(ev) = queue.pop_front() else { break };
            let id = ev.event_id;
            let job = deliver(
                shared.clone(),
                ep.clone(),
                key.clone(),
                ev,
                resume.remove(&id),
                stop.clone(),
            );
            let handle = tasks.spawn(job);
            running.insert(handle.id(), id);
        }
        let oldest_open = running
            .values()
            .copied()
            .chain(unfinished.first().copied())
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
            _ = stop.cancelled(), if reading => { reading = false; }
            done = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, outcome) = match done {
                    Some(Ok((id, outcome))) => (id, outcome),
                    Some(Err(e)) => {
                        warn!(consumer = %name, "a delivery task failed: {e}");
                        (e.id(), Outcome::Stopped)
                    }
                    None => continue,
                };
                let event = running.remove(&id);
                match outcome {
                    Outcome::Done => {}
                    Outcome::Stopped => unfinished.extend(event),
                    Outcome::Disabled => {
                        unfinished.extend(event);
                        stop.cancel();
                    }
                }
            }
            batch = reader.next(), if reading && queue.len() < BATCH => match batch {
                None => reading = false,
                Some(Ok(events)) => queue.extend(events),
                Some(Err(e)) => {
                    warn!(consumer = %name, "reading events: {e}; trying again");
                    tokio::select! {
                        _ = stop.cancelled() => reading = false,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let from = queue.back().map_or(reader.position(), |e| e.event_id);
                    reader = Reader::new(store.clone(), from, kinds.clone());
                }
            },
        }
    }
    debug!(consumer = %name, position = saved, "webhook consumer stopped");
}

/// Calls `f` until it answers, pausing a second after each store error;
/// `None` when cancelled or the store is closed.
async fn retrying<T, F, Fut>(cancel: &CancellationToken, name: &str, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(StoreError::Closed) => return None,
            Err(e) => {
                warn!(consumer = %name, "{e}; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// What one attempt came to.
#[derive(Debug)]
enum Answer {
    Ok(u16),
    Gone,
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// Delivers one event: attempts until 2xx, 410, the last retry or a stop.
async fn deliver(
    shared: Arc<Shared>,
    ep: Arc<WebhookEndpoint>,
    key: Option<Arc<Vec<u8>>>,
    ev: Event,
    resume: Option<RetryState>,
    stop: CancellationToken,
) -> Outcome {
    let (mut attempts, mut due) = resume.map_or((0, None), |r| (r.attempts, r.next_at));
    let settings = shared.settings();
    let body = if ep.flavour == "android" {
        let Some(v) =
            envelope::android_body(&ev, &ep.id, &settings.device_id, |m| settings.sim_number(m))
        else {
            return Outcome::Done;
        };
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    } else {
        Bytes::from(envelope::native_body(&ev))
    };
    loop {
        if let Some(at) = due {
            tokio::select! {
                _ = stop.cancelled() => return Outcome::Stopped,
                _ = tokio::time::sleep(schedule::until(at, Utc::now())) => {}
            }
        }
        let settings = shared.settings();
        attempts = attempts.saturating_add(1);
        let started = Instant::now();
        let answer = tokio::select! {
            _ = stop.cancelled() => return Outcome::Stopped,
            a = attempt(&shared.client, &ep, key.as_deref(), ev.event_id, &body, &settings) => a,
        };
        let now = Utc::now();
        let mut record = WebhookDelivery {
            webhook: ep.id.clone(),
            event_id: ev.event_id,
            attempt: attempts,
            result: DeliveryResult::Ok,
            status: None,
            error: None,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            at: now,
            next_at: None,
        };
        let outcome = match answer {
            Answer::Ok(status) => {
                record.status = Some(status);
                shared.stats.ok.fetch_add(1, Ordering::Relaxed);
                Some(Outcome::Done)
            }
            Answer::Gone => {
                record.status = Some(410);
                record.result = DeliveryResult::Disabled;
                record.error = Some("410 Gone: endpoint disabled".into());
                shared.stats.disabled.fetch_add(1, Ordering::Relaxed);
                warn!(webhook = %ep.id, url = %ep.url, "answered 410 Gone: endpoint disabled");
                if let Err(e) = shared
                    .store
                    .webhook_disable(&ep.id, "answered 410 Gone", now)
                    .await
                {
                    warn!(webhook = %ep.id, "disabling: {e}");
                }
                Some(Outcome::Disabled)
            }
            Answer::Failed {
                status,
                error,
                retry_after,
            } => {
                record.status = status;
                let unit = fastrand::f64();
                match schedule::after_failure(&settings.retry, attempts, now, retry_after, unit) {
                    Next::GiveUp => {
                        record.result = DeliveryResult::GaveUp;
                        shared.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                        warn!(webhook = %ep.id, event = ev.event_id, attempts,
                              "given up after the last retry: {error}");
                        record.error = Some(error);
                        Some(Outcome::Done)
                    }
                    Next::RetryAt(at) => {
                        record.result = DeliveryResult::Failed;
                        record.next_at = Some(at);
                        shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                        debug!(webhook = %ep.id, event = ev.event_id, attempts, next = %at, "{error}");
                        record.error = Some(error);
                        due = Some(at);
                        None
                    }
                }
            }
        };
        if let Err(e) = shared.store.webhook_record(record).await {
            warn!(webhook = %ep.id, "recording a delivery: {e}");
        }
        shared.stats.attempted.notify_waiters();
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// One POST, bounded by `[webhooks] timeout` as a whole.
async fn attempt(
    client: &reqwest::Client,
    ep: &WebhookEndpoint,
    key: Option<&Vec<u8>>,
    event_id: i64,
    body: &Bytes,
    settings: &Settings,
) -> Answer {
    let ts = Utc::now().timestamp();
    let mut req = client
        .post(&ep.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    if let Some(key) = key {
        let msg_id = format!("evt_{event_id}");
        let sig = sign::standard(key, &msg_id, ts, body);
        req = req
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig);
    } else if let Some(k) = &settings.signing_key {
        req = req
            .header("X-Signature", sign::android(k, body, ts))
            .header("X-Timestamp", ts.to_string());
    }
    let timeout = settings.timeout;
    let exchange = async {
        let mut resp = req.send().await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| schedule::parse_retry_after(v, Utc::now()));
        let mut read = 0usize;
        while read < MAX_ANSWER {
            match resp.chunk().await? {
                Some(c) => read += c.len(),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, retry_after))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Answer::Failed {
            status: None,
            error: format!(
                "no answer within {}",
                crate::config::format_duration(timeout)
            ),
            retry_after: None,
        },
        Ok(Err(e)) => Answer::Failed {
            status: e.status().map(|s| s.as_u16()),
            error: describe(&e),
            retry_after: None,
        },
        Ok(Ok((status, retry_after))) => {
            let code = status.as_u16();
            if status.is_success() {
                Answer::Ok(code)
            } else if code == 410 {
                Answer::Gone
            } else {
                Answer::Failed {
                    status: Some(code),
                    error: format!("answered {status}"),
                    retry_after: if code == 429 || code == 503 {
                        retry_after
                    } else {
                        None
                    },
                }
            }
        }
    }
}

/// A transport error in one line, its causes included.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "reading the answer"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
