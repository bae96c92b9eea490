//! Tests of the dispatch task against in-memory fakes of the store, the
//! modems and the codec. Time is tokio's paused clock; tests wait on events
//! with timeouts, never on sleeps.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::*;

// ---------------------------------------------------------------- fake store

#[derive(Debug, Clone)]
struct FMsg {
    m: ReadyMessage,
    state: MessageState,
    not_before: Option<DateTime<Utc>>,
    retry_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct St {
    msgs: BTreeMap<i64, FMsg>,
    next_id: i64,
    refs: HashMap<(String, String), u16>,
    usage: HashMap<String, Usage>,
    /// Messages whose `assign` fails, as a broken row would.
    broken: std::collections::HashSet<i64>,
    assign_calls: HashMap<i64, u32>,
    ready_calls: u32,
}

#[derive(Debug, Clone, Default)]
struct FakeOutbox {
    st: Arc<Mutex<St>>,
}

const CHUNK: usize = 10;

fn parts_for(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(CHUNK).max(1)).unwrap_or(1)
}

fn final_state(s: MessageState) -> bool {
    !matches!(s, MessageState::Queued | MessageState::Sending)
}

impl FakeOutbox {
    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().expect("test mutex")
    }

    fn enqueue(&self, to: &str, text: &str, f: impl FnOnce(&mut FMsg)) -> i64 {
        let mut st = self.st();
        st.next_id += 1;
        let id = st.next_id;
        let parts = (1..=parts_for(text))
            .map(|seq| PartRow {
                seq,
                state: PartState::Pending,
                attempts: 0,
                pdu_hex: None,
                tpdu_len: None,
                mr: None,
            })
            .collect();
        let mut msg = FMsg {
            m: ReadyMessage {
                id,
                to: to.into(),
                text: text.into(),
                report: false,
                flash: false,
                priority: Priority::Normal,
                validity: None,
                modem: None,
                queue: None,
                assigned_modem: None,
                sim: None,
                options: serde_json::Value::Null,
                parts,
                tried_modems: Vec::new(),
                created_at: Utc::now(),
                expires_at: None,
            },
            state: MessageState::Queued,
            not_before: None,
            retry_at: None,
            error: None,
        };
        f(&mut msg);
        // As the store does: without an explicit expiry, created + validity.
        if msg.m.expires_at.is_none() {
            msg.m.expires_at = msg.m.validity.and_then(|v| {
                chrono::TimeDelta::from_std(v)
                    .ok()
                    .and_then(|d| msg.m.created_at.checked_add_signed(d))
            });
        }
        st.msgs.insert(id, msg);
        id
    }

    fn msg(&self, id: i64) -> FMsg {
        self.st().msgs.get(&id).cloned().expect("message exists")
    }

    fn with_part<T>(
        &self,
        id: i64,
        seq: u32,
        f: impl FnOnce(&mut FMsg, usize) -> T,
    ) -> Result<T, DispatchError> {
        let mut st = self.st();
        let m = st.msgs.get_mut(&id).ok_or_else(|| DispatchError::Store {
            op: "fake",
            message: format!("no message {id}"),
        })?;
        let i =
            m.m.parts
                .iter()
                .position(|p| p.seq == seq)
                .ok_or_else(|| DispatchError::Store {
                    op: "fake",
                    message: format!("no part {seq}"),
                })?;
        Ok(f(m, i))
    }
}

impl Outbox for FakeOutbox {
    async fn ready(&self, now: DateTime<Utc>, limit: usize) -> Result<ReadyBatch, DispatchError> {
        let mut st = self.st();
        st.ready_calls += 1;
        let mut messages = Vec::new();
        let mut next_wake: Option<DateTime<Utc>> = None;
        let mut wake = |t: DateTime<Utc>| next_wake = Some(next_wake.map_or(t, |n| n.min(t)));
        for f in st.msgs.values() {
            if final_state(f.state) {
                continue;
            }
            let exp = f.m.expires_at;
            if exp.is_some_and(|e| e <= now) {
                continue;
            }
            if let Some(e) = exp {
                wake(e);
            }
            if f.m.parts.iter().any(|p| p.state == PartState::Sending) {
                continue;
            }
            if !f
                .m
                .parts
                .iter()
                .any(|p| matches!(p.state, PartState::Pending | PartState::Uncertain))
            {
                continue;
            }
            let later = [f.not_before, f.retry_at]
                .into_iter()
                .flatten()
                .filter(|&t| t > now)
                .max();
            if let Some(t) = later {
                wake(t);
                continue;
            }
            messages.push(f.m.clone());
        }
        messages.sort_by_key(|m| (std::cmp::Reverse(m.priority), m.created_at, m.id));
        messages.truncate(limit);
        Ok(ReadyBatch {
            messages,
            next_wake,
        })
    }

    async fn next_concat_ref(&self, sim: &str, destination: &str) -> Result<u16, DispatchError> {
        let mut st = self.st();
        let r = st
            .refs
            .entry((sim.to_string(), destination.to_string()))
            .or_insert(0);
        *r = r.wrapping_add(1);
        Ok(*r)
    }

    async fn assign(
        &self,
        id: i64,
        modem: &str,
        sim: Option<&str>,
        parts: Vec<(u32, String, u32)>,
    ) -> Result<(), DispatchError> {
        let mut st = self.st();
        *st.assign_calls.entry(id).or_default() += 1;
        if st.broken.contains(&id) {
            return Err(DispatchError::Store {
                op: "assign",
                message: format!("constraint failed on message {id}"),
            });
        }
        let m = st.msgs.get_mut(&id).ok_or_else(|| DispatchError::Store {
            op: "assign",
            message: format!("no message {id}"),
        })?;
        m.m.assigned_modem = Some(modem.to_string());
        m.m.sim = sim.map(str::to_string);
        let old = std::mem::take(&mut m.m.parts);
        for (seq, hex, len) in parts {
            let attempts = old.iter().find(|p| p.seq == seq).map_or(0, |p| p.attempts);
            m.m.parts.push(PartRow {
                seq,
                state: PartState::Pending,
                attempts,
                pdu_hex: Some(hex),
                tpdu_len: Some(len),
                mr: None,
            });
        }
        Ok(())
    }

    async fn part_sending(
        &self,
        id: i64,
        seq: u32,
        _modem: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), DispatchError> {
        self.with_part(id, seq, |m, i| {
            m.m.parts[i].state = PartState::Sending;
            m.state = MessageState::Sending;
        })
    }

    async fn part_sent(
        &self,
        id: i64,
        seq: u32,
        mr: u8,
        _now: DateTime<Utc>,
    ) -> Result<MessageState, DispatchError> {
        self.with_part(id, seq, |m, i| {
            m.m.parts[i].state = PartState::Sent;
            m.m.parts[i].mr = Some(mr);
            if m.m.parts.iter().all(|p| p.state == PartState::Sent) {
                m.state = MessageState::Sent;
            }
            m.state
        })
    }

    async fn part_failed(
        &self,
        id: i64,
        seq: u32,
        error: &str,
        disposition: Disposition,
        _now: DateTime<Utc>,
    ) -> Result<MessageState, DispatchError> {
        self.with_part(id, seq, |m, i| {
            m.m.parts[i].attempts += 1;
            m.error = Some(error.to_string());
            match disposition {
                Disposition::RetryAt(t) => {
                    m.m.parts[i].state = PartState::Pending;
                    m.retry_at = Some(t);
                }
                Disposition::Failover(t) => {
                    m.m.parts[i].state = PartState::Pending;
                    m.retry_at = Some(t);
                    if let Some(a) = m.m.assigned_modem.clone() {
                        m.m.tried_modems.push(a);
                    }
                }
                Disposition::Permanent => {
                    m.m.parts[i].state = PartState::Failed;
                    m.state = MessageState::Failed;
                }
            }
            m.state
        })
    }

    async fn expire(&self, now: DateTime<Utc>) -> Result<Vec<i64>, DispatchError> {
        let mut st = self.st();
        let mut ids = Vec::new();
        for (id, f) in st.msgs.iter_mut() {
            if f.state == MessageState::Queued && f.m.expires_at.is_some_and(|e| e <= now) {
                f.state = MessageState::Expired;
                ids.push(*id);
            }
        }
        Ok(ids)
    }

    async fn usage(&self, sim: &str, _now: DateTime<Utc>) -> Result<Usage, DispatchError> {
        Ok(self.st().usage.get(sim).copied().unwrap_or_default())
    }

    async fn last_modem_for(&self, to: &str) -> Result<Option<String>, DispatchError> {
        Ok(self
            .st()
            .msgs
            .values()
            .rev()
            .find(|f| f.m.to == to && f.state == MessageState::Sent)
            .and_then(|f| f.m.assigned_modem.clone()))
    }
}

// --------------------------------------------------------------- fake modems

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

#[derive(Debug, Clone)]
struct SentRec {
    modem: String,
    hex: String,
    at: Instant,
}

#[derive(Debug, Clone)]
struct FakeModem {
    name: String,
    status: Arc<watch::Sender<ModemStatus>>,
    script: Arc<Mutex<VecDeque<Script>>>,
    log: Arc<Mutex<Vec<SentRec>>>,
}

impl FakeModem {
    fn push(&self, s: Script) {
        self.script.lock().expect("test mutex").push_back(s);
    }

    fn set_state(&self, state: ModemState) {
        self.status.send_modify(|s| s.state = state);
    }
}

impl ModemPort for FakeModem {
    type Status = ModemStatus;

    async fn send(&self, req: SendRequest) -> Result<u8, SendError> {
        let SendRequest::Pdu { hex, .. } = req;
        let mr = {
            let mut log = self.log.lock().expect("test mutex");
            log.push(SentRec {
                modem: self.name.clone(),
                hex,
                at: Instant::now(),
            });
            u8::try_from(log.len() % 256).unwrap_or(0)
        };
        let next = self.script.lock().expect("test mutex").pop_front();
        match next {
            None | Some(Script::Ok) => Ok(mr),
            Some(Script::Fail(class)) => Err(SendError {
                class,
                code: Some(500),
                message: format!("scripted {class:?}"),
            }),
            Some(Script::Hang) => std::future::pending().await,
            Some(Script::Gate { started, release }) => {
                let released = release.notified();
                started.add_permits(1);
                released.await;
                Ok(mr)
            }
        }
    }

    fn status(&self) -> watch::Receiver<ModemStatus> {
        self.status.subscribe()
    }
}

/// Splits the text in chunks of [`CHUNK`] characters; the "PDU" shows the
/// concatenation reference, so tests can see all parts share it.
fn fake_encoder(req: &EncodeRequest<'_>) -> Result<Vec<EncodedPdu>, String> {
    if req.text.contains('\u{0}') {
        return Err("NUL in text".into());
    }
    let chars: Vec<char> = req.text.chars().collect();
    let chunks: Vec<String> = if chars.is_empty() {
        vec![String::new()]
    } else {
        chars.chunks(CHUNK).map(|c| c.iter().collect()).collect()
    };
    let total = chunks.len();
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| EncodedPdu {
            seq: u32::try_from(i + 1).unwrap_or(0),
            hex: format!("ref{}:{}/{}:{}", req.concat_ref, i + 1, total, c),
            tpdu_len: 20,
        })
        .collect())
}

// ---------------------------------------------------------------------- rig

struct Rig {
    outbox: FakeOutbox,
    modems: Vec<FakeModem>,
    handle: DispatchHandle,
    events: broadcast::Receiver<DispatchEvent>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), DispatchError>>,
    log: Arc<Mutex<Vec<SentRec>>>,
    t0: Instant,
    updates: ModemUpdates<FakeModem>,
}

fn slot(i: usize, log: &Arc<Mutex<Vec<SentRec>>>) -> ModemSlot<FakeModem> {
    let name = format!("m{i}");
    let (tx, _) = watch::channel(ModemStatus {
        state: ModemState::Ready,
        imsi: Some(format!("imsi-{name}")),
    });
    ModemSlot {
        name: name.clone(),
        port: FakeModem {
            name,
            status: Arc::new(tx),
            script: Arc::default(),
            log: log.clone(),
        },
        weight: 1,
        queues: Vec::new(),
        caps: Caps::default(),
    }
}

/// `n` ready modems; `setup` adjusts slots and the store before the start.
fn rig(
    n: usize,
    cfg: DispatchConfig,
    setup: impl FnOnce(&mut [ModemSlot<FakeModem>], &FakeOutbox),
) -> Rig {
    let log: Arc<Mutex<Vec<SentRec>>> = Arc::default();
    let outbox = FakeOutbox::default();
    let mut slots: Vec<_> = (0..n).map(|i| slot(i, &log)).collect();
    setup(&mut slots, &outbox);
    let modems = slots.iter().map(|s| s.port.clone()).collect();
    let d = Dispatcher::new(cfg, outbox.clone(), slots, fake_encoder);
    let handle = d.handle();
    let updates = d.modem_updates();
    let events = handle.subscribe();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(d.run(cancel.clone()));
    Rig {
        outbox,
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
        let now = self.outbox.msg(id).state;
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
        let id = self.outbox.enqueue(to, text, |_| {});
        self.handle.work_added();
        let state = self.settled(id).await;
        (id, state, self.outbox.msg(id).m.assigned_modem)
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
        });
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
    let mut r = rig(4, cfg(Strategy::LeastLoaded), |slots, _| {
        for s in slots.iter() {
            s.port.push(Script::Gate {
                started: started.clone(),
                release: release.clone(),
            });
        }
    });
    let ids: Vec<i64> = (0..8)
        .map(|k| r.outbox.enqueue("+3361", &format!("b{k}"), |_| {}))
        .collect();
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

#[tokio::test(start_paused = true)]
async fn caps_are_hard_and_survive_restart() {
    // Three per minute, and the store says two went out just before a restart.
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |slots, outbox| {
        slots[0].caps = Caps {
            per_minute: Some(3),
            per_hour: Some(7),
            per_day: None,
        };
        outbox.st().usage.insert(
            "imsi-m0".into(),
            Usage {
                last_minute: 2,
                last_hour: 2,
                last_day: 2,
            },
        );
    });
    let ids: Vec<i64> = (0..6)
        .map(|k| r.outbox.enqueue("+3361", &format!("c{k}"), |_| {}))
        .collect();
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
    let mut r = rig(2, c, |slots, _| {
        slots[0].port.push(Script::Fail(ErrorClass::TryAnotherSim));
        slots[0].port.push(Script::Fail(ErrorClass::TryAnotherSim));
    });
    // 1: m0 fails, fails over to m1.
    let (id1, s1, m1) = r.send_one("+3361", "one").await;
    assert_eq!((s1, m1.as_deref()), (MessageState::Sent, Some("m1")));
    assert_eq!(r.outbox.msg(id1).m.tried_modems, ["m0"]);
    // 2: m0 again (least loaded), fails again: out of rotation.
    let id2 = r.outbox.enqueue("+3361", "two", |_| {});
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
    let id4 = r.outbox.enqueue("+3361", "four", |_| {});
    r.handle.work_added();
    r.until(|ev| matches!(ev, DispatchEvent::ModemBack { modem } if modem == "m0").then_some(()))
        .await;
    assert_eq!(r.settled(id4).await, MessageState::Sent);
    assert_eq!(r.outbox.msg(id4).m.assigned_modem.as_deref(), Some("m0"));
}

#[tokio::test(start_paused = true)]
async fn permanent_failure_stops_the_message_and_spares_the_modem() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.health.failure_threshold = 1;
    let mut r = rig(2, c, |slots, _| {
        slots[0].port.push(Script::Fail(ErrorClass::Permanent));
    });
    let (id, state, _) = r.send_one("+3361", "bad number").await;
    assert_eq!(state, MessageState::Failed);
    assert_eq!(r.log().len(), 1, "not retried");
    let error = r.outbox.msg(id).error.unwrap_or_default();
    assert!(
        error.contains("scripted Permanent") && error.contains("500"),
        "{error}"
    );
    // m0 was not taken out: an explicit message for it goes through.
    let id2 = r
        .outbox
        .enqueue("+3361", "ok", |f| f.m.modem = Some("m0".into()));
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
    let mut r = rig(2, c, |slots, _| {
        slots[0].port.push(Script::Fail(ErrorClass::RetryHere));
        slots[0].port.push(Script::Fail(ErrorClass::RetryHere));
    });
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
    assert_eq!(r.outbox.msg(id).m.tried_modems, ["m0"]);
}

#[tokio::test(start_paused = true)]
async fn no_head_of_line_blocking_when_a_modem_hangs() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0].port.push(Script::Hang);
    });
    let ids: Vec<i64> = (0..5)
        .map(|k| r.outbox.enqueue("+3361", &format!("h{k}"), |_| {}))
        .collect();
    r.handle.work_added();
    for id in &ids[1..] {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    assert_eq!(r.outbox.msg(ids[0]).state, MessageState::Sending);
    let on_m1 = r.log().iter().filter(|s| s.modem == "m1").count();
    assert_eq!(on_m1, 4);
    r.task.abort();
}

#[tokio::test(start_paused = true)]
async fn multipart_stays_on_one_sim_even_after_a_failure() {
    let mut r = rig(4, cfg(Strategy::LeastLoaded), |slots, _| {
        // Part 2 meets a SIM error after part 1 went out.
        slots[0].port.push(Script::Ok);
        slots[0].port.push(Script::Fail(ErrorClass::TryAnotherSim));
    });
    let (id, state, modem) = r.send_one("+3361", "a text of twenty-five chars").await;
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m0")));
    let log = r.log();
    let sent: Vec<(&str, &str)> = log
        .iter()
        .map(|s| (s.modem.as_str(), s.hex.split(':').nth(1).unwrap_or("")))
        .collect();
    assert_eq!(
        sent,
        [("m0", "1/3"), ("m0", "2/3"), ("m0", "2/3"), ("m0", "3/3")]
    );
    assert!(
        log.iter().all(|s| s.hex.starts_with("ref1:")),
        "one concat reference"
    );
    assert!(r.outbox.msg(id).m.tried_modems.is_empty());
    // The next long message to the same number gets the next reference.
    let (_, _, _) = r.send_one("+3361", "another text of 25 chars!").await;
    assert!(r
        .log()
        .iter()
        .skip(4)
        .all(|s| s.hex.starts_with("ref2:") || s.hex.starts_with("ref1:")));
}

#[tokio::test(start_paused = true)]
async fn priorities_high_first() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0]
            .port
            .status
            .send_modify(|s| s.state = ModemState::Starting);
    });
    let prios = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Normal,
    ];
    let ids: Vec<i64> = prios
        .iter()
        .map(|p| {
            r.outbox
                .enqueue("+3361", &format!("{p:?}"), |f| f.m.priority = *p)
        })
        .collect();
    r.handle.work_added();
    r.modems[0].set_state(ModemState::Ready);
    for id in &ids {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let order: Vec<String> = r
        .log()
        .iter()
        .map(|s| s.hex.rsplit(':').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(order, ["High", "Normal", "Normal", "Low"]);
}

#[tokio::test(start_paused = true)]
async fn scheduled_not_before_its_time() {
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {});
    let at = Utc::now() + chrono::TimeDelta::minutes(10);
    let later = r
        .outbox
        .enqueue("+3361", "later", |f| f.not_before = Some(at));
    let now = r.outbox.enqueue("+3361", "now", |_| {});
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
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0]
            .port
            .status
            .send_modify(|s| s.state = ModemState::Recovering);
    });
    let id = r.outbox.enqueue("+3361", "stale", |f| {
        f.m.validity = Some(Duration::from_secs(300))
    });
    let keep = r.outbox.enqueue("+3361", "fresh", |_| {});
    r.handle.work_added();
    assert_eq!(r.settled(id).await, MessageState::Expired);
    let t = Instant::now().duration_since(r.t0).as_secs();
    assert!((299..=301).contains(&t), "expired at {t}s");
    assert!(r.log().is_empty());
    r.modems[0].set_state(ModemState::Ready);
    assert_eq!(r.settled(keep).await, MessageState::Sent);
    assert_eq!(r.outbox.msg(id).state, MessageState::Expired);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_send_in_flight() {
    let started = Arc::new(Semaphore::new(0));
    let release = Arc::new(Notify::new());
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0].port.push(Script::Gate {
            started: started.clone(),
            release: release.clone(),
        });
    });
    let a = r.outbox.enqueue("+3361", "in flight", |_| {});
    let b = r.outbox.enqueue("+3361", "not started", |_| {});
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
    assert_eq!(r.outbox.msg(a).state, MessageState::Sent);
    assert_eq!(
        r.outbox.msg(b).state,
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
        let mut c = cfg(Strategy::LeastLoaded);
        c.retry.resend_uncertain = resend;
        let mut id = 0;
        let mut r = rig(2, c, |_, outbox| {
            id = outbox.enqueue("+3361", "twelve chars", |f| {
                f.m.assigned_modem = Some("m1".into());
                for (p, st) in
                    f.m.parts
                        .iter_mut()
                        .zip([PartState::Sent, PartState::Uncertain])
                {
                    p.state = st;
                    p.pdu_hex = Some(format!("ref7:{}/2:stored", p.seq));
                    p.tpdu_len = Some(20);
                }
                f.m.parts.push(PartRow {
                    seq: 3,
                    state: PartState::Pending,
                    attempts: 0,
                    pdu_hex: Some("ref7:3/3:stored".into()),
                    tpdu_len: Some(20),
                    mr: None,
                });
            });
        });
        assert_eq!(r.settled(id).await, want, "resend {resend}");
        let log = r.log();
        assert_eq!(log.len(), sends, "resend {resend}");
        assert!(log
            .iter()
            .all(|s| s.modem == "m1" && s.hex.starts_with("ref7:")));
        if !resend {
            let e = r.outbox.msg(id).error.unwrap_or_default();
            assert!(e.contains("uncertain"), "{e}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn messages_no_modem_can_send_fail_at_once() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, _| {});
    // (field setter, expected words in the error)
    type Setter = fn(&mut FMsg);
    let table: [(Setter, &str); 3] = [
        (|f| f.m.modem = Some("nope".into()), "unknown modem nope"),
        (
            |f| f.m.queue = Some("otp".into()),
            "no modem serves queue otp",
        ),
        (|f| f.m.text = "bad\u{0}".into(), "cannot encode"),
    ];
    assert!(!table.is_empty());
    for (set, words) in table {
        let id = r.outbox.enqueue("+3361", "x", set);
        r.handle.work_added();
        assert_eq!(r.settled(id).await, MessageState::Failed);
        let e = r.outbox.msg(id).error.unwrap_or_default();
        assert!(e.contains(words), "{e}");
    }
    // The others still go.
    let (_, state, _) = r.send_one("+3361", "fine").await;
    assert_eq!(state, MessageState::Sent);
}

#[tokio::test(start_paused = true)]
async fn sticky_sender_keeps_the_recipient_on_its_sim() {
    let mut c = cfg(Strategy::RoundRobin);
    c.policy.sticky = true;
    let mut r = rig(3, c, |_, _| {});
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
    let mut r = rig(3, c, |_, _| {});
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
    let mut r = rig(1, c, |_, _| {});
    let bad = r
        .outbox
        .enqueue("+3361", "bad row", |f| f.m.priority = Priority::High);
    r.outbox.st().broken.insert(bad);
    let good: Vec<i64> = (0..3)
        .map(|k| r.outbox.enqueue("+3361", &format!("g{k}"), |_| {}))
        .collect();
    r.handle.work_added();
    for id in &good {
        assert_eq!(r.settled(*id).await, MessageState::Sent);
    }
    let calls = r.outbox.st().assign_calls.get(&bad).copied();
    assert_eq!(calls, Some(1), "held back, not hammered");
    assert_eq!(r.secs(Instant::now()), 0);
    // Once the store recovers, the held message goes after the hold.
    r.outbox.st().broken.clear();
    assert_eq!(r.settled(bad).await, MessageState::Sent);
    assert_eq!(r.log().last().map(|s| r.secs(s.at)), Some(5));
}

#[tokio::test(start_paused = true)]
async fn modems_that_are_not_ready_get_no_work() {
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |slots, _| {
        slots[0]
            .port
            .status
            .send_modify(|s| s.state = ModemState::Gone);
        // A modem that answers "not ready" hands the message to another SIM
        // at once.
        slots[1].port.push(Script::Fail(ErrorClass::NotReady));
    });
    let (id, state, modem) = r.send_one("+3361", "one").await;
    assert_eq!(state, MessageState::Sent);
    // m1 said not ready; m0 was gone, so after failover the message waited
    // for any modem and m1 (tried, but the only ready one) took it.
    assert_eq!(modem.as_deref(), Some("m1"));
    assert_eq!(r.outbox.msg(id).m.tried_modems, ["m1"]);
    r.modems[0].set_state(ModemState::Ready);
    let (_, _, modem) = r.send_one("+3361", "two").await;
    assert_eq!(modem.as_deref(), Some("m0"), "back in rotation once ready");
}

#[tokio::test(start_paused = true)]
async fn expiry_of_a_message_the_store_does_not_show_yet() {
    // Scheduled after its own expiry: `ready` never returns it, only the
    // store's wake time knows when it expires.
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {});
    let at = Utc::now() + chrono::TimeDelta::minutes(10);
    let id = r.outbox.enqueue("+3361", "too late", |f| {
        f.not_before = Some(at);
        f.m.validity = Some(Duration::from_secs(300));
    });
    r.handle.work_added();
    assert_eq!(r.settled(id).await, MessageState::Expired);
    let t = r.secs(Instant::now());
    assert!((299..=301).contains(&t), "expired at {t}s");
    assert!(r.log().is_empty());
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
        msgs in proptest::collection::vec((1usize..35, 0u8..3, proptest::option::of(0usize..4)), 1..10),
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
            let mut r = rig(3, c, |slots, _| {
                for (s, script) in slots.iter_mut().zip(&scripts) {
                    s.caps.per_minute = cap;
                    for a in script {
                        s.port.push(a.clone());
                    }
                }
            });
            let mut ids = Vec::new();
            for (k, (len, prio, modem)) in msgs.iter().enumerate() {
                let text: String = std::iter::repeat_n('x', *len).collect();
                let id = r.outbox.enqueue(&format!("+336{k}"), &text, |f| {
                    f.m.priority = [Priority::Low, Priority::Normal, Priority::High][usize::from(*prio)];
                    // Index 3 names a modem that does not exist.
                    f.m.modem = modem.map(|m| format!("m{m}"));
                });
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
            for id in &ids {
                let m = r.outbox.msg(*id);
                assert!(matches!(m.state, MessageState::Sent | MessageState::Failed), "{id}: {:?}", m.state);
                if m.m.modem.as_deref() == Some("m3") {
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
    let mut r = rig(2, cfg(Strategy::LeastLoaded), |_, _| {});
    let (_, state, _) = r.send_one("+3361", "hello").await;
    assert_eq!(state, MessageState::Sent);
    let before = r.outbox.st().ready_calls;
    // A day passes with nothing to do: the task must not look at the store.
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    assert_eq!(
        r.outbox.st().ready_calls,
        before,
        "no store calls while idle"
    );
    // An event wakes it at once.
    let (_, state, _) = r.send_one("+3361", "again").await;
    assert_eq!(state, MessageState::Sent);
    assert!(r.outbox.st().ready_calls > before);
}

#[tokio::test(start_paused = true)]
async fn a_modem_comes_back_on_its_own_timer() {
    let mut c = cfg(Strategy::LeastLoaded);
    c.health = HealthConfig {
        failure_threshold: 1,
        cooldown: Duration::from_secs(45),
        max_cooldown: Duration::from_secs(45),
    };
    let mut r = rig(2, c, |slots, _| {
        slots[0].port.push(Script::Fail(ErrorClass::RetryHere));
    });
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
    let mut r = rig(1, cfg(Strategy::LeastLoaded), |_, _| {});
    let (_, state, modem) = r.send_one("+3361", "before").await;
    assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m0")));
    // m0 goes away, m1 comes: new work goes to m1 only.
    r.updates.remove("m0");
    r.updates.add(slot(1, &r.log));
    for k in 0..3 {
        let (_, state, modem) = r.send_one("+3361", &format!("after {k}")).await;
        assert_eq!((state, modem.as_deref()), (MessageState::Sent, Some("m1")));
    }
    // m0 back (a changed modem is removed and added again): both take work.
    r.updates.add(slot(0, &r.log));
    let mut used = Vec::new();
    for k in 0..4 {
        used.push(r.send_one("+3361", &format!("both {k}")).await.2);
    }
    assert!(used.iter().any(|m| m.as_deref() == Some("m0")), "{used:?}");
    assert!(used.iter().any(|m| m.as_deref() == Some("m1")), "{used:?}");
    r.cancel.cancel();
}

// ------------------------------------------------- a modem status for tests

/// A modem actor's life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum ModemState {
    #[default]
    Starting,
    Ready,
    Recovering,
    Gone,
}

/// The part of a modem's status snapshot the dispatcher uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ModemStatus {
    state: ModemState,
    imsi: Option<String>,
}

impl ModemView for ModemStatus {
    fn is_ready(&self) -> bool {
        self.state == ModemState::Ready
    }

    fn imsi(&self) -> Option<&str> {
        self.imsi.as_deref()
    }
}
