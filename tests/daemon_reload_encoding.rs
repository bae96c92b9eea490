//! A reload that changes the encoder settings while messages wait: the part
//! count stored at intake is the count sent, for messages queued before the
//! reload (encoded with the settings recorded with them) and after it (with
//! the new ones). Real binary, simulated modems, texts checked on the
//! simulated network.
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use smsgate::sim::Faults;

/// A text of `len` GSM-7 characters that names its message.
fn text(i: usize, len: usize) -> String {
    let mut t = format!("message {i} ");
    while t.len() < len {
        t.push(char::from(
            b'a' + u8::try_from(t.len() % 26).expect("small"),
        ));
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_concat_ref16_keeps_every_queued_message_intact() {
    // Slow modems, so the messages wait while the reload happens.
    let slow = ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(40),
            ..Faults::default()
        },
        ..ModemPlan::default()
    };
    let mut g = Gateway::start(
        vec![slow.clone(), slow],
        "[dispatch]\nconcat_ref16 = false\n",
    )
    .await;
    // 306 GSM-7 characters: 2 parts of 153 with 8-bit references, 3 parts
    // (152 each) with 16-bit ones.
    const LEN: usize = 306;
    let before = 200;
    let after = 50;
    let mut ids = Vec::new();
    for i in 0..before {
        let r = g.ok(json!({"cmd": "send", "to": external(i), "text": text(i, LEN)}));
        assert_eq!(r["parts"], json!(2), "{r}");
        ids.push(r["id"].as_i64().expect("id"));
    }
    g.extra = "[dispatch]\nconcat_ref16 = true\n".into();
    g.write_config();
    let r = g.ok(json!({"cmd": "reload"}));
    assert_eq!(r["changed"], json!([]), "{r}");
    let sent_at_reload = g.net.external_messages().len();
    assert!(
        sent_at_reload < before * 2,
        "the reload must find messages still queued ({sent_at_reload} parts out)"
    );
    for i in before..before + after {
        let r = g.ok(json!({"cmd": "send", "to": external(i), "text": text(i, LEN)}));
        assert_eq!(r["parts"], json!(3), "{r}");
        ids.push(r["id"].as_i64().expect("id"));
    }

    let want = before * 2 + after * 3;
    let msgs = g
        .net
        .wait_external(want, Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", g.log()));
    assert_eq!(msgs.len(), want, "no part sent twice, none missing");
    for i in 0..before + after {
        let to = external(i);
        let parts = parts_to(&msgs, &to);
        let n = if i < before { 2 } else { 3 };
        assert_eq!(parts.len(), n, "message {i}: {parts:?}");
        assert_eq!(text_to(&msgs, &to), text(i, LEN), "message {i}");
        let refs: Vec<u16> = msgs
            .iter()
            .filter(|m| digits(&m.to) == digits(&to))
            .filter_map(|m| m.concat.map(|c| c.0))
            .collect();
        assert_eq!(refs.len(), n, "message {i}: every part concatenated");
        assert!(refs.iter().all(|&r| r == refs[0]), "message {i}: {refs:?}");
    }
    for id in ids {
        let m = g.wait_final(id, T);
        assert_eq!(m["state"], json!("sent"), "{m}");
    }
}
