//! Tests of the report's summary (migration 12): after a mix of sends,
//! failures, expiries, retries, cancels, status reports, received messages
//! and pruning, run through the store's own query functions, the summary
//! tables equal a recomputation from scratch, and the report (whole days
//! from the summary, the first partial day from the rows) equals the report
//! from the rows alone for windows starting on, just before and just after
//! each midnight.

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::*;
use crate::store::outgoing::{
    assign, cancel, enqueue, expire, part_failed, part_sending, part_sent, retry,
};
use crate::store::sql::{args, Db, DbError, Value};
use crate::store::tests::fixture::{memory, msg, t};
use crate::store::{events, outgoing, Disposition, PartPdu};

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The summary's rows that count (zero rows are left behind by moves).
fn summary(c: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT 'day', day, modem, campaign, messages, delivered, failed, expired, cancelled,
             skipped, pending, sent, sent_with_report, parts, parts_sent, parts_delivered,
             parts_failed
         FROM report_day WHERE messages <> 0 ORDER BY day, modem, campaign",
        "SELECT 'time', day, modem, campaign, kind, ms, n FROM report_time WHERE n <> 0
         ORDER BY day, modem, campaign, kind, ms",
        "SELECT 'received', day, modem, n FROM report_received WHERE n <> 0 ORDER BY day, modem",
    ] {
        let mut stmt = c.prepare(sql).expect("prepare");
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let fields: Vec<String> = (0..width)
                    .map(|i| match r.get_ref(i) {
                        Ok(rusqlite::types::ValueRef::Integer(v)) => v.to_string(),
                        Ok(rusqlite::types::ValueRef::Text(t)) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(fields.join(" "))
            })
            .expect("query");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out
}

/// The summary recomputed from the rows by the migration's own backfill.
fn recomputed(c: &Connection) -> Vec<String> {
    let backfill = crate::store::schema::V12_BACKFILL;
    c.execute_batch(&format!(
        "SAVEPOINT recompute;
         DELETE FROM report_day; DELETE FROM report_time; DELETE FROM report_received;
         {backfill}"
    ))
    .expect("recompute");
    let out = summary(c);
    c.execute_batch("ROLLBACK TO recompute; RELEASE recompute;")
        .expect("roll back");
    out
}

fn pdus(parts: u32) -> Vec<PartPdu> {
    (1..=parts)
        .map(|s| PartPdu::hex(s, &format!("00{s:02X}"), 10))
        .collect()
}

/// Seconds of the test clock per simulated step: the run spans about
/// four days, so the summary has several of them.
const STEP: i64 = 1_700;

/// Runs `steps` random operations of every kind on `c`.
fn churn(c: &Connection, rng: &mut Rng, steps: i64) {
    c.execute_batch(
        "INSERT INTO campaign (id, name, text, state, priority, report, created_at, updated_at)
         VALUES (1, 'spring', 'x', 'running', 3, 1, 0, 0), (2, 'a,b', 'y', 'running', 3, 1, 0, 0)",
    )
    .expect("campaigns");
    let mut ids: Vec<i64> = Vec::new();
    let modems = ["m1", "m2", "m3"];
    for step in 0..steps {
        let now = t(step * STEP);
        let later = |s: u64| t(step * STEP + s as i64);
        match rng.below(12) {
            0..=2 => {
                let mut m = msg(
                    &format!("+4917012345{:02}", rng.below(50)),
                    1 + rng.below(3) as u32,
                );
                m.report = rng.below(3) != 0;
                m.campaign = match rng.below(4) {
                    0 => Some(1),
                    1 => Some(2),
                    _ => None,
                };
                if rng.below(4) == 0 {
                    m.modem = Some(modems[rng.below(3) as usize].to_string());
                }
                if rng.below(6) == 0 {
                    m.expires_at = Some(later(600));
                }
                let e = enqueue(c, &m, now).expect("enqueue");
                ids.push(e.id);
            }
            _ if ids.is_empty() => {}
            op => {
                let id = ids[rng.below(ids.len() as u64) as usize];
                let parts: u32 = c
                    .query_row(
                        "SELECT COUNT(*) FROM outgoing_part WHERE message_id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .unwrap_or(0);
                let modem = modems[rng.below(3) as usize];
                let seq = 1 + rng.below(u64::from(parts.max(1))) as u32;
                // Operations that do not fit the message's state fail and
                // change nothing that matters here.
                let _ = match op {
                    3 => assign(c, id, modem, Some("sim"), &pdus(parts)).map(|_| ()),
                    4 | 5 => part_sending(c, id, seq, modem, later(1))
                        .and_then(|_| part_sent(c, id, seq, 7, later(2 + rng.below(40_000))))
                        .map(|_| ()),
                    6 => {
                        let how = match rng.below(3) {
                            0 => Disposition::Permanent,
                            1 => Disposition::RetryAt(later(60)),
                            _ => Disposition::Failover(later(60)),
                        };
                        part_sending(c, id, seq, modem, later(1))
                            .and_then(|_| part_failed(c, id, seq, "no", how, later(3)))
                            .map(|_| ())
                    }
                    7 | 8 => {
                        let ok = rng.below(5) != 0;
                        let status = if ok { 0 } else { 0x45 };
                        outgoing::apply_report(
                            c,
                            id,
                            seq,
                            status,
                            true,
                            ok,
                            later(rng.below(90_000)),
                        )
                        .and_then(|_| outgoing::rollup(c, id, later(90_001)).map(|_| ()))
                    }
                    9 => cancel(c, id, now).map(|_| ()),
                    10 => retry(c, id, now).map(|_| ()),
                    _ => expire(c, later(700)).map(|_| ()),
                };
            }
        }
        if rng.below(5) == 0 {
            c.execute(
                "INSERT INTO inbox (modem, sim, sender, text, received_at, parts, complete,
                     class0, binary, pid)
                 VALUES (?1, 'sim', '+4917099', 'hi', ?2, 1, 1, 0, 0, 0)",
                rusqlite::params![modems[rng.below(3) as usize], ms(now)],
            )
            .expect("received");
        }
    }
}

#[test]
fn the_summary_equals_a_recomputation_after_every_kind_of_change() {
    let c = memory();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    churn(&c, &mut rng, 400);
    let states: Vec<(String, i64)> = c
        .prepare("SELECT state, COUNT(*) FROM outgoing GROUP BY state ORDER BY state")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
        })
        .expect("states");
    // The run reached the states the report tells apart.
    for want in ["cancelled", "delivered", "failed", "queued", "sent"] {
        assert!(states.iter().any(|(s, _)| s == want), "{want}: {states:?}");
    }
    let days: i64 = c
        .query_row("SELECT COUNT(DISTINCT day) FROM report_day", [], |r| {
            r.get(0)
        })
        .expect("days");
    assert!(days >= 3, "{days}");
    let live = summary(&c);
    assert!(live.iter().any(|r| r.starts_with("time ")), "{live:?}");
    assert_eq!(live, recomputed(&c));

    // Pruning deletes messages (their parts by cascade) and received ones.
    let cut = t(200 * STEP);
    while events::prune_step(&c, cut).expect("prune").messages > 0 {}
    c.execute("DELETE FROM inbox WHERE received_at < ?1", [ms(cut)])
        .expect("prune inbox");
    assert_eq!(summary(&c), recomputed(&c));
}

/// Midnights of the test run and the moments around them.
fn edges(db: &dyn Db) -> Vec<DateTime<Utc>> {
    let (first, last): (i64, i64) = db
        .query_one(
            "SELECT MIN(created_at), MAX(created_at) FROM outgoing",
            args![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("span");
    let at = |v: i64| DateTime::from_timestamp_millis(v).expect("time");
    let mut out = vec![at(0), at(first), at(last), at(last + 1), t(1_000_000_000)];
    let mut day = first.div_euclid(DAY_MS) * DAY_MS;
    while day <= last + DAY_MS {
        for d in [-1, 0, 1, DAY_MS / 2] {
            out.push(at(day + d));
        }
        day += DAY_MS;
    }
    out
}

#[test]
fn the_report_equals_the_report_from_the_rows_at_every_window_edge() {
    let c = memory();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    churn(&c, &mut rng, 300);
    let now = t(1_000_000);
    for since in edges(&c as &dyn Db) {
        for by in [ReportBy::Modem, ReportBy::Day, ReportBy::Campaign] {
            let got = report(&c, since, by, now).expect("report");
            let want = report_from_rows(&c, since, by, now).expect("from rows");
            assert_eq!(got, want, "since {since} by {}", by.as_str());
        }
    }
    // The whole run: something in every column the test means to check.
    let all = report(&c, DateTime::UNIX_EPOCH, ReportBy::Modem, now).expect("all");
    let total = &all.total;
    assert!(
        total.messages_delivered > 0 && total.messages_failed > 0,
        "{total:?}"
    );
    assert!(total.received > 0 && total.parts_delivered > 0, "{total:?}");
    assert!(total.sent_to_delivered.count > 0, "{total:?}");
    let campaign = report(&c, DateTime::UNIX_EPOCH, ReportBy::Campaign, now).expect("campaign");
    let names: Vec<&str> = campaign.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, ["a,b (#2)", "none", "spring (#1)"]);
}

#[test]
fn times_are_counted_to_two_significant_digits() {
    let table = [
        (-5, 0),
        (0, 0),
        (99, 0),
        (1_234, 1_200),
        (9_999, 9_900),
        (10_000, 10_000),
        (56_789, 56_000),
        (123_456, 120_000),
        (86_399_999, 86_000_000),
    ];
    for (v, want) in table {
        assert_eq!(time_step(v), want, "{v}");
    }
    // The SQL of migration 12 takes the same steps: the report from the
    // summary equals the one from the rows (test above).
}

/// The summary's rows through either engine, sorted here (collations
/// differ).
fn summary_db(db: &dyn Db) -> Vec<String> {
    let mut out = Vec::new();
    for (sql, width) in [
        (
            "SELECT day, modem, campaign, messages, delivered, failed, expired, cancelled,
                 skipped, pending, sent, sent_with_report, parts, parts_sent, parts_delivered,
                 parts_failed
             FROM report_day WHERE messages <> 0",
            16,
        ),
        (
            "SELECT day, modem, campaign, kind, ms, n FROM report_time WHERE n <> 0",
            6,
        ),
        ("SELECT day, modem, n FROM report_received WHERE n <> 0", 3),
    ] {
        let rows = db
            .query(sql, args![], |r| {
                let fields: Result<Vec<String>, DbError> = (0..width)
                    .map(|i| match r.value(i)? {
                        Value::Int(v) => Ok(v.to_string()),
                        Value::Text(t) => Ok(t.to_string()),
                        other => Ok(format!("{other:?}")),
                    })
                    .collect();
                Ok(format!("{width}: {}", fields?.join(" ")))
            })
            .expect("summary");
        out.extend(rows);
    }
    out.sort();
    out
}

/// The summary recomputed from the rows by the migration's own backfill,
/// in a transaction rolled back (either engine; outside a transaction).
fn recomputed_db(db: &dyn Db) -> Vec<String> {
    let recompute = db.pick(
        crate::store::schema::V12_BACKFILL,
        "SELECT report_apply(o, 1, NULL, NULL) FROM outgoing AS o;
         INSERT INTO report_received (day, modem, n)
         SELECT received_at / 86400000, modem, COUNT(*) FROM inbox GROUP BY 1, 2;",
    );
    db.batch(&format!(
        "BEGIN;
         DELETE FROM report_day; DELETE FROM report_time; DELETE FROM report_received;
         {recompute}"
    ))
    .expect("recompute");
    let out = summary_db(db);
    db.batch("ROLLBACK").expect("roll back");
    out
}

/// Random changes straight in SQL, the same on either engine: inserts,
/// single- and multi-row updates of parts and messages, deletes of parts
/// and of messages (their parts by cascade), received messages.
fn churn_sql(db: &dyn Db, seed: u64) {
    let mut rng = Rng(seed);
    db.batch(
        "INSERT INTO campaign (id, name, text, state, priority, report, created_at, updated_at)
         VALUES (1, 'spring', 'x', 'running', 3, 1, 0, 0)",
    )
    .expect("campaign");
    let base = ms(t(0));
    let states = [
        "queued",
        "sending",
        "sent",
        "delivered",
        "failed",
        "expired",
        "cancelled",
        "skipped",
    ];
    let modems = ["m1", "m2"];
    let mut next = 1_i64;
    for step in 0..600_i64 {
        let now = base + step * 900_000 + rng.below(1000) as i64;
        let id = 1 + rng.below(next as u64) as i64;
        let seq = 1 + rng.below(3) as i64;
        let modem = modems[rng.below(2) as usize];
        let at = now + rng.below(200_000) as i64;
        let run = |sql: &str, a: &[Value<'_>]| {
            db.execute(sql, a).unwrap_or_else(|e| panic!("{sql}: {e}"));
        };
        match rng.below(14) {
            0..=2 => {
                let campaign = (rng.below(3) == 0).then_some(1_i64);
                let asked = (rng.below(4) == 0).then_some(modem);
                run(
                    "INSERT INTO outgoing (id, recipient, to_digits, text, report, flash, priority,
                         not_before, next_attempt_at, modem, options, source, state, created_at,
                         updated_at, campaign)
                     VALUES (?1, 'x', 'x', 't', ?2, 0, 1, 0, 0, ?3, '{}', 'test', 'queued', ?4,
                         ?4, ?5)",
                    args![next, (rng.below(3) != 0) as i64, asked, now, campaign],
                );
                for s in 1..=1 + rng.below(3) as i64 {
                    run(
                        "INSERT INTO outgoing_part (message_id, seq, state) VALUES (?1, ?2, 'pending')",
                        args![next, s],
                    );
                }
                next += 1;
            }
            3 => run(
                "UPDATE outgoing SET assigned_modem = ?2, state = 'sending' WHERE id = ?1",
                args![id, modem],
            ),
            4 | 5 => run(
                "UPDATE outgoing_part SET state = 'sent', modem = ?3, sent_at = ?4
                 WHERE message_id = ?1 AND seq = ?2",
                args![id, seq, modem, at],
            ),
            6 => run(
                "UPDATE outgoing_part SET state = 'sent', modem = ?2, sent_at = ?3
                 WHERE message_id = ?1",
                args![id, modem, at],
            ),
            7 => run(
                "UPDATE outgoing_part SET state = ?3, delivered_at = ?4
                 WHERE message_id = ?1 AND seq = ?2",
                args![id, seq, if rng.below(4) == 0 { "failed" } else { "delivered" }, at + 5_000],
            ),
            8 | 9 => run(
                "UPDATE outgoing SET state = ?2 WHERE id = ?1",
                args![id, states[rng.below(states.len() as u64) as usize]],
            ),
            10 => run(
                "UPDATE outgoing_part SET state = 'cancelled' WHERE message_id = ?1 AND sent_at IS NULL",
                args![id],
            ),
            11 => {
                run(
                    "UPDATE outgoing_part SET state = 'pending', modem = NULL, sent_at = NULL,
                         delivered_at = NULL WHERE message_id = ?1",
                    args![id],
                );
                run(
                    "UPDATE outgoing SET state = 'queued', assigned_modem = NULL WHERE id = ?1",
                    args![id],
                );
            }
            12 => run(
                "DELETE FROM outgoing_part WHERE message_id = ?1 AND seq = ?2",
                args![id, seq],
            ),
            _ => run("DELETE FROM outgoing WHERE id = ?1", args![id]),
        }
        if rng.below(4) == 0 {
            run(
                "INSERT INTO inbox (modem, sim, sender, text, received_at, parts, complete,
                     class0, \"binary\", pid)
                 VALUES (?1, 'sim', '+4917099', 'hi', ?2, 1, 1, 0, 0, 0)",
                args![modem, now],
            );
        }
        if rng.below(20) == 0 {
            run(
                "DELETE FROM inbox WHERE id IN (SELECT MIN(id) FROM inbox)",
                args![],
            );
        }
    }
}

#[test]
fn both_engines_keep_the_same_summary_and_give_the_same_reports() {
    let seen = std::cell::RefCell::new(Vec::new());
    crate::store::pgtest::on_both_engines(|db| {
        churn_sql(db, 0x5851_f42d_4c95_7f2d);
        let live = summary_db(db);
        assert!(live.iter().any(|r| r.starts_with("6: ")), "{live:?}");
        assert_eq!(live, recomputed_db(db), "{:?}", db.dialect());
        // Whole reports, at every window edge: from the summary and from
        // the rows alone, the same on this engine.
        let now = t(1_000_000);
        let mut reports = Vec::new();
        for since in edges(db) {
            for by in [ReportBy::Modem, ReportBy::Day, ReportBy::Campaign] {
                let got = report(db, since, by, now).expect("report");
                let want = report_from_rows(db, since, by, now).expect("from rows");
                assert_eq!(
                    got,
                    want,
                    "{:?} since {since} by {}",
                    db.dialect(),
                    by.as_str()
                );
                reports.push(got);
            }
        }
        let all = report(db, DateTime::UNIX_EPOCH, ReportBy::Campaign, now).expect("all");
        assert!(
            all.total.queued_to_sent.count > 0 && all.total.received > 0,
            "{:?}",
            all.total
        );
        assert_eq!(all.groups.len(), 2, "{:?}", all.groups);
        seen.borrow_mut().push((live, reports));
    });
    let seen = seen.into_inner();
    if let [lite, pg] = &seen[..] {
        assert_eq!(lite.0, pg.0, "SQLite and PostgreSQL: the summary");
        assert_eq!(lite.1.len(), pg.1.len());
        for (l, p) in lite.1.iter().zip(&pg.1) {
            assert_eq!(l, p, "SQLite and PostgreSQL: the report");
        }
    }
}

/// The changes of a part's modem that move a message between modems, or do
/// not: the first part's modem counts, else the one assigned or asked for.
#[test]
fn a_parts_modem_moves_its_message_only_when_it_becomes_the_first() {
    crate::store::pgtest::on_both_engines(parts_modem_steps);
}

fn parts_modem_steps(db: &dyn Db) {
    let steps: &[(&str, &str)] = &[
        (
            "INSERT INTO outgoing (id, recipient, to_digits, text, report, flash, priority,
                 not_before, next_attempt_at, modem, options, source, state, created_at,
                 updated_at)
             VALUES (1, 'x', 'x', 't', 1, 0, 1, 0, 0, 'm1', '{}', 'test', 'queued', 0, 0)",
            "m1",
        ),
        (
            "INSERT INTO outgoing_part (message_id, seq, state) VALUES (1, 1, 'pending'),
                 (1, 2, 'pending')",
            "m1",
        ),
        // The second part goes out through m2 first: the message is m2's.
        ("UPDATE outgoing_part SET modem = 'm2' WHERE seq = 2", "m2"),
        // The first part takes the modem asked for: now it is the first.
        ("UPDATE outgoing_part SET modem = 'm1' WHERE seq = 1", "m1"),
        ("UPDATE outgoing_part SET modem = NULL WHERE seq = 1", "m2"),
        ("UPDATE outgoing_part SET modem = NULL WHERE seq = 2", "m1"),
        ("UPDATE outgoing SET assigned_modem = 'm3'", "m3"),
        // A send starting on the modem the message counts under.
        ("UPDATE outgoing_part SET modem = 'm3' WHERE seq = 2", "m3"),
        ("UPDATE outgoing_part SET modem = 'm4' WHERE seq = 1", "m4"),
        // The shorter ways: a state alone, a pending part, a new message.
        ("UPDATE outgoing SET state = 'cancelled'", "m4"),
        ("UPDATE outgoing SET state = 'queued'", "m4"),
        (
            "INSERT INTO outgoing_part (message_id, seq, state) VALUES (1, 3, 'pending')",
            "m4",
        ),
        (
            "UPDATE outgoing_part SET sent_at = 5, state = 'sent' WHERE seq = 3",
            "m4",
        ),
        (
            "INSERT INTO outgoing_part (message_id, seq, state) VALUES (1, 4, 'pending')",
            "m4",
        ),
        ("UPDATE outgoing SET state = 'expired'", "m4"),
        ("DELETE FROM outgoing_part WHERE seq = 1", "m3"),
    ];
    for (sql, modem) in steps {
        db.batch(sql).expect("step");
        assert_eq!(summary_db(db), recomputed_db(db), "after {sql}");
        let r = report(db, DateTime::UNIX_EPOCH, ReportBy::Modem, t(0)).expect("report");
        let groups: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(groups, [*modem], "after {sql}");
    }
}
