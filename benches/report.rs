//! The report benchmark: `Store::report` over 1,000,000 stored messages
//! (1,200,000 parts, 8 modems, 30 days, a mix of delivered, sent, failed,
//! expired and queued, 50,000 received), grouped by modem, day and campaign;
//! and the dashboard's `Store::series` (the last hour, 6 hours, 24 hours)
//! over the same store, with the last day's sends in the send log.
//! Owns the synthetic data (inserted with SQL, straight into a fresh
//! database the store created) and the timing; not the report itself.
//!
//! Run: `cargo bench --bench report` (`-- --messages N` for another size).
//! Goal: under 1 s per report. Figures: BENCHMARKS.md.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use smsgate::store::{ReportBy, Store};

fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fills the tables with `n` messages over the last 30 days: every fifth has
/// two parts; states cycle through delivered, sent, failed, expired, queued.
fn fill(path: &std::path::Path, n: i64) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let now = Utc::now().timestamp_millis();
    let span = 30 * 86_400_000_i64;
    conn.execute_batch("PRAGMA synchronous=OFF; BEGIN;")?;
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
         INSERT INTO outgoing (id, recipient, to_digits, text, report, flash, priority,
             not_before, next_attempt_at, assigned_modem, options, source, state,
             created_at, updated_at)
         SELECT i, '+4915112345678', '4915112345678', 'benchmark', i % 3 <> 0, 0, 1,
             ?2 - ?3 + i * ?3 / ?1, 0, 'm' || (i % 8), '{}', 'bench',
             CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'expired' WHEN 2 THEN 'queued'
                         WHEN 3 THEN 'sent' WHEN 4 THEN 'sent' ELSE 'delivered' END,
             ?2 - ?3 + i * ?3 / ?1, ?2
         FROM k",
        rusqlite::params![n, now, span],
    )?;
    conn.execute(
        "INSERT INTO outgoing_part (message_id, seq, state, modem, sent_at, delivered_at)
         SELECT id, s.seq,
             CASE state WHEN 'queued' THEN 'pending' WHEN 'expired' THEN 'cancelled'
                        ELSE state END,
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
    let store = Store::open(&path).context("open")?;
    let now = Utc::now();
    for (since_days, by) in [
        (31, ReportBy::Modem),
        (31, ReportBy::Day),
        (31, ReportBy::Campaign),
        (7, ReportBy::Modem),
        (1, ReportBy::Modem),
    ] {
        let since = now - chrono::TimeDelta::days(since_days);
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = rt.block_on(store.report(since, by, now))?;
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(r);
        }
        let r = last.context("a report")?;
        println!(
            "report --since {since_days}d --by {:<8}: {:>7.1} ms (best of 3), {} groups, {} messages, {} parts",
            by.as_str(),
            best * 1000.0,
            r.groups.len(),
            r.total.messages,
            r.total.parts
        );
    }
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
    rt.block_on(store.close())?;
    Ok(())
}
