//! The HTTP API against clients somebody else wrote, from the Python venv
//! that `.ci/run` creates in `target/pyenv`: the SMS Gateway for Android
//! reference client (`android-sms-gateway`) through the compatible API,
//! `openapi-spec-validator` on the generated document, and a bounded
//! `schemathesis` run (no 5xx, no answer that breaks the schema). Without
//! the venv these tests fail under `CI` and are skipped elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::http::{section, Client};
use common::{msisdn, Gateway, ModemPlan, T};
use serde_json::json;
use smsgate::sim::Faults;

fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin");
    if venv.join("python").exists() {
        return Some(venv);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: .ci/run creates it (python3 -m venv target/pyenv; pip install android-sms-gateway openapi-spec-validator schemathesis requests)",
            venv.display()
        );
    }
    eprintln!("SKIPPED: no Python venv at {}", venv.display());
    None
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

fn run(cmd: &mut Command, what: &str, g: &Gateway) {
    let out = cmd.output().expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{what}:\n{text}");
    assert!(
        out.status.success(),
        "{what} failed:\n{text}\ndaemon log tail:\n{}",
        g.log()
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn start(plans: Vec<ModemPlan>) -> (Gateway, u16, String) {
    let port = common::http::free_port();
    let g = Gateway::start(plans, &section(port, "")).await;
    let token = g.ok(json!({"cmd": "token_create", "name": "py", "scopes": ["admin"]}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let c = Client::new(port, None);
    let deadline = std::time::Instant::now() + T;
    while c.get("/health/ready").status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (g, port, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_client_sends_polls_lists_cancels_and_reads_the_inbox() {
    let Some(py) = python() else { return };
    let slow = ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_secs(20),
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let (g, port, token) = start(vec![ModemPlan::default(), slow]).await;
    g.net
        .inject("+4915100000099", &msisdn(0), "hello inbox")
        .unwrap();
    g.wait_inbox(T, |i| !i.is_empty());
    run(
        Command::new(py.join("python"))
            .arg(script("compat_client.py"))
            .env(
                "SMSGATE_URL",
                format!("http://127.0.0.1:{port}/3rdparty/v1"),
            )
            .env("SMSGATE_USER", "py")
            .env("SMSGATE_TOKEN", &token)
            .env("SMSGATE_TO", "+15557770001")
            .env("SMSGATE_INBOX_TEXT", "hello inbox"),
        "compat_client.py",
        &g,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_valid_and_schemathesis_finds_nothing() {
    let Some(py) = python() else { return };
    let (g, port, token) = start(vec![ModemPlan::default()]).await;
    let base = format!("http://127.0.0.1:{port}");
    run(
        Command::new(py.join("python"))
            .arg(script("openapi_validate.py"))
            .env("SMSGATE_BASE", &base)
            .env("SMSGATE_TOKEN", &token),
        "openapi_validate.py",
        &g,
    );
    let doc = Client::new(port, Some(&token)).get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let file = g.dir.path().join("openapi.json");
    std::fs::write(&file, &doc.body).unwrap();
    let auth = format!("Authorization: Bearer {token}");
    run(
        Command::new(py.join("schemathesis"))
            .arg("run")
            .arg(&file)
            .args(["--url", &base, "-H", &auth])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args([
                "--max-examples",
                "30",
                "--seed",
                "1",
                "--request-timeout",
                "20",
            ])
            // An endless stream: tested in tests/http_api.rs.
            .args(["--exclude-path", "/api/v1/events"])
            // Its cache goes to the test's directory, not the repository.
            .current_dir(g.dir.path())
            .env("SCHEMATHESIS_HOOKS", "")
            .env("NO_COLOR", "1"),
        "schemathesis",
        &g,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_client_registers_webhooks_that_receive_signed_sms_events() {
    let Some(py) = python() else { return };
    let (g, port, token) = start(vec![ModemPlan::default()]).await;
    run(
        Command::new(py.join("python"))
            .arg(script("compat_webhooks.py"))
            .env(
                "SMSGATE_URL",
                format!("http://127.0.0.1:{port}/3rdparty/v1"),
            )
            .env("SMSGATE_USER", "py")
            .env("SMSGATE_TOKEN", &token)
            .env("SMSGATE_OWN", msisdn(0)),
        "compat_webhooks.py",
        &g,
    );
}
