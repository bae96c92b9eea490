//! Campaigns and alerts against the real daemon on four simulated modems: a
//! 2,000-recipient campaign from CSV (personalised texts, counters that
//! match the message table in the same database snapshot at every sample,
//! pause, resume, cancel), an urgent broadcast overtaking a running
//! campaign on every modem, the CLI, and bad input that creates nothing.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use common::http::{section, Client};
use common::{external, Gateway, ModemPlan, T};
use serde_json::{json, Value};
use smsgate::sim::Faults;

fn slow(ms: u64) -> ModemPlan {
    ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(ms),
            ..Faults::default()
        },
        ..ModemPlan::default()
    }
}

async fn start(latency_ms: u64, http_extra: &str) -> (Gateway, Client) {
    let port = common::http::free_port();
    let g = Gateway::start(vec![slow(latency_ms); 4], &section(port, http_extra)).await;
    let token = g.ok(json!({"cmd": "token_create", "name": "app", "scopes": ["admin"]}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    (g, Client::new(port, Some(&token)))
}

const COUNTERS: [&str; 7] = [
    "queued",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "expired",
    "cancelled",
];

/// The campaign row's counters and a count of its messages by state, read
/// in one snapshot of the database.
fn snapshot(db: &std::path::Path, id: i64) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut c =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let tx = c.transaction().expect("read transaction");
    let row: Vec<i64> = tx
        .query_row(
            "SELECT queued, sent, delivered, failed, skipped, expired, cancelled FROM campaign WHERE id = ?1",
            [id],
            |r| (0..7).map(|i| r.get(i)).collect(),
        )
        .expect("campaign row");
    let counters = COUNTERS.iter().map(|s| s.to_string()).zip(row).collect();
    let mut counted: BTreeMap<String, i64> = COUNTERS.iter().map(|s| (s.to_string(), 0)).collect();
    let mut stmt = tx
        .prepare("SELECT state, COUNT(*) FROM outgoing WHERE campaign = ?1 GROUP BY state")
        .unwrap();
    let rows = stmt
        .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    for row in rows {
        let (state, n) = row.unwrap();
        let key = if state == "sending" {
            "queued".to_string()
        } else {
            state
        };
        *counted.entry(key).or_default() += n;
    }
    (counters, counted)
}

fn sum(v: &Value) -> u64 {
    COUNTERS.iter().map(|k| v[*k].as_u64().unwrap()).sum()
}

fn campaign(c: &Client, id: i64) -> Value {
    let r = c.get(&format!("/api/v1/campaigns/{id}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn wait_campaign(c: &Client, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = campaign(c, id);
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "campaign never {what}: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn csv_of(n: usize) -> (String, HashMap<String, String>) {
    let mut csv = String::from("to,name,code\n");
    let mut want = HashMap::new();
    for i in 0..n {
        let to = external(i);
        csv.push_str(&format!("{to},Name{i},{}\n", 1000 + i));
        want.insert(to, format!("Hello Name{i}, your code is {}.", 1000 + i));
    }
    (csv, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2000_recipient_campaign_from_csv_counts_pauses_resumes_and_cancels() {
    let (g, c) = start(4, "").await;
    let (csv, want) = csv_of(2000);
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "spring", "text": "Hello {{name}}, your code is {{code}}.", "csv": csv}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["total"], 2000);
    assert_eq!(created["priority"], "low");
    assert_eq!(created["report"], true);

    // Sample while it runs: the API's counters add up to the total, and the
    // stored counters equal a count of the message table in one snapshot.
    let mut samples = 0;
    let v = loop {
        let v = campaign(&c, id);
        assert_eq!(sum(&v), 2000, "{v}");
        let (counters, counted) = snapshot(&g.db, id);
        assert_eq!(counters, counted, "sample {samples}");
        samples += 1;
        if v["sent"].as_u64().unwrap() + v["delivered"].as_u64().unwrap() >= 300 {
            break v;
        }
        assert!(samples < 10_000, "no progress: {v}");
    };
    assert!(samples >= 3, "only {samples} samples");
    assert_eq!(v["state"], "running");

    // Pause holds: after the parts in flight, nothing of the campaign moves
    // while single messages still go out.
    let paused = c.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}));
    assert_eq!(paused.status, 200);
    assert_eq!(paused.json()["state"], "paused");
    let marker = g.send(&external(9001), "marker one");
    g.wait_state(marker, "sent", T);
    let q1 = campaign(&c, id)["queued"].as_u64().unwrap();
    let marker = g.send(&external(9002), "marker two");
    g.wait_state(marker, "sent", T);
    let held = campaign(&c, id);
    assert_eq!(
        held["queued"].as_u64().unwrap(),
        q1,
        "paused, yet it moved: {held}"
    );
    assert!(q1 > 0);
    let (counters, counted) = snapshot(&g.db, id);
    assert_eq!(counters, counted);

    // Resume continues.
    let resumed = c.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}));
    assert_eq!(resumed.json()["state"], "running");
    wait_campaign(&c, id, "resumed", |v| {
        v["queued"].as_u64().unwrap() + 200 < q1
    });

    // Cancel ends what is still queued.
    let cancelled = c.post(&format!("/api/v1/campaigns/{id}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["state"], "cancelled");
    let end = wait_campaign(&c, id, "settled", |v| v["queued"] == 0);
    assert_eq!(end["state"], "cancelled");
    assert_eq!(sum(&end), 2000);
    let out = end["sent"].as_u64().unwrap() + end["delivered"].as_u64().unwrap();
    let cancelled_n = end["cancelled"].as_u64().unwrap();
    assert!(cancelled_n > 0, "{end}");
    assert_eq!(out + cancelled_n, 2000, "{end}");
    let (counters, counted) = snapshot(&g.db, id);
    assert_eq!(counters, counted);
    // Conflicts after the end.
    c.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}))
        .problem(409, "conflict");
    c.get("/api/v1/campaigns/999999").problem(404, "not_found");

    // Every message has its recipient's text and the campaign set.
    let db = rusqlite::Connection::open(&g.db).unwrap();
    let mut stmt = db
        .prepare("SELECT recipient, text, state, category FROM outgoing WHERE campaign = ?1")
        .unwrap();
    let rows: Vec<(String, String, String, String)> = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2000);
    for (to, text, _, category) in &rows {
        assert_eq!(Some(text), want.get(to), "{to}");
        assert_eq!(category, "marketing");
    }
    // What went out reached the network with that text.
    let delivered: HashSet<(String, String)> = g
        .net
        .external_messages()
        .into_iter()
        .map(|m| (format!("+{}", m.to.trim_start_matches('+')), m.text))
        .collect();
    for (to, text, state, _) in &rows {
        if state == "sent" || state == "delivered" {
            assert!(
                delivered.contains(&(to.clone(), text.clone())),
                "{to} {text}"
            );
        }
    }
    // The list shows it; the report groups by it.
    let list = c.get("/api/v1/campaigns").json();
    assert_eq!(list["items"][0]["id"], id);
    let rep = g.ok(json!({"cmd": "report", "by": "campaign"}));
    let text = rep.to_string();
    assert!(text.contains(&format!("spring (#{id})")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_broadcast_overtakes_a_running_campaign_on_every_modem() {
    let (g, c) = start(3, "").await;
    // Two-part campaign messages, so a modem is often between the parts of
    // one when the alert comes.
    let long = "x".repeat(170);
    let (csv, _) = csv_of(2000);
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "bulk", "text": format!("{{{{name}}}} {long}"), "csv": csv, "report": false}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let cid = r.json()["id"].as_i64().unwrap();
    wait_campaign(&c, cid, "started", |v| v["sent"].as_u64().unwrap() >= 100);
    let numbers: Vec<String> = (0..100).map(|i| external(5000 + i)).collect();
    let r = c.post(
        "/api/v1/messages",
        &json!({"to": numbers, "text": "ALERT: leave the building", "priority": "urgent", "flash": true}),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let urgent: HashSet<i64> = r.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(urgent.len(), 100);
    for id in &urgent {
        g.wait_state(*id, "sent", T);
    }
    c.post(&format!("/api/v1/campaigns/{cid}/cancel"), &json!({}));
    wait_campaign(&c, cid, "settled", |v| v["queued"] == 0);

    // The event log, per modem: after the alert was queued, at most the
    // campaign part in flight, then only alert parts until the modem has
    // sent its last one.
    let db = rusqlite::Connection::open(&g.db).unwrap();
    let queued_at: i64 = db
        .query_row(
            &format!(
                "SELECT MAX(id) FROM event WHERE type = 'queued' AND json_extract(data, '$.id') IN ({})",
                urgent.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut stmt = db
        .prepare("SELECT json_extract(data, '$.id'), json_extract(data, '$.modem') FROM event WHERE type = 'part_sent' AND id > ?1 ORDER BY id")
        .unwrap();
    let sent: Vec<(i64, String)> = stmt
        .query_map([queued_at], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut per: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (id, modem) in &sent {
        per.entry(modem.clone())
            .or_default()
            .push(urgent.contains(id));
    }
    assert_eq!(per.len(), 4, "every modem sent");
    let mut total_urgent = 0;
    for (modem, seq) in &per {
        let last_urgent = seq.iter().rposition(|u| *u);
        let Some(last) = last_urgent else { continue };
        let campaign_before = seq[..last].iter().filter(|u| !**u).count();
        assert!(
            campaign_before <= 1,
            "{modem}: {campaign_before} campaign parts before its last alert: {seq:?}"
        );
        total_urgent += seq.iter().filter(|u| **u).count();
    }
    assert_eq!(total_urgent, 100);
    // The alert went out as class 0 (TP-DCS).
    let alerts: Vec<_> = g
        .net
        .external_messages()
        .into_iter()
        .filter(|m| m.text.starts_with("ALERT"))
        .collect();
    assert_eq!(alerts.len(), 100);
    for m in alerts {
        let bytes = smsgate::codec::hex::decode(&m.pdu_hex).unwrap();
        let len = bytes.len();
        let d = smsgate::codec::decode(&bytes, Some(len)).unwrap();
        let smsgate::codec::pdu::Pdu::Submit(s) = d.pdu else {
            panic!("not a SUBMIT")
        };
        assert_eq!(s.dcs.class(), Some(0), "{}", m.pdu_hex);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_campaigns_name_the_row_or_field_and_create_nothing() {
    let (g, c) = start(0, "max_body_bytes = 1048576\n").await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"name": "x", "text": "Hi {{name}}", "csv": "to,name\n+4915112345,Ana\nnot-a-number,Bo\n"}),
            422,
            "row 3",
        ),
        (
            json!({"name": "x", "text": "Hi {{name}}", "csv": "number,name\n1,a\n"}),
            422,
            "no \"to\" column",
        ),
        (
            json!({"name": "x", "text": "Hi {{nickname}}", "csv": "to,name\n+4915112345,Ana\n"}),
            422,
            "row 2: no value for {{nickname}}",
        ),
        (
            json!({"name": "x", "text": "Hi {{name", "csv": "to,name\n+4915112345,Ana\n"}),
            422,
            "no closing",
        ),
        (
            json!({"name": "x", "text": "Hi", "csv": "to\n+4915112345\n", "window": {"start": "09:00", "end": "20:00", "tz": "Mars/Olympus"}}),
            422,
            "tz \"Mars/Olympus\"",
        ),
        (
            json!({"name": "x", "text": "Hi {{name}}", "recipients": [{"to": "+4915112345", "vars": {"name": "A"}}, {"to": "+4915112346"}]}),
            422,
            "recipient 2",
        ),
        (
            json!({"name": "x", "text": "Hi"}),
            422,
            "either recipients or csv",
        ),
    ];
    for (body, status, want) in &cases {
        let r = c.post("/api/v1/campaigns", body);
        assert_eq!(
            r.status,
            *status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let p = r.json();
        assert!(
            p["detail"].as_str().unwrap_or_default().contains(want),
            "{body}: {p}"
        );
    }
    // 10 MB of rows: refused by the body limit.
    let mut big = String::from("to,name\n");
    while big.len() < 10 << 20 {
        big.push_str("+4915112345678,Somebody Somewhere\n");
    }
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "big", "text": "Hi {{name}}", "csv": big}),
    );
    r.problem(413, "too_large");
    // Nothing was created.
    assert_eq!(c.get("/api/v1/campaigns").json()["items"], json!([]));
    assert_eq!(g.ok(json!({"cmd": "outbox"})), json!([]));
}

/// Rows in `table` of the daemon's database.
fn rows_in(db: &std::path::Path, table: &str, filter: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table} {filter}"), [], |r| {
        r.get(0)
    })
    .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_after_the_first_chunks_rolls_the_whole_campaign_back() {
    // The recipients reach the store in chunks of 1,000 inside one
    // transaction: rows 2 to 2,601 are good (two chunks stored before the
    // bad row is read), row 2,602 is not a number.
    let (g, c) = start(0, "max_body_bytes = 4194304\n").await;
    let (good, _) = csv_of(2600);
    let mut csv = good.clone();
    csv.push_str("not-a-number,Bad,1\n");
    for i in 2600..2700 {
        csv.push_str(&format!("{},Name{i},{}\n", external(i), 1000 + i));
    }
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "late", "text": "Hello {{name}}, your code is {{code}}.", "csv": csv}),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("row 2602"), "{detail}");
    // The socket face: a row with a field missing, past the first chunk
    // (recipient 1,235 is on line 1,236).
    let mut csv = String::from("to,name\n");
    for i in 0..1500 {
        if i == 1234 {
            csv.push_str(&format!("{}\n", external(i)));
        } else {
            csv.push_str(&format!("{},x\n", external(i)));
        }
    }
    let v = g.call(json!({"cmd": "campaign_create", "name": "short",
        "text": "Hi {{name}}", "csv": csv}));
    assert_eq!(v["ok"], json!(false), "{v}");
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("row 1236"), "{message}");
    // Nothing of either: no campaign, no message, no part, no event.
    assert_eq!(c.get("/api/v1/campaigns").json()["items"], json!([]));
    assert_eq!(rows_in(&g.db, "campaign", ""), 0);
    assert_eq!(rows_in(&g.db, "outgoing", ""), 0);
    assert_eq!(rows_in(&g.db, "outgoing_part", ""), 0);
    assert_eq!(rows_in(&g.db, "event", "WHERE type = 'queued'"), 0);
    // The store goes on: the good rows alone make a campaign of 2,600.
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "good", "text": "Hello {{name}}, your code is {{code}}.", "csv": good}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["total"], json!(2600));
    assert_eq!(sum(&v), 2600, "{v}");
    assert_eq!(rows_in(&g.db, "outgoing", ""), 2600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_and_steers_campaigns_and_sends_alerts_from_a_file() {
    let (g, _c) = start(1, "").await;
    let sock = g.socket.to_str().unwrap().to_string();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::bin())
            .args(args)
            .args(["--socket", &sock])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let csv = g.dir.path().join("list.csv");
    std::fs::write(&csv, "to,name\n+4915112340,Ana\n+4915112341,Bo\n").unwrap();
    let (code, out, err) = cli(&[
        "campaign",
        "create",
        "--name",
        "cli",
        "--text",
        "Hi {{name}}",
        "--csv",
        csv.to_str().unwrap(),
        "--window",
        "00:00-23:59",
        "--tz",
        "UTC",
        "--rate",
        "600/min",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["window"]["tz"], "UTC");
    assert_eq!(v["rate_per_min"], 600);
    let id = v["id"].as_i64().unwrap().to_string();
    let (code, out, _) = cli(&["campaign", "show", &id, "--json"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["name"], "cli");
    let (code, out, _) = cli(&["campaign", "list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("cli"), "{out}");
    let (code, _, err) = cli(&["campaign", "show", "424242"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no campaign 424242"), "{err}");

    // --to-file: a bad line names itself and nothing is queued.
    let numbers = g.dir.path().join("numbers.txt");
    std::fs::write(&numbers, "# staff\n+4915112350\n\nnobody\n").unwrap();
    let (code, _, err) = cli(&[
        "send",
        "--to-file",
        numbers.to_str().unwrap(),
        "--text",
        "alert",
        "--priority",
        "urgent",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("line 4: \"nobody\""), "{err}");
    std::fs::write(&numbers, "# staff\n+4915112350\n\n+4915112351 # night\n").unwrap();
    let (code, out, err) = cli(&[
        "send",
        "--to-file",
        numbers.to_str().unwrap(),
        "--text",
        "alert",
        "--priority",
        "urgent",
        "--flash",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let ids: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    for id in ids {
        let m = g.wait_state(id, "sent", T);
        assert_eq!(m["priority"], "urgent");
        assert_eq!(m["flash"], true);
    }
}

/// The state and error of the campaign's message to `to` (one per recipient).
fn campaign_message(db: &std::path::Path, id: i64, to: &str) -> (i64, String, Option<String>) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(
        "SELECT id, state, error FROM outgoing WHERE campaign = ?1 AND recipient = ?2",
        rusqlite::params![id, to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("the recipient's campaign message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_a_campaign_skips_the_rest_and_start_lets_new_campaigns_through() {
    let (g, c) = start(50, "").await;
    let fan = external(7);
    // A campaign of 40 with the fan last; paused at once, so the fan's
    // message is still queued when the STOP arrives.
    let mut csv = String::from("to,name\n");
    for i in 100..139 {
        csv.push_str(&format!("{},N{i}\n", external(i)));
    }
    csv.push_str(&format!("{fan},Fan\n"));
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "autumn", "text": "Hi {{name}}, 20% off", "csv": csv}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let paused = c.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}));
    assert_eq!(paused.status, 200);
    let (mid, state, _) = campaign_message(&g.db, id, &fan);
    assert!(state == "queued", "the fan's message is {state}");
    let shown = g.ok(json!({"cmd": "show", "message": mid}));
    assert_eq!(shown["category"], json!("marketing"), "{shown}");

    // The fan answers STOP through the simulated network.
    let mut events = g.watch_since(0);
    g.net
        .inject(&fan, &common::msisdn(0), "STOP")
        .expect("inject STOP");
    let ev = events.until(T, |e| e["type"] == json!("opted_out"));
    assert_eq!(ev["number"], json!(fan), "{ev}");
    let (_, state, error) = campaign_message(&g.db, id, &fan);
    assert_eq!(state, "skipped");
    assert_eq!(error.as_deref(), Some("opted out"));
    let v = campaign(&c, id);
    assert_eq!(v["skipped"], 1, "{v}");
    let (counters, counted) = snapshot(&g.db, id);
    assert_eq!(counters, counted);

    // A transactional message still reaches the fan.
    let notice = g.send(&fan, "your order has shipped");
    g.wait_state(notice, "sent", T);

    // Resumed, the campaign finishes without the fan.
    let resumed = c.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}));
    assert_eq!(resumed.status, 200);
    let done = wait_campaign(&c, id, "done", |v| v["state"] == "done");
    assert_eq!(done["skipped"], 1, "{done}");
    assert_eq!(sum(&done), 40, "{done}");
    let to_fan: Vec<String> = g
        .net
        .external_messages()
        .iter()
        .filter(|m| common::digits(&m.to) == common::digits(&fan))
        .map(|m| m.text.clone())
        .collect();
    assert!(
        !to_fan.iter().any(|t| t.contains("20% off")),
        "a skipped campaign message went out: {to_fan:?}"
    );
    assert!(to_fan.iter().any(|t| t == "your order has shipped"));

    // START: a new campaign reaches the fan again.
    g.net
        .inject(&fan, &common::msisdn(0), "start")
        .expect("inject START");
    events.until(T, |e| e["type"] == json!("opted_in"));
    let r = c.post(
        "/api/v1/campaigns",
        &json!({"name": "welcome back", "text": "Welcome back {{name}}",
            "recipients": [{"to": fan, "vars": {"name": "Fan"}}]}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id2 = r.json()["id"].as_i64().unwrap();
    let done = wait_campaign(&c, id2, "done", |v| v["state"] == "done");
    assert_eq!(done["skipped"], 0, "{done}");
    let (_, state, _) = campaign_message(&g.db, id2, &fan);
    assert!(state == "sent" || state == "delivered", "{state}");
    assert!(
        g.net
            .external_messages()
            .iter()
            .any(|m| common::digits(&m.to) == common::digits(&fan) && m.text == "Welcome back Fan"),
        "the new campaign did not reach the fan"
    );
}
