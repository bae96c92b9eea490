//! Tests of the outgoing lifecycle, run against the pure query functions on
//! an in-memory database (fast, no threads) and through the handle where the
//! handle is the point.

use super::*;
use crate::store::incoming::record_report;
use crate::store::pgtest::on_both_engines;
use crate::store::tests::fixture::{memory, msg, open_temp, t};
use crate::store::ReportIn;
use rusqlite::Connection;

fn enq(c: &dyn Db, to: &str, parts: u32) -> MessageId {
    enqueue(c, &msg(to, parts), t(0)).expect("enqueue").id
}

/// Assigns to `modem`/`sim` with made-up PDUs.
fn pin(c: &dyn Db, id: MessageId, modem: &str, sim: &str, parts: u32) {
    let pdus: Vec<PartPdu> = (1..=parts)
        .map(|s| PartPdu::hex(s, &format!("00{s:02X}"), 10))
        .collect();
    assign(c, id, modem, Some(sim), &pdus).expect("assign");
}

fn send(c: &dyn Db, id: MessageId, seq: u32, modem: &str, mr: u8, at: i64) -> MessageState {
    part_sending(c, id, seq, modem, t(at)).expect("sending");
    part_sent(c, id, seq, mr, t(at)).expect("sent")
}

fn report(sim: &str, mr: u8, to: &str, status: u8, tag: &str) -> ReportIn {
    ReportIn {
        modem: "m1".into(),
        sim: sim.into(),
        mr,
        recipient: to.into(),
        sc_time: None,
        discharge: None,
        status,
        is_final: !(0x20..0x40).contains(&status),
        success: status < 0x20,
        pdu: crate::codec::hex::decode(&format!("06{mr:02X}{status:02X}{tag}")).expect("hex"),
    }
}

fn view(c: &dyn Db, id: MessageId) -> OutgoingView {
    show(c, id).expect("show").expect("exists")
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Part goes out with this MR.
    Out(u32, u8),
    /// Status report for MR with TP-ST.
    Report(u8, u8),
    /// Part fails permanently.
    Fail(u32),
}

#[test]
fn multipart_rollup() {
    use Ev::*;
    use MessageState::*;
    let cases: &[(&str, &[Ev], MessageState)] = &[
        ("nothing yet", &[], Queued),
        ("one part out", &[Out(1, 1)], Sending),
        ("all out", &[Out(1, 1), Out(2, 2), Out(3, 3)], Sent),
        (
            "two of three delivered",
            &[Out(1, 1), Out(2, 2), Out(3, 3), Report(1, 0), Report(2, 0)],
            Sent,
        ),
        (
            "all delivered",
            &[
                Out(1, 1),
                Out(2, 2),
                Out(3, 3),
                Report(3, 0),
                Report(1, 0),
                Report(2, 0),
            ],
            Delivered,
        ),
        (
            "temporary status keeps it open",
            &[
                Out(1, 1),
                Out(2, 2),
                Out(3, 3),
                Report(1, 0),
                Report(2, 0),
                Report(3, 0x20),
            ],
            Sent,
        ),
        (
            "one part failed by the network",
            &[
                Out(1, 1),
                Out(2, 2),
                Out(3, 3),
                Report(1, 0),
                Report(2, 0x41),
            ],
            Failed,
        ),
        ("permanent failure of a part", &[Out(1, 1), Fail(2)], Failed),
    ];
    assert!(!cases.is_empty());
    fn check(name: &str, events: &[Ev], want: MessageState) {
        on_both_engines(|c| {
            let id = enq(c, "+491701234567", 3);
            pin(c, id, "m1", "sim1", 3);
            let mut now = 1;
            for ev in events {
                now += 1;
                match *ev {
                    Ev::Out(seq, mr) => {
                        send(c, id, seq, "m1", mr, now);
                    }
                    Ev::Report(mr, st) => {
                        let r = report("sim1", mr, "+491701234567", st, &format!("{now:02X}"));
                        let out = record_report(c, &r, t(now)).expect("report");
                        assert!(
                            out.matched.is_some(),
                            "{name}: report for mr {mr} unmatched"
                        );
                    }
                    Ev::Fail(seq) => {
                        part_sending(c, id, seq, "m1", t(now)).expect("sending");
                        part_failed(c, id, seq, "CMS 500", Disposition::Permanent, t(now))
                            .expect("fail");
                    }
                }
            }
            assert_eq!(view(c, id).state, want, "{name}");
            if want == MessageState::Failed {
                let v = view(c, id);
                assert!(v.error.is_some(), "{name}: a failure says why");
                assert!(
                    !v.parts.iter().any(|p| p.state == PartState::Pending),
                    "{name}: nothing left pending"
                );
            }
        });
    }
    for (name, events, want) in cases {
        check(name, events, *want);
    }
}

#[test]
fn failover_unpins_only_while_nothing_went_out() {
    on_both_engines(|c| {
        // Nothing out: unpinned, modem remembered, PDUs dropped.
        let a = enq(c, "+491701234567", 2);
        pin(c, a, "m1", "sim1", 2);
        part_sending(c, a, 1, "m1", t(1)).expect("sending");
        let s = part_failed(c, a, 1, "no network", Disposition::Failover(t(30)), t(1))
            .expect("failover");
        assert_eq!(s, MessageState::Queued);
        assert!(ready(c, t(10), 10, &[]).expect("ready").messages.is_empty());
        let batch = ready(c, t(30), 10, &[]).expect("ready");
        let m = &batch.messages[0];
        assert_eq!(
            (m.assigned_modem.as_deref(), m.sim.as_deref()),
            (None, None)
        );
        assert_eq!(m.tried_modems, vec!["m1".to_string()]);
        assert!(m.parts.iter().all(|p| p.pdu.is_none()));
        assert_eq!(m.parts[0].attempts, 1);

        // Part 1 out: stays pinned, behaves like RetryAt.
        let b = enq(c, "+491701234567", 2);
        pin(c, b, "m1", "sim1", 2);
        send(c, b, 1, "m1", 7, 2);
        part_sending(c, b, 2, "m1", t(3)).expect("sending");
        let s = part_failed(c, b, 2, "no network", Disposition::Failover(t(40)), t(3))
            .expect("failover");
        assert_eq!(s, MessageState::Sending);
        let batch = ready(c, t(40), 10, &[]).expect("ready");
        let m = batch
            .messages
            .iter()
            .find(|m| m.id == b)
            .expect("ready again");
        assert_eq!(m.assigned_modem.as_deref(), Some("m1"));
        assert!(m.tried_modems.is_empty());
        assert!(m.parts[1].pdu.is_some());
        // And a different SIM may not take it over.
        assert!(matches!(
            assign(c, b, "m2", Some("sim2"), &[]),
            Err(StoreError::InvalidState { .. })
        ));
    });
}

#[test]
fn recover_on_start_policies() {
    fn check(resend: bool) {
        on_both_engines(|c| {
            let id = enq(c, "+491701234567", 3);
            pin(c, id, "m1", "sim1", 3);
            send(c, id, 1, "m1", 1, 1);
            part_sending(c, id, 2, "m1", t(2)).expect("sending");
            let other = enq(c, "+491709999999", 1);
            let r = recover_on_start(c, resend, t(100)).expect("recover");
            assert_eq!(r.uncertain, 1);
            let v = view(c, id);
            if resend {
                assert_eq!(
                    r,
                    Recovered {
                        uncertain: 1,
                        requeued: 1,
                        failed: 0
                    }
                );
                assert_eq!(v.state, MessageState::Sending);
                // Still uncertain, so the message stays pinned to its SIM.
                assert_eq!(v.parts[1].state, PartState::Uncertain);
                let batch = ready(c, t(100), 10, &[]).expect("ready");
                assert_eq!(batch.messages.len(), 2);
            } else {
                assert_eq!(
                    r,
                    Recovered {
                        uncertain: 1,
                        requeued: 0,
                        failed: 1
                    }
                );
                assert_eq!(v.state, MessageState::Failed);
                assert_eq!(v.parts[1].state, PartState::Uncertain);
                assert_eq!(v.parts[2].state, PartState::Cancelled);
                assert!(v.error.as_deref().unwrap_or("").contains("in flight"));
            }
            assert_eq!(view(c, other).state, MessageState::Queued);
            // Running it again finds nothing new.
            let again = recover_on_start(c, resend, t(200)).expect("again");
            assert_eq!(again.uncertain, 0);
        });
    }
    let policies = [true, false];
    assert!(!policies.is_empty());
    for resend in policies {
        check(resend);
    }
}

#[test]
fn expiry() {
    on_both_engines(|c| {
        let mut m = msg("+491701234567", 2);
        m.expires_at = Some(t(60));
        let id = enqueue(c, &m, t(0)).expect("enqueue").id;
        let later = enq(c, "+491701234568", 1);
        let batch = ready(c, t(1), 10, &[]).expect("ready");
        assert_eq!(batch.next_wake, Some(t(60)));
        assert!(expire(c, t(59)).expect("expire").is_empty());
        // In flight: wait for the outcome.
        pin(c, id, "m1", "sim1", 2);
        part_sending(c, id, 1, "m1", t(59)).expect("sending");
        assert!(expire(c, t(61)).expect("expire").is_empty());
        part_sent(c, id, 1, 5, t(62)).expect("sent");
        assert!(ready(c, t(62), 10, &[])
            .expect("ready")
            .messages
            .iter()
            .all(|m| m.id != id));
        assert_eq!(expire(c, t(63)).expect("expire"), vec![id]);
        let v = view(c, id);
        assert_eq!(v.state, MessageState::Expired);
        assert_eq!(v.parts[0].state, PartState::Sent);
        assert_eq!(v.parts[1].state, PartState::Cancelled);
        assert_eq!(view(c, later).state, MessageState::Queued);
        // A late report does not revive it.
        let r =
            record_report(c, &report("sim1", 5, "+491701234567", 0, "01"), t(64)).expect("report");
        assert_eq!(r.message_state, Some(MessageState::Expired));
    });
}

/// Brings a fresh message to `state`.
fn make(c: &dyn Db, state: MessageState) -> MessageId {
    let id = enq(c, "+491701234567", 2);
    match state {
        MessageState::Queued => {}
        MessageState::Sending => {
            pin(c, id, "m1", "sim1", 2);
            send(c, id, 1, "m1", 1, 1);
        }
        MessageState::Sent | MessageState::Delivered => {
            pin(c, id, "m1", "sim1", 2);
            send(c, id, 1, "m1", 1, 1);
            send(c, id, 2, "m1", 2, 1);
            if state == MessageState::Delivered {
                for mr in [1, 2] {
                    let r = report("sim1", mr, "+491701234567", 0, &format!("{id:02X}"));
                    record_report(c, &r, t(2)).expect("report");
                }
            }
        }
        MessageState::Failed => {
            pin(c, id, "m1", "sim1", 2);
            part_sending(c, id, 1, "m1", t(1)).expect("sending");
            part_failed(c, id, 1, "CMS 38", Disposition::Permanent, t(1)).expect("fail");
        }
        MessageState::Cancelled => {
            cancel(c, id, t(1)).expect("cancel");
        }
        MessageState::Expired => {
            c.execute(
                "UPDATE outgoing SET expires_at = 0 WHERE id = ?1",
                args![id],
            )
            .expect("backdate");
            expire(c, t(1)).expect("expire");
        }
        MessageState::Skipped => {
            skip(c, id, t(1)).expect("skip");
        }
    }
    assert_eq!(view(c, id).state, state, "fixture for {state}");
    id
}

#[test]
fn cancel_and_retry_from_every_state() {
    use MessageState::*;
    // (from, cancel gives, retry gives); None = refused.
    let cases: &[(MessageState, Option<MessageState>, Option<MessageState>)] = &[
        (Queued, Some(Cancelled), None),
        (Sending, Some(Cancelled), None),
        (Sent, None, None),
        (Delivered, None, None),
        (Failed, None, Some(Queued)),
        (Cancelled, None, Some(Queued)),
        (Expired, None, Some(Queued)),
        (Skipped, None, None),
    ];
    assert_eq!(cases.len(), MessageState::ALL.len());
    fn check(
        from: MessageState,
        cancel_gives: Option<MessageState>,
        retry_gives: Option<MessageState>,
    ) {
        on_both_engines(|c| {
            let id = make(c, from);
            match (cancel(c, id, t(5)), cancel_gives) {
                (Ok(s), Some(want)) => {
                    assert_eq!(s, want, "cancel from {from}");
                    let v = view(c, id);
                    assert!(v.parts.iter().all(|p| p.state != PartState::Pending));
                    assert!(ready(c, t(5), 10, &[]).expect("ready").messages.is_empty());
                }
                (Err(StoreError::InvalidState { .. }), None) => {}
                (got, want) => panic!("cancel from {from}: got {got:?}, want {want:?}"),
            }
        });
        on_both_engines(|c| {
            let id = make(c, from);
            match (retry(c, id, t(5)), retry_gives) {
                (Ok(s), Some(want)) => {
                    assert_eq!(s, want, "retry from {from}");
                    let batch = ready(c, t(5), 10, &[]).expect("ready");
                    let m = batch.messages.iter().find(|m| m.id == id).expect("ready");
                    assert!(m
                        .parts
                        .iter()
                        .all(|p| p.state == PartState::Pending && p.attempts == 0));
                    assert_eq!(m.assigned_modem, None);
                    assert_eq!(view(c, id).error, None);
                }
                (Err(StoreError::InvalidState { .. }), None) => {}
                (got, want) => panic!("retry from {from}: got {got:?}, want {want:?}"),
            }
        });
    }
    for (from, cancel_gives, retry_gives) in cases {
        check(*from, *cancel_gives, *retry_gives);
    }
    on_both_engines(|c| {
        assert_eq!(
            cancel(c, 99, t(0)),
            Err(StoreError::NoSuchMessage { id: 99 })
        );
    });
}

#[test]
fn spool_key_dedupe() {
    on_both_engines(|c| {
        let mut m = msg("+491701234567", 3);
        m.spool_key = Some("outgoing/abc".into());
        let first = enqueue(c, &m, t(0)).expect("first");
        let second = enqueue(c, &m, t(5)).expect("second");
        assert!(!first.duplicate);
        assert_eq!(
            second,
            Enqueued {
                id: first.id,
                parts: 3,
                duplicate: true
            }
        );
        m.spool_key = Some("outgoing/def".into());
        assert_ne!(enqueue(c, &m, t(6)).expect("third").id, first.id);
    });
}

#[test]
fn ready_order_schedule_and_wake() {
    on_both_engines(|c| {
        let low = {
            let mut m = msg("+491700000001", 1);
            m.priority = Priority::Low;
            enqueue(c, &m, t(0)).expect("low").id
        };
        let normal = enq(c, "+491700000002", 1);
        let high = {
            let mut m = msg("+491700000003", 1);
            m.priority = Priority::High;
            enqueue(c, &m, t(0)).expect("high").id
        };
        let scheduled = {
            let mut m = msg("+491700000004", 1);
            m.not_before = Some(t(100));
            enqueue(c, &m, t(0)).expect("scheduled").id
        };
        let batch = ready(c, t(1), 10, &[]).expect("ready");
        let ids: Vec<_> = batch.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![high, normal, low]);
        // Held campaigns leave messages of no campaign alone.
        let held = ready(c, t(1), 10, &[1, 2]).expect("ready, campaigns held");
        let ids_held: Vec<_> = held.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids_held, ids);
        assert_eq!(batch.next_wake, Some(t(100)));
        assert_eq!(ready(c, t(1), 2, &[]).expect("limited").messages.len(), 2);
        let later = ready(c, t(100), 10, &[]).expect("ready");
        assert!(later.messages.iter().any(|m| m.id == scheduled));
        assert_eq!(later.next_wake, None);
        // A retry later moves the wake time.
        pin(c, high, "m1", "sim1", 1);
        part_sending(c, high, 1, "m1", t(101)).expect("sending");
        part_failed(c, high, 1, "busy", Disposition::RetryAt(t(130)), t(101)).expect("retry");
        let batch = ready(c, t(102), 10, &[]).expect("ready");
        assert!(batch.messages.iter().all(|m| m.id != high));
        assert_eq!(batch.next_wake, Some(t(130)));
        assert_eq!(view(c, high).parts[0].error.as_deref(), Some("busy"));
    });
}

#[test]
fn concat_reference_counts_per_sim_and_destination_and_wraps() {
    on_both_engines(|c| {
        let first = next_concat_ref(c, "sim1", "+491701234567").expect("ref");
        let mut prev = first;
        for _ in 0..300 {
            let next = next_concat_ref(c, "sim1", "491701234567").expect("ref");
            assert!(next < 256);
            assert_eq!(next, (prev + 1) % 256);
            prev = next;
        }
        // Another destination has its own counter.
        let other = next_concat_ref(c, "sim1", "+491709999999").expect("ref");
        let after = next_concat_ref(c, "sim1", "+491709999999").expect("ref");
        assert_eq!(after, (other + 1) % 256);
    });
}

#[test]
fn usage_windows() {
    on_both_engines(|c| {
        let id = enq(c, "+491701234567", 4);
        pin(c, id, "m1", "sim1", 4);
        // Sent at -2 h, -30 min, -30 s, now.
        let at = [-7200, -1800, -30, 0];
        for (seq, when) in (1..).zip(at) {
            send(c, id, seq, "m1", seq as u8, when);
        }
        let u = usage(c, "sim1", t(0)).expect("usage");
        assert_eq!(
            u,
            Usage {
                last_minute: 2,
                last_hour: 3,
                last_day: 4
            }
        );
        assert_eq!(usage(c, "sim2", t(0)).expect("usage"), Usage::default());
        let u = usage(c, "sim1", t(86_400 - 7200 + 1)).expect("a day later");
        assert_eq!(u.last_day, 3);
    });
}

#[test]
fn part_transitions_are_checked() {
    on_both_engines(|c| {
        let id = enq(c, "+491701234567", 1);
        assert!(matches!(
            part_sent(c, id, 1, 1, t(0)),
            Err(StoreError::InvalidState { .. })
        ));
        assert_eq!(
            part_sending(c, id, 2, "m1", t(0)),
            Err(StoreError::NoSuchPart { id, seq: 2 })
        );
        assert_eq!(
            part_sending(c, 77, 1, "m1", t(0)),
            Err(StoreError::NoSuchMessage { id: 77 })
        );
        send(c, id, 1, "m1", 3, 1);
        assert!(matches!(
            part_sending(c, id, 1, "m1", t(2)),
            Err(StoreError::InvalidState { .. })
        ));
        assert!(matches!(
            enqueue(c, &msg("abc", 1), t(0)),
            Err(StoreError::Invalid { field: "to", .. })
        ));
    });
}

#[test]
fn a_message_with_a_part_in_flight_is_not_ready() {
    on_both_engines(|c| {
        let id = enq(c, "+491701234567", 2);
        pin(c, id, "m1", "sim1", 2);
        part_sending(c, id, 1, "m1", t(1)).expect("sending");
        assert!(ready(c, t(1), 10, &[]).expect("ready").messages.is_empty());
        part_sent(c, id, 1, 1, t(2)).expect("sent");
        let batch = ready(c, t(2), 10, &[]).expect("ready");
        assert_eq!(batch.messages.len(), 1);
        // Another modem may not send the rest.
        assert!(matches!(
            part_sending(c, id, 2, "m2", t(3)),
            Err(StoreError::InvalidState { .. })
        ));
    });
}

#[test]
fn validity_sets_the_deadline_when_none_is_given() {
    on_both_engines(|c| {
        let mut m = msg("+491701234567", 1);
        m.validity = Some(std::time::Duration::from_secs(3600));
        let id = enqueue(c, &m, t(0)).expect("enqueue").id;
        assert_eq!(
            ready(c, t(1), 10, &[]).expect("ready").next_wake,
            Some(t(3600))
        );
        assert!(ready(c, t(3600), 10, &[])
            .expect("ready")
            .messages
            .is_empty());
        assert_eq!(expire(c, t(3600)).expect("expire"), vec![id]);
        let batch = ready(c, t(3600), 10, &[]).expect("ready");
        assert!(batch.messages.is_empty());
        assert_eq!(
            view(c, id).expires_at.as_deref(),
            Some("2026-01-01T13:00:00Z")
        );
    });
}

#[test]
fn outbox_is_newest_first_and_filters() {
    on_both_engines(|c| {
        let ids: Vec<MessageId> = (0..4)
            .map(|i| enq(c, &format!("+4917000000{i}"), 1))
            .collect();
        cancel(c, ids[1], t(1)).expect("cancel");
        cancel(c, ids[3], t(1)).expect("cancel");
        let all: Vec<_> = outbox(c, None, 10)
            .expect("all")
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(all, vec![ids[3], ids[2], ids[1], ids[0]]);
        let some: Vec<_> = outbox(c, Some(MessageState::Cancelled), 1)
            .expect("cancelled")
            .iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(some, vec![ids[3]]);
        assert!(outbox(c, Some(MessageState::Delivered), 10)
            .expect("none")
            .is_empty());
        assert_eq!(show(c, 999).expect("show"), None);
    });
}

/// The hot paths use an index, never a full table scan.
#[test]
fn hot_queries_use_indexes() {
    let c = memory();
    let queries: &[(&str, &str)] = &[
        ("ready", "SELECT id FROM outgoing WHERE state IN ('queued', 'sending') AND not_before <= 1 AND next_attempt_at <= 1 AND EXISTS (SELECT 1 FROM outgoing_part p WHERE p.message_id = outgoing.id AND p.state = 'pending') AND NOT EXISTS (SELECT 1 FROM outgoing_part p WHERE p.message_id = outgoing.id AND p.state = 'sending') ORDER BY priority DESC, id LIMIT 10"),
        ("spool key", "SELECT id FROM outgoing WHERE spool_key = 'x'"),
        ("part update", "UPDATE outgoing_part SET state = 'sent' WHERE message_id = 1 AND seq = 1"),
        ("report candidates", "SELECT p.message_id FROM outgoing_part p JOIN outgoing o ON o.id = p.message_id WHERE p.sim = 's' AND p.mr = 1 AND p.state = 'sent' AND p.sent_at <= 5 ORDER BY p.sent_at DESC LIMIT 16"),
        ("early reports", "SELECT id FROM status_report WHERE message_id IS NULL AND sim = 's' AND mr = 1 AND received_at >= 0"),
        ("usage", "SELECT COUNT(*) FROM send_log WHERE sim = 's' AND at > 0 AND at <= 5"),
        ("sticky", "SELECT assigned_modem FROM outgoing WHERE to_digits = '1' AND assigned_modem IS NOT NULL ORDER BY id DESC LIMIT 1"),
        ("open set", "SELECT id FROM received_pdu WHERE inbox_id IS NULL AND sim = 's' AND sender = 'a' AND concat_ref = 1 AND concat_total = 2 AND ref16 = 0"),
        ("dup pdu", "SELECT id FROM received_pdu WHERE sim = 's' AND pdu_hex = 'AA'"),
        ("in flight", "SELECT message_id FROM outgoing_part WHERE state = 'sending'"),
        ("outbox by state", "SELECT id FROM outgoing WHERE state = 'failed' ORDER BY id DESC LIMIT 10"),
        ("inbox since", "SELECT id FROM inbox WHERE id > 5 AND replaced_by IS NULL ORDER BY id LIMIT 10"),
    ];
    assert!(!queries.is_empty());
    fn check(c: &Connection, name: &str, sql: &str) {
        let mut stmt = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let plan: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        for line in &plan {
            let scan = line.starts_with("SCAN") && !line.contains("INDEX");
            assert!(!scan, "{name}: full scan in {plan:?}");
        }
    }
    for (name, sql) in queries {
        check(&c, name, sql);
    }
}

mod model {
    //! Random sequences of lifecycle calls: nothing panics, only the
    //! expected refusals come back, and the invariants hold after each step.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Assign(usize, u8),
        Sending(usize, u32, u8),
        Sent(usize, u32, u8),
        Failed(usize, u32, u8),
        Cancel(usize),
        Retry(usize),
        Expire,
        Report(u8, u8),
        Recover(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let m = 0usize..3;
        let seq = 1u32..4;
        prop_oneof![
            (m.clone(), 0u8..2).prop_map(|(m, s)| Op::Assign(m, s)),
            (m.clone(), seq.clone(), 0u8..2).prop_map(|(m, q, s)| Op::Sending(m, q, s)),
            (m.clone(), seq.clone(), 0u8..4).prop_map(|(m, q, r)| Op::Sent(m, q, r)),
            (m.clone(), seq, 0u8..3).prop_map(|(m, q, d)| Op::Failed(m, q, d)),
            m.clone().prop_map(Op::Cancel),
            m.prop_map(Op::Retry),
            Just(Op::Expire),
            (0u8..4, prop_oneof![Just(0u8), Just(0x20), Just(0x41)])
                .prop_map(|(r, s)| Op::Report(r, s)),
            any::<bool>().prop_map(Op::Recover),
        ]
    }

    /// Runs one call in a savepoint, as the store thread does.
    fn apply(c: &dyn Db, ids: &[MessageId], op: &Op, now: i64) -> Result<(), StoreError> {
        c.batch("SAVEPOINT op").expect("savepoint");
        let at = t(now);
        let r = match *op {
            Op::Assign(m, s) => {
                let pdus = (1..=3)
                    .map(|q| PartPdu::hex(q, "00", 1))
                    .collect::<Vec<_>>();
                assign(c, ids[m], &format!("m{s}"), Some(&format!("s{s}")), &pdus)
            }
            Op::Sending(m, q, s) => part_sending(c, ids[m], q, &format!("m{s}"), at),
            Op::Sent(m, q, mr) => part_sent(c, ids[m], q, mr, at).map(|_| ()),
            Op::Failed(m, q, d) => {
                let d = match d {
                    0 => Disposition::RetryAt(at),
                    1 => Disposition::Failover(at),
                    _ => Disposition::Permanent,
                };
                part_failed(c, ids[m], q, "err", d, at).map(|_| ())
            }
            Op::Cancel(m) => cancel(c, ids[m], at).map(|_| ()),
            Op::Retry(m) => retry(c, ids[m], at).map(|_| ()),
            Op::Expire => expire(c, at).map(|_| ()),
            Op::Report(mr, st) => {
                let mut r = report("s0", mr, "+491701234567", st, &format!("{now:08X}"));
                r.sim = "s0".into();
                record_report(c, &r, at).map(|_| ())
            }
            Op::Recover(resend) => recover_on_start(c, resend, at).map(|_| ()),
        };
        let end = if r.is_ok() {
            "RELEASE op"
        } else {
            "ROLLBACK TO op; RELEASE op"
        };
        c.batch(end).expect("savepoint end");
        r
    }

    fn invariants(c: &dyn Db, ids: &[MessageId], now: i64) {
        for &id in ids {
            let v = view(c, id);
            let out: Vec<&PartView> = v
                .parts
                .iter()
                .filter(|p| {
                    matches!(
                        p.state,
                        PartState::Sending
                            | PartState::Uncertain
                            | PartState::Sent
                            | PartState::Delivered
                    )
                })
                .collect();
            let sims: Vec<Option<String>> = c
                .query(
                    "SELECT sim FROM outgoing_part WHERE message_id = ?1
                       AND state IN ('sending','uncertain','sent','delivered')",
                    args![id],
                    |r| r.get(0),
                )
                .expect("rows");
            assert_eq!(sims.len(), out.len());
            assert!(
                sims.iter().all(|s| s.is_some() && *s == sims[0]),
                "one SIM per message: {sims:?}"
            );
            let has = |s: PartState| v.parts.iter().any(|p| p.state == s);
            match v.state {
                MessageState::Queued => assert!(out.is_empty(), "queued with parts out: {v:?}"),
                MessageState::Sent => assert!(
                    v.parts
                        .iter()
                        .all(|p| matches!(p.state, PartState::Sent | PartState::Delivered)),
                    "{v:?}"
                ),
                MessageState::Delivered => assert!(
                    v.parts.iter().all(|p| p.state == PartState::Delivered),
                    "{v:?}"
                ),
                MessageState::Failed
                | MessageState::Cancelled
                | MessageState::Expired
                | MessageState::Skipped => {
                    assert!(!has(PartState::Pending), "final with pending parts: {v:?}")
                }
                MessageState::Sending => {}
            }
        }
        for m in ready(c, t(now), 10, &[]).expect("ready").messages {
            assert!(m
                .parts
                .iter()
                .any(|p| matches!(p.state, PartState::Pending | PartState::Uncertain)));
            let state = view(c, m.id).state;
            assert!(
                matches!(state, MessageState::Queued | MessageState::Sending),
                "{state}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn lifecycle_model(ops in proptest::collection::vec(op(), 1..40)) {
            let c = memory();
            run(&c, &ops)?;
        }
    }

    proptest! {
        // Fewer cases: each takes a fresh PostgreSQL database.
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        #[test]
        fn lifecycle_model_on_postgres(ops in proptest::collection::vec(op(), 1..40)) {
            let Some(pg) = crate::store::pgtest::database() else {
                return Ok(());
            };
            crate::store::schema_pg::migrate_pg(&pg).expect("migrate");
            // Savepoints need a transaction on PostgreSQL, as on the store
            // thread.
            pg.batch("BEGIN").expect("begin");
            run(&pg, &ops)?;
            pg.batch("COMMIT").expect("commit");
        }
    }

    fn run(c: &dyn Db, ops: &[Op]) -> Result<(), TestCaseError> {
        let ids: Vec<MessageId> = (1..=3)
            .map(|parts| {
                let mut m = msg("+491701234567", parts);
                m.expires_at = Some(t(30));
                enqueue(c, &m, t(0)).expect("enqueue").id
            })
            .collect();
        for (i, op) in ops.iter().enumerate() {
            let now = i64::try_from(i).expect("small") + 1;
            match apply(c, &ids, op, now) {
                Ok(())
                | Err(StoreError::InvalidState { .. })
                | Err(StoreError::NoSuchPart { .. }) => {}
                Err(e) => prop_assert!(false, "{op:?}: unexpected {e}"),
            }
            invariants(c, &ids, now);
        }
        Ok(())
    }
}

/// The event types in the log after `after`, in order, for message `id`
/// (message and part events) or without a message (others).
fn kinds(c: &dyn Db, id: MessageId) -> Vec<String> {
    crate::store::events::after(c, 0, 10_000, &[])
        .expect("events")
        .into_iter()
        .filter(|e| match &e.data {
            crate::store::EventData::PartSent(p) | crate::store::EventData::PartFailed(p) => {
                p.id == id
            }
            crate::store::EventData::Report(r) => r.id == Some(id),
            d => d.message().is_some_and(|m| m.id == id),
        })
        .map(|e| e.kind().to_string())
        .collect()
}

/// One lifecycle: what it is, what it does, and the events it must leave.
type Lifecycle = (
    &'static str,
    Box<dyn Fn(&dyn Db) -> MessageId>,
    Vec<&'static str>,
);

#[test]
fn every_change_is_one_event_in_the_same_order() {
    let cases: Vec<Lifecycle> = vec![
        (
            "three parts, three reports: sent once, delivered once",
            Box::new(|c| {
                let id = enq(c, "+491701234567", 3);
                pin(c, id, "m1", "sim1", 3);
                for seq in 1..=3 {
                    send(c, id, seq, "m1", seq as u8, seq as i64);
                }
                for seq in 1..=3u8 {
                    record_report(c, &report("sim1", seq, "491701234567", 0, "bb"), t(10))
                        .expect("report");
                }
                id
            }),
            vec![
                "queued",
                "part_sent",
                "part_sent",
                "part_sent",
                "sent",
                "report",
                "report",
                "report",
                "delivered",
            ],
        ),
        (
            "a report faster than the part's answer: sent still comes first",
            Box::new(|c| {
                let id = enq(c, "+491709999999", 1);
                pin(c, id, "m1", "sim1", 1);
                part_sending(c, id, 1, "m1", t(1)).expect("sending");
                record_report(c, &report("sim1", 9, "491709999999", 0, "cc"), t(2))
                    .expect("early report");
                part_sent(c, id, 1, 9, t(3)).expect("sent");
                id
            }),
            vec!["queued", "part_sent", "sent", "delivered"],
        ),
        (
            "a temporary failure, then a permanent one",
            Box::new(|c| {
                let id = enq(c, "+491705555555", 1);
                pin(c, id, "m1", "sim1", 1);
                part_sending(c, id, 1, "m1", t(1)).expect("sending");
                part_failed(c, id, 1, "busy", Disposition::RetryAt(t(5)), t(1)).expect("retry");
                part_sending(c, id, 1, "m1", t(5)).expect("sending");
                part_failed(c, id, 1, "rejected", Disposition::Permanent, t(6)).expect("fail");
                id
            }),
            vec!["queued", "part_failed", "part_failed", "failed"],
        ),
        (
            "cancelled, then retried",
            Box::new(|c| {
                let id = enq(c, "+491706666666", 2);
                cancel(c, id, t(1)).expect("cancel");
                retry(c, id, t(2)).expect("retry");
                id
            }),
            vec!["queued", "cancelled", "queued"],
        ),
    ];
    assert!(!cases.is_empty());
    for (what, run, want) in cases {
        on_both_engines(|c| {
            let id = run(c);
            assert_eq!(kinds(c, id), want, "{what}");
        });
    }
}

#[tokio::test]
async fn prune_removes_what_is_old_keeps_what_is_young_and_frees_pages() {
    let (dir, store) = open_temp();
    // 600 old finished messages (three pruning steps), one old message
    // still queued (never pruned: not finished), and a young finished one.
    let big = "x".repeat(150);
    for i in 0..600 {
        let mut m = msg(&format!("+4917{i:07}"), 1);
        m.text = big.clone();
        let id = store.enqueue(m, t(0)).await.expect("enqueue").id;
        store.cancel(id, t(1)).await.expect("cancel");
    }
    let waiting = store
        .enqueue(msg("+491700000001", 1), t(0))
        .await
        .expect("enqueue")
        .id;
    let young = store
        .enqueue(msg("+491700000002", 1), t(10_000))
        .await
        .expect("enqueue")
        .id;
    store.cancel(young, t(10_001)).await.expect("cancel");
    let events_before = store
        .events_after(0, 100_000, vec![])
        .await
        .expect("events")
        .len();
    let size = || {
        std::fs::metadata(dir.path().join("smsgate.db"))
            .map(|m| m.len())
            .unwrap_or(0)
            + std::fs::metadata(dir.path().join("smsgate.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
    };
    let pruned = store.prune(t(5_000)).await.expect("prune");
    assert_eq!(pruned.messages, 600, "{pruned:?}");
    assert!(!pruned.more);
    // queued + cancelled for each old one, queued for the waiting one.
    assert_eq!(pruned.events, 1_201, "{pruned:?}");
    assert!(store.show(waiting).await.expect("show").is_some());
    assert!(store.show(young).await.expect("show").is_some());
    let left = store
        .events_after(0, 100_000, vec![])
        .await
        .expect("events");
    assert_eq!(left.len(), events_before - 1_201);
    // Ids keep growing after a prune: a resuming reader never sees an old
    // id reused.
    let last = left.last().map(|e| e.event_id).unwrap_or(0);
    let again = store
        .enqueue(msg("+491700000003", 1), t(10_002))
        .await
        .expect("enqueue")
        .id;
    let newest = store.events_after(last, 10, vec![]).await.expect("events");
    assert_eq!(newest.len(), 1);
    assert!(newest[0].event_id > last);
    assert_eq!(newest[0].data.message().map(|m| m.id), Some(again));
    // Pruning again finds nothing; the free pages went back to the file
    // system (the file shrank or stayed, never grew).
    let before = size();
    let again = store.prune(t(5_000)).await.expect("prune");
    assert_eq!((again.messages, again.events), (0, 0));
    store.close().await.expect("close");
    let free: i64 = rusqlite::Connection::open(dir.path().join("smsgate.db"))
        .expect("open")
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .expect("freelist");
    assert_eq!(free, 0, "incremental vacuum left free pages");
    assert!(size() <= before.max(1), "the file grew after pruning");
}

/// The `queued` event is built from the inserted row, not read back: it must
/// be exactly what `show` reads, for every kind of message, and survive the
/// log's encoding.
#[test]
fn the_queued_event_is_what_show_reads() {
    on_both_engines(|c| {
        let mut scheduled = msg("+491701111111", 3);
        scheduled.not_before = Some(t(3600));
        scheduled.expires_at = Some(t(7200));
        scheduled.validity = Some(std::time::Duration::from_secs(600));
        scheduled.modem = Some("m2".into());
        scheduled.queue = Some("q".into());
        scheduled.priority = Priority::Urgent;
        scheduled.flash = true;
        scheduled.category = Category::Marketing;
        scheduled.optout_key = Some("+491701111111".into());
        let mut valid = msg("+491702222222", 1);
        valid.validity = Some(std::time::Duration::from_secs(900));
        for m in [msg("+491700000000", 1), scheduled, valid] {
            let id = enqueue(c, &m, t(5)).expect("enqueue").id;
            let logged = crate::store::events::after(c, 0, 10_000, &["queued".to_string()])
                .expect("events")
                .into_iter()
                .rev()
                .find_map(|e| match e.data {
                    EventData::Queued(v) if v.id == id => Some(v),
                    _ => None,
                })
                .expect("a queued event");
            assert_eq!(logged, view(c, id), "message to {}", m.to);
        }
    });
}

#[test]
fn expire_finds_only_messages_past_their_deadline() {
    on_both_engines(|c| {
        let mut soon = msg("+491701111111", 1);
        soon.expires_at = Some(t(10));
        let mut later = msg("+491702222222", 1);
        later.expires_at = Some(t(100));
        let a = enqueue(c, &soon, t(0)).expect("enqueue").id;
        let b = enqueue(c, &later, t(0)).expect("enqueue").id;
        let none = enq(c, "+491703333333", 1);
        assert!(expire(c, t(9)).expect("expire").is_empty());
        assert_eq!(expire(c, t(10)).expect("expire"), vec![a]);
        assert_eq!(expire(c, t(1000)).expect("expire"), vec![b]);
        assert_eq!(view(c, a).state, MessageState::Expired);
        assert_eq!(view(c, none).state, MessageState::Queued);
    });
}

#[test]
fn expire_prunes_the_send_log_older_than_a_day() {
    on_both_engines(|c| {
        let day = 24 * 3600;
        for at in [0, 10, day - 1, day + 5, 2 * day] {
            c.execute(
                "INSERT INTO send_log (sim, at) VALUES ('s', ?1)",
                args![ms(t(at))],
            )
            .expect("log");
        }
        let left = |c: &dyn Db| -> Vec<i64> {
            c.query("SELECT at FROM send_log ORDER BY at", args![], |r| r.get(0))
                .expect("rows")
        };
        expire(c, t(day + 10)).expect("expire");
        assert_eq!(
            left(c),
            vec![ms(t(10)), ms(t(day - 1)), ms(t(day + 5)), ms(t(2 * day))]
        );
        expire(c, t(3 * day + 1)).expect("expire");
        assert!(left(c).is_empty());
        expire(c, t(4 * day)).expect("expire on an empty log");
    });
}

#[test]
fn the_queued_event_shows_the_message_as_stored() {
    // `enqueue` builds the event's view without reading the row back: it
    // must be what `show` reads, for every optional field set or not.
    on_both_engines(|c| {
        let mut plain = msg("+4915112345", 1);
        plain.report = false;
        let mut full = msg("+4915112346", 3);
        full.modem = Some("m1".into());
        full.queue = Some("q".into());
        full.flash = true;
        full.priority = Priority::Urgent;
        full.validity = Some(std::time::Duration::from_secs(3600));
        full.not_before = Some(t(90));
        full.expires_at = Some(t(7200) + chrono::Duration::microseconds(1234));
        full.category = crate::store::Category::Marketing;
        full.optout_key = Some("+4915112346".into());
        let mut validity_only = msg("+4915112347", 2);
        validity_only.validity = Some(std::time::Duration::from_secs(600));
        let cases = [plain, full, validity_only];
        assert!(!cases.is_empty());
        let now = t(0) + chrono::Duration::microseconds(5678);
        for m in &cases {
            let id = enqueue(c, m, now).expect("enqueue").id;
            let stored = show(c, id).expect("show").expect("exists");
            let queued: Vec<OutgoingView> = crate::store::events::after(c, 0, 10_000, &[])
                .expect("events")
                .into_iter()
                .filter_map(|e| match e.data {
                    crate::store::EventData::Queued(v) if v.id == id => Some(v),
                    _ => None,
                })
                .collect();
            assert_eq!(queued, vec![stored], "{m:?}");
        }
    });
}
