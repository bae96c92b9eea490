//! Tests of the dispatch task against the real store (SQLite in memory) and
//! modem handles whose requests the test answers itself
//! ([`ModemHandle::detached`]). Time is tokio's paused clock; tests wait on
//! events with timeouts, never on sleeps.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::codec::{self, MessageOptions};
use crate::modem::{Detached, ModemHandle, ModemState, Request};
use crate::store::{NewMessage, OutgoingView};

// -------------------------------------------------------------- the modems

#[derive(Debug, Clone)]
enum Script {
    Ok,
    Fail(ErrorClass),
    /// Never answers.
    Hang,
    /// Adds a permit to `started`, then answers OK once `release` is notified.
    Gate {
        started: Arc<Semaphore>,
        release: Arc<Notify>,
    },
}

/// One send a modem saw, read back from its request.
#[derive(Debug, Clone)]
struct SentRec {
    modem: String,
    /// The concatenation header: (reference, seq, total).
    concat: Option<(u16, u8, u8)>,
    /// The PDU has a user data header.
    udh: bool,
    text: String,
    at: Instant,
}

impl SentRec {
    fn of(modem: &str, req: &SendRequest) -> SentRec {
        let SendRequest::Pdu { pdu, tpdu_len } = req;
        let d = codec::decode(pdu, Some(*tpdu_len)).expect("the dispatcher sends PDUs");
        let codec::pdu::Pdu::Submit(s) = d.pdu else {
            panic!("not a SUBMIT");
        };
        SentRec {
            modem: modem.to_string(),
            concat: s
                .udh
                .as_ref()
                .and_then(|u| u.concat())
                .map(|c| (c.reference, c.seq, c.total)),
            udh: s.udh.is_some(),
            text: s.data.text().unwrap_or_default().to_string(),
            at: Instant::now(),
        }
    }

    /// "seq/total" of a concatenated part.
    fn part(&self) -> String {
        self.concat
            .map_or("1/1".into(), |(_, seq, total)| format!("{seq}/{total}"))
    }
}

/// A test's end of one modem handle: its script and its status.
#[derive(Debug, Clone)]
struct FakeModem {
    status: Arc<tokio::sync::watch::Sender<ModemStatus>>,
    script: Arc<Mutex<VecDeque<Script>>>,
}

impl FakeModem {
    fn push(&self, s: Script) {
        self.script.lock().expect("test mutex").push_back(s);
    }

    fn set_state(&self, state: ModemState) {
        self.status.send_modify(|s| s.state = state);
    }

    fn set_text_mode(&self, text_mode: bool) {
        self.status.send_modify(|s| s.text_mode = text_mode);
    }
}

/// Answers the handle's sends from the script; logs every send.
async fn answer(
    name: String,
    mut det: tokio::sync::mpsc::UnboundedReceiver<Request>,
    script: Arc<Mutex<VecDeque<Script>>>,
    log: Arc<Mutex<Vec<SentRec>>>,
) {
    // Replies of hanging sends, kept so the sender never sees "stopped".
    let mut hung = Vec::new();
    while let Some(r) = det.recv().await {
        let Request::Send { req, reply } = r else {
            continue;
        };
        let mr = {
            let mut log = log.lock().expect("test mutex");
            log.push(SentRec::of(&name, &req));
            u8::try_from(log.len() % 256).unwrap_or(0)
        };
        let next = script.lock().expect("test mutex").pop_front();
        let answer = match next {
            None | Some(Script::Ok) => Ok(mr),
            Some(Script::Fail(class)) => Err(SendError {
                class,
                code: Some(500),
                message: format!("scripted {class:?}"),
            }),
            Some(Script::Hang) => {
                hung.push(reply);
                continue;
            }
            Some(Script::Gate { started, release }) => {
                let released = release.notified();
                started.add_permits(1);
                released.await;
                Ok(mr)
            }
        };
        let _ = reply.send(answer);
    }
}

/// Modem `m{i}`, ready, with SIM `imsi-m{i}`; its answering task runs.
fn slot(i: usize, log: &Arc<Mutex<Vec<SentRec>>>) -> (ModemSlot, FakeModem) {
    let name = format!("m{i}");
    let (modem, Detached { requests, status }) = ModemHandle::detached(&name);
    status.send_modify(|s| {
        s.state = ModemState::Ready;
        s.imsi = Some(format!("imsi-{name}"));
    });
    let fake = FakeModem {
        status: Arc::new(status),
        script: Arc::default(),
    };
    tokio::spawn(answer(
        name.clone(),
        requests,
        fake.script.clone(),
        log.clone(),
    ));
    let slot = ModemSlot {
        name,
        modem,
        weight: 1,
        queues: Vec::new(),
        caps: Caps::default(),
    };
    (slot, fake)
}

// --------------------------------------------------------------- the store

fn settings(ref16: bool) -> EncoderSettings {
    EncoderSettings {
        default_validity: Duration::from_secs(2 * 86_400),
        ref16,
        languages: Vec::new(),
        smsc: None,
    }
}

/// A message as intake builds it: options recorded with today's settings,
/// the part count from the codec.
fn new_message(enc: &EncoderSettings, to: &str, text: &str) -> NewMessage {
    let options = enc.record(&MessageOptions::default());
    let submit = enc.submit_options(false, false, None, 0, &options);
    let parts = codec::count_parts(text, &submit).map_or(1, |n| u32::try_from(n).unwrap_or(1));
    NewMessage {
        to: to.into(),
        text: text.into(),
        report: false,
        flash: false,
        priority: Priority::Normal,
        validity: None,
        expires_at: None,
        not_before: None,
        modem: None,
        queue: None,
        parts,
        options,
        source: "test".into(),
        spool_key: None,
        campaign: None,
        category: Default::default(),
        optout_key: None,
    }
}

fn final_state(s: MessageState) -> bool {
    !matches!(s, MessageState::Queued | MessageState::Sending)
}

/// A long text: `n` parts of GSM-7 with 8-bit references.
fn long_text(n: usize, tag: &str) -> String {
    let mut t = tag.to_string();
    while t.len() < 153 * n {
        t.push('x');
    }
    t
}

// ---------------------------------------------------------------------- rig

struct Rig {
    store: Store,
    encoding: Encoding,
    modems: Vec<FakeModem>,
    handle: DispatchHandle,
    events: broadcast::Receiver<DispatchEvent>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), DispatchError>>,
    log: Arc<Mutex<Vec<SentRec>>>,
    t0: Instant,
    updates: ModemUpdates,
}

/// `n` ready modems over a fresh in-memory store; `setup` adjusts the slots
/// and modems before the start.
async fn rig(
    n: usize,
    cfg: DispatchConfig,
    setup: impl FnOnce(&mut [ModemSlot], &[FakeModem]),
) -> Rig {
    rig_on(Store::open_in_memory().expect("store"), n, cfg, setup).await
}

/// As [`rig`], on a store the test prepared.
async fn rig_on(
    store: Store,
    n: usize,
    cfg: DispatchConfig,
    setup: impl FnOnce(&mut [ModemSlot], &[FakeModem]),
) -> Rig {
    rig_at(store, n, cfg, None, setup).await
}

/// As [`rig_on`], the dispatcher's wall clock starting at `start`.
async fn rig_at(
    store: Store,
    n: usize,
    cfg: DispatchConfig,
    start: Option<chrono::DateTime<Utc>>,
    setup: impl FnOnce(&mut [ModemSlot], &[FakeModem]),
) -> Rig {
    let log: Arc<Mutex<Vec<SentRec>>> = Arc::default();
    let (mut slots, modems): (Vec<_>, Vec<_>) = (0..n).map(|i| slot(i, &log)).unzip();
    setup(&mut slots, &modems);
    let encoding = Encoding::new(settings(false));
    let mut d = Dispatcher::new(cfg, store.clone(), slots, encoding.clone());
    if let Some(t) = start {
        d = d.starting_at(t);
    }
    let handle = d.handle();
    let updates = d.modem_updates();
    let events = handle.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(d.run(cancel.clone()));
    Rig {
        store,
        encoding,
        modems,
        handle,
        events,
        cancel,
        task,
        log,
        t0: Instant::now(),
        updates,
    }
}

const LONG: Duration = Duration::from_secs(3 * 86_400);

impl Rig {
    /// Queues a message as intake would (`f` adjusts it); does not wake the
    /// dispatcher.
    async fn enqueue(&self, to: &str, text: &str, f: impl FnOnce(&mut NewMessage)) -> i64 {
        let mut m = new_message(&self.encoding.get(), to, text);
        f(&mut m);
        self.store.enqueue(m, Utc::now()).await.expect("enqueue").id
    }

    async fn msg(&self, id: i64) -> OutgoingView {
        self.store.show(id).await.expect("show").expect("exists")
    }

    /// Next event matching `f`, within `LONG` of virtual time.
    async fn until<T>(&mut self, mut f: impl FnMut(&DispatchEvent) -> Option<T>) -> T {
        let events = &mut self.events;
        timeout(LONG, async {
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if let Some(t) = f(&ev) {
                            return t;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => panic!("lagged {n} events"),
                    Err(broadcast::error::RecvError::Closed) => panic!("dispatcher gone"),
                }
            }
        })
        .await
        .expect("event within the time limit")
    }

    /// Waits until message `id` reaches a final state; returns it.
    async fn settled(&mut self, id: i64) -> MessageState {
        let now = self.msg(id).await.state;
        if final_state(now) {
            return now;
        }
        self.until(|ev| match ev {
            DispatchEvent::State { id: i, state } if *i == id && final_state(*state) => {
                Some(*state)
            }
            DispatchEvent::Expired { id: i } if *i == id => Some(MessageState::Expired),
            _ => None,
        })
        .await
    }

    /// Enqueues a plain message, wakes the dispatcher and waits for the end.
    async fn send_one(&mut self, to: &str, text: &str) -> (i64, MessageState, Option<String>) {
        let id = self.enqueue(to, text, |_| {}).await;
        self.handle.work_added();
        let state = self.settled(id).await;
        (id, state, self.msg(id).await.modem)
    }

    fn log(&self) -> Vec<SentRec> {
        self.log.lock().expect("test mutex").clone()
    }

    fn secs(&self, at: Instant) -> u64 {
        at.duration_since(self.t0).as_secs()
    }
}

fn cfg(strategy: Strategy) -> DispatchConfig {
    DispatchConfig {
        policy: Policy {
            strategy,
            sticky: false,
        },
        ..DispatchConfig::default()
    }
}

fn counts(names: &[Option<String>], n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let m = format!("m{i}");
            names
                .iter()
                .filter(|x| x.as_deref() == Some(m.as_str()))
                .count()
        })
        .collect()
}

// -------------------------------------------------------------------- tests

#[tokio::test(start_paused = true)]
async fn spreading_over_four_modems() {
    // (strategy, weights, messages, expected per-modem counts)
    type Case = (Strategy, [u32; 4], usize, [usize; 4]);
    let table: &[Case] = &[
        (Strategy::LeastLoaded, [1, 1, 1, 1], 40, [10, 10, 10, 10]),
        (Strategy::RoundRobin, [1, 1, 1, 1], 12, [3, 3, 3, 3]),
        (Strategy::Weighted, [1, 2, 3, 4], 50, [5, 10, 15, 20]),
    ];
    assert!(!table.is_empty());
    for (strategy, weights, n, want) in table {
        let mut r = rig(4, cfg(*strategy), |slots, _| {
            for (s, w) in slots.iter_mut().zip(weights) {
                s.weight = *w;
            }
        })
        .await;
        let mut used = Vec::new();
        for k in 0..*n {
            let (_, state, modem) = r.send_one("+3361234", &format!("hi {k}")).await;
            assert_eq!(state, MessageState::Sent);
            used.push(modem);
        }
        assert_eq!(counts(&used, 4), want.to_vec(), "{strategy:?}");
        if *strategy == Strategy::RoundRobin {
            let order: Vec<_> = used.iter().take(8).flatten().cloned().collect();
            assert_eq!(order, ["m0", "m1", "m2", "m3", "m0", "m1", "m2", "m3"]);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_runs_on_all_modems_at_once() {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let mut r = rig(4, cfg(Strategy::LeastLoaded), |_, modems| {
        for m in modems {
            m.push(Script::Gate {
                started: started.clone(),
                release: release.clone(),
            });
        }
    })
    .await;
    let mut ids = Vec::new();
    for k in 0..8 {
        ids.push(r.enqueue("+3361", &format!("b{k}"), |_| {}).await);
    }
    r.handle.work_added();
    let four = timeout(LONG, started.acquire_many(4))
        .await
        .expect("four sends in parallel");
    four.expect("semaphore open").forget();
    assert_eq!(r.log().len(), 4, "one send in flight per modem");
    release.notify_waiters();
    for id in ids {
        assert_eq!(r.settled(id).await, MessageState::Sent);
    }
    let mut per: HashMap<String, usize> = HashMap::new();
    for s in r.log() {
        *per.entry(s.modem).or_default() += 1;
    }
    assert_eq!(per.len(), 4);
    assert!(per.values().all(|&n| n == 2), "{per:?}");
}

/// Records `n` parts sent through `sim` at `now`, as a dispatcher before a
/// restart would have.
async fn sent_before(store: &Store, sim: &str, modem: &str, n: usize) {
    let enc = settings(false);
    for k in 0..n {
        let m = new_message(&enc, "+3399", &format!("earlier {k}"));
        let id = store.enqueue(m, Utc::now()).await.expect("enqueue").id;
        store
            .assign(id, modem, Some(sim), Vec::new())
            .await
            .expect("assign");
        store
            .part_sending(id, 1, modem, Utc::now())
            .await
            .expect("sending");
        store.part_sent(id, 1, 1, Utc::now()).await.expect("sent");
    }
}

#[tokio::test(start_paused = true)]
async fn caps_are_hard_and_survive_restart() {
    // Three per minute, and the store says two went out just before a restart.
    let store = Store::open_in_memory().expect("store");
    sent_before(&store, "imsi-m0", "m0", 2).await;
    let mut r = rig_on(store, 1, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0].caps = Caps {
            per_minute: Some(3),
            per_hour: Some(7),
            per_day: None,
        };
    })
    .await;
    let mut ids = Vec::new();
    for k in 0..6 {
        ids.push(r.enqueue("+3361", &format!("c{k}"), |_| {}).await);
    }
    r.handle.work_added();
    for id in &ids {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let at: Vec<u64> = r.log().iter().map(|s| r.secs(s.at)).collect();
    // 1 fits the first minute, 3 the second; then the hour cap (7, 2 seeded)
    // leaves room for 1 more until the seeded sends are an hour old.
    assert_eq!(at, [0, 60, 60, 60, 120, 3600]);
}

#[tokio::test(start_paused = true)]
async fn failing_modem_taken_out_and_back_after_cooldown() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.health = HealthConfig {
        failure_threshold: 2,
        cooldown: Duration::from_secs(30),
        max_cooldown: Duration::from_secs(300),
    };
    let mut r = rig(2, c, |_, modems| {
        modems[0].push(Script::Fail(ErrorClass::TryAnotherSim));
        modems[0].push(Script::Fail(ErrorClass::TryAnotherSim));
    })
    .await;
    // 1: m0 fails, fails over to m1.
    let (id1, s1, m1) = r.send_one("+3361", "one").await;
    assert_eq!((s1, m1.as_deref()), (MessageState::Sent, Some("m1")));
    assert_eq!(r.msg(id1).await.tried_modems, ["m0"]);
    // 2: m0 again (least loaded), fails again: out of rotation.
    let id2 = r.enqueue("+3361", "two", |_| {}).await;
    r.handle.work_added();
    let until = r
        .until(|ev| match ev {
            DispatchEvent::ModemOut { modem, until } if modem == "m0" => Some(*until),
            _ => None,
        })
        .await;
    let out_for = (until - Utc::now()).num_seconds();
    assert!((25..=31).contains(&out_for), "cooldown {out_for}");
    assert_eq!(r.settled(id2).await, MessageState::Sent);
    // 3: m0 is out, even though it is the least loaded.
    let (_, _, m3) = r.send_one("+3361", "three").await;
    assert_eq!(m3.as_deref(), Some("m1"));
    // After the cooldown it is back by itself and takes work.
    tokio::time::advance(Duration::from_secs(31)).await;
    let id4 = r.enqueue("+3361", "four", |_| {}).await;
    r.handle.work_added();
    r.until(|ev| matches!(ev, DispatchEvent::ModemBack { modem } if modem == "m0").then_some(()))
        .await;
    assert_eq!(r.settled(id4).await, MessageState::Sent);
    assert_eq!(r.msg(id4).await.modem.as_deref(), Some("m0"));
}

#[tokio::test(start_paused = true)]
async fn permanent_failure_stops_the_message_and_spares_the_modem() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.health.failure_threshold = 1;
    let mut r = rig(2, c, |_, modems| {
        modems[0].push(Script::Fail(ErrorClass::Permanent));
    })
    .await;
    let (id, state, _) = r.send_one("+3361", "bad number").await;
    assert_eq!(state, MessageState::Failed);
    assert_eq!(r.log().len(), 1, "not retried");
    let error = r.msg(id).await.error.unwrap_or_default();
    assert!(
        error.contains("scripted Permanent") && error.contains("500"),
        "{error}"
    );
    // m0 was not taken out: an explicit message for it goes through.
    let id2 = r
        .enqueue("+3361", "ok", |m| m.modem = Some("m0".into()))
        .await;
    r.handle.work_added();
    assert_eq!(r.settled(id2).await, MessageState::Sent);
    assert_eq!(
        r.log().last().map(|s| s.modem.clone()).as_deref(),
        Some("m0")
    );
}

#[tokio::test(start_paused = true)]
async fn retry_here_backs_off_on_the_same_sim_then_fails_over() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.retry = RetryPolicy {
        base: Duration::from_secs(10),
        max: Duration::from_secs(60),
        max_attempts: 5,
        retry_here: 2,
        resend_uncertain: true,
    };
    let mut r = rig(2, c, |_, modems| {
        modems[0].push(Script::Fail(ErrorClass::RetryHere));
        modems[0].push(Script::Fail(ErrorClass::RetryHere));
    })
    .await;
    let (id, state, _) = r.send_one("+3361", "x").await;
    assert_eq!(state, MessageState::Sent);
    let log = r.log();
    let who: Vec<&str> = log.iter().map(|s| s.modem.as_str()).collect();
    // First try on m0, a retry on m0 after a backoff, then failover to m1.
    assert_eq!(who, ["m0", "m0", "m1"]);
    let gap = log[1].at.duration_since(log[0].at);
    assert!(
        gap >= Duration::from_secs(5) && gap <= Duration::from_secs(10),
        "{gap:?}"
    );
    assert_eq!(r.msg(id).await.tried_modems, ["m0"]);
}

#[tokio::test(start_paused = true)]
async fn no_head_of_line_blocking_when_a_modem_hangs() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].push(Script::Hang);
    })
    .await;
    let mut ids = Vec::new();
    for k in 0..5 {
        ids.push(r.enqueue("+3361", &format!("h{k}"), |_| {}).await);
    }
    r.handle.work_added();
    for id in &ids[1..] {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    assert_eq!(r.msg(ids[0]).await.state, MessageState::Sending);
    let on_m1 = r.log().iter().filter(|s| s.modem == "m1").count();
    assert_eq!(on_m1, 4);
    r.task.abort();
}

#[tokio::test(start_paused = true)]
async fn multipart_stays_on_one_sim_even_after_a_failure() {
    let mut r = rig(4, cfg(Strategy::LeastLoaded), |_, modems| {
        // Part 2 meets a SIM error after part 1 went out.
        modems[0].push(Script::Ok);
        modems[0].push(Script::Fail(ErrorClass::TryAnotherSim));
    })
    .await;
    let text = long_text(3, "first ");
    let (id, state, modem) = r.send_one("+3361", &text).await;
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m0")));
    let log = r.log();
    let sent: Vec<(&str, String)> = log.iter().map(|s| (s.modem.as_str(), s.part())).collect();
    assert_eq!(
        sent,
        [
            ("m0", "1/3".into()),
            ("m0", "2/3".into()),
            ("m0", "2/3".into()),
            ("m0", "3/3".into())
        ]
    );
    let refs: Vec<u16> = log.iter().filter_map(|s| s.concat.map(|c| c.0)).collect();
    assert_eq!(refs.len(), 4);
    assert!(
        refs.iter().all(|&x| x == refs[0]),
        "one reference: {refs:?}"
    );
    // The parts the network got, in order, are the text.
    let mut parts: Vec<&SentRec> = log.iter().collect();
    parts.dedup_by_key(|s| s.part());
    assert_eq!(
        parts.iter().map(|s| s.text.as_str()).collect::<String>(),
        text
    );
    assert!(r.msg(id).await.tried_modems.is_empty());
    // The next long message to the same number through the same SIM gets
    // the next reference.
    let id2 = r
        .enqueue("+3361", &long_text(2, "second "), |m| {
            m.modem = Some("m0".into())
        })
        .await;
    r.handle.work_added();
    assert_eq!(r.settled(id2).await, MessageState::Sent);
    let next: Vec<u16> = r
        .log()
        .iter()
        .skip(4)
        .filter_map(|s| s.concat.map(|c| c.0))
        .collect();
    let want = (refs[0] + 1) % 256;
    assert_eq!(next, [want, want]);
}

#[tokio::test(start_paused = true)]
async fn priorities_high_first() {
    // All queued before the start, so every look at the store sees all four.
    let store = Store::open_in_memory().expect("store");
    let enc = settings(false);
    let prios = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Normal,
    ];
    let mut ids = Vec::new();
    for p in prios {
        let mut m = new_message(&enc, "+3361", &format!("{p:?}"));
        m.priority = p;
        ids.push(store.enqueue(m, Utc::now()).await.expect("enqueue").id);
    }
    let mut r = rig_on(store, 1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].set_state(ModemState::Starting);
    })
    .await;
    r.modems[0].set_state(ModemState::Ready);
    for id in &ids {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let order: Vec<String> = r.log().iter().map(|s| s.text.clone()).collect();
    assert_eq!(order, ["High", "Normal", "Normal", "Low"]);
}

#[tokio::test(start_paused = true)]
async fn scheduled_not_before_its_time() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    let at = Utc::now() + chrono::TimeDelta::minutes(10);
    let later = r
        .enqueue("+3361", "later", |m| m.not_before = Some(at))
        .await;
    let now = r.enqueue("+3361", "now", |_| {}).await;
    r.handle.work_added();
    assert_eq!(r.settled(now).await, MessageState::Sent);
    assert_eq!(r.settled(later).await, MessageState::Sent);
    let log = r.log();
    assert_eq!(r.secs(log[0].at), 0);
    let t = r.secs(log[1].at);
    assert!((599..=601).contains(&t), "sent at {t}s");
}

#[tokio::test(start_paused = true)]
async fn expiry_marks_queued_messages_expired() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].set_state(ModemState::Recovering);
    })
    .await;
    let id = r
        .enqueue("+3361", "stale", |m| {
            m.validity = Some(Duration::from_secs(300))
        })
        .await;
    let keep = r.enqueue("+3361", "fresh", |_| {}).await;
    r.handle.work_added();
    assert_eq!(r.settled(id).await, MessageState::Expired);
    let t = Instant::now().duration_since(r.t0).as_secs();
    assert!((299..=301).contains(&t), "expired at {t}s");
    assert!(r.log().is_empty());
    r.modems[0].set_state(ModemState::Ready);
    assert_eq!(r.settled(keep).await, MessageState::Sent);
    assert_eq!(r.msg(id).await.state, MessageState::Expired);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_send_in_flight() {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].push(Script::Gate {
            started: started.clone(),
            release: release.clone(),
        });
    })
    .await;
    let a = r.enqueue("+3361", "in flight", |_| {}).await;
    let b = r.enqueue("+3361", "not started", |_| {}).await;
    r.handle.work_added();
    let one = timeout(LONG, started.acquire())
        .await
        .expect("send started");
    one.expect("semaphore open").forget();
    r.cancel.cancel();
    assert!(
        timeout(Duration::from_secs(60), &mut r.task).await.is_err(),
        "run must wait for the send in flight"
    );
    release.notify_one();
    let res = timeout(LONG, &mut r.task).await.expect("run ends");
    assert!(matches!(res, Ok(Ok(()))), "{res:?}");
    assert_eq!(r.msg(a).await.state, MessageState::Sent);
    assert_eq!(
        r.msg(b).await.state,
        MessageState::Queued,
        "no new work after shutdown"
    );
    assert_eq!(r.log().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn uncertain_parts_after_a_crash() {
    // (resend_uncertain, expected state, sends)
    let table = [
        (true, MessageState::Sent, 2),
        (false, MessageState::Failed, 0),
    ];
    assert!(!table.is_empty());
    for (resend, want, sends) in table {
        // Before the crash: a 3-part message on m1, part 1 out, part 2 in
        // flight. The store's start-up recovery keeps part 2 for a resend;
        // the dispatcher's own setting decides.
        let store = Store::open_in_memory().expect("store");
        let enc = settings(false);
        let text = long_text(3, "crash ");
        let id = store
            .enqueue(new_message(&enc, "+3361", &text), Utc::now())
            .await
            .expect("enqueue")
            .id;
        let msg = store
            .ready(Utc::now(), 10)
            .await
            .expect("ready")
            .messages
            .into_iter()
            .find(|m| m.id == id)
            .expect("ready");
        let parts = enc.encode(&msg, 7).expect("encodes");
        store
            .assign(id, "m1", Some("imsi-m1"), parts)
            .await
            .expect("assign");
        store
            .part_sending(id, 1, "m1", Utc::now())
            .await
            .expect("1");
        store.part_sent(id, 1, 9, Utc::now()).await.expect("1 out");
        store
            .part_sending(id, 2, "m1", Utc::now())
            .await
            .expect("2");
        store
            .recover_on_start(true, Utc::now())
            .await
            .expect("recover");

        let mut c = cfg(Strategy::LeastLoaded);
        c.retry.resend_uncertain = resend;
        let mut r = rig_on(store, 2, c, |_, _| {}).await;
        assert_eq!(r.settled(id).await, want, "resend {resend}");
        let log = r.log();
        assert_eq!(log.len(), sends, "resend {resend}");
        assert!(log
            .iter()
            .all(|s| s.modem == "m1" && s.concat.is_some_and(|c| c.0 == 7)));
        let seqs: Vec<String> = log.iter().map(SentRec::part).collect();
        assert_eq!(seqs, ["2/3", "3/3"][..sends]);
        if !resend {
            let e = r.msg(id).await.error.unwrap_or_default();
            assert!(e.contains("uncertain"), "{e}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn messages_no_modem_can_send_fail_at_once() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    // (field setter, expected words in the error)
    type Setter = fn(&mut NewMessage);
    let table: [(Setter, &str); 3] = [
        (|m| m.modem = Some("nope".into()), "unknown modem nope"),
        (
            |m| m.queue = Some("otp".into()),
            "no modem serves queue otp",
        ),
        // More than 255 parts: intake refuses it, a row may still hold it.
        (|m| m.text = "€".repeat(256 * 67), "cannot encode"),
    ];
    assert!(!table.is_empty());
    for (set, words) in table {
        let id = r.enqueue("+3361", "x", set).await;
        r.handle.work_added();
        assert_eq!(r.settled(id).await, MessageState::Failed);
        let e = r.msg(id).await.error.unwrap_or_default();
        assert!(e.contains(words), "{e}");
    }
    // The others still go.
    let (_, state, _) = r.send_one("+3361", "fine").await;
    assert_eq!(state, MessageState::Sent);
}

#[tokio::test(start_paused = true)]
async fn a_part_count_other_than_intake_s_fails_the_message() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    // Counted as 2 parts with 8-bit references, recorded as 16-bit: 3 parts.
    let id = r
        .enqueue("+3361", &"y".repeat(306), |m| {
            m.options.ref16 = Some(true);
        })
        .await;
    r.handle.work_added();
    assert_eq!(r.settled(id).await, MessageState::Failed);
    let e = r.msg(id).await.error.unwrap_or_default();
    assert!(e.contains("3 parts, 2 were counted at intake"), "{e}");
    assert!(r.log().is_empty(), "no part sent");
}

#[tokio::test(start_paused = true)]
async fn sticky_sender_keeps_the_recipient_on_its_sim() {
    let mut c = cfg(Strategy::RoundRobin);
    c.policy.sticky = true;
    let mut r = rig(3, c, |_, _| {}).await;
    let (_, _, first) = r.send_one("+3361", "a").await;
    let (_, _, other) = r.send_one("+3399", "b").await;
    let (_, _, again) = r.send_one("+3361", "c").await;
    assert_ne!(first, other);
    assert_eq!(first, again);
}

#[tokio::test(start_paused = true)]
async fn prefix_routes_pick_the_group() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.routes = Routes::new([("+44", vec!["m2".to_string()])]);
    let mut r = rig(3, c, |_, _| {}).await;
    for k in 0..3 {
        let (_, state, modem) = r.send_one("+447700900123", &format!("uk{k}")).await;
        assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m2")));
    }
    let (_, _, modem) = r.send_one("+3361", "fr").await;
    assert_eq!(modem.as_deref(), Some("m0"));
}

#[tokio::test(start_paused = true)]
async fn a_message_the_store_chokes_on_does_not_block_the_others() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.store_retry = Duration::from_secs(5);
    let mut r = rig(1, c, |_, _| {}).await;
    let bad = r
        .enqueue("+3361", "bad row", |m| m.priority = Priority::High)
        .await;
    // The row refuses to be assigned, as a broken row would.
    r.store
        .exec_for_test(format!(
            "CREATE TRIGGER broken BEFORE UPDATE OF assigned_modem ON outgoing
             WHEN NEW.id = {bad} BEGIN SELECT RAISE(ABORT, 'broken row'); END"
        ))
        .await
        .expect("trigger");
    let mut good = Vec::new();
    for k in 0..3 {
        good.push(r.enqueue("+3361", &format!("g{k}"), |_| {}).await);
    }
    r.handle.work_added();
    for id in &good {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    assert_eq!(r.secs(Instant::now()), 0);
    // Held back, not hammered: at most a look or two at the store until the
    // hold ends (a retry loop would make hundreds in 4 s, one per 10 ms).
    let before = r.store.transactions();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = r.store.transactions() - before;
    assert!(
        during <= 2,
        "held back, not hammered: {during} transactions"
    );
    // Once the store recovers, the held message goes after the hold.
    r.store
        .exec_for_test("DROP TRIGGER broken".into())
        .await
        .expect("drop trigger");
    assert_eq!(r.settled(bad).await, MessageState::Sent);
    assert_eq!(r.log().last().map(|s| r.secs(s.at)), Some(5));
}

#[tokio::test(start_paused = true)]
async fn modems_that_are_not_ready_get_no_work() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].set_state(ModemState::Gone);
        // A modem that answers "not ready" hands the message to another SIM
        // at once.
        modems[1].push(Script::Fail(ErrorClass::NotReady));
    })
    .await;
    let (id, state, modem) = r.send_one("+3361", "one").await;
    assert_eq!(state, MessageState::Sent);
    // m1 said not ready; m0 was gone, so after failover the message waited
    // for any modem and m1 (tried, but the only ready one) took it.
    assert_eq!(modem.as_deref(), Some("m1"));
    assert_eq!(r.msg(id).await.tried_modems, ["m1"]);
    r.modems[0].set_state(ModemState::Ready);
    let (_, _, modem) = r.send_one("+3361", "two").await;
    assert_eq!(modem.as_deref(), Some("m0"), "back in rotation once ready");
}

#[tokio::test(start_paused = true)]
async fn expiry_of_a_message_the_store_does_not_show_yet() {
    // Scheduled after its own expiry: `ready` never returns it, only the
    // store's wake time knows when it expires.
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    let at = Utc::now() + chrono::TimeDelta::minutes(10);
    let id = r
        .enqueue("+3361", "too late", |m| {
            m.not_before = Some(at);
            m.validity = Some(Duration::from_secs(300));
        })
        .await;
    r.handle.work_added();
    assert_eq!(r.settled(id).await, MessageState::Expired);
    let t = r.secs(Instant::now());
    assert!((299..=301).contains(&t), "expired at {t}s");
    assert!(r.log().is_empty());
}

#[tokio::test(start_paused = true)]
async fn text_mode_modems_take_only_messages_without_a_udh() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].set_text_mode(true);
        modems[1].set_state(ModemState::Starting);
    })
    .await;
    // Single part: the text-mode modem takes it (a SUBMIT without a UDH,
    // which its actor sends in text mode).
    let (_, state, modem) = r.send_one("+3361", "short €").await;
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m0")));
    let first = r.log().pop().expect("sent");
    assert!(!first.udh && first.text == "short €", "{first:?}");
    // Two parts: it waits while only the text-mode modem is ready...
    let text = long_text(2, "long ");
    let id = r.enqueue("+3361", &text, |_| {}).await;
    r.handle.work_added();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(r.msg(id).await.state, MessageState::Queued);
    assert_eq!(r.log().len(), 1, "nothing more sent");
    // ...and goes as PDUs once a PDU-mode modem is ready.
    r.modems[1].set_state(ModemState::Ready);
    assert_eq!(r.settled(id).await, MessageState::Sent);
    let log = r.log();
    let long: Vec<&SentRec> = log.iter().skip(1).collect();
    assert_eq!(long.len(), 2);
    assert!(long.iter().all(|s| s.modem == "m1" && s.udh));
    assert_eq!(
        long.iter().map(|s| s.text.as_str()).collect::<String>(),
        text
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_of_the_encoder_settings_keeps_the_counted_parts() {
    // 306 GSM-7 characters: 2 parts with 8-bit references, 3 with 16-bit.
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].set_state(ModemState::Starting);
    })
    .await;
    let before = "b".repeat(306);
    let a = r.enqueue("+3361", &before, |_| {}).await;
    r.handle.work_added();
    // The reload flips the reference width while the message waits.
    r.encoding.replace(settings(true));
    let after = "a".repeat(306);
    let b = r.enqueue("+3361", &after, |_| {}).await;
    r.modems[0].set_state(ModemState::Ready);
    assert_eq!(r.settled(a).await, MessageState::Sent);
    assert_eq!(r.settled(b).await, MessageState::Sent);
    let log = r.log();
    let of = |c: char| -> Vec<&SentRec> { log.iter().filter(|s| s.text.starts_with(c)).collect() };
    assert_eq!(of('b').len(), 2, "queued before: 2 parts");
    assert_eq!(of('a').len(), 3, "queued after: 3 parts");
    assert_eq!(
        of('b').iter().map(|s| s.text.as_str()).collect::<String>(),
        before
    );
    assert_eq!(
        of('a').iter().map(|s| s.text.as_str()).collect::<String>(),
        after
    );
}

/// One scripted answer of a fake modem, for the property below.
fn arb_answer() -> impl proptest::strategy::Strategy<Value = Script> {
    use proptest::prelude::*;
    prop_oneof![
        4 => Just(Script::Ok),
        1 => Just(Script::Fail(ErrorClass::RetryHere)),
        1 => Just(Script::Fail(ErrorClass::TryAnotherSim)),
        1 => Just(Script::Fail(ErrorClass::Permanent)),
        1 => Just(Script::Fail(ErrorClass::Uncertain)),
        1 => Just(Script::Fail(ErrorClass::NotReady)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever the modems answer, every message ends sent or failed (the
    /// dispatcher always makes progress), the parts of a message go out
    /// through one modem, and no modem exceeds its per-minute cap.
    #[test]
    fn every_message_settles(
        scripts in proptest::collection::vec(proptest::collection::vec(arb_answer(), 0..12), 3),
        msgs in proptest::collection::vec((1usize..4, 0u8..3, proptest::option::of(0usize..4)), 1..10),
        cap in proptest::option::of(1u32..4),
        strategy in proptest::prop_oneof![
            proptest::strategy::Just(Strategy::LeastLoaded),
            proptest::strategy::Just(Strategy::RoundRobin),
            proptest::strategy::Just(Strategy::Weighted),
        ],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut c = cfg(strategy);
            c.health = HealthConfig {
                failure_threshold: 2,
                cooldown: Duration::from_secs(60),
                max_cooldown: Duration::from_secs(600),
            };
            c.retry = RetryPolicy {
                base: Duration::from_secs(10),
                max: Duration::from_secs(60),
                max_attempts: 4,
                retry_here: 2,
                resend_uncertain: true,
            };
            let mut r = rig(3, c, |slots, modems| {
                for ((s, m), script) in slots.iter_mut().zip(modems).zip(&scripts) {
                    s.caps.per_minute = cap;
                    for a in script {
                        m.push(a.clone());
                    }
                }
            })
            .await;
            let mut ids = Vec::new();
            for (k, (parts, prio, modem)) in msgs.iter().enumerate() {
                let text = if *parts == 1 { format!("m{k}") } else { long_text(*parts, &format!("m{k} ")) };
                let id = r.enqueue(&format!("+336{k}"), &text, |m| {
                    m.priority = [Priority::Low, Priority::Normal, Priority::High][usize::from(*prio)];
                    // Index 3 names a modem that does not exist.
                    m.modem = modem.map(|i| format!("m{i}"));
                }).await;
                ids.push(id);
            }
            r.handle.work_added();
            let mut sent_by: HashMap<i64, String> = HashMap::new();
            let mut open: std::collections::HashSet<i64> = ids.iter().copied().collect();
            let events = &mut r.events;
            timeout(LONG, async {
                while !open.is_empty() {
                    match events.recv().await.expect("dispatcher alive") {
                        DispatchEvent::PartSent { id, modem, .. } => {
                            let first = sent_by.entry(id).or_insert_with(|| modem.clone());
                            assert_eq!(*first, modem, "message {id} changed SIM");
                        }
                        DispatchEvent::State { id, state } if final_state(state) => {
                            open.remove(&id);
                        }
                        _ => {}
                    }
                }
            })
            .await
            .expect("every message settles");
            for (id, (_, _, modem)) in ids.iter().zip(&msgs) {
                let m = r.msg(*id).await;
                assert!(matches!(m.state, MessageState::Sent | MessageState::Failed), "{id}: {:?}", m.state);
                if *modem == Some(3) {
                    assert_eq!(m.state, MessageState::Failed);
                }
            }
            if let Some(cap) = cap {
                let log = r.log();
                for name in ["m0", "m1", "m2"] {
                    let at: Vec<Instant> = log.iter().filter(|s| s.modem == name).map(|s| s.at).collect();
                    for (i, t) in at.iter().enumerate() {
                        let n = at[i..].iter().filter(|&&u| u.duration_since(*t) < Duration::from_secs(60)).count();
                        assert!(n <= cap as usize, "{name}: {n} sends within a minute, cap {cap}");
                    }
                }
            }
            r.task.abort();
        });
    }
}

#[tokio::test(start_paused = true)]
async fn idle_means_idle_no_polling() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    let (_, state, _) = r.send_one("+3361", "hello").await;
    assert_eq!(state, MessageState::Sent);
    // The pass that follows the send (campaigns, then ready messages: two
    // store calls) may still be under way: wait until the count is still
    // (the store thread answers in real time, the task runs on paused time).
    let mut before = r.store.transactions();
    loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
        std::thread::sleep(std::time::Duration::from_millis(20));
        tokio::task::yield_now().await;
        let now = r.store.transactions();
        if now == before {
            break;
        }
        before = now;
    }
    // A day passes with nothing to do: the task must not look at the store.
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    assert_eq!(r.store.transactions(), before, "no store calls while idle");
    // An event wakes it at once.
    let (_, state, _) = r.send_one("+3361", "again").await;
    assert_eq!(state, MessageState::Sent);
    assert!(r.store.transactions() > before);
}

#[tokio::test(start_paused = true)]
async fn a_modem_comes_back_on_its_own_timer() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.health = HealthConfig {
        failure_threshold: 1,
        cooldown: Duration::from_secs(45),
        max_cooldown: Duration::from_secs(45),
    };
    let mut r = rig(2, c, |_, modems| {
        modems[0].push(Script::Fail(ErrorClass::RetryHere));
    })
    .await;
    let t_out = Instant::now();
    let (_, state, modem) = r.send_one("+3361", "x").await;
    // The retry does not wait for the cooling modem; another SIM takes it.
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m1")));
    // Nothing else is enqueued; the return is announced when the cooldown ends.
    r.until(|ev| matches!(ev, DispatchEvent::ModemBack { modem } if modem == "m0").then_some(()))
        .await;
    let back_after = Instant::now().duration_since(t_out).as_secs();
    assert!(back_after <= 45, "announced after {back_after}s");
}

#[tokio::test(start_paused = true)]
async fn a_reload_adds_and_removes_modems_without_a_restart() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    let (_, state, modem) = r.send_one("+3361", "before").await;
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m0")));
    // m0 goes away, m1 comes: new work goes to m1 only.
    r.updates.remove("m0");
    let (s1, m1) = slot(1, &r.log);
    r.updates.add(s1);
    r.modems.push(m1);
    for k in 0..3 {
        let (_, state, modem) = r.send_one("+3361", &format!("after {k}")).await;
        assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m1")));
    }
    // m0 back (a changed modem is removed and added again): both take work.
    let (s0, m0) = slot(0, &r.log);
    r.updates.add(s0);
    r.modems.push(m0);
    let mut used = Vec::new();
    for k in 0..4 {
        used.push(r.send_one("+3361", &format!("both {k}")).await.2);
    }
    assert!(used.iter().any(|m| m.as_deref() == Some("m0")), "{used:?}");
    assert!(used.iter().any(|m| m.as_deref() == Some("m1")), "{used:?}");
    r.cancel.cancel();
}

// ------------------------------------------------- priorities and campaigns

#[tokio::test(start_paused = true)]
async fn an_urgent_message_waits_only_for_the_part_in_flight() {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].push(Script::Gate {
            started: started.clone(),
            release: release.clone(),
        });
    })
    .await;
    let low = r
        .enqueue("+3361", &long_text(3, "low"), |m| {
            m.priority = Priority::Low
        })
        .await;
    r.handle.work_added();
    timeout(LONG, started.acquire())
        .await
        .expect("the first part is in flight")
        .expect("semaphore open")
        .forget();
    let urgent = r
        .enqueue("+3362", "urgent", |m| m.priority = Priority::Urgent)
        .await;
    r.handle.work_added();
    let preempted = r
        .until(|ev| match ev {
            DispatchEvent::Preempted { id, modem } => Some((*id, modem.clone())),
            _ => None,
        })
        .await;
    assert_eq!(preempted, (low, "m0".to_string()));
    release.notify_waiters();
    assert_eq!(r.settled(urgent).await, MessageState::Sent);
    assert_eq!(r.settled(low).await, MessageState::Sent);
    let order: Vec<String> = r
        .log()
        .iter()
        .map(|s| {
            if s.text == "urgent" {
                "urgent".to_string()
            } else {
                format!("low {}", s.part())
            }
        })
        .collect();
    assert_eq!(order, ["low 1/3", "urgent", "low 2/3", "low 3/3"]);
    // Every part of the long message went through the one SIM, with one
    // concatenation reference.
    let refs: HashSet<u16> = r
        .log()
        .iter()
        .filter_map(|s| s.concat.map(|c| c.0))
        .collect();
    assert_eq!(refs.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_equal_or_lower_priority_does_not_preempt() {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, modems| {
        modems[0].push(Script::Gate {
            started: started.clone(),
            release: release.clone(),
        });
    })
    .await;
    let first = r
        .enqueue("+3361", &long_text(3, "first"), |m| {
            m.priority = Priority::High
        })
        .await;
    r.handle.work_added();
    timeout(LONG, started.acquire())
        .await
        .expect("in flight")
        .expect("open")
        .forget();
    let second = r
        .enqueue("+3362", "second", |m| m.priority = Priority::High)
        .await;
    r.handle.work_added();
    release.notify_waiters();
    assert_eq!(r.settled(first).await, MessageState::Sent);
    assert_eq!(r.settled(second).await, MessageState::Sent);
    let order: Vec<String> = r.log().iter().map(|s| s.part()).collect();
    assert_eq!(order, ["1/3", "2/3", "3/3", "1/1"]);
}

fn utc(s: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

/// A campaign of `n` low-priority messages `c0`, `c1`, … created in `store`.
async fn campaign(
    store: &Store,
    n: usize,
    window: Option<(&str, &str, &str)>,
    rate: Option<u32>,
    now: chrono::DateTime<Utc>,
) -> (i64, Vec<i64>) {
    let enc = settings(false);
    let msgs: Vec<NewMessage> = (0..n)
        .map(|k| {
            let mut m = new_message(&enc, "+3361", &format!("c{k}"));
            m.priority = Priority::Low;
            m
        })
        .collect();
    let c = crate::store::NewCampaign {
        name: "test".into(),
        text: "c{{k}}".into(),
        priority: Priority::Low,
        report: false,
        window: window.map(|(start, end, tz)| crate::store::CampaignWindow {
            start: start.into(),
            end: end.into(),
            tz: tz.into(),
        }),
        rate_per_min: rate,
    };
    let id = store.campaign_create(c, msgs, now).await.expect("campaign");
    let view = store.campaign(id).await.expect("read").expect("exists");
    assert_eq!((view.total, view.queued), (n as u64, n as u64));
    let ids = store
        .outbox(None, 10_000)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|m| m.campaign == Some(id))
        .map(|m| m.id)
        .rev()
        .collect();
    (id, ids)
}

#[tokio::test(start_paused = true)]
async fn a_campaign_keeps_its_rate_and_window_on_a_fake_clock() {
    let store = Store::open_in_memory().expect("store");
    // 19:57:30 in Berlin (winter, UTC+1); the window closes at 20:00.
    let start = utc("2026-01-15T18:57:30Z");
    let window = Some(("09:00", "20:00", "Europe/Berlin"));
    let (cid, ids) = campaign(&store, 5, window, Some(1), start).await;
    let mut r = rig_at(store, 2, cfg(Strategy::LeastLoaded), Some(start), |_, _| {}).await;
    r.handle.work_added();
    for id in &ids {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let times: Vec<u64> = r.log().iter().map(|s| r.secs(s.at)).collect();
    // One a minute until 20:00, then nothing until 09:00 the next day
    // (08:00 UTC: 46,950 s after the start), then one a minute again.
    assert_eq!(times, [0, 60, 120, 46_950, 47_010]);
    let texts: Vec<String> = r.log().iter().map(|s| s.text.clone()).collect();
    assert_eq!(texts, ["c0", "c1", "c2", "c3", "c4"]);
    let view = r.store.campaign(cid).await.expect("read").expect("exists");
    assert_eq!(view.state, CampaignState::Done);
    assert_eq!((view.sent, view.queued, view.total), (5, 0, 5));
}

#[tokio::test(start_paused = true)]
async fn a_campaign_outside_its_window_waits_and_others_go_on() {
    let store = Store::open_in_memory().expect("store");
    // The window is 22:00-06:00 across midnight; 06:30 local (05:30 UTC)
    // is just after it closed.
    let start = utc("2026-01-15T05:30:00Z");
    let window = Some(("22:00", "06:00", "Europe/Berlin"));
    let (cid, ids) = campaign(&store, 2, window, None, start).await;
    let mut r = rig_at(store, 1, cfg(Strategy::LeastLoaded), Some(start), |_, _| {}).await;
    let m = new_message(&r.encoding.get(), "+3369", "single");
    let single = r.store.enqueue(m, start).await.expect("enqueue").id;
    r.handle.work_added();
    assert_eq!(r.settled(single).await, MessageState::Sent);
    let view = r.store.campaign(cid).await.expect("read").expect("exists");
    assert_eq!(view.state, CampaignState::Scheduled);
    for id in &ids {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let log = r.log();
    // 22:00 local is 21:00 UTC: 15.5 h after the start.
    assert_eq!(r.secs(log[1].at), 55_800);
    assert_eq!(r.secs(log[2].at), 55_800);
}

#[tokio::test(start_paused = true)]
async fn a_paused_campaign_holds_and_a_cancelled_one_ends_its_queue() {
    let store = Store::open_in_memory().expect("store");
    let (cid, ids) = campaign(&store, 3, None, None, Utc::now()).await;
    let now = Utc::now();
    store
        .campaign_act(cid, crate::store::CampaignAction::Pause, now)
        .await
        .expect("pause");
    let mut r = rig_on(store, 1, cfg(Strategy::LeastLoaded), |_, _| {}).await;
    let single = r.enqueue("+3369", "single", |_| {}).await;
    r.handle.work_added();
    assert_eq!(r.settled(single).await, MessageState::Sent);
    assert_eq!(r.msg(ids[0]).await.state, MessageState::Queued);
    let v = r
        .store
        .campaign_act(cid, crate::store::CampaignAction::Resume, now)
        .await
        .expect("resume");
    assert_eq!(v.state, CampaignState::Running);
    r.handle.work_added();
    assert_eq!(r.settled(ids[0]).await, MessageState::Sent);
    let v = r
        .store
        .campaign_act(cid, crate::store::CampaignAction::Cancel, now)
        .await
        .expect("cancel");
    assert_eq!(v.state, CampaignState::Cancelled);
    assert_eq!(v.sent + v.cancelled + v.queued, 3);
    for id in &ids {
        r.settled(*id).await;
    }
    let v = r.store.campaign(cid).await.expect("read").expect("exists");
    assert_eq!(v.queued, 0);
    assert_eq!(v.sent + v.cancelled, 3);
    assert!(v.cancelled >= 1, "{v:?}");
    // Actions that do not apply are conflicts.
    let e = r
        .store
        .campaign_act(cid, crate::store::CampaignAction::Resume, now)
        .await
        .expect_err("resume a cancelled campaign");
    assert!(e.to_string().contains("cannot resume campaign"), "{e}");
}

// ------------------------------------------------------------ announcements

#[test]
fn a_pass_lowers_an_announcement_only_when_nothing_newer_or_open() {
    let rank = |p: Priority| p.rank_u8();
    let handle = |p: &Arc<Pending>| DispatchHandle {
        wake: Arc::new(Notify::new()),
        events: broadcast::channel(1).0,
        pending_top: p.clone(),
    };

    // Settled by a pass that began after it.
    let p = Arc::new(Pending::default());
    handle(&p).work_added_at(Priority::High);
    let snap = p.snapshot();
    p.settle(snap);
    assert_eq!(p.top(), 0);

    // A newer announcement of the same priority during the pass survives it.
    let p = Arc::new(Pending::default());
    let h = handle(&p);
    h.work_added_at(Priority::Urgent);
    let snap = p.snapshot();
    h.work_added_at(Priority::Urgent);
    p.settle(snap);
    assert_eq!(p.top(), rank(Priority::Urgent));
    p.settle(p.snapshot());
    assert_eq!(p.top(), 0);

    // An intake between its announcement and its commit holds it up, and
    // so does the commit after it, until a later pass.
    let p = Arc::new(Pending::default());
    let h = handle(&p);
    let a = h.announce(Priority::Urgent);
    p.settle(p.snapshot());
    assert_eq!(p.top(), rank(Priority::Urgent), "open intake");
    let snap = p.snapshot();
    a.committed();
    p.settle(snap);
    assert_eq!(p.top(), rank(Priority::Urgent), "committed during the pass");
    p.settle(p.snapshot());
    assert_eq!(p.top(), 0);

    // Dropped without a commit (the store refused): a pass lowers it.
    let p = Arc::new(Pending::default());
    let h = handle(&p);
    drop(h.announce(Priority::Normal));
    assert_eq!(p.top(), rank(Priority::Normal));
    p.settle(p.snapshot());
    assert_eq!(p.top(), 0);

    // The highest wins.
    let p = Arc::new(Pending::default());
    let h = handle(&p);
    h.work_added_at(Priority::Urgent);
    h.work_added_at(Priority::Low);
    assert_eq!(p.top(), rank(Priority::Urgent));
}
