//! Time series for the dashboard's charts: parts sent per SIM, messages
//! queued, sent with a report request and delivered (the delivery rate),
//! and messages received, counted in equal buckets from a start to an end.
//! Owns the series' types and SQL; it does not parse durations or choose
//! the window (the gateway does), and it draws nothing.
//!
//! Every query is an index range, never a scan of a whole table: parts per
//! SIM come from `send_log` (`send_log_by_sim`, one range per SIM of the
//! small `sim` table; the log keeps a day), messages from `outgoing_created`
//! and their parts in one walk of the part table's primary key over the
//! window's ids, received messages from
//! `inbox_received`. The cost grows with what happened in the window, not
//! with the size of the store.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{args, Db, Value};
use super::{ms, rfc3339_ms, StoreError};

/// The parts one SIM sent, per bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SimSeries {
    /// The SIM (its IMSI, or the modem name when the IMSI is unknown).
    pub sim: String,
    /// The modem that last used the SIM.
    pub modem: Option<String>,
    /// Parts sent in each bucket.
    pub parts: Vec<u64>,
}

/// Counts per bucket between `start` and `until`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Series {
    /// RFC 3339: the start of the first bucket (a multiple of the step).
    pub start: String,
    /// RFC 3339: the end of the last bucket (now, when asked for).
    pub until: String,
    /// The length of one bucket, in seconds.
    pub step_s: u64,
    /// RFC 3339: the start of each bucket.
    pub times: Vec<String>,
    /// Parts sent per SIM (SIMs that sent nothing in the window are left out).
    pub sims: Vec<SimSeries>,
    /// Messages queued in each bucket.
    pub queued: Vec<u64>,
    /// Of the messages queued in each bucket: those that went out whole and
    /// asked for a status report.
    pub sent_with_report: Vec<u64>,
    /// Of those: delivered.
    pub delivered: Vec<u64>,
    /// `delivered / sent_with_report` per bucket; null where nothing was
    /// sent with a report.
    pub delivery_rate: Vec<Option<f64>>,
    /// Messages received in each bucket.
    pub received: Vec<u64>,
}

/// The most buckets one series has.
pub const MAX_BUCKETS: usize = 1440;

/// The bucket of `at` (ms), if it falls in the window.
fn bucket(at: i64, start: i64, step: i64, n: usize) -> Option<usize> {
    if at < start || step <= 0 {
        return None;
    }
    usize::try_from((at - start) / step).ok().filter(|b| *b < n)
}

fn bump(v: &mut [u64], b: Option<usize>) {
    if let Some(slot) = b.and_then(|b| v.get_mut(b)) {
        *slot += 1;
    }
}

/// Counts in buckets of `step_ms` from `start` (rounded down to a multiple
/// of the step) to `until`.
pub(crate) fn series(
    c: &dyn Db,
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    step_ms: i64,
) -> Result<Series, StoreError> {
    let bad = |reason: String| StoreError::Invalid {
        field: "step",
        reason,
    };
    if step_ms <= 0 {
        return Err(bad("the step must be positive".into()));
    }
    let end = ms(until);
    let start = ms(start).div_euclid(step_ms) * step_ms;
    if end < start {
        return Err(StoreError::Invalid {
            field: "since",
            reason: "the start is after the end".into(),
        });
    }
    let n = usize::try_from((end - start) / step_ms + 1).unwrap_or(usize::MAX);
    if n > MAX_BUCKETS {
        return Err(bad(format!(
            "{n} buckets; at most {MAX_BUCKETS} (a longer step or a shorter window)"
        )));
    }
    let times = (0..n)
        .map(|i| rfc3339_ms("time", start + step_ms * i as i64))
        .collect::<Result<Vec<_>, _>>()?;
    let zeros = || vec![0u64; n];

    // Parts per SIM: one index range of send_log per known SIM.
    let sql = StoreError::sql("series: parts per SIM");
    let sims: Vec<(String, Option<String>)> = c
        .query(
            "SELECT sim, last_modem FROM sim ORDER BY sim",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(&sql)?;
    let mut per_sim = Vec::new();
    for (sim, modem) in sims {
        let mut parts = zeros();
        let mut any = false;
        c.query_each(
            "SELECT at FROM send_log WHERE sim = ?1 AND at >= ?2 AND at <= ?3",
            args![&sim, start, end],
            &mut |r| {
                let at: i64 = r.get(0)?;
                bump(&mut parts, bucket(at, start, step_ms, n));
                any = true;
                Ok(())
            },
        )
        .map_err(&sql)?;
        if any {
            per_sim.push(SimSeries { sim, modem, parts });
        }
    }

    // Messages by the time they were queued, each with its parts folded:
    // the parts of the window's id range in one primary-key walk (a
    // subquery per message costs several times more).
    let sql = StoreError::sql("series: messages");
    let mut queued = zeros();
    let mut sent_with_report = zeros();
    let mut delivered = zeros();
    let (lo, hi): (Option<i64>, Option<i64>) = c
        .query_one(
            "SELECT MIN(id), MAX(id) FROM outgoing WHERE created_at >= ?1 AND created_at <= ?2",
            args![start, end],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(&sql)?;
    // message id → (parts, parts sent)
    let mut folded: HashMap<i64, (u32, u32)> = HashMap::new();
    if let (Some(lo), Some(hi)) = (lo, hi) {
        c.query_each(
            "SELECT message_id, sent_at IS NOT NULL FROM outgoing_part
             WHERE message_id >= ?1 AND message_id <= ?2",
            args![lo, hi],
            &mut |r| {
                let id: i64 = r.get(0)?;
                let sent: bool = r.get(1)?;
                let f = folded.entry(id).or_default();
                f.0 += 1;
                f.1 += u32::from(sent);
                Ok(())
            },
        )
        .map_err(&sql)?;
    }
    c.query_each(
        "SELECT id, created_at, state, report FROM outgoing
         WHERE created_at >= ?1 AND created_at <= ?2",
        args![start, end],
        &mut |r| {
            let id: i64 = r.get(0)?;
            let created: i64 = r.get(1)?;
            let b = bucket(created, start, step_ms, n);
            bump(&mut queued, b);
            let wants_report: bool = r.get(3)?;
            let (parts, sent) = folded.get(&id).copied().unwrap_or_default();
            if wants_report && parts > 0 && sent == parts {
                bump(&mut sent_with_report, b);
                if r.value(2)? == Value::Text("delivered") {
                    bump(&mut delivered, b);
                }
            }
            Ok(())
        },
    )
    .map_err(&sql)?;
    let delivery_rate = sent_with_report
        .iter()
        .zip(&delivered)
        .map(|(s, d)| (*s > 0).then(|| *d as f64 / *s as f64))
        .collect();

    // Received messages.
    let sql = StoreError::sql("series: received");
    let mut received = zeros();
    c.query_each(
        "SELECT received_at FROM inbox WHERE received_at >= ?1 AND received_at <= ?2",
        args![start, end],
        &mut |r| {
            let at: i64 = r.get(0)?;
            bump(&mut received, bucket(at, start, step_ms, n));
            Ok(())
        },
    )
    .map_err(&sql)?;

    Ok(Series {
        start: rfc3339_ms("start", start)?,
        until: rfc3339_ms("until", end)?,
        step_s: u64::try_from(step_ms / 1000).unwrap_or(0),
        times,
        sims: per_sim,
        queued,
        sent_with_report,
        delivered,
        delivery_rate,
        received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::incoming::record_report;
    use crate::store::outgoing::{assign, enqueue, part_sending, part_sent};
    use crate::store::tests::fixture::{memory, msg, t};
    use crate::store::PartPdu;
    use crate::store::ReportIn;

    const SIM_A: &str = "262010000000001";
    const SIM_B: &str = "262010000000002";

    /// A message queued at `at` s, sent whole through `sim` (`modem`) with
    /// MR `mr` at `sent` s; `report` asks for a status report.
    fn sent(c: &dyn Db, modem: &str, sim: &str, mr: u8, at: i64, sent: i64, report: bool) {
        let mut m = msg("+491701111111", 1);
        m.report = report;
        let id = enqueue(c, &m, t(at)).expect("enqueue").id;
        assign(c, id, modem, Some(sim), &[PartPdu::hex(1, "00", 1)]).expect("assign");
        part_sending(c, id, 1, modem, t(sent)).expect("sending");
        part_sent(c, id, 1, mr, t(sent)).expect("sent");
    }

    fn delivered(c: &dyn Db, modem: &str, sim: &str, mr: u8, at: i64) {
        let r = ReportIn {
            modem: modem.into(),
            sim: sim.into(),
            mr,
            recipient: "+491701111111".into(),
            sc_time: None,
            discharge: None,
            status: 0,
            is_final: true,
            success: true,
            pdu: vec![0, 6, mr, 0],
        };
        record_report(c, &r, t(at)).expect("report");
    }

    #[test]
    fn counts_land_in_their_buckets() {
        crate::store::pgtest::on_both_engines(counts_in_buckets);
    }

    fn counts_in_buckets(c: &dyn Db) {
        // The window: t(0) to t(600), 5-minute buckets → t(0) is a
        // multiple of 300 s (12:00:00), so two full buckets and the one
        // holding t(600).
        // Bucket 0: two sends through A (one delivered), one through B
        // without a report.
        sent(c, "m1", SIM_A, 1, 10, 20, true);
        sent(c, "m1", SIM_A, 2, 30, 40, true);
        sent(c, "m2", SIM_B, 1, 50, 60, false);
        delivered(c, "m1", SIM_A, 1, 70);
        // Bucket 1: one send through B, delivered.
        sent(c, "m2", SIM_B, 2, 310, 320, true);
        delivered(c, "m2", SIM_B, 2, 330);
        // Before the window: not counted.
        sent(c, "m1", SIM_A, 3, -400, -390, true);
        // A message queued and not sent.
        enqueue(c, &msg("+491702222222", 2), t(400)).expect("queued");

        let s = series(c, t(0), t(600), 300_000).expect("series");
        assert_eq!(s.times.len(), 3);
        assert_eq!(s.step_s, 300);
        assert_eq!(s.start, "2026-01-01T12:00:00Z");
        assert_eq!(s.queued, vec![3, 2, 0]);
        assert_eq!(s.sent_with_report, vec![2, 1, 0]);
        assert_eq!(s.delivered, vec![1, 1, 0]);
        assert_eq!(s.delivery_rate, vec![Some(0.5), Some(1.0), None]);
        let sims: Vec<(&str, Option<&str>, &[u64])> = s
            .sims
            .iter()
            .map(|x| (x.sim.as_str(), x.modem.as_deref(), x.parts.as_slice()))
            .collect();
        assert_eq!(
            sims,
            vec![
                (SIM_A, Some("m1"), &[2u64, 0, 0][..]),
                (SIM_B, Some("m2"), &[1u64, 1, 0][..]),
            ]
        );
        // A window after everything: SIMs with nothing are left out.
        let later = series(c, t(3600), t(3900), 60_000).expect("later");
        assert!(later.sims.is_empty());
        assert_eq!(later.queued, vec![0; 6]);
    }

    #[test]
    fn refuses_windows_it_cannot_draw() {
        crate::store::pgtest::on_both_engines(|c| {
            assert!(series(c, t(0), t(600), 0).is_err());
            assert!(series(c, t(600), t(0), 60_000).is_err());
            // 2 days in 1-minute buckets is more than MAX_BUCKETS.
            assert!(series(c, t(-2 * 86_400), t(0), 60_000).is_err());
        });
    }

    /// Each query of the series is an index range, not a table scan.
    #[test]
    fn series_queries_use_indexes() {
        let c = memory();
        let queries: &[&str] = &[
            "SELECT at FROM send_log WHERE sim = 's' AND at >= 0 AND at <= 5",
            "SELECT MIN(id), MAX(id) FROM outgoing WHERE created_at >= 0 AND created_at <= 5",
            "SELECT message_id, sent_at IS NOT NULL FROM outgoing_part
             WHERE message_id >= 1 AND message_id <= 5",
            "SELECT id, created_at, state, report FROM outgoing
             WHERE created_at >= 0 AND created_at <= 5",
            "SELECT received_at FROM inbox WHERE received_at >= 0 AND received_at <= 5",
        ];
        assert!(!queries.is_empty());
        for sql in queries {
            let mut stmt = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain");
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            for line in &plan {
                let scan = line.starts_with("SCAN") && !line.contains("INDEX");
                assert!(!scan, "full scan in {plan:?} for {sql}");
            }
        }
    }

    /// The same series from rows written directly, on both engines.
    #[test]
    fn raw_rows_count_the_same_on_both_engines() {
        crate::store::pgtest::on_both_engines(|c| {
            let at = |secs: i64| ms(t(secs));
            let run = |sql: &str, a: &[Value<'_>]| {
                c.execute(sql, a).expect(sql);
            };
            run(
                "INSERT INTO sim (sim, last_modem, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)",
                args![SIM_A, "m1", at(0)],
            );
            for s in [10, 20, 320] {
                run(
                    "INSERT INTO send_log (sim, at) VALUES (?1, ?2)",
                    args![SIM_A, at(s)],
                );
            }
            for (id, state, report, created, sent) in [
                (1i64, "delivered", true, 10, Some(20)),
                (2, "sent", true, 30, Some(40)),
                (3, "queued", false, 310, None),
            ] {
                run(
                    "INSERT INTO outgoing (id, recipient, to_digits, text, report, flash, priority,
                         not_before, next_attempt_at, options, source, state, created_at,
                         updated_at)
                     VALUES (?1, '+49170', '49170', 'x', ?2, 0, 1, ?3, ?3, '{}', 'test', ?4,
                         ?3, ?3)",
                    args![id, report, at(created), state],
                );
                run(
                    "INSERT INTO outgoing_part (message_id, seq, state, sent_at)
                     VALUES (?1, 1, ?2, ?3)",
                    args![id, state, sent.map(at)],
                );
            }
            run(
                "INSERT INTO inbox (modem, sim, sender, text, received_at, parts, complete,
                     class0, \"binary\", pid)
                 VALUES ('m1', ?1, '+49171', 'hi', ?2, 1, 1, 0, 0, 0)",
                args![SIM_A, at(400)],
            );
            let s = series(c, t(0), t(600), 300_000).expect("series");
            assert_eq!(s.sims.len(), 1);
            assert_eq!(s.sims[0].parts, vec![2, 1, 0]);
            assert_eq!(s.sims[0].modem.as_deref(), Some("m1"));
            assert_eq!(s.queued, vec![2, 1, 0]);
            assert_eq!(s.sent_with_report, vec![2, 0, 0]);
            assert_eq!(s.delivered, vec![1, 0, 0]);
            assert_eq!(s.delivery_rate[0], Some(0.5));
            assert_eq!(s.received, vec![0, 1, 0]);
        });
    }
}
