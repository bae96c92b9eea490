//! Differential test against an independent implementation, python3-gammu
//! (Debian package `python3-gammu`, importable by /usr/bin/python3 only).
//! Ours encodes, gammu decodes (`gammu.DecodePDU`); gammu encodes
//! (`gammu.EncodeSMS` + `EncodePDU`), ours decodes. One batch process, JSON
//! over stdin/stdout (tools/gammu_diff.py). Without gammu it fails when the
//! `CI` environment variable is set (`.ci/run` sets it and installs gammu),
//! and skips with a clear message elsewhere.

use smsgate::codec::{self, Address, Pdu, SubmitOptions};
use std::io::Write;
use std::process::{Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";
const TEXTS: usize = 1200;

fn gammu_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import gammu"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether a `CI` variable says we run in CI (set, not empty, not `false`
/// or `0`), where a missing gammu is a failure, not a skip.
fn in_ci(ci: Option<&std::ffi::OsStr>) -> bool {
    match ci.and_then(|v| v.to_str()) {
        None => ci.is_some(),
        Some(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no"
        ),
    }
}

#[test]
fn ci_variable() {
    use std::ffi::OsStr;
    let cases: &[(Option<&str>, bool)] = &[
        (None, false),
        (Some(""), false),
        (Some("false"), false),
        (Some("0"), false),
        (Some("true"), true),
        (Some("1"), true),
        (Some("yes"), true),
    ];
    for (v, want) in cases {
        assert_eq!(in_ci(v.map(OsStr::new)), *want, "CI={v:?}");
    }
}

#[test]
fn missing_gammu_fails_in_ci() {
    // Run the differential test itself with CI set: where gammu is missing it
    // must fail. Where gammu is present, that test runs for real anyway.
    if gammu_available() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args(["--exact", "differential_against_gammu", "--nocapture"])
        .env("CI", "true")
        .output()
        .expect("the test binary runs");
    assert!(
        !out.status.success(),
        "passed without gammu although CI was set: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

const GSM_BASIC: &str = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\n";
const GSM_EXT: &str = "^{}\\[~]|€";
const OTHER: &str = "ąćęłńóśźżЖжЯяΩλ中文字日本語한국어אבגعربي“”‘’…–—•";
const EMOJI: &[&str] = &["😀", "👍", "🎉", "🇩🇪", "👩‍💻", "🙂", "🚀", "❤️"];

/// A deterministic random text: GSM-7 with extension characters, UCS-2 with
/// emoji, short or multipart.
fn text(rng: &mut fastrand::Rng) -> String {
    let basic: Vec<char> = GSM_BASIC.chars().collect();
    let ext: Vec<char> = GSM_EXT.chars().collect();
    let other: Vec<char> = OTHER.chars().collect();
    let kind = rng.u8(0..10);
    let len = match rng.u8(0..4) {
        0 => rng.usize(1..20),
        1 => rng.usize(140..180),
        2 => rng.usize(60..80),
        _ => rng.usize(1..450),
    };
    let mut s = String::new();
    while s.chars().count() < len {
        let r = rng.u8(0..100);
        match kind {
            // GSM-7 only, some extension characters
            0..=4 => {
                if r < 12 {
                    s.push(ext[rng.usize(..ext.len())])
                } else {
                    s.push(basic[rng.usize(..basic.len())])
                }
            }
            // UCS-2 with emoji
            _ => {
                if r < 15 {
                    s.push_str(EMOJI[rng.usize(..EMOJI.len())])
                } else if r < 50 {
                    s.push(other[rng.usize(..other.len())])
                } else {
                    s.push(basic[rng.usize(..basic.len())])
                }
            }
        }
    }
    s
}

fn run_gammu(request: &serde_json::Value) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/gammu_diff.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let input = serde_json::to_vec(request).expect("request serialises");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .expect("request written");
    let out = child.wait_with_output().expect("gammu_diff.py finishes");
    assert!(
        out.status.success(),
        "gammu_diff.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gammu_diff.py prints JSON")
}

#[test]
fn differential_against_gammu() {
    if !gammu_available() {
        assert!(
            !in_ci(std::env::var_os("CI").as_deref()),
            "python3-gammu is not installed, and CI is set: this test must run in CI \
             (apt-get install python3-gammu)"
        );
        println!("SKIPPED: python3-gammu not installed (apt-get install python3-gammu)");
        return;
    }
    let mut rng = fastrand::Rng::with_seed(0x5EED_C0DE);
    let texts: Vec<String> = (0..TEXTS).map(|_| text(&mut rng)).collect();
    let to = Address::parse("+15551234567").expect("valid number");

    // Ours encodes every text; remember which parts belong to which text.
    let mut pdus = Vec::new();
    let mut owner = Vec::new();
    let mut unicode = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let opts = SubmitOptions {
            concat_ref: u16::try_from(i % 256).expect("fits"),
            ..SubmitOptions::default()
        };
        let parts = codec::encode_submit(&to, t, &opts).expect("encodes");
        let ucs2 = match codec::decode(&parts[0].bytes, None)
            .expect("own PDU decodes")
            .pdu
        {
            Pdu::Submit(s) => s.dcs.0 == 0x08,
            _ => panic!("own PDU is a SUBMIT"),
        };
        unicode.push(ucs2);
        for p in parts {
            pdus.push(p.hex());
            owner.push((i, p.seq, p.total));
        }
    }
    let request = serde_json::json!({
        "decode": pdus,
        "encode": texts.iter().zip(&unicode).take(400)
            .map(|(t, u)| serde_json::json!({"text": t, "unicode": u})).collect::<Vec<_>>(),
    });
    let resp = run_gammu(&request);

    // Direction 1: gammu decodes ours.
    let decoded = resp["decoded"].as_array().expect("decoded list");
    assert_eq!(decoded.len(), pdus.len());
    let mut joined: Vec<Vec<u16>> = vec![Vec::new(); texts.len()];
    let mut failures = Vec::new();
    for ((d, (i, seq, total)), hex) in decoded.iter().zip(&owner).zip(&pdus) {
        if let Some(e) = d.get("error") {
            failures.push(format!("text {i} part {seq}: gammu error {e} on {hex}"));
            continue;
        }
        if *total > 1 && (d["seq"] != *seq || d["total"] != *total) {
            failures.push(format!("text {i} part {seq}/{total}: gammu sees {d}"));
        }
        assert_eq!(d["number"], "+15551234567");
        let units = codec::from_hex(d["utf16"].as_str().unwrap_or_default()).expect("hex");
        joined[*i].extend(
            units
                .chunks_exact(2)
                .map(|u| u16::from_be_bytes([u[0], u[1]])),
        );
    }
    for (i, (units, want)) in joined.iter().zip(&texts).enumerate() {
        let got = String::from_utf16_lossy(units);
        if &got != want {
            failures.push(format!("text {i}: gammu decoded {got:?}, sent {want:?}"));
        }
    }

    // Direction 2: ours decodes gammu's.
    let encoded = resp["encoded"].as_array().expect("encoded list");
    let mut checked = 0;
    for (i, e) in encoded.iter().enumerate() {
        let Some(parts) = e.as_array() else {
            failures.push(format!("text {i}: gammu could not encode: {e}"));
            continue;
        };
        let mut got = Vec::new();
        for hex in parts {
            let hex = hex.as_str().expect("hex string");
            match codec::decode_hex(hex, None) {
                Ok(d) => match d.pdu {
                    Pdu::Submit(s) => {
                        let seq = s.udh.as_ref().and_then(|u| u.concat()).map_or(1, |c| c.seq);
                        got.push((seq, s.data.text().unwrap_or_default().to_string()));
                    }
                    other => failures.push(format!("text {i}: not a SUBMIT: {other:?}")),
                },
                Err(err) => failures.push(format!("text {i}: we cannot decode {hex}: {err}")),
            }
        }
        got.sort_by_key(|(seq, _)| *seq);
        let text: String = got.into_iter().map(|(_, t)| t).collect();
        if text != texts[i] {
            failures.push(format!(
                "text {i}: we decoded {text:?}, gammu encoded {:?}",
                texts[i]
            ));
        }
        checked += 1;
    }
    println!(
        "differential: {} texts, {} PDUs decoded by gammu, {} gammu encodings decoded by us, {} mismatches",
        texts.len(),
        pdus.len(),
        checked,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
