//! Unit tests for the simulator's AT engine: transcripts per personality driven
//! straight through `Engine::feed` (no pty, no runtime), and properties: the
//! command parser never panics on arbitrary bytes and always comes back to
//! command mode.

use super::engine::{Engine, Incoming, IncomingKind, Out};
use super::network::{deliver_parts, scts_text, smsc_prefix};
use super::personality::ALL;
use super::{Faults, Personality, SimSpec};
use crate::codec::{self, Address, SubmitOptions, Validity};
use proptest::prelude::*;
use std::time::Duration;

fn engine(p: Personality) -> Engine {
    let mut e = Engine::new(SimSpec::new("t", p, "+15550001000"), 1);
    let _ = e.boot();
    e
}

/// Everything written to the line for `input`; panics if the engine asks for a
/// network transmission (those tests use `outs`).
fn say(e: &mut Engine, input: &str) -> String {
    let mut s = String::new();
    for o in e.feed(input.as_bytes()) {
        if let Out::Bytes(b) = o {
            s.push_str(&String::from_utf8_lossy(&b));
        }
    }
    s
}

/// One transcript step: what is sent, what must come back.
fn check(p: Personality, steps: &[(&str, &str)]) {
    assert!(!steps.is_empty());
    let mut e = engine(p);
    for (input, want) in steps {
        assert_eq!(say(&mut e, input), *want, "{p}: {input:?}");
    }
}

#[test]
fn basic_transcripts() {
    let steps: &[(&str, &str)] = &[
        // Echo is on after boot.
        ("AT\r", "AT\r\r\nOK\r\n"),
        ("ATE0\r", "ATE0\r\r\nOK\r\n"),
        ("AT\r", "\r\nOK\r\n"),
        // CR LF line ends work too.
        ("AT\r\n", "\r\nOK\r\n"),
        ("at+csq\r", "\r\n+CSQ: 20,99\r\n\r\nOK\r\n"),
        ("AT+NOPE\r", "\r\nERROR\r\n"),
        ("AT+CMEE=1\r", "\r\nOK\r\n"),
        ("AT+NOPE\r", "\r\n+CME ERROR: 4\r\n"),
        ("AT+CMEE=2\r", "\r\nOK\r\n"),
        ("AT+NOPE\r", "\r\n+CME ERROR: operation not supported\r\n"),
        ("AT+CMEE=1;+CREG=2\r", "\r\nOK\r\n"),
        (
            "AT+CREG?\r",
            "\r\n+CREG: 2,1,\"00C3\",\"1A2B\"\r\n\r\nOK\r\n",
        ),
        ("AT+COPS?\r", "\r\n+COPS: 0,0,\"SimNet\",2\r\n\r\nOK\r\n"),
        ("AT+CSMS?\r", "\r\n+CSMS: 0,1,1,1\r\n\r\nOK\r\n"),
        ("AT+CSMS=1\r", "\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"),
        ("AT+CNMI=2,1,0,2,0\r", "\r\nOK\r\n"),
        ("AT+CNMI?\r", "\r\n+CNMI: 2,1,0,2,0\r\n\r\nOK\r\n"),
        ("AT+CNMI=9\r", "\r\n+CMS ERROR: 303\r\n"),
        (
            "AT+CSCA?\r",
            "\r\n+CSCA: \"+15559990000\",145\r\n\r\nOK\r\n",
        ),
        ("AT+CSCA=\"+4917\",145\r", "\r\nOK\r\n"),
        ("AT+CSCA?\r", "\r\n+CSCA: \"+4917\",145\r\n\r\nOK\r\n"),
        (
            "AT+CPMS?\r",
            "\r\n+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30\r\n\r\nOK\r\n",
        ),
        (
            "AT+CPMS=\"ME\",\"SR\"\r",
            "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n",
        ),
        ("AT+CPMS=\"XX\"\r", "\r\n+CMS ERROR: 302\r\n"),
        ("AT+CMGR=1\r", "\r\nOK\r\n"),
        ("AT+CMGR=31\r", "\r\n+CMS ERROR: 321\r\n"),
        ("AT+CMGL=4\r", "\r\nOK\r\n"),
        ("AT+CMGD=0\r", "\r\n+CMS ERROR: 321\r\n"),
        ("AT+CNMA\r", "\r\n+CMS ERROR: 340\r\n"),
        ("AT+CFUN?\r", "\r\n+CFUN: 1\r\n\r\nOK\r\n"),
        ("AT+CMGS=3\r", "\r\n+CMS ERROR: 304\r\n"),
        (
            "ATI\r",
            "\r\nSIMULATED\r\nGSM MODEM\r\nRevision: 1.0\r\n\r\nOK\r\n",
        ),
        (
            "AT+CNUM\r",
            "\r\n+CNUM: ,\"+15550001000\",145\r\n\r\nOK\r\n",
        ),
        ("AT+CMMS=2\r", "\r\nOK\r\n"),
        ("AT+CMMS?\r", "\r\n+CMMS: 2\r\n\r\nOK\r\n"),
        ("ATS0=0\r", "\r\nOK\r\n"),
        ("ATS3?\r", "\r\n013\r\n\r\nOK\r\n"),
        ("ATE0V1Q0\r", "\r\nOK\r\n"),
        ("AT&F\r", "\r\nOK\r\n"),
        ("ATE0\r", "ATE0\r\r\nOK\r\n"),
        // Garbage before AT, and lines without AT, are ignored.
        ("xyz\r", ""),
        ("\x1b\x1aAT\r", "\r\nOK\r\n"),
    ];
    check(Personality::Generic, steps);
}

#[test]
fn personality_quirks() {
    let table: &[(Personality, &[(&str, &str)])] = &[
        (
            Personality::Huawei,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                ("AT^CURC=0\r", "\r\nOK\r\n"),
                (
                    "AT^ICCID?\r",
                    "\r\n^ICCID: 8901001015550001000\r\n\r\nOK\r\n",
                ),
                ("AT+CCID\r", "\r\nCOMMAND NOT SUPPORT\r\n"),
                ("AT+CMGD=?\r", "\r\n+CMGD: (0-29),(0-4)\r\n\r\nOK\r\n"),
                ("AT+CGMM\r", "\r\nE173\r\n\r\nOK\r\n"),
            ],
        ),
        (
            Personality::Simcom,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                ("AT+CCID\r", "\r\n8901001015550001000\r\n\r\nOK\r\n"),
                ("AT^CURC=0\r", "\r\nERROR\r\n"),
                ("AT+CMGD=?\r", "\r\n+CMGD: (1-30),(0-4)\r\n\r\nOK\r\n"),
            ],
        ),
        (
            Personality::Quectel,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                (
                    "AT+QCCID\r",
                    "\r\n+QCCID: 8901001015550001000\r\n\r\nOK\r\n",
                ),
            ],
        ),
        (
            Personality::Zte,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                (
                    "AT+ZGETICCID\r",
                    "\r\n+ZGETICCID: 8901001015550001000\r\n\r\nOK\r\n",
                ),
            ],
        ),
        (
            Personality::Telit,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                ("AT#CCID\r", "\r\n#CCID: 8901001015550001000\r\n\r\nOK\r\n"),
            ],
        ),
        (
            Personality::Sierra,
            &[
                ("ATE0\r", "ATE0\r\r\nOK\r\n"),
                (
                    "AT+CCID\r",
                    "\r\n+CCID: \"8901001015550001000\"\r\n\r\nOK\r\n",
                ),
                ("AT+WIND=0\r", "\r\nOK\r\n"),
            ],
        ),
    ];
    assert!(!table.is_empty());
    for (p, steps) in table {
        check(*p, steps);
    }
}

#[test]
fn boot_noise_per_personality() {
    let table: &[(Personality, &str)] = &[
        (Personality::Generic, ""),
        (Personality::Huawei, "\r\n^SYSSTART\r\n"),
        (Personality::Simcom, "\r\nRDY\r\n"),
        (Personality::Quectel, "\r\nRDY\r\n"),
        (Personality::Zte, "\r\n+ZUSIMR:2\r\n"),
        (Personality::Telit, ""),
        (Personality::Sierra, "\r\n+WIND: 3\r\n"),
    ];
    assert_eq!(table.len(), ALL.len());
    for (p, start) in table {
        let mut e = Engine::new(SimSpec::new("t", *p, "+1"), 1);
        let boot: Vec<u8> = e
            .boot()
            .into_iter()
            .flat_map(|o| match o {
                Out::Bytes(b) => b,
                _ => Vec::new(),
            })
            .collect();
        let boot = String::from_utf8_lossy(&boot);
        assert!(boot.starts_with(start), "{p}: {boot:?}");
        assert_eq!(boot.is_empty(), start.is_empty(), "{p}");
    }
}

fn deliver(from: &str, text: &str) -> Incoming {
    let at = chrono::DateTime::parse_from_rfc3339("2024-01-31T23:59:58+01:00").expect("time");
    let (tpdu, _) = deliver_parts(from, text, 1, at).expect("encodes").remove(0);
    Incoming {
        smsc: smsc_prefix(),
        tpdu,
        kind: IncomingKind::Deliver {
            from: from.into(),
            text: text.into(),
            scts: scts_text(at),
        },
    }
}

/// A one-part SUBMIT of "x" to +4930123456 (relative VP 0xA7), as the hex a
/// TE types after the prompt (SMSC prefix `00`, no Ctrl-Z) and its TPDU length.
fn submit_x() -> (String, usize) {
    let to = Address::parse("+4930123456").expect("number");
    let opts = SubmitOptions {
        validity: Validity::Relative(0xA7),
        ..SubmitOptions::default()
    };
    let part = codec::encode_submit(&to, "x", &opts)
        .expect("encodes")
        .remove(0);
    (part.hex(), part.tpdu_len)
}

fn bytes(outs: Vec<Out>) -> String {
    outs.into_iter()
        .filter_map(|o| match o {
            Out::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn cnmi_decides_between_store_and_route() {
    let table: &[(&str, &str)] = &[
        ("AT+CNMI=2,1,0,0,0\r", "\r\n+CMTI: \"SM\",1\r\n"),
        ("AT+CNMI=2,0,0,0,0\r", ""),
        ("AT+CNMI=2,2,0,0,0\r", "\r\n+CMT: ,"),
    ];
    assert!(!table.is_empty());
    for (cnmi, want) in table {
        let mut e = engine(Personality::Generic);
        say(&mut e, "ATE0\r");
        assert_eq!(say(&mut e, cnmi), "\r\nOK\r\n");
        let got = bytes(e.incoming(deliver("+4930123456", "hi")));
        assert!(got.starts_with(want), "{cnmi}: {got:?}");
        assert_eq!(want.is_empty(), got.is_empty(), "{cnmi}");
    }
}

#[test]
fn cmgr_shows_the_pdu_then_marks_it_read() {
    let mut e = engine(Personality::Generic);
    say(&mut e, "ATE0\r");
    let m = deliver("+4930123456", "hellohello");
    let want_hex = format!("{}{}", codec::to_hex(&m.smsc), codec::to_hex(&m.tpdu));
    let len = m.tpdu.len();
    e.incoming(m);
    assert_eq!(
        say(&mut e, "AT+CMGR=1\r"),
        format!("\r\n+CMGR: 0,,{len}\r\n{want_hex}\r\n\r\nOK\r\n")
    );
    assert_eq!(
        say(&mut e, "AT+CMGL=1\r"),
        format!("\r\n+CMGL: 1,1,,{len}\r\n{want_hex}\r\n\r\nOK\r\n")
    );
    assert_eq!(say(&mut e, "AT+CMGL=0\r"), "\r\nOK\r\n");
    assert_eq!(say(&mut e, "AT+CMGD=1\r"), "\r\nOK\r\n");
    assert_eq!(e.stored(), 0);
}

#[test]
fn cmgs_assigns_message_references_that_wrap() {
    let mut e = engine(Personality::Generic);
    say(&mut e, "ATE0\r");
    let (hex, len) = submit_x();
    let hex = format!("{hex}\x1a");
    let mut mrs = Vec::new();
    for _ in 0..258 {
        assert_eq!(say(&mut e, &format!("AT+CMGS={len}\r")), "\r\n> ");
        for o in e.feed(hex.as_bytes()) {
            if let Out::Transmit { mr, .. } = o {
                mrs.push(mr);
            }
        }
    }
    assert_eq!(mrs.len(), 258);
    assert_eq!(&mrs[..3], &[0, 1, 2]);
    assert_eq!(&mrs[255..], &[255, 0, 1]);
}

#[test]
fn cmgs_rejects_bad_pdus_with_304() {
    let table: &[(&str, &str)] = &[
        // Length says 5 octets but the TPDU is shorter.
        ("AT+CMGS=10\r", "0011\x1a"),
        // Not hex at all.
        ("AT+CMGS=10\r", "zz\x1a"),
        // A DELIVER is not something a TE may send.
        ("AT+CMGS=8\r", "0004000B91\x1a"),
        // SMSC length octet disagrees with the prefix.
        ("AT+CMGS=7\r", "05110000000000000000\x1a"),
    ];
    assert!(!table.is_empty());
    for (cmd, body) in table {
        let mut e = engine(Personality::Generic);
        say(&mut e, "ATE0\r");
        say(&mut e, "AT+CMEE=1\r");
        assert_eq!(say(&mut e, cmd), "\r\n> ", "{cmd}");
        assert_eq!(say(&mut e, body), "\r\n+CMS ERROR: 304\r\n", "{body:?}");
    }
}

#[test]
fn latency_comes_before_the_answer() {
    let mut e = engine(Personality::Generic);
    say(&mut e, "ATE0\r");
    let _ = e.set_faults(Faults {
        cmgs_latency: Duration::from_millis(250),
        ..Faults::default()
    });
    let (hex, len) = submit_x();
    let hex = format!("{hex}\x1a");
    say(&mut e, &format!("AT+CMGS={len}\r"));
    let outs = e.feed(hex.as_bytes());
    assert!(matches!(outs.first(), Some(Out::Delay(d)) if *d == Duration::from_millis(250)));
    assert!(matches!(outs.get(1), Some(Out::Transmit { .. })));
    assert!(matches!(outs.get(2), Some(Out::Bytes(b)) if b.starts_with(b"\r\n+CMGS: 0")));
}

#[test]
fn payloads_count_complete_sends_only() {
    let mut e = engine(Personality::Generic);
    say(&mut e, "ATE0\r");
    let (hex, len) = submit_x();
    say(&mut e, &format!("AT+CMGS={len}\r"));
    assert_eq!(e.payloads(), 0, "the command line alone is no payload");
    let _ = e.feed(hex.as_bytes());
    assert_eq!(e.payloads(), 0, "no Ctrl-Z yet");
    let _ = e.feed(b"\x1a");
    assert_eq!(e.payloads(), 1);
    say(&mut e, &format!("AT+CMGS={len}\r"));
    let _ = e.feed(format!("{hex}\x1a").as_bytes());
    assert_eq!(e.payloads(), 2);
}

#[test]
fn same_seed_same_faults() {
    let run = || {
        let mut e = engine(Personality::Huawei);
        let _ = e.set_faults(Faults {
            garbage_rate: 0.5,
            no_answer_rate: 0.3,
            urc_noise_interval: Some(Duration::from_secs(1)),
            ..Faults::default()
        });
        (0..50).map(|_| say(&mut e, "AT\r")).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

proptest! {
    #[test]
    fn never_panics_and_returns_to_command_mode(
        p in 0usize..7,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
    ) {
        let personality = ALL[p];
        let mut e = engine(personality);
        let _ = e.set_faults(Faults {
            garbage_rate: 0.2,
            urc_noise_interval: Some(Duration::from_secs(1)),
            ..Faults::default()
        });
        for c in &chunks {
            let _ = e.feed(c);
        }
        let _ = e.incoming(deliver("+1", "x"));
        // ESC leaves any prompt; CR ends any half line; then AT must answer.
        let _ = e.feed(b"\x1b\r");
        let _ = e.feed(b"ATE0\r");
        let got = say(&mut e, "AT\r");
        prop_assert!(got.ends_with("\r\nOK\r\n"), "{:?}", got);
    }

    #[test]
    fn arbitrary_command_lines_get_one_final_result(line in "AT[+^#!]?[A-Z0-9=?,\"*#;&]{0,30}") {
        let mut e = engine(Personality::Generic);
        say(&mut e, "ATE0\r");
        say(&mut e, "AT+CMEE=1\r");
        let got = say(&mut e, &format!("{line}\r"));
        let finals = ["\r\nOK\r\n", "\r\nERROR\r\n", "+CME ERROR:", "+CMS ERROR:", "\r\n> "];
        prop_assert!(finals.iter().any(|f| got.contains(f)), "{:?} -> {:?}", line, got);
        // Whatever state that left, ESC and a CR bring the modem back.
        let _ = e.feed(b"\x1b\r");
        prop_assert!(say(&mut e, "AT\r").ends_with("\r\nOK\r\n"));
    }
}

fn noisy(e: &mut Engine) {
    let _ = e.set_faults(Faults {
        // The timer is the driver task's business; inside answers the engine
        // sprinkles noise whenever an interval is set.
        urc_noise_interval: Some(Duration::from_secs(3600)),
        ..Faults::default()
    });
}

const NOISE: [&str; 9] = [
    "^SYSSTART",
    "^RSSI",
    "+CREG: 1",
    "RING",
    "+QIND",
    "^MODE",
    "^SRVST",
    "^BOOT",
    "^SIMST",
];

fn has_noise(s: &str) -> bool {
    NOISE.iter().any(|n| s.contains(n))
}

#[test]
fn noise_lands_between_echo_and_answer() {
    let mut e = engine(Personality::Huawei);
    noisy(&mut e);
    let mut seen = 0;
    for _ in 0..40 {
        let got = say(&mut e, "AT+CSQ\r");
        assert!(got.starts_with("AT+CSQ\r"), "echo first: {got:?}");
        assert!(got.ends_with("\r\n+CSQ: 20,99\r\n\r\nOK\r\n"), "{got:?}");
        let middle = &got["AT+CSQ\r".len()..got.len() - "\r\n+CSQ: 20,99\r\n\r\nOK\r\n".len()];
        if !middle.is_empty() {
            assert!(has_noise(middle), "{middle:?}");
            seen += 1;
        }
    }
    assert!(seen > 0, "some answers carry noise");
}

#[test]
fn noise_lands_inside_listings_and_around_the_prompt() {
    let mut e = engine(Personality::Quectel);
    say(&mut e, "ATE0\r");
    for i in 0..20 {
        let _ = e.incoming(deliver("+4930123456", &format!("m{i}")));
    }
    noisy(&mut e);
    let list = say(&mut e, "AT+CMGL=4\r");
    assert_eq!(list.matches("+CMGL: ").count(), 20);
    assert!(has_noise(&list), "{list:?}");
    assert!(list.ends_with("\r\n\r\nOK\r\n"));
    // Around +CMGS: after the prompt or before the result, on some tries.
    let (hex, len) = submit_x();
    let mut noisy_sends = 0;
    for _ in 0..20 {
        let prompt = say(&mut e, &format!("AT+CMGS={len}\r"));
        assert!(prompt.contains("\r\n> "), "{prompt:?}");
        let result = say(&mut e, &format!("{hex}\x1a"));
        assert!(result.contains("\r\n+CMGS: "), "{result:?}");
        if has_noise(&prompt) || has_noise(&result) {
            noisy_sends += 1;
        }
    }
    assert!(noisy_sends > 0);
}

#[test]
fn huawei_curc_0_silences_vendor_noise() {
    let mut e = engine(Personality::Huawei);
    say(&mut e, "ATE0\r");
    assert_eq!(say(&mut e, "AT^CURC=0\r"), "\r\nOK\r\n");
    let lines: Vec<String> = (0..50).map(|_| bytes(e.noise())).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l == "\r\n+CREG: 1\r\n" || l == "\r\nRING\r\n", "{l:?}");
    }
}

#[test]
fn text_mode_sends_in_each_character_set() {
    // (CSCS, DA as typed, body as typed, DA and text the network sees)
    let table: &[(&str, &str, &str, &str, &str)] = &[
        ("GSM", "+4930123", "Hello", "+4930123", "Hello"),
        (
            "UCS2",
            "002B0034003900330030",
            "004800690020263A",
            "+4930",
            "Hi ☺",
        ),
        ("HEX", "+4930", "486579", "+4930", "Hey"),
    ];
    assert!(!table.is_empty());
    for (cscs, da, body, want_to, want_text) in table {
        let mut e = engine(Personality::Generic);
        say(&mut e, "ATE0\r");
        say(&mut e, "AT+CMGF=1\r");
        if *cscs == "UCS2" {
            say(&mut e, "AT+CSMP=17,167,0,8\r");
        }
        assert_eq!(say(&mut e, &format!("AT+CSCS=\"{cscs}\"\r")), "\r\nOK\r\n");
        assert_eq!(say(&mut e, &format!("AT+CMGS=\"{da}\"\r")), "\r\n> ");
        let outs = e.feed(format!("{body}\x1a").as_bytes());
        let sent = outs.iter().find_map(|o| match o {
            Out::Transmit { submit, .. } => Some(submit.clone()),
            _ => None,
        });
        let sent = sent.unwrap_or_else(|| panic!("{cscs}: nothing sent: {outs:?}"));
        assert_eq!(sent.destination.to_string(), *want_to, "{cscs}");
        assert_eq!(super::network::text_of(&sent), *want_text, "{cscs}");
    }
}

#[test]
fn senders_and_text_mode_numbers_keep_their_type() {
    // (as written, TP-OA/DA octets): TOA 145 with `+`, 129 without, D0 for a name.
    let table: &[(&str, &str)] = &[
        ("+15551234567", "0B915155214365F7"),
        ("4930123456", "0A819403214365"),
        ("*100#", "05811A00FB"),
        ("InfoSMS", "0DD049B7F93D6D4E01"),
    ];
    assert!(!table.is_empty());
    for (number, want) in table {
        let mut out = Vec::new();
        super::network::address_of(number).encode_tp(&mut out);
        assert_eq!(codec::to_hex(&out), *want, "{number}");
    }
}

proptest! {
    /// The DELIVERs the network builds decode with the codec to the sender, the
    /// parts in order and the whole text.
    #[test]
    fn injected_parts_decode_to_the_text(text in "\\PC{0,400}", reference: u8) {
        let at = chrono::DateTime::parse_from_rfc3339("2024-01-31T23:59:58+01:00").expect("time");
        let parts = deliver_parts("+15550000001", &text, reference, at).expect("encodes");
        let total = parts.len();
        let mut joined = String::new();
        for (i, (tpdu, part_text)) in parts.iter().enumerate() {
            let mut pdu = smsc_prefix();
            pdu.extend(tpdu);
            let d = codec::decode(&pdu, Some(tpdu.len())).expect("decodes");
            let codec::Pdu::Deliver(d) = d.pdu else {
                return Err(TestCaseError::fail("not a DELIVER"));
            };
            prop_assert_eq!(d.originator.to_string(), "+15550000001");
            prop_assert_eq!(d.data.text(), Some(part_text.as_str()));
            prop_assert_eq!(d.scts.to_datetime(), Some(at));
            if total > 1 {
                let c = d.concat().expect("concat IE");
                prop_assert_eq!((c.reference, usize::from(c.total), usize::from(c.seq)), (u16::from(reference), total, i + 1));
            }
            joined.push_str(part_text);
        }
        prop_assert_eq!(joined, text);
    }
}

#[test]
fn verbose_errors_read_back_to_their_codes() {
    // Fault codes as `AT+CMEE=2` shows them; the daemon's table reads them back.
    let table: &[(u16, &str)] = &[
        (38, "network out of order"),
        (322, "memory full"),
        (500, "unknown error"),
        (999, "unknown error"),
    ];
    assert!(!table.is_empty());
    let (hex, len) = submit_x();
    for (code, text) in table {
        let mut e = engine(Personality::Generic);
        say(&mut e, "ATE0\r");
        say(&mut e, "AT+CMEE=2\r");
        let _ = e.set_faults(Faults {
            cms_error_rate: 1.0,
            cms_error_code: *code,
            ..Faults::default()
        });
        assert_eq!(say(&mut e, &format!("AT+CMGS={len}\r")), "\r\n> ");
        let got = say(&mut e, &format!("{hex}\x1a"));
        assert_eq!(got, format!("\r\n+CMS ERROR: {text}\r\n"), "{code}");
        let back = crate::at::CmsError::from_raw(text).code;
        // A code the table lacks shows as "unknown error", which reads as 500.
        let want = if *code == 999 { 500 } else { *code };
        assert_eq!(back, Some(want), "{code}");
    }
}

#[test]
fn commands_since_gives_the_lines_after_a_count() {
    // (lines fed, count taken after this many lines, lines expected after it)
    let table: &[(&[&str], usize, &[&str])] = &[
        (&["AT\r", "AT+CSQ\r"], 0, &["AT", "AT+CSQ"]),
        (&["AT\r", "AT+CSQ\r"], 1, &["AT+CSQ"]),
        (&["AT\r", "AT+CSQ\r"], 2, &[]),
        (
            &["ATE0\r", "AT+CMGF=0\r", "AT+CMGS=9\r"],
            1,
            &["AT+CMGF=0", "AT+CMGS=9"],
        ),
    ];
    assert!(!table.is_empty());
    for (lines, after, want) in table {
        let mut e = engine(Personality::Generic);
        let base = e.commands_total();
        let mut mark = base;
        for (i, l) in lines.iter().enumerate() {
            if i == *after {
                mark = e.commands_total();
            }
            let _ = e.feed(l.as_bytes());
        }
        if *after == lines.len() {
            mark = e.commands_total();
        }
        assert_eq!(e.commands_total(), base + lines.len() as u64, "{lines:?}");
        assert_eq!(e.commands_since(mark), *want, "{lines:?} after {after}");
    }
}

/// A modem without PDU mode: `AT+CMGF=0` refused, text-mode listings with
/// full headers in GSM and UCS2 (read back with the driver's own parser, so
/// the simulator and `at::text` agree), and a UCS-2 text send.
#[test]
fn text_only_modem() {
    use crate::at::text::{parse_text_listing, TextEntry};
    use crate::at::{Final, Response};
    use crate::codec::charset::Cscs;
    let mut spec = SimSpec::new("t", Personality::Quectel, "+15550001000");
    spec.faults.text_only = true;
    let mut e = Engine::new(spec, 1);
    let _ = e.boot();
    say(&mut e, "ATE0\r");
    assert_eq!(say(&mut e, "AT+CMGF=0\r"), "\r\n+CMS ERROR: 303\r\n");
    assert_eq!(say(&mut e, "AT+CMGF?\r"), "\r\n+CMGF: 1\r\n\r\nOK\r\n");
    assert_eq!(say(&mut e, "AT+CSDH=1\r"), "\r\nOK\r\n");
    let m = deliver("+4930123456", "hi");
    let scts = match &m.kind {
        IncomingKind::Deliver { scts, .. } => scts.clone(),
        IncomingKind::Report { .. } => String::new(),
    };
    let fo = m.tpdu.first().copied().unwrap_or_default();
    assert_eq!(bytes(e.incoming(m)), "\r\n+CMTI: \"SM\",1\r\n");
    assert_eq!(
        say(&mut e, "AT+CMGR=1\r"),
        format!("\r\n+CMGR: \"REC UNREAD\",\"+4930123456\",,\"{scts}\",145,{fo},0,0,\"+15559990000\",145,2\r\nhi\r\n\r\nOK\r\n")
    );
    e.incoming(deliver("+4930123456", "Привет"));
    assert_eq!(say(&mut e, "AT+CSCS=\"UCS2\"\r"), "\r\nOK\r\n");
    let listing = say(&mut e, "AT+CMGL=\"ALL\"\r");
    let r = Response {
        lines: listing
            .split("\r\n")
            .filter(|l| !l.is_empty() && *l != "OK")
            .map(str::to_string)
            .collect(),
        result: Final::Ok,
    };
    let (found, bad) = parse_text_listing(&r, "+CMGL:");
    assert!(bad.is_empty(), "{listing:?}");
    let texts: Vec<String> = found
        .iter()
        .map(|s| match &s.entry {
            TextEntry::Deliver(d) => {
                let p = d.to_pdu(Cscs::Ucs2).expect("pdu");
                match codec::decode(&p.bytes, Some(p.tpdu_len))
                    .expect("decodes")
                    .pdu
                {
                    codec::Pdu::Deliver(d) => {
                        format!("{} {}", d.originator, d.data.text().unwrap_or_default())
                    }
                    other => format!("{other:?}"),
                }
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        ["+4930123456 hi", "+4930123456 Привет"],
        "{listing:?}"
    );
    // A UCS-2 send: number and text in UTF-16 hex.
    assert_eq!(say(&mut e, "AT+CSMP=17,167,0,8\r"), "\r\nOK\r\n");
    let da = codec::to_hex(&crate::codec::ucs2::encode("+4930123456"));
    assert_eq!(say(&mut e, &format!("AT+CMGS=\"{da}\",145\r")), "\r\n> ");
    let text = codec::to_hex(&crate::codec::ucs2::encode("Привет"));
    let outs = e.feed(format!("{text}\x1a").as_bytes());
    let sent: Vec<String> = outs
        .iter()
        .filter_map(|o| match o {
            Out::Transmit { submit, .. } => Some(format!(
                "{} {}",
                submit.destination,
                super::network::text_of(submit)
            )),
            _ => None,
        })
        .collect();
    assert_eq!(sent, ["+4930123456 Привет"]);
    assert!(bytes(outs).contains("+CMGS: 0"));
}
