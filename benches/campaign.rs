//! The campaign benchmark: the real `smsgate run` binary (release build)
//! with `[http]` on and 4 simulated modems that take 10 s per `+CMGS` (so
//! sending stays out of the way). Measures creating a 100,000-recipient
//! campaign from CSV through `POST /api/v1/campaigns` (the durable answer,
//! and the daemon's peak and resident memory before and after), then the
//! campaign status query (`GET /api/v1/campaigns/{id}`, p50/p99 over new
//! loopback connections) with its 100,000 messages stored. Owns the
//! scenario and a minimal HTTP/1.1 client; not the daemon or the simulator.
//!
//! Run: `cargo bench --bench campaign` (`-- --recipients N --queries N`;
//! `SMSGATE_BIN` picks another binary). Figures: BENCHMARKS.md.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{control, loadavg, memory, ms, percentile, Rig, RigOptions};
use serde_json::{json, Value};
use smsgate::sim::{Faults, NetworkOptions};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One request on a new connection; (status, body).
fn request(port: u16, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body.as_bytes()).expect("write body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn main() {
    let n = arg("--recipients", 100_000);
    let queries = arg("--queries", 500);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let port = common::free_port();
    let rig = Rig::start(
        &rt,
        RigOptions {
            modems: 4,
            faults: Faults {
                cmgs_latency: Duration::from_secs(10),
                ..Faults::default()
            },
            network: NetworkOptions::default(),
            extra: format!("[http]\nlisten = \"127.0.0.1:{port}\"\nmax_body_bytes = 33554432\n"),
        },
    );
    println!("binary: {}", rig.bin.display());
    let token = control(
        &rig.socket,
        json!({"cmd": "token_create", "name": "bench", "scopes": ["send", "read"]}),
    )["token"]
        .as_str()
        .expect("token")
        .to_string();

    let mut csv = String::from("to,name,code\n");
    for i in 0..n {
        csv.push_str(&format!(
            "+4915{:09},Name{i},{}\n",
            100_000_000 + i,
            1000 + i % 9000
        ));
    }
    let body =
        json!({"name": "bench", "text": "Hello {{name}}, your code is {{code}}.", "csv": csv})
            .to_string();
    let (rss0, hwm0, _) = memory(rig.pid());
    let t = Instant::now();
    let (status, answer) = request(port, &token, "POST", "/api/v1/campaigns", &body);
    let took = t.elapsed();
    assert_eq!(status, 201, "{answer}");
    let created: Value = serde_json::from_str(&answer).expect("json");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["total"], json!(n));
    let (rss1, hwm1, _) = memory(rig.pid());
    println!(
        "\n## create a campaign of {n} recipients from CSV ({} bytes of JSON)\n",
        body.len()
    );
    println!(
        "| durable answer s | VmRSS MiB before / after | VmHWM MiB before / after | loadavg |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {:.2} | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
        took.as_secs_f64(),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        hwm0 as f64 / 1024.0,
        hwm1 as f64 / 1024.0,
        loadavg()
    );

    let mut lat = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let (status, answer) = request(port, &token, "GET", &format!("/api/v1/campaigns/{id}"), "");
        lat.push(t.elapsed());
        assert_eq!(status, 200, "{answer}");
    }
    lat.sort();
    let mut sock = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let v = control(&rig.socket, json!({"cmd": "campaign_show", "campaign": id}));
        sock.push(t.elapsed());
        assert_eq!(v["total"], json!(n));
    }
    sock.sort();
    println!("\n## campaign status with {n} messages stored ({queries} queries each)\n");
    println!("| face | p50 ms | p99 ms | loadavg |");
    println!("|---|---|---|---|");
    println!(
        "| HTTP GET /api/v1/campaigns/{{id}} (new connection each) | {:.2} | {:.2} | {} |",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        loadavg()
    );
    println!(
        "| socket campaign_show (new connection each) | {:.2} | {:.2} | {} |",
        ms(percentile(&sock, 0.5)),
        ms(percentile(&sock, 0.99)),
        loadavg()
    );
}
