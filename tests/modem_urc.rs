//! Receiving over a real pty: URCs interleaved everywhere (between echo and
//! answer, between prompt and result, inside a `+CMGL` listing), `+CMTI` →
//! `+CMGR`, delete only on confirmation, routed `+CMT`/`+CDS` with `+CNMA`,
//! full storage.

mod modem_support;

use modem_support::*;
use smsgate::at::encode_hex;
use smsgate::modem::{ModemEvent, ModemState, SendRequest, StorageLocation};
use std::time::Duration;

fn loc(mem: &str, index: u32) -> StorageLocation {
    StorageLocation {
        mem: mem.into(),
        index,
        routed: false,
    }
}

fn unpack(ev: ModemEvent) -> (Option<StorageLocation>, String, bool) {
    match ev {
        ModemEvent::Pdu {
            location,
            pdu,
            report,
            ..
        } => (location, encode_hex(&pdu), report),
        other => panic!("{other:?}"),
    }
}

async fn ready(peer: &mut Peer, sweep: &[(u32, &str)]) -> Driver {
    let mut d = start(opts("m", &peer.path));
    startup(peer, &GENERIC, sweep).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    d
}

#[tokio::test]
async fn cmti_reads_and_deletes_only_after_confirm() {
    let mut peer = Peer::new();
    let mut d = ready(&mut peer, &[]).await;
    peer.say("\r\n+CMTI: \"SM\",3\r\n").await;
    peer.expect("AT+CMGR=3").await;
    peer.say(&format!(
        "\r\n+CMGR: 0,,{}\r\n{P2_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P2_DELIVER)
    ))
    .await;
    let (l, pdu, report) = unpack(d.next_pdu().await);
    assert_eq!(
        (l, pdu.as_str(), report),
        (Some(loc("SM", 3)), P2_DELIVER, false)
    );
    // Not deleted until the daemon says so.
    peer.quiet_for(Duration::from_millis(150)).await;
    d.handle.confirm_stored(loc("SM", 3)).await;
    peer.ok("AT+CMGD=3", &[]).await;
}

#[tokio::test]
async fn urc_between_echo_and_answer() {
    let mut peer = Peer::new();
    let mut d = ready(&mut peer, &[]).await;
    d.handle.confirm_stored(loc("SM", 1)).await;
    peer.expect("AT+CMGD=1").await;
    // Echo (the modem ignores ATE0 here), then a URC, then the answer.
    peer.say("AT+CMGD=1\r\r\n+CMTI: \"SM\",4\r\n\r\nOK\r\n")
        .await;
    peer.expect("AT+CMGR=4").await;
    peer.say(&format!(
        "\r\n+CMGR: 0,,{}\r\n{P3_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P3_DELIVER)
    ))
    .await;
    let (l, pdu, _) = unpack(d.next_pdu().await);
    assert_eq!((l, pdu.as_str()), (Some(loc("SM", 4)), P3_DELIVER));
}

#[tokio::test]
async fn urcs_between_prompt_and_result() {
    let mut peer = Peer::new();
    let mut d = ready(&mut peer, &[]).await;
    let h = d.handle.clone();
    let send = tokio::spawn(async move {
        h.send(SendRequest::Pdu {
            pdu: smsgate::codec::hex::decode(P1_SUBMIT).expect("hex"),
            tpdu_len: 23,
        })
        .await
    });
    peer.expect("AT+CMGS=23").await;
    // A URC before the prompt, another after the PDU, before the result.
    peer.say("\r\n+CREG: 5,\"00C3\",\"0000A1B2\",7\r\n\r\n> ")
        .await;
    peer.expect(P1_SUBMIT).await;
    peer.say("\r\n+CMTI: \"SM\",5\r\n\r\n^RSSI:9\r\n\r\n+CMGS: 9\r\n\r\nOK\r\n")
        .await;
    assert_eq!(send.await.expect("join"), Ok(9));
    peer.expect("AT+CMGR=5").await;
    peer.say(&format!(
        "\r\n+CMGR: 0,,{}\r\n{P2_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P2_DELIVER)
    ))
    .await;
    let (l, _, _) = unpack(d.next_pdu().await);
    assert_eq!(l, Some(loc("SM", 5)));
    let st = d.status.borrow().clone();
    assert_eq!(st.registration.map(|r| r.stat), Some(5));
    assert_eq!(st.signal, Some(9));
}

#[tokio::test]
async fn urc_inside_a_cmgl_listing() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    // Start-up as usual, but the sweep's listing carries a +CMTI in the middle.
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGF=0", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 2,30,2,30,2,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    peer.expect("AT+CMGL=4").await;
    peer.say(&format!(
        "\r\n+CMGL: 1,1,,{}\r\n{P2_DELIVER}\r\n+CMTI: \"SM\",3\r\n+CMGL: 2,0,,{}\r\n{P3_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P2_DELIVER),
        tpdu_len(P3_DELIVER)
    ))
    .await;
    let got: Vec<_> = [d.next_pdu().await, d.next_pdu().await]
        .into_iter()
        .map(unpack)
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        vec![Some(loc("SM", 1)), Some(loc("SM", 2))]
    );
    peer.expect("AT+CMGR=3").await;
    peer.say(&format!(
        "\r\n+CMGR: 0,,{}\r\n{P2_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P2_DELIVER)
    ))
    .await;
    let (l, _, _) = unpack(d.next_pdu().await);
    assert_eq!(l, Some(loc("SM", 3)));
}

#[tokio::test]
async fn routed_messages_are_acked_after_confirm() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.cnmi = "2,2,0,1,0".into();
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGF=0", &[]).await;
    // Phase 2+ service: routed messages need +CNMA.
    peer.ok("AT+CSMS?", &["+CSMS: 1,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 0,30,0,30,0,30"])
        .await;
    peer.ok("AT+CNMI=2,2,0,1,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    peer.ok("AT+CMGL=4", &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;

    peer.say(&format!(
        "\r\n+CMT: ,{}\r\n{P2_DELIVER}\r\n",
        tpdu_len(P2_DELIVER)
    ))
    .await;
    let (l, pdu, report) = unpack(d.next_pdu().await);
    let l = l.expect("routed location");
    assert!(l.routed);
    assert_eq!((pdu.as_str(), report), (P2_DELIVER, false));
    peer.quiet_for(Duration::from_millis(100)).await;
    d.handle.confirm_stored(l).await;
    peer.ok("AT+CNMA", &[]).await;

    // A routed status report (P4 has no SMSC prefix; the length says so).
    peer.say(&format!("\r\n+CDS: 25\r\n{P4_REPORT}\r\n")).await;
    let (l, pdu, report) = unpack(d.next_pdu().await);
    assert_eq!((pdu.as_str(), report), (P4_REPORT, true));
    d.handle.confirm_stored(l.expect("routed")).await;
    peer.ok("AT+CNMA", &[]).await;
}

#[tokio::test]
async fn full_storage_on_send_triggers_a_sweep_without_reemitting() {
    let mut peer = Peer::new();
    let mut d = ready(&mut peer, &[(1, P2_DELIVER)]).await;
    let (l, _, _) = unpack(d.next_pdu().await);
    assert_eq!(l, Some(loc("SM", 1)));
    let h = d.handle.clone();
    let send = tokio::spawn(async move {
        h.send(SendRequest::Pdu {
            pdu: smsgate::codec::hex::decode(P1_SUBMIT).expect("hex"),
            tpdu_len: 23,
        })
        .await
    });
    peer.expect("AT+CMGS=23").await;
    peer.say("\r\n> ").await;
    peer.expect(P1_SUBMIT).await;
    peer.say("\r\n+CMS ERROR: 322\r\n").await;
    let err = send.await.expect("join").expect_err("memory full");
    assert_eq!(err.code, Some(322));
    // The sweep lists index 1 again (already emitted) and a new index 2.
    let listing = [(1, P2_DELIVER), (2, P3_DELIVER)];
    do_sweep(&mut peer, &GENERIC, &listing).await;
    let (l, pdu, _) = unpack(d.next_pdu().await);
    assert_eq!((l, pdu.as_str()), (Some(loc("SM", 2)), P3_DELIVER));
    assert!(d.no_pdu_queued());
}

#[tokio::test]
async fn status_report_storage_is_swept() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.report_storage = Some("SR".into());
    let mut d = start(o);
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["+CPIN: READY"]).await;
    identity(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGF=0", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 0,30,0,30,0,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(&mut peer).await;
    peer.ok("AT+CMGL=4", &[]).await;
    peer.ok("AT+CPMS=\"SR\"", &["+CPMS: 1,10,0,30,0,30"]).await;
    let report = format!("00{P4_REPORT}");
    peer.ok("AT+CMGL=4", &["+CMGL: 0,1,,25", &report]).await;
    let (l, _, is_report) = unpack(d.next_pdu().await);
    assert_eq!((l, is_report), (Some(loc("SR", 0)), true));
    // A +CDSI later reads from SR (already selected), then SM needs a switch back.
    peer.say("\r\n+CDSI: \"SR\",1\r\n").await;
    peer.ok("AT+CMGR=1", &["+CMGR: 0,,25", &report]).await;
    let (l, _, is_report) = unpack(d.next_pdu().await);
    assert_eq!((l, is_report), (Some(loc("SR", 1)), true));
    peer.say("\r\n+CMTI: \"SM\",7\r\n").await;
    peer.ok("AT+CPMS=\"SM\"", &["+CPMS: 1,30,0,30,0,30"]).await;
    peer.ok(
        "AT+CMGR=7",
        &[&format!("+CMGR: 0,,{}", tpdu_len(P2_DELIVER)), P2_DELIVER],
    )
    .await;
    let (l, _, is_report) = unpack(d.next_pdu().await);
    assert_eq!((l, is_report), (Some(loc("SM", 7)), false));
}

#[tokio::test]
async fn garbage_and_noise_do_not_disturb() {
    let mut peer = Peer::new();
    let mut d = ready(&mut peer, &[]).await;
    peer.say(
        "\r\n\u{1}\u{2}garbage\r\n^BOOT:1,0,0,0,72\r\nOK\r\nhello there\r\n+CMTI: \"SM\",9\r\n",
    )
    .await;
    peer.expect("AT+CMGR=9").await;
    peer.say(&format!(
        "\r\n+CMGR: 0,,{}\r\n{P2_DELIVER}\r\n\r\nOK\r\n",
        tpdu_len(P2_DELIVER)
    ))
    .await;
    let (l, _, _) = unpack(d.next_pdu().await);
    assert_eq!(l, Some(loc("SM", 9)));
    assert_eq!(d.status.borrow().state, ModemState::Ready);
}

#[tokio::test]
async fn health_timer_reports_and_sweeps_a_full_store() {
    let mut peer = Peer::new();
    let mut o = opts("m", &peer.path);
    o.health_interval = Duration::from_millis(200);
    let mut d = start(o);
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    // The slow timer: signal, registration, operator, storage.
    peer.ok("AT+CSQ", &["+CSQ: 14,99"]).await;
    peer.ok("AT+CREG?", &["+CREG: 2,5,\"00C3\",\"0000A1B2\",7"])
        .await;
    peer.ok("AT+COPS?", &["+COPS: 0,0,\"Roam Net\",7"]).await;
    peer.ok(
        "AT+CPMS?",
        &["+CPMS: \"SM\",30,30,\"SM\",30,30,\"SM\",30,30"],
    )
    .await;
    // Full: a sweep follows at once.
    do_sweep(&mut peer, &GENERIC, &[(30, P2_DELIVER)]).await;
    let (l, _, _) = unpack(d.next_pdu().await);
    assert_eq!(l, Some(loc("SM", 30)));
    let st = d.status.borrow().clone();
    assert_eq!((st.signal, st.storage_used), (Some(14), Some((30, 30))));
    assert_eq!(st.operator.as_deref(), Some("Roam Net"));
    assert_eq!(st.registration.map(|r| r.stat), Some(5));
}

#[tokio::test]
async fn a_bad_listing_entry_does_not_hide_the_others() {
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    startup_to_ready(&mut peer, &GENERIC).await;
    peer.ok(
        "AT+CMGL=4",
        &[
            "+CMGL: 1,1,,28",
            "NOT-HEX!",
            "+CMGL: 2,1,,28",
            P2_DELIVER,
            "+CMGL: x",
            "+CMGL: 3,1,,30",
            P3_DELIVER,
        ],
    )
    .await;
    let got: Vec<_> = [d.next_pdu().await, d.next_pdu().await]
        .into_iter()
        .map(unpack)
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        vec![Some(loc("SM", 2)), Some(loc("SM", 3))]
    );
    assert!(d.no_pdu_queued());
    assert_eq!(d.status.borrow().state, ModemState::Ready);
}

#[tokio::test]
async fn huawei_noise_and_unsupported_commands_are_tolerated() {
    let huawei = Vendor {
        cgmi: "huawei",
        cgmm: "E3531",
        cgmr: "22.521.23.00.00",
        iccid_cmd: "AT^ICCID?",
        iccid_answer: "^ICCID: 98440110062853428172",
        init: &[],
        chatter: &["^RSSI:22", "^SRVST:2"],
        cmgl_hangs: true,
    };
    let mut peer = Peer::new();
    let mut d = start(opts("m", &peer.path));
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.ok("AT+CPIN?", &["^RSSI:22", "+CPIN: READY"]).await;
    identity(&mut peer, &huawei).await;
    // Older firmware does not know ^CURC: it says so, and start-up goes on.
    peer.fail_with("AT^CURC=0", "COMMAND NOT SUPPORT").await;
    settings(&mut peer, &huawei).await;
    do_sweep(&mut peer, &huawei, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    peer.say("\r\n^RSSI:7\r\n\r\n^MODE:5,4\r\n\r\n^BOOT:20657725,0,0,0,72\r\n")
        .await;
    let r = tokio::time::timeout(STEP, d.status.wait_for(|s| s.signal == Some(7)))
        .await
        .map(|r| r.is_ok());
    assert_eq!(r, Ok(true), "^RSSI not applied");
    assert_eq!(d.status.borrow().state, ModemState::Ready);
}
