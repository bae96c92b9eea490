//! Hostile modem output through the real daemon: simulated modems hand over
//! hundreds of stored PDUs that are truncated, carry wrong lengths (TP-UDL,
//! the SMSC prefix, the `<length>` of `+CMGL`), hostile user data headers,
//! odd addresses, reserved coding schemes, or are random bytes. Each one is
//! stored before it is deleted from the SIM — decoded when the codec can,
//! raw (as hex) when it cannot — and the daemon keeps receiving and sending.
//! Garbage lines and URC storms on the AT stream are in `fault_modems.rs`;
//! the decoder's own tables and fuzz target are in `src/codec/` and `fuzz/`.
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use smsgate::codec::{self, gsm7, pdu::Pdu};

/// `+number` as a TP-OA / SMSC address body: type 0x91, swapped BCD digits.
fn bcd(number: &str) -> Vec<u8> {
    let digits: Vec<u8> = number
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    let mut out = vec![0x91];
    for pair in digits.chunks(2) {
        let lo = pair.first().copied().unwrap_or(0xF);
        let hi = pair.get(1).copied().unwrap_or(0xF);
        out.push(hi << 4 | lo);
    }
    out
}

/// The SMSC prefix every simulated SIM's PDUs carry.
fn smsc_prefix() -> Vec<u8> {
    let body = bcd(smsgate::sim::SMSC);
    let mut out = vec![u8::try_from(body.len()).expect("short")];
    out.extend(body);
    out
}

fn gsm(text: &str) -> Vec<u8> {
    gsm7::encode(text, gsm7::Tables::DEFAULT).expect("GSM text")
}

/// A DELIVER TPDU from `+1555{i:07}` with `ud` as user data.
fn deliver(i: usize, first: u8, dcs: u8, udl: u8, ud: &[u8]) -> Vec<u8> {
    let mut t = vec![first];
    let number = format!("+1555{i:07}");
    t.push(11);
    t.extend(bcd(&number));
    // PID 0, DCS, SCTS 26-11-25 20:03:00 +00.
    t.extend([0x00, dcs, 0x62, 0x11, 0x52, 0x02, 0x30, 0x00, 0x00, udl]);
    t.extend(ud);
    t
}

fn plain(i: usize, text: &str) -> Vec<u8> {
    let septets = gsm(text);
    let udl = u8::try_from(septets.len()).expect("short");
    deliver(i, 0x04, 0x00, udl, &gsm7::pack(&septets, 0))
}

/// 8-bit data behind a user data header.
fn with_udh(i: usize, udh: &[u8], udl: Option<u8>) -> Vec<u8> {
    let mut ud = udh.to_vec();
    ud.extend(format!("data {i}").bytes());
    let udl = udl.unwrap_or_else(|| u8::try_from(ud.len()).unwrap_or(u8::MAX));
    deliver(i, 0x44, 0x04, udl, &ud)
}

/// (smsc prefix, tpdu) pairs, none of which decodes as a SUBMIT (a SUBMIT
/// stored on the SIM is left there by design).
fn cases(n: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let smsc = smsc_prefix();
    let hostile_udh: &[&[u8]] = &[
        &[0x20, 0x00, 0x03, 0x01, 0x02, 0x01], // UDHL beyond the data
        &[0x05, 0x00, 0x03, 0x07, 0x00, 0x00], // concat: total 0, seq 0
        &[0x05, 0x00, 0x03, 0x07, 0x02, 0x05], // concat: seq > total
        &[0x06, 0x08, 0x04, 0xFF, 0xFF, 0x00, 0x00], // 16-bit concat, total 0
        &[0x05, 0x00, 0x09, 0x01, 0x02, 0x01], // IE longer than the UDH
        &[0x00],                               // empty UDH
        &[0x03, 0x24, 0x01, 0xFF],             // national table 255
        &[0x06, 0x24, 0x01, 0x0D, 0x25, 0x01, 0x63], // tables 13 and 99
        &[
            0x0A, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x03, 0x02, 0x03, 0x02,
        ], // two concats
        &[0xFF],                               // UDHL 255
    ];
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < n {
        i += 1;
        let base = plain(i, &format!("base {i}"));
        let (pre, tpdu): (Vec<u8>, Vec<u8>) = match i % 10 {
            0 => {
                let len = rng.usize(1..200);
                (
                    smsc.clone(),
                    std::iter::repeat_with(|| rng.u8(..)).take(len).collect(),
                )
            }
            1 => {
                // Truncated (keeping the unique part of the sender).
                let k = rng.usize(9..base.len());
                (smsc.clone(), base[..k].to_vec())
            }
            2 => {
                // TP-UDL lies.
                let mut t = base.clone();
                if let Some(udl) = t.get_mut(18) {
                    *udl = rng.u8(..);
                }
                (smsc.clone(), t)
            }
            3 => {
                // <length> counts the SMSC prefix too.
                let mut all = smsc.clone();
                all.extend(&base);
                (Vec::new(), all)
            }
            4 => {
                // <length> too short: two TPDU octets taken for the SMSC.
                let mut pre = smsc.clone();
                pre.extend(&base[..2]);
                (pre, base[2..].to_vec())
            }
            5 => {
                let udh = hostile_udh[rng.usize(..hostile_udh.len())];
                let udl = rng.bool().then(|| rng.u8(..));
                (smsc.clone(), with_udh(i, udh, udl))
            }
            6 => {
                // Random UDH bytes, GSM 7-bit with fill bits.
                let len = rng.usize(0..12);
                let mut ud = vec![u8::try_from(len).unwrap_or(0)];
                ud.extend(std::iter::repeat_with(|| rng.u8(..)).take(len));
                ud.extend(gsm7::pack(&gsm(&format!("gsm {i}")), 0));
                (smsc.clone(), deliver(i, 0x44, 0x00, rng.u8(..), &ud))
            }
            7 => {
                // Odd addresses: 80 digits, alphanumeric with an odd length.
                let mut t = base.clone();
                if rng.bool() {
                    t[1] = 0x50;
                } else {
                    t[1] = rng.u8(..);
                    t[2] = 0xD0;
                }
                (smsc.clone(), t)
            }
            8 => {
                // Reserved or unusual coding schemes.
                let mut t = base.clone();
                t[10] = [0x0C, 0x2C, 0x44, 0x5F, 0x80, 0x9F, 0xB3, 0xE7, 0xFF][rng.usize(..9)];
                (smsc.clone(), t)
            }
            _ => (smsc.clone(), plain(i, &format!("plain {i}"))),
        };
        let mut all = pre.clone();
        all.extend(&tpdu);
        if let Ok(d) = codec::decode(&all, Some(tpdu.len())) {
            if matches!(d.pdu, Pdu::Submit(_)) {
                continue;
            }
        }
        out.push((pre, tpdu));
    }
    out
}

fn inbox(g: &Gateway) -> Vec<serde_json::Value> {
    g.ok(json!({"cmd": "inbox", "limit": 100000}))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_pdus_are_stored_decoded_or_raw_and_the_daemon_keeps_working() {
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    let table = cases(2000, 11);
    assert!(!table.is_empty());

    // What the daemon must keep: raw (undecodable) PDUs by their hex, and
    // the number of plain, complete, ordinary messages.
    let mut raw = BTreeSet::new();
    let mut complete = 0usize;
    for (k, (pre, tpdu)) in table.iter().enumerate() {
        let mut all = pre.clone();
        all.extend(tpdu);
        match codec::decode(&all, Some(tpdu.len())) {
            Err(_) => {
                raw.insert(codec::to_hex(&all));
            }
            Ok(d) => {
                if let Pdu::Deliver(d) = d.pdu {
                    if !d.is_type0() && d.replace_type().is_none() && d.concat().is_none() {
                        complete += 1;
                    }
                }
            }
        }
        let sim = &g.sims[k % g.sims.len()];
        g.net
            .inject_raw(sim.msisdn(), pre, tpdu)
            .expect("inject a raw PDU");
    }
    eprintln!(
        "{} hostile PDUs: {} undecodable, {complete} complete messages",
        table.len(),
        raw.len()
    );

    // Everything is read, stored and deleted from the SIMs.
    let want = raw.len() + complete;
    let start = Instant::now();
    tokio::task::block_in_place(|| {
        let mut w = g.watch();
        let deadline = Instant::now() + Duration::from_secs(50);
        loop {
            let n = inbox(&g).len();
            let on_sims: usize = g.sims.iter().map(|s| s.stored() + s.waiting()).sum();
            if n >= want && on_sims == 0 {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "inbox {n} of {want}; {on_sims} still on the SIMs\n{}",
                g.log()
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            w.next(left.min(Duration::from_millis(500)));
        }
    });
    eprintln!("all read and stored in {:?}", start.elapsed());
    let got = inbox(&g);
    let texts: BTreeSet<String> = got
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = raw.iter().filter(|h| !texts.contains(*h)).collect();
    assert!(missing.is_empty(), "raw PDUs not stored: {missing:?}");
    assert_eq!(got.len(), want, "one inbox entry per complete message");

    // The daemon keeps working: it receives and it sends.
    let mut w = tokio::task::block_in_place(|| g.watch());
    g.net
        .inject("+4917099999999", g.sims[0].msisdn(), "after the storm")
        .expect("inject");
    let id = tokio::task::block_in_place(|| {
        w.until(T, |e| {
            e["type"] == json!("received") && e["text"] == json!("after the storm")
        });
        g.send("+19990000001", "still sending")
    });
    tokio::task::block_in_place(|| g.wait_state(id, "sent", T));
    assert!(
        g.log().contains("undecodable PDU"),
        "each undecodable PDU is logged with its error"
    );
}
