//! The shipped `config.example.toml` parses, shows the defaults where it says
//! so, and `smsgate check-config` accepts a good file (exit 0) and rejects a
//! bad one with a `file:line: key:` message (exit 2).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use smsgate::config::{Config, ModemConfig, Route};

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
}

#[test]
fn example_parses_and_shows_defaults() {
    let c = Config::load(example_path()).expect("config.example.toml is valid");
    let d = Config::default();
    assert_eq!(c.store, d.store);
    assert_eq!(c.control, d.control);
    assert_eq!(c.spool, d.spool);
    assert_eq!(c.dispatch, d.dispatch);
    assert_eq!(c.receive, d.receive);
    assert_eq!(c.hooks, d.hooks);
    assert_eq!(c.log, d.log);
    assert_eq!(c.webhooks, d.webhooks);
    assert_eq!(c.compat, d.compat);
    assert_eq!(c.cluster, d.cluster);
    assert!(c.webhook.is_empty());
    assert_eq!(c.modems.len(), 2);
    let sim2 = c.modem("sim2").expect("sim2");
    let want =
        ModemConfig::with_defaults("sim2", Path::new("/dev/ttyUSB2"), Duration::from_secs(120));
    assert_eq!(sim2, &want);
    assert_eq!(
        c.routes,
        vec![Route {
            prefix: "+49".into(),
            modems: vec!["sim1".into(), "sim2".into()]
        }]
    );
}

/// Every key the validated config has appears in the example (commented or not).
#[test]
fn example_documents_every_key() {
    let text = std::fs::read_to_string(example_path()).expect("read example");
    let keys = [
        "path",
        "resend_uncertain",
        "socket",
        "mode",
        "group",
        "max_request_bytes",
        "max_clients",
        "dir",
        "enabled",
        "scan_interval",
        "max_file_bytes",
        "sent_dir",
        "failed_copy_dir",
        "incoming_dir",
        "report_dir",
        "policy",
        "sticky",
        "max_attempts",
        "retry_base",
        "retry_max",
        "failure_threshold",
        "cooldown",
        "validity",
        "expire_after",
        "languages",
        "concat_ref16",
        "send_timeout",
        "prefix",
        "modems",
        "incomplete_timeout",
        "sweep_interval",
        "store_class0",
        "received",
        "sent",
        "delivered",
        "failed",
        "report",
        "modem_up",
        "modem_down",
        "timeout",
        "max_concurrent",
        "retry",
        "url",
        "events",
        "secret",
        "flavour",
        "signing_key",
        "device_id",
        "level",
        "name",
        "device",
        "baud",
        "pin",
        "cnmi",
        "storage",
        "report_storage",
        "smsc",
        "init",
        "quirks",
        "weight",
        "queues",
        "per_minute",
        "per_hour",
        "per_day",
        "health_interval",
        "radio_reset",
        "node",
        "lease",
        "orphan_after",
    ];
    assert!(keys.len() > 50, "the key table is filled");
    for k in keys {
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches('#').trim();
            l.starts_with(&format!("{k} ="))
        });
        assert!(documented, "key {k} is not in config.example.toml");
    }
}

fn check_config(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .arg("check-config")
        .arg("-c")
        .arg(path)
        .output()
        .expect("run smsgate")
}

#[test]
fn check_config_accepts_the_example() {
    let out = check_config(example_path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sim1"), "summary: {stdout}");
    assert!(stdout.contains("/var/spool/smsgate"), "summary: {stdout}");
    assert!(stdout.contains("+49 -> sim1, sim2"), "summary: {stdout}");
}

#[test]
fn check_config_rejects_a_bad_file_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[store]\npath = \"/tmp/x.db\"\n\n[[modem]]\nname = \"sim1\"\ndevice = \"/dev/ttyUSB0\"\npin = \"12\"\n",
    )
    .expect("write");
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:7: modem[0].pin: must be 4 to 8 digits", path.display());
    assert!(stderr.contains(&want), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_malformed_store_url_fails_check_and_start_naming_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    for (url, why) in [
        (
            "postgresql://gw:hunter2@db:port/smsgate",
            "not a valid PostgreSQL URL: invalid connection string: invalid value for option `port`",
        ),
        (
            "postgresql://gw:hunter2@db:70000/smsgate",
            "not a valid PostgreSQL URL: invalid connection string: invalid value for option `port`",
        ),
        ("postgresql://gw:hunter2@[db/smsgate", "not a valid PostgreSQL URL"),
        ("postgresql:///smsgate", "names no host"),
        ("mysql://gw@db/smsgate", "must be a PostgreSQL URL"),
    ] {
        std::fs::write(
            &path,
            format!("[cluster]\nnode = \"a\"\n\n[store]\nurl = \"{url}\"\n"),
        )
        .expect("write");
        let want = format!("{}:5: store.url: {why}", path.display());
        let check = check_config(&path);
        let run = Command::new(env!("CARGO_BIN_EXE_smsgate"))
            .args(["run", "-c"])
            .arg(&path)
            .env_remove("NOTIFY_SOCKET")
            .output()
            .expect("run smsgate");
        for (what, out) in [("check-config", check), ("run", run)] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} {url}: {stderr}");
            assert!(stderr.contains(&want), "{what} {url}: {stderr}");
            assert!(!stderr.contains("panicked"), "{what} {url}: {stderr}");
            assert!(!stderr.contains("hunter2"), "{what} {url}: {stderr}");
        }
    }
}

#[test]
fn check_config_missing_file_exits_2() {
    let out = check_config(Path::new("/nonexistent/smsgate.toml"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn load_names_a_missing_file() {
    let err = Config::load(Path::new("/nonexistent/smsgate.toml")).expect_err("missing");
    assert!(
        err.to_string().starts_with("/nonexistent/smsgate.toml: "),
        "{err}"
    );
    assert_eq!(err.line(), None);
}

#[test]
fn reload_diff_between_two_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(
        &a,
        "[[modem]]\nname = \"sim1\"\ndevice = \"/dev/ttyUSB0\"\n",
    )
    .expect("write");
    std::fs::write(&b, "[[modem]]\nname = \"sim1\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 9600\n[[modem]]\nname = \"sim2\"\ndevice = \"/dev/ttyUSB1\"\n").expect("write");
    let old = Config::load(&a).expect("a");
    let new = Config::load(&b).expect("b");
    let d = old.diff(&new);
    assert_eq!(d.added, vec!["sim2".to_string()]);
    assert_eq!(d.changed, vec!["sim1".to_string()]);
    assert!(d.removed.is_empty());
}
