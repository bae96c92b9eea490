//! Tests of the PDU layer: the published and constructed vectors of
//! sms-spec.md §12, the six "bug cases" of crates-and-pty.md §1.3, truncation
//! errors, and property tests for round trips and "never panics".

#![allow(clippy::type_complexity)]

use super::*;
use crate::codec::{decode, decode_hex, encode_submit, from_hex, to_hex, InformationElement, Scts};
use proptest::prelude::*;

/// What a vector must decode to; `None` fields are not checked.
#[derive(Debug, Default)]
struct Want {
    kind: &'static str,
    smsc: Option<&'static str>,
    addr: &'static str,
    toa: u8,
    time: Option<&'static str>,
    text: Option<&'static str>,
    concat: Option<(u16, u8, u8)>,
    dcs: u8,
    /// SUBMIT: VP; STATUS-REPORT: (discharge time, status) in `extra`.
    vp: Option<Validity>,
    extra: Option<(&'static str, u8)>,
    flash: bool,
}

/// Decodes `hex` (with `tpdu_len`), checks it field by field against `want`,
/// then re-encodes it: the PDU must come back octet for octet.
fn check(name: &str, hex: &str, tpdu_len: Option<usize>, want: &Want) {
    let bytes = from_hex(hex).unwrap();
    let d = decode(&bytes, tpdu_len).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        d.smsc.as_ref().map(|a| a.to_string()).as_deref(),
        want.smsc,
        "{name} smsc"
    );
    let dump = d.to_string();
    assert!(dump.contains("Type: SMS-"), "{name}: {dump}");
    let (kind, addr, toa, time, text, concat, dcs, reencoded) = match &d.pdu {
        Pdu::Deliver(p) => {
            assert_eq!(p.is_flash(), want.flash, "{name} flash");
            (
                "deliver",
                p.originator.to_string(),
                p.originator.toa(),
                p.scts.to_datetime().map(|t| t.to_rfc3339()),
                p.data.text().map(str::to_string),
                p.concat().map(|c| (c.reference, c.total, c.seq)),
                p.dcs.0,
                p.encode(d.smsc.as_ref()),
            )
        }
        Pdu::Submit(p) => {
            assert_eq!(Some(p.validity), want.vp, "{name} vp");
            (
                "submit",
                p.destination.to_string(),
                p.destination.toa(),
                None,
                p.data.text().map(str::to_string),
                p.udh
                    .as_ref()
                    .and_then(|u| u.concat())
                    .map(|c| (c.reference, c.total, c.seq)),
                p.dcs.0,
                p.encode(d.smsc.as_ref()),
            )
        }
        Pdu::StatusReport(p) => {
            let (dt, st) = want.extra.expect("status report vectors give DT and ST");
            assert_eq!(
                p.discharge.to_datetime().map(|t| t.to_rfc3339()).as_deref(),
                Some(dt),
                "{name} DT"
            );
            assert_eq!(p.status, Status(st), "{name} ST");
            assert!(p.status.is_final());
            (
                "status-report",
                p.recipient.to_string(),
                p.recipient.toa(),
                p.scts.to_datetime().map(|t| t.to_rfc3339()),
                p.data.as_ref().and_then(|d| d.text()).map(str::to_string),
                None,
                p.dcs.map_or(0, |d| d.0),
                p.encode(d.smsc.as_ref()),
            )
        }
    };
    assert_eq!(kind, want.kind, "{name} kind");
    assert_eq!(addr, want.addr, "{name} address");
    assert_eq!(toa, want.toa, "{name} TOA");
    assert_eq!(time.as_deref(), want.time, "{name} time");
    assert_eq!(text.as_deref(), want.text, "{name} text");
    assert_eq!(concat, want.concat, "{name} concat");
    assert_eq!(dcs, want.dcs, "{name} DCS");
    // Re-encoding gives the same octets (with "00" when the modem gave no prefix).
    let expect = if tpdu_len == Some(bytes.len()) {
        [&[0u8][..], &bytes].concat()
    } else {
        bytes.clone()
    };
    assert_eq!(to_hex(&reencoded), to_hex(&expect), "{name} re-encode");
    // JSON works.
    assert!(serde_json::to_string(&d).is_ok());
}

const TS: &str = "99309251619580";

fn vectors() -> Vec<(&'static str, String, Option<usize>, Want)> {
    vec![
        (
            "P1 SUBMIT, AT+CMGS=23",
            "0011000B916407281553F80000AA0AE8329BFD4697D9EC37".into(),
            Some(23),
            Want {
                kind: "submit",
                addr: "+46708251358",
                toa: 0x91,
                text: Some("hellohello"),
                vp: Some(Validity::Relative(0xAA)),
                ..Want::default()
            },
        ),
        (
            "P2 DELIVER, TOA C8 (bug case 1), TZ +02:00",
            "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+27381000015"),
                addr: "27838890001",
                toa: 0xC8,
                time: Some("1999-03-29T15:16:59+02:00"),
                text: Some("hellohello"),
                ..Want::default()
            },
        ),
        (
            "P3 DELIVER, TZ 08 = -00",
            "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+31624000000"),
                addr: "+31641600986",
                toa: 0x91,
                time: Some("2002-08-26T19:37:41+00:00"),
                text: Some("How are you?"),
                ..Want::default()
            },
        ),
        (
            "P4 STATUS-REPORT without SCA (+CDS: 25)",
            "06000B910221815716F2709021510121807090215101718000".into(),
            Some(25),
            Want {
                kind: "status-report",
                addr: "+20121875612",
                toa: 0x91,
                time: Some("2007-09-12T15:10:12+02:00"),
                extra: Some(("2007-09-12T15:10:17+02:00", 0x00)),
                ..Want::default()
            },
        ),
        (
            "P5 SUBMIT UCS-2 with SMSC, AT+CMGS=23",
            "0891683108705505F001000B813124819396F300080A00680065006C006C006F".into(),
            Some(23),
            Want {
                kind: "submit",
                smsc: Some("+8613800755500"),
                addr: "13421839693",
                toa: 0x81,
                text: Some("hello"),
                dcs: 0x08,
                vp: Some(Validity::None),
                ..Want::default()
            },
        ),
        (
            "P5 SUBMIT UCS-2 without SMSC, AT+CMGS=23",
            "0001000B813124819396F300080A00680065006C006C006F".into(),
            Some(23),
            Want {
                kind: "submit",
                addr: "13421839693",
                toa: 0x81,
                text: Some("hello"),
                dcs: 0x08,
                vp: Some(Validity::None),
                ..Want::default()
            },
        ),
        (
            "P6 alphanumeric OA 20 semi-octets, in a DELIVER",
            format!("0004{}0000{TS}00", "14D032584C4683DD7239580C"),
            None,
            Want {
                kind: "deliver",
                addr: "20124079901",
                toa: 0xD0,
                time: Some("1999-03-29T15:16:59+02:00"),
                text: Some(""),
                ..Want::default()
            },
        ),
        (
            "P7 UDH reply address, 3 fill bits, in a DELIVER",
            format!("0044{}0000{TS}{}", "0B915155214365F7", "190A22080B912143658709F180B2CBE17919242FC3D979"),
            None,
            Want {
                kind: "deliver",
                addr: "+15551234567",
                toa: 0x91,
                time: Some("1999-03-29T15:16:59+02:00"),
                text: Some("Please reply"),
                ..Want::default()
            },
        ),
        (
            "P8 packing 'Hello world', in a DELIVER",
            format!("0004{}0000{TS}0B{}", "0B915155214365F7", "C8329BFD06DDDF723619"),
            None,
            Want {
                kind: "deliver",
                addr: "+15551234567",
                toa: 0x91,
                time: Some("1999-03-29T15:16:59+02:00"),
                text: Some("Hello world"),
                ..Want::default()
            },
        ),
        (
            "V1 SUBMIT SRR + VP 24 h, escapes, AT+CMGS=29",
            "0031000B915155214365F70000A71150797A5CD6816A9B3268C37BAF373E".into(),
            Some(29),
            Want {
                kind: "submit",
                addr: "+15551234567",
                toa: 0x91,
                text: Some("Price: 5€ [ok]"),
                vp: Some(Validity::Relative(0xA7)),
                ..Want::default()
            },
        ),
        (
            "V2 DELIVER 8-bit concat, 1 fill bit (bug case 2)",
            "0791447758100650440B915155214365F700004210133295854012050003420201906536FB0DBABFE56C32".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+447785016005"),
                addr: "+15551234567",
                toa: 0x91,
                time: Some("2024-01-31T23:59:58+01:00"),
                text: Some("Hello world"),
                concat: Some((0x42, 2, 1)),
                ..Want::default()
            },
        ),
        (
            "V3 DELIVER 16-bit concat, 0 fill bits (bug case 3)",
            "0791447758100650440B915155214365F70000421013329585401306080412340201C8329BFD06DDDF723619".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+447785016005"),
                addr: "+15551234567",
                toa: 0x91,
                time: Some("2024-01-31T23:59:58+01:00"),
                text: Some("Hello world"),
                concat: Some((0x1234, 2, 1)),
                ..Want::default()
            },
        ),
        (
            "V4 DELIVER UCS-2 surrogate pair (bug case 4)",
            "0791447758100650040B915155214365F70008421013329585400A004800690020D83DDE00".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+447785016005"),
                addr: "+15551234567",
                toa: 0x91,
                time: Some("2024-01-31T23:59:58+01:00"),
                text: Some("Hi 😀"),
                dcs: 0x08,
                ..Want::default()
            },
        ),
        (
            "V5 DELIVER alphanumeric OA, TZ -05:00 (bug case 5)",
            "0791447758100650040DD049B7F93D6D4E0100004230108000000A11D9775D0E1ABFC965507A0E8AC96634".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+447785016005"),
                addr: "InfoSMS",
                toa: 0xD0,
                time: Some("2024-03-01T08:00:00-05:00"),
                text: Some("Your code is 1234"),
                ..Want::default()
            },
        ),
        (
            "V6 DELIVER class 0 flash (bug case 6)",
            "0791447758100650040B915155214365F7001042101332958540064676788E0E01".into(),
            None,
            Want {
                kind: "deliver",
                smsc: Some("+447785016005"),
                addr: "+15551234567",
                toa: 0x91,
                time: Some("2024-01-31T23:59:58+01:00"),
                text: Some("Flash!"),
                dcs: 0x10,
                flash: true,
                ..Want::default()
            },
        ),
    ]
}

#[test]
fn spec_vectors() {
    let table = vectors();
    assert!(!table.is_empty());
    for (name, hex, len, want) in &table {
        check(name, hex, *len, want);
    }
}

/// The SUBMIT vectors come out of `encode_submit` exactly, with their AT+CMGS length.
#[test]
fn submit_vectors_from_encode_submit() {
    let p1 = SubmitOptions {
        validity: Validity::Relative(0xAA),
        ..SubmitOptions::default()
    };
    let p5 = SubmitOptions {
        force_ucs2: true,
        ..SubmitOptions::default()
    };
    let p5s = SubmitOptions {
        smsc: Some(Address::parse("+8613800755500").unwrap()),
        ..p5.clone()
    };
    let v1 = SubmitOptions {
        status_report: true,
        validity: Validity::relative_from(std::time::Duration::from_secs(24 * 3600)),
        ..SubmitOptions::default()
    };
    let national = Address {
        ton: 0,
        npi: 1,
        value: "13421839693".into(),
    };
    let cases: &[(&str, Address, &str, &SubmitOptions, &str, usize)] = &[
        (
            "P1",
            Address::parse("+46708251358").unwrap(),
            "hellohello",
            &p1,
            "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
            23,
        ),
        (
            "P5",
            national.clone(),
            "hello",
            &p5,
            "0001000B813124819396F300080A00680065006C006C006F",
            23,
        ),
        (
            "P5+SMSC",
            national,
            "hello",
            &p5s,
            "0891683108705505F001000B813124819396F300080A00680065006C006C006F",
            23,
        ),
        (
            "V1",
            Address::parse("+15551234567").unwrap(),
            "Price: 5€ [ok]",
            &v1,
            "0031000B915155214365F70000A71150797A5CD6816A9B3268C37BAF373E",
            29,
        ),
    ];
    assert!(!cases.is_empty());
    for (name, to, text, opts, hex, len) in cases {
        let parts = encode_submit(to, text, opts).unwrap();
        assert_eq!(parts.len(), 1, "{name}");
        assert_eq!(parts[0].hex(), *hex, "{name}");
        assert_eq!(parts[0].tpdu_len, *len, "{name}");
        assert_eq!((parts[0].seq, parts[0].total), (1, 1));
    }
}

#[test]
fn flash_and_multipart_headers() {
    let to = Address::parse("+15551234567").unwrap();
    let opts = SubmitOptions {
        flash: true,
        ..SubmitOptions::default()
    };
    let p = encode_submit(&to, "Flash!", &opts).unwrap();
    let Pdu::Submit(s) = decode(&p[0].bytes, None).unwrap().pdu else {
        panic!("not a submit")
    };
    assert_eq!(s.dcs, Dcs(0x10));
    let p = encode_submit(&to, "😀", &opts).unwrap();
    let Pdu::Submit(s) = decode(&p[0].bytes, None).unwrap().pdu else {
        panic!("not a submit")
    };
    assert_eq!(s.dcs, Dcs(0x18));

    // 161 septets: two parts, 8-bit reference, UDH first in order.
    let text = "a".repeat(161);
    for (ref16, udh_hex) in [(false, "050003"), (true, "0608041234")] {
        let opts = SubmitOptions {
            concat_ref: 0x1234,
            ref16,
            ..SubmitOptions::default()
        };
        let parts = encode_submit(&to, &text, &opts).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(crate::codec::count_parts(&text, &opts).unwrap(), 2);
        let hex = parts[0].hex();
        assert!(hex.contains(udh_hex), "{hex}");
        assert_eq!(&hex[2..4], "41", "UDHI set, VP none");
    }
}

#[test]
fn truncated_pdus_name_field_and_offset() {
    // P2 cut at various lengths: (octets kept, field, offset).
    let p2 = from_hex("07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37")
        .unwrap();
    let cases: &[(usize, &str, usize)] = &[
        (0, "SMSC length", 0),
        (3, "SMSC address", 2),
        (8, "TP-MTI", 8),
        (10, "TP-OA", 10),
        (12, "TP-OA", 11),
        (17, "TP-PID", 17),
        (18, "TP-DCS", 18),
        (20, "TP-SCTS", 19),
        (26, "TP-UDL", 26),
        (30, "TP-UD", 27),
    ];
    assert!(!cases.is_empty());
    for (keep, field, offset) in cases {
        let err = decode(&p2[..*keep], None).unwrap_err();
        assert_eq!(
            err,
            CodecError::Truncated {
                field,
                offset: *offset
            },
            "cut at {keep}"
        );
        assert!(err.to_string().contains(field));
    }
    // Every strict prefix of every full vector fails cleanly or decodes (status
    // report optional fields), never panics.
    for (_, hex, _, _) in vectors() {
        let b = from_hex(&hex).unwrap();
        for n in 0..b.len() {
            let _ = decode(&b[..n], None);
            let _ = decode(&b[..n], Some(n));
        }
    }
}

#[test]
fn other_errors() {
    let cases: &[(&str, Option<usize>, CodecError)] = &[
        // MTI 11
        (
            "03",
            Some(1),
            CodecError::Invalid {
                field: "TP-MTI",
                offset: 0,
                reason: "reserved message type 11".into(),
            },
        ),
        // SMSC length octet disagrees with <length>
        (
            "0500",
            Some(1),
            CodecError::LengthMismatch {
                tpdu_len: 1,
                total: 2,
                smsc_len: 1,
            },
        ),
        (
            "00",
            Some(5),
            CodecError::LengthMismatch {
                tpdu_len: 5,
                total: 1,
                smsc_len: 0,
            },
        ),
        // UDL smaller than the header septets
        (
            "00440B915155214365F700004210133295854006050003420201",
            None,
            CodecError::Invalid {
                field: "TP-UDL",
                offset: 19,
                reason: "6 septets cannot hold a 6-octet header".into(),
            },
        ),
        // UDL too short for the UDHL it announces
        (
            "00440B915155214365F700004210133295854001050003420201",
            None,
            CodecError::Truncated {
                field: "TP-UDH",
                offset: 21,
            },
        ),
    ];
    assert!(!cases.is_empty());
    for (hex, len, want) in cases {
        assert_eq!(decode_hex(hex, *len).unwrap_err(), *want, "{hex}");
    }
}

#[test]
fn compressed_and_eight_bit_are_binary() {
    // DCS 0x24: compressed 8-bit → raw bytes; DCS 0x04 8-bit.
    for dcs in ["24", "04", "F4"] {
        let hex = format!("00040B915155214365F700{dcs}{TS}03C0FFEE");
        let d = decode_hex(&hex, None).unwrap();
        let Pdu::Deliver(p) = d.pdu else { panic!() };
        assert_eq!(p.data, UserData::Binary(vec![0xC0, 0xFF, 0xEE]), "{dcs}");
    }
}

#[test]
fn validity_tables() {
    let cases: &[(u64, u8)] = &[
        (0, 0),
        (299, 0),
        (300, 0),
        (600, 1),
        (12 * 3600, 143),
        (24 * 3600, 167),
        (4 * 86400, 170),
        (30 * 86400, 196),
        (35 * 86400, 197),
        (63 * 7 * 86400, 255),
        (100 * 7 * 86400, 255),
        (30 * 60 + 59, 5),
    ];
    assert!(!cases.is_empty());
    for (secs, v) in cases {
        assert_eq!(
            Validity::relative_from(std::time::Duration::from_secs(*secs)),
            Validity::Relative(*v),
            "{secs}s"
        );
    }
}

#[test]
fn status_classes() {
    let cases: &[(u8, StatusClass, bool)] = &[
        (0x00, StatusClass::Delivered, true),
        (0x1F, StatusClass::Delivered, true),
        (0x20, StatusClass::Pending, false),
        (0x3F, StatusClass::Pending, false),
        (0x46, StatusClass::Failed, true),
        (0x60, StatusClass::FailedTemporary, true),
        (0x80, StatusClass::Unknown, true),
        (0xFF, StatusClass::Unknown, true),
    ];
    assert!(!cases.is_empty());
    for (st, class, fin) in cases {
        assert_eq!(
            (Status(*st).class(), Status(*st).is_final()),
            (*class, *fin),
            "{st:#x}"
        );
    }
    assert_eq!(Status(0x46).description(), "validity period expired");
}

#[test]
fn status_report_with_optional_fields() {
    // P4 plus PI 0x07: PID 00, DCS 00, UDL 2 "Hi"; and PI 0x04 only (DCS assumed 0).
    let cases: &[(&str, Option<&str>)] = &[
        (
            "06000B910221815716F270902151012180709021510171800007000002C834",
            Some("Hi"),
        ),
        (
            "06000B910221815716F27090215101218070902151017180000402C834",
            Some("Hi"),
        ),
        ("06000B910221815716F2709021510121807090215101718000F8", None),
    ];
    assert!(!cases.is_empty());
    // A broken optional tail (PI announces PID, DCS and UD; none follow, or
    // the UD is short) still gives the report, without the optional fields.
    for tail in ["07", "0700", "07000005C8"] {
        let hex = format!("06000B910221815716F2709021510121807090215101718000{tail}");
        let bytes = from_hex(&format!("00{hex}")).unwrap();
        let Pdu::StatusReport(s) = decode(&bytes, None).unwrap().pdu else {
            panic!()
        };
        assert_eq!(
            (s.status, s.pi, s.pid, s.data),
            (Status(0), Some(0x07), None, None),
            "{tail}"
        );
    }
    for (hex, text) in cases {
        let bytes = from_hex(hex).unwrap();
        let d = decode(&bytes, Some(bytes.len())).unwrap();
        let Pdu::StatusReport(s) = &d.pdu else {
            panic!()
        };
        assert_eq!(s.data.as_ref().and_then(|d| d.text()), *text, "{hex}");
        assert_eq!(to_hex(&s.encode(None)[1..]), *hex, "{hex}");
    }
}

// ---- property tests ----

const GSM_CHARS: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\u{0c}";

fn gsm_text(max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = GSM_CHARS.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(|v| v.into_iter().collect())
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        ("[0-9*#]{1,20}", 0u8..8, 0u8..16).prop_filter_map("not alphanumeric", |(v, ton, npi)| {
            (ton != 5).then_some(Address { ton, npi, value: v })
        }),
        gsm_text(8).prop_map(|t| Address {
            ton: 5,
            npi: 0,
            value: t
        }),
    ]
}

fn udh() -> impl Strategy<Value = Option<Udh>> {
    prop::option::of(
        prop::collection::vec(
            (
                any::<u8>().prop_filter("no national tables", |i| *i != 0x24 && *i != 0x25),
                prop::collection::vec(any::<u8>(), 0..6),
            )
                .prop_map(|(iei, data)| InformationElement { iei, data }),
            0..3,
        )
        .prop_map(|elements| Udh { elements }),
    )
}

fn dcs_and_data() -> impl Strategy<Value = (Dcs, UserData)> {
    prop::sample::select(vec![
        0x00u8, 0x04, 0x08, 0x0C, 0x10, 0x11, 0x18, 0x20, 0x24, 0x48, 0x80, 0xC8, 0xD1, 0xE2, 0xF0,
        0xF4, 0xF7,
    ])
    .prop_flat_map(|d| {
        let dcs = Dcs(d);
        let data: BoxedStrategy<UserData> = match (dcs.effective_alphabet(), dcs.compressed()) {
            (_, true) | (crate::codec::dcs::Alphabet::Eight, _) => {
                prop::collection::vec(any::<u8>(), 0..100)
                    .prop_map(UserData::Binary)
                    .boxed()
            }
            (crate::codec::dcs::Alphabet::Ucs2, _) => ".{0,40}".prop_map(UserData::Text).boxed(),
            // at most 100 characters: 200 septets + a 22-octet UDH fit TP-UDL
            _ => gsm_text(100).prop_map(UserData::Text).boxed(),
        };
        (Just(dcs), data)
    })
}

fn scts() -> impl Strategy<Value = Scts> {
    prop::array::uniform7(any::<u8>()).prop_map(Scts::from_raw)
}

prop_compose! {
    fn deliver()(flags in any::<[bool; 4]>(), originator in address(), pid in any::<u8>(),
                 (dcs, data) in dcs_and_data(), scts in scts(), udh in udh()) -> Deliver {
        Deliver { more_messages: flags[0], loop_prevention: flags[1],
                  status_report_indication: flags[2], reply_path: flags[3],
                  originator, pid, dcs, scts, udh, data }
    }
}

prop_compose! {
    fn status_report()(flags in any::<[bool; 3]>(), mr in any::<u8>(), recipient in address(),
                       scts in scts(), discharge in scts(), st in any::<u8>(),
                       pi_upper in prop::option::of(any::<u8>()), pid in prop::option::of(any::<u8>()),
                       has_dcs in any::<bool>(), (dcs, data) in dcs_and_data(),
                       has_data in any::<bool>(), udh in udh()) -> StatusReport {
        let dcs_field = has_dcs.then_some(dcs);
        // Without a DCS the data is read as GSM-7.
        let data = if !has_data { None } else if has_dcs { Some(data) } else {
            Some(UserData::Text("no DCS given".into()))
        };
        let present = u8::from(pid.is_some()) | u8::from(dcs_field.is_some()) << 1
            | u8::from(data.is_some()) << 2;
        let pi = if pi_upper.is_some() || present != 0 {
            Some(pi_upper.unwrap_or(0) & !0x07 | present)
        } else { None };
        StatusReport { more_messages: flags[0], loop_prevention: flags[1], qualifier: flags[2],
            mr, recipient, scts, discharge, status: Status(st), pi, pid, dcs: dcs_field,
            udh: if data.is_some() { udh } else { None }, data }
    }
}

fn smsc() -> impl Strategy<Value = Option<Address>> {
    prop::option::of("[0-9]{1,18}".prop_map(|v| Address {
        ton: 1,
        npi: 1,
        value: v,
    }))
}

proptest! {
    // Deterministic runs: a fixed seed, no regression files.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7064_755F),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn deliver_round_trip(d in deliver(), smsc in smsc()) {
        let bytes = d.encode(smsc.as_ref());
        let got = decode(&bytes, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.smsc, smsc);
        prop_assert_eq!(got.pdu, Pdu::Deliver(d));
    }

    #[test]
    fn status_report_round_trip(s in status_report(), smsc in smsc()) {
        let bytes = s.encode(smsc.as_ref());
        let got = decode(&bytes, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.smsc, smsc);
        prop_assert_eq!(got.pdu, Pdu::StatusReport(s));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200),
                           len in prop::option::of(0usize..220)) {
        if let Ok(d) = decode(&bytes, len) {
            let _ = d.to_string();
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_vectors(i in 0usize..15, pos in any::<prop::sample::Index>(),
                                               val in any::<u8>()) {
        let v = vectors();
        let mut b = from_hex(&v[i % v.len()].1).unwrap();
        let p = pos.index(b.len());
        b[p] = val;
        if let Ok(d) = decode(&b, None) {
            let _ = d.to_string();
        }
    }

    #[test]
    fn submit_split_reassemble(text in prop_oneof![".{0,400}", gsm_text(500), "[ŞşĞğİıÇçÖöÜüáéíóúãõâêôà€\\[ a-z]{0,400}"],
                               languages in prop::sample::subsequence(vec![1u8, 2, 3, 6], 0..=4),
                               ref16 in any::<bool>(), force_ucs2 in any::<bool>(),
                               reference in any::<u16>(), smsc in smsc()) {
        let to = Address::parse("+15551234567").unwrap();
        let opts = SubmitOptions { ref16, force_ucs2, concat_ref: reference, smsc: smsc.clone(), languages,
                                   ..SubmitOptions::default() };
        let parts = encode_submit(&to, &text, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parts.len(), crate::codec::count_parts(&text, &opts).unwrap());
        let mut out = String::new();
        for (i, p) in parts.iter().enumerate() {
            prop_assert_eq!(usize::from(p.seq), i + 1);
            prop_assert_eq!(usize::from(p.total), parts.len());
            let d = decode(&p.bytes, Some(p.tpdu_len)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&d.smsc, &smsc);
            let Pdu::Submit(s) = d.pdu else { return Err(TestCaseError::fail("not a submit")) };
            prop_assert_eq!(&s.destination, &to);
            // 140 octets of TP-UD at most: the UD starts after UDL.
            // FO, MR, DA (2 + 6), PID, DCS, UDL come first.
            let ud_len = p.tpdu_len - 13;
            prop_assert!(ud_len <= 140, "UD {} octets", ud_len);
            if parts.len() > 1 {
                let c = s.udh.as_ref().and_then(|u| u.concat()).expect("concat header");
                prop_assert_eq!(c.seq as usize, i + 1);
                prop_assert_eq!(c.ref16, ref16);
                prop_assert_eq!(c.reference, if ref16 { reference } else { reference & 0xFF });
            }
            out.push_str(s.data.text().expect("text"));
        }
        prop_assert_eq!(out, text);
    }
}

/// National language shift tables: the UDH carries concat first, then 0x24,
/// then 0x25, and the receiver side decodes with those tables.
#[test]
fn national_language_headers() {
    let to = Address::parse("+905551234567").unwrap();
    // (languages, text, whether a part needs a national IE)
    let cases: &[(&[u8], &str, bool)] = &[
        (&[1], "Şişli'de buluşalım, ğüç ıİ", true),
        (&[1], "plain ASCII needs no table", false),
        (&[2], "¿Qué tal? Ç ç á í ó ú", true),
        (&[3], "Olá, você está aí? ção", true),
    ];
    assert!(!cases.is_empty());
    for (langs, text, national) in cases {
        for long in [false, true] {
            let text = if long {
                text.repeat(12)
            } else {
                text.to_string()
            };
            let opts = SubmitOptions {
                languages: langs.to_vec(),
                concat_ref: 7,
                ..SubmitOptions::default()
            };
            let parts = encode_submit(&to, &text, &opts).unwrap();
            let mut out = String::new();
            for p in &parts {
                let Pdu::Submit(s) = decode(&p.bytes, Some(p.tpdu_len)).unwrap().pdu else {
                    panic!("not a submit")
                };
                let ieis: Vec<u8> = s
                    .udh
                    .as_ref()
                    .map(|u| u.elements.iter().map(|e| e.iei).collect())
                    .unwrap_or_default();
                let concat: Vec<u8> = if parts.len() > 1 { vec![0x00] } else { vec![] };
                let nat: Vec<u8> = ieis
                    .iter()
                    .copied()
                    .filter(|i| *i == 0x24 || *i == 0x25)
                    .collect();
                assert_eq!(ieis, [concat, nat.clone()].concat(), "{text:?}: IE order");
                assert_eq!(!nat.is_empty(), *national, "{text:?}: {ieis:?}");
                if s.dcs == Dcs(0x00) {
                    assert!(nat.windows(2).all(|w| w[0] < w[1]), "0x24 before 0x25");
                }
                out.push_str(s.data.text().unwrap());
            }
            assert_eq!(out, text);
        }
    }
}

/// The receive-side accessors: type 0, replace types, flash and MWI.
#[test]
fn deliver_accessors() {
    use crate::codec::dcs::{Mwi, MwiKind};
    // (PID, DCS, is_type0, replace_type, is_flash, mwi)
    let cases: &[(u8, u8, bool, Option<u8>, bool, Option<Mwi>)] = &[
        (0x00, 0x00, false, None, false, None),
        (0x40, 0x00, true, None, false, None),
        (0x41, 0x00, false, Some(1), false, None),
        (0x47, 0x00, false, Some(7), false, None),
        (0x48, 0x00, false, None, false, None),
        (0x00, 0x10, false, None, true, None),
        (0x00, 0xF0, false, None, true, None),
        (
            0x00,
            0xC8,
            false,
            None,
            false,
            Some(Mwi {
                active: true,
                kind: MwiKind::Voicemail,
                store: false,
            }),
        ),
        (
            0x00,
            0xD0,
            false,
            None,
            false,
            Some(Mwi {
                active: false,
                kind: MwiKind::Voicemail,
                store: true,
            }),
        ),
    ];
    assert!(!cases.is_empty());
    for (pid, dcs, type0, replace, flash, mwi) in cases {
        let hex = format!("00040B915155214365F7{pid:02X}{dcs:02X}{TS}064676788E0E01");
        let Pdu::Deliver(d) = decode_hex(&hex, None).unwrap().pdu else {
            panic!()
        };
        assert_eq!(
            (d.is_type0(), d.replace_type(), d.is_flash(), d.mwi()),
            (*type0, *replace, *flash, *mwi),
            "PID {pid:#04x} DCS {dcs:#04x}"
        );
        assert_eq!(d.data.text(), Some("Flash!"));
        let dump = d.to_string();
        for field in [
            "From: +15551234567",
            "PID: ",
            "DCS: ",
            "Sent: 1999-03-29T15:16:59+02:00",
            "\"Flash!\"",
        ] {
            assert!(dump.contains(field), "{field} not in {dump}");
        }
    }
}

/// A DELIVER from a fixed head, `dcs`, and TP-UDL/TP-UD as given.
fn deliver_with_ud(dcs: u8, udl: usize, ud: &[u8]) -> Vec<u8> {
    let mut b = from_hex("00040B915155214365F700").unwrap();
    b.push(dcs);
    b.extend_from_slice(&from_hex("42101332958540").unwrap());
    b.push(u8::try_from(udl).unwrap());
    b.extend_from_slice(ud);
    b
}

fn gsm7_deliver(septets: &[u8]) -> Vec<u8> {
    deliver_with_ud(0x00, septets.len(), &crate::codec::gsm7::pack(septets, 0))
}

#[test]
fn user_data_that_is_not_lossless_text_keeps_its_units() {
    // (PDU, the text read, whether the units are kept beside it)
    let cases: Vec<(Vec<u8>, &str, bool)> = vec![
        (gsm7_deliver(&[0x41, 0x42]), "AB", false),
        (gsm7_deliver(&[0x1B, 0x65]), "€", false),
        // ESC before a septet with no extension character: read as the base one.
        (gsm7_deliver(&[0x1B, 0x41]), "A", true),
        // ESC as the last septet, and ESC ESC.
        (gsm7_deliver(&[0x41, 0x1B]), "A ", true),
        (gsm7_deliver(&[0x1B, 0x1B, 0x41]), " A", true),
        (
            deliver_with_ud(0x08, 4, &[0x00, 0x48, 0x00, 0x69]),
            "Hi",
            false,
        ),
        // A lone high surrogate, a lone low one, an odd trailing octet.
        (
            deliver_with_ud(0x08, 4, &[0xD8, 0x3D, 0x00, 0x41]),
            "\u{FFFD}A",
            true,
        ),
        (deliver_with_ud(0x08, 2, &[0xDE, 0x00]), "\u{FFFD}", true),
        (
            deliver_with_ud(0x08, 3, &[0x00, 0x48, 0x00]),
            "H\u{FFFD}",
            true,
        ),
    ];
    for (bytes, text, kept) in cases {
        let d = decode(&bytes, None).unwrap();
        let Pdu::Deliver(del) = &d.pdu else {
            panic!("not a deliver")
        };
        assert_eq!(del.data.text(), Some(text), "{}", to_hex(&bytes));
        assert_eq!(
            matches!(del.data, UserData::Lossy { .. }),
            kept,
            "{}: {:?}",
            to_hex(&bytes),
            del.data
        );
        assert_eq!(
            to_hex(&del.encode(None)),
            to_hex(&bytes),
            "round trip of {:?}",
            del.data
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7261_7775),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any septets (GSM-7) or octets (UCS-2) as user data: decode then
    /// encode gives the PDU back, octet for octet.
    #[test]
    fn any_user_data_round_trips(
        septets in prop::collection::vec(0u8..0x80, 0..160),
        octets in prop::collection::vec(any::<u8>(), 0..140),
        ucs2 in any::<bool>(),
    ) {
        let bytes = if ucs2 {
            deliver_with_ud(0x08, octets.len(), &octets)
        } else {
            gsm7_deliver(&septets)
        };
        let d = decode(&bytes, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Pdu::Deliver(del) = d.pdu else { return Err(TestCaseError::fail("not a deliver")) };
        prop_assert_eq!(to_hex(&del.encode(None)), to_hex(&bytes));
    }
}
