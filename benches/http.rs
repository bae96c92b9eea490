//! The HTTP API benchmark: the real `smsgate run` binary (use a release
//! build) with `[http]` on, one simulated modem, and clients in this process
//! on keep-alive connections. Measures `POST /api/v1/messages` durable-answer
//! latency (p50, p99) with 1 and 64 concurrent clients, and accepted
//! messages per second with 64 clients sending single messages and
//! 100-recipient arrays. Owns the scenarios and a minimal keep-alive HTTP/1.1
//! client; not the daemon or the simulator.
//!
//! Run: `cargo bench --bench http` on a quiet machine (it starts a daemon in
//! a temporary directory; `SMSGATE_BIN` picks another binary). Figures:
//! BENCHMARKS.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smsgate::sim::{Network, NetworkOptions, Personality, SimModem, SimSpec};

/// One keep-alive connection.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    auth: String,
}

impl Conn {
    fn open(port: u16, token: &str) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
            auth: format!("Bearer {token}"),
        }
    }

    /// POSTs `body`; returns the status once the answer is read.
    fn post(&mut self, path: &str, body: &[u8]) -> u16 {
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

fn control(socket: &PathBuf, req: Value) -> Value {
    let mut s = UnixStream::connect(socket).expect("control socket");
    s.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("reply");
    let v: Value = serde_json::from_str(&line).expect("json");
    v["result"].clone()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `clients` threads, each sending `per_client` requests with `body`;
/// returns the latencies and the wall time.
fn run(
    port: u16,
    token: &str,
    clients: usize,
    per_client: usize,
    body: &[u8],
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (token, body) = (token.to_string(), body.to_vec());
            std::thread::spawn(move || {
                let mut c = Conn::open(port, &token);
                let mut lat = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    let status = c.post("/api/v1/messages", &body);
                    lat.push(t.elapsed());
                    assert_eq!(status, 202, "POST answered {status}");
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    let wall = started.elapsed();
    all.sort();
    (all, wall)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    // One modem; the benchmark measures acceptance, not sending.
    let net = Network::new(NetworkOptions::default());
    let sim = rt
        .block_on(SimModem::start(
            &net,
            SimSpec::new("m0", Personality::Generic, "+15550000001"),
            Some(dir.path().join("modem0")),
        ))
        .expect("simulated modem");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let socket = dir.path().join("ctl.sock");
    let config = dir.path().join("smsgate.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = {:?}\n[control]\nsocket = {:?}\n[spool]\nenabled = false\ndir = {:?}\n[log]\nlevel = \"warn\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[[modem]]\nname = \"m0\"\ndevice = {:?}\n",
            dir.path().join("smsgate.db"),
            socket,
            dir.path().join("spool"),
            dir.path().join("modem0"),
        ),
    )
    .expect("config");
    let bin = std::env::var_os("SMSGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_smsgate")));
    let mut daemon = Command::new(&bin)
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("daemon");
    let deadline = Instant::now() + Duration::from_secs(30);
    while UnixStream::connect(&socket).is_err() || TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let token = control(
        &socket,
        json!({"cmd": "token_create", "name": "bench", "scopes": ["send"]}),
    )["token"]
        .as_str()
        .expect("token")
        .to_string();
    println!("binary: {}", bin.display());
    let one = json!({"to": "+15557770000", "text": "benchmark"}).to_string();
    let many = json!({"to": (0..100).map(|i| format!("+1555777{i:04}")).collect::<Vec<_>>(), "text": "benchmark"})
        .to_string();
    // Warm up (connections, page cache, prepared statements).
    run(port, &token, 4, 50, one.as_bytes());
    for (name, clients, per, body, msgs_per_req) in [
        ("single, 1 client", 1usize, 2000usize, &one, 1usize),
        ("single, 64 clients", 64, 200, &one, 1),
        ("100-recipient arrays, 64 clients", 64, 10, &many, 100),
    ] {
        let (lat, wall) = run(port, &token, clients, per, body.as_bytes());
        let requests = lat.len();
        println!(
            "{name}: {requests} requests in {:.2} s; p50 {:.2} ms, p99 {:.2} ms; {:.0} requests/s, {:.0} accepted messages/s",
            wall.as_secs_f64(),
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            requests as f64 / wall.as_secs_f64(),
            (requests * msgs_per_req) as f64 / wall.as_secs_f64(),
        );
    }
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    drop(sim);
}
