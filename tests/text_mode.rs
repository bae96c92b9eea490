//! Text mode through the real binary on simulated modems: a modem that
//! refuses PDU mode (`mode = "auto"`, the default) next to one in PDU mode.
//! GSM-7 and UCS-2 single-part messages go out through the text-mode modem
//! and their status reports are matched to their parts; a long message goes
//! out through the PDU modem; messages sent to the text-mode modem's number
//! (a long one too: its parts show their header in hex) are read from its
//! text listings, stored, reassembled and deleted from the SIM.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use smsgate::sim::{Faults, NetworkOptions};

fn text_only() -> ModemPlan {
    ModemPlan {
        faults: Faults {
            text_only: true,
            ..Faults::default()
        },
        ..ModemPlan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_only_modem_sends_receives_and_reports() {
    let opts = NetworkOptions {
        report_delay: Duration::from_millis(100),
        ..NetworkOptions::default()
    };
    let g = Gateway::start_with(opts, vec![ModemPlan::default(), text_only()], "").await;
    g.wait_modem("m1", "ready", T);
    let st = g.ok(json!({"cmd": "status"}));
    let modems = st["modems"].as_array().expect("modems");
    let mode = |name: &str| {
        modems
            .iter()
            .find(|m| m["name"] == json!(name) || m["modem"] == json!(name))
            .map(|m| m["text_mode"].clone())
    };
    assert_eq!(mode("m1"), Some(json!(true)), "{st}");
    assert_eq!(mode("m0"), Some(json!(false)), "{st}");

    // Single-part GSM-7 and UCS-2 texts through the text-mode modem.
    let table: &[(usize, &str)] = &[
        (1, "Grüße from text mode, 100% {ok}"),
        (2, "Привет, мир 😀"),
    ];
    assert!(!table.is_empty());
    for (k, text) in table {
        let id = g.ok(json!({"cmd": "send", "to": external(*k), "text": text,
            "report": true, "modem": "m1"}))["id"]
            .as_i64()
            .expect("id");
        let m = g.wait_state(id, "delivered", T);
        assert_eq!(m["modem"], json!("m1"), "{m}");
        let on_net = g.net.external_messages();
        let sent: Vec<_> = on_net
            .iter()
            .filter(|n| digits(&n.to) == digits(&external(*k)))
            .collect();
        let [n] = sent.as_slice() else {
            panic!("one part on the network for {text:?}: {sent:?}")
        };
        assert_eq!(n.text, *text);
        assert_eq!(digits(&n.from_msisdn), digits(&msisdn(1)));
        let mr = n
            .pdu_hex
            .get(2..4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .expect("MR");
        assert_eq!(m["parts"][0]["mr"], json!(mr), "{m}");
        assert_eq!(m["parts"][0]["state"], json!("delivered"), "{m}");
    }

    // A long message needs a user data header: the PDU modem sends it.
    let long = "long message ".repeat(20);
    let id = g.send(&external(3), &long);
    let m = g.wait_final(id, T);
    assert_eq!(m["state"], json!("sent"), "{m}");
    assert_eq!(m["modem"], json!("m0"), "{m}");
    assert_eq!(text_to(&g.net.external_messages(), &external(3)), long);

    // Received by the text-mode modem: read from its text listings.
    let long_in = "Ein langer Gruß aus dem Netz, in Teilen. ".repeat(6);
    let inbound: &[(usize, &str)] = &[(4, "Hello @ home"), (5, "Ответ: да"), (6, &long_in)];
    for (k, text) in inbound {
        g.net
            .inject(&external(*k), &msisdn(1), text)
            .expect("inject");
    }
    let inbox = g.wait_inbox(T, |i| {
        i.len() == inbound.len() && i.iter().all(|m| m["complete"] == json!(true))
    });
    for (k, text) in inbound {
        let m = inbox
            .iter()
            .find(|m| m["from"].as_str().map(digits) == Some(digits(&external(*k))))
            .unwrap_or_else(|| panic!("{text:?} in the inbox: {inbox:?}"));
        assert_eq!(m["text"].as_str(), Some(*text), "{m}");
    }
    g.sims[1]
        .wait_stored(0, T)
        .await
        .expect("every message and report deleted from the SIM");
    let counts = g.ok(json!({"cmd": "status"}))["queue"].clone();
    assert_eq!(counts["unmatched_reports"], json!(0), "{counts}");
    // It all went through text mode on m1, and PDU mode on m0.
    let cmds = g.sims[1].commands();
    for want in [
        "AT+CMGF=1",
        "AT+CSDH=1",
        "AT+CSMP=",
        "AT+CSCS=\"UCS2\"",
        "AT+CMGS=\"",
        "AT+CMGR=",
    ] {
        assert!(
            cmds.iter().any(|c| c.starts_with(want)),
            "m1 never got {want}: {cmds:?}"
        );
    }
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("AT+CMGS=") && !c.starts_with("AT+CMGS=\"")),
        "{cmds:?}"
    );
    assert!(g.sims[0].commands().iter().all(|c| c != "AT+CMGF=1"));
}
