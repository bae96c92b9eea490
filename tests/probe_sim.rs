//! `smsgate probe` (the real binary, no daemon) against simulated modems:
//! one of every personality (identity, SIM, network, modes, storage all
//! read right, no problem found), a SIM that asks for its PIN, a text-only
//! modem, a modem that answers nothing, a port held open by another
//! process, and a path that does not exist: each diagnosis right, with its
//! advice, in `--json` and as text.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use smsgate::modem::quirks;
use smsgate::sim::{Faults, Network, NetworkOptions, SimModem, ALL_PERSONALITIES};

fn probe(device: &Path, json: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new(bin());
    // The simulator (this process) keeps the pty's other side open.
    cmd.arg("probe")
        .arg(device)
        .args(["--timeout", "500ms", "--ignore-holder"])
        .arg(std::process::id().to_string());
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

fn probe_json(device: &Path) -> (Option<i32>, Value) {
    let (code, out) = probe(device, true);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
    )
}

fn problems(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_string())
        .collect()
}

async fn start(
    net: &Network,
    dir: &Path,
    i: usize,
    plan: &ModemPlan,
    pin: bool,
) -> (SimModem, PathBuf) {
    let mut spec = sim_spec(i, plan);
    if pin {
        spec.pin = Some("1234".into());
    }
    let link = dir.join(format!("modem{i}"));
    let sim = SimModem::start(net, spec, Some(link.clone()))
        .await
        .unwrap();
    (sim, link)
}

/// The two tests run one at a time: the second spawns a process to hold a
/// port, and between its fork and its exec that child holds every file of
/// this test process, including the first test's ports, which the first
/// test's probe then rightly reports as held.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personality_is_identified() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let net = Network::new(NetworkOptions::default());
    let mut makers = std::collections::BTreeSet::new();
    for (i, p) in ALL_PERSONALITIES.iter().enumerate() {
        let plan = ModemPlan {
            personality: *p,
            ..ModemPlan::default()
        };
        let (_sim, link) = start(&net, dir.path(), i, &plan, false).await;
        let (code, v) = probe_json(&link);
        assert_eq!(code, Some(0), "{p:?}: {v}");
        assert_eq!(v["ok"], Value::Bool(true), "{p:?}: {v}");
        // The maker it names leads the driver to this personality's quirks.
        let maker = v["manufacturer"].as_str().unwrap().to_string();
        assert_eq!(quirks::detect(&maker).family, *p, "{p:?}: {v}");
        assert!(makers.insert(maker));
        assert!(
            !v["model"].as_str().unwrap().is_empty() && !v["firmware"].as_str().unwrap().is_empty(),
            "{v}"
        );
        assert_eq!(v["imei"], format!("35000000000{i:04}"), "{p:?}");
        assert_eq!(v["imsi"], format!("00101000000{i:04}"), "{p:?}");
        assert_eq!(v["iccid"], format!("8901000000000{i:04}"), "{p:?}: {v}");
        assert_eq!(v["sim"], "READY");
        assert_eq!(v["pin_needed"], false);
        assert_eq!(v["registered"], true, "{p:?}: {v}");
        assert_eq!(v["smsc"], smsgate::sim::SMSC, "{p:?}");
        assert_eq!(
            (v["pdu_mode"].clone(), v["text_mode"].clone()),
            (Value::Bool(true), Value::Bool(true))
        );
        assert!(v["storage"].as_str().unwrap().contains(",30"), "{p:?}: {v}");
        assert!(v["signal"].as_u64().is_some_and(|s| s <= 31), "{v}");
        assert_eq!(v["holders"], serde_json::json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_diagnosed_with_advice() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let net = Network::new(NetworkOptions::default());
    let silent = ModemPlan {
        faults: Faults {
            no_answer_rate: 1.0,
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let text_only = ModemPlan {
        faults: Faults {
            text_only: true,
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let (_a, pin) = start(&net, dir.path(), 0, &ModemPlan::default(), true).await;
    let (_b, mute) = start(&net, dir.path(), 1, &silent, false).await;
    let (_c, text) = start(&net, dir.path(), 2, &text_only, false).await;
    let (_d, held) = start(&net, dir.path(), 3, &ModemPlan::default(), false).await;

    let (code, v) = probe_json(&pin);
    assert_eq!(code, Some(1));
    assert_eq!(problems(&v), ["sim_pin"], "{v}");
    assert_eq!(v["pin_needed"], true);
    assert_eq!(v["sim"], "SIM PIN");
    assert_eq!(
        v["manufacturer"], "SIMULATED",
        "the modem itself answers: {v}"
    );
    assert!(v["problems"][0]["advice"]
        .as_str()
        .unwrap()
        .contains("pin ="));

    let (code, v) = probe_json(&mute);
    assert_eq!(code, Some(1));
    assert_eq!(problems(&v), ["no_answer"], "{v}");
    assert_eq!(
        (v["opened"].clone(), v["answers"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
    assert!(v["problems"][0]["advice"]
        .as_str()
        .unwrap()
        .contains("--all"));

    let (code, v) = probe_json(&text);
    assert_eq!(code, Some(1));
    assert_eq!(problems(&v), ["text_only"], "{v}");
    assert_eq!(
        (v["pdu_mode"].clone(), v["text_mode"].clone()),
        (Value::Bool(false), Value::Bool(true))
    );

    // Another process with the port open: named, with its pid.
    let mut other = Command::new("sleep")
        .arg("60")
        .stdin(std::fs::File::open(&held).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (code, v) = probe_json(&held);
    let (_, text_out) = probe(&held, false);
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(code, Some(1));
    assert_eq!(problems(&v), ["held"], "{v}");
    assert_eq!(v["holders"][0]["pid"], other.id());
    assert_eq!(v["holders"][0]["name"], "sleep");
    assert!(
        text_out.contains("PROBLEMS") && text_out.contains("sleep (pid"),
        "{text_out}"
    );
    // Once it is gone, the same port is fine.
    let (code, v) = probe_json(&held);
    assert_eq!((code, problems(&v)), (Some(0), vec![]), "{v}");

    let (code, v) = probe_json(&dir.path().join("no-such-tty"));
    assert_eq!(code, Some(1));
    assert_eq!(problems(&v), ["open_failed"], "{v}");
    assert!(v["problems"][0]["advice"]
        .as_str()
        .unwrap()
        .contains("plugged in"));
}
