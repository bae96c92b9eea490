//! Tests of receiving (dedupe, reassembly, flush, replace types) and of
//! status-report matching, on in-memory databases with an injected clock.

use super::*;
use crate::store::outgoing::{assign, enqueue, part_sending, part_sent};
use crate::store::pgtest::on_both_engines;
use crate::store::tests::fixture::{memory, msg, open_temp, t};
use crate::store::{ConcatKey, MessageId, MessageState, PartPdu, PartState};
use proptest::prelude::*;

/// A received part; the PDU hex is derived from every field, so equal
/// arguments give the same PDU (a duplicate read) and different ones differ.
fn rx(from: &str, concat: Option<(u16, u8, u8)>, text: &str) -> ReceivedPdu {
    let tag: String = format!("{from}|{concat:?}|{text}")
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect();
    ReceivedPdu {
        modem: "m1".into(),
        sim: "262011234567890".into(),
        pdu: crate::codec::hex::decode(&format!("0791{tag}")).expect("hex"),
        from: from.into(),
        text: text.into(),
        binary: false,
        sent_at: chrono::DateTime::parse_from_rfc3339("2026-01-01T13:00:00+01:00").ok(),
        concat: concat.map(|(reference, total, seq)| ConcatKey {
            reference,
            total,
            seq,
            ref16: false,
        }),
        class0: false,
        replace_type: None,
        pid: 0,
        dcs: 0,
    }
}

#[test]
fn a_single_message_is_stored_once() {
    on_both_engines(|c| {
        let p = rx("+491701111111", None, "hi");
        let first = record_received(c, &p, t(0)).expect("first");
        assert!(!first.duplicate);
        let m = first.complete.expect("complete");
        assert_eq!((m.parts, m.complete, m.text.as_str()), (1, true, "hi"));
        assert_eq!(m.sent_at.as_deref(), Some("2026-01-01T13:00:00+01:00"));
        let again = record_received(c, &p, t(5)).expect("again");
        assert_eq!(
            again,
            ReceivedOutcome {
                duplicate: true,
                complete: None
            }
        );
        assert_eq!(inbox(c, None, 10).expect("inbox").len(), 1);
        // The same PDU on another SIM is another message.
        let mut other = p.clone();
        other.sim = "262019999999999".into();
        assert!(
            !record_received(c, &other, t(7))
                .expect("other sim")
                .duplicate
        );
        let json = serde_json::to_value(&inbox(c, None, 10).expect("inbox")[0]).expect("json");
        for key in [
            "id",
            "modem",
            "from",
            "text",
            "sent_at",
            "received_at",
            "parts",
            "complete",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
    });
}

/// Feeds parts in the given order; returns the completed texts in order.
fn feed(c: &dyn Db, parts: &[ReceivedPdu], start: i64) -> Vec<String> {
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let out = record_received(c, p, t(start + i as i64)).expect("record");
        if let Some(m) = out.complete {
            assert!(m.complete);
            done.push(m.text);
        }
    }
    done
}

#[test]
fn reassembly_tables() {
    let a = |seq, text| rx("+491701111111", Some((7, 3, seq)), text);
    let b = |seq, text| rx("+491701111111", Some((8, 2, seq)), text);
    let cases: Vec<(&str, Vec<ReceivedPdu>, Vec<&str>)> = vec![
        (
            "in order",
            vec![a(1, "ab"), a(2, "cd"), a(3, "ef")],
            vec!["abcdef"],
        ),
        (
            "reversed",
            vec![a(3, "ef"), a(2, "cd"), a(1, "ab")],
            vec!["abcdef"],
        ),
        (
            "duplicated parts",
            vec![a(2, "cd"), a(2, "cd"), a(1, "ab"), a(2, "cd"), a(3, "ef")],
            vec!["abcdef"],
        ),
        (
            "two sets from one sender interleaved",
            vec![a(2, "cd"), b(2, "YZ"), a(1, "ab"), b(1, "WX"), a(3, "ef")],
            vec!["WXYZ", "abcdef"],
        ),
        ("incomplete", vec![a(1, "ab"), a(3, "ef")], vec![]),
    ];
    assert!(!cases.is_empty());
    fn check(name: &str, parts: &[ReceivedPdu], want: &[&str]) {
        on_both_engines(|c| {
            assert_eq!(feed(c, parts, 0), want, "{name}");
            let listed: Vec<String> = inbox(c, None, 10)
                .expect("inbox")
                .into_iter()
                .map(|m| m.text)
                .collect();
            assert_eq!(listed, want, "{name}: inbox");
        });
    }
    for (name, parts, want) in &cases {
        check(name, parts, want);
    }
}

#[tokio::test]
async fn reassembly_survives_a_restart() {
    let (dir, store) = open_temp();
    let p = |r, seq, text| rx("+491702222222", Some((r, 2, seq)), text);
    for (r, text) in [(1, "one-"), (2, "two-"), (3, "three-")] {
        let out = store
            .record_received(p(r, 2, text), t(0))
            .await
            .expect("part 2");
        assert!(out.complete.is_none());
    }
    store.close().await.expect("close");
    let store = crate::store::Store::open(&dir.path().join("smsgate.db")).expect("reopen");
    let mut texts = Vec::new();
    for (r, text) in [(3, "3"), (1, "1"), (2, "2")] {
        let out = store
            .record_received(p(r, 1, text), t(10))
            .await
            .expect("part 1");
        texts.push(out.complete.expect("complete after restart").text);
    }
    assert_eq!(texts, vec!["3three-", "1one-", "2two-"]);
    assert_eq!(store.counts().await.expect("counts").inbox, 3);
}

#[test]
fn incomplete_sets_are_flushed_not_dropped() {
    on_both_engines(|c| {
        let p = |r, seq, text| rx("+491703333333", Some((r, 3, seq)), text);
        feed(c, &[p(1, 1, "a"), p(1, 3, "c")], 0);
        feed(c, &[p(2, 2, "x")], 100);
        // Set 1 idle since t(1), set 2 since t(100).
        let flushed = flush_incomplete(c, t(50), t(200)).expect("flush");
        assert_eq!(flushed.len(), 1);
        let m = &flushed[0];
        assert_eq!((m.text.as_str(), m.parts, m.complete), ("ac", 2, false));
        assert_eq!(m.missing_parts, vec![2]);
        // Late part 2 of set 1 starts a new set; never lost.
        assert!(feed(c, &[p(1, 2, "b")], 300).is_empty());
        let flushed = flush_incomplete(c, t(1000), t(1000)).expect("flush");
        let texts: Vec<_> = flushed.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["x", "b"]);
        assert!(flush_incomplete(c, t(2000), t(2000))
            .expect("flush")
            .is_empty());
        let listed = inbox(c, None, 10).expect("inbox");
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|m| !m.complete));
    });
}

#[test]
fn replace_type_replaces_the_earlier_message() {
    on_both_engines(|c| {
        let mut first = rx("+491704444444", None, "balance 10");
        first.replace_type = Some(0x41);
        first.pid = 0x41;
        let first_id = record_received(c, &first, t(0))
            .expect("first")
            .complete
            .expect("complete")
            .id;
        // Another sender, or another PID, is left alone.
        let mut other_pid = rx("+491704444444", None, "other pid");
        other_pid.replace_type = Some(0x42);
        other_pid.pid = 0x42;
        record_received(c, &other_pid, t(1)).expect("other pid");
        let mut second = rx("+491704444444", None, "balance 9");
        second.replace_type = Some(0x41);
        second.pid = 0x41;
        let m = record_received(c, &second, t(2))
            .expect("second")
            .complete
            .expect("complete");
        assert_eq!(m.replaces, Some(first_id));
        let texts: Vec<_> = inbox(c, None, 10)
            .expect("inbox")
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, vec!["other pid", "balance 9"]);
        assert_eq!(counts(c).expect("counts").inbox, 2);
    });
}

#[test]
fn inbox_pages_oldest_first_after_since() {
    on_both_engines(|c| {
        for i in 0..5 {
            record_received(c, &rx("+491705555555", None, &format!("m{i}")), t(i)).expect("rx");
        }
        let all = inbox(c, None, 10).expect("all");
        let page = inbox(c, Some(all[1].id), 2).expect("page");
        let texts: Vec<_> = page.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["m2", "m3"]);
        // Newest first, below an id.
        let latest = inbox_before(c, None, 2).expect("latest");
        let texts: Vec<_> = latest.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["m4", "m3"]);
        let older = inbox_before(c, Some(latest[1].id), 10).expect("older");
        let texts: Vec<_> = older.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, vec!["m2", "m1", "m0"]);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any order, any duplicates: each set completes exactly once, in order.
    #[test]
    fn reassembly_any_order(total in 2u8..8, sets in 1u16..4, seed in any::<u64>(), dups in 0usize..6) {
        let c = memory();
        let mut parts = Vec::new();
        for r in 0..sets {
            for seq in 1..=total {
                parts.push(rx("+491706666666", Some((r, total, seq)), &format!("[{r}.{seq}]")));
            }
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..dups {
            let i = rng.usize(..parts.len());
            parts.push(parts[i].clone());
        }
        rng.shuffle(&mut parts);
        let done = feed(&c, &parts, 0);
        prop_assert_eq!(done.len(), usize::from(sets));
        for r in 0..sets {
            let want: String = (1..=total).map(|s| format!("[{r}.{s}]")).collect();
            prop_assert!(done.contains(&want));
        }
        prop_assert!(flush_incomplete(&c, t(10_000), t(10_000)).expect("flush").is_empty());
    }
}

// --- status reports --------------------------------------------------------

const SIM: &str = "262011234567890";

/// A message of `parts` parts pinned to SIM and all sent with `mr + seq - 1`.
fn sent_message(c: &dyn Db, to: &str, parts: u32, mr: u8, at: i64) -> MessageId {
    let id = enqueue(c, &msg(to, parts), t(at)).expect("enqueue").id;
    let pdus: Vec<PartPdu> = (1..=parts).map(|s| PartPdu::hex(s, "00", 1)).collect();
    assign(c, id, "m1", Some(SIM), &pdus).expect("assign");
    for seq in 1..=parts {
        part_sending(c, id, seq, "m1", t(at)).expect("sending");
        let part_mr = mr.wrapping_add(u8::try_from(seq - 1).expect("small"));
        part_sent(c, id, seq, part_mr, t(at)).expect("sent");
    }
    id
}

fn sr(mr: u8, to: &str, status: u8, is_final: bool, tag: u32) -> ReportIn {
    ReportIn {
        modem: "m1".into(),
        sim: SIM.into(),
        mr,
        recipient: to.into(),
        sc_time: None,
        discharge: chrono::DateTime::parse_from_rfc3339("2026-01-01T13:00:05+01:00").ok(),
        status,
        is_final,
        success: status == 0,
        pdu: crate::codec::hex::decode(&format!("0006{mr:02X}{status:02X}{tag:08X}")).expect("hex"),
    }
}

#[test]
fn reports_match_the_latest_send_of_a_wrapped_mr() {
    on_both_engines(|c| {
        // 300 sends through one SIM to one number: MR wraps after 255.
        let ids: Vec<MessageId> = (0..300)
            .map(|i| sent_message(c, "+491707777777", 1, (i % 256) as u8, i64::from(i)))
            .collect();
        // Newer sends with the same MR that asked for no report are no candidates.
        for i in 0..3 {
            let mut m = msg("+491707777777", 1);
            m.report = false;
            let id = enqueue(c, &m, t(350)).expect("enqueue").id;
            assign(c, id, "m1", Some(SIM), &[PartPdu::hex(1, "00", 1)]).expect("assign");
            part_sending(c, id, 1, "m1", t(350 + i)).expect("sending");
            part_sent(c, id, 1, 10, t(350 + i)).expect("sent");
        }
        for mr in [0u8, 10, 43, 44, 200, 255] {
            let latest = (0..300usize)
                .rev()
                .find(|i| i % 256 == usize::from(mr))
                .expect("sent");
            // The report names the number without its country code.
            let out = record_report(c, &sr(mr, "01707777777", 0, true, u32::from(mr)), t(400))
                .expect("report");
            assert_eq!(out.matched, Some((ids[latest], 1)), "mr {mr}");
            assert_eq!(out.message_state, Some(MessageState::Delivered));
        }
    });
}

#[test]
fn report_matching_respects_sim_recipient_and_time() {
    on_both_engines(|c| {
        let id = sent_message(c, "+491708888888", 1, 9, 100);
        let cases: &[(&str, ReportIn, i64)] = &[
            ("other recipient", sr(9, "+491708888889", 0, true, 1), 200),
            (
                "other sim",
                ReportIn {
                    sim: "other".into(),
                    ..sr(9, "+491708888888", 0, true, 2)
                },
                200,
            ),
            ("other mr", sr(10, "+491708888888", 0, true, 3), 200),
            ("before it was sent", sr(9, "+491708888888", 0, true, 4), 50),
        ];
        assert!(!cases.is_empty());
        fn check(c: &dyn Db, name: &str, r: &ReportIn, at: i64) {
            let out = record_report(c, r, t(at)).expect("report");
            assert_eq!(out.matched, None, "{name}");
            assert!(!out.duplicate, "{name}");
        }
        for (name, r, at) in cases {
            check(c, name, r, *at);
        }
        assert_eq!(
            counts(c).expect("counts").unmatched_reports,
            cases.len() as u64
        );
        let out = record_report(c, &sr(9, "+491708888888", 0, true, 9), t(200)).expect("report");
        assert_eq!(out.matched, Some((id, 1)));
    });
}

#[test]
fn a_report_without_recipient_matches_by_sim_and_mr() {
    on_both_engines(|c| {
        sent_message(c, "+491703030303", 1, 12, 0);
        let latest = sent_message(c, "+491704040404", 1, 12, 10);
        let out = record_report(c, &sr(12, "", 0, true, 1), t(20)).expect("report");
        assert_eq!(out.matched, Some((latest, 1)));
    });
}

#[test]
fn temporary_then_final_status() {
    on_both_engines(|c| {
        let id = sent_message(c, "+491709999999", 1, 5, 0);
        let temp = record_report(c, &sr(5, "+491709999999", 0x30, false, 1), t(10)).expect("temp");
        assert_eq!(temp.matched, Some((id, 1)));
        assert_eq!(temp.message_state, Some(MessageState::Sent));
        let v = crate::store::outgoing::show(c, id)
            .expect("show")
            .expect("exists");
        assert_eq!(
            (v.parts[0].state, v.parts[0].status),
            (PartState::Sent, Some(0x30))
        );
        let fin = record_report(c, &sr(5, "+491709999999", 0x46, true, 2), t(20)).expect("final");
        assert_eq!(fin.message_state, Some(MessageState::Failed));
        let v = crate::store::outgoing::show(c, id)
            .expect("show")
            .expect("exists");
        assert_eq!(
            (v.parts[0].state, v.parts[0].status),
            (PartState::Failed, Some(0x46))
        );
        assert!(v.error.as_deref().unwrap_or("").contains("0x46"));
    });
}

#[test]
fn duplicate_report_is_stored_once() {
    on_both_engines(|c| {
        let id = sent_message(c, "+491701010101", 1, 1, 0);
        let r = sr(1, "+491701010101", 0, true, 1);
        let first = record_report(c, &r, t(5)).expect("first");
        let again = record_report(c, &r, t(6)).expect("again");
        assert!(!first.duplicate);
        assert_eq!(
            again,
            ReportOutcome {
                duplicate: true,
                matched: Some((id, 1)),
                message_state: None
            }
        );
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM status_report", args![], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
    });
}

#[test]
fn a_report_that_beats_part_sent_is_applied_by_it() {
    on_both_engines(|c| {
        let id = enqueue(c, &msg("+491702020202", 2), t(0))
            .expect("enqueue")
            .id;
        assign(
            c,
            id,
            "m1",
            Some(SIM),
            &[PartPdu::hex(1, "00", 1), PartPdu::hex(2, "00", 1)],
        )
        .expect("assign");
        part_sending(c, id, 1, "m1", t(1)).expect("sending");
        // The network answered before our commit of part_sent.
        let early = record_report(c, &sr(77, "+491702020202", 0, true, 1), t(2)).expect("early");
        assert_eq!(early.matched, None);
        assert_eq!(counts(c).expect("counts").unmatched_reports, 1);
        part_sent(c, id, 1, 77, t(3)).expect("sent");
        let v = crate::store::outgoing::show(c, id)
            .expect("show")
            .expect("exists");
        assert_eq!(v.parts[0].state, PartState::Delivered);
        assert_eq!(counts(c).expect("counts").unmatched_reports, 0);
        // Too old an unmatched report is not claimed.
        record_report(c, &sr(78, "+491702020202", 0, true, 2), t(4)).expect("stale");
        part_sending(c, id, 2, "m1", t(1000)).expect("sending");
        part_sent(c, id, 2, 78, t(1000)).expect("sent");
        let v = crate::store::outgoing::show(c, id)
            .expect("show")
            .expect("exists");
        assert_eq!(v.parts[1].state, PartState::Sent);
        assert_eq!(v.state, MessageState::Sent);
    });
}

#[test]
fn modems_and_sims_are_remembered_by_identity() {
    on_both_engines(|c| {
        let seen = |name: &str, imei: &str, imsi: &str| crate::store::ModemSeen {
            name: name.into(),
            imei: Some(imei.into()),
            imsi: Some(imsi.into()),
            iccid: Some(format!("89{imsi}")),
            manufacturer: Some("Acme".into()),
            model: None,
        };
        // A pool sharing one IMEI keeps one row per SIM (gammu overwrote them).
        upsert_modem(c, &seen("m1", "350000000000001", "262010000000001"), t(0)).expect("m1");
        upsert_modem(c, &seen("m2", "350000000000001", "262010000000002"), t(0)).expect("m2");
        upsert_modem(c, &seen("m1", "350000000000001", "262010000000001"), t(9)).expect("again");
        let rows: i64 = c
            .query_one("SELECT COUNT(*) FROM modem_seen", args![], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 2);
        record_received(c, &rx("+491700000000", None, "x"), t(10)).expect("rx");
        let sims = sim_counters(c).expect("sims");
        let names: Vec<_> = sims.iter().map(|s| s.sim.as_str()).collect();
        assert_eq!(names, vec!["262010000000001", "262010000000002", SIM]);
        assert_eq!(sims[2].received, 1);
        assert_eq!(sims[0].iccid.as_deref(), Some("89262010000000001"));
        assert_eq!(sims[0].last_seen, "2026-01-01T12:00:09Z");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever arrives (bogus totals and sequence numbers, colliding
    /// references, repeats), nothing fails and nothing is dropped: after a
    /// flush every distinct PDU is in exactly one inbox message.
    #[test]
    fn nothing_received_is_lost(
        pdus in proptest::collection::vec(
            (0u16..3, 0u8..4, 0u8..5, "[a-z]{0,3}", proptest::option::of(0x41u8..0x48), any::<bool>()),
            1..30,
        )
    ) {
        let c = memory();
        received_is_kept(&c, &pdus)?;
    }
}

proptest! {
    // Fewer cases: each takes a fresh PostgreSQL database.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// [`nothing_received_is_lost`] on PostgreSQL.
    #[test]
    fn nothing_received_is_lost_on_postgres(
        pdus in proptest::collection::vec(
            (0u16..3, 0u8..4, 0u8..5, "[a-z]{0,3}", proptest::option::of(0x41u8..0x48), any::<bool>()),
            1..30,
        )
    ) {
        let Some(pg) = crate::store::pgtest::database() else {
            return Ok(());
        };
        crate::store::schema_pg::migrate_pg(&pg).expect("migrate");
        received_is_kept(&pg, &pdus)?;
    }
}

type Received = (u16, u8, u8, String, Option<u8>, bool);

/// Records every PDU of `pdus`, flushes, and checks each distinct PDU is in
/// exactly one inbox message.
fn received_is_kept(c: &dyn Db, pdus: &[Received]) -> Result<(), TestCaseError> {
    let mut distinct = std::collections::HashSet::new();
    for (i, (reference, total, seq, text, replace, ref16)) in pdus.iter().enumerate() {
        let concat = (*total > 0).then_some((*reference, *total, *seq));
        let mut p = rx("+491707070707", concat, text);
        if let Some(k) = p.concat.as_mut() {
            k.ref16 = *ref16;
        }
        p.pdu.push(u8::from(*ref16));
        p.replace_type = *replace;
        let out = record_received(c, &p, t(i as i64)).expect("record");
        prop_assert_eq!(out.duplicate, !distinct.insert(p.pdu.clone()));
    }
    flush_incomplete(c, t(1000), t(1000)).expect("flush");
    let open: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM received_pdu WHERE inbox_id IS NULL",
            args![],
            |r| r.get(0),
        )
        .expect("count");
    prop_assert_eq!(open, 0);
    let parts: i64 = c
        .query_one("SELECT COALESCE(SUM(parts), 0) FROM inbox", args![], |r| {
            r.get(0)
        })
        .expect("sum");
    prop_assert_eq!(usize::try_from(parts).expect("count"), distinct.len());
    Ok(())
}
