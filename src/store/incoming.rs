//! What comes in from the network: received PDUs (stored once, before the
//! modem deletes them), reassembly of concatenated sets across restarts,
//! replace-type messages, status reports and their matching to sent parts,
//! the inbox view, queue counts and the modems/SIMs we have seen. Plain
//! functions over a `&dyn Db` (SQLite or PostgreSQL, the same SQL);
//! decodes nothing.

use chrono::{DateTime, Utc};

use super::events::{self, EventData, ReportEvent};
use super::outgoing::{apply_report, bump_sim, rollup, rows, to_u32, to_u8, SimCounter};
use super::sql::{args, Db, Row};
use super::{
    ms, rfc3339_ms, same_number, InboxMessage, ModemSeen, QueueCounts, ReceivedOutcome,
    ReceivedPdu, ReportIn, ReportOutcome, SimCounters, StoreError,
};

/// How many same-MR candidates report matching looks at.
const MATCH_CANDIDATES: i64 = 16;

/// An inbox row about to be written.
struct NewInbox<'a> {
    modem: &'a str,
    sim: &'a str,
    sender: &'a str,
    text: &'a str,
    sent_at: Option<&'a str>,
    parts: u32,
    missing: &'a [u32],
    class0: bool,
    binary: bool,
    pid: u8,
    replace_type: Option<u8>,
}

fn insert_inbox(c: &dyn Db, m: &NewInbox<'_>, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let NewInbox {
        modem,
        sim,
        sender,
        text,
        sent_at,
        parts,
        missing,
        class0,
        binary,
        pid,
        replace_type,
    } = *m;
    let missing_json = serde_json::to_string(missing).map_err(|e| StoreError::Invalid {
        field: "missing",
        reason: e.to_string(),
    })?;
    let id: i64 = c
        .query_one(
            "INSERT INTO inbox (modem, sim, sender, text, sent_at_text, received_at, parts,
                 missing, complete, class0, \"binary\", pid, replace_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             RETURNING id",
            args![
                modem,
                sim,
                sender,
                text,
                sent_at,
                ms(now),
                parts,
                &missing_json,
                missing.is_empty(),
                class0,
                binary,
                i64::from(pid),
                replace_type.map(i64::from)
            ],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("insert inbox"))?;
    if let Some(rt) = replace_type.map(i64::from) {
        let old: Option<i64> = c
            .query_opt(
                "SELECT id FROM inbox WHERE sim = ?1 AND sender = ?2 AND replace_type = ?3
                   AND id < ?4 AND replaced_by IS NULL ORDER BY id DESC LIMIT 1",
                args![sim, sender, rt, id],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("find replaced"))?;
        if let Some(old) = old {
            c.execute(
                "UPDATE inbox SET replaced_by = ?1 WHERE sim = ?2 AND sender = ?3
                   AND replace_type = ?4 AND id < ?1 AND replaced_by IS NULL",
                args![id, sim, sender, rt],
            )
            .map_err(StoreError::sql("replace earlier"))?;
            c.execute(
                "UPDATE inbox SET replaces = ?2 WHERE id = ?1",
                args![id, old],
            )
            .map_err(StoreError::sql("note replacement"))?;
        }
    }
    Ok(id)
}

/// The columns [`inbox_from_row`] reads, as a literal (for `concat!`).
macro_rules! inbox_columns {
    () => {
        "id, modem, sender, text, sent_at_text, received_at, parts, complete,
    class0, \"binary\", sim, missing, replaces"
    };
}

fn inbox_from_row(r: &dyn Row) -> Result<InboxMessage, StoreError> {
    let e = StoreError::sql("read inbox");
    let received: i64 = r.get(5).map_err(&e)?;
    let parts: i64 = r.get(6).map_err(&e)?;
    let missing: String = r.get(11).map_err(&e)?;
    Ok(InboxMessage {
        id: r.get(0).map_err(&e)?,
        modem: r.get(1).map_err(&e)?,
        from: r.get(2).map_err(&e)?,
        text: r.get(3).map_err(&e)?,
        sent_at: r.get(4).map_err(&e)?,
        received_at: rfc3339_ms("received_at", received)?,
        parts: to_u32("parts", parts)?,
        complete: r.get(7).map_err(&e)?,
        class0: r.get(8).map_err(&e)?,
        binary: r.get(9).map_err(&e)?,
        sim: r.get(10).map_err(&e)?,
        missing_parts: serde_json::from_str(&missing).map_err(|_| StoreError::Corrupt {
            field: "missing",
            value: missing.clone(),
        })?,
        replaces: r.get(12).map_err(&e)?,
    })
}

fn inbox_by_id(c: &dyn Db, id: i64) -> Result<InboxMessage, StoreError> {
    const SQL: &str = concat!("SELECT ", inbox_columns!(), " FROM inbox WHERE id = ?1");
    rows(c, "inbox row", SQL, args![id], inbox_from_row)?
        .into_iter()
        .next()
        .ok_or(StoreError::Corrupt {
            field: "inbox id",
            value: id.to_string(),
        })
}

/// One stored, not yet assembled part of a concatenated set.
struct OpenPart {
    row: i64,
    modem: String,
    seq: i64,
    text: String,
    sent_at: Option<String>,
    class0: bool,
    binary: bool,
    pid: i64,
    replace_type: Option<i64>,
}

/// Set key: (sim, sender, reference, total, ref16).
type SetKey = (String, String, i64, i64, bool);

fn open_parts(c: &dyn Db, key: &SetKey) -> Result<Vec<OpenPart>, StoreError> {
    c.query(
        "SELECT id, modem, concat_seq, text, sent_at_text, class0, \"binary\", pid, replace_type
         FROM received_pdu
         WHERE inbox_id IS NULL AND sim = ?1 AND sender = ?2 AND concat_ref = ?3
           AND concat_total = ?4 AND ref16 = ?5
         ORDER BY concat_seq, id",
        args![&key.0, &key.1, key.2, key.3, key.4],
        |r| {
            Ok(OpenPart {
                row: r.get(0)?,
                modem: r.get(1)?,
                seq: r.get(2)?,
                text: r.get(3)?,
                sent_at: r.get(4)?,
                class0: r.get(5)?,
                binary: r.get(6)?,
                pid: r.get(7)?,
                replace_type: r.get(8)?,
            })
        },
    )
    .map_err(StoreError::sql("read open set"))
}

/// Builds an inbox message from the parts of one set (one per seq, in
/// order), marks those parts used and returns the new message.
fn assemble(
    c: &dyn Db,
    key: &SetKey,
    parts: &[OpenPart],
    now: DateTime<Utc>,
) -> Result<Option<InboxMessage>, StoreError> {
    let total = key.3;
    let mut chosen: Vec<&OpenPart> = Vec::new();
    for p in parts {
        if (1..=total).contains(&p.seq) && chosen.last().is_none_or(|last| last.seq != p.seq) {
            chosen.push(p);
        }
    }
    // Parts with an impossible seq still belong to the set: keep their text
    // at the end rather than lose it.
    let strays: Vec<&OpenPart> = parts
        .iter()
        .filter(|p| !(1..=total).contains(&p.seq))
        .collect();
    let Some(first) = chosen.first().or(strays.first()).copied() else {
        return Ok(None);
    };
    let mut missing = Vec::new();
    for seq in 1..=total {
        if !chosen.iter().any(|p| p.seq == seq) {
            missing.push(to_u32("concat_seq", seq)?);
        }
    }
    let text: String = chosen
        .iter()
        .chain(strays.iter())
        .map(|p| p.text.as_str())
        .collect();
    let used = chosen.len() + strays.len();
    let id = insert_inbox(
        c,
        &NewInbox {
            modem: &first.modem,
            sim: &key.0,
            sender: &key.1,
            text: &text,
            sent_at: first.sent_at.as_deref(),
            parts: u32::try_from(used).unwrap_or(u32::MAX),
            missing: &missing,
            class0: first.class0,
            binary: first.binary,
            pid: to_u8("pid", first.pid)?,
            replace_type: first
                .replace_type
                .map(|v| to_u8("replace_type", v))
                .transpose()?,
        },
        now,
    )?;
    for p in chosen.iter().chain(strays.iter()) {
        c.execute(
            "UPDATE received_pdu SET inbox_id = ?2 WHERE id = ?1",
            args![p.row, id],
        )
        .map_err(StoreError::sql("mark assembled"))?;
    }
    Ok(Some(inbox_by_id(c, id)?))
}

pub(crate) fn record_received(
    c: &dyn Db,
    r: &ReceivedPdu,
    now: DateTime<Utc>,
) -> Result<ReceivedOutcome, StoreError> {
    let sent_at = r.sent_at.map(|t| t.to_rfc3339());
    let concat = r.concat.filter(|k| k.total > 1);
    let inserted: Option<i64> = c
        .query_opt(
            "INSERT INTO received_pdu (modem, sim, pdu_hex, sender, text, \"binary\",
                 sent_at_text, concat_ref, concat_total, concat_seq, ref16, class0, replace_type,
                 pid, dcs, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (sim, pdu_hex) DO NOTHING
             RETURNING id",
            args![
                &r.modem,
                &r.sim,
                &crate::codec::hex::encode(&r.pdu),
                &r.from,
                &r.text,
                r.binary,
                sent_at.as_deref(),
                concat.map(|k| i64::from(k.reference)),
                concat.map(|k| i64::from(k.total)),
                concat.map(|k| i64::from(k.seq)),
                concat.map(|k| k.ref16),
                r.class0,
                r.replace_type.map(i64::from),
                i64::from(r.pid),
                i64::from(r.dcs),
                ms(now),
            ],
            |x| x.get(0),
        )
        .map_err(StoreError::sql("store received pdu"))?;
    let Some(row) = inserted else {
        return Ok(ReceivedOutcome {
            duplicate: true,
            complete: None,
        });
    };
    bump_sim(c, &r.sim, Some(&r.modem), SimCounter::Received, now)?;
    let Some(k) = concat else {
        let id = insert_inbox(
            c,
            &NewInbox {
                modem: &r.modem,
                sim: &r.sim,
                sender: &r.from,
                text: &r.text,
                sent_at: sent_at.as_deref(),
                parts: 1,
                missing: &[],
                class0: r.class0,
                binary: r.binary,
                pid: r.pid,
                replace_type: r.replace_type,
            },
            now,
        )?;
        c.execute(
            "UPDATE received_pdu SET inbox_id = ?2 WHERE id = ?1",
            args![row, id],
        )
        .map_err(StoreError::sql("mark single"))?;
        return Ok(ReceivedOutcome {
            duplicate: false,
            complete: Some(inbox_by_id(c, id)?),
        });
    };
    let key: SetKey = (
        r.sim.clone(),
        r.from.clone(),
        i64::from(k.reference),
        i64::from(k.total),
        k.ref16,
    );
    let parts = open_parts(c, &key)?;
    let have = (1..=key.3)
        .filter(|seq| parts.iter().any(|p| p.seq == *seq))
        .count();
    let complete = if i64::try_from(have).unwrap_or(0) == key.3 {
        assemble(c, &key, &parts, now)?
    } else {
        None
    };
    Ok(ReceivedOutcome {
        duplicate: false,
        complete,
    })
}

pub(crate) fn flush_incomplete(
    c: &dyn Db,
    older_than: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<InboxMessage>, StoreError> {
    let keys: Vec<SetKey> = c
        .query(
            "SELECT sim, sender, concat_ref, concat_total, ref16 FROM received_pdu
             WHERE inbox_id IS NULL
             GROUP BY sim, sender, concat_ref, concat_total, ref16
             HAVING MAX(received_at) < ?1
             ORDER BY MIN(id)",
            args![ms(older_than)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(StoreError::sql("find stale sets"))?;
    let mut out = Vec::new();
    for key in keys {
        // Two different PDUs with the same reference and seq make two
        // messages: each pass takes one part per seq and always makes progress.
        loop {
            let parts = open_parts(c, &key)?;
            match assemble(c, &key, &parts, now)? {
                Some(m) => out.push(m),
                None => break,
            }
        }
    }
    Ok(out)
}

pub(crate) fn record_report(
    c: &dyn Db,
    r: &ReportIn,
    now: DateTime<Utc>,
) -> Result<ReportOutcome, StoreError> {
    let pdu = crate::codec::hex::encode(&r.pdu);
    let sc_time = r.sc_time.map(|t| t.to_rfc3339());
    let discharge = r.discharge.map(|t| t.to_rfc3339());
    let inserted: Option<i64> = c
        .query_opt(
            "INSERT INTO status_report (modem, sim, mr, recipient, sc_time_text, discharge_text,
                 status, is_final, success, pdu_hex, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (sim, pdu_hex) DO NOTHING
             RETURNING id",
            args![
                &r.modem,
                &r.sim,
                i64::from(r.mr),
                &r.recipient,
                sc_time.as_deref(),
                discharge.as_deref(),
                i64::from(r.status),
                r.is_final,
                r.success,
                &pdu,
                ms(now),
            ],
            |x| x.get(0),
        )
        .map_err(StoreError::sql("store report"))?;
    let Some(report_id) = inserted else {
        let matched: Option<(Option<i64>, Option<i64>)> = c
            .query_opt(
                "SELECT message_id, seq FROM status_report WHERE sim = ?1 AND pdu_hex = ?2",
                args![&r.sim, &pdu],
                |x| Ok((x.get(0)?, x.get(1)?)),
            )
            .map_err(StoreError::sql("read duplicate report"))?;
        let matched = match matched {
            Some((Some(id), Some(seq))) => Some((id, to_u32("seq", seq)?)),
            _ => None,
        };
        return Ok(ReportOutcome {
            duplicate: true,
            matched,
            message_state: None,
        });
    };
    bump_sim(c, &r.sim, Some(&r.modem), SimCounter::Reports, now)?;
    let candidates: Vec<(i64, i64, String)> = c
        .query(
            "SELECT p.message_id, p.seq, o.recipient FROM outgoing_part p
               JOIN outgoing o ON o.id = p.message_id
             WHERE p.sim = ?1 AND p.mr = ?2 AND p.state = 'sent' AND p.sent_at <= ?3
               AND o.report = 1
             ORDER BY p.sent_at DESC LIMIT ?4",
            args![&r.sim, i64::from(r.mr), ms(now), MATCH_CANDIDATES],
            |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
        )
        .map_err(StoreError::sql("find report candidates"))?;
    // Some modems report an empty recipient (gammu's "Number=" reports): then
    // SIM and MR decide alone, and the latest send with that MR wins.
    let anyone = super::digits(&r.recipient).is_empty();
    let found = candidates
        .into_iter()
        .find(|(_, _, to)| anyone || same_number(to, &r.recipient));
    let matched = match &found {
        Some((id, seq, _)) => Some((*id, to_u32("seq", *seq)?)),
        None => None,
    };
    let event = ReportEvent {
        id: matched.map(|m| m.0),
        seq: matched.map(|m| m.1),
        modem: r.modem.clone(),
        sim: r.sim.clone(),
        mr: r.mr,
        recipient: r.recipient.clone(),
        status: r.status,
        success: r.success,
        is_final: r.is_final,
        discharge: r.discharge.map(|t| t.to_rfc3339()),
    };
    events::append(c, now, &EventData::Report(event))?;
    let Some((id, seq)) = matched else {
        return Ok(ReportOutcome {
            duplicate: false,
            matched: None,
            message_state: None,
        });
    };
    apply_report(c, id, seq, r.status, r.is_final, r.success, now)?;
    c.execute(
        "UPDATE status_report SET message_id = ?2, seq = ?3 WHERE id = ?1",
        args![report_id, id, seq],
    )
    .map_err(StoreError::sql("link report"))?;
    Ok(ReportOutcome {
        duplicate: false,
        matched: Some((id, seq)),
        message_state: Some(rollup(c, id, now)?),
    })
}

pub(crate) fn inbox(
    c: &dyn Db,
    since: Option<i64>,
    limit: usize,
) -> Result<Vec<InboxMessage>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        inbox_columns!(),
        " FROM inbox WHERE id > ?1 AND replaced_by IS NULL ORDER BY id LIMIT ?2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    rows(
        c,
        "inbox",
        SQL,
        args![since.unwrap_or(0), limit],
        inbox_from_row,
    )
}

/// Received messages with an id below `before`, newest first (the
/// dashboard's recent list).
pub(crate) fn inbox_before(
    c: &dyn Db,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<InboxMessage>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        inbox_columns!(),
        " FROM inbox WHERE id < ?1 AND replaced_by IS NULL ORDER BY id DESC LIMIT ?2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    rows(
        c,
        "inbox",
        SQL,
        args![before.unwrap_or(i64::MAX), limit],
        inbox_from_row,
    )
}

pub(crate) fn counts(c: &dyn Db) -> Result<QueueCounts, StoreError> {
    let mut out = QueueCounts::default();
    let by_state: Vec<(String, i64)> = c
        .query(
            "SELECT state, COUNT(*) FROM outgoing GROUP BY state",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("count states"))?;
    for (state, n) in by_state {
        let n = u64::try_from(n).unwrap_or(0);
        match state.parse()? {
            super::MessageState::Queued => out.queued = n,
            super::MessageState::Sending => out.sending = n,
            super::MessageState::Sent => out.sent = n,
            super::MessageState::Delivered => out.delivered = n,
            super::MessageState::Failed => out.failed = n,
            super::MessageState::Cancelled => out.cancelled = n,
            super::MessageState::Expired => out.expired = n,
            super::MessageState::Skipped => out.skipped = n,
        }
    }
    let one = |sql: &str| -> Result<u64, StoreError> {
        c.query_one(sql, args![], |r| r.get::<i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::sql("count"))
    };
    out.inbox = one("SELECT COUNT(*) FROM inbox WHERE replaced_by IS NULL")?;
    out.unmatched_reports = one("SELECT COUNT(*) FROM status_report WHERE message_id IS NULL")?;
    Ok(out)
}

/// How many messages are queued and sending, through the
/// `outgoing_by_state` index: the cost is the size of the queue, not of the
/// history (a metrics scrape calls this).
pub(crate) fn queue_depth(c: &dyn Db) -> Result<Vec<(String, i64)>, StoreError> {
    c.query(
        "SELECT state, COUNT(*) FROM outgoing WHERE state IN ('queued', 'sending') GROUP BY state",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(StoreError::sql("count the queue"))
}

pub(crate) fn upsert_modem(
    c: &dyn Db,
    seen: &ModemSeen,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    fn field(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    c.execute(
        "INSERT INTO modem_seen (name, imei, imsi, iccid, manufacturer, model, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (name, imei, imsi, iccid) DO UPDATE SET last_seen = ?7,
             manufacturer = COALESCE(?5, modem_seen.manufacturer),
             model = COALESCE(?6, modem_seen.model)",
        args![
            &seen.name,
            field(&seen.imei),
            field(&seen.imsi),
            field(&seen.iccid),
            seen.manufacturer.as_deref(),
            seen.model.as_deref(),
            ms(now)
        ],
    )
    .map_err(StoreError::sql("record modem"))?;
    if let Some(imsi) = &seen.imsi {
        c.execute(
            "INSERT INTO sim (sim, iccid, last_modem, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (sim) DO UPDATE SET iccid = COALESCE(?2, sim.iccid), last_modem = ?3,
                 last_seen = ?4",
            args![imsi, seen.iccid.as_deref(), &seen.name, ms(now)],
        )
        .map_err(StoreError::sql("record sim"))?;
    }
    Ok(())
}

pub(crate) fn sim_counters(c: &dyn Db) -> Result<Vec<SimCounters>, StoreError> {
    type Raw = (
        String,
        Option<String>,
        Option<String>,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let raw: Vec<Raw> = c
        .query(
            // By byte value on both engines (PostgreSQL would otherwise sort
            // by the database's locale).
            c.pick(
                "SELECT sim, iccid, last_modem, parts_sent, parts_failed, received, reports,
                        first_seen, last_seen FROM sim ORDER BY sim",
                "SELECT sim, iccid, last_modem, parts_sent, parts_failed, received, reports,
                        first_seen, last_seen FROM sim ORDER BY sim COLLATE \"C\"",
            ),
            args![],
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
        .map_err(StoreError::sql("read sims"))?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    raw.into_iter()
        .map(
            |(sim, iccid, last_modem, sent, failed, received, reports, first, last)| {
                Ok(SimCounters {
                    sim,
                    iccid,
                    last_modem,
                    parts_sent: count(sent),
                    parts_failed: count(failed),
                    received: count(received),
                    reports: count(reports),
                    first_seen: rfc3339_ms("first_seen", first)?,
                    last_seen: rfc3339_ms("last_seen", last)?,
                })
            },
        )
        .collect()
}

#[cfg(test)]
#[path = "incoming_tests.rs"]
mod tests;
