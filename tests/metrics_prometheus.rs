//! `GET /metrics` against the real daemon and four simulated modems,
//! parsed by the Python `prometheus-client` library's own parsers (the
//! OpenMetrics parser and the classic text-format one) from the venv that
//! `.ci/run` creates: scraped while 500 messages go out and after. Every
//! family of the contract is there, the histograms are histograms, and the
//! counters equal what the simulated network saw. Without the venv the test
//! fails under `CI` and is skipped elsewhere.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{section, Client};
use common::{external, msisdn, Gateway, ModemPlan, T};
use serde_json::{json, Value};
use smsgate::sim::{Faults, NetworkOptions};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// The families the contract names (as the parsers name them: counters
/// without `_total`), with their type.
const CONTRACT: &[(&str, &str)] = &[
    ("smsgate_build", "info"),
    ("smsgate_up", "gauge"),
    ("smsgate_parts_sent", "counter"),
    ("smsgate_messages", "counter"),
    ("smsgate_messages_received", "counter"),
    ("smsgate_queue_messages", "gauge"),
    ("smsgate_modem_up", "gauge"),
    ("smsgate_modem_signal_rssi", "gauge"),
    ("smsgate_send_duration_seconds", "histogram"),
    ("smsgate_delivery_duration_seconds", "histogram"),
    ("smsgate_events_pending", "gauge"),
    ("smsgate_webhook_deliveries", "counter"),
];

fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    let has = venv.exists()
        && Command::new(&venv)
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
    if has {
        return Some(venv);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} with prometheus-client is missing: .ci/run creates it (pip install prometheus-client)",
            venv.display()
        );
    }
    eprintln!("SKIPPED: no Python venv with prometheus-client");
    None
}

/// One parsed family: type and samples (name, labels, value).
#[derive(Debug, Clone)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses an exposition with the Python library (`openmetrics` or `text`).
fn parse(py: &Path, format: &str, body: &str) -> BTreeMap<String, Family> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/metrics_parse.py");
    let mut child = Command::new(py)
        .arg(script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(body.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "the {format} parser refused the exposition: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut fams = BTreeMap::new();
    for f in v.as_array().expect("list") {
        let samples = f["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| {
                let labels: BTreeMap<String, String> =
                    serde_json::from_value(s["labels"].clone()).expect("labels");
                let value = match &s["value"] {
                    Value::String(x) if x == "+Inf" => f64::INFINITY,
                    x => x.as_f64().expect("number"),
                };
                (s["name"].as_str().expect("name").to_string(), labels, value)
            })
            .collect();
        fams.insert(
            f["name"].as_str().expect("name").to_string(),
            Family {
                kind: f["type"].as_str().expect("type").to_string(),
                samples,
            },
        );
    }
    fams
}

fn scrape(c: &Client, openmetrics: bool) -> String {
    let accept: &[(&str, &str)] = if openmetrics {
        &[("Accept", OPENMETRICS)]
    } else {
        &[("Accept", "text/plain")]
    };
    let r = c.req("GET", "/metrics", accept, b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ct = r.header("content-type").unwrap_or_default().to_string();
    if openmetrics {
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    } else {
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    }
    String::from_utf8(r.body).expect("utf-8")
}

/// The value of the sample `name` with exactly these labels.
fn value(f: &BTreeMap<String, Family>, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    f.get(family)
        .unwrap_or_else(|| panic!("no family {family}"))
        .samples
        .iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {family}: {:?}", f[family]))
}

type Labels = BTreeMap<String, String>;
/// A histogram series: its buckets (bound, count), `_count`, and whether
/// `_count` was there.
type Series = (Vec<(f64, f64)>, f64, bool);

/// Checks what every scrape must hold: the contract's families with their
/// types, histograms whose buckets grow and end in `+Inf` == `_count`, and
/// labels that hold no number, text or id.
fn check_shape(f: &BTreeMap<String, Family>, modems: &[String]) {
    for (name, kind) in CONTRACT {
        // The classic format has no info type: the info family is a gauge
        // of 1 named with its `_info` suffix there.
        let fam = f
            .get(*name)
            .or_else(|| f.get(&format!("{name}_info")).filter(|_| *kind == "info"))
            .unwrap_or_else(|| panic!("family {name} missing: {:?}", f.keys()));
        let ok = fam.kind == *kind || (*kind == "info" && fam.kind == "gauge");
        assert!(ok, "{name} is a {}, not a {kind}", fam.kind);
    }
    let mut histograms = 0;
    for (name, fam) in f.iter().filter(|(_, fam)| fam.kind == "histogram") {
        // Group the samples by their labels without `le`.
        let mut series: BTreeMap<Labels, Series> = BTreeMap::new();
        for (n, labels, v) in &fam.samples {
            let mut key = labels.clone();
            let le = key.remove("le");
            let e = series.entry(key).or_default();
            if n.ends_with("_bucket") {
                let le = le.expect("a bucket has le");
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                e.0.push((bound, *v));
            } else if n.ends_with("_count") {
                e.1 = *v;
                e.2 = true;
            }
        }
        assert!(!series.is_empty(), "{name} has no series");
        for (labels, (buckets, count, has_count)) in series {
            assert!(has_count, "{name}{labels:?} has no _count");
            assert!(buckets.len() >= 10, "{name}{labels:?}: {buckets:?}");
            let first = buckets.first().map(|b| b.0).unwrap_or_default();
            assert!(first <= 0.1 + 1e-9, "{name}: first bucket {first}");
            assert!(
                buckets.iter().any(|b| (b.0 - 120.0).abs() < 1e-9),
                "{name}: no 120 s bucket"
            );
            for w in buckets.windows(2) {
                assert!(w[0].0 < w[1].0, "{name}{labels:?}: bounds not increasing");
                assert!(w[0].1 <= w[1].1, "{name}{labels:?}: buckets not monotonic");
            }
            let last = buckets.last().expect("buckets");
            assert!(last.0.is_infinite(), "{name}{labels:?}: no +Inf bucket");
            assert_eq!(last.1, count, "{name}{labels:?}: +Inf != _count");
            histograms += 1;
        }
    }
    assert!(histograms > modems.len(), "{histograms} histogram series");
    for (name, fam) in f {
        for (_, labels, _) in &fam.samples {
            for (k, v) in labels {
                let digits = v.chars().filter(|c| c.is_ascii_digit()).count();
                let allowed = matches!(k.as_str(), "le" | "version" | "consumer");
                assert!(
                    allowed || digits < 3,
                    "{name}: label {k}={v:?} looks like a number or id"
                );
                assert!(!v.contains("hello"), "{name}: a text in label {k}={v:?}");
            }
        }
    }
}

fn sum(f: &BTreeMap<String, Family>, family: &str, name: &str) -> f64 {
    f[family]
        .samples
        .iter()
        .filter(|s| s.0 == name)
        .map(|s| s.2)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_during_and_after_500_messages_over_4_modems() {
    let Some(py) = python() else { return };
    let port = common::http::free_port();
    // A webhook endpoint that refuses connections: its consumer falls
    // behind (events_pending) and its attempts fail (webhook_deliveries).
    let dead = common::http::free_port();
    let plan = |error_rate: f64| ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(15),
            cms_error_rate: error_rate,
            cms_error_code: 500,
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let plans = vec![plan(0.0), plan(0.0), plan(0.05), plan(0.0)];
    let g = Gateway::start_with(
        NetworkOptions {
            report_delay: Duration::from_millis(50),
            ..NetworkOptions::default()
        },
        plans,
        &format!(
            "{}\n[[webhook]]\nurl = \"http://127.0.0.1:{dead}/hook\"\nevents = [\"delivered\"]\n",
            section(port, "")
        ),
    )
    .await;
    let modems: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
    for m in &modems {
        g.wait_modem(m, "ready", T);
    }
    let token = g.ok(json!({"cmd": "token_create", "name": "m", "scopes": ["send"]}))["token"]
        .as_str()
        .expect("token")
        .to_string();
    let api = Client::new(port, Some(&token));
    let open = Client::new(port, None);

    // Before anything: every family is there already.
    let f = parse(&py, "openmetrics", &scrape(&open, true));
    check_shape(&f, &modems);
    assert_eq!(value(&f, "smsgate_up", "smsgate_up", &[]), 1.0);
    for m in &modems {
        let up = value(&f, "smsgate_modem_up", "smsgate_modem_up", &[("modem", m)]);
        assert_eq!(up, 1.0, "{m}");
    }

    let mut watch = g.watch();
    // 500 messages: 450 of one part, 50 of two; all ask for a report.
    let long = "x".repeat(200);
    let mut expected_parts = 0;
    for batch in 0..2 {
        let to: Vec<String> = (0..250).map(|i| external(batch * 250 + i)).collect();
        for (chunk, text) in [(&to[..225], "hello metrics"), (&to[225..], long.as_str())] {
            let r = api.post(
                "/api/v1/messages",
                &json!({"to": chunk, "text": text, "report": true}),
            );
            assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
            expected_parts += chunk.len() * if text.len() > 160 { 2 } else { 1 };
        }
    }
    // Received messages, 5 through each modem.
    for i in 0..4 {
        for k in 0..5 {
            g.net
                .inject(&external(900 + k), &msisdn(i), "hello inbound")
                .expect("inject");
        }
    }

    // During the run: both formats parse, the shape holds, counters only grow.
    let mut before = 0.0;
    let mut during = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut delivered = 0;
    while delivered < 500 {
        assert!(Instant::now() < deadline, "only {delivered} delivered");
        if let Some(ev) = watch.next(Duration::from_millis(200)) {
            if ev["type"] == "delivered" {
                delivered += 1;
            }
        }
        if during < 3 && delivered >= during * 150 {
            let f = parse(&py, "openmetrics", &scrape(&open, true));
            check_shape(&f, &modems);
            let sent = sum(&f, "smsgate_parts_sent", "smsgate_parts_sent_total");
            assert!(sent >= before, "parts sent went back: {before} -> {sent}");
            before = sent;
            let classic = parse(&py, "text", &scrape(&open, false));
            check_shape(&classic, &modems);
            during += 1;
        }
    }
    assert_eq!(during, 3);
    g.wait_inbox(T, |i| i.len() >= 20);

    // After: the counters equal what the network saw.
    let f = parse(&py, "openmetrics", &scrape(&open, true));
    check_shape(&f, &modems);
    let mut total = 0.0;
    for (i, m) in modems.iter().enumerate() {
        let seen = g.sims[i].submitted().len() as f64;
        let label = [("modem", m.as_str())];
        let sent = value(&f, "smsgate_parts_sent", "smsgate_parts_sent_total", &label);
        assert_eq!(sent, seen, "{m}: parts sent vs the simulator");
        let count = value(
            &f,
            "smsgate_send_duration_seconds",
            "smsgate_send_duration_seconds_count",
            &label,
        );
        assert_eq!(count, seen, "{m}: one send duration per part");
        let received = value(
            &f,
            "smsgate_messages_received",
            "smsgate_messages_received_total",
            &label,
        );
        assert_eq!(received, 5.0, "{m}: received");
        let rssi = value(
            &f,
            "smsgate_modem_signal_rssi",
            "smsgate_modem_signal_rssi",
            &label,
        );
        assert!((0.0..=31.0).contains(&rssi), "{m}: rssi {rssi}");
        total += sent;
    }
    assert_eq!(total, expected_parts as f64);
    let externals: usize = g.net.external_messages().len();
    assert_eq!(total, externals as f64, "every part the network carried");
    let state = |s: &str| {
        value(
            &f,
            "smsgate_messages",
            "smsgate_messages_total",
            &[("state", s)],
        )
    };
    assert_eq!(state("queued"), 500.0);
    assert_eq!(state("sent"), 500.0);
    assert_eq!(state("delivered"), 500.0);
    assert_eq!(state("failed"), 0.0);
    assert_eq!(state("expired"), 0.0);
    assert_eq!(state("cancelled"), 0.0);
    let dcount = value(
        &f,
        "smsgate_delivery_duration_seconds",
        "smsgate_delivery_duration_seconds_count",
        &[],
    );
    assert_eq!(dcount, 500.0);
    for s in ["queued", "sending"] {
        let q = value(
            &f,
            "smsgate_queue_messages",
            "smsgate_queue_messages",
            &[("state", s)],
        );
        assert_eq!(q, 0.0, "queue {s}");
    }
    // Parts that failed on m2 were sent again elsewhere: failures counted
    // separately, not as sends.
    let failed_m2 = value(
        &f,
        "smsgate_parts_failed",
        "smsgate_parts_failed_total",
        &[("modem", "m2")],
    );
    eprintln!("m2 part failures: {failed_m2}");
    // The dead webhook: behind, and its attempts counted as failed.
    let consumers: BTreeSet<String> = f["smsgate_events_pending"]
        .samples
        .iter()
        .filter_map(|s| s.1.get("consumer").cloned())
        .collect();
    assert!(
        consumers.iter().any(|c| c.starts_with("webhook:")),
        "{consumers:?}"
    );
    let pending: f64 = sum(&f, "smsgate_events_pending", "smsgate_events_pending");
    assert!(pending > 0.0, "the dead webhook is behind");
    let failed_attempts = value(
        &f,
        "smsgate_webhook_deliveries",
        "smsgate_webhook_deliveries_total",
        &[("result", "failed")],
    );
    assert!(failed_attempts >= 1.0, "{failed_attempts}");
    let ok = value(
        &f,
        "smsgate_webhook_deliveries",
        "smsgate_webhook_deliveries_total",
        &[("result", "ok")],
    );
    assert_eq!(ok, 0.0);
    let info = &f["smsgate_build"].samples[0];
    assert_eq!(info.1["version"], env!("CARGO_PKG_VERSION"));

    // The classic text format says the same.
    let c = parse(&py, "text", &scrape(&open, false));
    check_shape(&c, &modems);
    for (i, m) in modems.iter().enumerate() {
        let seen = g.sims[i].submitted().len() as f64;
        let sent = value(
            &c,
            "smsgate_parts_sent",
            "smsgate_parts_sent_total",
            &[("modem", m)],
        );
        assert_eq!(sent, seen, "{m} (text format)");
    }

    // With `[http] metrics_token = true`, a token with `read` is needed.
    let mut g = g;
    g.extra = format!(
        "{}\n[[webhook]]\nurl = \"http://127.0.0.1:{dead}/hook\"\nevents = [\"delivered\"]\n",
        section(port, "metrics_token = true")
    );
    g.write_config();
    g.ok(json!({"cmd": "reload"}));
    let r = open.get("/metrics");
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    r.problem(401, "unauthorized");
    let r = api.get("/metrics");
    assert_eq!(r.status, 403, "a send-only token");
    let reader = g.ok(json!({"cmd": "token_create", "name": "prom", "scopes": ["read"]}))["token"]
        .as_str()
        .expect("token")
        .to_string();
    let reading = Client::new(port, Some(&reader));
    let r = reading.get("/metrics");
    assert_eq!(r.status, 200);

    // GET /api/v1/report answers what the socket's `report` (and so
    // `smsgate report --json`) answers, with the read scope.
    let since = "2020-01-01T00:00:00Z";
    let mut http = reading
        .get(&format!("/api/v1/report?since={since}&by=modem"))
        .json();
    let mut socket = g.ok(json!({"cmd": "report", "since": since, "by": "modem"}));
    assert_eq!(http["total"]["messages"], 500, "{http}");
    assert_eq!(http["total"]["messages_delivered"], 500, "{http}");
    assert_eq!(http["total"]["received"], 20, "{http}");
    assert_eq!(http["groups"].as_array().map(Vec::len), Some(4), "{http}");
    for v in [&mut http, &mut socket] {
        v.as_object_mut().expect("object").remove("until");
    }
    assert_eq!(http, socket);
    reading
        .get("/api/v1/report?since=yesterday")
        .problem(422, "invalid");
    reading.get("/api/v1/report?by=sim").problem(422, "invalid");
    api.get("/api/v1/report").problem(403, "forbidden");
    let doc = reading.get("/api/v1/openapi.json").json();
    let op = &doc["paths"]["/api/v1/report"]["get"];
    assert!(op["responses"]["200"].is_object(), "{op}");
}
