//! The HTTP API and webhook benchmark: the real `smsgate run` binary
//! (release build) with `[http]` on and 16 simulated modems (250 ms per
//! `+CMGS`), clients in this process on keep-alive connections. Measures
//! the idle daemon's RSS and where it is (`smaps`); a webhook's `queued`
//! event to a receiver in this process (an axum server on 127.0.0.1),
//! p50/p99, and deliveries per second; `POST /api/v1/messages` durable-answer latency (p50, p99) with 1
//! and 64 concurrent clients, and accepted messages per second for single
//! messages and 100-recipient arrays. Owns the scenarios, a minimal
//! keep-alive HTTP/1.1 client and the receiver; not the daemon or the
//! simulator.
//!
//! Run: `cargo bench --bench http` (`-- --idle-secs N --hook-samples N`;
//! `--idle-only` stops after the idle figures; `SMSGATE_BIN` picks another
//! binary). Figures: BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use common::{control, loadavg, memory, ms, percentile, Conn, Rig, RigOptions};
use serde_json::json;
use smsgate::sim::{Faults, NetworkOptions};

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

/// Every request the local webhook receiver got: its body and when.
type Got = std::sync::mpsc::Sender<(axum::body::Bytes, Instant)>;

async fn hook(
    axum::extract::State(tx): axum::extract::State<Got>,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let _ = tx.send((body, Instant::now()));
    axum::http::StatusCode::NO_CONTENT
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let idle_secs = arg("--idle-secs", 10);
    let hook_samples = arg("--hook-samples", 300) as usize;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let port = common::free_port();
    // 16 modems that take 250 ms per +CMGS, as real ones do (or longer):
    // what is accepted is sent in the background at 64 parts/s at most, so
    // the figures are about acceptance, not about the simulator.
    let rig = Rig::start(
        &rt,
        RigOptions {
            modems: 16,
            faults: Faults {
                cmgs_latency: Duration::from_millis(250),
                ..Faults::default()
            },
            network: NetworkOptions::default(),
            extra: format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
        },
    );
    println!("binary: {}", rig.bin.display());

    println!("\n## idle daemon, 16 modems ready, HTTP on ({idle_secs} s after ready)\n");
    std::thread::sleep(Duration::from_secs(idle_secs));
    let (rss, hwm, threads) = memory(rig.pid());
    let cpu = common::cpu_secs(rig.pid());
    println!("| VmRSS MiB | VmHWM MiB | threads | CPU s since start | loadavg |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.1} | {:.1} | {threads} | {cpu:.2} | {} |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        loadavg()
    );
    let parts = common::memory_breakdown(rig.pid());
    println!(
        "\n| {} |",
        parts
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|{}", "---|".repeat(parts.len()));
    println!(
        "| {} |",
        parts
            .iter()
            .map(|(_, kb)| format!("{:.1}", *kb as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("(MiB; `/proc/<pid>/status` and `smaps`)");
    if std::env::args().any(|a| a == "--idle-only") {
        return;
    }

    let token = control(
        &rig.socket,
        json!({"cmd": "token_create", "name": "bench", "scopes": ["send"]}),
    )["token"]
        .as_str()
        .expect("token")
        .to_string();
    let one = json!({"to": "+15557770000", "text": "benchmark"}).to_string();
    let many = json!({"to": (0..100).map(|i| format!("+1555777{i:04}")).collect::<Vec<_>>(), "text": "benchmark"})
        .to_string();

    // Webhooks: a receiver in this process, subscribed to `queued` (the
    // event the POST's own transaction writes).
    let (tx, got) = std::sync::mpsc::channel();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("receiver");
    let hook_port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(tx);
    rt.spawn(async move { axum::serve(listener, app).await });
    let wh = control(
        &rig.socket,
        json!({"cmd": "webhook_add", "url": format!("http://127.0.0.1:{hook_port}/hook"), "events": ["queued"]}),
    );
    let wh_id = wh["id"].as_str().expect("webhook id").to_string();
    let mut c = Conn::open(port, &token);
    let (mut from_post, mut from_answer, mut early) = (Vec::new(), Vec::new(), 0);
    for i in 0..hook_samples + 20 {
        let to = format!("+1555888{i:04}");
        let body = json!({"to": to, "text": "hook"}).to_string();
        let t0 = Instant::now();
        assert_eq!(c.post("/api/v1/messages", body.as_bytes()), 202);
        let t1 = Instant::now();
        loop {
            let (b, at) = got
                .recv_timeout(Duration::from_secs(30))
                .expect("the webhook within 30 s");
            if contains(&b, to.as_bytes()) {
                if i >= 20 {
                    // The first 20 warm up (connection, statements).
                    from_post.push(at - t0);
                    if at < t1 {
                        early += 1;
                    }
                    from_answer.push(at.saturating_duration_since(t1));
                }
                break;
            }
        }
    }
    from_post.sort();
    from_answer.sort();
    println!("\n## webhook: `queued` event → the local receiver has the POST ({hook_samples} samples, one at a time)\n");
    println!("| clock starts | p50 ms | p99 ms | max ms | loadavg |");
    println!("|---|---|---|---|---|");
    for (name, v) in [
        ("client sends POST /api/v1/messages", &from_post),
        ("client has the 202 (commit done)", &from_answer),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {} |",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(*v.last().unwrap_or(&Duration::ZERO)),
            loadavg()
        );
    }
    println!("({early} of {hook_samples} webhooks arrived before the client had read its 202)");

    // Deliveries per second: 10,000 queued events written fast (100 arrays
    // of 100), timed at the receiver.
    let n_events = 10_000usize;
    let t0 = Instant::now();
    let feeder = std::thread::spawn({
        let token = token.clone();
        let many = many.clone();
        move || run(port, &token, 4, n_events / 400, many.as_bytes())
    });
    let mut first = None;
    let mut last = t0;
    for k in 0..n_events {
        let (_, at) = got
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("only {k} of {n_events} webhooks"));
        first.get_or_insert(at);
        last = at;
    }
    let (_, fed) = feeder.join().expect("feeder");
    let first = first.unwrap_or(t0);
    println!(
        "\n## webhook deliveries per second ({n_events} `queued` events, written in {:.2} s)\n",
        fed.as_secs_f64()
    );
    println!(
        "| deliveries | first → last s | deliveries/s | first POST → last delivery s | loadavg |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {n_events} | {:.2} | {:.0} | {:.2} | {} |",
        (last - first).as_secs_f64(),
        (n_events - 1) as f64 / (last - first).as_secs_f64(),
        (last - t0).as_secs_f64(),
        loadavg()
    );
    control(
        &rig.socket,
        json!({"cmd": "webhook_remove", "webhook": wh_id}),
    );
    drop(c);

    // Warm up (connections, page cache, prepared statements).
    run(port, &token, 4, 50, one.as_bytes());
    println!("\n## POST /api/v1/messages (durable answer), keep-alive connections\n");
    println!("| scenario | requests | wall s | p50 ms | p99 ms | requests/s | accepted messages/s | loadavg |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, clients, per, body, msgs_per_req) in [
        ("single, 1 client", 1usize, 2000usize, &one, 1usize),
        ("single, 64 clients", 64, 200, &one, 1),
        ("100-recipient arrays, 1 client", 1, 100, &many, 100),
        ("100-recipient arrays, 64 clients", 64, 10, &many, 100),
    ] {
        let (lat, wall) = run(port, &token, clients, per, body.as_bytes());
        let requests = lat.len();
        println!(
            "| {name} | {requests} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {} |",
            wall.as_secs_f64(),
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
            requests as f64 / wall.as_secs_f64(),
            (requests * msgs_per_req) as f64 / wall.as_secs_f64(),
            loadavg()
        );
    }
    let (rss, hwm, threads) = memory(rig.pid());
    println!(
        "\nafter: VmRSS {:.1} MiB, VmHWM {:.1} MiB, {threads} threads, daemon CPU {:.2} s",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        common::cpu_secs(rig.pid())
    );
    drop(rig);
}
