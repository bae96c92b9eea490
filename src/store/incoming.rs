//! What comes in from the network: received PDUs (stored once, before the
//! modem deletes them), reassembly of concatenated sets across restarts,
//! replace-type messages, status reports and their matching to sent parts,
//! the inbox view, queue counts and the modems/SIMs we have seen. Plain
//! functions over a `&Connection`; decodes nothing.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::events::{self, EventData, ReportEvent};
use super::outgoing::{apply_report, bump_sim, rollup, to_u32, to_u8, SimCounter};
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

fn insert_inbox(c: &Connection, m: &NewInbox<'_>, now: DateTime<Utc>) -> Result<i64, StoreError> {
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
    c.prepare_cached(
        "INSERT INTO inbox (modem, sim, sender, text, sent_at_text, received_at, parts, missing,
             complete, class0, binary, pid, replace_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut s| {
        s.execute(params![
            modem,
            sim,
            sender,
            text,
            sent_at,
            ms(now),
            parts,
            missing_json,
            missing.is_empty(),
            class0,
            binary,
            pid,
            replace_type
        ])
    })
    .map_err(StoreError::sql("insert inbox"))?;
    let id = c.last_insert_rowid();
    if let Some(rt) = replace_type {
        let old: Option<i64> = c
            .prepare_cached(
                "SELECT id FROM inbox WHERE sim = ?1 AND sender = ?2 AND replace_type = ?3
                   AND id < ?4 AND replaced_by IS NULL ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![sim, sender, rt, id], |r| r.get(0))
                    .optional()
            })
            .map_err(StoreError::sql("find replaced"))?;
        if let Some(old) = old {
            c.prepare_cached(
                "UPDATE inbox SET replaced_by = ?2 WHERE sim = ?3 AND sender = ?4
                   AND replace_type = ?5 AND id < ?2 AND replaced_by IS NULL",
            )
            .and_then(|mut s| s.execute(params![old, id, sim, sender, rt]))
            .map_err(StoreError::sql("replace earlier"))?;
            c.prepare_cached("UPDATE inbox SET replaces = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, old]))
                .map_err(StoreError::sql("note replacement"))?;
        }
    }
    Ok(id)
}

const INBOX_COLUMNS: &str = "id, modem, sender, text, sent_at_text, received_at, parts, complete,
    class0, binary, sim, missing, replaces";

fn inbox_from_row(r: &rusqlite::Row<'_>) -> Result<InboxMessage, StoreError> {
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

fn inbox_by_id(c: &Connection, id: i64) -> Result<InboxMessage, StoreError> {
    let sql = format!("SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ?1");
    let mut stmt = c
        .prepare_cached(&sql)
        .map_err(StoreError::sql("prepare inbox"))?;
    let mut rows = stmt.query([id]).map_err(StoreError::sql("inbox row"))?;
    match rows.next().map_err(StoreError::sql("inbox row"))? {
        Some(row) => inbox_from_row(row),
        None => Err(StoreError::Corrupt {
            field: "inbox id",
            value: id.to_string(),
        }),
    }
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

fn open_parts(c: &Connection, key: &SetKey) -> Result<Vec<OpenPart>, StoreError> {
    c.prepare_cached(
        "SELECT id, modem, concat_seq, text, sent_at_text, class0, binary, pid, replace_type
         FROM received_pdu
         WHERE inbox_id IS NULL AND sim = ?1 AND sender = ?2 AND concat_ref = ?3
           AND concat_total = ?4 AND ref16 = ?5
         ORDER BY concat_seq, id",
    )
    .and_then(|mut s| {
        s.query_map(params![key.0, key.1, key.2, key.3, key.4], |r| {
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
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    })
    .map_err(StoreError::sql("read open set"))
}

/// Builds an inbox message from the parts of one set (one per seq, in
/// order), marks those parts used and returns the new message.
fn assemble(
    c: &Connection,
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
    let mut mark = c
        .prepare_cached("UPDATE received_pdu SET inbox_id = ?2 WHERE id = ?1")
        .map_err(StoreError::sql("prepare mark"))?;
    for p in chosen.iter().chain(strays.iter()) {
        mark.execute(params![p.row, id])
            .map_err(StoreError::sql("mark assembled"))?;
    }
    Ok(Some(inbox_by_id(c, id)?))
}

pub(crate) fn record_received(
    c: &Connection,
    r: &ReceivedPdu,
    now: DateTime<Utc>,
) -> Result<ReceivedOutcome, StoreError> {
    let sent_at = r.sent_at.map(|t| t.to_rfc3339());
    let concat = r.concat.filter(|k| k.total > 1);
    let inserted = c
        .prepare_cached(
            "INSERT INTO received_pdu (modem, sim, pdu_hex, sender, text, binary, sent_at_text,
                 concat_ref, concat_total, concat_seq, ref16, class0, replace_type, pid, dcs,
                 received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (sim, pdu_hex) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                r.modem,
                r.sim,
                crate::codec::hex::encode(&r.pdu),
                r.from,
                r.text,
                r.binary,
                sent_at,
                concat.map(|k| k.reference),
                concat.map(|k| k.total),
                concat.map(|k| k.seq),
                concat.map(|k| k.ref16),
                r.class0,
                r.replace_type,
                r.pid,
                r.dcs,
                ms(now),
            ])
        })
        .map_err(StoreError::sql("store received pdu"))?;
    if inserted == 0 {
        return Ok(ReceivedOutcome {
            duplicate: true,
            complete: None,
        });
    }
    let row = c.last_insert_rowid();
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
        c.prepare_cached("UPDATE received_pdu SET inbox_id = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![row, id]))
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
    c: &Connection,
    older_than: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<InboxMessage>, StoreError> {
    let keys: Vec<SetKey> = c
        .prepare_cached(
            "SELECT sim, sender, concat_ref, concat_total, ref16 FROM received_pdu
             WHERE inbox_id IS NULL
             GROUP BY sim, sender, concat_ref, concat_total, ref16
             HAVING MAX(received_at) < ?1
             ORDER BY MIN(id)",
        )
        .and_then(|mut s| {
            s.query_map([ms(older_than)], |r| r.try_into())
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
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
    c: &Connection,
    r: &ReportIn,
    now: DateTime<Utc>,
) -> Result<ReportOutcome, StoreError> {
    let pdu = crate::codec::hex::encode(&r.pdu);
    let inserted = c
        .prepare_cached(
            "INSERT INTO status_report (modem, sim, mr, recipient, sc_time_text, discharge_text,
                 status, is_final, success, pdu_hex, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (sim, pdu_hex) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                r.modem,
                r.sim,
                r.mr,
                r.recipient,
                r.sc_time.map(|t| t.to_rfc3339()),
                r.discharge.map(|t| t.to_rfc3339()),
                r.status,
                r.is_final,
                r.success,
                pdu,
                ms(now),
            ])
        })
        .map_err(StoreError::sql("store report"))?;
    if inserted == 0 {
        let matched: Option<(Option<i64>, Option<i64>)> = c
            .prepare_cached(
                "SELECT message_id, seq FROM status_report WHERE sim = ?1 AND pdu_hex = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![r.sim, pdu], |x| Ok((x.get(0)?, x.get(1)?)))
                    .optional()
            })
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
    }
    let report_id = c.last_insert_rowid();
    bump_sim(c, &r.sim, Some(&r.modem), SimCounter::Reports, now)?;
    let candidates: Vec<(i64, i64, String)> = c
        .prepare_cached(
            "SELECT p.message_id, p.seq, o.recipient FROM outgoing_part p
               JOIN outgoing o ON o.id = p.message_id
             WHERE p.sim = ?1 AND p.mr = ?2 AND p.state = 'sent' AND p.sent_at <= ?3
               AND o.report = 1
             ORDER BY p.sent_at DESC LIMIT ?4",
        )
        .and_then(|mut s| {
            s.query_map(params![r.sim, r.mr, ms(now), MATCH_CANDIDATES], |x| {
                Ok((x.get(0)?, x.get(1)?, x.get(2)?))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
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
    c.prepare_cached("UPDATE status_report SET message_id = ?2, seq = ?3 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![report_id, id, seq]))
        .map_err(StoreError::sql("link report"))?;
    Ok(ReportOutcome {
        duplicate: false,
        matched: Some((id, seq)),
        message_state: Some(rollup(c, id, now)?),
    })
}

pub(crate) fn inbox(
    c: &Connection,
    since: Option<i64>,
    limit: usize,
) -> Result<Vec<InboxMessage>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {INBOX_COLUMNS} FROM inbox WHERE id > ?1 AND replaced_by IS NULL
         ORDER BY id LIMIT ?2"
    );
    let mut stmt = c
        .prepare_cached(&sql)
        .map_err(StoreError::sql("prepare inbox"))?;
    let mut rows = stmt
        .query(params![since.unwrap_or(0), limit])
        .map_err(StoreError::sql("inbox"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sql("inbox"))? {
        out.push(inbox_from_row(row)?);
    }
    Ok(out)
}

/// Received messages with an id below `before`, newest first (the
/// dashboard's recent list).
pub(crate) fn inbox_before(
    c: &Connection,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<InboxMessage>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {INBOX_COLUMNS} FROM inbox WHERE id < ?1 AND replaced_by IS NULL
         ORDER BY id DESC LIMIT ?2"
    );
    let mut stmt = c
        .prepare_cached(&sql)
        .map_err(StoreError::sql("prepare inbox"))?;
    let mut rows = stmt
        .query(params![before.unwrap_or(i64::MAX), limit])
        .map_err(StoreError::sql("inbox"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::sql("inbox"))? {
        out.push(inbox_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn counts(c: &Connection) -> Result<QueueCounts, StoreError> {
    let mut out = QueueCounts::default();
    let rows: Vec<(String, i64)> = c
        .prepare_cached("SELECT state, COUNT(*) FROM outgoing GROUP BY state")
        .and_then(|mut s| {
            s.query_map([], |r| r.try_into())
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
        .map_err(StoreError::sql("count states"))?;
    for (state, n) in rows {
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
        c.prepare_cached(sql)
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::sql("count"))
    };
    out.inbox = one("SELECT COUNT(*) FROM inbox WHERE replaced_by IS NULL")?;
    out.unmatched_reports = one("SELECT COUNT(*) FROM status_report WHERE message_id IS NULL")?;
    Ok(out)
}

pub(crate) fn upsert_modem(
    c: &Connection,
    seen: &ModemSeen,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    c.prepare_cached(
        "INSERT INTO modem_seen (name, imei, imsi, iccid, manufacturer, model, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (name, imei, imsi, iccid) DO UPDATE SET last_seen = ?7,
             manufacturer = COALESCE(?5, manufacturer), model = COALESCE(?6, model)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seen.name,
            field(&seen.imei),
            field(&seen.imsi),
            field(&seen.iccid),
            seen.manufacturer,
            seen.model,
            ms(now)
        ])
    })
    .map_err(StoreError::sql("record modem"))?;
    if let Some(imsi) = &seen.imsi {
        c.prepare_cached(
            "INSERT INTO sim (sim, iccid, last_modem, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (sim) DO UPDATE SET iccid = COALESCE(?2, iccid), last_modem = ?3,
                 last_seen = ?4",
        )
        .and_then(|mut s| s.execute(params![imsi, seen.iccid, seen.name, ms(now)]))
        .map_err(StoreError::sql("record sim"))?;
    }
    Ok(())
}

pub(crate) fn sim_counters(c: &Connection) -> Result<Vec<SimCounters>, StoreError> {
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
        .prepare_cached(
            "SELECT sim, iccid, last_modem, parts_sent, parts_failed, received, reports,
                    first_seen, last_seen FROM sim ORDER BY sim",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.try_into())
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        })
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
