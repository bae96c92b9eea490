//! The event log: every change a user can observe is a row of `event`,
//! written by the store function that makes the change, inside the same
//! transaction, so an event exists exactly when its change does. Owns the
//! typed [`Event`] / [`EventData`] (one serde shape for every face), the
//! append and read queries, the consumers' durable cursors and retention
//! (pruning old rows). It knows no consumer: hooks, `watch`, webhooks and
//! the smstools3 copies read through `crate::events`.

use std::cell::Cell;

use super::sql::{args, Db, Dialect};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{from_ms, ms, InboxMessage, MessageId, OutgoingView, StoreError};

/// One entry of the log: `{"event_id", "type", "at", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: i64,
    /// RFC 3339, UTC.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub data: EventData,
}

impl Event {
    /// The event's type name (`"sent"`, `"received"`, …).
    pub fn kind(&self) -> &'static str {
        self.data.kind()
    }

    /// The event object as JSON (`event_id`, `type`, `at`, `data`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What happened. The `type` of an event is the variant's snake_case name;
/// its `data` the variant's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventData {
    /// A message was accepted (the message object, as `show` gives it).
    Queued(OutgoingView),
    /// One part left through a modem.
    PartSent(PartEvent),
    /// One part did not go out this time (`retry` tells whether it will be
    /// tried again).
    PartFailed(PartEvent),
    /// Every part is out.
    Sent(OutgoingView),
    /// Every part was reported delivered.
    Delivered(OutgoingView),
    /// A part failed for good.
    Failed(OutgoingView),
    /// The message expired before it could be sent.
    Expired(OutgoingView),
    /// Cancelled by a user.
    Cancelled(OutgoingView),
    /// Not sent on purpose: a marketing message to a number that opted
    /// out (`error` "opted out").
    Skipped(OutgoingView),
    /// A number went on the suppression list.
    OptedOut(OptoutEvent),
    /// A number came off the suppression list.
    OptedIn(OptoutEvent),
    /// A status report arrived (matched to its part or not).
    Report(ReportEvent),
    /// A message was received (complete, or kept incomplete after waiting).
    Received(InboxMessage),
    /// A message-waiting indication (voicemail, fax, e-mail) arrived.
    Mwi(MwiEvent),
    /// A modem became ready.
    ModemUp(ModemEvent),
    /// A modem stopped being ready.
    ModemDown(ModemEvent),
    /// The dispatcher stopped using a modem for a while (health breaker).
    ModemOut(ModemEvent),
    /// The dispatcher uses the modem again.
    ModemBack(ModemEvent),
}

impl EventData {
    /// Every type name, in declaration order.
    pub const KINDS: &'static [&'static str] = &[
        "queued",
        "part_sent",
        "part_failed",
        "sent",
        "delivered",
        "failed",
        "expired",
        "cancelled",
        "skipped",
        "opted_out",
        "opted_in",
        "report",
        "received",
        "mwi",
        "modem_up",
        "modem_down",
        "modem_out",
        "modem_back",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            EventData::Queued(_) => "queued",
            EventData::PartSent(_) => "part_sent",
            EventData::PartFailed(_) => "part_failed",
            EventData::Sent(_) => "sent",
            EventData::Delivered(_) => "delivered",
            EventData::Failed(_) => "failed",
            EventData::Expired(_) => "expired",
            EventData::Cancelled(_) => "cancelled",
            EventData::Skipped(_) => "skipped",
            EventData::OptedOut(_) => "opted_out",
            EventData::OptedIn(_) => "opted_in",
            EventData::Report(_) => "report",
            EventData::Received(_) => "received",
            EventData::Mwi(_) => "mwi",
            EventData::ModemUp(_) => "modem_up",
            EventData::ModemDown(_) => "modem_down",
            EventData::ModemOut(_) => "modem_out",
            EventData::ModemBack(_) => "modem_back",
        }
    }

    /// The `data` member as JSON text, serialized straight from the
    /// variant's content (no intermediate `serde_json::Value`).
    fn data_json(&self) -> serde_json::Result<String> {
        match self {
            EventData::Queued(m)
            | EventData::Sent(m)
            | EventData::Delivered(m)
            | EventData::Failed(m)
            | EventData::Expired(m)
            | EventData::Cancelled(m)
            | EventData::Skipped(m) => serde_json::to_string(m),
            EventData::PartSent(p) | EventData::PartFailed(p) => serde_json::to_string(p),
            EventData::OptedOut(o) | EventData::OptedIn(o) => serde_json::to_string(o),
            EventData::Report(r) => serde_json::to_string(r),
            EventData::Received(m) => serde_json::to_string(m),
            EventData::Mwi(m) => serde_json::to_string(m),
            EventData::ModemUp(m)
            | EventData::ModemDown(m)
            | EventData::ModemOut(m)
            | EventData::ModemBack(m) => serde_json::to_string(m),
        }
    }

    /// The outgoing message this event is about, if any.
    pub fn message(&self) -> Option<&OutgoingView> {
        match self {
            EventData::Queued(m)
            | EventData::Sent(m)
            | EventData::Delivered(m)
            | EventData::Failed(m)
            | EventData::Expired(m)
            | EventData::Cancelled(m)
            | EventData::Skipped(m) => Some(m),
            _ => None,
        }
    }
}

/// `part_sent` / `part_failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEvent {
    pub id: MessageId,
    pub seq: u32,
    pub parts: u32,
    pub to: String,
    pub modem: Option<String>,
    pub sim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `part_failed`: the part will be tried again (here or elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<bool>,
    /// `part_sent`: seconds from `AT+CMGS` to its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
}

/// `report`: a status report and what it was matched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEvent {
    /// The outgoing message, when matched.
    pub id: Option<MessageId>,
    pub seq: Option<u32>,
    pub modem: String,
    pub sim: String,
    pub mr: u8,
    pub recipient: String,
    /// TP-ST.
    pub status: u8,
    pub success: bool,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The SMSC's discharge time (RFC 3339 with its offset).
    pub discharge: Option<String>,
}

/// `mwi`: a message-waiting indication (DCS groups 1100–1110).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MwiEvent {
    pub modem: String,
    pub from: String,
    /// `voicemail`, `fax`, `email` or `other`.
    pub kind: String,
    /// Waiting (true) or cleared (false).
    pub active: bool,
    /// The text that came with it, if any (group 1110 is UCS-2, 1101 GSM-7).
    pub text: String,
}

/// `opted_out` / `opted_in`: a number put on or taken off the suppression
/// list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OptoutEvent {
    /// The number in the list's normal form (E.164 where it can be known).
    pub number: String,
    /// Who did it: `sms` (a keyword received), or the face (`socket:…`,
    /// `http:<token>`).
    pub source: String,
    /// The keyword received, when it came by SMS.
    pub keyword: Option<String>,
    /// Queued marketing messages to the number that ended `skipped` by this
    /// opt-out (each has its own `skipped` event).
    #[serde(default)]
    pub skipped: Vec<i64>,
}

/// `modem_up` / `modem_down` / `modem_out` / `modem_back`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModemEvent {
    pub modem: String,
    pub state: String,
    #[serde(default)]
    pub imsi: Option<String>,
    /// `modem_out`: when the dispatcher tries it again (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

thread_local! {
    /// Set by [`append`] on the store thread: the largest id appended (0:
    /// none), so the thread tells the followers after the commit.
    static APPENDED: Cell<i64> = const { Cell::new(0) };
}

/// The largest event id appended since the last call, 0 if none (store
/// thread only).
pub(crate) fn take_appended() -> i64 {
    APPENDED.with(|a| a.replace(0))
}

/// The advisory lock every PostgreSQL transaction that appends events holds
/// from before its first event to its end (`smsgevnt` in ASCII, as a number; the
/// literal in [`append`]'s SQL is this value): an event id is drawn only
/// under it, and it is released only once the transaction is visible, so
/// transactions that append events commit in the order of their ids. A
/// reader that sees id `N` committed therefore sees every smaller id that
/// will ever commit: a consumer that resumes after `N` misses nothing.
///
/// The store thread takes it right after `BEGIN` of every PostgreSQL batch
/// ([`EVENT_LOCK_SQL`]), before any row lock: a transaction that waited for
/// it while holding row locks another host's transaction (holding the
/// lock) wanted would be a deadlock, and the report's summary rows, which
/// every new message updates, made that common. The lock in `append`'s own
/// SQL keeps the guarantee for any other connection.
/// See docs/cluster.md, "Event ids across hosts".
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const EVENT_LOCK: i64 = 0x736d_7367_6576_6e74;

/// Takes [`EVENT_LOCK`] for the rest of the transaction.
pub(crate) const EVENT_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(8317430974744260212)";

/// The channel a PostgreSQL commit that appended events notifies (see
/// `listen.rs`).
pub(crate) const EVENT_CHANNEL: &str = "smsgate_events";

thread_local! {
    /// The host this store thread appends events for (`[cluster] node`;
    /// none on one host): set once when a PostgreSQL store thread starts.
    static NODE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Names the host whose events this (store) thread appends.
pub(crate) fn set_node(node: Option<String>) {
    NODE.with(|n| *n.borrow_mut() = node);
}

/// Appends one event in the caller's transaction.
pub(crate) fn append(c: &dyn Db, now: DateTime<Utc>, data: &EventData) -> Result<i64, StoreError> {
    let body = data.data_json().map_err(|e| StoreError::Invalid {
        field: "event",
        reason: e.to_string(),
    })?;
    // The host appending (NULL on one host).
    let node = NODE.with(|n| n.borrow().clone());
    let args = args![data.kind(), ms(now), &body, node.as_deref()];
    if let Some(conn) = c.sqlite() {
        // SQLite: a plain INSERT and its rowid. SQLite runs `RETURNING` as a
        // trigger, and a statement with a trigger inside the request's
        // savepoint opens a statement journal that SQLite walks from its
        // start when the statement ends: with an event per message, a
        // 100-recipient array spent most of its time there.
        c.execute(
            "INSERT INTO event (type, at, data, node) VALUES (?1, ?2, ?3, ?4)",
            args,
        )
        .map_err(StoreError::sql("append event"))?;
        let id = conn.last_insert_rowid();
        APPENDED.with(|a| a.set(a.get().max(id)));
        return Ok(id);
    }
    // On PostgreSQL the id is taken under the event lock, held to the end
    // of the transaction (see [`EVENT_LOCK`]), and the listeners of every
    // host are told at commit (`NOTIFY`, once per transaction).
    let id = c
        .query_one(
            "WITH lock AS MATERIALIZED (
                 SELECT pg_advisory_xact_lock(8317430974744260212),
                        pg_notify('smsgate_events', ''))
             INSERT INTO event (type, at, data, node)
             SELECT ?1, CAST(?2 AS BIGINT), ?3, CAST(?4 AS TEXT) FROM lock RETURNING id",
            args,
            |r| r.get(0),
        )
        .map_err(StoreError::sql("append event"))?;
    APPENDED.with(|a| a.set(a.get().max(id)));
    Ok(id)
}

/// One stored event as read, not yet decoded: (id, type, at, data).
pub(crate) type RawEvent = (i64, String, i64, String);

/// Events after `after`, oldest first, at most `limit`; only the `kinds`
/// given (all when empty).
#[cfg(test)]
pub(crate) fn after(
    c: &dyn Db,
    after: i64,
    limit: usize,
    kinds: &[String],
) -> Result<Vec<Event>, StoreError> {
    decode_all(after_raw(c, after, limit, kinds, None)?)
}

/// As [`after`], undecoded: the store thread only reads, and the caller
/// decodes on its own thread. With `node`, only the events that host
/// appended.
pub(crate) fn after_raw(
    c: &dyn Db,
    after: i64,
    limit: usize,
    kinds: &[String],
    node: Option<&str>,
) -> Result<Vec<RawEvent>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let row = |r: &dyn super::sql::Row| {
        Ok((
            r.get::<i64>(0)?,
            r.get::<String>(1)?,
            r.get::<i64>(2)?,
            r.get::<String>(3)?,
        ))
    };
    let rows = if let Some(node) = node {
        let kinds = if kinds.is_empty() {
            serde_json::to_string(EventData::KINDS)
        } else {
            serde_json::to_string(kinds)
        }
        .unwrap_or_else(|_| "[]".into());
        c.query(
            c.pick(
                "SELECT id, type, at, data FROM event
                 WHERE id > ?1 AND type IN (SELECT value FROM json_each(?3)) AND node = ?4
                 ORDER BY id LIMIT ?2",
                "SELECT id, type, at, data FROM event
                 WHERE id > ?1 AND type IN (SELECT json_array_elements_text(CAST(?3 AS json)))
                     AND node = ?4
                 ORDER BY id LIMIT ?2",
            ),
            args![after, limit, &kinds, node],
            row,
        )
    } else if kinds.is_empty() {
        c.query(
            "SELECT id, type, at, data FROM event WHERE id > ?1 ORDER BY id LIMIT ?2",
            args![after, limit],
            row,
        )
    } else {
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        c.query(
            c.pick(
                "SELECT id, type, at, data FROM event
                 WHERE id > ?1 AND type IN (SELECT value FROM json_each(?3))
                 ORDER BY id LIMIT ?2",
                "SELECT id, type, at, data FROM event
                 WHERE id > ?1 AND type IN (SELECT json_array_elements_text(CAST(?3 AS json)))
                 ORDER BY id LIMIT ?2",
            ),
            args![after, limit, &kinds],
            row,
        )
    }
    .map_err(StoreError::sql("read events"))?;
    Ok(rows)
}

/// Decodes what [`after_raw`] read.
pub(crate) fn decode_all(rows: Vec<RawEvent>) -> Result<Vec<Event>, StoreError> {
    rows.into_iter()
        .map(|(id, kind, at, data)| decode(id, &kind, at, &data))
        .collect()
}

fn decode(id: i64, kind: &str, at: i64, data: &str) -> Result<Event, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        field: "event",
        value: format!("event {id} ({kind}): {e}"),
    };
    // The enum's own shape, `{"type": …, "data": …}`, with the tag first so
    // serde reads the content straight into its type (no `Value` between).
    let tag = serde_json::to_string(kind).map_err(corrupt)?;
    let mut text = String::with_capacity(data.len() + tag.len() + 20);
    text.push_str("{\"type\":");
    text.push_str(&tag);
    text.push_str(",\"data\":");
    text.push_str(data);
    text.push('}');
    let data: EventData = serde_json::from_str(&text).map_err(corrupt)?;
    Ok(Event {
        event_id: id,
        at: from_ms("event.at", at)?,
        data,
    })
}

/// The id of the newest event (0 when the log is empty).
pub(crate) fn last_id(c: &dyn Db) -> Result<i64, StoreError> {
    c.query_one("SELECT COALESCE(MAX(id), 0) FROM event", args![], |r| {
        r.get(0)
    })
    .map_err(StoreError::sql("read last event"))
}

/// A consumer's position: the last event it has handled. A consumer seen for
/// the first time starts at the end of the log (it is not handed history).
pub(crate) fn cursor(c: &dyn Db, name: &str, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let found: Option<i64> = c
        .query_opt(
            "SELECT position FROM consumer WHERE name = ?1",
            args![name],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("read cursor"))?;
    if let Some(p) = found {
        return Ok(p);
    }
    let start = last_id(c)?;
    set_cursor(c, name, start, now)?;
    Ok(start)
}

/// Moves a consumer's cursor forward (never back).
pub(crate) fn set_cursor(
    c: &dyn Db,
    name: &str,
    position: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        c.pick(
            "INSERT INTO consumer (name, position, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET
                 position = MAX(consumer.position, excluded.position),
                 updated_at = excluded.updated_at",
            "INSERT INTO consumer (name, position, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET
                 position = GREATEST(consumer.position, excluded.position),
                 updated_at = excluded.updated_at",
        ),
        args![name, position, ms(now)],
    )
    .map_err(StoreError::sql("write cursor"))?;
    Ok(())
}

/// Every consumer with its position.
pub(crate) fn cursors(c: &dyn Db) -> Result<Vec<(String, i64)>, StoreError> {
    c.query(
        "SELECT name, position FROM consumer ORDER BY name",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(StoreError::sql("read cursors"))
}

/// Takes or renews the lease of consumer `name` for `node`, for `lease_ms`
/// from now by the database's clock (so the hosts' clocks need not agree):
/// true when `node` holds it now (it was free, expired, or already
/// `node`'s), false while another node's lease runs. PostgreSQL only (one
/// host serves every consumer on SQLite); the row is taken under its lock,
/// so two hosts asking at once cannot both win.
pub(crate) fn lease_take(
    c: &dyn Db,
    name: &str,
    node: &str,
    lease_ms: i64,
) -> Result<bool, StoreError> {
    let held: Option<String> = c
        .query_opt(
            "WITH now AS (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS ms)
             INSERT INTO consumer_lease (name, node, expires_at, taken_at)
             SELECT ?1, ?2, now.ms + CAST(?3 AS BIGINT), now.ms FROM now
             ON CONFLICT (name) DO UPDATE SET
                 node = excluded.node,
                 expires_at = excluded.expires_at,
                 taken_at = CASE WHEN consumer_lease.node = excluded.node
                                 THEN consumer_lease.taken_at ELSE excluded.taken_at END
             WHERE consumer_lease.node = excluded.node
                OR consumer_lease.expires_at < excluded.taken_at
             RETURNING node",
            args![name, node, lease_ms],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("take consumer lease"))?;
    Ok(held.is_some())
}

/// Gives up `node`'s lease of consumer `name` (another host may take it at
/// once).
pub(crate) fn lease_release(c: &dyn Db, name: &str, node: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM consumer_lease WHERE name = ?1 AND node = ?2",
        args![name, node],
    )
    .map_err(StoreError::sql("release consumer lease"))?;
    Ok(())
}

/// A consumer's lease as `status` shows it: which host serves the
/// consumer, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseView {
    /// `hook:<event>` or `webhook:<id>`.
    pub consumer: String,
    /// The host holding (or last holding) the lease.
    pub node: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Milliseconds until it expires, by the database's clock (the one the
    /// lease is taken by); negative once lapsed (any host may take it).
    pub expires_in_ms: i64,
    /// When this host took it (RFC 3339).
    pub taken_at: String,
}

/// Every consumer lease, by consumer (none on SQLite, where one host
/// serves every consumer).
pub(crate) fn leases(c: &dyn Db) -> Result<Vec<LeaseView>, StoreError> {
    let rows: Vec<(String, String, i64, i64, i64)> = c
        .query(
            c.pick(
                "SELECT name, node, expires_at, taken_at,
                        expires_at - CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
                 FROM consumer_lease ORDER BY name",
                "SELECT name, node, expires_at, taken_at,
                        expires_at - CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)
                 FROM consumer_lease ORDER BY name",
            ),
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(StoreError::sql("read consumer leases"))?;
    rows.into_iter()
        .map(|(consumer, node, expires, taken, left)| {
            Ok(LeaseView {
                consumer,
                node,
                expires_at: super::rfc3339_ms("consumer_lease.expires_at", expires)?,
                expires_in_ms: left,
                taken_at: super::rfc3339_ms("consumer_lease.taken_at", taken)?,
            })
        })
        .collect()
}

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pruned {
    pub messages: u64,
    pub inbox: u64,
    pub received_pdus: u64,
    pub reports: u64,
    pub events: u64,
    pub webhook_deliveries: u64,
    /// True when rows older than the cutoff remain (call again).
    pub more: bool,
}

/// The most rows of one kind one pruning step deletes: the store thread is
/// never held for long; `prune` repeats steps until nothing is left.
#[cfg(not(test))]
pub const PRUNE_STEP: i64 = 2_000;
/// Small in tests, so a test crosses several steps with few rows.
#[cfg(test)]
pub const PRUNE_STEP: i64 = 250;

/// Deletes up to [`PRUNE_STEP`] rows of each kind older than `cutoff`:
/// finished outgoing messages (with their parts), received messages and
/// their PDUs, status reports, events and webhook delivery records. (The per-SIM send log prunes
/// itself as it goes.)
pub(crate) fn prune_step(c: &dyn Db, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let cut = ms(cutoff);
    let run = |sql: &str, arg: i64| -> Result<u64, StoreError> {
        c.execute(sql, args![arg, PRUNE_STEP])
            .map_err(StoreError::sql("prune"))
    };
    let mut p = Pruned {
        messages: run(
            "DELETE FROM outgoing WHERE id IN (SELECT id FROM outgoing
               WHERE finished_at IS NOT NULL AND finished_at < ?1 LIMIT ?2)",
            cut,
        )?,
        ..Pruned::default()
    };
    // Received PDUs of an old inbox message go with it; stray parts of a set
    // that never completed go by their own age.
    p.received_pdus = run(
        "DELETE FROM received_pdu WHERE id IN (SELECT id FROM received_pdu
           WHERE received_at < ?1 LIMIT ?2)",
        cut,
    )?;
    p.inbox = run(
        "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE received_at < ?1 LIMIT ?2)
           AND NOT EXISTS (SELECT 1 FROM received_pdu r WHERE r.inbox_id = inbox.id)",
        cut,
    )?;
    p.reports = run(
        "DELETE FROM status_report WHERE id IN (SELECT id FROM status_report
           WHERE received_at < ?1 LIMIT ?2)",
        cut,
    )?;
    p.events = run(
        // Ids grow with time: the old events are the first ones, so the scan
        // stops at the first young one instead of reading the whole log.
        "DELETE FROM event WHERE id IN (SELECT id FROM event WHERE id < COALESCE(
           (SELECT id FROM event WHERE at >= ?1 ORDER BY id LIMIT 1), 9223372036854775807)
           ORDER BY id LIMIT ?2)",
        cut,
    )?;
    p.webhook_deliveries = super::webhooks::prune_step(c, cutoff, PRUNE_STEP)?;
    let step = PRUNE_STEP as u64;
    p.more = [
        p.messages,
        p.received_pdus,
        p.inbox,
        p.reports,
        p.events,
        p.webhook_deliveries,
    ]
    .iter()
    .any(|n| *n >= step);
    Ok(p)
}

/// Returns up to `pages` free pages to the file system (incremental vacuum).
/// Nothing on PostgreSQL, whose autovacuum does this by itself.
pub(crate) fn vacuum_step(c: &dyn Db, pages: u32) -> Result<(), StoreError> {
    if c.dialect() == Dialect::Postgres {
        return Ok(());
    }
    c.batch(&format!("PRAGMA incremental_vacuum({pages})"))
        .map_err(StoreError::sql("incremental vacuum"))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::store::sql::PgConn;
    use crate::store::{pgtest, schema_pg};

    const WAIT: Duration = Duration::from_secs(30);

    fn modem_up(name: &str) -> EventData {
        EventData::ModemUp(ModemEvent {
            modem: name.into(),
            state: "ready".into(),
            ..ModemEvent::default()
        })
    }

    fn ids(c: &dyn Db) -> Vec<i64> {
        after(c, 0, 100, &[])
            .expect("read")
            .iter()
            .map(|e| e.event_id)
            .collect()
    }

    /// Polls `f` until it holds; panics after [`WAIT`].
    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_lock_in_the_append_sql_is_the_event_lock() {
        // The SQL carries the key as a literal (no parameter in a CTE that
        // must run first); keep it equal to the constant.
        assert_eq!(
            EVENT_LOCK_SQL,
            format!("SELECT pg_advisory_xact_lock({EVENT_LOCK})")
        );
        let src = include_str!("events.rs");
        assert!(src.contains(&format!("pg_advisory_xact_lock({EVENT_LOCK})")));
        assert!(src.contains(&format!("pg_notify('{EVENT_CHANNEL}'")));
    }

    /// Two hosts' transactions append events and their commits interleave
    /// the dangerous way: the first to draw an id commits last. Without the
    /// event lock, a reader would see the second id committed while the
    /// first was still open, move past it, and never read it. With it, the
    /// second transaction cannot draw an id until the first has committed.
    #[test]
    fn event_ids_commit_in_their_order_across_connections() {
        let Some(url) = pgtest::url() else { return };
        let a = PgConn::connect(&url).expect("connect a");
        schema_pg::migrate_pg(&a).expect("migrate");
        let reader = PgConn::connect(&url).expect("connect reader");
        let now = Utc::now();
        a.batch("BEGIN").expect("begin a");
        let id_a = append(&a, now, &modem_up("a")).expect("append a");

        let (drawn_tx, drawn_rx) = mpsc::channel();
        let (commit_tx, commit_rx) = mpsc::channel::<()>();
        let url_b = url.clone();
        let b = std::thread::spawn(move || {
            let b = PgConn::connect(&url_b).expect("connect b");
            b.batch("BEGIN").expect("begin b");
            let id = append(&b, now, &modem_up("b")).expect("append b");
            drawn_tx.send(id).expect("send id");
            commit_rx.recv().expect("go");
            b.batch("COMMIT").expect("commit b");
        });
        // B waits for the event lock A holds; it has drawn no id.
        wait_for("b to wait for the event lock", || {
            (&reader as &dyn Db)
                .query_one(
                    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                    args![],
                    |r| r.get::<i64>(0),
                )
                .expect("pg_locks")
                == 1
        });
        assert!(drawn_rx.try_recv().is_err(), "b drew an id under a's lock");
        assert_eq!(ids(&reader), Vec::<i64>::new());

        a.batch("COMMIT").expect("commit a");
        let id_b = drawn_rx.recv_timeout(WAIT).expect("b draws its id");
        assert!(id_b > id_a, "{id_b} after {id_a}");
        // A is visible, B (open) is not: a consumer now at id_a has missed
        // nothing, and will read id_b when it commits.
        assert_eq!(ids(&reader), vec![id_a]);
        commit_tx.send(()).expect("go");
        b.join().expect("b");
        assert_eq!(ids(&reader), vec![id_a, id_b]);
    }

    #[test]
    fn a_consumer_lease_is_held_by_one_node_until_it_expires_or_is_released() {
        let Some(db) = pgtest::database() else { return };
        schema_pg::migrate_pg(&db).expect("migrate");
        let long = 60_000;
        assert!(lease_take(&db, "hook:sent", "a", long).expect("a takes"));
        assert!(!lease_take(&db, "hook:sent", "b", long).expect("b refused"));
        assert!(lease_take(&db, "hook:sent", "a", long).expect("a renews"));
        assert!(lease_take(&db, "hook:received", "b", long).expect("b takes another"));
        lease_release(&db, "hook:sent", "b").expect("b cannot release a's");
        assert!(!lease_take(&db, "hook:sent", "b", long).expect("still a's"));
        lease_release(&db, "hook:sent", "a").expect("a releases");
        assert!(lease_take(&db, "hook:sent", "b", long).expect("b takes it"));
        // An expired lease goes to whoever asks.
        db.execute(
            "UPDATE consumer_lease SET expires_at = 0 WHERE name = 'hook:sent'",
            args![],
        )
        .expect("expire");
        assert!(lease_take(&db, "hook:sent", "a", long).expect("a takes over"));
        let held: Vec<(String, String)> = leases(&db)
            .expect("leases")
            .into_iter()
            .map(|l| (l.consumer, l.node))
            .collect();
        assert_eq!(
            held,
            vec![
                ("hook:received".to_string(), "b".to_string()),
                ("hook:sent".to_string(), "a".to_string())
            ]
        );
    }

    /// Two hosts on one database: each event records the host that
    /// appended it, a host's reader of its own events hands out only those
    /// and moves past the others' (as past events of other kinds).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_event_records_its_host_and_a_host_reads_its_own() {
        use crate::store::Store;
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let open = |node: &'static str| {
            let url = url.clone();
            tokio::task::spawn_blocking(move || Store::open_postgres_as(&url, Some(node)))
        };
        let a = open("a").await.expect("join").expect("open a");
        let b = open("b").await.expect("join").expect("open b");
        let now = Utc::now();
        let m1 = a.append_event(modem_up("m1"), now).await.expect("a");
        let m2 = b.append_event(modem_up("m2"), now).await.expect("b");
        let m3 = a.append_event(modem_up("m3"), now).await.expect("a");
        let of = |events: Vec<Event>| events.iter().map(|e| e.event_id).collect::<Vec<_>>();
        let kinds = vec!["modem_up".to_string()];
        assert_eq!(
            of(a.events_of("a", 0, 10, vec![]).await.expect("a's")),
            [m1, m3]
        );
        assert_eq!(
            of(b.events_of("b", 0, 10, kinds.clone()).await.expect("b's")),
            [m2]
        );
        assert_eq!(
            of(b.events_of("c", 0, 10, vec![]).await.expect("none")),
            Vec::<i64>::new()
        );
        assert_eq!(
            of(b.events_after(0, 10, vec![]).await.expect("all")),
            [m1, m2, m3]
        );

        // B's reader of its own events: m2, then past a's m4 without it.
        let mut reader = crate::events::Reader::new(b.clone(), 0, kinds).of_node(Some("b".into()));
        let first = tokio::time::timeout(WAIT, reader.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("read");
        assert_eq!(of(first), [m2]);
        let m4 = a.append_event(modem_up("m4"), now).await.expect("a");
        loop {
            let batch = tokio::time::timeout(WAIT, reader.next())
                .await
                .expect("b hears of m4 in time")
                .expect("open")
                .expect("read");
            assert!(batch.is_empty(), "{batch:?}");
            if reader.position() >= m4 {
                break;
            }
        }
        let m5 = b.append_event(modem_up("m5"), now).await.expect("b");
        let next = tokio::time::timeout(WAIT, reader.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("read");
        assert_eq!(of(next), [m5]);
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }
}
