//! The web dashboard: its files and headers over HTTP (content types, the
//! Content-Security-Policy, ETags and revalidation, no token needed for
//! the page, one needed for its data), the API calls written for it
//! (`whoami`, `stats/series`, the newest received messages), and the page
//! itself in headless Chromium (Debian's `chromium` and `chromedriver`,
//! driven by Selenium from the venv `.ci/run` makes): against `smsgate
//! demo`, modem names, queue numbers and charts appear, a message sent
//! through the API shows up and is delivered without a reload, every
//! request goes to the daemon and the page weighs under 300 KB, a read-only
//! token gets no send form, and a screenshot lands in `target/`; against a
//! daemon that stops and comes back, the page says it is unreachable and
//! recovers by itself. Without Chromium, its driver or Selenium the browser
//! tests fail under `CI` and are skipped elsewhere.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::http::{section, Client};
use common::{external, Gateway, ModemPlan};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The venv's python when it, Chromium, its driver and Selenium are all
/// there; a failure under CI and `None` (skip) elsewhere when not.
fn browser_tools() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/pyenv/bin/python");
    let mut missing = Vec::new();
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).exists() {
            missing.push(tool.to_string());
        }
    }
    let selenium = python.exists()
        && Command::new(&python)
            .args(["-c", "import selenium"])
            .status()
            .is_ok_and(|s| s.success());
    if !selenium {
        missing.push(format!("selenium in {}", python.display()));
    }
    if missing.is_empty() {
        return Some(python);
    }
    let what = format!(
        "{} missing (.ci/run installs them: apt-get install chromium chromium-driver; pip install selenium)",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{what}");
    }
    eprintln!("SKIPPED: {what}");
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/dashboard_browser.py")
}

fn screenshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png")
}

/// Reads a child's stdout lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line that `pred` picks; panics with what was seen.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if pred(&line) {
                    return line;
                }
            }
            Err(_) => panic!("no {what} in {timeout:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

/// `smsgate demo`, stopped with SIGINT when dropped.
struct Demo {
    child: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the browser script to its end within `timeout`; its stdout, or a
/// panic with everything it said.
fn run_script(mut cmd: Command, timeout: Duration) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => stdout,
        other => panic!("the browser script failed ({other:?}):\n{stdout}\n{stderr}"),
    }
}

#[test]
fn the_dashboard_in_chromium_against_the_demo() {
    let Some(python) = browser_tools() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args(["demo", "--latency", "50ms", "--dir"])
        .arg(dir.path().join("demo"))
        .env_remove("SMSGATE_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let rx = lines_of(&mut child);
    let _demo = Demo { child };
    let mut seen = Vec::new();
    let t = Duration::from_secs(60);
    let url = wait_line(&rx, &mut seen, t, "dashboard URL", |l| {
        l.contains("dashboard at http://")
    });
    let url = url
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .trim_end_matches('/')
        .to_string();
    let token = wait_line(&rx, &mut seen, t, "admin token", |l| {
        l.contains("admin token for this demo")
    });
    let token = token.rsplit(' ').next().expect("token").to_string();
    // The demo's own messages are delivered when it prints its hints.
    wait_line(&rx, &mut seen, t, "the demo's hints", |l| {
        l.contains("smsgate status --socket")
    });
    let socket = dir.path().join("demo/smsgate.sock");
    let out = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args([
            "token", "create", "viewer", "--scope", "read", "--json", "--socket",
        ])
        .arg(&socket)
        .output()
        .expect("token create");
    assert!(out.status.success(), "{out:?}");
    let viewer: Value = serde_json::from_slice(&out.stdout).expect("token json");
    let viewer = viewer["token"].as_str().expect("token").to_string();

    let shot = screenshot();
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new(&python);
    cmd.arg(script())
        .args(["--mode", "live", "--url", &url, "--token", &token])
        .args(["--read-token", &viewer, "--to", "+15550000002"])
        .args(["--modems", "sim1,sim2,sim3", "--min-delivered", "3"])
        .arg("--screenshot")
        .arg(&shot)
        .args(["--chromium", CHROMIUM, "--chromedriver", CHROMEDRIVER]);
    let stdout = run_script(cmd, Duration::from_secs(240));
    eprintln!("{stdout}");
    let summary: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON summary line");
    assert_eq!(summary["modems"], json!(["sim1", "sim2", "sim3"]));
    let bytes = summary["bytes"].as_u64().expect("bytes");
    assert!(bytes > 10_000, "{bytes} bytes: too few to be the page");
    assert!(bytes < 300 * 1024, "the page took {bytes} bytes");
    assert!(
        summary["chart_lines"].as_u64().unwrap_or(0) >= 1,
        "{summary}"
    );
    // The screenshot is a PNG, left for CI to keep.
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let phone = std::fs::read(shot.with_file_name("dashboard-phone.png")).expect("phone");
    assert!(phone.starts_with(b"\x89PNG"), "not a PNG");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_an_outage_and_recovers() {
    let Some(python) = browser_tools() else {
        return;
    };
    let port = common::http::free_port();
    let mut g = Gateway::start(vec![ModemPlan::default()], &section(port, "")).await;
    let token = g.ok(json!({"cmd": "token_create", "name": "ops", "scopes": ["admin"]}))["token"]
        .as_str()
        .expect("token")
        .to_string();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&python)
        .arg(script())
        .args(["--mode", "outage", "--url", &url, "--token", &token])
        .args(["--modems", "m0", "--to", &external(1)])
        .args(["--chromium", CHROMIUM, "--chromedriver", CHROMEDRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let rx = lines_of(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seen = Vec::new();
    let t = Duration::from_secs(90);
    let reason = |child: &mut Child| {
        let _ = child.kill();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        err
    };
    let step = |rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, want: &str| {
        let deadline = Instant::now() + t;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    seen.push(l.clone());
                    if l == want {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    if !step(&rx, &mut seen, "STOP") {
        let err = reason(&mut child);
        panic!("the page never signed in:\n{}\n{err}", seen.join("\n"));
    }
    assert_eq!(g.terminate(), Some(0), "the daemon stops cleanly");
    writeln!(stdin, "stopped").expect("tell the script");
    if !step(&rx, &mut seen, "START") {
        let err = reason(&mut child);
        panic!("no outage banner:\n{}\n{err}", seen.join("\n"));
    }
    g.spawn();
    g.wait_notify("READY=1", common::T);
    writeln!(stdin, "started").expect("tell the script");
    let deadline = Instant::now() + t;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the script did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    for l in rx.try_iter() {
        seen.push(l);
    }
    let err = reason(&mut child);
    assert!(
        status.success(),
        "the page did not recover:\n{}\n{err}",
        seen.join("\n")
    );
    let summary: Value = seen
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("summary");
    assert!(
        summary["banner"]
            .as_str()
            .unwrap_or("")
            .contains("Cannot reach the smsgate daemon"),
        "{summary}"
    );
}

/// The page, its assets and headers, and the API calls the page relies on.
#[tokio::test(flavor = "multi_thread")]
async fn page_assets_headers_and_the_dashboard_api() {
    let port = common::http::free_port();
    let g = Gateway::start(vec![ModemPlan::default(); 2], &section(port, "")).await;
    let anon = Client::new(port, None);

    // The page needs no token; its answer is strict about where things load from.
    let page = anon.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let etag = page.header("etag").expect("etag").to_string();
    let again = anon.req("GET", "/", &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // Each asset the page names: its type, a year's cache at its version.
    let html = String::from_utf8(page.body.clone()).expect("utf-8");
    let mut total = page.body.len();
    let mut names = Vec::new();
    for (name, ty) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let start = html
            .find(&format!("/assets/{name}?v="))
            .unwrap_or_else(|| panic!("{name} not in the page"));
        let href: String = html[start..].chars().take_while(|c| *c != '"').collect();
        let r = anon.get(&href);
        assert_eq!(r.status, 200, "{href}");
        assert_eq!(r.header("content-type"), Some(ty), "{href}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{href}"
        );
        assert!(r.header("etag").is_some());
        // Without the version: revalidated.
        let plain = anon.get(&format!("/assets/{name}"));
        assert_eq!(plain.header("cache-control"), Some("no-cache"));
        total += r.body.len();
        names.push(href);
    }
    assert_eq!(names.len(), 3);
    assert!(total < 150 * 1024, "the page's own files are {total} bytes");
    anon.get("/assets/nope.js").problem(404, "not_found");
    anon.get("/assets/..%2Fsmsgate.toml")
        .problem(404, "not_found");

    // Its data needs a token.
    anon.get("/api/v1/whoami").problem(401, "unauthorized");
    let make = |name: &str, scopes: &[&str]| {
        g.ok(json!({"cmd": "token_create", "name": name, "scopes": scopes}))["token"]
            .as_str()
            .expect("token")
            .to_string()
    };
    let admin = Client::new(port, Some(&make("ops", &["admin"])));
    let reader = Client::new(port, Some(&make("viewer", &["read"])));
    let sender = Client::new(port, Some(&make("app", &["send"])));
    assert_eq!(
        reader.get("/api/v1/whoami").json(),
        json!({"name": "viewer", "scopes": ["read"]})
    );
    assert_eq!(
        sender.get("/api/v1/whoami").json()["scopes"],
        json!(["send"])
    );
    sender.get("/api/v1/stats/series").problem(403, "forbidden");

    // A few messages out and back: the series counts them.
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = admin.post(
            "/api/v1/messages",
            &json!({"to": common::msisdn(1), "text": format!("series {i}"), "report": true}),
        );
        assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
        ids.push(r.json()["id"].as_i64().expect("id"));
    }
    for id in &ids {
        g.wait_state(*id, "delivered", common::T);
    }
    let s = reader.get("/api/v1/stats/series?since=1h&step=1m").json();
    assert_eq!(s["step_s"], 60);
    let n = s["times"].as_array().expect("times").len();
    assert!((60..=61).contains(&n), "{n} buckets");
    let sum = |v: &Value| -> u64 {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum(&s["queued"]), 3, "{s}");
    assert_eq!(sum(&s["delivered"]), 3, "{s}");
    assert_eq!(sum(&s["sent_with_report"]), 3, "{s}");
    let parts: u64 = s["sims"]
        .as_array()
        .expect("sims")
        .iter()
        .map(|x| sum(&x["parts"]))
        .sum();
    assert_eq!(parts, 3, "{s}");
    assert!(sum(&s["received"]) >= 3, "the SIM-to-SIM messages: {s}");
    assert!(s["delivery_rate"]
        .as_array()
        .expect("rates")
        .iter()
        .any(|r| r.as_f64() == Some(1.0)));
    for bad in [
        "/api/v1/stats/series?since=2d",
        "/api/v1/stats/series?since=1h&step=10s",
        "/api/v1/stats/series?since=1h&step=2h",
        "/api/v1/stats/series?since=soon",
    ] {
        let r = reader.get(bad);
        assert!(
            r.status == 400 || r.status == 422,
            "{bad}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    reader
        .get("/api/v1/stats/series?window=1h")
        .problem(400, "bad_request");

    // The newest received messages, newest first.
    let latest = reader
        .get("/api/v1/inbox?before=9007199254740991&limit=2")
        .json();
    let items = latest["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let (a, b) = (items[0]["id"].as_i64(), items[1]["id"].as_i64());
    assert!(a > b, "{latest}");
    let next = latest["next"].as_i64().expect("next");
    let older = reader
        .get(&format!("/api/v1/inbox?before={next}&limit=10"))
        .json();
    assert!(older["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|m| m["id"].as_i64() < Some(next)));
    reader
        .get("/api/v1/inbox?since=1&before=5")
        .problem(400, "bad_request");

    // The OpenAPI document has the new calls.
    let doc = reader.get("/api/v1/openapi.json").json();
    for p in ["/api/v1/whoami", "/api/v1/stats/series"] {
        assert!(doc["paths"][p]["get"].is_object(), "{p} in the document");
    }
}
