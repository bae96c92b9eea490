//! `smsgate report` through the real binary on simulated modems: a run with
//! sends (one multipart), permanent send failures, delivery reports and
//! received messages; the report's JSON, per modem, per day and per
//! campaign, agrees with the message table (every message's `show`, the
//! inbox, and the `outgoing` table counted directly), from the rows and
//! from the summary (the default window); the CSV opens in
//! Python's `csv` module with the same figures; `status` says when each
//! modem was last ready.
mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use serde_json::{json, Value};
use smsgate::sim::Faults;

const T: Duration = Duration::from_secs(30);

fn ms(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// A time in the report's steps: two significant digits, rounded down, in
/// steps of 100 ms under 10 s (docs/PROTOCOL.md, `report`).
fn step(v: i64) -> i64 {
    let v = v.max(0);
    if v < 10_000 {
        return v / 100 * 100;
    }
    let mut unit = 1;
    while v / unit >= 100 {
        unit *= 10;
    }
    v / unit * unit
}

/// Nearest-rank percentile in seconds of the times in the report's steps,
/// the definition docs/PROTOCOL.md gives.
fn pct(v: Vec<i64>, p: f64) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let mut v: Vec<i64> = v.into_iter().map(step).collect();
    v.sort_unstable();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    json!(v[rank - 1] as f64 / 1000.0)
}

/// Counts by name, queued-to-sent and sent-to-delivered times (ms).
type Tally = (BTreeMap<&'static str, u64>, Vec<i64>, Vec<i64>);

/// What the report must say for each modem, from `show` and the inbox.
fn expected(g: &Gateway, ids: &[i64]) -> BTreeMap<String, Value> {
    let mut acc: BTreeMap<String, Tally> = BTreeMap::new();
    for id in ids {
        let m = g.show(*id);
        let modem = m["parts"][0]["modem"]
            .as_str()
            .or(m["modem"].as_str())
            .unwrap_or("none")
            .to_string();
        let (n, to_sent, to_deliv) = acc.entry(modem).or_default();
        let parts = m["parts"].as_array().unwrap();
        let sent: Vec<i64> = parts.iter().filter_map(|p| ms(&p["sent_at"])).collect();
        let state = m["state"].as_str().unwrap();
        *n.entry("messages").or_default() += 1;
        *n.entry("parts").or_default() += parts.len() as u64;
        *n.entry("parts_sent").or_default() += sent.len() as u64;
        for (key, st) in [("parts_delivered", "delivered"), ("parts_failed", "failed")] {
            *n.entry(key).or_default() += parts.iter().filter(|p| p["state"] == st).count() as u64;
        }
        for st in ["delivered", "failed", "expired", "cancelled"] {
            if state == st {
                *n.entry(st).or_default() += 1;
            }
        }
        if sent.len() == parts.len() {
            *n.entry("messages_sent").or_default() += 1;
            if m["report"] == json!(true) {
                *n.entry("with_report").or_default() += 1;
            }
            let last_sent = *sent.iter().max().unwrap();
            to_sent.push(last_sent - ms(&m["created_at"]).unwrap());
            if state == "delivered" {
                let done = parts.iter().filter_map(|p| ms(&p["delivered_at"])).max();
                to_deliv.push(done.unwrap() - last_sent);
            }
        }
    }
    for m in g.inbox() {
        let modem = m["modem"].as_str().unwrap().to_string();
        *acc.entry(modem)
            .or_default()
            .0
            .entry("received")
            .or_default() += 1;
    }
    acc.into_iter()
        .map(|(modem, (n, to_sent, to_deliv))| {
            let c = |k: &str| n.get(k).copied().unwrap_or(0);
            let rate = if c("with_report") > 0 {
                json!(c("delivered") as f64 / c("with_report") as f64)
            } else {
                Value::Null
            };
            let row = json!({
                "group": modem,
                "messages": c("messages"),
                "messages_sent": c("messages_sent"),
                "messages_delivered": c("delivered"),
                "messages_failed": c("failed"),
                "messages_expired": c("expired"),
                "messages_cancelled": c("cancelled"),
                "messages_skipped": 0,
                "messages_sent_with_report": c("with_report"),
                "parts": c("parts"),
                "parts_sent": c("parts_sent"),
                "parts_delivered": c("parts_delivered"),
                "parts_failed": c("parts_failed"),
                "received": c("received"),
                "delivery_rate": rate,
                "queued_to_sent": {"count": to_sent.len(), "p50_s": pct(to_sent.clone(), 0.5), "p95_s": pct(to_sent, 0.95)},
                "sent_to_delivered": {"count": to_deliv.len(), "p50_s": pct(to_deliv.clone(), 0.5), "p95_s": pct(to_deliv, 0.95)},
            });
            (modem, row)
        })
        .collect()
}

/// The fields of `want` as they are in `got`.
fn assert_subset(got: &Value, want: &Value, what: &str) {
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "{what}: {k} in {got}");
    }
}

fn send(g: &Gateway, modem: &str, i: usize, text: &str, report: bool) -> i64 {
    g.ok(json!({"cmd": "send", "to": external(i), "text": text, "modem": modem, "report": report}))
        ["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_agrees_with_the_message_table() {
    let rejecting = ModemPlan {
        faults: Faults {
            cms_error_rate: 1.0,
            cms_error_code: 21, // permanent
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let g = Gateway::start(
        vec![ModemPlan::default(), rejecting, ModemPlan::default()],
        "",
    )
    .await;
    let mut ids = Vec::new();
    ids.push(send(&g, "m0", 1, &"long, in parts ".repeat(25), true));
    for i in 0..3 {
        ids.push(send(&g, "m0", i, &format!("with report {i}"), true));
    }
    for i in 0..2 {
        ids.push(send(&g, "m1", i, &format!("rejected {i}"), true));
    }
    for i in 0..3 {
        ids.push(send(&g, "m2", i, &format!("no report {i}"), false));
    }
    for (i, to) in [(5, 0), (6, 0), (7, 2)] {
        g.net
            .inject_parts(&external(i), &msisdn(to), &format!("hi {i}"), None)
            .unwrap();
    }
    for id in &ids {
        g.wait_final_or_sent(*id);
    }
    g.wait_inbox(T, |i| i.len() == 3);

    let report = g.ok(json!({"cmd": "report", "since": "1h", "by": "modem"}));
    let want = expected(&g, &ids);
    let groups = report["groups"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        want.keys().map(String::as_str).collect::<Vec<_>>(),
        "{report}"
    );
    for row in groups {
        assert_subset(row, &want[row["group"].as_str().unwrap()], "by modem");
    }
    // The run did what the test means it to: deliveries, failures, parts.
    assert_eq!(want["m0"]["messages_delivered"], json!(4));
    assert_eq!(want["m0"]["parts"], json!(6));
    assert_eq!(want["m1"]["messages_failed"], json!(2));
    assert_eq!(want["m2"]["messages_sent"], json!(3));
    assert_eq!(report["groups"][0]["delivery_rate"], json!(1.0));

    // The total agrees with the outgoing table counted directly.
    let conn = rusqlite::Connection::open(&g.db).unwrap();
    let (n, failed): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), SUM(state = 'failed') FROM outgoing",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let parts: i64 = conn
        .query_row("SELECT COUNT(*) FROM outgoing_part", [], |r| r.get(0))
        .unwrap();
    assert_eq!(report["total"]["messages"], json!(n));
    assert_eq!(report["total"]["messages_failed"], json!(failed));
    assert_eq!(report["total"]["parts"], json!(parts));
    assert_eq!(report["total"]["received"], json!(3));

    // The default window (7 days) reads today from the summary that
    // migration 12's triggers kept while the run went on: the same groups.
    let week = g.ok(json!({"cmd": "report", "by": "modem"}));
    assert_eq!(week["groups"], report["groups"], "{week}");
    assert_eq!(week["total"], report["total"], "{week}");

    // By day: one day holds everything; by campaign: everything is "none".
    for by in ["day", "campaign"] {
        let r = g.ok(json!({"cmd": "report", "since": "1h", "by": by}));
        let groups = r["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{r}");
        let mut total = r["total"].clone();
        total["group"] = groups[0]["group"].clone();
        assert_eq!(groups[0], total, "{by}");
        assert_eq!(r["total"], report["total"], "{by}");
    }
    let day = g.ok(json!({"cmd": "report", "by": "day"}));
    assert_eq!(
        day["groups"][0]["group"],
        json!(Utc::now().format("%Y-%m-%d").to_string())
    );
    let campaign = g.ok(json!({"cmd": "report", "by": "campaign"}));
    assert_eq!(campaign["groups"][0]["group"], json!("none"));

    // A report from the future is empty; a bad grouping or time is refused.
    let empty = g.ok(json!({"cmd": "report", "since": "2999-01-01T00:00:00Z"}));
    assert_eq!(empty["groups"], json!([]));
    assert_eq!(empty["total"]["messages"], json!(0));
    for bad in [json!({"by": "sim"}), json!({"since": "yesterday-ish"})] {
        let mut req = json!({"cmd": "report"});
        req.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let r = g.call(req);
        assert_eq!(r["error"]["code"], json!("invalid"), "{r}");
    }

    // The CLI: --json is the same object; --csv parses in Python with the
    // same figures per group.
    let cli = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("report")
            .args(args)
            .arg("--socket")
            .arg(&g.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json_out: Value = serde_json::from_str(&cli(&["--since", "1h", "--json"])).unwrap();
    assert_eq!(json_out["groups"], report["groups"]);
    let csv = cli(&["--since", "1h", "--csv"]);
    let py = Command::new("python3")
        .arg("-c")
        .arg("import csv, json, sys; print(json.dumps(list(csv.DictReader(sys.stdin))))")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin
        .as_ref()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success());
    let rows: Vec<BTreeMap<String, String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), groups.len());
    for (row, group) in rows.iter().zip(groups) {
        assert_eq!(row["group"], group["group"].as_str().unwrap());
        for key in [
            "messages",
            "messages_sent",
            "messages_delivered",
            "messages_failed",
            "parts",
            "parts_sent",
            "received",
        ] {
            assert_eq!(row[key], group[key].to_string(), "{key} of {row:?}");
        }
        let p50 = &group["queued_to_sent"]["p50_s"];
        let csv_p50: Option<f64> = row["queued_to_sent_p50_s"].parse().ok();
        assert_eq!(csv_p50, p50.as_f64(), "{row:?}");
    }
    // `status` says when each modem was last ready (all are now).
    let status = g.ok(json!({"cmd": "status"}));
    for m in status["modems"].as_array().unwrap() {
        let at = ms(&m["last_ready_at"]).unwrap_or_else(|| panic!("{m}"));
        assert!((Utc::now().timestamp_millis() - at).abs() < 60_000, "{m}");
    }
    let table = cli(&["--since", "1h"]);
    assert!(
        table.contains("MODEM") && table.contains("total") && table.contains("m1"),
        "{table}"
    );
}

trait WaitSent {
    fn wait_final_or_sent(&self, id: i64);
}

impl WaitSent for Gateway {
    /// Waits until the message is delivered or failed, or sent when it
    /// asked for no report.
    fn wait_final_or_sent(&self, id: i64) {
        let m = self.show(id);
        let target = if m["report"] == json!(true) {
            None
        } else {
            Some("sent")
        };
        match target {
            Some(s) => {
                self.wait_state(id, s, T);
            }
            None => {
                self.wait_final(id, T);
            }
        }
    }
}
