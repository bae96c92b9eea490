//! `smsgate pdu decode|encode` through the built binary: output, JSON and
//! exit codes. Owns no codec logic; the codec's own tests cover the fields.

use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn smsgate(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args(args)
        .output()
        .expect("the smsgate binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `args`, expects exit `code`, and that stdout (or stderr when the
/// code is not 0) contains every string of `want`.
fn check(args: &[&str], code: i32, want: &[&str]) {
    let r = smsgate(args);
    assert_eq!(
        r.code, code,
        "{args:?}: stdout {} stderr {}",
        r.stdout, r.stderr
    );
    let text = if code == 0 { &r.stdout } else { &r.stderr };
    for w in want {
        assert!(text.contains(w), "{args:?}: {w:?} not in {text:?}");
    }
    if code != 0 {
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "one-line error: {:?}",
            r.stderr
        );
    }
}

#[test]
fn table() {
    let cases: &[(&[&str], i32, &[&str])] = &[
        (
            &["pdu", "decode", "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"],
            0,
            &["SMS-DELIVER", "27838890001", "TOA 0xC8", "1999-03-29T15:16:59+02:00", "\"hellohello\""],
        ),
        (
            &["pdu", "decode", "--length", "25", "06000B910221815716F2709021510121807090215101718000"],
            0,
            &["SMS-STATUS-REPORT", "+20121875612", "Delivered"],
        ),
        (
            &["pdu", "decode", "--json", "0791447758100650040DD049B7F93D6D4E0100004230108000000A11D9775D0E1ABFC965507A0E8AC96634"],
            0,
            &["\"from\":\"InfoSMS\"", "\"ton\":5", "\"scts\":\"2024-03-01T08:00:00-05:00\"", "\"text\":\"Your code is 1234\""],
        ),
        (
            &["pdu", "encode", "--to", "+46708251358", "--text", "hellohello", "--validity", "4d"],
            0,
            &["part 1/1 AT+CMGS=23 0011000B916407281553F80000AA0AE8329BFD4697D9EC37"],
        ),
        (
            &["pdu", "encode", "--to", "13421839693", "--text", "hello", "--ucs2", "--smsc", "+8613800755500"],
            0,
            &["AT+CMGS=23 0891683108705505F001000B913124819396F300080A00680065006C006C006F"],
        ),
        (
            &["pdu", "encode", "--to", "+15551234567", "--text", "Price: 5€ [ok]", "--report", "--validity", "24h", "--json"],
            0,
            &[r#"{"length":29,"pdu":"0031000B915155214365F70000A71150797A5CD6816A9B3268C37BAF373E","seq":1,"total":1}"#],
        ),
        (&["pdu", "encode", "--to", "+15551234567", "--text", "Flash!", "--flash"], 0, &["0010"]),
        (&["pdu", "decode", "0G"], 2, &["HEX", "character 1"]),
        (&["pdu", "decode", "001"], 2, &["HEX"]),
        (&["pdu", "decode", "--length", "x1", "00"], 2, &["--length"]),
        (&["pdu", "decode", "0791447758"], 1, &["truncated", "SMSC address", "octet 2"]),
        (&["pdu", "encode", "--to", "12x4", "--text", "a"], 2, &["'x'"]),
        (&["pdu", "encode", "--to", "+1555", "--text", "a", "--validity", "3x"], 2, &["--validity"]),
        (&["pdu", "encode", "--to", "+1555", "--text", "a", "--smsc", "abc"], 2, &["--smsc"]),
        (&["pdu", "encode", "--to", "+1555", "--text", "a", "--reference", "70000"], 2, &["--reference"]),
    ];
    assert!(!cases.is_empty());
    for (args, code, want) in cases {
        check(args, *code, want);
    }
}

#[test]
fn multipart_json_lines() {
    let text = "x".repeat(400);
    let r = smsgate(&[
        "pdu",
        "encode",
        "--to",
        "+15551234567",
        "--text",
        &text,
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["seq"], i + 1);
        assert_eq!(v["total"], 3);
        let pdu = v["pdu"].as_str().expect("pdu is a string");
        assert_eq!(v["length"].as_u64(), Some((pdu.len() / 2 - 1) as u64));
    }
}

fn decode_json(args: &[&str]) -> serde_json::Value {
    let r = smsgate(args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "one line: {}", r.stdout);
    serde_json::from_str(&r.stdout).expect("one JSON object")
}

/// Every string in a value (keys and values): no Rust type names such as
/// `Deliver` or `Text`, and every key snake_case.
fn check_conventions(v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                assert!(
                    k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "key {k:?} is not snake_case"
                );
                check_conventions(v);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(check_conventions),
        _ => {}
    }
}

#[test]
fn decode_json_is_one_flat_object() {
    use serde_json::json;
    // (args, fields that must have these values, fields that must be absent)
    let cases: &[(&[&str], serde_json::Value, &[&str])] = &[
        (
            &["pdu", "decode", "--json", "0791447758100650440B915155214365F700004210133295854012050003420201906536FB0DBABFE56C32"],
            json!({
                "type": "deliver", "smsc": "+447785016005", "from": "+15551234567", "ton": 1, "npi": 1,
                "dcs": 0, "alphabet": "gsm7", "scts": "2024-01-31T23:59:58+01:00", "text": "Hello world",
                "udh": {"concat": {"ref": 66, "total": 2, "seq": 1, "ref16": false}, "elements": [{"iei": 0, "data": "420201"}]},
            }),
            &["to", "recipient", "status", "binary", "pdu"],
        ),
        (
            &["pdu", "decode", "--json", "0031000B915155214365F70000A71150797A5CD6816A9B3268C37BAF373E"],
            json!({
                "type": "submit", "to": "+15551234567", "text": "Price: 5€ [ok]", "dcs": 0,
                "status_report_request": true, "validity": {"format": "relative", "value": 167, "seconds": 86400},
            }),
            &["from", "recipient", "scts", "udh", "smsc"],
        ),
        (
            &["pdu", "decode", "--json", "--length", "25", "06000B910221815716F2709021510121807090215101718000"],
            json!({
                "type": "status_report", "recipient": "+20121875612", "mr": 0, "status": "delivered", "status_code": 0,
                "scts": "2007-09-12T15:10:12+02:00", "discharge": "2007-09-12T15:10:17+02:00",
            }),
            &["from", "to", "text", "udh"],
        ),
        (
            &["pdu", "decode", "--json", "0791447758100650040B915155214365F7001042101332958540064676788E0E01"],
            json!({"type": "deliver", "class": 0, "alphabet": "gsm7"}),
            &["udh"],
        ),
    ];
    for (args, want, absent) in cases {
        let v = decode_json(args);
        check_conventions(&v);
        for (k, w) in want.as_object().expect("object") {
            assert_eq!(&v[k], w, "{args:?}: field {k} in {v}");
        }
        for k in *absent {
            assert!(v.get(k).is_none(), "{args:?}: {k} present in {v}");
        }
    }
}

/// A reader that goes away (`smsgate pdu encode … | head -c 10`) ends the
/// command quietly by SIGPIPE, as Unix tools end: no panic, no message.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    // About 250 parts of JSON: far more than a pipe buffer holds.
    let text = "x".repeat(38_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args([
            "pdu",
            "encode",
            "--json",
            "--to",
            "+491234567",
            "--text",
            &text,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the smsgate binary runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(13), "{status:?}, stderr {stderr:?}");
    assert_eq!(stderr, "");
}
