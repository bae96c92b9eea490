//! Delivery reports: per group (modem, day or campaign), how many messages
//! and parts were sent, delivered, failed, expired and received since a
//! moment, the delivery rate, and the median and 95th percentile of the
//! queued-to-sent and sent-to-delivered times. Owns the report's types and
//! its SQL; it does not parse durations or print (the gateway and the CLI do).
//!
//! A report over `[since, now]` reads whole UTC days from the summary that
//! migration 12's triggers keep (`report_day`, `report_time`,
//! `report_received`), and the rows themselves only for the part of the
//! first day after `since`: two ordered walks merged here (messages through
//! `outgoing_created` and `outgoing_report`, their parts through
//! `part_report`). Counts are exact either way. Times are counted in the
//! summary's steps (two significant digits, rounded down; 100 ms under
//! 10 s, see [`time_step`]), and the walk takes its times the same way, so
//! the percentiles (nearest rank) do not depend on where the window starts.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::sql::{args, Db, DbError, Row, Value};
use super::{ms, rfc3339_ms, StoreError};

/// How a report groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportBy {
    /// The modem that sent the message (or was asked for, or `none`).
    #[default]
    Modem,
    /// The UTC day the message was queued (received messages: the day they came).
    Day,
    /// The campaign of the message, named `<name> (#<id>)`; single
    /// messages (and received ones) are in the group `none`.
    Campaign,
}

impl ReportBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportBy::Modem => "modem",
            ReportBy::Day => "day",
            ReportBy::Campaign => "campaign",
        }
    }
}

impl FromStr for ReportBy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<ReportBy, StoreError> {
        match s {
            "modem" => Ok(ReportBy::Modem),
            "day" => Ok(ReportBy::Day),
            "campaign" => Ok(ReportBy::Campaign),
            _ => Err(StoreError::Invalid {
                field: "by",
                reason: format!("{s:?} is not modem, day or campaign"),
            }),
        }
    }
}

/// The name of the group of messages that have none (no modem, no campaign).
pub const NO_GROUP: &str = "none";

/// Median and 95th percentile of a set of durations, in seconds; `None`
/// when the set is empty.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
}

/// One group's figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The modem name, the day (`YYYY-MM-DD`) or the campaign; `none` when
    /// the message has none.
    pub group: String,
    /// Messages queued since the start of the report (every state).
    pub messages: u64,
    /// Of those: every part went out.
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_failed: u64,
    pub messages_expired: u64,
    pub messages_cancelled: u64,
    /// Not sent on purpose: marketing to a number that opted out.
    #[serde(default)]
    pub messages_skipped: u64,
    /// Still queued or sending.
    pub messages_pending: u64,
    /// Messages sent that asked for a status report.
    pub messages_sent_with_report: u64,
    pub parts: u64,
    pub parts_sent: u64,
    pub parts_delivered: u64,
    pub parts_failed: u64,
    /// Messages received (complete or not) since the start of the report.
    pub received: u64,
    /// `messages_delivered / messages_sent_with_report`; `None` when no
    /// sent message asked for a report.
    pub delivery_rate: Option<f64>,
    /// From queued to the last part sent, over the messages sent.
    pub queued_to_sent: Percentiles,
    /// From the last part sent to the last part delivered, over the
    /// messages delivered.
    pub sent_to_delivered: Percentiles,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// RFC 3339: messages queued (or received) at or after this moment count.
    pub since: String,
    /// RFC 3339: when the report was made.
    pub until: String,
    pub by: ReportBy,
    /// One row per group, sorted by group name.
    pub groups: Vec<ReportRow>,
    /// Every group together (group `total`).
    pub total: ReportRow,
}

/// Column order of [`Report::to_csv`].
pub const CSV_HEADER: &[&str] = &[
    "group",
    "messages",
    "messages_sent",
    "messages_delivered",
    "messages_failed",
    "messages_expired",
    "messages_cancelled",
    "messages_skipped",
    "messages_pending",
    "messages_sent_with_report",
    "parts",
    "parts_sent",
    "parts_delivered",
    "parts_failed",
    "received",
    "delivery_rate",
    "queued_to_sent_p50_s",
    "queued_to_sent_p95_s",
    "sent_to_delivered_p50_s",
    "sent_to_delivered_p95_s",
];

impl Report {
    /// The groups as CSV (RFC 4180: a header line, then one line per group,
    /// fields quoted when they need it, CRLF line ends). Empty figures
    /// (no rate, no times) are empty fields.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        push_csv_line(&mut out, CSV_HEADER.iter().map(|s| s.to_string()));
        for r in &self.groups {
            let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            push_csv_line(
                &mut out,
                [
                    r.group.clone(),
                    r.messages.to_string(),
                    r.messages_sent.to_string(),
                    r.messages_delivered.to_string(),
                    r.messages_failed.to_string(),
                    r.messages_expired.to_string(),
                    r.messages_cancelled.to_string(),
                    r.messages_skipped.to_string(),
                    r.messages_pending.to_string(),
                    r.messages_sent_with_report.to_string(),
                    r.parts.to_string(),
                    r.parts_sent.to_string(),
                    r.parts_delivered.to_string(),
                    r.parts_failed.to_string(),
                    r.received.to_string(),
                    opt(r.delivery_rate),
                    opt(r.queued_to_sent.p50_s),
                    opt(r.queued_to_sent.p95_s),
                    opt(r.sent_to_delivered.p50_s),
                    opt(r.sent_to_delivered.p95_s),
                ]
                .into_iter(),
            );
        }
        out
    }
}

fn push_csv_line(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push_str("\r\n");
}

/// Milliseconds in a UTC day: the summary's buckets.
const DAY_MS: i64 = 86_400_000;

/// The step a time of `v` ms is counted in: `v` to two significant digits,
/// rounded down, and in steps of 100 ms under 10 s (1234 → 1200,
/// 56_789 → 56_000). The same as the `CASE` of `report_message`
/// (migration 12). Negative times count as 0.
pub(crate) fn time_step(v: i64) -> i64 {
    let v = v.max(0);
    if v < 10_000 {
        return v / 100 * 100;
    }
    let mut unit = 1_i64;
    while v / unit >= 100 {
        unit *= 10;
    }
    v / unit * unit
}

/// A group's sums and the times its percentiles come from (ms in steps of
/// [`time_step`] → how many).
#[derive(Default)]
struct Acc {
    row: ReportRow,
    to_sent: BTreeMap<i64, u64>,
    to_delivered: BTreeMap<i64, u64>,
}

/// Nearest-rank percentile `p` (0..=1) of counted times (ms → count), in
/// seconds.
fn percentile(counts: &BTreeMap<i64, u64>, total: u64, p: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (ms, n) in counts {
        seen += n;
        if seen >= rank {
            return Some(*ms as f64 / 1000.0);
        }
    }
    None
}

fn percentiles(counts: &BTreeMap<i64, u64>) -> Percentiles {
    let count = counts.values().sum();
    Percentiles {
        count,
        p50_s: percentile(counts, count, 0.5),
        p95_s: percentile(counts, count, 0.95),
    }
}

fn merge(into: &mut BTreeMap<i64, u64>, from: &BTreeMap<i64, u64>) {
    for (ms, n) in from {
        *into.entry(*ms).or_default() += n;
    }
}

fn day_name(day: i64) -> String {
    DateTime::from_timestamp_millis(day.saturating_mul(DAY_MS))
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MIN)
        .format("%Y-%m-%d")
        .to_string()
}

fn add(row: &mut ReportRow, other: &ReportRow) {
    row.messages += other.messages;
    row.messages_sent += other.messages_sent;
    row.messages_delivered += other.messages_delivered;
    row.messages_failed += other.messages_failed;
    row.messages_expired += other.messages_expired;
    row.messages_cancelled += other.messages_cancelled;
    row.messages_skipped += other.messages_skipped;
    row.messages_pending += other.messages_pending;
    row.messages_sent_with_report += other.messages_sent_with_report;
    row.parts += other.parts;
    row.parts_sent += other.parts_sent;
    row.parts_delivered += other.parts_delivered;
    row.parts_failed += other.parts_failed;
    row.received += other.received;
}

/// Adds one message (its state and its folded parts) to a group.
fn add_message(acc: &mut Acc, state: &str, wants_report: bool, created: i64, f: &Fold) {
    let row = &mut acc.row;
    row.messages += 1;
    row.parts += f.parts;
    row.parts_sent += f.sent;
    row.parts_delivered += f.delivered;
    row.parts_failed += f.failed;
    match state {
        "delivered" => row.messages_delivered += 1,
        "failed" => row.messages_failed += 1,
        "expired" => row.messages_expired += 1,
        "cancelled" => row.messages_cancelled += 1,
        "skipped" => row.messages_skipped += 1,
        "queued" | "sending" => row.messages_pending += 1,
        _ => {}
    }
    if f.parts > 0 && f.sent == f.parts {
        row.messages_sent += 1;
        if wants_report {
            row.messages_sent_with_report += 1;
        }
        if let Some(sent) = f.last_sent {
            *acc.to_sent.entry(time_step(sent - created)).or_default() += 1;
            if state == "delivered" {
                if let Some(done) = f.last_delivered {
                    *acc.to_delivered.entry(time_step(done - sent)).or_default() += 1;
                }
            }
        }
    }
}

fn finish(mut acc: Acc) -> ReportRow {
    acc.row.delivery_rate = (acc.row.messages_sent_with_report > 0)
        .then(|| acc.row.messages_delivered as f64 / acc.row.messages_sent_with_report as f64);
    acc.row.queued_to_sent = percentiles(&acc.to_sent);
    acc.row.sent_to_delivered = percentiles(&acc.to_delivered);
    acc.row
}

/// What one message's parts add up to.
#[derive(Default)]
struct Fold {
    parts: u64,
    sent: u64,
    delivered: u64,
    failed: u64,
    last_sent: Option<i64>,
    last_delivered: Option<i64>,
    modem: Option<String>,
}

/// One message of the walk, with its parts folded in.
struct Walked {
    id: i64,
    created: i64,
    state: &'static str,
    wants_report: bool,
    /// The modem assigned, else the one asked for.
    asked: Option<String>,
    campaign: Option<i64>,
    fold: Fold,
}

/// A message's state as one of the names the report counts (no
/// allocation); `""` for any other.
fn state_name(s: &str) -> &'static str {
    const STATES: &[&str] = &[
        "queued",
        "sending",
        "delivered",
        "failed",
        "expired",
        "cancelled",
        "skipped",
    ];
    STATES.iter().copied().find(|k| *k == s).unwrap_or_default()
}

/// How many messages the walk reads at a time, with their parts: the
/// memory it holds is bounded whatever the window, on either engine
/// (PostgreSQL's client receives a statement's rows whole).
/// Tests take small chunks, so that their walks cross chunk edges.
const CHUNK: i64 = if cfg!(test) { 7 } else { 2048 };

/// The accumulator of group `key`, made on first use (no allocation when
/// it exists).
fn group<'a>(groups: &'a mut BTreeMap<String, Acc>, key: &str) -> &'a mut Acc {
    if !groups.contains_key(key) {
        groups.insert(key.to_string(), Acc::default());
    }
    groups.entry(key.to_string()).or_default()
}

/// The groups being summed, with the names already looked up.
struct Groups<'c> {
    db: &'c dyn Db,
    by: ReportBy,
    groups: BTreeMap<String, Acc>,
    days: BTreeMap<i64, String>,
    campaigns: BTreeMap<i64, String>,
}

impl<'c> Groups<'c> {
    fn new(db: &'c dyn Db, by: ReportBy) -> Groups<'c> {
        Groups {
            db,
            by,
            groups: BTreeMap::new(),
            days: BTreeMap::new(),
            campaigns: BTreeMap::new(),
        }
    }

    /// The group of a message queued on `day` (UTC days since the epoch)
    /// through `modem` (`None` or empty: none) in `campaign`.
    fn of(
        &mut self,
        day: i64,
        modem: Option<&str>,
        campaign: Option<i64>,
    ) -> Result<&mut Acc, DbError> {
        let key: &str = match self.by {
            ReportBy::Modem => match modem {
                Some(m) if !m.is_empty() => m,
                _ => NO_GROUP,
            },
            ReportBy::Day => self.days.entry(day).or_insert_with(|| day_name(day)),
            ReportBy::Campaign => match campaign {
                Some(cid) if cid != 0 => match self.campaigns.entry(cid) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let name: Option<String> = self.db.query_opt(
                            "SELECT name FROM campaign WHERE id = ?1",
                            args![cid],
                            |r| r.get(0),
                        )?;
                        let name = name.unwrap_or_default();
                        e.insert(format!("{name} (#{cid})"))
                    }
                },
                _ => NO_GROUP,
            },
        };
        Ok(group(&mut self.groups, key))
    }
}

/// Sums the messages queued in `[from, until)` (`until` `None`: no end)
/// from the rows themselves.
///
/// Two ordered walks merged here rather than a join with GROUP BY (which
/// SQLite runs several times slower over a million rows): the messages
/// between the first and the last one queued in the range (found through
/// `outgoing_created`) in id order, and their parts in primary-key order
/// (both read from the covering indexes `outgoing_report` and
/// `part_report`). Each walk is read in chunks keyed by the message id: up
/// to [`CHUNK`] messages after the last one done, then the parts of the
/// ids they span, so one statement runs at a time and nothing holds more
/// than a chunk, on SQLite and PostgreSQL alike.
fn walk(g: &mut Groups, from: i64, until: Option<i64>) -> Result<(), DbError> {
    let db = g.db;
    let until = until.unwrap_or(i64::MAX);
    let (first, last): (Option<i64>, Option<i64>) = db.query_one(
        "SELECT MIN(id), MAX(id) FROM outgoing WHERE created_at >= ?1 AND created_at < ?2",
        args![from, until],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(());
    };
    let mut after = first.saturating_sub(1);
    let mut chunk: Vec<Walked> = Vec::new();
    loop {
        chunk.clear();
        db.query_each(
            "SELECT id, created_at, state, report, COALESCE(assigned_modem, modem), campaign
             FROM outgoing WHERE id > ?1 AND id <= ?2 AND created_at >= ?3 AND created_at < ?4
             ORDER BY id LIMIT ?5",
            args![after, last, from, until, CHUNK],
            &mut |r| {
                chunk.push(Walked {
                    id: r.get(0)?,
                    created: r.get(1)?,
                    state: match r.value(2)? {
                        Value::Text(s) => state_name(s),
                        _ => "",
                    },
                    wants_report: r.get(3)?,
                    asked: r.get(4)?,
                    campaign: r.get(5)?,
                    fold: Fold::default(),
                });
                Ok(())
            },
        )?;
        let (Some(lo), Some(hi)) = (chunk.first().map(|m| m.id), chunk.last().map(|m| m.id)) else {
            return Ok(());
        };
        // The parts of the chunk's ids, merged into the chunk in id order
        // (parts of messages queued outside the range are passed over).
        let mut i = 0;
        db.query_each(
            "SELECT message_id, state, modem, sent_at, delivered_at
             FROM outgoing_part WHERE message_id >= ?1 AND message_id <= ?2
             ORDER BY message_id, seq",
            args![lo, hi],
            &mut |r| {
                let id: i64 = r.get(0)?;
                while chunk.get(i).is_some_and(|m| m.id < id) {
                    i += 1;
                }
                let Some(m) = chunk.get_mut(i).filter(|m| m.id == id) else {
                    return Ok(());
                };
                let f = &mut m.fold;
                let state = r.value(1)?;
                f.parts += 1;
                f.delivered += u64::from(state == Value::Text("delivered"));
                f.failed += u64::from(state == Value::Text("failed"));
                if f.modem.is_none() {
                    f.modem = r.get(2)?;
                }
                if let Some(t) = r.get::<Option<i64>>(3)? {
                    f.sent += 1;
                    f.last_sent = f.last_sent.max(Some(t));
                }
                f.last_delivered = f.last_delivered.max(r.get(4)?);
                Ok(())
            },
        )?;
        let full = chunk.len() as i64 == CHUNK;
        for m in &chunk {
            let modem = m.fold.modem.as_deref().or(m.asked.as_deref());
            let acc = g.of(m.created.div_euclid(DAY_MS), modem, m.campaign)?;
            add_message(acc, m.state, m.wants_report, m.created, &m.fold);
        }
        if !full || hi >= last {
            return Ok(());
        }
        after = hi;
    }
}

/// Adds the received messages of `[from, until)` from the inbox, counted
/// per modem and day by the database (a few rows whatever the window).
fn walk_inbox(g: &mut Groups, from: i64, until: Option<i64>) -> Result<(), DbError> {
    let db = g.db;
    db.query_each(
        "SELECT modem, received_at / 86400000, COUNT(*) FROM inbox
         WHERE received_at >= ?1 AND received_at < ?2 GROUP BY 1, 2",
        args![from, until.unwrap_or(i64::MAX)],
        &mut |r| {
            let modem = match r.value(0)? {
                Value::Text(m) => m,
                _ => "",
            };
            let day: i64 = r.get(1)?;
            let count: u64 = r.get(2)?;
            let key = match g.by {
                ReportBy::Modem => modem,
                ReportBy::Day => g.days.entry(day).or_insert_with(|| day_name(day)),
                ReportBy::Campaign => NO_GROUP,
            };
            group(&mut g.groups, key).row.received += count;
            Ok(())
        },
    )
}

/// A count of the summary (never negative; a row gone back to zero reads 0).
fn count(r: &dyn Row, i: usize) -> Result<u64, DbError> {
    Ok(u64::try_from(r.get::<i64>(i)?).unwrap_or(0))
}

/// Adds the summary's days from `first_day` on (UTC days since the epoch).
fn read_summary(g: &mut Groups, first_day: i64) -> Result<(), DbError> {
    let db = g.db;
    db.query_each(
        "SELECT day, modem, campaign, messages, delivered, failed, expired, cancelled,
             skipped, pending, sent, sent_with_report, parts, parts_sent, parts_delivered,
             parts_failed
         FROM report_day WHERE day >= ?1 AND messages > 0",
        args![first_day],
        &mut |r| {
            let day: i64 = r.get(0)?;
            let modem = match r.value(1)? {
                Value::Text(m) => m,
                _ => "",
            };
            let campaign: i64 = r.get(2)?;
            let row = &mut g.of(day, Some(modem), Some(campaign))?.row;
            row.messages += count(r, 3)?;
            row.messages_delivered += count(r, 4)?;
            row.messages_failed += count(r, 5)?;
            row.messages_expired += count(r, 6)?;
            row.messages_cancelled += count(r, 7)?;
            row.messages_skipped += count(r, 8)?;
            row.messages_pending += count(r, 9)?;
            row.messages_sent += count(r, 10)?;
            row.messages_sent_with_report += count(r, 11)?;
            row.parts += count(r, 12)?;
            row.parts_sent += count(r, 13)?;
            row.parts_delivered += count(r, 14)?;
            row.parts_failed += count(r, 15)?;
            Ok(())
        },
    )?;
    db.query_each(
        "SELECT day, modem, campaign, kind, ms, n FROM report_time
         WHERE day >= ?1 AND n > 0",
        args![first_day],
        &mut |r| {
            let day: i64 = r.get(0)?;
            let modem = match r.value(1)? {
                Value::Text(m) => m,
                _ => "",
            };
            let campaign: i64 = r.get(2)?;
            let kind: i64 = r.get(3)?;
            let ms: i64 = r.get(4)?;
            let n = count(r, 5)?;
            let acc = g.of(day, Some(modem), Some(campaign))?;
            let times = if kind == 0 {
                &mut acc.to_sent
            } else {
                &mut acc.to_delivered
            };
            *times.entry(ms).or_default() += n;
            Ok(())
        },
    )?;
    db.query_each(
        "SELECT day, modem, n FROM report_received WHERE day >= ?1 AND n > 0",
        args![first_day],
        &mut |r| {
            let day: i64 = r.get(0)?;
            let modem = match r.value(1)? {
                Value::Text(m) => m,
                _ => "",
            };
            let n = count(r, 2)?;
            // Received messages have a modem always, and no campaign.
            let key = match g.by {
                ReportBy::Modem => modem,
                ReportBy::Day => g.days.entry(day).or_insert_with(|| day_name(day)),
                ReportBy::Campaign => NO_GROUP,
            };
            group(&mut g.groups, key).row.received += n;
            Ok(())
        },
    )
}

/// Builds the report of everything queued or received at or after `since`:
/// the rows of the first, partial UTC day, and the summary from the next
/// midnight on.
pub(crate) fn report(
    db: &dyn Db,
    since: DateTime<Utc>,
    by: ReportBy,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let since_ms = ms(since);
    // The first midnight at or after `since`.
    let first_day = since_ms.div_euclid(DAY_MS) + i64::from(since_ms.rem_euclid(DAY_MS) != 0);
    let edge = first_day.saturating_mul(DAY_MS);
    let mut g = Groups::new(db, by);
    walk(&mut g, since_ms, Some(edge))
        .and_then(|()| walk_inbox(&mut g, since_ms, Some(edge)))
        .and_then(|()| read_summary(&mut g, first_day))
        .map_err(StoreError::sql("report"))?;
    finish_report(g, since_ms, by, now)
}

/// The same report from the rows alone, without the summary: what the
/// summary must always agree with (tests), and the cost it saves
/// (`benches/report.rs`).
pub(crate) fn report_from_rows(
    db: &dyn Db,
    since: DateTime<Utc>,
    by: ReportBy,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let since_ms = ms(since);
    let mut g = Groups::new(db, by);
    walk(&mut g, since_ms, None)
        .and_then(|()| walk_inbox(&mut g, since_ms, None))
        .map_err(StoreError::sql("report"))?;
    finish_report(g, since_ms, by, now)
}

fn finish_report(
    g: Groups,
    since_ms: i64,
    by: ReportBy,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let mut total = Acc::default();
    let mut rows = Vec::with_capacity(g.groups.len());
    for (group, mut acc) in g.groups {
        acc.row.group = group;
        add(&mut total.row, &acc.row);
        merge(&mut total.to_sent, &acc.to_sent);
        merge(&mut total.to_delivered, &acc.to_delivered);
        rows.push(finish(acc));
    }
    total.row.group = "total".to_string();
    Ok(Report {
        since: rfc3339_ms("since", since_ms)?,
        until: rfc3339_ms("until", ms(now))?,
        by,
        groups: rows,
        total: finish(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let table: &[(&[i64], Option<f64>, Option<f64>)] = &[
            (&[], None, None),
            (&[1000], Some(1.0), Some(1.0)),
            (&[1000, 2000], Some(1.0), Some(2.0)),
            (&[1000, 2000, 3000, 4000], Some(2.0), Some(4.0)),
        ];
        let counted = |v: &[i64]| {
            let mut m = BTreeMap::new();
            for ms in v {
                *m.entry(*ms).or_insert(0) += 1;
            }
            m
        };
        for (v, p50, p95) in table {
            let p = percentiles(&counted(v));
            assert_eq!((p.p50_s, p.p95_s), (*p50, *p95), "{v:?}");
        }
        let hundred: Vec<i64> = (1..=100).rev().map(|s| s * 1000).collect();
        let p = percentiles(&counted(&hundred));
        assert_eq!((p.p50_s, p.p95_s, p.count), (Some(50.0), Some(95.0), 100));
    }

    #[test]
    fn by_parses_the_three_groupings() {
        for by in [ReportBy::Modem, ReportBy::Day, ReportBy::Campaign] {
            assert_eq!(by.as_str().parse::<ReportBy>().ok(), Some(by));
        }
        assert!("sim".parse::<ReportBy>().is_err());
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let report = Report {
            since: String::new(),
            until: String::new(),
            by: ReportBy::Modem,
            groups: vec![ReportRow {
                group: "a,\"b\"".into(),
                messages: 2,
                delivery_rate: Some(0.5),
                ..ReportRow::default()
            }],
            total: ReportRow::default(),
        };
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("group,messages,"));
        assert!(lines[1].starts_with("\"a,\"\"b\"\"\",2,"), "{}", lines[1]);
        assert_eq!(lines[1].split(',').filter(|f| *f == "0.5").count(), 1);
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod summary_tests;
