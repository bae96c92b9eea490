//! Outgoing messages and their parts: intake, dispatch queries, the send
//! lifecycle (pin, sending, sent, failed, recovery, expiry, cancel, retry),
//! per-SIM usage and the views `show` / `outbox` print. Plain functions over
//! a `&dyn Db` (SQLite or PostgreSQL, the same SQL; `pick` where the engines
//! differ), run inside the store thread's batch transaction. Does not decide
//! policy (when to retry, which SIM): callers pass that in.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::events::{self, EventData, PartEvent};
use super::sql::{args, Db, Row, Value};
use crate::codec::hex;

use super::{
    digits, from_ms, ms, rfc3339_ms, same_number, Category, Disposition, Enqueued, MessageId,
    MessageOptions, MessageState, NewMessage, OutgoingView, PartPdu, PartRow, PartState, PartView,
    Priority, ReadyBatch, ReadyMessage, Recovered, StoreError, Usage, EARLY_REPORT_WINDOW,
    OPTED_OUT,
};

pub(crate) fn to_u32(field: &'static str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        field,
        value: v.to_string(),
    })
}

pub(crate) fn to_u8(field: &'static str, v: i64) -> Result<u8, StoreError> {
    u8::try_from(v).map_err(|_| StoreError::Corrupt {
        field,
        value: v.to_string(),
    })
}

/// Reads every row with `f`, which may fail with a store error of its own
/// (the first one is returned; the rows after it are still stepped over).
pub(crate) fn rows<T>(
    c: &dyn Db,
    op: &'static str,
    sql: &str,
    args: &[Value<'_>],
    mut f: impl FnMut(&dyn Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut failed = None;
    c.query_each(sql, args, &mut |r| {
        if failed.is_none() {
            match f(r) {
                Ok(v) => out.push(v),
                Err(e) => failed = Some(e),
            }
        }
        Ok(())
    })
    .map_err(StoreError::sql(op))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn message_state(c: &dyn Db, id: MessageId) -> Result<MessageState, StoreError> {
    let state: Option<String> = c
        .query_opt("SELECT state FROM outgoing WHERE id = ?1", args![id], |r| {
            r.get(0)
        })
        .map_err(StoreError::sql("read message state"))?;
    match state {
        Some(s) => s.parse(),
        None => Err(StoreError::NoSuchMessage { id }),
    }
}

fn part_state(c: &dyn Db, id: MessageId, seq: u32) -> Result<PartState, StoreError> {
    let state: Option<String> = c
        .query_opt(
            "SELECT state FROM outgoing_part WHERE message_id = ?1 AND seq = ?2",
            args![id, seq],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("read part state"))?;
    match state {
        Some(s) => s.parse(),
        None => {
            message_state(c, id)?;
            Err(StoreError::NoSuchPart { id, seq })
        }
    }
}

fn set_message_state(
    c: &dyn Db,
    id: MessageId,
    state: MessageState,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let finished = state.is_final().then_some(ms(now));
    let before: Option<(String, Option<i64>)> = c
        .query_opt(
            "SELECT state, campaign FROM outgoing WHERE id = ?1",
            args![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("read message state"))?;
    let changed = c
        .execute(
            "UPDATE outgoing SET state = ?2, error = COALESCE(?3, error), updated_at = ?4,
                 finished_at = ?5 WHERE id = ?1 AND state <> ?2",
            args![id, state.as_str(), error, ms(now), finished],
        )
        .map_err(StoreError::sql("update message state"))?;
    // Back to `queued` after a temporary failure is no news (the
    // `part_failed` event said it); `queued` is announced by `enqueue` and
    // `retry` themselves.
    if changed > 0 {
        if let Some((old, Some(campaign))) = &before {
            super::campaign::count_change(c, *campaign, old.parse()?, state, now)?;
        }
    }
    if changed > 0 && state != MessageState::Queued {
        message_event(c, id, state, now)?;
    }
    Ok(())
}

/// Appends the event for a message that reached `state` (an event means a
/// change: callers only come here when the state changed).
pub(crate) fn message_event(
    c: &dyn Db,
    id: MessageId,
    state: MessageState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let wrap: fn(OutgoingView) -> EventData = match state {
        MessageState::Queued => EventData::Queued,
        MessageState::Sent => EventData::Sent,
        MessageState::Delivered => EventData::Delivered,
        MessageState::Failed => EventData::Failed,
        MessageState::Expired => EventData::Expired,
        MessageState::Cancelled => EventData::Cancelled,
        MessageState::Skipped => EventData::Skipped,
        MessageState::Sending => return Ok(()),
    };
    let view = show(c, id)?.ok_or(StoreError::NoSuchMessage { id })?;
    events::append(c, now, &wrap(view))?;
    Ok(())
}

/// Derives the message state from its parts. Final states stay as they are
/// (a late report does not revive a cancelled message).
pub(crate) fn rollup(
    c: &dyn Db,
    id: MessageId,
    now: DateTime<Utc>,
) -> Result<MessageState, StoreError> {
    let current = message_state(c, id)?;
    if current.is_final() {
        return Ok(current);
    }
    let by_state: Vec<(String, i64)> = c
        .query(
            "SELECT state, COUNT(*) FROM outgoing_part WHERE message_id = ?1 GROUP BY state",
            args![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("count parts"))?;
    let (mut pending, mut sending, mut sent, mut delivered, mut failed, mut cancelled) =
        (0, 0, 0, 0, 0, 0);
    for (state, n) in by_state {
        match state.parse::<PartState>()? {
            PartState::Pending => pending += n,
            PartState::Sending | PartState::Uncertain => sending += n,
            PartState::Sent => sent += n,
            PartState::Delivered => delivered += n,
            PartState::Failed => failed += n,
            PartState::Cancelled => cancelled += n,
        }
    }
    let total = pending + sending + sent + delivered + failed + cancelled;
    let next = if failed > 0 {
        MessageState::Failed
    } else if total > 0 && delivered == total {
        MessageState::Delivered
    } else if total > 0 && sent + delivered == total {
        MessageState::Sent
    } else if cancelled > 0 && pending + sending == 0 {
        MessageState::Cancelled
    } else if pending == total {
        MessageState::Queued
    } else {
        MessageState::Sending
    };
    if next == MessageState::Failed && pending > 0 {
        cancel_pending(c, id, "not sent: another part failed")?;
    }
    if next == MessageState::Delivered && current != MessageState::Sent {
        // A report that came before the part's own answer was committed (the
        // network beat us): the message was sent all the same, and `sent`
        // is announced before `delivered`, never skipped.
        set_message_state(c, id, MessageState::Sent, None, now)?;
    }
    if next != current {
        set_message_state(c, id, next, None, now)?;
    }
    Ok(next)
}

fn cancel_pending(c: &dyn Db, id: MessageId, why: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE outgoing_part SET state = 'cancelled', error = ?2
         WHERE message_id = ?1 AND state = 'pending'",
        args![id, why],
    )
    .map_err(StoreError::sql("cancel pending parts"))?;
    Ok(())
}

pub(crate) fn enqueue(
    c: &dyn Db,
    m: &NewMessage,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    if let Some(key) = &m.spool_key {
        check(m)?;
        let existing: Option<(i64, i64)> = c
            .query_opt(
                "SELECT id, (SELECT COUNT(*) FROM outgoing_part WHERE message_id = outgoing.id)
                 FROM outgoing WHERE spool_key = ?1",
                args![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::sql("look up spool key"))?;
        if let Some((id, parts)) = existing {
            return Ok(Enqueued {
                id,
                parts: to_u32("parts", parts)?,
                duplicate: true,
            });
        }
    }
    insert_fresh(c, std::slice::from_ref(m), now)?
        .pop()
        .ok_or(StoreError::Corrupt {
            field: "outgoing.id",
            value: "no id returned for an inserted message".into(),
        })
}

/// Queues every message of `msgs` (an HTTP array, a campaign chunk), in
/// order, with as few statements as it can: see [`insert_fresh`]. A spool
/// key makes a message go through [`enqueue`] alone (a key may repeat).
pub(crate) fn enqueue_many(
    c: &dyn Db,
    msgs: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>, StoreError> {
    if msgs.iter().any(|m| m.spool_key.is_some()) {
        return msgs.iter().map(|m| enqueue(c, m, now)).collect();
    }
    insert_fresh(c, msgs, now)
}

/// The recipient's digits, or why `m` cannot be queued.
fn check(m: &NewMessage) -> Result<String, StoreError> {
    if m.parts == 0 {
        return Err(StoreError::Invalid {
            field: "parts",
            reason: "a message has at least one part".into(),
        });
    }
    let to_digits = digits(&m.to);
    if to_digits.is_empty() {
        return Err(StoreError::Invalid {
            field: "to",
            reason: format!("{:?} has no digits", m.to),
        });
    }
    Ok(to_digits)
}

/// Most rows one multi-row `INSERT` carries. The chunks of a batch are
/// powers of two up to this (100 rows: 64 + 32 + 4), so only a handful of
/// statement texts exist, each prepared once.
const ROWS_PER_INSERT: usize = 64;

/// `rows` in the chunks they are inserted in, largest first.
fn in_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let n = rows.len();
        let k = if n >= ROWS_PER_INSERT {
            ROWS_PER_INSERT
        } else {
            1 << n.checked_ilog2()?
        };
        let (head, tail) = rows.split_at_checked(k)?;
        rows = tail;
        Some(head)
    })
}

/// Parameters per `outgoing` row in [`insert_messages_sql`].
const MESSAGE_PARAMS: usize = 18;

/// The text for `rows` rows (a power of two up to [`ROWS_PER_INSERT`]) of
/// a multi-row statement: `head`, then `row(i)` for each row joined by
/// commas, then `tail`; `texts` keeps the texts built once.
fn multi_row_sql(
    texts: &'static std::sync::OnceLock<Vec<String>>,
    rows: usize,
    head: &str,
    row: impl Fn(usize) -> String,
    tail: &str,
) -> &'static str {
    let texts = texts.get_or_init(|| {
        (0..=ROWS_PER_INSERT.ilog2())
            .map(|b| {
                let values: Vec<String> = (0..1usize << b).map(&row).collect();
                format!("{head} {} {tail}", values.join(", "))
            })
            .collect()
    });
    texts.get(rows.ilog2() as usize).map_or("", String::as_str)
}

/// `INSERT INTO outgoing … VALUES (…) × rows RETURNING id, recipient`.
fn insert_messages_sql(rows: usize) -> &'static str {
    static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    multi_row_sql(
        &TEXTS,
        rows,
        "INSERT INTO outgoing (recipient, to_digits, text, report, flash, priority, validity_s,
             expires_at, not_before, next_attempt_at, modem, queue, options, source, spool_key,
             state, created_at, updated_at, category, optout_key, campaign)
         VALUES",
        |row| {
            // Parameters 1-15 in column order, 'queued', then the creation
            // time (10) twice and 16-18.
            let p = |ks: &mut dyn Iterator<Item = usize>| {
                ks.map(|k| format!("?{}", row * MESSAGE_PARAMS + k))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "({}, 'queued', {})",
                p(&mut (1..=15)),
                p(&mut [10, 10, 16, 17, 18].into_iter())
            )
        },
        "RETURNING id, recipient",
    )
}

/// `INSERT INTO outgoing_part … VALUES (…) × rows`.
fn insert_parts_sql(rows: usize) -> &'static str {
    static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    multi_row_sql(
        &TEXTS,
        rows,
        "INSERT INTO outgoing_part (message_id, seq, state) VALUES",
        |row| format!("(?{}, ?{}, 'pending')", 2 * row + 1, 2 * row + 2),
        "",
    )
}

/// Inserts `msgs` (no spool key stored yet) as queued, every part pending,
/// then appends each one's `queued` event and skips the opted-out, message
/// by message in order. Rows go in multi-row `INSERT`s: each statement that
/// fires the report summary's triggers opens a statement journal inside the
/// request's savepoint, and SQLite walks that journal from its start when
/// the statement ends, so a statement per row made a 100-recipient request
/// quadratic (BENCHMARKS.md, "100-recipient arrays and the summary
/// triggers").
fn insert_fresh(
    c: &dyn Db,
    msgs: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>, StoreError> {
    struct Row<'m> {
        m: &'m NewMessage,
        digits: String,
        options: String,
        validity: Option<i64>,
        not_before: i64,
        expires_at: Option<DateTime<Utc>>,
    }
    let rows = msgs
        .iter()
        .map(|m| {
            let digits = check(m)?;
            let options = serde_json::to_string(&m.options).map_err(|e| StoreError::Invalid {
                field: "options",
                reason: e.to_string(),
            })?;
            // Without an explicit deadline, a message whose validity period
            // has passed while still queued is expired rather than sent (the
            // dispatcher counts validity from creation too).
            let expires_at = m.expires_at.or_else(|| {
                let v = ChronoDuration::from_std(m.validity?).ok()?;
                now.checked_add_signed(v)
            });
            Ok(Row {
                m,
                digits,
                options,
                validity: m
                    .validity
                    .map(|v| i64::try_from(v.as_secs()).unwrap_or(i64::MAX)),
                not_before: m.not_before.map_or(ms(now), ms),
                expires_at,
            })
        })
        .collect::<Result<Vec<Row>, StoreError>>()?;
    let created = ms(now);
    let mut ids: Vec<MessageId> = Vec::with_capacity(msgs.len());
    for chunk in in_chunks(&rows) {
        let mut params: Vec<Value<'_>> = Vec::with_capacity(chunk.len() * MESSAGE_PARAMS);
        for r in chunk {
            let m = r.m;
            params.extend_from_slice(args![
                &m.to,
                &r.digits,
                &m.text,
                m.report,
                m.flash,
                m.priority.rank(),
                r.validity,
                r.expires_at.map(ms),
                r.not_before,
                created,
                m.modem.as_deref(),
                m.queue.as_deref(),
                &r.options,
                &m.source,
                m.spool_key.as_deref(),
                m.category.as_str(),
                m.optout_key.as_deref(),
                m.campaign,
            ]);
        }
        let mut got: Vec<(MessageId, String)> = c
            .query(insert_messages_sql(chunk.len()), &params, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(StoreError::sql("insert message"))?;
        // RETURNING's order is unspecified; ids grow in the order the VALUES
        // rows are inserted, which the recipients confirm.
        got.sort_unstable_by_key(|(id, _)| *id);
        if got.len() != chunk.len() || got.iter().zip(chunk).any(|((_, to), r)| *to != r.m.to) {
            return Err(StoreError::Corrupt {
                field: "outgoing.id",
                value: "the inserted rows' ids do not follow their order".into(),
            });
        }
        ids.extend(got.into_iter().map(|(id, _)| id));
    }
    let parts: Vec<(MessageId, u32)> = ids
        .iter()
        .zip(msgs)
        .flat_map(|(&id, m)| (1..=m.parts).map(move |seq| (id, seq)))
        .collect();
    for chunk in in_chunks(&parts) {
        let mut params: Vec<Value<'_>> = Vec::with_capacity(2 * chunk.len());
        for &(id, seq) in chunk {
            params.extend_from_slice(args![id, seq]);
        }
        c.execute(insert_parts_sql(chunk.len()), &params)
            .map_err(StoreError::sql("insert part"))?;
    }
    let mut out = Vec::with_capacity(msgs.len());
    for (&id, r) in ids.iter().zip(&rows) {
        let m = r.m;
        // The `queued` event carries the message as `show` would read it
        // back; built from what was just inserted, without reading it back.
        events::append(
            c,
            now,
            &EventData::Queued(fresh_view(id, m, now, r.not_before, r.expires_at)?),
        )?;
        if m.category == Category::Marketing {
            if let Some(key) = &m.optout_key {
                if super::optout::is_suppressed(c, key)? {
                    skip(c, id, now)?;
                }
            }
        }
        out.push(Enqueued {
            id,
            parts: m.parts,
            duplicate: false,
        });
    }
    Ok(out)
}

/// A message just inserted by [`enqueue`], as [`show`] reads it: queued,
/// every part pending, nothing tried (`not_before` in ms as stored).
fn fresh_view(
    id: MessageId,
    m: &NewMessage,
    now: DateTime<Utc>,
    not_before: i64,
    expires_at: Option<DateTime<Utc>>,
) -> Result<OutgoingView, StoreError> {
    let created = rfc3339_ms("created_at", ms(now))?;
    Ok(OutgoingView {
        id,
        to: m.to.clone(),
        text: m.text.clone(),
        state: MessageState::Queued,
        modem: m.modem.clone(),
        created_at: created.clone(),
        error: None,
        parts: (1..=m.parts)
            .map(|seq| PartView {
                seq,
                state: PartState::Pending,
                mr: None,
                status: None,
                modem: None,
                error: None,
                attempts: 0,
                sent_at: None,
                delivered_at: None,
            })
            .collect(),
        priority: m.priority,
        report: m.report,
        flash: m.flash,
        sim: None,
        queue: m.queue.clone(),
        source: m.source.clone(),
        updated_at: created,
        not_before: rfc3339_ms("not_before", not_before)?,
        expires_at: expires_at
            .map(|t| rfc3339_ms("expires_at", ms(t)))
            .transpose()?,
        tried_modems: Vec::new(),
        campaign: m.campaign,
        category: m.category,
    })
}

fn parts_of(c: &dyn Db, id: MessageId) -> Result<Vec<PartRow>, StoreError> {
    let e = StoreError::sql("read parts");
    let bytes = |hex: String| {
        hex::decode(&hex).map_err(|_| StoreError::Corrupt {
            field: "pdu_hex",
            value: hex,
        })
    };
    rows(
        c,
        "read parts",
        "SELECT seq, state, attempts, pdu_hex, tpdu_len, mr FROM outgoing_part
         WHERE message_id = ?1 ORDER BY seq",
        args![id],
        |r| {
            let state: String = r.get(1).map_err(&e)?;
            let pdu_hex: Option<String> = r.get(3).map_err(&e)?;
            let tpdu_len: Option<i64> = r.get(4).map_err(&e)?;
            let mr: Option<i64> = r.get(5).map_err(&e)?;
            Ok(PartRow {
                seq: to_u32("seq", r.get(0).map_err(&e)?)?,
                state: state.parse()?,
                attempts: to_u32("attempts", r.get(2).map_err(&e)?)?,
                pdu: pdu_hex.map(bytes).transpose()?,
                tpdu_len: tpdu_len.map(|v| to_u32("tpdu_len", v)).transpose()?,
                mr: mr.map(|v| to_u8("mr", v)).transpose()?,
            })
        },
    )
}

fn tried_list(raw: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(raw).map_err(|_| StoreError::Corrupt {
        field: "tried_modems",
        value: raw.to_string(),
    })
}

pub(crate) fn ready(
    c: &dyn Db,
    now: DateTime<Utc>,
    limit: usize,
    held_campaigns: &[i64],
) -> Result<ReadyBatch, StoreError> {
    ready_claimed(c, now, limit, held_campaigns, None)
}

/// As [`ready`]; on PostgreSQL with `claimed_by`, only the messages that
/// host holds a live claim on (`cluster::claim`).
pub(crate) fn ready_claimed(
    c: &dyn Db,
    now: DateTime<Utc>,
    limit: usize,
    held_campaigns: &[i64],
    claimed_by: Option<&str>,
) -> Result<ReadyBatch, StoreError> {
    let held = serde_json::to_string(held_campaigns).unwrap_or_else(|_| "[]".into());
    let now_ms = ms(now);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = c.pick(
        // Without the hint SQLite picks `outgoing_by_state` and sorts the
        // whole queue for every pass (171 ms at 62,000 queued, 0.1 ms with it).
        "SELECT id, recipient, text, report, flash, priority, validity_s, modem, queue,
                assigned_modem, sim, options, tried_modems, created_at, expires_at, campaign
         FROM outgoing INDEXED BY outgoing_active
         WHERE state IN ('queued', 'sending') AND not_before <= ?1 AND next_attempt_at <= ?1
           AND (expires_at IS NULL OR expires_at > ?1)
           AND EXISTS (SELECT 1 FROM outgoing_part p
                       WHERE p.message_id = outgoing.id AND p.state IN ('pending', 'uncertain'))
           AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                           WHERE p.message_id = outgoing.id AND p.state = 'sending')
           AND (campaign IS NULL
                OR (EXISTS (SELECT 1 FROM campaign k
                            WHERE k.id = outgoing.campaign AND k.state = 'running')
                    AND campaign NOT IN (SELECT value FROM json_each(?3))))
         ORDER BY priority DESC, id LIMIT ?2",
        "SELECT id, recipient, text, report, flash, priority, validity_s, modem, queue,
                assigned_modem, sim, options, tried_modems, created_at, expires_at, campaign
         FROM outgoing
         WHERE state IN ('queued', 'sending') AND not_before <= ?1 AND next_attempt_at <= ?1
           AND (expires_at IS NULL OR expires_at > ?1)
           AND EXISTS (SELECT 1 FROM outgoing_part p
                       WHERE p.message_id = outgoing.id AND p.state IN ('pending', 'uncertain'))
           AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                           WHERE p.message_id = outgoing.id AND p.state = 'sending')
           AND (campaign IS NULL
                OR (EXISTS (SELECT 1 FROM campaign k
                            WHERE k.id = outgoing.campaign AND k.state = 'running')
                    AND campaign NOT IN (SELECT CAST(value AS BIGINT)
                                         FROM json_array_elements_text(CAST(?3 AS json)))))
           AND (CAST(?4 AS TEXT) IS NULL OR (claimed_by = ?4 AND lease_until >= ?1))
         ORDER BY priority DESC, id LIMIT ?2",
    );
    let sqlite_args = args![now_ms, limit, &held];
    let pg_args = args![now_ms, limit, &held, claimed_by];
    let params = match c.dialect() {
        super::Dialect::Sqlite => &sqlite_args[..],
        super::Dialect::Postgres => &pg_args[..],
    };
    type Raw = (
        i64,
        String,
        String,
        bool,
        bool,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let raw: Vec<Raw> = c
        .query(sql, params, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
                r.get(12)?,
                r.get(13)?,
                r.get(14)?,
                r.get(15)?,
            ))
        })
        .map_err(StoreError::sql("read ready"))?;
    let mut messages = Vec::with_capacity(raw.len());
    for (
        id,
        to,
        text,
        report,
        flash,
        priority,
        validity,
        modem,
        queue,
        assigned_modem,
        sim,
        options,
        tried,
        created,
        expires,
        campaign,
    ) in raw
    {
        messages.push(ReadyMessage {
            id,
            to,
            text,
            report,
            flash,
            priority: Priority::from_rank(priority)?,
            validity: validity
                .map(|v| u64::try_from(v).map(std::time::Duration::from_secs))
                .transpose()
                .map_err(|_| StoreError::Corrupt {
                    field: "validity_s",
                    value: format!("{validity:?}"),
                })?,
            modem,
            queue,
            assigned_modem,
            sim,
            // Rows written before options were typed may hold `null`.
            options: serde_json::from_str::<Option<MessageOptions>>(&options)
                .map_err(|_| StoreError::Corrupt {
                    field: "options",
                    value: options.clone(),
                })?
                .unwrap_or_default(),
            parts: parts_of(c, id)?,
            tried_modems: tried_list(&tried)?,
            created_at: from_ms("created_at", created)?,
            expires_at: expires.map(|e| from_ms("expires_at", e)).transpose()?,
            campaign,
        });
    }
    let wake: Option<i64> = c
        .query_one(
            c.pick(
                // One index seek per column (schema v2); a plain scan would
                // cost O(queue) on every pass of the dispatcher.
                "SELECT MIN(t) FROM (
                    SELECT MIN(not_before) AS t FROM outgoing INDEXED BY outgoing_wake_not_before
                      WHERE state IN ('queued', 'sending') AND not_before > ?1
                    UNION ALL SELECT MIN(next_attempt_at) FROM outgoing
                      INDEXED BY outgoing_wake_next_attempt
                      WHERE state IN ('queued', 'sending') AND next_attempt_at > ?1
                    UNION ALL SELECT MIN(expires_at) FROM outgoing INDEXED BY outgoing_wake_expires
                      WHERE state IN ('queued', 'sending') AND expires_at > ?1)",
                "SELECT MIN(t) FROM (
                    SELECT MIN(not_before) AS t FROM outgoing
                      WHERE state IN ('queued', 'sending') AND not_before > ?1
                    UNION ALL SELECT MIN(next_attempt_at) FROM outgoing
                      WHERE state IN ('queued', 'sending') AND next_attempt_at > ?1
                    UNION ALL SELECT MIN(expires_at) FROM outgoing
                      WHERE state IN ('queued', 'sending') AND expires_at > ?1) AS wake",
            ),
            args![now_ms],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("next wake"))?;
    Ok(ReadyBatch {
        messages,
        next_wake: wake.map(|t| from_ms("next_wake", t)).transpose()?,
        claimed: 0,
    })
}

pub(crate) fn next_concat_ref(c: &dyn Db, sim: &str, destination: &str) -> Result<u16, StoreError> {
    let dest = digits(destination);
    c.execute(
        "INSERT INTO concat_ref (sim, destination, next) VALUES (?1, ?2, ?3)
         ON CONFLICT (sim, destination) DO NOTHING",
        args![sim, &dest, fastrand::i64(0..256)],
    )
    .map_err(StoreError::sql("seed concat ref"))?;
    let value: i64 = c
        .query_one(
            "UPDATE concat_ref SET next = (next + 1) % 256 WHERE sim = ?1 AND destination = ?2
             RETURNING (next + 255) % 256",
            args![sim, &dest],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("next concat ref"))?;
    u16::try_from(value).map_err(|_| StoreError::Corrupt {
        field: "concat_ref",
        value: value.to_string(),
    })
}

/// Parts that went out (or may have) pin a message to its SIM.
fn parts_out(c: &dyn Db, id: MessageId, except_seq: Option<u32>) -> Result<i64, StoreError> {
    c.query_one(
        "SELECT COUNT(*) FROM outgoing_part WHERE message_id = ?1
           AND state IN ('sending', 'uncertain', 'sent', 'delivered')
           AND seq IS DISTINCT FROM ?2",
        args![id, except_seq],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("count parts out"))
}

pub(crate) fn assign(
    c: &dyn Db,
    id: MessageId,
    modem: &str,
    sim: Option<&str>,
    parts: &[PartPdu],
) -> Result<(), StoreError> {
    let state = message_state(c, id)?;
    if !matches!(state, MessageState::Queued | MessageState::Sending) {
        return Err(StoreError::InvalidState {
            id,
            state: state.to_string(),
            action: "assign",
        });
    }
    let current: (Option<String>, Option<String>) = c
        .query_one(
            "SELECT assigned_modem, sim FROM outgoing WHERE id = ?1",
            args![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("read pin"))?;
    let same = current.0.as_deref() == Some(modem) && current.1.as_deref() == sim;
    if !same && parts_out(c, id, None)? > 0 {
        return Err(StoreError::InvalidState {
            id,
            state: format!(
                "pinned to {} with parts already out",
                current.0.as_deref().unwrap_or("?")
            ),
            action: "re-assign",
        });
    }
    c.execute(
        "UPDATE outgoing SET assigned_modem = ?2, sim = ?3 WHERE id = ?1",
        args![id, modem, sim],
    )
    .map_err(StoreError::sql("pin message"))?;
    for p in parts {
        let changed = c
            .execute(
                "UPDATE outgoing_part SET pdu_hex = ?3, tpdu_len = ?4
                 WHERE message_id = ?1 AND seq = ?2 AND state = 'pending'",
                args![id, p.seq, &hex::encode(&p.pdu), p.tpdu_len],
            )
            .map_err(StoreError::sql("store part pdu"))?;
        if changed == 0 {
            // Not pending: keep what went out; but the part must exist.
            part_state(c, id, p.seq)?;
        }
    }
    Ok(())
}

pub(crate) fn part_sending(
    c: &dyn Db,
    id: MessageId,
    seq: u32,
    modem: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // All parts go through one SIM: the first part out pins an unpinned
    // message to its modem, and no other modem may send for it then.
    let pinned: Option<String> = c
        .query_opt(
            "SELECT assigned_modem FROM outgoing WHERE id = ?1",
            args![id],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("read pin"))?
        .ok_or(StoreError::NoSuchMessage { id })?;
    match pinned.as_deref() {
        Some(m) if m != modem => {
            return Err(StoreError::InvalidState {
                id,
                state: format!("pinned to {m}"),
                action: "send through another modem",
            })
        }
        Some(_) => {}
        None => {
            c.execute(
                "UPDATE outgoing SET assigned_modem = ?2 WHERE id = ?1",
                args![id, modem],
            )
            .map_err(StoreError::sql("pin on send"))?;
        }
    }
    let changed = c
        .execute(
            "UPDATE outgoing_part SET state = 'sending', attempts = attempts + 1, modem = ?3,
                 sim = (SELECT COALESCE(sim, ?3) FROM outgoing WHERE id = ?1),
                 sending_at = ?4
             WHERE message_id = ?1 AND seq = ?2 AND state IN ('pending', 'uncertain')",
            args![id, seq, modem, ms(now)],
        )
        .map_err(StoreError::sql("mark part sending"))?;
    if changed == 0 {
        let state = part_state(c, id, seq)?;
        return Err(StoreError::InvalidState {
            id,
            state: format!("part {seq} {state}"),
            action: "send",
        });
    }
    if message_state(c, id)? == MessageState::Queued {
        set_message_state(c, id, MessageState::Sending, None, now)?;
    }
    Ok(())
}

/// Counts one event for a SIM, creating its row on first sight.
pub(crate) fn bump_sim(
    c: &dyn Db,
    sim: &str,
    modem: Option<&str>,
    column: SimCounter,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = match column {
        SimCounter::Sent => {
            "INSERT INTO sim (sim, last_modem, parts_sent, first_seen, last_seen)
             VALUES (?1, ?2, 1, ?3, ?3)
             ON CONFLICT (sim) DO UPDATE SET parts_sent = sim.parts_sent + 1, last_seen = ?3,
                 last_modem = COALESCE(?2, sim.last_modem)"
        }
        SimCounter::Failed => {
            "INSERT INTO sim (sim, last_modem, parts_failed, first_seen, last_seen)
             VALUES (?1, ?2, 1, ?3, ?3)
             ON CONFLICT (sim) DO UPDATE SET parts_failed = sim.parts_failed + 1, last_seen = ?3,
                 last_modem = COALESCE(?2, sim.last_modem)"
        }
        SimCounter::Received => {
            "INSERT INTO sim (sim, last_modem, received, first_seen, last_seen)
             VALUES (?1, ?2, 1, ?3, ?3)
             ON CONFLICT (sim) DO UPDATE SET received = sim.received + 1, last_seen = ?3,
                 last_modem = COALESCE(?2, sim.last_modem)"
        }
        SimCounter::Reports => {
            "INSERT INTO sim (sim, last_modem, reports, first_seen, last_seen)
             VALUES (?1, ?2, 1, ?3, ?3)
             ON CONFLICT (sim) DO UPDATE SET reports = sim.reports + 1, last_seen = ?3,
                 last_modem = COALESCE(?2, sim.last_modem)"
        }
    };
    c.execute(sql, args![sim, modem, ms(now)])
        .map_err(StoreError::sql("count for sim"))?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum SimCounter {
    Sent,
    Failed,
    Received,
    Reports,
}

/// Applies a status report to a part: a final one closes it, a temporary
/// one only records TP-ST.
pub(crate) fn apply_report(
    c: &dyn Db,
    id: MessageId,
    seq: u32,
    status: u8,
    is_final: bool,
    success: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if is_final {
        let (state, error) = if success {
            (PartState::Delivered, None)
        } else {
            (
                PartState::Failed,
                Some(format!("status report: TP-ST 0x{status:02X}")),
            )
        };
        c.execute(
            "UPDATE outgoing_part SET status = ?3, state = ?4, delivered_at = ?5,
                 error = COALESCE(?6, error)
             WHERE message_id = ?1 AND seq = ?2",
            args![
                id,
                seq,
                i64::from(status),
                state.as_str(),
                ms(now),
                error.as_deref()
            ],
        )
        .map_err(StoreError::sql("apply final report"))?;
        if let Some(error) = error {
            c.execute(
                "UPDATE outgoing SET error = ?2 WHERE id = ?1",
                args![id, &error],
            )
            .map_err(StoreError::sql("report error"))?;
        }
    } else {
        c.execute(
            "UPDATE outgoing_part SET status = ?3 WHERE message_id = ?1 AND seq = ?2",
            args![id, seq, i64::from(status)],
        )
        .map_err(StoreError::sql("apply temporary report"))?;
    }
    Ok(())
}

pub(crate) fn part_sent(
    c: &dyn Db,
    id: MessageId,
    seq: u32,
    mr: u8,
    now: DateTime<Utc>,
) -> Result<MessageState, StoreError> {
    let changed = c
        .execute(
            "UPDATE outgoing_part SET state = 'sent', mr = ?3, sent_at = ?4, error = NULL
             WHERE message_id = ?1 AND seq = ?2 AND state IN ('sending', 'uncertain')",
            args![id, seq, i64::from(mr), ms(now)],
        )
        .map_err(StoreError::sql("mark part sent"))?;
    if changed == 0 {
        let state = part_state(c, id, seq)?;
        return Err(StoreError::InvalidState {
            id,
            state: format!("part {seq} {state}"),
            action: "mark sent",
        });
    }
    let (sim, modem, recipient, wants_report): (Option<String>, Option<String>, String, bool) = c
        .query_one(
            "SELECT p.sim, p.modem, o.recipient, o.report FROM outgoing_part p JOIN outgoing o
               ON o.id = p.message_id WHERE p.message_id = ?1 AND p.seq = ?2",
            args![id, seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(StoreError::sql("read sent part"))?;
    let sim = sim.or_else(|| modem.clone()).unwrap_or_default();
    let event = part_event(c, id, seq, Some(mr), None, None, now)?;
    events::append(c, now, &EventData::PartSent(event))?;
    c.execute(
        "INSERT INTO send_log (sim, at) VALUES (?1, ?2)",
        args![&sim, ms(now)],
    )
    .map_err(StoreError::sql("log send"))?;
    bump_sim(c, &sim, modem.as_deref(), SimCounter::Sent, now)?;

    // A report that beat us here (the network was faster than our commit).
    let window = ChronoDuration::from_std(EARLY_REPORT_WINDOW).unwrap_or(ChronoDuration::zero());
    let early: Vec<(i64, String, i64, bool, bool)> = c
        .query(
            "SELECT id, recipient, status, is_final, success FROM status_report
             WHERE message_id IS NULL AND sim = ?1 AND mr = ?2 AND received_at >= ?3
             ORDER BY received_at, id",
            args![&sim, i64::from(mr), ms(now - window)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(StoreError::sql("look for early reports"))?;
    for (report_id, report_to, status, is_final, success) in early {
        if !wants_report || !same_number(&report_to, &recipient) {
            continue;
        }
        apply_report(c, id, seq, to_u8("status", status)?, is_final, success, now)?;
        c.execute(
            "UPDATE status_report SET message_id = ?2, seq = ?3 WHERE id = ?1",
            args![report_id, id, seq],
        )
        .map_err(StoreError::sql("claim early report"))?;
    }
    rollup(c, id, now)
}

/// The `part_sent` / `part_failed` event of one part.
fn part_event(
    c: &dyn Db,
    id: MessageId,
    seq: u32,
    mr: Option<u8>,
    error: Option<&str>,
    retry: Option<bool>,
    now: DateTime<Utc>,
) -> Result<PartEvent, StoreError> {
    type Raw = (String, i64, Option<String>, Option<String>, Option<i64>);
    let (to, parts, modem, sim, sending_at): Raw = c
        .query_one(
            "SELECT o.recipient,
                    (SELECT COUNT(*) FROM outgoing_part q WHERE q.message_id = o.id),
                    COALESCE(p.modem, o.assigned_modem), COALESCE(p.sim, o.sim), p.sending_at
             FROM outgoing_part p JOIN outgoing o ON o.id = p.message_id
             WHERE p.message_id = ?1 AND p.seq = ?2",
            args![id, seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(StoreError::sql("read part for its event"))?;
    Ok(PartEvent {
        id,
        seq,
        parts: to_u32("parts", parts)?,
        to,
        modem,
        sim,
        mr,
        error: error.map(str::to_string),
        retry,
        // AT+CMGS to its answer, for a part that went out.
        duration: sending_at
            .filter(|_| mr.is_some())
            .map(|t| (ms(now) - t).max(0) as f64 / 1000.0),
    })
}

pub(crate) fn part_failed(
    c: &dyn Db,
    id: MessageId,
    seq: u32,
    error: &str,
    disposition: Disposition,
    now: DateTime<Utc>,
) -> Result<MessageState, StoreError> {
    let state = part_state(c, id, seq)?;
    if !matches!(
        state,
        PartState::Pending | PartState::Sending | PartState::Uncertain
    ) {
        return Err(StoreError::InvalidState {
            id,
            state: format!("part {seq} {state}"),
            action: "fail",
        });
    }
    let message = message_state(c, id)?;
    if message.is_final() {
        // A part that was in flight when its message was cancelled, expired
        // or failed: it ends here, whatever the caller wanted next.
        c.execute(
            "UPDATE outgoing_part SET state = 'cancelled', error = ?3
             WHERE message_id = ?1 AND seq = ?2",
            args![id, seq, error],
        )
        .map_err(StoreError::sql("close part"))?;
        return Ok(message);
    }
    let (modem, sim): (Option<String>, Option<String>) = c
        .query_one(
            "SELECT COALESCE(p.modem, o.assigned_modem), COALESCE(p.sim, o.sim, p.modem)
             FROM outgoing_part p JOIN outgoing o ON o.id = p.message_id
             WHERE p.message_id = ?1 AND p.seq = ?2",
            args![id, seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("read failed part"))?;
    if let Some(sim) = &sim {
        bump_sim(c, sim, modem.as_deref(), SimCounter::Failed, now)?;
    }
    let retry = !matches!(disposition, Disposition::Permanent);
    let event = part_event(c, id, seq, None, Some(error), Some(retry), now)?;
    events::append(c, now, &EventData::PartFailed(event))?;
    let retry_at = match disposition {
        Disposition::Permanent => {
            c.execute(
                "UPDATE outgoing_part SET state = 'failed', error = ?3
                 WHERE message_id = ?1 AND seq = ?2",
                args![id, seq, error],
            )
            .map_err(StoreError::sql("fail part"))?;
            cancel_pending(c, id, "not sent: another part failed")?;
            set_message_state(c, id, MessageState::Failed, Some(error), now)?;
            return Ok(MessageState::Failed);
        }
        Disposition::RetryAt(at) => at,
        Disposition::Failover(at) => {
            if parts_out(c, id, Some(seq))? == 0 {
                let tried: String = c
                    .query_one(
                        "SELECT tried_modems FROM outgoing WHERE id = ?1",
                        args![id],
                        |r| r.get(0),
                    )
                    .map_err(StoreError::sql("read tried modems"))?;
                let mut tried = tried_list(&tried)?;
                if let Some(m) = &modem {
                    if !tried.contains(m) {
                        tried.push(m.clone());
                    }
                }
                let tried = serde_json::to_string(&tried).map_err(|e| StoreError::Invalid {
                    field: "tried_modems",
                    reason: e.to_string(),
                })?;
                c.execute(
                    "UPDATE outgoing SET assigned_modem = NULL, sim = NULL, tried_modems = ?2
                     WHERE id = ?1",
                    args![id, &tried],
                )
                .map_err(StoreError::sql("unpin message"))?;
                c.execute(
                    "UPDATE outgoing_part SET pdu_hex = NULL, tpdu_len = NULL
                     WHERE message_id = ?1 AND state IN ('pending', 'sending')",
                    args![id],
                )
                .map_err(StoreError::sql("clear pdus"))?;
            }
            at
        }
    };
    c.execute(
        "UPDATE outgoing_part SET state = 'pending', error = ?3 WHERE message_id = ?1 AND seq = ?2",
        args![id, seq, error],
    )
    .map_err(StoreError::sql("requeue part"))?;
    c.execute(
        "UPDATE outgoing SET next_attempt_at = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
        args![id, ms(retry_at), error, ms(now)],
    )
    .map_err(StoreError::sql("schedule retry"))?;
    rollup(c, id, now)
}

pub(crate) fn recover_on_start(
    c: &dyn Db,
    resend_uncertain: bool,
    now: DateTime<Utc>,
) -> Result<Recovered, StoreError> {
    let uncertain = c
        .execute(
            "UPDATE outgoing_part SET state = 'uncertain' WHERE state = 'sending'",
            args![],
        )
        .map_err(StoreError::sql("mark uncertain"))?;
    let open: Vec<(i64, i64)> = c
        .query(
            "SELECT p.message_id, p.seq FROM outgoing_part p JOIN outgoing o ON o.id = p.message_id
             WHERE p.state = 'uncertain' AND o.state IN ('queued', 'sending')
             ORDER BY p.message_id, p.seq",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("find uncertain parts"))?;
    let mut out = Recovered {
        uncertain: u32::try_from(uncertain).unwrap_or(u32::MAX),
        ..Recovered::default()
    };
    let mut failed_ids: Vec<i64> = Vec::new();
    for (id, seq) in open {
        if resend_uncertain {
            c.execute(
                // The part stays `uncertain` (ready to send, like `pending`):
                // it may have gone out through its SIM, so its message stays
                // pinned there (`PartState::progressed`).
                "UPDATE outgoing_part SET
                     error = 'in flight at shutdown; resent (outcome of the earlier attempt unknown)'
                 WHERE message_id = ?1 AND seq = ?2",
                args![id, seq],
            )
            .map_err(StoreError::sql("requeue uncertain"))?;
            out.requeued += 1;
            rollup(c, id, now)?;
        } else if !failed_ids.contains(&id) {
            failed_ids.push(id);
            c.execute(
                "UPDATE outgoing_part SET state = 'cancelled',
                     error = 'not sent: another part was in flight at shutdown'
                 WHERE message_id = ?1 AND state = 'pending'",
                args![id],
            )
            .map_err(StoreError::sql("cancel after uncertain"))?;
            let error = format!(
                "part {seq} was in flight at shutdown and may have been sent; not resent (resend_uncertain = false)"
            );
            set_message_state(c, id, MessageState::Failed, Some(&error), now)?;
            out.failed += 1;
        }
    }
    Ok(out)
}

pub(crate) fn expire(c: &dyn Db, now: DateTime<Utc>) -> Result<Vec<MessageId>, StoreError> {
    let ids: Vec<i64> = c
        .query(
            c.pick(
                // Without the hint SQLite walks the whole queue in id order
                // and reads every row for its `expires_at` (the dispatcher
                // calls this on most passes while messages come in).
                "SELECT id FROM outgoing INDEXED BY outgoing_wake_expires
                 WHERE state IN ('queued', 'sending') AND expires_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                                   WHERE p.message_id = outgoing.id AND p.state = 'sending')
                 ORDER BY id",
                "SELECT id FROM outgoing
                 WHERE state IN ('queued', 'sending') AND expires_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                                   WHERE p.message_id = outgoing.id AND p.state = 'sending')
                 ORDER BY id",
            ),
            args![ms(now)],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("find expired"))?;
    for &id in &ids {
        c.execute(
            "UPDATE outgoing_part SET state = 'cancelled', error = 'expired'
             WHERE message_id = ?1 AND state IN ('pending', 'uncertain')",
            args![id],
        )
        .map_err(StoreError::sql("expire parts"))?;
        set_message_state(
            c,
            id,
            MessageState::Expired,
            Some("expired before it was sent"),
            now,
        )?;
    }
    let day = ChronoDuration::days(1);
    // Rows are appended as parts go out, so the old ones come first: the
    // scan stops at the first young row instead of reading the whole log
    // (which has no index on `at` alone). An old row written after a
    // younger one goes at a later call. PostgreSQL's log has an `id` for
    // this (SQLite's `rowid`).
    c.execute(
        c.pick(
            "DELETE FROM send_log WHERE rowid < COALESCE(
               (SELECT rowid FROM send_log WHERE at >= ?1 ORDER BY rowid LIMIT 1),
               (SELECT MAX(rowid) + 1 FROM send_log), 0)",
            "DELETE FROM send_log WHERE id < COALESCE(
               (SELECT id FROM send_log WHERE at >= ?1 ORDER BY id LIMIT 1),
               (SELECT MAX(id) + 1 FROM send_log), 0)",
        ),
        args![ms(now - day)],
    )
    .map_err(StoreError::sql("prune send log"))?;
    Ok(ids)
}

pub(crate) fn cancel(
    c: &dyn Db,
    id: MessageId,
    now: DateTime<Utc>,
) -> Result<MessageState, StoreError> {
    let state = message_state(c, id)?;
    if !matches!(state, MessageState::Queued | MessageState::Sending) {
        return Err(StoreError::InvalidState {
            id,
            state: state.to_string(),
            action: "cancel",
        });
    }
    c.execute(
        "UPDATE outgoing_part SET state = 'cancelled', error = 'cancelled'
         WHERE message_id = ?1 AND state IN ('pending', 'uncertain')",
        args![id],
    )
    .map_err(StoreError::sql("cancel parts"))?;
    set_message_state(c, id, MessageState::Cancelled, Some("cancelled"), now)?;
    Ok(MessageState::Cancelled)
}

/// Fails a queued message that cannot be sent at all (its parts not yet
/// out are cancelled).
pub(crate) fn fail_unsendable(
    c: &dyn Db,
    id: MessageId,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE outgoing_part SET state = 'cancelled', error = ?2
         WHERE message_id = ?1 AND state IN ('pending', 'uncertain')",
        args![id, why],
    )
    .map_err(StoreError::sql("fail parts"))?;
    set_message_state(c, id, MessageState::Failed, Some(why), now)
}

/// Ends a queued message `skipped` with error "opted out": its parts not
/// yet out are cancelled, so no part of it starts after this commits (a
/// part already `sending` finishes; its message stays `skipped`).
pub(crate) fn skip(c: &dyn Db, id: MessageId, now: DateTime<Utc>) -> Result<(), StoreError> {
    c.execute(
        "UPDATE outgoing_part SET state = 'cancelled', error = ?2
         WHERE message_id = ?1 AND state IN ('pending', 'uncertain')",
        args![id, OPTED_OUT],
    )
    .map_err(StoreError::sql("skip parts"))?;
    set_message_state(c, id, MessageState::Skipped, Some(OPTED_OUT), now)
}

/// Requeues a failed, expired or cancelled message as new: every part is
/// reset (a multipart message goes out again as a whole, so the recipient's
/// phone can reassemble it), the pin and the tried list are dropped, and an
/// expiry already past is cleared.
pub(crate) fn retry(
    c: &dyn Db,
    id: MessageId,
    now: DateTime<Utc>,
) -> Result<MessageState, StoreError> {
    let state = message_state(c, id)?;
    if !matches!(
        state,
        MessageState::Failed | MessageState::Expired | MessageState::Cancelled
    ) {
        // `skipped` stays skipped: retrying would send to someone who
        // opted out.
        return Err(StoreError::InvalidState {
            id,
            state: state.to_string(),
            action: "retry",
        });
    }
    c.execute(
        "UPDATE outgoing_part SET state = 'pending', attempts = 0, pdu_hex = NULL, tpdu_len = NULL,
             mr = NULL, status = NULL, modem = NULL, sim = NULL, error = NULL, sending_at = NULL,
             sent_at = NULL, delivered_at = NULL
         WHERE message_id = ?1",
        args![id],
    )
    .map_err(StoreError::sql("reset parts"))?;
    c.execute(
        "UPDATE outgoing SET state = 'queued', assigned_modem = NULL, sim = NULL,
             tried_modems = '[]', error = NULL, finished_at = NULL, next_attempt_at = ?2,
             updated_at = ?2,
             expires_at = CASE WHEN expires_at <= ?2 THEN NULL ELSE expires_at END
         WHERE id = ?1",
        args![id, ms(now)],
    )
    .map_err(StoreError::sql("requeue message"))?;
    let campaign: Option<i64> = c
        .query_one(
            "SELECT campaign FROM outgoing WHERE id = ?1",
            args![id],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("read campaign"))?;
    if let Some(campaign) = campaign {
        super::campaign::count_change(c, campaign, state, MessageState::Queued, now)?;
    }
    message_event(c, id, MessageState::Queued, now)?;
    Ok(MessageState::Queued)
}

pub(crate) fn usage(c: &dyn Db, sim: &str, now: DateTime<Utc>) -> Result<Usage, StoreError> {
    let count = |back: ChronoDuration| -> Result<u32, StoreError> {
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM send_log WHERE sim = ?1 AND at > ?2 AND at <= ?3",
                args![sim, ms(now - back), ms(now)],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("usage"))?;
        to_u32("usage", n)
    };
    Ok(Usage {
        last_minute: count(ChronoDuration::minutes(1))?,
        last_hour: count(ChronoDuration::hours(1))?,
        last_day: count(ChronoDuration::days(1))?,
    })
}

pub(crate) fn last_modem_for(c: &dyn Db, to: &str) -> Result<Option<String>, StoreError> {
    let to = digits(to);
    c.query_opt(
        "SELECT assigned_modem FROM outgoing
         WHERE to_digits = ?1 AND assigned_modem IS NOT NULL
           AND state IN ('sending', 'sent', 'delivered')
         ORDER BY id DESC LIMIT 1",
        args![&to],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("sticky modem"))
}

/// The columns [`view_from_row`] reads, as a literal (for `concat!`).
macro_rules! view_columns {
    () => {
        "id, recipient, text, state, COALESCE(assigned_modem, modem), created_at,
    error, priority, report, flash, sim, queue, source, updated_at, not_before, expires_at,
    tried_modems, category, campaign"
    };
}

pub(crate) const VIEW_COLUMNS: &str = view_columns!();

pub(crate) fn view_from_row(c: &dyn Db, r: &dyn Row) -> Result<OutgoingView, StoreError> {
    let e = StoreError::sql("read message");
    let id: i64 = r.get(0).map_err(&e)?;
    let state: String = r.get(3).map_err(&e)?;
    let created: i64 = r.get(5).map_err(&e)?;
    let updated: i64 = r.get(13).map_err(&e)?;
    let not_before: i64 = r.get(14).map_err(&e)?;
    let expires: Option<i64> = r.get(15).map_err(&e)?;
    let tried: String = r.get(16).map_err(&e)?;
    Ok(OutgoingView {
        id,
        to: r.get(1).map_err(&e)?,
        text: r.get(2).map_err(&e)?,
        state: state.parse()?,
        modem: r.get(4).map_err(&e)?,
        created_at: rfc3339_ms("created_at", created)?,
        error: r.get(6).map_err(&e)?,
        parts: part_views(c, id)?,
        priority: Priority::from_rank(r.get(7).map_err(&e)?)?,
        report: r.get(8).map_err(&e)?,
        flash: r.get(9).map_err(&e)?,
        sim: r.get(10).map_err(&e)?,
        queue: r.get(11).map_err(&e)?,
        source: r.get(12).map_err(&e)?,
        updated_at: rfc3339_ms("updated_at", updated)?,
        not_before: rfc3339_ms("not_before", not_before)?,
        expires_at: expires.map(|v| rfc3339_ms("expires_at", v)).transpose()?,
        tried_modems: tried_list(&tried)?,
        category: r.get::<String>(17).map_err(&e)?.parse()?,
        campaign: r.get(18).map_err(&e)?,
    })
}

fn part_views(c: &dyn Db, id: MessageId) -> Result<Vec<PartView>, StoreError> {
    type Raw = (
        i64,
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let raw: Vec<Raw> = c
        .query(
            "SELECT seq, state, mr, status, modem, error, attempts, sent_at, delivered_at
             FROM outgoing_part WHERE message_id = ?1 ORDER BY seq",
            args![id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .map_err(StoreError::sql("read part views"))?;
    raw.into_iter()
        .map(
            |(seq, state, mr, status, modem, error, attempts, sent, delivered)| {
                Ok(PartView {
                    seq: to_u32("seq", seq)?,
                    state: state.parse()?,
                    mr: mr.map(|v| to_u8("mr", v)).transpose()?,
                    status: status.map(|v| to_u8("status", v)).transpose()?,
                    modem,
                    error,
                    attempts: to_u32("attempts", attempts)?,
                    sent_at: sent.map(|v| rfc3339_ms("sent_at", v)).transpose()?,
                    delivered_at: delivered
                        .map(|v| rfc3339_ms("delivered_at", v))
                        .transpose()?,
                })
            },
        )
        .collect()
}

pub(crate) fn show(c: &dyn Db, id: MessageId) -> Result<Option<OutgoingView>, StoreError> {
    const SQL: &str = concat!("SELECT ", view_columns!(), " FROM outgoing WHERE id = ?1");
    Ok(rows(c, "show", SQL, args![id], |r| view_from_row(c, r))?
        .into_iter()
        .next())
}

pub(crate) fn outbox(
    c: &dyn Db,
    state: Option<MessageState>,
    limit: usize,
) -> Result<Vec<OutgoingView>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two statements so each walks an index: by id, or by (state, id).
    const ALL: &str = concat!(
        "SELECT ",
        view_columns!(),
        " FROM outgoing ORDER BY id DESC LIMIT ?1"
    );
    const IN_STATE: &str = concat!(
        "SELECT ",
        view_columns!(),
        " FROM outgoing WHERE state = ?1 ORDER BY id DESC LIMIT ?2"
    );
    match state {
        None => rows(c, "outbox", ALL, args![limit], |r| view_from_row(c, r)),
        Some(s) => rows(c, "outbox", IN_STATE, args![s.as_str(), limit], |r| {
            view_from_row(c, r)
        }),
    }
}

#[cfg(test)]
#[path = "outgoing_tests.rs"]
mod tests;
