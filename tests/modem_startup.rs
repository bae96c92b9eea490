//! Start-up transcripts of each vendor family over a real pty, then a send;
//! PIN handling; send error classification; text mode (auto and forced:
//! start-up, listings, URCs, sends); USSD.

mod modem_support;

use modem_support::*;
use smsgate::at::{encode_hex, ussd};
use smsgate::codec::{Address, Pdu, SubmitOptions};
use smsgate::modem::{ErrorClass, ModemEvent, ModemState, SendRequest};
use std::time::Duration;

fn pdu_req() -> SendRequest {
    SendRequest::Pdu {
        pdu: smsgate::codec::hex::decode(P1_SUBMIT).expect("hex"),
        tpdu_len: 23,
    }
}

/// Lines as each family prints them at boot and in its identity answers
/// (from vendor AT manuals and user logs: Huawei `^RSSI`/`^BOOT`/`^MODE`,
/// SIMCom `RDY`/`SMS Ready`, Quectel `+QIND`/`+QUSIM`, ZTE `+ZUSIMR`/`+ZPASR`,
/// Telit `#QSS`, Wavecom `+WIND`).
const VENDORS: &[Vendor] = &[
    Vendor {
        cgmi: "huawei",
        cgmm: "E173",
        cgmr: "11.126.85.00.209",
        iccid_cmd: "AT^ICCID?",
        iccid_answer: "^ICCID: 98440110062853428172",
        init: &["AT^CURC=0"],
        chatter: &[
            "^RSSI:17",
            "^BOOT:20657725,0,0,0,72",
            "^MODE:5,4",
            "^SRVST:2",
        ],
        cmgl_hangs: true,
    },
    Vendor {
        cgmi: "SIMCOM_Ltd",
        cgmm: "SIMCOM_SIM800L",
        cgmr: "Revision:1418B05SIM800L24",
        iccid_cmd: "AT+CCID",
        iccid_answer: "89441000301641313004",
        init: &[],
        chatter: &["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"],
        cmgl_hangs: false,
    },
    Vendor {
        cgmi: "Quectel",
        cgmm: "EC25",
        cgmr: "EC25EFAR06A06M4G",
        iccid_cmd: "AT+QCCID",
        iccid_answer: "+QCCID: 89860318740201394565",
        init: &[],
        chatter: &["RDY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"],
        cmgl_hangs: false,
    },
    Vendor {
        cgmi: "ZTE INCORPORATED",
        cgmm: "MF190",
        cgmr: "BD_MF190V1.0.0B04",
        iccid_cmd: "AT+ZGETICCID",
        iccid_answer: "+ZGETICCID: 89860318740201394565",
        init: &[],
        chatter: &["+ZUSIMR:2", "+ZPASR: \"UMTS\""],
        cmgl_hangs: false,
    },
    Vendor {
        cgmi: "Telit",
        cgmm: "LE910C1-EU",
        cgmr: "25.21.660",
        iccid_cmd: "AT#CCID",
        iccid_answer: "#CCID: 89390100001234567890",
        init: &[],
        chatter: &["#QSS: 1"],
        cmgl_hangs: false,
    },
    Vendor {
        cgmi: "WAVECOM MODEM",
        cgmm: "MULTIBAND  900E  1800",
        cgmr: "R7.46.0.201108091301.FXT009",
        iccid_cmd: "AT+CCID",
        iccid_answer: "+CCID: \"89330126239181282150\"",
        init: &["AT+WIND=0"],
        chatter: &["+WIND: 1", "+WIND: 4", "+PACSP1"],
        cmgl_hangs: false,
    },
    GENERIC,
];

async fn check_vendor(v: &Vendor) {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    // One stored message waits on the SIM; the sweep finds it.
    let index = if v.cmgl_hangs { 0 } else { 1 };
    startup(&mut peer, v, &[(index, P2_DELIVER)]).await;
    let st = d.wait_state(|s| *s == ModemState::Ready).await;
    assert_eq!(st.manufacturer.as_deref(), Some(v.cgmi), "{}", v.cgmi);
    assert_eq!(st.model.as_deref(), Some(v.cgmm));
    assert_eq!(st.imei.as_deref(), Some("356938035643809"));
    assert_eq!(st.imsi.as_deref(), Some("234150123456789"));
    assert!(
        st.iccid
            .as_deref()
            .is_some_and(|i| i.starts_with("89") || i.starts_with("98")),
        "{:?}",
        st.iccid
    );
    assert_eq!(st.smsc.as_deref(), Some("+447785016005"));
    assert_eq!(st.signal, Some(21));
    assert_eq!(st.operator.as_deref(), Some("Vodafone UK"));
    assert_eq!(st.registration.as_ref().map(|r| r.stat), Some(1));
    match d.next_pdu().await {
        smsgate::modem::ModemEvent::Pdu {
            location,
            pdu,
            report,
            ..
        } => {
            let loc = location.expect("stored");
            assert_eq!(
                (loc.mem.as_str(), loc.index, loc.routed),
                ("SM", index, false)
            );
            assert_eq!(encode_hex(&pdu), P2_DELIVER);
            assert!(!report);
        }
        other => panic!("{other:?}"),
    }
    // And it sends.
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(pdu_req()).await });
    peer.expect("AT+CMGS=23").await;
    peer.say("\r\n> ").await;
    peer.expect(P1_SUBMIT).await;
    peer.say("\r\n+CMGS: 42\r\n\r\nOK\r\n").await;
    assert_eq!(send.await.expect("join"), Ok(42));
    assert_eq!(d.status.borrow().sent, 1);
    // Nothing is deleted without a confirmation.
    peer.quiet_for(Duration::from_millis(100)).await;
    d.cancel.cancel();
    d.wait_state(|s| *s == ModemState::Stopped).await;
}

#[tokio::test]
async fn each_vendor_initialises_and_sends() {
    assert!(!VENDORS.is_empty());
    for v in VENDORS {
        check_vendor(v).await;
    }
}

#[tokio::test]
async fn echo_on_modem_works() {
    // A modem that ignores ATE0 echoes every command.
    let mut peer = Peer::new();
    peer.echo = true;
    let mut d = start(opts("m", &peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(pdu_req()).await });
    peer.expect("AT+CMGS=23").await;
    peer.say("AT+CMGS=23\r\r\n> ").await;
    peer.expect(P1_SUBMIT).await;
    peer.say(&format!("{P1_SUBMIT}\x1a\r\n+CMGS: 3\r\n\r\nOK\r\n"))
        .await;
    assert_eq!(send.await.expect("join"), Ok(3));
}

#[tokio::test]
async fn pin_is_entered_once() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.pin = Some("1234".into());
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: SIM PIN"]).await;
    peer.ok("AT+CPIN=\"1234\"", &[]).await;
    identity(&mut peer, &GENERIC).await;
    after_identity(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

/// Line noise in the `AT+CPIN?` answer is not a SIM state: the modem goes
/// through the recovery ladder and asks again instead of failing for good.
#[tokio::test]
async fn a_garbled_cpin_answer_is_asked_again_not_fatal() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.reopen_backoff_max = Duration::from_millis(50);
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CP#N: RE\u{1}DY"]).await;
    d.wait_state(|s| *s == ModemState::Recovering).await;
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    after_identity(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn wrong_pin_is_tried_exactly_once() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.pin = Some("0000".into());
    o.reopen_backoff_max = Duration::from_millis(50);
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: SIM PIN"]).await;
    peer.fail_with("AT+CPIN=\"0000\"", "+CME ERROR: 16").await;
    let st = d.wait_state(|s| matches!(s, ModemState::Failed(_))).await;
    assert!(
        matches!(&st.state, ModemState::Failed(m) if m.contains("wrong PIN")),
        "{:?}",
        st.state
    );
    // Never again: not on this port, not after a reopen.
    peer.quiet_for(Duration::from_millis(400)).await;
    let r = d.handle.send(pdu_req()).await;
    assert_eq!(r.map_err(|e| e.class), Err(ErrorClass::NotReady));
}

#[tokio::test]
async fn puk_and_missing_pin_fail_clearly() {
    let table: &[(&str, Option<&str>, &str)] = &[
        ("+CPIN: SIM PUK", Some("1234"), "PUK"),
        ("+CPIN: SIM PIN", None, "no pin configured"),
    ];
    assert!(!table.is_empty());
    async fn check(answer: &str, pin: Option<&str>, want: &str) {
        let mut peer = Peer::new();
        let mut o = opts("m", &peer.path);
        o.pin = pin.map(str::to_string);
        let mut d = start(o);
        peer.ok("AT", &[]).await;
        peer.ok("ATE0", &[]).await;
        peer.ok("AT+CMEE=1", &[]).await;
        peer.ok("AT+CPIN?", &[answer]).await;
        let st = d.wait_state(|s| matches!(s, ModemState::Failed(_))).await;
        assert!(
            matches!(&st.state, ModemState::Failed(m) if m.contains(want)),
            "{:?}",
            st.state
        );
        peer.quiet_for(Duration::from_millis(100)).await;
    }
    for (a, p, w) in table {
        check(a, *p, w).await;
    }
}

#[tokio::test]
async fn send_errors_are_classified() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let table: &[(&str, ErrorClass, Option<u16>)] = &[
        ("+CMS ERROR: 330", ErrorClass::TryAnotherSim, Some(330)),
        ("+CMS ERROR: 304", ErrorClass::Permanent, Some(304)),
        ("+CMS ERROR: 332", ErrorClass::RetryHere, Some(332)),
        ("+CMS ERROR: 27", ErrorClass::Permanent, Some(27)),
        ("+CMS ERROR: SIM busy", ErrorClass::RetryHere, Some(314)),
        ("+CME ERROR: 30", ErrorClass::TryAnotherSim, Some(30)),
        ("ERROR", ErrorClass::RetryHere, None),
    ];
    assert!(!table.is_empty());
    for (answer, class, code) in table {
        let h = d.handle.clone();
        let send = tokio::spawn(async move { h.send(pdu_req()).await });
        peer.expect("AT+CMGS=23").await;
        peer.say("\r\n> ").await;
        peer.expect(P1_SUBMIT).await;
        peer.say(&format!("\r\n{answer}\r\n")).await;
        let err = send.await.expect("join").expect_err("must fail");
        assert_eq!((err.class, err.code), (*class, *code), "{answer}");
    }
    assert_eq!(d.status.borrow().errors, table.len() as u64);
}

#[tokio::test]
async fn send_timeouts_before_and_after_the_pdu() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.send_timeout = Duration::from_millis(500);
    let mut d = start(o);
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    // No prompt: not sent, retry here; the driver escapes and wakes the modem.
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(pdu_req()).await });
    peer.expect("AT+CMGS=23").await;
    let err = send.await.expect("join").expect_err("timeout");
    assert_eq!(err.class, ErrorClass::RetryHere);
    peer.ok("AT", &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    // PDU written, no answer: it may have gone out.
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(pdu_req()).await });
    peer.expect("AT+CMGS=23").await;
    peer.say("\r\n> ").await;
    peer.expect(P1_SUBMIT).await;
    let err = send.await.expect("join").expect_err("timeout");
    assert_eq!(err.class, ErrorClass::Uncertain);
    peer.ok("AT", &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

/// A PDU event's decoded TPDU.
fn decoded(ev: &ModemEvent) -> (Pdu, bool, bool) {
    match ev {
        ModemEvent::Pdu {
            pdu,
            tpdu_len,
            report,
            location,
            ..
        } => (
            smsgate::codec::decode(pdu, *tpdu_len).expect("a PDU").pdu,
            *report,
            location.as_ref().is_some_and(|l| l.routed),
        ),
        other => panic!("not a PDU: {other:?}"),
    }
}

fn submit_req(to: &str, text: &str, status_report: bool) -> SendRequest {
    let to = Address::parse(to).expect("number");
    let opts = SubmitOptions {
        status_report,
        ..Default::default()
    };
    let parts = smsgate::codec::encode_submit(&to, text, &opts).expect("encode");
    let p = parts.first().expect("a part");
    SendRequest::Pdu {
        pdu: p.bytes.clone(),
        tpdu_len: p.tpdu_len,
    }
}

/// UTF-16 hex, as a modem in `AT+CSCS="UCS2"` prints text and numbers.
fn ucs2(s: &str) -> String {
    s.encode_utf16().map(|u| format!("{u:04X}")).collect()
}

/// A modem that refuses PDU mode, under `mode = "auto"`: text mode with full
/// headers, listings read in UCS2, then sends of GSM-7 and UCS-2 texts, a
/// refused long message, routed `+CMT`/`+CDS` and a stored `+CMTI` message
/// read with `+CMGR`, each emitted as the PDU it shows.
#[tokio::test]
async fn text_mode_when_pdu_mode_is_refused() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.fail_with("AT+CMGF=0", "+CMS ERROR: 303").await;
    peer.ok("AT+CMGF=1", &[]).await;
    peer.ok("AT+CSDH=1", &[]).await;
    peer.ok("AT+CSCS=\"UCS2\"", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 2,30,2,30,2,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    let st = d.wait_state(|s| *s == ModemState::Ready).await;
    assert!(st.text_mode, "status says text mode");
    // The sweep, in UCS2: a message and a status report (Quectel's forms).
    let from = ucs2("+447700900123");
    let head = format!("+CMGL: 1,\"REC UNREAD\",\"{from}\",\"\",\"24/03/05,09:15:00+04\",145,6");
    let text = ucs2("Héllo!");
    let report = "+CMGL: 2,\"REC READ\",6,17,\"002B0034003400370037003000300039003000300031003200330034\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:16:00+04\",0";
    peer.ok("AT+CMGL=\"ALL\"", &[&head, &text, report]).await;
    // The listing lacks <fo> and <dcs>: the message is read again.
    peer.ok(
        "AT+CMGR=1",
        &[
            &format!("+CMGR: \"REC READ\",\"{from}\",\"\",\"24/03/05,09:15:00+04\",145,4,0,0,\"{}\",145,6", ucs2("+447785016005")),
            &text,
        ],
    )
    .await;
    let mut got = vec![decoded(&d.next_pdu().await), decoded(&d.next_pdu().await)];
    got.sort_by_key(|(_, report, _)| *report);
    match got.as_slice() {
        [(Pdu::Deliver(m), false, false), (Pdu::StatusReport(r), true, false)] => {
            assert_eq!(m.originator.to_string(), "+447700900123");
            assert_eq!(m.data.text(), Some("Héllo!"));
            assert_eq!((r.mr, r.status.0), (17, 0));
            assert_eq!(r.recipient.to_string(), "+4477009001234");
        }
        other => panic!("{other:?}"),
    }

    // Routed text URCs, in the current (UCS2) character set.
    peer.say(&format!(
        "\r\n+CMT: \"{from}\",,\"24/03/05,09:15:00+04\",145,4,0,8,\"{}\",145,4\r\n{}\r\n",
        ucs2("+447785016005"),
        ucs2("Привет")
    ))
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::Deliver(m), false, true) => assert_eq!(m.data.text(), Some("Привет")),
        other => panic!("{other:?}"),
    }
    peer.say(
        "\r\n+CDS: 6,18,\"002B0031\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:15:09+04\",0\r\n",
    )
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::StatusReport(r), true, true) => assert_eq!(r.mr, 18),
        other => panic!("{other:?}"),
    }
    // Stored, announced: read with +CMGR.
    peer.say("\r\n+CMTI: \"SM\",3\r\n").await;
    peer.ok(
        "AT+CMGR=3",
        &[
            &format!("+CMGR: \"REC UNREAD\",\"{from}\",,\"24/03/05,09:15:00+04\",145,4,0,0,\"{from}\",145,2"),
            &ucs2("ok"),
        ],
    )
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::Deliver(m), false, false) => assert_eq!(m.data.text(), Some("ok")),
        other => panic!("{other:?}"),
    }

    // GSM-7, with a status report: fo 0x21 (SUBMIT, SRR, no VP).
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(submit_req("+46708251358", "hello", true)).await });
    peer.ok("AT+CSMP=33,167,0,0", &[]).await;
    peer.ok("AT+CSCS=\"GSM\"", &[]).await;
    peer.expect("AT+CMGS=\"+46708251358\",145").await;
    peer.say("\r\n> ").await;
    peer.expect("hello").await;
    peer.say("\r\n+CMGS: 17\r\n\r\nOK\r\n").await;
    assert_eq!(send.await.expect("join"), Ok(17));
    // UCS-2: number and text in UTF-16 hex.
    let h = d.handle.clone();
    let send =
        tokio::spawn(async move { h.send(submit_req("+46708251358", "Привет", false)).await });
    peer.ok("AT+CSMP=1,167,0,8", &[]).await;
    peer.ok("AT+CSCS=\"UCS2\"", &[]).await;
    peer.expect(&format!("AT+CMGS=\"{}\",145", ucs2("+46708251358")))
        .await;
    peer.say("\r\n> ").await;
    peer.expect(&ucs2("Привет")).await;
    peer.say("\r\n+CMGS: 18\r\n\r\nOK\r\n").await;
    assert_eq!(send.await.expect("join"), Ok(18));
    // A part with a user data header: refused, nothing written.
    let err = d
        .handle
        .send(submit_req("+46708251358", &"x".repeat(200), false))
        .await
        .expect_err("refused");
    assert_eq!(err.class, ErrorClass::TryAnotherSim);
    peer.quiet_for(Duration::from_millis(50)).await;
}

/// A text-mode listing refused in UCS2 is asked again in GSM, and reading
/// stays in GSM.
#[tokio::test]
async fn text_listing_refused_in_ucs2_falls_back_to_gsm() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.fail_with("AT+CMGF=0", "ERROR").await;
    peer.ok("AT+CMGF=1", &[]).await;
    peer.ok("AT+CSDH=1", &[]).await;
    peer.ok("AT+CSCS=\"UCS2\"", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 1,30,1,30,1,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    peer.fail_with("AT+CMGL=\"ALL\"", "+CMS ERROR: 302").await;
    peer.ok("AT+CSCS=\"GSM\"", &[]).await;
    peer.ok(
        "AT+CMGL=\"ALL\"",
        &[
            "+CMGL: 1,\"REC UNREAD\",\"+447700900123\",,\"24/03/05,09:15:00+04\",145,2",
            "hi",
        ],
    )
    .await;
    peer.ok(
        "AT+CMGR=1",
        &["+CMGR: \"REC READ\",\"+447700900123\",,\"24/03/05,09:15:00+04\",145,4,0,0,\"+447785016005\",145,2", "hi"],
    )
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::Deliver(m), false, false) => assert_eq!(m.data.text(), Some("hi")),
        other => panic!("{other:?}"),
    }
    // A +CMTI read stays in GSM: no AT+CSCS before its AT+CMGR.
    peer.say("\r\n+CMTI: \"SM\",2\r\n").await;
    peer.ok(
        "AT+CMGR=2",
        &["+CMGR: \"REC UNREAD\",\"+447700900123\",,\"24/03/05,09:15:00+04\",145,4,0,0,\"+447785016005\",145,3", "yes"],
    )
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::Deliver(m), false, false) => assert_eq!(m.data.text(), Some("yes")),
        other => panic!("{other:?}"),
    }
}

/// `mode = "text"`: text mode without trying PDU mode; a modem without UCS2
/// listings is read in GSM.
#[tokio::test]
async fn text_mode_forced() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.mode = smsgate::config::ModemMode::Text;
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGF=1", &[]).await;
    peer.ok("AT+CSDH=1", &[]).await;
    peer.fail_with("AT+CSCS=\"UCS2\"", "+CME ERROR: 4").await;
    peer.ok("AT+CSCS=\"GSM\"", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 0,30,0,30,0,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    let st = d.wait_state(|s| *s == ModemState::Ready).await;
    assert!(st.text_mode);
    // The Wavecom transcript of 27.005 (CSDH=1), UCS-2 shown as hex by its <dcs>.
    peer.ok(
        "AT+CMGL=\"ALL\"",
        &[
            "+CMGL: 4,\"REC READ\",\"+8613501154105\",,\"01/09/12,18:04:09+32\",145,3",
            "AAA",
        ],
    )
    .await;
    peer.ok(
        "AT+CMGR=4",
        &[
            "+CMGR: \"REC READ\",\"+8613501154105\",,\"01/09/12,18:04:09+32\",145,4,0,0,\"+8613800100500\",145,3",
            "AAA",
        ],
    )
    .await;
    match decoded(&d.next_pdu().await) {
        (Pdu::Deliver(m), false, false) => {
            assert_eq!(m.originator.to_string(), "+8613501154105");
            assert_eq!(m.data.text(), Some("AAA"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ussd_plain_and_huawei_packed() {
    // Generic: text answer after OK.
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let h = d.handle.clone();
    let q = tokio::spawn(async move { h.ussd("*100#".into()).await });
    peer.ok("AT+CUSD=1,\"*100#\",15", &[]).await;
    peer.say("\r\n+CUSD: 0,\"Your balance is 5.00 GBP\",15\r\n")
        .await;
    assert_eq!(
        q.await.expect("join").as_deref(),
        Ok("Your balance is 5.00 GBP")
    );

    // Huawei: code and answer are packed GSM-7 hex.
    let huawei = VENDORS.first().expect("huawei row");
    let mut peer = Peer::new();
    let mut d = start(opts("h", &peer.path));
    startup(&mut peer, huawei, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let h = d.handle.clone();
    let q = tokio::spawn(async move { h.ussd("*100#".into()).await });
    peer.ok("AT+CUSD=1,\"AA180C3602\",15", &[]).await;
    let answer = ussd::to_gsm7("Balance: 12.50")
        .map(|s| encode_hex(&ussd::pack_septets(&s)))
        .expect("gsm7");
    peer.say(&format!("\r\n+CUSD: 0,\"{answer}\",15\r\n")).await;
    assert_eq!(q.await.expect("join").as_deref(), Ok("Balance: 12.50"));
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let h = d.handle.clone();
    let send = tokio::spawn(async move { h.send(pdu_req()).await });
    peer.expect("AT+CMGS=23").await;
    d.cancel.cancel();
    peer.say("\r\n> ").await;
    peer.expect(P1_SUBMIT).await;
    peer.say("\r\n+CMGS: 77\r\n\r\nOK\r\n").await;
    assert_eq!(send.await.expect("join"), Ok(77));
    d.wait_state(|s| *s == ModemState::Stopped).await;
}

#[tokio::test]
async fn refusal_before_the_prompt_writes_no_pdu() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let table: &[(&str, ErrorClass)] = &[
        ("+CMS ERROR: 331", ErrorClass::TryAnotherSim),
        ("+CMS ERROR: 302", ErrorClass::RetryHere),
        ("+CMS ERROR: 515", ErrorClass::RetryHere),
    ];
    assert!(!table.is_empty());
    for (answer, class) in table {
        let h = d.handle.clone();
        let send = tokio::spawn(async move { h.send(pdu_req()).await });
        peer.fail_with("AT+CMGS=23", answer).await;
        let err = send.await.expect("join").expect_err("refused");
        assert_eq!(err.class, *class, "{answer}");
        // No PDU follows a refusal.
        peer.quiet_for(Duration::from_millis(50)).await;
    }
}
