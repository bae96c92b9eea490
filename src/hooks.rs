//! Event hooks: operator commands run on gateway events (received, sent,
//! delivered, failed, report, modem up/down).
//!
//! A hook is an argv, started directly (never through a shell, so nothing in
//! a message text or a sender can inject a command). The event arrives as
//! JSON on standard input (the event's `type`, `event_id` and `at`, and the
//! fields of its `data`, flat) and as `SMSGATE_*` environment variables
//! (`SMSGATE_EVENT`, `SMSGATE_EVENT_ID`, one per scalar field). Each run has
//! a timeout after which it is killed, and a semaphore caps how many run at
//! once across all hooks.
//!
//! Each configured hook is a durable consumer of the event log
//! (`hook:<event>`, see `crate::events`): it reads the log from its own
//! stored cursor, so a burst, a slow hook, `kill -9` or a restart never costs
//! it an event; it only falls behind, and catches up. Nothing here blocks
//! sending or receiving. On PostgreSQL one host at a time runs each hook,
//! under a consumer lease (`crate::events::lease`).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{Event, Store};

/// The events a hook can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    Received,
    Sent,
    Delivered,
    Failed,
    Report,
    ModemUp,
    ModemDown,
}

impl HookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Received => "received",
            HookEvent::Sent => "sent",
            HookEvent::Delivered => "delivered",
            HookEvent::Failed => "failed",
            HookEvent::Report => "report",
            HookEvent::ModemUp => "modem_up",
            HookEvent::ModemDown => "modem_down",
        }
    }

    /// The event types that run this hook (`failed` also runs for
    /// `expired`).
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            HookEvent::Failed => &["failed", "expired"],
            other => match other {
                HookEvent::Received => &["received"],
                HookEvent::Sent => &["sent"],
                HookEvent::Delivered => &["delivered"],
                HookEvent::Report => &["report"],
                HookEvent::ModemUp => &["modem_up"],
                _ => &["modem_down"],
            },
        }
    }

    /// The name of the hook's cursor in the store.
    pub fn consumer(self) -> String {
        format!("hook:{}", self.as_str())
    }
}

/// Hook settings (the `[hooks]` section).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookOptions {
    /// The argv to run for each event; events without an entry run nothing.
    pub commands: BTreeMap<HookEvent, Vec<String>>,
    pub timeout: Duration,
    pub max_concurrent: usize,
    /// This host's name and the length of a consumer's lease: on
    /// PostgreSQL each hook is run by one host at a time (see
    /// `crate::events::lease`).
    pub lease: crate::events::ConsumerLease,
}

/// Counters, for `status` and tests.
#[derive(Debug, Default)]
pub struct HookStats {
    pub started: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    /// Notified after every run ends, whatever its outcome.
    pub finished: tokio::sync::Notify,
}

/// The running hook consumers. Dropping it changes nothing; `stop` (or the
/// cancel token given to `start`) ends them.
pub struct Hooks {
    cancel: CancellationToken,
    pub stats: Arc<HookStats>,
}

impl Hooks {
    /// Starts one durable consumer per configured hook. They stop taking
    /// events when `cancel` fires (or at `stop`) and let the runs in progress
    /// finish (each bounded by its timeout); `tracker` holds them so shutdown
    /// can wait.
    pub async fn start(
        opts: HookOptions,
        store: Store,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Hooks {
        let cancel = cancel.child_token();
        // A hook configured for the first time starts at the end of the log;
        // its cursor exists before this returns, so nothing that happens
        // after start-up can slip past it.
        for event in opts.commands.keys() {
            if let Err(e) = store.cursor(&event.consumer(), chrono::Utc::now()).await {
                tracing::warn!(hook = event.as_str(), "creating the hook's cursor: {e}");
            }
        }
        let stats = Arc::new(HookStats::default());
        let slots = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
        let opts = Arc::new(opts);
        for (&event, argv) in opts.commands.iter() {
            let argv = Arc::new(argv.clone());
            let (stats, slots, opts) = (stats.clone(), slots.clone(), opts.clone());
            let lease = opts.lease.clone();
            let kinds: Vec<String> = event.kinds().iter().map(|k| k.to_string()).collect();
            let consumer = {
                let store = store.clone();
                move |cancel: CancellationToken| {
                    let (argv, stats, slots, opts) =
                        (argv.clone(), stats.clone(), slots.clone(), opts.clone());
                    crate::events::run_durable(
                        store.clone(),
                        event.consumer(),
                        kinds.clone(),
                        opts.max_concurrent.max(1),
                        cancel,
                        move |ev: Event| {
                            let (argv, stats, slots) = (argv.clone(), stats.clone(), slots.clone());
                            let timeout = opts.timeout;
                            async move {
                                let Ok(_permit) = slots.acquire_owned().await else {
                                    return;
                                };
                                run_one(event, &argv, &ev, timeout, &stats).await;
                                stats.finished.notify_waiters();
                            }
                        },
                    )
                }
            };
            tracker.spawn(crate::events::lease::serve(
                store.clone(),
                event.consumer(),
                lease,
                cancel.clone(),
                consumer,
            ));
        }
        Hooks { cancel, stats }
    }

    /// Stops the consumers (runs in progress finish).
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

/// What a hook reads on standard input: the event's `type`, `event_id` and
/// `at`, and the fields of its `data`, in one flat object.
pub fn payload(ev: &Event) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("type".into(), Value::from(ev.kind()));
    out.insert("event_id".into(), Value::from(ev.event_id));
    out.insert("at".into(), Value::from(ev.at.to_rfc3339()));
    if let Some(Value::Object(data)) = ev.to_json().get("data") {
        for (k, v) in data {
            if !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The environment variables a hook gets: `SMSGATE_EVENT` plus one
/// `SMSGATE_<FIELD>` per scalar field of the payload.
pub fn environment(event: HookEvent, payload: &Value) -> Vec<(String, String)> {
    let mut env = vec![("SMSGATE_EVENT".to_string(), event.as_str().to_string())];
    if let Value::Object(map) = payload {
        for (k, v) in map {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            // Environment strings cannot hold NUL; anything else goes as is.
            if value.contains('\0') {
                continue;
            }
            let key: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            env.push((format!("SMSGATE_{key}"), value));
        }
    }
    env
}

async fn run_one(
    event: HookEvent,
    argv: &[String],
    ev: &Event,
    timeout: Duration,
    stats: &HookStats,
) {
    let payload = &payload(ev);
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    if args.is_empty() && program.is_empty() {
        return;
    }
    stats.started.fetch_add(1, Ordering::Relaxed);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        // systemd's variables are the daemon's, not the hook's.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .envs(environment(event, payload))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = event.as_str(), "hook {program}: cannot start: {e}");
            return;
        }
    };
    let mut body = payload.to_string();
    body.push('\n');
    let stdin = child.stdin.take();
    let outcome = tokio::time::timeout(timeout, async move {
        if let Some(mut stdin) = stdin {
            // A hook that does not read its input is fine: ignore EPIPE.
            let _ = stdin.write_all(body.as_bytes()).await;
            drop(stdin);
        }
        child.wait_with_output().await
    })
    .await;
    match outcome {
        Ok(Ok(out)) if out.status.success() => {
            stats.succeeded.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Ok(out)) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            let err = String::from_utf8_lossy(&out.stderr);
            tracing::warn!(
                event = event.as_str(),
                "hook {program} exited with {}: {}",
                out.status,
                err.trim()
            );
        }
        Ok(Err(e)) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = event.as_str(), "hook {program}: {e}");
        }
        Err(_) => {
            // The future owning the child was dropped: kill_on_drop ends it.
            stats.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event = event.as_str(),
                "hook {program} killed after {}s",
                timeout.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventData, InboxMessage, ModemEvent, ReportEvent};
    use serde_json::json;

    /// A fresh store in a temporary directory.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn received(id: i64, text: &str) -> EventData {
        EventData::Received(InboxMessage {
            id,
            modem: "m0".into(),
            from: "+4915".into(),
            text: text.into(),
            sent_at: None,
            received_at: "2026-01-01T00:00:00Z".into(),
            parts: 1,
            complete: true,
            class0: false,
            binary: false,
            sim: "s".into(),
            missing_parts: vec![],
            replaces: None,
        })
    }

    fn report(mr: u8) -> EventData {
        EventData::Report(ReportEvent {
            id: None,
            seq: None,
            modem: "m0".into(),
            sim: "s".into(),
            mr,
            recipient: "+4915".into(),
            status: 0,
            success: true,
            is_final: true,
            discharge: None,
        })
    }

    fn modem(up: bool) -> EventData {
        let m = ModemEvent {
            modem: "m0".into(),
            state: "ready".into(),
            ..ModemEvent::default()
        };
        if up {
            EventData::ModemUp(m)
        } else {
            EventData::ModemDown(m)
        }
    }

    /// Waits until `cond` holds, woken by every finished run; bounded.
    async fn wait_for(stats: &HookStats, cond: impl Fn(&HookStats) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = stats.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if cond(stats) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("condition not met in time");
            }
        }
    }

    #[test]
    fn environment_table() {
        let cases = vec![
            (
                json!({"id": 7, "from": "+4915", "text": "a;$(rm -rf /)`x`", "complete": true, "parts": [1]}),
                vec![
                    ("SMSGATE_EVENT", "received"),
                    ("SMSGATE_COMPLETE", "true"),
                    ("SMSGATE_FROM", "+4915"),
                    ("SMSGATE_ID", "7"),
                    ("SMSGATE_TEXT", "a;$(rm -rf /)`x`"),
                ],
            ),
            (
                json!({"a-b.c": "x", "nul": "a\0b"}),
                vec![("SMSGATE_EVENT", "received"), ("SMSGATE_A_B_C", "x")],
            ),
        ];
        assert!(!cases.is_empty());
        for (payload, want) in cases {
            let got = environment(HookEvent::Received, &payload);
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn hostile_text_reaches_the_hook_verbatim() {
        let (dir, store) = store();
        let out = dir.path().join("out");
        let canary = dir.path().join("pwned");
        // The hook copies stdin and two variables to files; nothing is evaluated.
        let script = format!(
            "cat > '{o}.json'; printf '%s' \"$SMSGATE_TEXT\" > '{o}.env'; printf '%s' \"$SMSGATE_EVENT_ID\" > '{o}.id'",
            o = out.display()
        );
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([(
                    HookEvent::Received,
                    vec!["/bin/sh".into(), "-c".into(), script],
                )]),
                timeout: Duration::from_secs(10),
                max_concurrent: 2,
                ..HookOptions::default()
            },
            store.clone(),
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .await;
        let text = format!(
            "$(touch {c}); `touch {c}`; ' \" \n && touch {c}",
            c = canary.display()
        );
        let id = store
            .append_event(received(1, &text), chrono::Utc::now())
            .await
            .unwrap();
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 1).await;
        let env = std::fs::read_to_string(format!("{}.env", out.display())).unwrap();
        assert_eq!(env, text);
        let got_id = std::fs::read_to_string(format!("{}.id", out.display())).unwrap();
        assert_eq!(got_id, id.to_string());
        let body: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.json", out.display())).unwrap(),
        )
        .unwrap();
        assert_eq!(body["text"], json!(text));
        assert_eq!(body["type"], json!("received"));
        assert_eq!(body["event_id"], json!(id));
        assert!(!canary.exists(), "message text was executed");
    }

    #[tokio::test]
    async fn slow_hooks_are_killed_and_failures_counted() {
        let (_dir, store) = store();
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([
                    (HookEvent::Report, vec!["/bin/sleep".into(), "30".into()]),
                    (HookEvent::ModemUp, vec!["/bin/false".into()]),
                    (HookEvent::ModemDown, vec!["/nonexistent/hook".into()]),
                ]),
                timeout: Duration::from_millis(200),
                max_concurrent: 4,
                ..HookOptions::default()
            },
            store.clone(),
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .await;
        let now = chrono::Utc::now();
        store.append_event(report(1), now).await.unwrap();
        store.append_event(modem(true), now).await.unwrap();
        store.append_event(modem(false), now).await.unwrap();
        store.append_event(received(1, "x"), now).await.unwrap(); // no hook configured
        wait_for(&hooks.stats, |s| {
            s.timed_out.load(Ordering::Relaxed) == 1 && s.failed.load(Ordering::Relaxed) == 2
        })
        .await;
        // All three were attempted: sleep, false and the missing program.
        assert_eq!(hooks.stats.started.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn concurrency_is_capped_and_no_event_is_dropped() {
        let (dir, store) = store();
        let runs = dir.path().join("runs");
        std::fs::create_dir(&runs).unwrap();
        // Each run records itself as running, waits, then removes itself; the
        // maximum number seen running at once must not exceed the cap.
        let script = format!(
            "d='{d}'; touch \"$d/run.$$\"; n=$(ls \"$d\" | grep -c '^run'); echo $n >> \"$d/max\"; echo $SMSGATE_MR >> \"$d/mrs\"; sleep 0.2; rm \"$d/run.$$\"",
            d = runs.display()
        );
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([(
                    HookEvent::Report,
                    vec!["/bin/sh".into(), "-c".into(), script],
                )]),
                timeout: Duration::from_secs(10),
                max_concurrent: 2,
                ..HookOptions::default()
            },
            store.clone(),
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .await;
        // Far more than could ever run at once: the log holds them.
        for i in 0..30u8 {
            store
                .append_event(report(i), chrono::Utc::now())
                .await
                .unwrap();
        }
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 30).await;
        let max = std::fs::read_to_string(runs.join("max")).unwrap();
        let peak = max
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .max()
            .unwrap();
        assert!(peak <= 2, "saw {peak} hooks at once");
        let mut mrs: Vec<u32> = std::fs::read_to_string(runs.join("mrs"))
            .unwrap()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        mrs.sort();
        assert_eq!(mrs, (0..30).collect::<Vec<u32>>());
    }

    #[tokio::test]
    async fn a_hook_keeps_its_cursor_current_past_events_it_ignores() {
        let (_dir, store) = store();
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([(HookEvent::Report, vec!["/bin/true".into()])]),
                timeout: Duration::from_secs(10),
                max_concurrent: 1,
                ..HookOptions::default()
            },
            store.clone(),
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .await;
        store
            .append_event(report(1), chrono::Utc::now())
            .await
            .unwrap();
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 1).await;
        // Then only events the hook does not take: its cursor follows them
        // (so `status` shows nothing pending and a restart skips nothing).
        let mut last = 0;
        for _ in 0..5 {
            last = store
                .append_event(modem(true), chrono::Utc::now())
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pos = store
                .cursors()
                .await
                .unwrap()
                .into_iter()
                .find(|(n, _)| n == "hook:report")
                .map(|(_, p)| p);
            if pos == Some(last) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cursor at {pos:?}, log at {last}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_restarted_hook_resumes_at_its_cursor() {
        let (dir, store) = store();
        let log = dir.path().join("log");
        let script = format!("echo $SMSGATE_MR >> '{}'", log.display());
        let opts = HookOptions {
            commands: BTreeMap::from([(
                HookEvent::Report,
                vec!["/bin/sh".into(), "-c".into(), script],
            )]),
            timeout: Duration::from_secs(10),
            max_concurrent: 1,
            ..HookOptions::default()
        };
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let hooks = Hooks::start(opts.clone(), store.clone(), cancel.clone(), &tracker).await;
        for i in 0..3u8 {
            store
                .append_event(report(i), chrono::Utc::now())
                .await
                .unwrap();
        }
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 3).await;
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
        // While no hook runs, more events arrive; a new runner catches up.
        for i in 3..6u8 {
            store
                .append_event(report(i), chrono::Utc::now())
                .await
                .unwrap();
        }
        let hooks = Hooks::start(
            opts,
            store.clone(),
            CancellationToken::new(),
            &TaskTracker::new(),
        )
        .await;
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 3).await;
        let lines: Vec<String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines, ["0", "1", "2", "3", "4", "5"]);
    }
}
