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
            &["\"InfoSMS\"", "\"tz_quarters\":-20", "\"datetime\":\"2024-03-01T08:00:00-05:00\"", "Your code is 1234"],
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
