//! The SMPP face benchmark: the real `smsgate run` binary (release build)
//! with `[smpp]` on, simulated modems, and SMPP 3.4 clients in this process
//! (raw PDUs on blocking sockets, one thread per session). Measures
//! `submit_sm` accepted per second (each `submit_sm_resp` is sent once the
//! message is committed) with a window of 1 and 10 on one session and of 10
//! on 8 sessions, with the `submit_sm_resp` latency (p50, p99); and the time
//! from a status report reaching the (simulated) modem to the `deliver_sm`
//! receipt at the client. Owns the scenarios and the client; not the daemon
//! or the simulator.
//!
//! Run: `cargo bench --bench smpp` (`-- --submits N --receipts N`;
//! `SMSGATE_BIN` picks another binary, e.g. an older build to compare).
//! Figures: BENCHMARKS.md.

mod common;

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{cpu_secs, loadavg, ms, percentile, Rig, RigOptions};
use smsgate::sim::{Faults, NetworkOptions, TapEvent};

const SUBMIT_SM: u32 = 0x04;
const SUBMIT_SM_RESP: u32 = 0x8000_0004;
const DELIVER_SM: u32 = 0x05;
const DELIVER_SM_RESP: u32 = 0x8000_0005;
const BIND_TRANSCEIVER: u32 = 0x09;

fn pdu(id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + body.len());
    v.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A `submit_sm` body: international destination, GSM-7 (data_coding 0).
fn submit_body(to: &str, text: &[u8], registered_delivery: u8) -> Vec<u8> {
    let mut b = vec![0u8]; // service_type ""
    b.extend_from_slice(&[5, 0]); // source ton alphanumeric, npi
    b.extend_from_slice(b"bench\0");
    b.extend_from_slice(&[1, 1]); // dest ton international, npi ISDN
    b.extend_from_slice(to.trim_start_matches('+').as_bytes());
    b.push(0);
    // esm_class, protocol_id, priority, schedule "", validity "",
    // registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    b.extend_from_slice(&[0, 0, 0, 0, 0, registered_delivery, 0, 0, 0]);
    b.push(text.len() as u8);
    b.extend_from_slice(text);
    b
}

/// One bound transceiver session.
struct Session {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Session {
    fn bind(port: u16) -> Session {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut sess = Session {
            r: BufReader::with_capacity(64 * 1024, s.try_clone().expect("clone")),
            w: s,
        };
        let mut body = Vec::new();
        for f in ["bench", "bench", ""] {
            body.extend_from_slice(f.as_bytes());
            body.push(0);
        }
        body.extend_from_slice(&[0x34, 0, 0, 0]);
        sess.send(&pdu(BIND_TRANSCEIVER, 1, &body));
        let (id, status, _, _) = sess.read();
        assert_eq!((id, status), (0x8000_0009, 0), "bind_transceiver_resp");
        sess
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    /// (command_id, command_status, sequence_number, body).
    fn read(&mut self) -> (u32, u32, u32, Vec<u8>) {
        let mut head = [0u8; 16];
        self.r.read_exact(&mut head).expect("a PDU");
        let w = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let mut body = vec![0u8; (w(0) as usize).saturating_sub(16)];
        self.r.read_exact(&mut body).expect("the PDU body");
        (w(4), w(8), w(12), body)
    }

    /// The next PDU that is not a `deliver_sm` (those are answered).
    fn read_resp(&mut self) -> (u32, u32, u32, Vec<u8>) {
        loop {
            let p = self.read();
            if p.0 != DELIVER_SM {
                return p;
            }
            self.send(&pdu(DELIVER_SM_RESP, p.2, b"\0"));
        }
    }
}

/// `sessions` sessions, each submitting `per_session` messages with at most
/// `window` unanswered; the latencies and the wall time (from when all are
/// bound).
fn pump(
    port: u16,
    sessions: usize,
    per_session: usize,
    window: usize,
) -> (Vec<Duration>, Duration) {
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let threads: Vec<_> = (0..sessions)
        .map(|k| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut s = Session::bind(port);
                let bodies: Vec<Vec<u8>> = (0..100)
                    .map(|i| submit_body(&format!("+1555{k:02}77{i:04}"), b"benchmark", 0))
                    .collect();
                barrier.wait();
                let mut sent_at: HashMap<u32, Instant> = HashMap::new();
                let mut lat = Vec::with_capacity(per_session);
                let mut next: u32 = 2;
                while lat.len() < per_session {
                    while sent_at.len() < window && (next as usize - 2) < per_session {
                        let body = &bodies[next as usize % bodies.len()];
                        s.send(&pdu(SUBMIT_SM, next, body));
                        sent_at.insert(next, Instant::now());
                        next += 1;
                    }
                    let (id, status, seq, _) = s.read_resp();
                    assert_eq!(id, SUBMIT_SM_RESP, "unexpected PDU {id:#x}");
                    assert_eq!(status, 0, "submit_sm_resp status {status:#x}");
                    let t = sent_at
                        .remove(&seq)
                        .expect("an answer to a submit in flight");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("session thread"))
        .collect();
    let wall = started.elapsed();
    all.sort();
    (all, wall)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn smpp_toml(port: u16) -> String {
    format!(
        "[smpp]\nlisten = \"127.0.0.1:{port}\"\n[[smpp.account]]\nsystem_id = \"bench\"\npassword = \"bench\"\n"
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn main() {
    let submits = arg("--submits", 20_000) as usize;
    let receipts = arg("--receipts", 100) as usize;
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // Throughput: 4 modems at 250 ms per +CMGS send what is accepted in the
    // background (16 parts/s), as a real pool would.
    let port = common::free_port();
    let rig = Rig::start(
        &rt,
        RigOptions {
            modems: 4,
            faults: Faults {
                cmgs_latency: Duration::from_millis(250),
                ..Faults::default()
            },
            network: NetworkOptions::default(),
            extra: smpp_toml(port),
        },
    );
    println!("binary: {}", rig.bin.display());
    pump(port, 2, 200, 10); // warm up
    println!("\n## submit_sm → submit_sm_resp (committed), GSM-7 single-part\n");
    println!("| sessions × window | submits | wall s | submits/s | resp p50 ms | resp p99 ms | daemon CPU s | loadavg |");
    println!("|---|---|---|---|---|---|---|---|");
    for (sessions, window, n) in [
        (1usize, 1usize, submits / 10),
        (1, 10, submits),
        (8, 10, submits / 8),
    ] {
        let cpu0 = cpu_secs(rig.pid());
        let (lat, wall) = pump(port, sessions, n, window);
        println!(
            "| {sessions} × {window} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            lat.len(),
            wall.as_secs_f64(),
            lat.len() as f64 / wall.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            cpu_secs(rig.pid()) - cpu0,
            loadavg()
        );
    }
    drop(rig);

    // Receipts: one modem that answers at once; the network's status report
    // comes `delay` after the SUBMIT left the modem (the tap's stamp).
    let delay = Duration::from_millis(100);
    let port = common::free_port();
    let mut rig = Rig::start(
        &rt,
        RigOptions {
            modems: 1,
            faults: Faults::default(),
            network: NetworkOptions {
                report_delay: delay,
                ..NetworkOptions::default()
            },
            extra: smpp_toml(port),
        },
    );
    let mut s = Session::bind(port);
    let mut lat = Vec::new();
    for i in 0..receipts + 5 {
        while rig.tap(&rt, Duration::ZERO).is_some() {}
        let to = format!("+1555666{i:04}");
        s.send(&pdu(
            SUBMIT_SM,
            10 + i as u32,
            &submit_body(&to, b"receipt", 1),
        ));
        let (id, status, _, body) = s.read_resp();
        assert_eq!((id, status), (SUBMIT_SM_RESP, 0));
        let mid =
            String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or(&[])).into_owned();
        let sent = loop {
            match rig.tap(&rt, Duration::from_secs(10)) {
                Some(TapEvent::Transmitted { at, .. }) => break at,
                Some(_) => continue,
                None => panic!("no transmission of message {mid}"),
            }
        };
        let needle = format!("id:{mid} ");
        let got = loop {
            let (id, _, seq, body) = s.read();
            if id != DELIVER_SM {
                continue;
            }
            let at = Instant::now();
            s.send(&pdu(DELIVER_SM_RESP, seq, b"\0"));
            if contains(&body, needle.as_bytes()) && contains(&body, b"stat:DELIVRD") {
                break at;
            }
        };
        if i >= 5 {
            lat.push(got.saturating_duration_since(sent + delay));
        }
    }
    lat.sort();
    println!("\n## status report at the modem → deliver_sm receipt at the client ({receipts} samples, one at a time)\n");
    println!("| samples | p50 ms | p99 ms | max ms | loadavg |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.2} | {:.2} | {} |",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
        loadavg()
    );
    drop(s);
    drop(rig);
}
