//! Shared harness for the integration tests: simulated modems on
//! pseudo-terminals, a temporary directory with a config, spool and store,
//! and the real `smsgate run` binary started against them with a fake
//! `NOTIFY_SOCKET`, so tests see READY, STATUS and WATCHDOG as systemd would.
//! Everything synchronises on events (notify datagrams, `watch` events,
//! simulator notifications) with timeouts; nothing sleeps to wait.
//! Notify datagrams are read as they come, on a thread, as systemd does: a
//! manager that stopped reading would fill the socket's queue.
#![allow(dead_code)]

pub mod http;
#[path = "../../src/store/pgserver.rs"]
pub mod pgserver;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smsgate::sim::{Faults, Network, NetworkOptions, Personality, SimModem, SimSpec};

/// The default deadline for anything a test waits for.
pub const T: Duration = Duration::from_secs(30);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smsgate"))
}

/// A simulated modem's settings for [`Gateway::start`].
#[derive(Clone)]
pub struct ModemPlan {
    pub personality: Personality,
    pub faults: Faults,
    /// Extra TOML lines for this modem's `[[modem]]` section.
    pub extra: String,
}

impl Default for ModemPlan {
    fn default() -> Self {
        ModemPlan {
            personality: Personality::Generic,
            faults: Faults::default(),
            extra: String::new(),
        }
    }
}

/// The simulated modem `m{i}` of a test, with identities derived from `i`.
pub fn sim_spec(i: usize, plan: &ModemPlan) -> SimSpec {
    SimSpec {
        name: format!("m{i}"),
        personality: plan.personality,
        msisdn: msisdn(i),
        imsi: format!("00101000000{i:04}"),
        iccid: format!("8901000000000{i:04}"),
        imei: format!("35000000000{i:04}"),
        pin: None,
        storage_slots: 30,
        faults: plan.faults.clone(),
    }
}

pub fn msisdn(i: usize) -> String {
    format!("+1555000{i:04}")
}

/// Extra TOML lines for sections the harness writes itself.
#[derive(Clone, Default)]
pub struct Sections {
    /// Lines for `[store]`, e.g. `resend_uncertain = false`.
    pub store: String,
    /// Lines for `[spool]`, e.g. `sent_dir = "{dir}/sent"`; `{dir}` in
    /// either stands for the test's temporary directory.
    pub spool: String,
    /// `[store] url` (PostgreSQL) instead of the SQLite file.
    pub url: Option<String>,
    /// The first modem's number: modems are `m{base}`, `m{base + 1}`...,
    /// with identities (IMSI, MSISDN) derived from it, so the gateways of a
    /// cluster have SIMs of their own.
    pub modem_base: usize,
}

/// A running gateway under test.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub spool: PathBuf,
    pub db: PathBuf,
    pub net: Network,
    pub sims: Vec<SimModem>,
    pub child: Option<Child>,
    notify: Arc<NotifyQueue>,
    notify_sock: UnixDatagram,
    notify_path: PathBuf,
    /// Extra top-level TOML appended to the config.
    pub extra: String,
    /// Extra lines for the `[store]` and `[spool]` sections.
    pub sections: Sections,
    plans: Vec<ModemPlan>,
}

impl Gateway {
    /// Starts `plans.len()` simulated modems and the daemon, and waits for READY.
    pub async fn start(plans: Vec<ModemPlan>, extra: &str) -> Gateway {
        Self::start_with(NetworkOptions::default(), plans, extra).await
    }

    pub async fn start_with(
        net_opts: NetworkOptions,
        plans: Vec<ModemPlan>,
        extra: &str,
    ) -> Gateway {
        Self::start_inner(net_opts, plans, Sections::default(), extra, None).await
    }

    /// [`Gateway::start_with`] with the store at `db` instead of inside the
    /// test's temporary directory (e.g. on a small tmpfs to fill it up).
    pub async fn start_with_db(
        net_opts: NetworkOptions,
        plans: Vec<ModemPlan>,
        extra: &str,
        db: Option<PathBuf>,
    ) -> Gateway {
        Self::start_inner(net_opts, plans, Sections::default(), extra, db).await
    }

    /// [`Gateway::start_with`], plus extra lines for the `[store]` and
    /// `[spool]` sections (which `extra`, appended at the end, cannot reopen).
    pub async fn start_full(
        net_opts: NetworkOptions,
        plans: Vec<ModemPlan>,
        sections: Sections,
        extra: &str,
    ) -> Gateway {
        Self::start_inner(net_opts, plans, sections, extra, None).await
    }

    async fn start_inner(
        net_opts: NetworkOptions,
        plans: Vec<ModemPlan>,
        sections: Sections,
        extra: &str,
        db: Option<PathBuf>,
    ) -> Gateway {
        Self::start_on(Network::new(net_opts), plans, sections, extra, db).await
    }

    /// Starts the gateway's modems on `net` (which other gateways of a
    /// cluster may share) and the daemon, and waits for READY.
    pub async fn start_on(
        net: Network,
        plans: Vec<ModemPlan>,
        sections: Sections,
        extra: &str,
        db: Option<PathBuf>,
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sims = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let spec = sim_spec(sections.modem_base + i, plan);
            let link = dir.path().join(format!("modem{i}"));
            sims.push(
                SimModem::start(&net, spec, Some(link))
                    .await
                    .expect("sim starts"),
            );
        }
        let notify_path = dir.path().join("notify.sock");
        let notify_sock = UnixDatagram::bind(&notify_path).expect("notify socket");
        let notify = NotifyQueue::start(&notify_sock);
        let mut g = Gateway {
            config: dir.path().join("smsgate.toml"),
            socket: dir.path().join("ctl.sock"),
            spool: dir.path().join("spool"),
            db: db.unwrap_or_else(|| dir.path().join("smsgate.db")),
            dir,
            net,
            sims,
            child: None,
            notify,
            notify_sock,
            notify_path,
            extra: extra.to_string(),
            sections,
            plans,
        };
        g.write_config();
        g.spawn();
        g.wait_notify("READY=1", T);
        g
    }

    /// Writes the config for the current modems and `extra`.
    pub fn write_config(&self) {
        let store = match &self.sections.url {
            Some(url) => format!("url = \"{url}\""),
            None => format!("path = \"{}\"", self.db.display()),
        };
        let mut toml = format!(
            "[store]\n{}\n{}\n\n[control]\nsocket = \"{}\"\n\n[spool]\ndir = \"{}\"\n{}\n\n[log]\nlevel = \"debug\"\n\n",
            store,
            self.sections.store.replace("{dir}", &self.dir.path().display().to_string()),
            self.socket.display(),
            self.spool.display(),
            self.sections.spool.replace("{dir}", &self.dir.path().display().to_string())
        );
        toml.push_str(&self.extra);
        toml.push('\n');
        for (i, plan) in self.plans.iter().enumerate() {
            toml.push_str(&format!(
                "[[modem]]\nname = \"m{}\"\ndevice = \"{}\"\n{}\n\n",
                self.sections.modem_base + i,
                self.dir.path().join(format!("modem{i}")).display(),
                plan.extra
            ));
        }
        std::fs::write(&self.config, toml).expect("write config");
    }

    /// Adds a simulated modem (not yet in the config; call `write_config` and reload).
    pub async fn add_sim(&mut self, plan: ModemPlan) -> usize {
        let i = self.plans.len();
        let spec = sim_spec(self.sections.modem_base + i, &plan);
        let link = self.dir.path().join(format!("modem{i}"));
        self.sims.push(
            SimModem::start(&self.net, spec, Some(link))
                .await
                .expect("sim starts"),
        );
        self.plans.push(plan);
        i
    }

    /// Removes the last modem from the config plan (the simulator keeps running).
    pub fn drop_last_from_config(&mut self) {
        self.plans.pop();
    }

    /// Starts the daemon process.
    pub fn spawn(&mut self) {
        // Forget notifications left from an earlier run.
        self.notify.clear();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log file");
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(&self.config)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env("WATCHDOG_USEC", "2000000")
            .env("WATCHDOG_PID", "")
            .env_remove("SMSGATE_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("daemon starts");
        self.child = Some(child);
    }

    /// Waits for a notify datagram containing `needle`; returns it.
    pub fn wait_notify(&self, needle: &str, timeout: Duration) -> String {
        match self.notify.pop_until(needle, timeout) {
            Some(msg) => msg,
            None => panic!(
                "no {needle:?} from the daemon in {timeout:?}; log:\n{}",
                self.log()
            ),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// One request on the control socket.
    pub fn call(&self, req: Value) -> Value {
        let mut s = UnixStream::connect(&self.socket).expect("connect to the daemon");
        s.set_read_timeout(Some(T)).expect("timeout");
        let mut line = req.to_string();
        line.push('\n');
        s.write_all(line.as_bytes()).expect("write");
        let mut r = BufReader::new(s);
        let mut answer = String::new();
        if let Err(e) = r.read_line(&mut answer) {
            panic!("no reply to {req} in {T:?}: {e}\nlog:\n{}", self.log());
        }
        serde_json::from_str(&answer).expect("reply is JSON")
    }

    /// `call` that must succeed; returns `result`.
    pub fn ok(&self, req: Value) -> Value {
        let r = self.call(req.clone());
        assert_eq!(r["ok"], json!(true), "{req} -> {r}\nlog:\n{}", self.log());
        r["result"].clone()
    }

    /// Sends a text through the socket; returns the message id.
    pub fn send(&self, to: &str, text: &str) -> i64 {
        self.ok(json!({"cmd": "send", "to": to, "text": text}))["id"]
            .as_i64()
            .expect("id")
    }

    /// A subscription to the daemon's events.
    pub fn watch(&self) -> Watch {
        self.watch_request(json!({"cmd": "watch"}))
    }

    /// A `watch` that first replays every event after `since`.
    pub fn watch_since(&self, since: i64) -> Watch {
        self.watch_request(json!({"cmd": "watch", "since": since}))
    }

    fn watch_request(&self, req: Value) -> Watch {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.write_all(format!("{req}\n").as_bytes()).expect("write");
        let mut r = BufReader::new(s);
        let mut first = String::new();
        r.set_timeout(T);
        r.read_line(&mut first).expect("watch reply");
        let v: Value = serde_json::from_str(&first).expect("json");
        assert_eq!(v["ok"], json!(true), "{v}");
        Watch { r }
    }

    /// Waits until message `id` reaches `state`, checking `show` after
    /// every event the daemon emits.
    pub fn wait_state(&self, id: i64, state: &str, timeout: Duration) -> Value {
        let mut w = self.watch();
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.ok(json!({"cmd": "show", "message": id}));
            if m["state"] == json!(state) {
                return m;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "message {id} not {state} in {timeout:?}: {m}\nlog:\n{}",
                self.log()
            );
            w.next(left);
        }
    }

    /// Drops a spool file atomically (written elsewhere, renamed in).
    pub fn spool_file(&self, name: &str, content: &[u8]) {
        let outgoing = self.spool.join("outgoing");
        std::fs::create_dir_all(&outgoing).expect("outgoing");
        let tmp = self.spool.join(format!(".tmp-{name}"));
        std::fs::write(&tmp, content).expect("write spool file");
        std::fs::rename(&tmp, outgoing.join(name)).expect("rename into outgoing");
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let c = self.child.take()?;
        signal(&c, nix::sys::signal::Signal::SIGTERM);
        wait_exit(c, T)
    }

    pub fn sighup(&self) {
        if let Some(c) = &self.child {
            signal(c, nix::sys::signal::Signal::SIGHUP);
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
        // Ends the reader thread.
        let _ = self.notify_sock.shutdown(std::net::Shutdown::Both);
    }
}

/// Notify datagrams received and not yet waited for, in order.
struct NotifyQueue {
    queue: Mutex<std::collections::VecDeque<String>>,
    arrived: Condvar,
}

impl NotifyQueue {
    /// Reads datagrams from `sock` on a thread until the socket is shut down.
    fn start(sock: &UnixDatagram) -> Arc<NotifyQueue> {
        let q = Arc::new(NotifyQueue {
            queue: Mutex::new(std::collections::VecDeque::new()),
            arrived: Condvar::new(),
        });
        let sock = sock.try_clone().expect("notify socket");
        let q2 = q.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                if n == 0 {
                    break;
                }
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                q2.queue
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(msg);
                q2.arrived.notify_all();
            }
        });
        q
    }

    fn clear(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Takes datagrams in order until one contains `needle`; `None` on timeout.
    fn pop_until(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(msg) = q.pop_front() {
                if msg.contains(needle) {
                    return Some(msg);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            q = self
                .arrived
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

pub fn signal(c: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(c.id() as i32);
    let _ = nix::sys::signal::kill(pid, sig);
}

pub fn wait_exit(mut c: Child, timeout: Duration) -> Option<i32> {
    let pid = nix::unistd::Pid::from_raw(c.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(c.wait().ok().and_then(|s| s.code()));
    });
    match rx.recv_timeout(timeout) {
        Ok(code) => code,
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("process did not exit in {timeout:?}");
        }
    }
}

/// An open `watch` stream.
pub struct Watch {
    r: BufReader<UnixStream>,
}

trait SetTimeout {
    fn set_timeout(&mut self, t: Duration);
}

impl SetTimeout for BufReader<UnixStream> {
    fn set_timeout(&mut self, t: Duration) {
        let _ = self.get_ref().set_read_timeout(Some(t));
    }
}

/// An event object (`event_id`, `type`, `at`, `data`) with the fields of its
/// `data` also lifted to the top, so tests match `e["type"]` and
/// `e["modem"]` alike; `e["data"]` stays as it came.
pub fn flat(ev: &Value) -> Value {
    let mut out = ev.clone();
    if let (Some(obj), Some(Value::Object(data))) = (out.as_object_mut(), ev.get("data")) {
        for (k, v) in data {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    out
}

impl Watch {
    /// The next event (see [`flat`]), or `None` when `timeout` passed.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        self.r.set_timeout(timeout.max(Duration::from_millis(1)));
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => serde_json::from_str::<Value>(&line)
                .ok()
                .map(|v| flat(&v["event"])),
        }
    }

    /// Waits for an event for which `pred` holds.
    pub fn until(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected event not seen in {timeout:?}");
            if let Some(ev) = self.next(left) {
                if pred(&ev) {
                    return ev;
                }
            }
        }
    }
}

/// Path helper for tests that need the daemon's files.
pub fn exists(p: &Path) -> bool {
    p.exists()
}

// ---------------------------------------------------------------------------
// Helpers for the daemon tests (added for tests/daemon_*.rs).
// ---------------------------------------------------------------------------

/// States a message does not leave on its own.
pub const FINAL: [&str; 6] = [
    "sent",
    "delivered",
    "failed",
    "cancelled",
    "expired",
    "skipped",
];

/// A number outside the simulated network, distinct per `i`, so every message
/// of a test can be told apart on the network by its destination alone.
pub fn external(i: usize) -> String {
    format!("+4477009{i:05}")
}

/// Digits only: `+4477…` and `4477…` compare equal.
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The parts the network saw for destination `to`, as (seq, text), in the
/// order they arrived (a single-part message has seq 1).
pub fn parts_to(msgs: &[smsgate::sim::NetMessage], to: &str) -> Vec<(u8, String)> {
    msgs.iter()
        .filter(|m| digits(&m.to) == digits(to))
        .map(|m| (m.concat.map_or(1, |c| c.2), m.text.clone()))
        .collect()
}

/// The text the network delivered to `to`, parts put in order (each seq once).
pub fn text_to(msgs: &[smsgate::sim::NetMessage], to: &str) -> String {
    let mut parts = parts_to(msgs, to);
    parts.sort_by_key(|p| p.0);
    parts.dedup_by_key(|p| p.0);
    parts.into_iter().map(|p| p.1).collect()
}

/// Which SIMs (by MSISDN) sent parts to `to`.
pub fn senders_to(msgs: &[smsgate::sim::NetMessage], to: &str) -> Vec<String> {
    let mut s: Vec<String> = msgs
        .iter()
        .filter(|m| digits(&m.to) == digits(to))
        .map(|m| m.from_msisdn.clone())
        .collect();
    s.sort();
    s.dedup();
    s
}

/// A spool file's content with the given headers and body.
pub fn spool_text(headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push('\n');
    s.push_str(body);
    s.into_bytes()
}

/// Waits, on inotify events in `dirs` (created when missing), until `cond`
/// holds; `cond` is checked first and after every event.
pub fn wait_fs(dirs: &[&Path], timeout: Duration, what: &str, cond: impl Fn() -> bool) {
    use inotify::{Inotify, WatchMask};
    use std::os::fd::AsFd;
    let mut ino = Inotify::init().expect("inotify");
    for d in dirs {
        std::fs::create_dir_all(d).expect("create watched dir");
        ino.watches()
            .add(
                d,
                WatchMask::CREATE
                    | WatchMask::MOVED_TO
                    | WatchMask::MOVED_FROM
                    | WatchMask::CLOSE_WRITE
                    | WatchMask::DELETE,
            )
            .expect("watch dir");
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        if cond() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: not within {timeout:?}");
        let ms = u16::try_from(left.as_millis().clamp(1, 60_000)).unwrap_or(60_000);
        let mut fds = [nix::poll::PollFd::new(
            ino.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, ms);
        let _ = ino.read_events(&mut buf);
    }
}

/// Names of the entries of `dir` (empty when it does not exist), sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

impl Gateway {
    /// `show` for message `id`.
    pub fn show(&self, id: i64) -> Value {
        self.ok(json!({"cmd": "show", "message": id}))
    }

    /// Waits until message `id` is in one of `FINAL` states; returns it.
    pub fn wait_final(&self, id: i64, timeout: Duration) -> Value {
        let mut w = self.watch();
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.show(id);
            if m["state"].as_str().is_some_and(|s| FINAL.contains(&s)) {
                return m;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "message {id} not final in {timeout:?}: {m}\nlog:\n{}",
                self.log()
            );
            w.next(left);
        }
    }

    /// Every outgoing message (newest first).
    pub fn outbox(&self) -> Vec<Value> {
        self.ok(json!({"cmd": "outbox", "limit": 10000}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every received message (oldest first).
    pub fn inbox(&self) -> Vec<Value> {
        self.ok(json!({"cmd": "inbox", "limit": 10000}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the inbox satisfies `cond` (checked after every event).
    pub fn wait_inbox(&self, timeout: Duration, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut w = self.watch();
        let deadline = Instant::now() + timeout;
        loop {
            let inbox = self.inbox();
            if cond(&inbox) {
                return inbox;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "inbox not as expected in {timeout:?}: {inbox:?}\nlog:\n{}",
                self.log()
            );
            w.next(left);
        }
    }

    /// The state of modem `name` in `status`.
    pub fn modem_state(&self, name: &str) -> String {
        let st = self.ok(json!({"cmd": "status"}));
        st["modems"]
            .as_array()
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m["modem"] == json!(name) || m["name"] == json!(name))
            })
            .and_then(|m| m["state"].as_str())
            .unwrap_or("absent")
            .to_string()
    }

    /// Waits until modem `name` reports `state` (checked after every event).
    pub fn wait_modem(&self, name: &str, state: &str, timeout: Duration) {
        let mut w = self.watch();
        let deadline = Instant::now() + timeout;
        loop {
            if self.modem_state(name) == state {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "modem {name} not {state} in {timeout:?}\nlog:\n{}",
                self.log()
            );
            w.next(left);
        }
    }

    /// `kill -9`, start again, wait for READY.
    pub fn restart9(&mut self) {
        self.kill9();
        self.spawn();
        self.wait_notify("READY=1", T);
    }

    /// Writes `content` as spool file `name`, keeping a hard link to the same
    /// inode at `keep`, then renames it into `outgoing/`.
    pub fn spool_file_linked(&self, name: &str, content: &[u8], keep: &Path) {
        let outgoing = self.spool.join("outgoing");
        std::fs::create_dir_all(&outgoing).expect("outgoing");
        let tmp = self.spool.join(format!(".tmp-{name}"));
        std::fs::write(&tmp, content).expect("write spool file");
        std::fs::hard_link(&tmp, keep).expect("hard link kept aside");
        std::fs::rename(&tmp, outgoing.join(name)).expect("rename into outgoing");
    }
}

/// Waits until `sim` has received at least `n` `AT+CMGS=` command lines.
pub async fn wait_cmgs(sim: &SimModem, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let cmds = sim.commands();
        let seen = cmds.iter().filter(|c| c.contains("AT+CMGS=")).count();
        if seen >= n {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{}: {seen} of {n} AT+CMGS in {timeout:?}",
            sim.name()
        );
        let _ = sim.wait_commands(cmds.len() + 1, left).await;
    }
}
