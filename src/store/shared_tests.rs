//! The store's tests that run against both engines: each `both!` case is
//! one async body over a [`Store`], run once on SQLite (a temporary file)
//! and once on PostgreSQL (a fresh database on the test server of
//! `pgtest.rs`; skipped when none can be started, failed under `CI`).
//! A case belongs here as soon as every store operation it calls is
//! written for both engines (see docs/cluster.md for which those are).

use std::time::Duration;

use super::tests::fixture::{msg, t};
use super::*;

const WAIT: Duration = Duration::from_secs(30);

/// `both!(name, |store| async move { … })`: the test `name` on each engine.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Store::open(&dir.path().join("smsgate.db")).expect("open sqlite");
                tokio::time::timeout(WAIT, ($body)(store.clone()))
                    .await
                    .expect("in time");
                store.close().await.expect("close");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = tokio::task::spawn_blocking(crate::store::pgtest::url)
                    .await
                    .expect("url")
                else {
                    return;
                };
                let store = crate::store::pgtest::open(&url).await;
                tokio::time::timeout(WAIT, ($body)(store.clone()))
                    .await
                    .expect("in time");
                store.close().await.expect("close");
            }
        }
    };
}

fn modem_up(name: &str) -> EventData {
    EventData::ModemUp(ModemEvent {
        modem: name.into(),
        state: "ready".into(),
        imsi: Some(format!("imsi-{name}")),
        ..ModemEvent::default()
    })
}

both!(
    the_event_log_reads_back_in_order,
    |store: Store| async move {
        assert_eq!(store.last_event_id(), 0);
        let mut watch = store.event_watch();
        let mut ids = Vec::new();
        for i in 0..5 {
            let data = if i % 2 == 0 {
                modem_up(&format!("m{i}"))
            } else {
                EventData::ModemDown(ModemEvent {
                    modem: format!("m{i}"),
                    state: "gone".into(),
                    ..ModemEvent::default()
                })
            };
            ids.push(store.append_event(data, t(i)).await.expect("append"));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // Followers hear of the newest id after its commit.
        watch.wait_for(|id| *id == ids[4]).await.expect("watch");
        assert_eq!(store.last_event_id(), ids[4]);

        let all = store.events_after(0, 100, vec![]).await.expect("all");
        assert_eq!(all.iter().map(|e| e.event_id).collect::<Vec<_>>(), ids);
        assert_eq!(all[0].data, modem_up("m0"));
        assert_eq!(all[3].at, t(3));

        let page = store.events_after(ids[1], 2, vec![]).await.expect("page");
        assert_eq!(
            page.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            &ids[2..4]
        );
        let downs = store
            .events_after(0, 100, vec!["modem_down".into()])
            .await
            .expect("kinds");
        assert_eq!(
            downs.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            vec![ids[1], ids[3]]
        );
        assert!(store
            .events_after(ids[4], 100, vec![])
            .await
            .expect("none")
            .is_empty());
    }
);

both!(
    cursors_start_at_the_end_and_never_go_back,
    |store: Store| async move {
        let first = store.append_event(modem_up("a"), t(0)).await.expect("a");
        let second = store.append_event(modem_up("b"), t(1)).await.expect("b");
        // A consumer seen for the first time is not handed history.
        assert_eq!(store.cursor("hook", t(2)).await.expect("new"), second);
        store.set_cursor("hook", first, t(3)).await.expect("back");
        assert_eq!(store.cursor("hook", t(4)).await.expect("kept"), second);
        let third = store.append_event(modem_up("c"), t(5)).await.expect("c");
        store
            .set_cursor("hook", third, t(6))
            .await
            .expect("forward");
        store.set_cursor("other", first, t(7)).await.expect("other");
        assert_eq!(
            store.cursors().await.expect("cursors"),
            vec![("hook".to_string(), third), ("other".to_string(), first)]
        );
    }
);

both!(
    pruning_removes_old_events_in_steps,
    |store: Store| async move {
        let old = PRUNE_STEP as usize + 10;
        let mut last_old = 0;
        for i in 0..old {
            last_old = store
                .append_event(modem_up(&format!("old{i}")), t(0))
                .await
                .expect("old");
        }
        let young = store
            .append_event(modem_up("young"), t(100))
            .await
            .expect("young");
        let pruned = store.prune(t(50)).await.expect("prune");
        assert_eq!(pruned.events, old as u64);
        assert!(!pruned.more);
        let left = store.events_after(0, 100, vec![]).await.expect("left");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event_id, young);
        assert!(young > last_old);
        // Ids are never reused after pruning.
        let next = store
            .append_event(modem_up("next"), t(101))
            .await
            .expect("next");
        assert!(next > young);
    }
);

both!(
    concurrent_requests_share_commits_and_all_land,
    |store: Store| async move {
        let before = store.transactions();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.append_event(modem_up(&format!("m{i}")), t(i)).await
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("join").expect("append"));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 64);
        let commits = store.transactions() - before;
        assert!((1..=64).contains(&commits), "{commits} commits");
        assert_eq!(
            store
                .events_after(0, 1000, vec![])
                .await
                .expect("all")
                .len(),
            64
        );
    }
);

both!(
    a_failing_request_rolls_back_alone,
    |store: Store| async move {
        // Submitted back to back so that they usually share a batch: the
        // failing one (its event appended, then an error) leaves no trace, the
        // others commit.
        let good1 = store.submit_db_for_test(|c| events::append(c, t(1), &modem_up("good1")));
        let bad = store.submit_db_for_test(|c| {
            events::append(c, t(2), &modem_up("bad"))?;
            c.execute("INSERT INTO no_such_table VALUES (1)", sql::args![])
                .map_err(StoreError::sql("bad"))
        });
        let good2 = store.submit_db_for_test(|c| events::append(c, t(3), &modem_up("good2")));
        let good1 = good1
            .expect("submit")
            .await
            .expect("answer")
            .expect("good1");
        let bad = bad.expect("submit").await.expect("answer");
        assert!(
            matches!(bad, Err(StoreError::Sql { op: "bad", .. })),
            "{bad:?}"
        );
        let good2 = good2
            .expect("submit")
            .await
            .expect("answer")
            .expect("good2");
        let all = store.events_after(0, 100, vec![]).await.expect("all");
        let modems: Vec<_> = all
            .iter()
            .filter_map(|e| match &e.data {
                EventData::ModemUp(m) => Some(m.modem.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(modems, vec!["good1".to_string(), "good2".to_string()]);
        assert_eq!(all[0].event_id, good1);
        assert_eq!(all[1].event_id, good2);
    }
);

// --- outgoing and incoming through the handle ---------------------------------

fn status_report(sim: &str, mr: u8, to: &str, status: u8, tag: u8) -> ReportIn {
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
        pdu: vec![0x06, mr, status, tag],
    }
}

fn received(from: &str, concat: Option<(u16, u8, u8)>, text: &str) -> ReceivedPdu {
    let mut pdu = format!("{from}|{concat:?}|{text}").into_bytes();
    pdu.insert(0, 0x07);
    ReceivedPdu {
        modem: "m1".into(),
        sim: "262011234567890".into(),
        pdu,
        from: from.into(),
        text: text.into(),
        binary: false,
        sent_at: None,
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

both!(
    the_whole_outgoing_lifecycle_through_the_handle,
    |store: Store| async move {
        let e = store
            .enqueue(msg("+491701234567", 1), t(0))
            .await
            .expect("enqueue");
        assert_eq!((e.parts, e.duplicate), (1, false));
        let ready = store.ready(t(0), 10).await.expect("ready");
        assert_eq!(ready.messages.len(), 1);
        assert_eq!(ready.messages[0].parts[0].state, PartState::Pending);
        store
            .assign(e.id, "m1", Some("sim1"), vec![PartPdu::hex(1, "0011AA", 7)])
            .await
            .expect("assign");
        store
            .part_sending(e.id, 1, "m1", t(1))
            .await
            .expect("sending");
        assert!(store
            .ready(t(1), 10)
            .await
            .expect("ready")
            .messages
            .is_empty());
        assert_eq!(
            store.part_sent(e.id, 1, 42, t(2)).await.expect("sent"),
            MessageState::Sent
        );
        let out = store
            .record_report(status_report("sim1", 42, "491701234567", 0, 1), t(3))
            .await
            .expect("report");
        assert_eq!(out.matched, Some((e.id, 1)));
        assert_eq!(out.message_state, Some(MessageState::Delivered));
        let v = store.show(e.id).await.expect("show").expect("exists");
        assert_eq!(v.state, MessageState::Delivered);
        assert_eq!(v.modem.as_deref(), Some("m1"));
        let json = serde_json::to_value(&v).expect("json");
        for key in [
            "id",
            "to",
            "text",
            "state",
            "modem",
            "created_at",
            "error",
            "parts",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        let part = &json["parts"][0];
        assert_eq!(part["seq"], 1);
        assert_eq!(part["state"], "delivered");
        assert_eq!(part["mr"], 42);
        assert_eq!(part["status"], 0);
        assert_eq!(json["state"], "delivered");
        assert_eq!(
            store.usage("sim1", t(3)).await.expect("usage").last_minute,
            1
        );
        assert_eq!(
            store.last_modem_for("491701234567").await.expect("sticky"),
            Some("m1".into())
        );
        let outbox = store
            .outbox(Some(MessageState::Delivered), 10)
            .await
            .expect("outbox");
        assert_eq!(outbox.len(), 1);
    }
);

both!(
    failures_retries_and_cancels_through_the_handle,
    |store: Store| async move {
        let a = store
            .enqueue(msg("+491701111111", 2), t(0))
            .await
            .expect("enqueue")
            .id;
        let pdus = vec![PartPdu::hex(1, "00", 1), PartPdu::hex(2, "00", 1)];
        store
            .assign(a, "m1", Some("sim1"), pdus)
            .await
            .expect("assign");
        store.part_sending(a, 1, "m1", t(1)).await.expect("sending");
        let s = store
            .part_failed(a, 1, "busy", Disposition::RetryAt(t(30)), t(1))
            .await
            .expect("retry later");
        assert_eq!(s, MessageState::Queued);
        let batch = store.ready(t(2), 10).await.expect("ready");
        assert!(batch.messages.is_empty());
        assert_eq!(batch.next_wake, Some(t(30)));
        store
            .part_sending(a, 1, "m1", t(30))
            .await
            .expect("sending");
        let s = store
            .part_failed(a, 1, "rejected", Disposition::Permanent, t(31))
            .await
            .expect("fail");
        assert_eq!(s, MessageState::Failed);
        assert_eq!(
            store.retry(a, t(40)).await.expect("retry"),
            MessageState::Queued
        );
        assert_eq!(
            store.cancel(a, t(41)).await.expect("cancel"),
            MessageState::Cancelled
        );
        // Expiry, usage and recovery.
        let mut m = msg("+491702222222", 1);
        m.expires_at = Some(t(60));
        let b = store.enqueue(m, t(0)).await.expect("enqueue").id;
        assert_eq!(store.expire(t(61)).await.expect("expire"), vec![b]);
        let c = store
            .enqueue(msg("+491703333333", 1), t(0))
            .await
            .expect("enqueue")
            .id;
        store
            .part_sending(c, 1, "m2", t(70))
            .await
            .expect("sending");
        let r = store.recover_on_start(false, t(80)).await.expect("recover");
        assert_eq!((r.uncertain, r.failed), (1, 1));
        let first = store.next_concat_ref("sim1", "+491709").await.expect("ref");
        let next = store.next_concat_ref("sim1", "491709").await.expect("ref");
        assert_eq!(next, (first + 1) % 256);
        let states: Vec<_> = store
            .outbox(None, 10)
            .await
            .expect("outbox")
            .iter()
            .map(|v| (v.id, v.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (c, MessageState::Failed),
                (b, MessageState::Expired),
                (a, MessageState::Cancelled)
            ]
        );
        let counts = store.counts().await.expect("counts");
        assert_eq!((counts.failed, counts.expired, counts.cancelled), (1, 1, 1));
        let kinds: Vec<String> = store
            .events_after(0, 100, vec![])
            .await
            .expect("events")
            .iter()
            .map(|e| e.kind().to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "queued",
                "part_failed",
                "part_failed",
                "failed",
                "queued",
                "cancelled",
                "queued",
                "expired",
                "queued",
                "failed"
            ]
        );
    }
);

both!(
    a_failing_request_does_not_undo_its_batch,
    |store: Store| async move {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40u32 {
            let s = store.clone();
            // Every fourth request is invalid (no parts).
            let parts = if i % 4 == 0 { 0 } else { 1 };
            tasks.spawn(async move { (parts, s.enqueue(msg("+491701234567", parts), t(0)).await) });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            match done.expect("task") {
                (0, Err(StoreError::Invalid { field: "parts", .. })) => {}
                (1, Ok(_)) => ok += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ok, 30);
        assert_eq!(store.counts().await.expect("counts").queued, 30);
        assert_eq!(
            store.queue_depth().await.expect("depth"),
            vec![("queued".to_string(), 30)]
        );
    }
);

both!(
    receiving_and_reports_through_the_handle,
    |store: Store| async move {
        // A set of three, out of order and with a duplicate read.
        let part = |seq, text| received("+491704444444", Some((9, 3, seq)), text);
        for (i, p) in [part(2, "cd"), part(2, "cd"), part(1, "ab")]
            .into_iter()
            .enumerate()
        {
            let out = store.record_received(p, t(i as i64)).await.expect("record");
            assert_eq!(out.duplicate, i == 1);
            assert!(out.complete.is_none());
        }
        let done = store
            .record_received(part(3, "ef"), t(5))
            .await
            .expect("record");
        assert_eq!(done.complete.map(|m| m.text).as_deref(), Some("abcdef"));
        // An incomplete set is flushed, not dropped.
        store
            .record_received(received("+491705555555", Some((4, 2, 1)), "half"), t(6))
            .await
            .expect("record");
        let flushed = store.flush_incomplete(t(100), t(100)).await.expect("flush");
        assert_eq!(flushed.len(), 1);
        assert_eq!(
            (flushed[0].complete, flushed[0].missing_parts.clone()),
            (false, vec![2])
        );
        let single = store
            .record_received(received("+491706666666", None, "one"), t(101))
            .await
            .expect("record")
            .complete
            .expect("complete");
        let texts: Vec<String> = store
            .inbox(None, 10)
            .await
            .expect("inbox")
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["abcdef", "half", "one"]);
        let newest: Vec<i64> = store
            .inbox_before(None, 1)
            .await
            .expect("inbox")
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(newest, vec![single.id]);
        // A report that matches nothing, then one that matches.
        let id = store
            .enqueue(msg("+491707777777", 1), t(200))
            .await
            .expect("enqueue")
            .id;
        store
            .assign(id, "m1", Some("sim1"), vec![PartPdu::hex(1, "00", 1)])
            .await
            .expect("assign");
        store
            .part_sending(id, 1, "m1", t(201))
            .await
            .expect("sending");
        store.part_sent(id, 1, 17, t(202)).await.expect("sent");
        let stray = store
            .record_report(status_report("sim1", 18, "491707777777", 0, 1), t(203))
            .await
            .expect("report");
        assert_eq!(stray.matched, None);
        let hit = store
            .record_report(status_report("sim1", 17, "491707777777", 0, 2), t(204))
            .await
            .expect("report");
        assert_eq!(hit.matched, Some((id, 1)));
        assert_eq!(hit.message_state, Some(MessageState::Delivered));
        let again = store
            .record_report(status_report("sim1", 17, "491707777777", 0, 2), t(205))
            .await
            .expect("report");
        assert!(again.duplicate);
        assert_eq!(again.matched, Some((id, 1)));
        assert_eq!(store.counts().await.expect("counts").unmatched_reports, 1);
        // Modems and SIMs.
        store
            .upsert_modem(
                ModemSeen {
                    name: "m1".into(),
                    imei: Some("350000000000001".into()),
                    imsi: Some("sim1".into()),
                    iccid: Some("8949".into()),
                    manufacturer: Some("Acme".into()),
                    model: None,
                },
                t(206),
            )
            .await
            .expect("modem");
        let sims = store.sim_counters().await.expect("sims");
        let sim1 = sims.iter().find(|s| s.sim == "sim1").expect("sim1");
        assert_eq!((sim1.parts_sent, sim1.reports), (1, 2));
        assert_eq!(sim1.iccid.as_deref(), Some("8949"));
        let rx = sims
            .iter()
            .find(|s| s.sim == "262011234567890")
            .expect("rx sim");
        assert_eq!(rx.received, 5);
    }
);

#[tokio::test]
async fn an_operation_not_yet_on_postgres_says_so() {
    let Some(url) = tokio::task::spawn_blocking(crate::store::pgtest::url)
        .await
        .expect("url")
    else {
        return;
    };
    let store = tokio::task::spawn_blocking(move || Store::open_postgres(&url))
        .await
        .expect("join")
        .expect("open postgres");
    // Every store operation runs on both engines now; a request written
    // for SQLite alone (`Store::call`, kept for tests) still says so.
    match store.exec_for_test("SELECT 1".into()).await {
        Err(StoreError::Unsupported(_)) => {}
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // The thread carries on.
    store
        .append_event(modem_up("a"), t(0))
        .await
        .expect("append");
    store.close().await.expect("close");
}

both!(
    opt_out_skips_queued_marketing_and_later_intake,
    |store: Store| async move {
        let now = t(0);
        let mut m = super::tests::msg("+4915112345678", 1);
        m.optout_key = Some("+4915112345678".into());
        m.category = Category::Marketing;
        let market = store.enqueue(m.clone(), now).await.expect("enqueue");
        let mut tr = m.clone();
        tr.category = Category::Transactional;
        let trans = store.enqueue(tr.clone(), now).await.expect("enqueue");

        let change = store
            .optout_add("+4915112345678", "test", Some("STOP"), now)
            .await
            .expect("add");
        assert!(change.changed);
        assert_eq!(change.skipped, vec![market.id]);
        assert!(store
            .optout_contains("+4915112345678")
            .await
            .expect("contains"));
        let v = store.show(market.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Skipped);
        assert_eq!(v.error.as_deref(), Some("opted out"));
        let v = store.show(trans.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Queued);

        // A second opt-out changes nothing and announces nothing.
        let again = store
            .optout_add("+4915112345678", "test", None, now)
            .await
            .expect("add");
        assert!(!again.changed);

        // New marketing intake is skipped at once; transactional is not.
        let later = store.enqueue(m.clone(), now).await.expect("enqueue");
        let v = store.show(later.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Skipped);
        let ready = store.ready(now, 10).await.expect("ready");
        let ids: Vec<_> = ready.messages.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![trans.id]);

        // Retry does not revive a skipped message.
        assert!(store.retry(later.id, now).await.is_err());

        // The list pages in byte order on either engine.
        for n in ["+4915100000001", "4915100000002", "a-number"] {
            store.optout_add(n, "test", None, now).await.expect("add");
        }
        let listed = store.optout_list(None, 10).await.expect("list");
        let numbers: Vec<&str> = listed.iter().map(|e| e.number.as_str()).collect();
        assert_eq!(
            numbers,
            [
                "+4915100000001",
                "+4915112345678",
                "4915100000002",
                "a-number"
            ]
        );
        assert_eq!(listed[1].keyword.as_deref(), Some("STOP"));
        let page = store
            .optout_list(Some("+4915112345678".into()), 1)
            .await
            .expect("page");
        assert_eq!(page[0].number, "4915100000002");

        let gone = store
            .optout_remove("+4915112345678", "test", Some("START"), now)
            .await
            .expect("remove");
        assert!(gone.changed);
        let after = store.enqueue(m, now).await.expect("enqueue");
        let v = store.show(after.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Queued);

        let kinds: Vec<String> = store
            .events_after(0, 100, Vec::new())
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.data.kind().to_string())
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "opted_out").count(), 4);
        assert_eq!(kinds.iter().filter(|k| *k == "opted_in").count(), 1);
        assert_eq!(kinds.iter().filter(|k| *k == "skipped").count(), 2);
    }
);

fn code(number: &str, hash: u8, expires: i64) -> NewCode {
    let mut message = super::tests::msg(number, 1);
    message.text = "Your code is ******".into();
    message.options.sealed = true;
    NewCode {
        number: number.into(),
        hash: [hash; 32],
        expires_at: t(expires),
        max_per_hour: 2,
        message,
        sealed_text: "Your code is 123456".into(),
    }
}

both!(
    verification_codes_are_single_use_limited_and_unsealed_for_sending,
    |store: Store| async move {
        let first = store
            .verify_create(code("+4917011", 1, 300), t(0))
            .await
            .expect("first");
        let second = store
            .verify_create(code("+4917011", 2, 300), t(1))
            .await
            .expect("second");
        assert!(second.id > first.id);
        assert_eq!(second.message.parts, 1);
        // Two an hour for this number.
        assert!(matches!(
            store.verify_create(code("+4917011", 3, 300), t(2)).await,
            Err(StoreError::RateLimited(_))
        ));
        // The message goes out with its real text (the stored one is masked).
        let ready = store.ready(t(3), 10).await.expect("ready");
        let texts: Vec<&str> = ready.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["Your code is 123456", "Your code is 123456"]);
        let shown = store
            .show(second.message.id)
            .await
            .expect("show")
            .expect("there");
        assert_eq!(shown.text, "Your code is ******");

        // The first code was superseded by the second.
        let wrong = store
            .verify_check("+4917011", [1; 32], t(4))
            .await
            .expect("wrong");
        assert_eq!(
            (wrong.valid, wrong.reason.as_deref(), wrong.tries_left),
            (false, Some("wrong_code"), Some(4))
        );
        let good = store
            .verify_check("+4917011", [2; 32], t(5))
            .await
            .expect("good");
        assert!(good.valid);
        let used = store
            .verify_check("+4917011", [2; 32], t(6))
            .await
            .expect("used");
        assert_eq!(used.reason.as_deref(), Some("used"));
        let none = store
            .verify_check("+4917099", [2; 32], t(6))
            .await
            .expect("none");
        assert_eq!(none.reason.as_deref(), Some("no_code"));

        // Expiry and the try limit.
        store
            .verify_create(code("+4917022", 7, 10), t(0))
            .await
            .expect("short");
        let late = store
            .verify_check("+4917022", [7; 32], t(10))
            .await
            .expect("late");
        assert_eq!(late.reason.as_deref(), Some("expired"));
        store
            .verify_create(code("+4917033", 7, 300), t(0))
            .await
            .expect("tries");
        for left in (0..VERIFY_MAX_TRIES).rev() {
            let r = store
                .verify_check("+4917033", [8; 32], t(1))
                .await
                .expect("try");
            let want = if left == 0 {
                "too_many_tries"
            } else {
                "wrong_code"
            };
            assert_eq!(r.reason.as_deref(), Some(want));
            assert_eq!(r.tries_left, Some(left as u32));
        }
        let dead = store
            .verify_check("+4917033", [7; 32], t(2))
            .await
            .expect("dead");
        assert_eq!(dead.reason.as_deref(), Some("too_many_tries"));
    }
);

both!(
    a_report_through_the_store_counts_what_was_queued,
    |store: Store| async move {
        for i in 0..3 {
            store
                .enqueue(super::tests::msg(&format!("+4917{i}"), 2), t(i))
                .await
                .expect("enqueue");
        }
        let id = store
            .enqueue(super::tests::msg("+49179", 1), t(5))
            .await
            .expect("enqueue")
            .id;
        store.cancel(id, t(6)).await.expect("cancel");
        let r = store
            .report(t(-86_400), ReportBy::Modem, t(10))
            .await
            .expect("report");
        assert_eq!(r.groups.len(), 1);
        let total = &r.total;
        assert_eq!(
            (
                total.messages,
                total.messages_pending,
                total.messages_cancelled,
                total.parts
            ),
            (4, 3, 1, 7)
        );
        assert_eq!(
            r,
            store
                .report_from_rows(t(-86_400), ReportBy::Modem, t(10))
                .await
                .expect("from rows")
        );
    }
);

#[test]
fn a_bad_postgres_url_names_the_server_without_its_password() {
    let err = Store::open_postgres("postgresql://smsgate:secret@127.0.0.1:1/smsgate")
        .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(
        text.contains("postgresql://smsgate@127.0.0.1:1/smsgate"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

both!(
    a_received_stop_and_start_change_the_list_with_the_message,
    |store: Store| async move {
        let number = "+491707777777".to_string();
        let (out, change) = store
            .record_received_optout(
                received(&number, None, "STOP"),
                Some(OptoutAction::Out {
                    number: number.clone(),
                    keyword: "STOP".into(),
                }),
                t(1),
            )
            .await
            .expect("record with opt-out");
        assert_eq!(out.complete.map(|m| m.text).as_deref(), Some("STOP"));
        assert!(change.expect("an opt-out change").changed);
        assert!(store.optout_contains(&number).await.expect("contains"));
        let (_, change) = store
            .record_received_optout(
                received(&number, None, "START"),
                Some(OptoutAction::In {
                    number: number.clone(),
                    keyword: "START".into(),
                }),
                t(2),
            )
            .await
            .expect("record with re-subscribe");
        assert!(change.expect("a re-subscribe change").changed);
        assert!(!store.optout_contains(&number).await.expect("contains"));
    }
);

both!(
    an_array_is_queued_in_order_with_its_parts_events_and_opt_outs,
    |store: Store| async move {
        let now = t(0);
        store
            .optout_add("+4915100000050", "test", None, now)
            .await
            .expect("opt out");
        // 100 recipients (chunks of 64, 32 and 4 rows), one to three parts
        // each; one marketing recipient is on the list.
        let msgs: Vec<NewMessage> = (0..100u32)
            .map(|i| {
                let to = format!("+49151000000{i:02}");
                let mut m = super::tests::msg(&to, 1 + i % 3);
                m.text = format!("text {i}");
                m.category = Category::Marketing;
                m.optout_key = Some(to);
                m
            })
            .collect();
        let after = store
            .events_after(0, 10, vec![])
            .await
            .expect("events")
            .last()
            .map_or(0, |e| e.event_id);
        let BatchOutcome::Queued(accepted) = store
            .enqueue_batch(msgs.clone(), None, now)
            .await
            .expect("batch")
        else {
            panic!("queued");
        };
        assert_eq!(accepted.len(), 100);
        assert!(accepted.windows(2).all(|w| w[0].id < w[1].id));
        for (a, m) in accepted.iter().zip(&msgs) {
            assert_eq!((a.to.as_str(), a.parts), (m.to.as_str(), m.parts));
            let v = store.show(a.id).await.expect("show").expect("there");
            assert_eq!(
                (v.to.as_str(), v.text.as_str()),
                (m.to.as_str(), m.text.as_str())
            );
            assert_eq!(v.parts.len(), m.parts as usize);
            let want = if m.to == "+4915100000050" {
                MessageState::Skipped
            } else {
                MessageState::Queued
            };
            assert_eq!(v.state, want, "{}", m.to);
        }
        // One `queued` event per message, in the array's order; the opted
        // out one is followed by its `skipped`.
        let events = store
            .events_after(after, 1000, vec![])
            .await
            .expect("events");
        let kinds: Vec<(String, i64)> = events
            .iter()
            .map(|e| {
                let id = match &e.data {
                    EventData::Queued(v) | EventData::Skipped(v) => v.id,
                    other => panic!("unexpected {other:?}"),
                };
                (e.data.kind().to_string(), id)
            })
            .collect();
        let mut want = Vec::new();
        for a in &accepted {
            want.push(("queued".to_string(), a.id));
            if a.to == "+4915100000050" {
                want.push(("skipped".to_string(), a.id));
            }
        }
        assert_eq!(kinds, want);

        // A bad recipient anywhere fails the whole array: nothing queued.
        let mut bad = msgs.clone();
        bad[70].to = "no digits".into();
        let last = events.last().map_or(0, |e| e.event_id);
        assert!(store.enqueue_batch(bad, None, now).await.is_err());
        let later = store.events_after(last, 10, vec![]).await.expect("events");
        assert!(later.is_empty(), "{later:?}");
        let all = store.events_after(0, 1000, vec![]).await.expect("events");
        assert_eq!(all.len(), events.len() + 1);
    }
);

both!(
    a_request_that_carries_on_after_a_failed_statement_is_not_answered_done,
    |store: Store| async move {
        // The request ignores a failed statement and answers Ok. PostgreSQL
        // aborted its transaction meanwhile: the release that travels with
        // `COMMIT` fails, and so does the answer (a bare `COMMIT` would have
        // rolled back quietly). SQLite carries on: the event is kept.
        let answer = store
            .submit_db_for_test(|c| {
                events::append(c, t(1), &modem_up("kept?"))?;
                let _ = c.execute("INSERT INTO no_such_table VALUES (1)", sql::args![]);
                Ok(())
            })
            .expect("submit")
            .await
            .expect("answer");
        let read = store.events_after(0, 10, vec![]).await.expect("read");
        if store.is_postgres() {
            assert!(answer.is_err(), "{answer:?}");
            assert!(read.is_empty(), "{read:?}");
            assert_eq!(store.last_event_id(), 0);
        } else {
            answer.expect("sqlite keeps the request");
            assert_eq!(read.len(), 1);
            assert_eq!(store.last_event_id(), read[0].event_id);
        }
    }
);
