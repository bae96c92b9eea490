//! The daemon's spool intake end to end, through the real binary on simulated
//! modems: smstools3 files in every alphabet arrive intact on the network (one
//! SIM per concatenated message), a malformed file goes to `failed/` with its
//! `Fail_reason:` while the daemon carries on, a file whose message is already
//! stored is never stored twice, the smstools3 copies (`sent_dir`,
//! `incoming_dir`) are written, and a backlog is taken urgent and high
//! priority first, then oldest first (smstools3's own `sendsms` script:
//! `spool_sendsms.rs`). Does not cover balancing, failover or crashes
//! (`daemon_dispatch.rs`, `daemon_failover.rs`, `daemon_crash.rs`).
mod common;

use common::*;
use serde_json::json;
use smsgate::sim::NetworkOptions;

/// Waits until `outgoing/` and `processing/` are both empty.
fn wait_spool_drained(g: &Gateway) {
    let out = g.spool.join("outgoing");
    let proc = g.spool.join("processing");
    wait_fs(&[&out, &proc], T, "spool drained", || {
        entries(&out).is_empty() && entries(&proc).is_empty()
    });
}

/// Every message in the outbox, by destination digits → id.
fn ids_by_destination(g: &Gateway) -> std::collections::HashMap<String, i64> {
    g.outbox()
        .iter()
        .filter_map(|m| Some((digits(m["to"].as_str()?), m["id"].as_i64()?)))
        .collect()
}

/// (file name, raw file bytes, the text that must reach the network)
type Case = (&'static str, Vec<u8>, String);

fn cases() -> Vec<Case> {
    let long_gsm: String = (0..40).map(|i| format!("part{i:03} ")).collect();
    let cyrillic = "Привет, как дела? ".repeat(6);
    let emoji = "Hi 😀 ".repeat(40);
    let utf16: Vec<u8> = "Grüße aus Köln ✓"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let mut ucs2_file = b"To: ".to_vec();
    ucs2_file.extend(external(5).as_bytes());
    ucs2_file.extend(b"\nAlphabet: UCS2\n\n");
    ucs2_file.extend(&utf16);
    let mut iso_file = b"To: ".to_vec();
    iso_file.extend(external(6).as_bytes());
    iso_file.extend(b"\nAlphabet: ISO\n\nPreis: 5 \xa4 \xe4\xf6\xfc\n");
    vec![
        (
            "single",
            spool_text(&[("To", &external(1))], "Hello from the spool\n"),
            "Hello from the spool".into(),
        ),
        (
            "multipart",
            spool_text(&[("To", &external(2))], &long_gsm),
            long_gsm.trim_end().to_string(),
        ),
        (
            "ucs2-text",
            spool_text(&[("To", &external(3)), ("Alphabet", "UTF-8")], &cyrillic),
            cyrillic.trim_end().to_string(),
        ),
        (
            "emoji",
            spool_text(&[("To", &external(4))], &emoji),
            emoji.trim_end().to_string(),
        ),
        ("utf16-body", ucs2_file, "Grüße aus Köln ✓".into()),
        ("iso-body", iso_file, "Preis: 5 € äöü".into()),
        (
            "grouped-number",
            spool_text(&[("To", "+44 (770) 09-00007")], "grouping ignored"),
            "grouping ignored".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alphabet_arrives_intact_through_one_sim() {
    let table = cases();
    assert!(!table.is_empty());
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], "").await;
    for (name, bytes, _) in &table {
        g.spool_file(name, bytes);
    }
    wait_spool_drained(&g);
    let ids = ids_by_destination(&g);
    assert_eq!(ids.len(), table.len(), "one message per file: {ids:?}");
    for (i, (name, _, want)) in table.iter().enumerate() {
        let to = external(i + 1);
        let id = *ids
            .get(&digits(&to))
            .unwrap_or_else(|| panic!("{name} stored"));
        let m = g.wait_state(id, "sent", T);
        assert_eq!(m["text"], json!(want), "{name}: stored text");
        let net = g.net.external_messages();
        assert_eq!(&text_to(&net, &to), want, "{name}: text on the network");
        let parts = m["parts"].as_array().expect("parts").len();
        assert_eq!(parts_to(&net, &to).len(), parts, "{name}: each part once");
        assert_eq!(
            senders_to(&net, &to).len(),
            1,
            "{name}: one SIM for all parts"
        );
    }
    assert!(entries(&g.spool.join("failed")).is_empty());
}

/// (file name, content, what its Fail_reason must mention)
fn bad_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("no-to", spool_text(&[("Flash", "no")], "hello"), "To"),
        (
            "bad-number",
            spool_text(&[("To", "49abc")], "hello"),
            "bad number",
        ),
        (
            "no-blank-line",
            format!("To: {}\nhello", external(1)).into_bytes(),
            "line",
        ),
        (
            "voicecall",
            spool_text(&[("To", &external(1)), ("Voicecall", "yes")], "hello"),
            "Voicecall",
        ),
        ("nul", spool_text(&[("To", &external(1))], "hel\0lo"), "NUL"),
        (
            "empty-body",
            spool_text(&[("To", &external(1))], ""),
            "empty",
        ),
        // The same validation as a socket `send`: TP-VP says 5 minutes at least.
        (
            "short-validity",
            spool_text(&[("To", &external(1)), ("Validity", "1 min")], "hello"),
            "validity",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_files_go_to_failed_and_the_daemon_carries_on() {
    let table = bad_files();
    assert!(!table.is_empty());
    let g = Gateway::start(vec![ModemPlan::default()], "").await;
    for (name, bytes, _) in &table {
        g.spool_file(name, bytes);
    }
    g.spool_file(
        "good",
        &spool_text(&[("To", &external(9))], "still working"),
    );
    let failed = g.spool.join("failed");
    wait_fs(&[&failed], T, "bad files in failed/", || {
        entries(&failed).len() == table.len()
    });
    wait_spool_drained(&g);
    for (name, original, want) in &table {
        let moved = std::fs::read(failed.join(name)).expect("file in failed/");
        let text = String::from_utf8_lossy(&moved);
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("Fail_reason: ") && first.contains(want),
            "{name}: first line {first:?} should be a Fail_reason naming {want:?}"
        );
        assert!(
            moved.ends_with(original),
            "{name}: the rest of the file is unchanged"
        );
    }
    let out = g.outbox();
    assert_eq!(out.len(), 1, "only the good file is stored: {out:?}");
    let id = out[0]["id"].as_i64().expect("id");
    g.wait_state(id, "sent", T);
    assert_eq!(
        text_to(&g.net.external_messages(), &external(9)),
        "still working"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_file_put_back_into_processing_is_not_stored_twice() {
    let mut g = Gateway::start(vec![ModemPlan::default()], "").await;
    let keep = g.dir.path().join("kept-aside");
    let content = spool_text(&[("To", &external(1))], "exactly once");
    g.spool_file_linked("once", &content, &keep);
    wait_spool_drained(&g);
    let out = g.outbox();
    assert_eq!(out.len(), 1);
    let id = out[0]["id"].as_i64().expect("id");
    g.wait_state(id, "sent", T);

    // As if the daemon died between the commit and the removal: the same
    // file (same name, inode, mtime and size) is back in processing/.
    g.kill9();
    let processing = g.spool.join("processing");
    std::fs::create_dir_all(&processing).expect("processing/");
    std::fs::hard_link(&keep, processing.join("once")).expect("put the file back");
    g.spawn();
    g.wait_notify("READY=1", T);
    wait_spool_drained(&g);
    assert!(
        g.log().contains("spool file already stored"),
        "the put-back file was recognised as stored"
    );
    // A second file with the same content but a new inode is a new message:
    // the key is the file, not the text. Once it is sent, the daemon has
    // long finished with `processing/`.
    g.spool_file("again", &content);
    wait_spool_drained(&g);
    let out = g.outbox();
    assert_eq!(
        out.len(),
        2,
        "the put-back file was not stored again: {out:?}"
    );
    for m in &out {
        g.wait_state(m["id"].as_i64().expect("id"), "sent", T);
    }
    let ids: Vec<i64> = out.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert!(ids.contains(&id));
    assert_eq!(
        parts_to(&g.net.external_messages(), &external(1)).len(),
        2,
        "the original went out once, the new file once"
    );
    assert!(entries(&g.spool.join("failed")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smstools_copies_of_sent_and_received_messages() {
    let sections = Sections {
        spool: "sent_dir = \"{dir}/sent\"\nincoming_dir = \"{dir}/incoming\"\n".into(),
        ..Sections::default()
    };
    let g = Gateway::start_full(
        NetworkOptions::default(),
        vec![ModemPlan::default()],
        sections,
        "",
    )
    .await;
    let sent_dir = g.dir.path().join("sent");
    let incoming_dir = g.dir.path().join("incoming");

    g.spool_file(
        "copy-me",
        &spool_text(&[("To", &external(1))], "copied to sent/"),
    );
    wait_spool_drained(&g);
    let id = g.outbox()[0]["id"].as_i64().expect("id");
    g.wait_state(id, "sent", T);
    let name = format!("smsgate.{id}");
    wait_fs(&[&sent_dir], T, "sent copy", || {
        entries(&sent_dir).contains(&name)
    });
    let sent = std::fs::read_to_string(sent_dir.join(&name)).expect("sent copy");
    for want in [
        format!("To: {}", digits(&external(1))),
        "Modem: m0".to_string(),
        "Alphabet: UTF-8".to_string(),
        "IMSI: 001010000000000".to_string(),
        "copied to sent/".to_string(),
    ] {
        assert!(sent.contains(&want), "sent copy lacks {want:?}:\n{sent}");
    }
    assert!(sent.lines().any(|l| l.starts_with("Sent: ")), "{sent}");

    g.net
        .inject("+4930123456", &msisdn(0), "copied to incoming/ ✓")
        .expect("inject");
    g.wait_inbox(T, |i| i.len() == 1);
    wait_fs(&[&incoming_dir], T, "incoming copy", || {
        entries(&incoming_dir).iter().any(|n| n.starts_with("m0."))
    });
    let names = entries(&incoming_dir);
    let file = names
        .iter()
        .find(|n| n.starts_with("m0."))
        .expect("incoming copy");
    let got = std::fs::read_to_string(incoming_dir.join(file)).expect("incoming copy");
    for want in [
        "From: 4930123456",
        "Alphabet: UTF-8",
        "copied to incoming/ ✓",
    ] {
        assert!(got.contains(want), "incoming copy lacks {want:?}:\n{got}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_high_priority_files_are_taken_before_older_ones() {
    // No modem: stored messages stay queued, so the ids show the intake order.
    let mut g = Gateway::start(vec![], "").await;
    g.kill9();
    let out = g.spool.join("outgoing");
    let aged = |name: &str, content: &[u8], secs_ago: u64| {
        let path = out.join(name);
        std::fs::write(&path, content).expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago))
            .expect("set mtime");
    };
    // A backlog written while the daemon was down, oldest first; the
    // high and urgent files are the newest.
    let normal = 20;
    for i in 0..normal {
        aged(
            &format!("normal-{i:02}"),
            &spool_text(&[("To", &external(i))], "backlog"),
            100 - i as u64,
        );
    }
    aged(
        "high",
        &spool_text(&[("To", &external(50)), ("Priority", "high")], "high"),
        20,
    );
    aged(
        "urgent",
        &spool_text(&[("To", &external(51)), ("Priority", "urgent")], "urgent"),
        10,
    );
    g.spawn();
    g.wait_notify("READY=1", T);
    wait_spool_drained(&g);
    let ids = ids_by_destination(&g);
    assert_eq!(ids.len(), normal + 2, "{ids:?}");
    let id = |i: usize| ids[&digits(&external(i))];
    let backlog: Vec<i64> = (0..normal).map(id).collect();
    assert!(
        id(51) < id(50) && id(50) < backlog[0],
        "urgent, then high, then the backlog: {ids:?}"
    );
    assert!(
        backlog.windows(2).all(|w| w[0] < w[1]),
        "the backlog oldest first: {backlog:?}"
    );
    assert!(entries(&g.spool.join("failed")).is_empty());
}
