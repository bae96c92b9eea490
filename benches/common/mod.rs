//! What the daemon benchmarks that drive `smsgate run` from blocking client
//! threads share (`http`, `smpp`): a rig of simulated modems plus the real
//! daemon in a temporary directory, waited for through `NOTIFY_SOCKET`; the
//! control socket; `/proc` readings; percentiles. Owns no scenario.

#![allow(dead_code)]

use std::io::Read;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smsgate::sim::{Faults, Network, NetworkOptions, Personality, SimModem, SimSpec, TapEvent};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// One keep-alive connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    auth: String,
}

impl Conn {
    pub fn open(port: u16, token: &str) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
            auth: format!("Bearer {token}"),
        }
    }

    /// POSTs `body`; returns the status once the answer is read.
    pub fn post(&mut self, path: &str, body: &[u8]) -> u16 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: b\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.auth,
            body.len()
        );
        self.w.write_all(head.as_bytes()).expect("write");
        self.w.write_all(body).expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().expect("length");
                }
            }
        }
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).expect("body");
        status
    }
}

/// Waits for the daemon's `READY=1` on `notify`, then until `modems` of its
/// modems are `ready` in `status`; `who` names it (with its log) in a panic.
pub fn wait_ready(
    notify: &UnixDatagram,
    socket: &PathBuf,
    modems: usize,
    who: &dyn Fn() -> String,
) {
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        let n = notify
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no READY=1 from {} ({e})", who()));
        if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = control(socket, json!({"cmd": "status"}));
        let ready = st["modems"].as_array().map_or(0, |a| {
            a.iter().filter(|m| m["state"] == json!("ready")).count()
        });
        if ready >= modems {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready} of {modems} modems ready: {}",
            who()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// (VmRSS, VmHWM) of `pid` in KiB, and its thread count.
pub fn memory(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"), field("Threads:"))
}

/// Where `pid`'s resident memory is, in KiB, from `/proc/<pid>/smaps`:
/// `RssAnon` and `RssFile` (from `status`), then the resident part of each
/// kind of mapping: the binary's text (`r-xp` of the executable) and its
/// other mappings (read-only data, relocated data), shared libraries,
/// `[heap]` (the main malloc arena), `[stack]`, and other anonymous mappings
/// (thread stacks, the other malloc arena, SQLite's and tokio's large
/// allocations). Also the text mapping's size, to set against its resident
/// part. Returns (label, KiB) pairs in that order.
pub fn memory_breakdown(pid: u32) -> Vec<(&'static str, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut text, mut text_size, mut bin_other, mut libs) = (0, 0, 0, 0);
    let (mut heap, mut stack, mut anon) = (0, 0, 0);
    let mut kind = "";
    let mut size = 0u64;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let perms = f.next().unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            kind = match path {
                "[heap]" => "heap",
                "[stack]" => "stack",
                "" => "anon",
                p if p == exe && perms.contains('x') => "text",
                p if p == exe => "bin",
                p if p.starts_with('/') => "lib",
                _ => "other",
            };
        } else if first == "Size:" {
            size = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        } else if first == "Rss:" {
            let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                "text" => {
                    text += kb;
                    text_size += size;
                }
                "bin" => bin_other += kb,
                "lib" => libs += kb,
                "heap" => heap += kb,
                "stack" => stack += kb,
                "anon" => anon += kb,
                _ => {}
            }
        }
    }
    vec![
        ("RssAnon", field("RssAnon:")),
        ("RssFile", field("RssFile:")),
        ("binary text resident", text),
        ("binary text mapped", text_size),
        ("binary other", bin_other),
        ("shared libraries", libs),
        ("[heap]", heap),
        ("[stack]", stack),
        ("other anonymous", anon),
    ]
}

/// CPU seconds (user + system) of `pid`.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // After ")": state is index 0, utime 11, stime 12.
    (t(11) + t(12)) / 100.0
}

/// One control-socket request; its `result`.
pub fn control(socket: &PathBuf, req: Value) -> Value {
    let mut s = UnixStream::connect(socket).expect("control socket");
    s.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("reply");
    let v: Value = serde_json::from_str(&line).expect("json");
    assert!(v["ok"] != json!(false), "control {req}: {v}");
    v["result"].clone()
}

/// What a rig is started with.
pub struct RigOptions {
    pub modems: usize,
    pub faults: Faults,
    pub network: NetworkOptions,
    /// More TOML for the daemon's config (`[http]`, `[smpp]`, …).
    pub extra: String,
}

/// Simulated modems in `rt` and the release daemon using them.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub socket: PathBuf,
    pub sims: Vec<SimModem>,
    pub net: Network,
    pub taps: mpsc::UnboundedReceiver<TapEvent>,
    pub bin: PathBuf,
}

impl Rig {
    pub fn start(rt: &Runtime, o: RigOptions) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = Network::new(o.network);
        let (tx, taps) = mpsc::unbounded_channel();
        let mut sims = Vec::new();
        let mut toml = format!(
            "[store]\npath = {:?}\n[control]\nsocket = {:?}\nmax_clients = 1024\n[spool]\nenabled = false\ndir = {:?}\n[log]\nlevel = \"warn\"\n{}\n",
            dir.path().join("smsgate.db"),
            dir.path().join("ctl.sock"),
            dir.path().join("spool"),
            o.extra
        );
        for i in 0..o.modems {
            let mut spec = SimSpec::new(
                &format!("m{i}"),
                Personality::Generic,
                &format!("+1555000{i:04}"),
            );
            spec.faults = o.faults.clone();
            let link = dir.path().join(format!("modem{i}"));
            let sim = rt
                .block_on(SimModem::start(&net, spec, Some(link.clone())))
                .expect("simulated modem");
            sim.set_tap(tx.clone());
            sims.push(sim);
            toml.push_str(&format!("[[modem]]\nname = \"m{i}\"\ndevice = {link:?}\n"));
        }
        let config = dir.path().join("smsgate.toml");
        std::fs::write(&config, toml).expect("config");
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        let bin = std::env::var_os("SMSGATE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_smsgate")));
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
        let child = Command::new(&bin)
            .args(["run", "-c"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("SMSGATE_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("daemon");
        let rig = Rig {
            socket: dir.path().join("ctl.sock"),
            dir,
            child,
            sims,
            net,
            taps,
            bin,
        };
        wait_ready(&notify, &rig.socket, o.modems, &|| {
            format!("the daemon; log:\n{}", rig.log())
        });
        rig
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The next tap event, or `None` after `timeout`.
    pub fn tap(&mut self, rt: &Runtime, timeout: Duration) -> Option<TapEvent> {
        rt.block_on(async { tokio::time::timeout(timeout, self.taps.recv()).await })
            .ok()
            .flatten()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
