//! Prometheus metrics of the gateway (what `GET /metrics` serves). Owns the
//! registry, the metric families the contract names, the fold of the event
//! log into the counters and histograms, and the refresh of the gauges from
//! live state at each scrape. It owns no HTTP (the face in
//! `crate::http::metrics` serves the text) and no SQL (the store answers the
//! two small queries a scrape makes).
//!
//! Counters and histograms come from the event log, read by one
//! [`follow`] task from the position the log had when the daemon started:
//! each event is counted once, none is missed however busy the daemon is
//! (the log, not a channel, holds what the task has not read yet). They
//! count since the start of the daemon, as Prometheus counters do; `rate()`
//! and `increase()` take a restart in their stride. A scrape waits (briefly)
//! until the fold has reached the newest event committed before it, so a
//! scrape right after a send already counts it. On a cluster (PostgreSQL)
//! a host folds only the events it appended (`event.node`): each host's
//! counters are its own, and a sum over the hosts counts each event once.
//!
//! A scrape reads no message table: the gauges are the modem actors'
//! status, the consumers' cursors, and the count of queued and sending
//! messages through the `outgoing_by_state` index (the size of the queue,
//! not of the history). No label holds a phone number, a text or an id.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{lock, Gateway, GatewayError};
use crate::modem::ModemState;
use crate::store::{Event, EventData, OutgoingView, StoreError};

/// One label: its name and value.
type Label = [(&'static str, String); 1];

fn label(name: &'static str, value: &str) -> Label {
    [(name, value.to_string())]
}

/// Bucket bounds (seconds) of `smsgate_send_duration_seconds`: from a fast
/// `+CMGS` answer (0.1 s) to the longest a modem may take (120 s).
pub const SEND_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
];

/// Bucket bounds (seconds) of `smsgate_delivery_duration_seconds`: the same
/// range, then a few coarse ones for networks that report late.
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
    300.0, 900.0, 3600.0,
];

/// The message states `smsgate_messages_total` counts (each message once
/// when it reaches the state).
pub const MESSAGE_STATES: &[&str] = &[
    "queued",
    "sent",
    "delivered",
    "failed",
    "expired",
    "cancelled",
    "skipped",
];

/// The states `smsgate_queue_messages` shows.
pub const QUEUE_STATES: &[&str] = &["queued", "sending"];

/// Webhook delivery results (`smsgate_webhook_deliveries_total{result}`).
pub const WEBHOOK_RESULTS: &[&str] = &["ok", "failed", "gave_up"];

/// A face's own metrics (SMPP accounts), encoded at each scrape.
pub type FaceCollector =
    Arc<dyn Fn(&mut DescriptorEncoder<'_>) -> Result<(), fmt::Error> + Send + Sync>;

/// The registry and its families. One per gateway.
pub struct Metrics {
    registry: Registry,
    parts_sent: Family<Label, Counter>,
    parts_failed: Family<Label, Counter>,
    messages: Family<Label, Counter>,
    received: Family<Label, Counter>,
    reports: Family<Label, Counter>,
    queue: Family<Label, Gauge>,
    modem_up: Family<Label, Gauge>,
    signal: Family<Label, Gauge>,
    send_duration: Family<Label, Histogram, fn() -> Histogram>,
    delivery_duration: Histogram,
    events_pending: Family<Label, Gauge>,
    events_last: Gauge,
    up: Gauge,
    store_up: Gauge,
    node_up: Family<Label, Gauge>,
    node_age: Family<Label, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The last event the fold has counted.
    position: AtomicI64,
    folded: watch::Sender<i64>,
    /// Scrapes one at a time (the gauges are set, then encoded).
    scrape: tokio::sync::Mutex<()>,
    faces: Arc<Mutex<Vec<(&'static str, FaceCollector)>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("position", &self.position.load(Ordering::Relaxed))
            .finish()
    }
}

/// Encodes the live counters the gateway keeps outside the log (webhook
/// attempts) and the faces' metrics, at each scrape.
struct Collected {
    webhooks: Arc<crate::webhooks::Stats>,
    faces: Arc<Mutex<Vec<(&'static str, FaceCollector)>>>,
}

impl fmt::Debug for Collected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Collected")
    }
}

impl prometheus_client::collector::Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &self.webhooks;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let values = [n(&s.ok), n(&s.failed), n(&s.gave_up)];
        let c = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "webhook_deliveries",
            "Webhook delivery attempts by result: ok (2xx), failed (to be retried), gave_up (after the last retry).",
            None,
            c.metric_type(),
        )?;
        for (result, v) in WEBHOOK_RESULTS.iter().zip(values) {
            let l = label("result", result);
            ConstCounter::new(v).encode(family.encode_family(&l)?)?;
        }
        let disabled = ConstCounter::new(n(&s.disabled));
        disabled.encode(encoder.encode_descriptor(
            "webhook_endpoints_disabled",
            "Webhook endpoints disabled because they answered 410 Gone.",
            None,
            disabled.metric_type(),
        )?)?;
        let faces: Vec<FaceCollector> = lock(&self.faces).iter().map(|(_, f)| f.clone()).collect();
        for f in faces {
            f(&mut encoder)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// A registry whose fold starts after event `position` (the end of the
    /// log when the daemon starts).
    pub fn new(position: i64, webhooks: Arc<crate::webhooks::Stats>) -> Metrics {
        let mut r = Registry::with_prefix("smsgate");
        let info = Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string())]);
        r.register("build", "The version of smsgate that runs.", info);
        let up = Gauge::default();
        up.set(1);
        r.register("up", "1 while the daemon runs and answers.", up.clone());
        let parts_sent = Family::<Label, Counter>::default();
        r.register(
            "parts_sent",
            "Message parts a modem sent (AT+CMGS answered), by modem.",
            parts_sent.clone(),
        );
        let parts_failed = Family::<Label, Counter>::default();
        r.register(
            "parts_failed",
            "Send attempts of a part that failed (retried or not), by modem.",
            parts_failed.clone(),
        );
        let messages = Family::<Label, Counter>::default();
        r.register(
            "messages",
            "Outgoing messages that reached a state (each message once per state it reaches).",
            messages.clone(),
        );
        let received = Family::<Label, Counter>::default();
        r.register(
            "messages_received",
            "Messages received, by modem.",
            received.clone(),
        );
        let reports = Family::<Label, Counter>::default();
        r.register(
            "status_reports",
            "Status reports received, by result: delivered, failed, pending (not final), unmatched.",
            reports.clone(),
        );
        let queue = Family::<Label, Gauge>::default();
        r.register(
            "queue_messages",
            "Outgoing messages waiting (queued) or going out (sending).",
            queue.clone(),
        );
        let modem_up = Family::<Label, Gauge>::default();
        r.register(
            "modem_up",
            "1 when the modem is ready to send, 0 otherwise.",
            modem_up.clone(),
        );
        let signal = Family::<Label, Gauge>::default();
        r.register(
            "modem_signal_rssi",
            "Signal strength as AT+CSQ gives it (0-31; 99 unknown).",
            signal.clone(),
        );
        let send_duration = Family::<Label, Histogram>::new_with_constructor(
            (|| Histogram::new(SEND_BUCKETS.iter().copied())) as fn() -> Histogram,
        );
        r.register_with_unit(
            "send_duration",
            "From AT+CMGS to the modem's answer, per part, by modem.",
            Unit::Seconds,
            send_duration.clone(),
        );
        let delivery_duration = Histogram::new(DELIVERY_BUCKETS.iter().copied());
        r.register_with_unit(
            "delivery_duration",
            "From a message sent (its last part) to delivered (its last status report).",
            Unit::Seconds,
            delivery_duration.clone(),
        );
        let events_pending = Family::<Label, Gauge>::default();
        r.register(
            "events_pending",
            "Events of the log a durable consumer (hook, webhook, copy, SMPP account) has not passed yet.",
            events_pending.clone(),
        );
        let events_last = Gauge::default();
        r.register(
            "events_last_id",
            "The id of the newest event in the log.",
            events_last.clone(),
        );
        let store_up = Gauge::default();
        r.register(
            "store_up",
            "1 while the store answers, 0 while it waits for its PostgreSQL server (new work is refused).",
            store_up.clone(),
        );
        let node_up = Family::<Label, Gauge>::default();
        r.register(
            "node_up",
            "Each host of a cluster on PostgreSQL: 1 when its heartbeat is within [cluster] lease, 0 when late or stopped.",
            node_up.clone(),
        );
        let node_age = Family::<Label, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        r.register_with_unit(
            "node_heartbeat_age",
            "Each host of a cluster on PostgreSQL: time since its last heartbeat.",
            Unit::Seconds,
            node_age.clone(),
        );
        let faces: Arc<Mutex<Vec<(&'static str, FaceCollector)>>> = Arc::default();
        r.register_collector(Box::new(Collected {
            webhooks,
            faces: faces.clone(),
        }));
        for s in MESSAGE_STATES {
            let _ = messages.get_or_create(&label("state", s));
        }
        for s in ["delivered", "failed", "pending", "unmatched"] {
            let _ = reports.get_or_create(&label("result", s));
        }
        Metrics {
            registry: r,
            parts_sent,
            parts_failed,
            messages,
            received,
            reports,
            queue,
            modem_up,
            signal,
            send_duration,
            delivery_duration,
            events_pending,
            events_last,
            up,
            store_up,
            node_up,
            node_age,
            position: AtomicI64::new(position),
            folded: watch::channel(position).0,
            scrape: tokio::sync::Mutex::new(()),
            faces,
        }
    }

    /// Lets a face add its own families (encoded at each scrape); a second
    /// call with the same name replaces the first.
    pub fn add_face(&self, name: &'static str, collector: FaceCollector) {
        let mut faces = lock(&self.faces);
        faces.retain(|(n, _)| *n != name);
        faces.push((name, collector));
    }

    /// The last event the counters include.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Relaxed)
    }

    /// Counts one event.
    pub fn fold(&self, ev: &Event) {
        match &ev.data {
            EventData::PartSent(p) => {
                let l = label("modem", p.modem.as_deref().unwrap_or("none"));
                self.parts_sent.get_or_create(&l).inc();
                if let Some(d) = p.duration {
                    self.send_duration.get_or_create(&l).observe(d.max(0.0));
                }
            }
            EventData::PartFailed(p) => {
                let l = label("modem", p.modem.as_deref().unwrap_or("none"));
                self.parts_failed.get_or_create(&l).inc();
            }
            EventData::Queued(_)
            | EventData::Sent(_)
            | EventData::Failed(_)
            | EventData::Expired(_)
            | EventData::Cancelled(_)
            | EventData::Skipped(_) => {
                self.messages
                    .get_or_create(&label("state", ev.kind()))
                    .inc();
            }
            EventData::Delivered(m) => {
                self.messages
                    .get_or_create(&label("state", "delivered"))
                    .inc();
                if let Some(d) = sent_to_delivered(m) {
                    self.delivery_duration.observe(d);
                }
            }
            EventData::Received(m) => {
                self.received.get_or_create(&label("modem", &m.modem)).inc();
            }
            EventData::Report(r) => {
                let result = match (r.id.is_some(), r.is_final, r.success) {
                    (false, _, _) => "unmatched",
                    (true, false, _) => "pending",
                    (true, true, true) => "delivered",
                    (true, true, false) => "failed",
                };
                self.reports.get_or_create(&label("result", result)).inc();
            }
            _ => {}
        }
        self.position.fetch_max(ev.event_id, Ordering::Relaxed);
    }

    /// Moves the position past events the fold does not count (of kinds
    /// the reader skipped).
    fn skipped_to(&self, position: i64) {
        self.position.fetch_max(position, Ordering::Relaxed);
    }

    fn publish(&self) {
        let p = self.position();
        self.folded.send_if_modified(|v| {
            let moved = *v < p;
            *v = (*v).max(p);
            moved
        });
    }

    /// Waits until the fold has counted every event up to `target`, at
    /// most `limit`; false when it had not by then.
    async fn caught_up(&self, target: i64, limit: Duration) -> bool {
        let mut rx = self.folded.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|p| *p >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The exposition: OpenMetrics text when `openmetrics`, else the
    /// Prometheus text format 0.0.4.
    fn encode(&self, openmetrics: bool) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

/// Seconds from the last part sent to the last part delivered.
fn sent_to_delivered(m: &OutgoingView) -> Option<f64> {
    let t = |s: &Option<String>| -> Option<DateTime<Utc>> {
        s.as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let sent = m.parts.iter().filter_map(|p| t(&p.sent_at)).max()?;
    let done = m.parts.iter().filter_map(|p| t(&p.delivered_at)).max()?;
    Some(((done - sent).num_milliseconds().max(0) as f64) / 1000.0)
}

/// The event kinds the fold counts.
const FOLDED: &[&str] = &[
    "queued",
    "part_sent",
    "part_failed",
    "sent",
    "delivered",
    "failed",
    "expired",
    "cancelled",
    "skipped",
    "report",
    "received",
];

/// Folds the event log into the gateway's metrics until `cancel`: reads
/// from the metrics' position on, at its own pace. A store error is
/// retried after a pause; nothing is skipped.
pub async fn follow(gw: Arc<Gateway>, cancel: CancellationToken) {
    let kinds: Vec<String> = FOLDED.iter().map(|k| k.to_string()).collect();
    let m = &gw.metrics;
    // A host of a cluster counts the events it appended: each host's
    // counters are its own, and a sum over the hosts counts each event once.
    let node = gw
        .store
        .is_shared()
        .then(|| gw.config().cluster.node.clone());
    let reader_from = |position: i64| {
        crate::events::Reader::new(gw.store.clone(), position, kinds.clone()).of_node(node.clone())
    };
    let mut reader = reader_from(m.position());
    loop {
        let batch = tokio::select! {
            _ = cancel.cancelled() => return,
            b = reader.next() => b,
        };
        match batch {
            None => return,
            Some(Ok(events)) => {
                for ev in &events {
                    m.fold(ev);
                }
                m.skipped_to(reader.position());
                m.publish();
            }
            Some(Err(StoreError::Closed)) => return,
            Some(Err(e)) => {
                warn!("metrics: reading events: {e}; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                reader = reader_from(m.position());
            }
        }
    }
}

/// How long a scrape waits for the fold to reach the newest event.
const CATCH_UP: Duration = Duration::from_secs(2);

/// What a scrape reads from live state.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// `(state, count)` of queued and sending messages.
    pub queue: Vec<(String, i64)>,
    /// Durable consumers and their positions.
    pub cursors: Vec<(String, i64)>,
    /// The newest event id.
    pub last_event: i64,
    /// Every enabled modem: its name, ready or not, and its CSQ rssi.
    pub modems: Vec<(String, bool, Option<u8>)>,
    /// The store answers (false while it waits for PostgreSQL).
    pub store_up: bool,
    /// The hosts of a cluster: name, up, seconds since its heartbeat.
    pub nodes: Vec<(String, bool, f64)>,
}

impl Metrics {
    /// Sets the gauges from `live` and encodes the exposition. Callers
    /// take turns (`Gateway::metrics_text` holds the scrape lock).
    pub fn render(&self, live: &Live, openmetrics: bool) -> Result<String, fmt::Error> {
        for s in QUEUE_STATES {
            let n = live
                .queue
                .iter()
                .find(|(k, _)| k == s)
                .map_or(0, |(_, n)| *n);
            self.queue.get_or_create(&label("state", s)).set(n);
        }
        self.events_last.set(live.last_event);
        self.events_pending.clear();
        for (name, pos) in &live.cursors {
            self.events_pending
                .get_or_create(&label("consumer", name))
                .set((live.last_event - pos).max(0));
        }
        self.modem_up.clear();
        self.signal.clear();
        for (name, ready, rssi) in &live.modems {
            let l = label("modem", name);
            // Every configured modem has its series from the start.
            let _ = self.parts_sent.get_or_create(&l);
            let _ = self.received.get_or_create(&l);
            let _ = self.send_duration.get_or_create(&l);
            self.modem_up.get_or_create(&l).set(i64::from(*ready));
            if let Some(rssi) = rssi {
                self.signal.get_or_create(&l).set(i64::from(*rssi));
            }
        }
        self.store_up.set(i64::from(live.store_up));
        self.node_up.clear();
        self.node_age.clear();
        for (name, up, age) in &live.nodes {
            let l = label("node", name);
            self.node_up.get_or_create(&l).set(i64::from(*up));
            self.node_age.get_or_create(&l).set(*age);
        }
        self.up.set(1);
        self.encode(openmetrics)
    }
}

impl Gateway {
    /// The metrics exposition (OpenMetrics text when `openmetrics`, else
    /// Prometheus text 0.0.4): the gauges are read from live state, the
    /// counters include every event committed before the call (when the
    /// fold keeps up within a moment).
    pub async fn metrics_text(&self, openmetrics: bool) -> Result<String, GatewayError> {
        let m = &self.metrics;
        let _one = m.scrape.lock().await;
        let last = self.store.last_event_id();
        if !m.caught_up(last, CATCH_UP).await {
            warn!(
                position = m.position(),
                last, "metrics: the event fold is behind; counters lag"
            );
        }
        let statuses = self.modem_statuses();
        let names: BTreeSet<String> = self
            .config()
            .modems
            .iter()
            .filter(|c| c.enabled)
            .map(|c| c.name.clone())
            .collect();
        let nodes = if self.store.is_postgres() {
            let lease = self.config().cluster.lease;
            self.store
                .nodes(lease, Utc::now())
                .await?
                .into_iter()
                .map(|n| {
                    let age = n.heartbeat_age_ms as f64 / 1000.0;
                    (n.name, n.state == "up", age)
                })
                .collect()
        } else {
            Vec::new()
        };
        let live = Live {
            store_up: !self.store.health().waiting(),
            nodes,
            queue: self.store.queue_depth().await?,
            cursors: self.store.cursors().await?,
            last_event: last,
            modems: names
                .into_iter()
                .map(|name| {
                    let s = statuses.iter().find(|s| s.name == name);
                    let ready = s.is_some_and(|s| s.state == ModemState::Ready);
                    let rssi = s.and_then(|s| s.signal);
                    (name, ready, rssi)
                })
                .collect(),
        };
        m.render(&live, openmetrics)
            .map_err(|e| GatewayError::Internal(format!("encoding metrics: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PartEvent, PartView};

    fn part(seq: u32, modem: &str, duration: f64) -> EventData {
        EventData::PartSent(PartEvent {
            id: 7,
            seq,
            parts: 2,
            to: "+4915112345678".into(),
            modem: Some(modem.into()),
            sim: None,
            mr: Some(1),
            error: None,
            retry: None,
            duration: Some(duration),
        })
    }

    fn ev(id: i64, data: EventData) -> Event {
        Event {
            event_id: id,
            at: Utc::now(),
            data,
        }
    }

    #[test]
    fn events_fold_into_counters_and_histograms_without_numbers_or_texts() {
        let m = Metrics::new(0, Arc::default());
        m.fold(&ev(1, part(1, "sim1", 0.3)));
        m.fold(&ev(2, part(2, "sim1", 200.0)));
        let mut view: OutgoingView = serde_json::from_value(serde_json::json!({
            "id": 7, "to": "+4915112345678", "text": "secret text", "state": "delivered",
            "modem": "sim1", "created_at": "2026-01-01T00:00:00Z", "error": null,
            "parts": [], "priority": "normal", "report": true, "flash": false,
            "sim": null, "queue": null, "source": "cli", "category": "transactional",
            "updated_at": "2026-01-01T00:00:00Z",
            "not_before": "2026-01-01T00:00:00Z", "expires_at": null, "tried_modems": []
        }))
        .expect("view");
        for (seq, sent, done) in [(1, "00:00:01", "00:00:04"), (2, "00:00:02", "00:00:09.5")] {
            view.parts.push(
                serde_json::from_value::<PartView>(serde_json::json!({
                    "seq": seq, "state": "delivered", "mr": 1, "status": 0, "modem": "sim1",
                    "error": null, "attempts": 1,
                    "sent_at": format!("2026-01-01T{sent}Z"),
                    "delivered_at": format!("2026-01-01T{done}Z"),
                }))
                .expect("part"),
            );
        }
        m.fold(&ev(3, EventData::Sent(view.clone())));
        m.fold(&ev(4, EventData::Delivered(view)));
        assert_eq!(m.position(), 4);
        let text = m.encode(true).expect("encode");
        for want in [
            "smsgate_parts_sent_total{modem=\"sim1\"} 2",
            "smsgate_messages_total{state=\"sent\"} 1",
            "smsgate_messages_total{state=\"delivered\"} 1",
            "smsgate_messages_total{state=\"failed\"} 0",
            "smsgate_send_duration_seconds_bucket{le=\"0.5\",modem=\"sim1\"} 1",
            "smsgate_send_duration_seconds_bucket{le=\"120.0\",modem=\"sim1\"} 1",
            "smsgate_send_duration_seconds_bucket{le=\"+Inf\",modem=\"sim1\"} 2",
            // 00:00:02 to 00:00:09.5
            "smsgate_delivery_duration_seconds_sum 7.5",
            "smsgate_build_info{version=",
            "# EOF",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(!text.contains("4915112345678") && !text.contains("secret"));
        let classic = m.encode(false).expect("encode");
        assert!(classic.contains("# TYPE smsgate_parts_sent_total counter"));
        assert!(!classic.contains("# EOF"));
    }
}
