//! Shared harness for the integration tests: simulated modems on
//! pseudo-terminals, a temporary directory with a config, spool and store,
//! and the real `smsgate run` binary started against them with a fake
//! `NOTIFY_SOCKET`, so tests see READY, STATUS and WATCHDOG as systemd would.
//! Everything synchronises on events (notify datagrams, `watch` events,
//! simulator notifications) with timeouts; nothing sleeps to wait.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

pub fn msisdn(i: usize) -> String {
    format!("+1555000{i:04}")
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
    notify: UnixDatagram,
    notify_path: PathBuf,
    /// Extra top-level TOML appended to the config.
    pub extra: String,
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
        Self::start_with_db(net_opts, plans, extra, None).await
    }

    /// [`Gateway::start_with`] with the store at `db` instead of inside the
    /// test's temporary directory (e.g. on a small tmpfs to fill it up).
    pub async fn start_with_db(
        net_opts: NetworkOptions,
        plans: Vec<ModemPlan>,
        extra: &str,
        db: Option<PathBuf>,
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = Network::new(net_opts);
        let mut sims = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let spec = SimSpec {
                name: format!("m{i}"),
                personality: plan.personality,
                msisdn: msisdn(i),
                imsi: format!("00101000000{i:04}"),
                iccid: format!("8901000000000{i:04}"),
                imei: format!("35000000000{i:04}"),
                pin: None,
                storage_slots: 30,
                faults: plan.faults.clone(),
            };
            let link = dir.path().join(format!("modem{i}"));
            sims.push(
                SimModem::start(&net, spec, Some(link))
                    .await
                    .expect("sim starts"),
            );
        }
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
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
            notify_path,
            extra: extra.to_string(),
            plans,
        };
        g.write_config();
        g.spawn();
        g.wait_notify("READY=1", T);
        g
    }

    /// Writes the config for the current modems and `extra`.
    pub fn write_config(&self) {
        let mut toml = format!(
            "[store]\npath = \"{}\"\n\n[control]\nsocket = \"{}\"\n\n[spool]\ndir = \"{}\"\n\n[log]\nlevel = \"debug\"\n\n",
            self.db.display(),
            self.socket.display(),
            self.spool.display()
        );
        toml.push_str(&self.extra);
        toml.push('\n');
        for (i, plan) in self.plans.iter().enumerate() {
            toml.push_str(&format!(
                "[[modem]]\nname = \"m{i}\"\ndevice = \"{}\"\n{}\n\n",
                self.dir.path().join(format!("modem{i}")).display(),
                plan.extra
            ));
        }
        std::fs::write(&self.config, toml).expect("write config");
    }

    /// Adds a simulated modem (not yet in the config; call `write_config` and reload).
    pub async fn add_sim(&mut self, plan: ModemPlan) -> usize {
        let i = self.plans.len();
        let spec = SimSpec {
            name: format!("m{i}"),
            personality: plan.personality,
            msisdn: msisdn(i),
            imsi: format!("00101000000{i:04}"),
            iccid: format!("8901000000000{i:04}"),
            imei: format!("35000000000{i:04}"),
            pin: None,
            storage_slots: 30,
            faults: plan.faults.clone(),
        };
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
        // Drain notifications left from an earlier run.
        self.notify.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 4096];
        while self.notify.recv(&mut buf).is_ok() {}
        self.notify.set_nonblocking(false).expect("blocking");
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
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {needle:?} from the daemon in {timeout:?}; log:\n{}",
                self.log()
            );
            self.notify
                .set_read_timeout(Some(left))
                .expect("read timeout");
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.contains(needle) {
                    return msg;
                }
            }
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
        r.read_line(&mut answer).expect("reply");
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
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.write_all(b"{\"cmd\":\"watch\"}\n").expect("write");
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

impl Watch {
    /// The next event, or `None` when `timeout` passed.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        self.r.set_timeout(timeout.max(Duration::from_millis(1)));
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => serde_json::from_str::<Value>(&line)
                .ok()
                .map(|v| v["event"].clone()),
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
