//! Hardware-in-the-loop checks against a real modem: start-up, identity and
//! the receive sweep, plus a real send when `SMSGATE_HIL_TO` is set. Skipped
//! (with a message) unless `SMSGATE_HIL_DEVICE` names a device;
//! `SMSGATE_HIL_MODE=text` runs all of it in text mode. See README.md.

use smsgate::at::{encode_hex, ussd};
use smsgate::config::ModemMode;
use smsgate::modem::{self, DriverOptions, ModemEvent, ModemState, SendRequest};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn options(device: String) -> DriverOptions {
    let mut o = DriverOptions::new("hil", device);
    o.pin = env("SMSGATE_HIL_PIN");
    if let Some(b) = env("SMSGATE_HIL_BAUD").and_then(|b| b.parse().ok()) {
        o.baud = b;
    }
    o.quirks = env("SMSGATE_HIL_QUIRKS").and_then(|q| q.parse().ok());
    o.mode = match env("SMSGATE_HIL_MODE").as_deref() {
        Some("text") => ModemMode::Text,
        Some("pdu") => ModemMode::Pdu,
        _ => ModemMode::Auto,
    };
    o.send_timeout = Duration::from_secs(120);
    o
}

/// A GSM-7 SMS-SUBMIT for `to` (international digits, optional `+`), using
/// the SIM's SMSC. Returns (hex, tpdu_len).
fn submit(to: &str, text: &str) -> Option<(String, usize)> {
    let digits: String = to
        .trim_start_matches('+')
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut bcd = Vec::new();
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    for pair in d.chunks(2) {
        match pair {
            [a, b] => bcd.push(b << 4 | a),
            [a] => bcd.push(0xf0 | a),
            _ => {}
        }
    }
    let septets = ussd::to_gsm7(text)?;
    let mut packed = ussd::pack_septets(&septets);
    // pack_septets pads 7 spare bits with CR (a USSD rule); UDL bounds SMS.
    packed.truncate((septets.len() * 7).div_ceil(8));
    let mut tpdu = vec![0x11, 0x00, u8::try_from(d.len()).ok()?, 0x91];
    tpdu.extend(bcd);
    tpdu.extend([0x00, 0x00, 0xAA, u8::try_from(septets.len()).ok()?]);
    tpdu.extend(packed);
    Some((format!("00{}", encode_hex(&tpdu)), tpdu.len()))
}

#[tokio::test]
async fn hil_modem() {
    let Some(device) = env("SMSGATE_HIL_DEVICE") else {
        println!("skipped: SMSGATE_HIL_DEVICE not set");
        return;
    };
    let (tx, mut events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let handle = modem::spawn(options(device.clone()), tx, cancel.clone());
    let mut status = handle.status();

    // Start-up and identity.
    let st = tokio::time::timeout(
        Duration::from_secs(90),
        status.wait_for(|s| matches!(s.state, ModemState::Ready | ModemState::Failed(_))),
    )
    .await
    .map(|r| r.map(|s| s.clone()));
    let st = match st {
        Ok(Ok(s)) => s,
        _ => panic!(
            "{device}: not ready within 90 s: {:?}",
            handle.status().borrow()
        ),
    };
    assert_eq!(st.state, ModemState::Ready, "{device}: {:?}", st.last_error);
    println!(
        "identity: {} {} {} imei={:?} imsi={:?} iccid={:?} smsc={:?}",
        st.manufacturer.as_deref().unwrap_or("?"),
        st.model.as_deref().unwrap_or("?"),
        st.revision.as_deref().unwrap_or("?"),
        st.imei,
        st.imsi,
        st.iccid,
        st.smsc
    );
    println!(
        "network: operator={:?} registration={:?} signal={:?} storage={:?} text_mode={}",
        st.operator, st.registration, st.signal, st.storage_used, st.text_mode
    );
    if env("SMSGATE_HIL_MODE").as_deref() == Some("text") {
        assert!(
            st.text_mode,
            "SMSGATE_HIL_MODE=text but the modem is not in text mode"
        );
    }
    assert!(
        st.imei
            .as_deref()
            .is_some_and(|i| i.len() >= 14 && i.chars().all(|c| c.is_ascii_digit())),
        "IMEI {:?}",
        st.imei
    );
    assert!(st.imsi.is_some(), "IMSI missing");
    assert!(st.signal.is_some(), "no +CSQ answer");

    // The start-up sweep: report what is stored; delete nothing.
    let mut stored = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
        if let ModemEvent::Pdu {
            location,
            pdu,
            report,
            ..
        } = ev
        {
            stored += 1;
            println!("stored: {location:?} report={report} {} octets", pdu.len());
        }
    }
    println!("sweep: {stored} message(s) on the modem (left in place)");

    if let Some(to) = env("SMSGATE_HIL_TO") {
        let (hex, tpdu_len) = submit(&to, "smsgate HIL test").expect("encodable");
        let pdu = smsgate::codec::hex::decode(&hex).expect("hex");
        let mr = handle.send(SendRequest::Pdu { pdu, tpdu_len }).await;
        println!("send to {to}: {mr:?}");
        assert!(mr.is_ok(), "send failed: {mr:?}");
    } else {
        println!("send skipped: SMSGATE_HIL_TO not set");
    }
    cancel.cancel();
    let _ = tokio::time::timeout(
        Duration::from_secs(130),
        status.wait_for(|s| s.state == ModemState::Stopped),
    )
    .await;
}

#[test]
fn submit_matches_the_published_vector() {
    // P1 of sms-spec.md: "hellohello" to +46708251358, VP 4 days, AT+CMGS=23.
    let (hex, len) = submit("+46708251358", "hellohello").expect("gsm7");
    assert_eq!(hex, "0011000B916407281553F80000AA0AE8329BFD4697D9EC37");
    assert_eq!(len, 23);
}
