//! smstools3's own `sendsms` script (Debian package `smstools`) against our
//! spool, through the real binary on simulated modems: the script makes an
//! empty placeholder with `mktemp` in `outgoing/` and renames the real file
//! over it. Every message must be sent and `failed/` must stay empty, with
//! the scripts run one after another, many at once, with several
//! destinations in one call, and with a text that makes the script write
//! `Alphabet: UCS` and a UCS-2 body.
//!
//! The script is the packaged one, with only its spool path changed. Without
//! the package the test fails under CI (`CI` set; `.ci/run` installs it) and
//! is skipped elsewhere.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

const SCRIPT: &str = "/usr/share/doc/smstools/examples/scripts/sendsms";
const PACKAGED_SPOOL: &str = "/var/spool/sms/outgoing";

/// The packaged script's text (plain or gzipped), or `None` without the
/// package.
fn packaged_script() -> Option<String> {
    if let Ok(s) = std::fs::read_to_string(SCRIPT) {
        return Some(s);
    }
    let gz = format!("{SCRIPT}.gz");
    if !Path::new(&gz).exists() {
        return None;
    }
    let out = Command::new("gzip")
        .args(["-dc", &gz])
        .output()
        .expect("run gzip");
    assert!(out.status.success(), "gzip -dc {gz} failed");
    Some(String::from_utf8(out.stdout).expect("the script is text"))
}

/// A copy of the script in `dir` that writes into `outgoing` instead of the
/// packaged spool path.
fn script_for(dir: &Path, outgoing: &Path) -> Option<PathBuf> {
    let text = match packaged_script() {
        Some(t) => t,
        None if std::env::var_os("CI").is_some() => {
            panic!("{SCRIPT} is missing: .ci/run installs the Debian package smstools")
        }
        None => {
            eprintln!("SKIPPED: {SCRIPT} missing (apt-get install smstools)");
            return None;
        }
    };
    assert!(
        text.contains(PACKAGED_SPOOL),
        "the packaged sendsms no longer writes to {PACKAGED_SPOOL}"
    );
    assert!(
        text.contains("mktemp") && text.contains("mv "),
        "the packaged sendsms no longer renames over a mktemp placeholder"
    );
    let path = dir.join("sendsms");
    std::fs::write(
        &path,
        text.replace(PACKAGED_SPOOL, &outgoing.display().to_string()),
    )
    .expect("write the script copy");
    Some(path)
}

/// Starts `bash sendsms <args…>` (the script asks nothing when given a
/// destination and a text).
fn sendsms(script: &Path, args: &[&str]) -> Child {
    Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bash")
}

fn finish(c: Child) {
    let out = c.wait_with_output().expect("wait for sendsms");
    assert!(
        out.status.success(),
        "sendsms failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smstools3_sendsms_script_sends_everything_and_fails_nothing() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    let outgoing = g.spool.join("outgoing");
    let Some(script) = script_for(g.dir.path(), &outgoing) else {
        return;
    };
    // (destination index, text)
    let mut want: Vec<(usize, String)> = Vec::new();

    // One after another.
    for i in 1..=8 {
        let text = format!("sequential message {i}");
        finish(sendsms(&script, &[&external(i), &text]));
        want.push((i, text));
    }
    // Many at once.
    let mut running = Vec::new();
    for i in 11..=22 {
        let text = format!("concurrent message {i}");
        running.push(sendsms(&script, &[&external(i), &text]));
        want.push((i, text));
    }
    for c in running {
        finish(c);
    }
    // Several destinations in one call: the last argument is the text.
    let shared = "one text, three destinations".to_string();
    finish(sendsms(
        &script,
        &[&external(31), &external(32), &external(33), &shared],
    ));
    for i in 31..=33 {
        want.push((i, shared.clone()));
    }
    // Not ISO-8859-15: the script writes `Alphabet: UCS` and UCS-2 (iconv).
    let cyrillic = "Привет ✓ from sendsms".to_string();
    finish(sendsms(&script, &[&external(41), &cyrillic]));
    want.push((41, cyrillic));

    let processing = g.spool.join("processing");
    wait_fs(&[&outgoing, &processing], T, "spool drained", || {
        entries(&outgoing).is_empty() && entries(&processing).is_empty()
    });
    let out = g.outbox();
    assert_eq!(
        out.len(),
        want.len(),
        "one message per sendsms file: {out:?}"
    );
    for m in &out {
        g.wait_state(m["id"].as_i64().expect("id"), "sent", T);
    }
    let net = g.net.external_messages();
    for (i, text) in &want {
        assert_eq!(
            &text_to(&net, &external(*i)),
            text,
            "message to {}",
            external(*i)
        );
    }
    assert_eq!(
        entries(&g.spool.join("failed")),
        Vec::<String>::new(),
        "no placeholder or message was failed"
    );
}
