//! The report benchmark: `Store::report` over 1,000,000 stored messages
//! (1,200,000 parts, 8 modems, 30 days, a mix of delivered, sent, failed,
//! expired and queued, 50,000 received), grouped by modem, day and campaign;
//! and the dashboard's `Store::series` (the last hour, 6 hours, 24 hours)
//! over the same store, with the last day's sends in the send log.
//! Texts are 100 characters and parts carry a PDU of 140 octets, as real
//! rows do (the report must not read them). Each report is timed from the
//! summary of migration 12 (whole days) and again from the rows alone
//! (`Store::report_from_rows`, the way before version 12), side by side;
//! a small write is timed while a report runs (reports run on their own
//! read-only connection). The rows are filled before migration 12 runs, so
//! the migration's backfill over the million is timed too.
//!
//! The write side: the summary's triggers run in every transaction that
//! changes a message or a part. It times 4,000 messages through the store's
//! hot path (enqueue, assign, sending, sent, a delivery report; one in
//! five in two parts; 32 at a time, so commits are grouped) with the
//! triggers and with them dropped, side by side.
//! Owns the synthetic data (inserted with SQL, straight into a fresh
//! database the store created) and the timing; not the report itself.
//!
//! It also times a `/metrics` scrape's work over the same store with 64
//! modems: the two queries a scrape makes (queued/sending counts, cursors)
//! and the rendering of every family (without the HTTP round trip).
//!
//! Run: `cargo bench --bench report` (`-- --messages N` for another size).
//! Goal: under 1 s per report. Figures: BENCHMARKS.md.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use smsgate::gateway::metrics::{Live, Metrics};
use smsgate::store::{
    Event, EventData, MessageOptions, NewMessage, PartEvent, PartPdu, Priority, ReportBy, ReportIn,
    Store,
};

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Drops every trigger of migration 12 (the report's summary) and, with
/// `all`, its views and tables too.
fn drop_summary(conn: &rusqlite::Connection, all: bool) -> Result<()> {
    let objects: Vec<(String, String)> = conn
        .prepare(
            "SELECT type, name FROM sqlite_master
             WHERE (type = 'trigger' AND name LIKE 'report\\_%' ESCAPE '\\')
                OR (?1 AND type IN ('view', 'table') AND name IN ('report_fold',
                    'report_message', 'report_apply', 'report_day', 'report_time',
                    'report_received'))
             ORDER BY type = 'table', type = 'view'",
        )?
        .query_map([all], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(objects.len() >= 10, "migration 12's objects: {objects:?}");
    for (kind, name) in objects {
        conn.execute_batch(&format!("DROP {kind} IF EXISTS {name}"))?;
    }
    Ok(())
}

/// Fills the tables with `n` messages over the last 30 days: every fifth has
/// two parts; states cycle through delivered, sent, failed, expired, queued.
fn fill(path: &std::path::Path, n: i64) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    // Back to the version before the summary: the store adds it (and
    // fills it from these rows) when it opens the database again.
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    drop_summary(&conn, true)?;
    conn.pragma_update(None, "user_version", version - 1)?;
    let now = Utc::now().timestamp_millis();
    let span = 30 * 86_400_000_i64;
    conn.execute_batch("PRAGMA synchronous=OFF; BEGIN;")?;
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
         INSERT INTO outgoing (id, recipient, to_digits, text, report, flash, priority,
             not_before, next_attempt_at, assigned_modem, options, source, state,
             created_at, updated_at)
         SELECT i, '+4915112345678', '4915112345678', printf('%.100c', 'b'), i % 3 <> 0, 0, 1,
             ?2 - ?3 + i * ?3 / ?1, 0, 'm' || (i % 8), '{}', 'bench',
             CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'expired' WHEN 2 THEN 'queued'
                         WHEN 3 THEN 'sent' WHEN 4 THEN 'sent' ELSE 'delivered' END,
             ?2 - ?3 + i * ?3 / ?1, ?2
         FROM k",
        rusqlite::params![n, now, span],
    )?;
    conn.execute(
        "INSERT INTO outgoing_part (message_id, seq, state, pdu_hex, modem, sent_at, delivered_at)
         SELECT id, s.seq,
             CASE state WHEN 'queued' THEN 'pending' WHEN 'expired' THEN 'cancelled'
                        ELSE state END,
             printf('%.280c', 'A'),
             assigned_modem,
             CASE WHEN state IN ('sent', 'delivered', 'failed')
                  THEN created_at + 1000 + (id * 7919) % 20000 END,
             CASE WHEN state = 'delivered'
                  THEN created_at + 5000 + (id * 104729) % 120000 END
         FROM outgoing, (SELECT 1 AS seq UNION ALL SELECT 2) AS s
         WHERE s.seq = 1 OR id % 5 = 0",
        [],
    )?;
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1 / 20)
         INSERT INTO inbox (modem, sim, sender, text, received_at, parts, complete, class0,
             binary, pid)
         SELECT 'm' || (i % 8), 'sim', '+4915112345678', 'hi', ?2 - ?3 + i * 20 * ?3 / ?1,
             1, 1, 0, 0, 0
         FROM k",
        rusqlite::params![n, now, span],
    )?;
    // The send log keeps a day: the parts sent in the last one, per SIM.
    conn.execute(
        "INSERT INTO send_log (sim, at)
         SELECT 'sim' || (message_id % 8), sent_at FROM outgoing_part
         WHERE sent_at >= ?1 - 86400000",
        rusqlite::params![now],
    )?;
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 7)
         INSERT INTO sim (sim, last_modem, first_seen, last_seen)
         SELECT 'sim' || i, 'm' || i, ?1, ?1 FROM k",
        rusqlite::params![now],
    )?;
    conn.execute_batch("COMMIT; ANALYZE;")?;
    Ok(())
}

fn main() -> Result<()> {
    let n = arg("--messages", 1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let rt = tokio::runtime::Runtime::new()?;
    // The store creates the schema (every migration), then goes away.
    let store = Store::open(&path).context("create")?;
    rt.block_on(store.close())?;
    let t = Instant::now();
    fill(&path, n)?;
    println!("filled {n} messages in {:.1} s", t.elapsed().as_secs_f64());
    let reports = [
        (31, ReportBy::Modem),
        (31, ReportBy::Day),
        (31, ReportBy::Campaign),
        (7, ReportBy::Modem),
        (1, ReportBy::Modem),
    ];
    let t = Instant::now();
    let store = Store::open(&path).context("open")?;
    println!(
        "migration 12 (the summary, filled from the rows) took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    time_scrape(&rt, &store)?;
    let summary = time_reports(&rt, &store, &reports, false)?;
    let rows = time_reports(&rt, &store, &reports, true)?;
    time_series(&rt, &store)?;
    // Both ways give the same report.
    let now = Utc::now();
    for (days, by) in &reports {
        let since = now - chrono::TimeDelta::days(*days);
        let a = rt.block_on(store.report(since, *by, now))?;
        let b = rt.block_on(store.report_from_rows(since, *by, now))?;
        anyhow::ensure!(a == b, "the summary and the rows disagree ({days}d {by:?})");
    }
    println!("the reports from the summary equal those from the rows");
    // A write while the longest report runs: how long it waits.
    let now = Utc::now();
    let since = now - chrono::TimeDelta::days(31);
    let (s2, s3) = (store.clone(), store.clone());
    let during = rt.block_on(async move {
        let report =
            tokio::spawn(async move { s2.report_from_rows(since, ReportBy::Modem, now).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let t = Instant::now();
        let write = store_write(&s3).await;
        let waited = t.elapsed();
        let _ = report.await;
        write.map(|_| waited)
    })?;
    println!(
        "a write during a 31-day report from the rows waited {:.1} ms",
        during.as_secs_f64() * 1000.0
    );
    rt.block_on(store.close())?;
    println!();
    println!("| report | groups | messages | from the rows | from the summary |");
    println!("|---|---|---|---|---|");
    for (((days, by), s), r) in reports.iter().zip(&summary).zip(&rows) {
        println!(
            "| `--since {days}d --by {}` | {} | {} | {:.0} ms | {:.0} ms |",
            by.as_str(),
            s.1,
            s.2,
            r.0 * 1000.0,
            s.0 * 1000.0
        );
    }
    println!();
    time_writes(&rt, dir.path())?;
    Ok(())
}

/// The hot path with and without the summary's triggers, alternating runs
/// (best of 3 each): messages per second and µs per message.
fn time_writes(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Result<()> {
    const MESSAGES: usize = 4_000;
    let mut best = [f64::MAX; 2];
    for round in 0..3 {
        for (i, triggers) in [true, false].into_iter().enumerate() {
            let path = dir.join(format!("writes-{round}-{triggers}.db"));
            let store = Store::open(&path).context("open for writes")?;
            rt.block_on(store.close())?;
            if !triggers {
                drop_summary(&rusqlite::Connection::open(&path)?, false)?;
            }
            let store = Store::open(&path).context("open for writes")?;
            let t = Instant::now();
            rt.block_on(lifecycles(&store, MESSAGES))?;
            best[i] = best[i].min(t.elapsed().as_secs_f64());
            rt.block_on(store.close())?;
        }
    }
    println!("| hot path, {MESSAGES} messages, 32 at a time | time | per message |");
    println!("|---|---|---|");
    for (name, secs) in [
        ("with the summary's triggers", best[0]),
        ("without", best[1]),
    ] {
        println!(
            "| {name} | {:.0} ms | {:.0} µs |",
            secs * 1000.0,
            secs * 1e6 / MESSAGES as f64
        );
    }
    Ok(())
}

/// `n` messages through enqueue, assign, sending, sent and a delivery
/// report, 32 workers at a time.
async fn lifecycles(store: &Store, n: usize) -> Result<()> {
    let mut tasks = Vec::new();
    for w in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                lifecycle(&store, i).await?;
                i += 32;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn lifecycle(store: &Store, i: usize) -> Result<()> {
    let parts = if i.is_multiple_of(5) { 2 } else { 1 };
    let to = format!("+4917{i:08}");
    let e = store
        .enqueue(
            NewMessage {
                to: to.clone(),
                text: "b".repeat(100),
                report: true,
                flash: false,
                priority: Priority::Normal,
                validity: None,
                expires_at: None,
                not_before: None,
                modem: None,
                queue: None,
                parts,
                options: MessageOptions::default(),
                source: "bench".into(),
                spool_key: None,
                campaign: None,
                category: Default::default(),
                optout_key: None,
            },
            Utc::now(),
        )
        .await?;
    let modem = format!("m{}", i % 8);
    let sim = format!("sim{}", i % 8);
    let pdus = (1..=parts)
        .map(|seq| PartPdu {
            seq,
            pdu: vec![0x41; 140],
            tpdu_len: 140,
        })
        .collect();
    store.assign(e.id, &modem, Some(&sim), pdus).await?;
    for seq in 1..=parts {
        let mr = ((i * 2 + seq as usize) % 256) as u8;
        store.part_sending(e.id, seq, &modem, Utc::now()).await?;
        store.part_sent(e.id, seq, mr, Utc::now()).await?;
        store
            .record_report(
                ReportIn {
                    modem: modem.clone(),
                    sim: sim.clone(),
                    mr,
                    recipient: to.clone(),
                    sc_time: None,
                    discharge: None,
                    status: 0,
                    is_final: true,
                    success: true,
                    pdu: format!("{i}/{seq}").into_bytes(),
                },
                Utc::now(),
            )
            .await?;
    }
    Ok(())
}

/// A scrape's work with 64 modems, each with sends in its histogram.
fn time_scrape(rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
    let m = Metrics::new(store.last_event_id(), Default::default());
    for i in 0..64 * 50 {
        m.fold(&Event {
            event_id: i + 1,
            at: Utc::now(),
            data: EventData::PartSent(PartEvent {
                id: i,
                seq: 1,
                parts: 1,
                to: "+4915112345678".into(),
                modem: Some(format!("m{}", i % 64)),
                sim: None,
                mr: Some(1),
                error: None,
                retry: None,
                duration: Some((i % 40) as f64 * 0.25),
            }),
        });
    }
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let body = rt.block_on(async {
            let live = Live {
                queue: store.queue_depth().await?,
                cursors: store.cursors().await?,
                last_event: store.last_event_id(),
                modems: (0..64).map(|i| (format!("m{i}"), true, Some(20))).collect(),
                ..Live::default()
            };
            m.render(&live, true).context("render")
        })?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        size = body.len();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "metrics scrape, 64 modems: median {:.2} ms, p95 {:.2} ms, {} bytes",
        q(0.5),
        q(0.95),
        size
    );
    Ok(())
}

/// One small write through the store thread (a cursor update).
async fn store_write(store: &Store) -> Result<()> {
    store
        .set_cursor("bench", 1, Utc::now())
        .await
        .context("write")
}

/// Times each report (best of 3), from the summary or from the rows alone:
/// seconds, groups, messages.
fn time_reports(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    reports: &[(i64, ReportBy)],
    from_rows: bool,
) -> Result<Vec<(f64, usize, u64)>> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (since_days, by) in reports {
        let since = now - chrono::TimeDelta::days(*since_days);
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = if from_rows {
                rt.block_on(store.report_from_rows(since, *by, now))?
            } else {
                rt.block_on(store.report(since, *by, now))?
            };
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(r);
        }
        let r = last.context("a report")?;
        println!(
            "report --since {since_days}d --by {:<8} {}: {:>7.1} ms (best of 3), {} groups, {} messages, {} parts",
            by.as_str(),
            if from_rows { "from the rows" } else { "summary" },
            best * 1000.0,
            r.groups.len(),
            r.total.messages,
            r.total.parts
        );
        out.push((best, r.groups.len(), r.total.messages));
    }
    Ok(out)
}

/// The dashboard's series over the last hour, 6 hours and 24 hours.
fn time_series(rt: &tokio::runtime::Runtime, store: &Store) -> Result<()> {
    let now = Utc::now();
    for (hours, step_min) in [(1, 1), (6, 5), (24, 15)] {
        let start = now - chrono::TimeDelta::hours(hours);
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let s = rt.block_on(store.series(start, now, step_min * 60_000))?;
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(s);
        }
        let s = last.context("a series")?;
        let parts: u64 = s.sims.iter().flat_map(|x| x.parts.iter()).sum();
        println!(
            "series --since {hours}h --step {step_min}m: {:>7.1} ms (best of 3), {} buckets, {} messages, {} parts",
            best * 1000.0,
            s.times.len(),
            s.queued.iter().sum::<u64>(),
            parts
        );
    }
    Ok(())
}
