//! Event hooks: operator commands run on gateway events (received, sent,
//! delivered, failed, report, modem up/down).
//!
//! A hook is an argv, started directly (never through a shell, so nothing in
//! a message text or a sender can inject a command). The event arrives as
//! JSON on standard input and as `SMSGATE_*` environment variables. Each run
//! has a timeout after which it is killed, and a semaphore caps how many run
//! at once; when the cap is reached, further events wait in a bounded queue
//! and the oldest are dropped (and counted) rather than slowing the gateway.
//! Nothing here blocks sending or receiving: [`Hooks::fire`] only enqueues.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
}

/// Hook settings (the `[hooks]` section).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookOptions {
    /// The argv to run for each event; events without an entry run nothing.
    pub commands: BTreeMap<HookEvent, Vec<String>>,
    pub timeout: Duration,
    pub max_concurrent: usize,
}

/// Counters, for `status` and tests.
#[derive(Debug, Default)]
pub struct HookStats {
    pub started: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    pub dropped: AtomicU64,
    /// Notified after every run ends, whatever its outcome.
    pub finished: tokio::sync::Notify,
}

/// A running hook runner. Cloning shares it.
#[derive(Clone)]
pub struct Hooks {
    tx: mpsc::Sender<(HookEvent, Value)>,
    /// The events that have a hook: others are not queued at all.
    configured: Arc<std::collections::BTreeSet<HookEvent>>,
    pub stats: Arc<HookStats>,
}

/// How many events may wait for a free slot before the oldest is dropped.
const BACKLOG: usize = 1024;

impl Hooks {
    /// Starts the runner. It stops taking events when `cancel` fires and
    /// lets the runs in progress finish (each bounded by its timeout);
    /// `tracker` is told about every run so shutdown can wait for them.
    pub fn start(opts: HookOptions, cancel: CancellationToken, tracker: TaskTracker) -> Hooks {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let stats = Arc::new(HookStats::default());
        let configured = Arc::new(opts.commands.keys().copied().collect());
        let runner = Runner {
            opts: Arc::new(opts),
            slots: Arc::new(Semaphore::new(1)),
            stats: stats.clone(),
            tracker: tracker.clone(),
        };
        tracker.spawn(runner.run(rx, cancel));
        Hooks {
            tx,
            configured,
            stats,
        }
    }

    /// Queues an event for its hook, if one is configured. Never waits: when
    /// the backlog is full the event is dropped and counted.
    pub fn fire(&self, event: HookEvent, payload: Value) {
        if !self.configured.contains(&event) {
            return;
        }
        match self.tx.try_send((event, payload)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(event = event.as_str(), "hook backlog full: event dropped");
            }
            // The runner stopped (shutdown): nothing runs any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

struct Runner {
    opts: Arc<HookOptions>,
    slots: Arc<Semaphore>,
    stats: Arc<HookStats>,
    tracker: TaskTracker,
}

impl Runner {
    async fn run(mut self, mut rx: mpsc::Receiver<(HookEvent, Value)>, cancel: CancellationToken) {
        self.slots = Arc::new(Semaphore::new(self.opts.max_concurrent.max(1)));
        loop {
            let (event, payload) = tokio::select! {
                _ = cancel.cancelled() => return,
                m = rx.recv() => match m { Some(m) => m, None => return },
            };
            let Some(argv) = self.opts.commands.get(&event).cloned() else {
                continue;
            };
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let timeout = self.opts.timeout;
            let stats = self.stats.clone();
            self.tracker.spawn(async move {
                run_one(event, &argv, &payload, timeout, &stats).await;
                drop(permit);
                stats.finished.notify_waiters();
            });
        }
    }
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
    payload: &Value,
    timeout: Duration,
    stats: &HookStats,
) {
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
    use serde_json::json;

    fn opts(event: HookEvent, argv: Vec<String>, timeout: Duration) -> HookOptions {
        HookOptions {
            commands: BTreeMap::from([(event, argv)]),
            timeout,
            max_concurrent: 2,
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
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let canary = dir.path().join("pwned");
        // The hook copies stdin and one variable to files; nothing is evaluated.
        let script = format!(
            "cat > '{}.json'; printf '%s' \"$SMSGATE_TEXT\" > '{}.env'",
            out.display(),
            out.display()
        );
        let hooks = Hooks::start(
            opts(
                HookEvent::Received,
                vec!["/bin/sh".into(), "-c".into(), script],
                Duration::from_secs(10),
            ),
            CancellationToken::new(),
            TaskTracker::new(),
        );
        let text = format!(
            "$(touch {c}); `touch {c}`; ' \" \n && touch {c}",
            c = canary.display()
        );
        hooks.fire(HookEvent::Received, json!({"id": 1, "text": text}));
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 1).await;
        let env = std::fs::read_to_string(format!("{}.env", out.display())).unwrap();
        assert_eq!(env, text);
        let body: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.json", out.display())).unwrap(),
        )
        .unwrap();
        assert_eq!(body["text"], json!(text));
        assert!(!canary.exists(), "message text was executed");
    }

    #[tokio::test]
    async fn slow_hooks_are_killed_and_failures_counted() {
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([
                    (HookEvent::Sent, vec!["/bin/sleep".into(), "30".into()]),
                    (HookEvent::Failed, vec!["/bin/false".into()]),
                    (HookEvent::Delivered, vec!["/nonexistent/hook".into()]),
                ]),
                timeout: Duration::from_millis(200),
                max_concurrent: 4,
            },
            CancellationToken::new(),
            TaskTracker::new(),
        );
        hooks.fire(HookEvent::Sent, json!({}));
        hooks.fire(HookEvent::Failed, json!({}));
        hooks.fire(HookEvent::Delivered, json!({}));
        hooks.fire(HookEvent::ModemUp, json!({})); // no hook configured
        wait_for(&hooks.stats, |s| {
            s.timed_out.load(Ordering::Relaxed) == 1 && s.failed.load(Ordering::Relaxed) == 2
        })
        .await;
        // All three were attempted: sleep, false and the missing program.
        assert_eq!(hooks.stats.started.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        // Each run records itself as running, waits, then removes itself; the
        // maximum number seen running at once must not exceed the cap.
        let script = format!(
            "d='{d}'; touch \"$d/run.$$\"; n=$(ls \"$d\" | grep -c '^run'); echo $n >> \"$d/max\"; sleep 0.2; rm \"$d/run.$$\"",
            d = dir.path().display()
        );
        let hooks = Hooks::start(
            HookOptions {
                commands: BTreeMap::from([(
                    HookEvent::Report,
                    vec!["/bin/sh".into(), "-c".into(), script],
                )]),
                timeout: Duration::from_secs(10),
                max_concurrent: 2,
            },
            CancellationToken::new(),
            TaskTracker::new(),
        );
        for i in 0..6 {
            hooks.fire(HookEvent::Report, json!({"i": i}));
        }
        wait_for(&hooks.stats, |s| s.succeeded.load(Ordering::Relaxed) == 6).await;
        let max = std::fs::read_to_string(dir.path().join("max")).unwrap();
        let peak = max
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .max()
            .unwrap();
        assert!(peak <= 2, "saw {peak} hooks at once");
    }
}
