//! The cluster benchmark (CONTRACT.md "Several hosts on PostgreSQL"): one
//! real PostgreSQL server (`src/store/pgserver.rs`, as `tests/cluster.rs`
//! starts it) and three `smsgate run` daemons (release build), each with 4
//! simulated modems taking 250 ms per `+CMGS`, all on one simulated
//! network. Measures: (1) the sending rate of single-part messages entered
//! through all three hosts, against the ideal 12 × 4 = 48 parts/s; (2) the
//! intake through one host's HTTP API into PostgreSQL (64 keep-alive
//! clients, durable answers); (3) the failover after `kill -9` of one host
//! under load: from the kill until every message it had claimed has gone
//! out through the others, for the lease and `orphan_after` it ran with.
//! Owns the scenarios and the hosts' setup; not the daemon or the simulator.
//!
//! Run: `cargo bench --bench cluster` (`-- --messages N --posts N`;
//! `--sending-only` stops after the sending run, `--hosts 1|2` runs it
//! with fewer hosts;
//! `SMSGATE_BIN` picks another binary). Figures: BENCHMARKS.md.

mod common;
#[path = "../src/store/pgserver.rs"]
mod pgserver;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{control, loadavg, ms, percentile, Conn};
use serde_json::json;
use smsgate::sim::{Faults, NetMessage, Network, NetworkOptions, Personality, SimModem, SimSpec};
use tokio::runtime::Runtime;

/// Modems per host and their time per part.
const MODEMS: usize = 4;
const CMGS: Duration = Duration::from_millis(250);
const HOSTS: [&str; 3] = ["a", "b", "c"];

/// One daemon of the cluster and its simulated modems.
struct Host {
    dir: tempfile::TempDir,
    child: Option<Child>,
    socket: PathBuf,
    sims: Vec<SimModem>,
    /// Its SIMs' numbers (the `from` of what they send).
    msisdns: BTreeSet<String>,
    /// Its HTTP API's port on 127.0.0.1.
    http: u16,
}

/// What a cluster's hosts are started with.
struct Plan<'a> {
    url: &'a str,
    lease: &'a str,
    orphan_after: &'a str,
}

impl Host {
    /// Host `node` (number `n` of the cluster) with [`MODEMS`] simulated
    /// modems `m{10n}`… of its own on `net`; waits until they are ready.
    fn start(rt: &Runtime, net: &Network, plan: &Plan, n: usize) -> Host {
        let node = HOSTS[n];
        let dir = tempfile::tempdir().expect("tempdir");
        let http = common::free_port();
        let mut toml = format!(
            "[store]\nurl = {:?}\n[control]\nsocket = {:?}\nmax_clients = 1024\n[spool]\nenabled = false\ndir = {:?}\n[log]\nlevel = \"warn\"\n[cluster]\nnode = \"{node}\"\nlease = \"{}\"\norphan_after = \"{}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
            plan.url,
            dir.path().join("ctl.sock"),
            dir.path().join("spool"),
            plan.lease,
            plan.orphan_after,
        );
        let mut sims = Vec::new();
        let mut msisdns = BTreeSet::new();
        for k in 0..MODEMS {
            let i = n * 10 + k;
            let mut spec = SimSpec::new(
                &format!("m{i}"),
                Personality::Generic,
                &format!("+1555000{i:04}"),
            );
            spec.imsi = format!("00101000000{i:04}");
            spec.iccid = format!("8901000000000{i:04}");
            spec.imei = format!("35000000000{i:04}");
            spec.faults = Faults {
                cmgs_latency: CMGS,
                ..Faults::default()
            };
            msisdns.insert(spec.msisdn.clone());
            let link = dir.path().join(format!("modem{k}"));
            let sim = rt
                .block_on(SimModem::start(net, spec, Some(link.clone())))
                .expect("simulated modem");
            sims.push(sim);
            toml.push_str(&format!("[[modem]]\nname = \"m{i}\"\ndevice = {link:?}\n"));
        }
        let config = dir.path().join("smsgate.toml");
        std::fs::write(&config, toml).expect("config");
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
        let child = Command::new(bin())
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
        let host = Host {
            socket: dir.path().join("ctl.sock"),
            dir,
            child: Some(child),
            sims,
            msisdns,
            http,
        };
        common::wait_ready(&notify, &host.socket, MODEMS, &|| {
            format!("host {node}; log:\n{}", host.log())
        });
        host
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn send(&self, to: &str, text: &str) {
        control(&self.socket, json!({"cmd": "send", "to": to, "text": text}));
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

fn bin() -> PathBuf {
    std::env::var_os("SMSGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_smsgate")))
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The recipient of message `i` of run `run`: a number no simulated SIM owns.
fn recipient(run: usize, i: usize) -> String {
    format!("+49{run}{i:08}")
}

/// Waits until `n` SUBMITs reached the outside world; all of them.
fn wait_out(rt: &Runtime, net: &Network, n: usize, timeout: Duration) -> Vec<NetMessage> {
    rt.block_on(net.wait_external(n, timeout))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// (1) `n` single-part messages entered through the three hosts' HTTP
/// APIs at once (arrays of up to 80 recipients, one client per host, so
/// the intake does not pace the modems); the rate they go out at.
fn throughput(rt: &Runtime, net: &Network, hosts: &[Host], token: &str, n: usize) {
    let started = Instant::now();
    let clients: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(h, host)| {
            let (port, token) = (host.http, token.to_string());
            let mine: Vec<String> = (0..n)
                .filter(|i| i % hosts.len() == h)
                .map(|i| recipient(1, i))
                .collect();
            std::thread::spawn(move || {
                let mut c = Conn::open(port, &token);
                for chunk in mine.chunks(80) {
                    let body = json!({"to": chunk, "text": "bench"}).to_string();
                    let status = c.post("/api/v1/messages", body.as_bytes());
                    assert_eq!(status, 202, "POST answered {status}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    let entered = started.elapsed();
    let sent = wait_out(rt, net, n, Duration::from_secs(600));
    let last = sent.iter().map(|m| m.at).max().unwrap_or(started);
    let first = sent.iter().map(|m| m.at).min().unwrap_or(started);
    let wall = last - started;
    let ideal = (hosts.len() * MODEMS) as f64 / CMGS.as_secs_f64();
    let rate = n as f64 / wall.as_secs_f64();
    let per_host: Vec<String> = hosts
        .iter()
        .map(|h| {
            sent.iter()
                .filter(|m| h.msisdns.contains(&m.from_msisdn))
                .count()
                .to_string()
        })
        .collect();
    let distinct: BTreeSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    // Where the time beyond 250 ms per part goes: the gaps between one
    // SIM's consecutive SUBMITs (250 ms when the next part is handed over
    // at once).
    let mut gaps = Vec::new();
    let sims: BTreeSet<&str> = sent.iter().map(|m| m.from_msisdn.as_str()).collect();
    for sim in sims {
        let mut at: Vec<Instant> = sent
            .iter()
            .filter(|m| m.from_msisdn == sim)
            .map(|m| m.at)
            .collect();
        at.sort();
        gaps.extend(at.windows(2).map(|w| w[1] - w[0]));
    }
    gaps.sort();
    println!(
        "\n## sending: {n} single-part messages through {} hosts × {MODEMS} modems ({} ms per part)\n",
        hosts.len(),
        CMGS.as_millis()
    );
    println!("| messages | entered in s | first enqueue → last SUBMIT s | first → last SUBMIT s | parts/s | of ideal {ideal:.0}/s | parts per host a/b/c | sent twice | one SIM's SUBMIT → its next, p50/p90/max ms | loadavg |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {:.2} | {:.2} | {:.2} | {rate:.1} | {:.1} % | {} | {} | {:.0}/{:.0}/{:.0} | {} |",
        entered.as_secs_f64(),
        wall.as_secs_f64(),
        (last - first).as_secs_f64(),
        100.0 * rate / ideal,
        per_host.join("/"),
        sent.len() - distinct.len(),
        ms(percentile(&gaps, 0.5)),
        ms(percentile(&gaps, 0.9)),
        ms(gaps.last().copied().unwrap_or_default()),
        loadavg()
    );
}

/// (2) `POST /api/v1/messages` through host a: `clients` keep-alive
/// connections, `per` single messages each.
fn intake(host: &Host, token: &str, clients: usize, per: usize) {
    let port = host.http;
    let run = |clients: usize, per: usize| -> (Vec<Duration>, Duration) {
        let started = Instant::now();
        let threads: Vec<_> = (0..clients)
            .map(|c| {
                let token = token.to_string();
                std::thread::spawn(move || {
                    let mut conn = Conn::open(port, &token);
                    let mut lat = Vec::with_capacity(per);
                    for i in 0..per {
                        let body = json!({"to": recipient(2, c * 10_000 + i), "text": "intake"})
                            .to_string();
                        let t = Instant::now();
                        let status = conn.post("/api/v1/messages", body.as_bytes());
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
    };
    // Warm up (connections, prepared statements).
    run(4, 25);
    println!("\n## intake: POST /api/v1/messages through host a into PostgreSQL (durable answer, keep-alive)\n");
    println!("| clients | requests | wall s | p50 ms | p99 ms | accepted messages/s | loadavg |");
    println!("|---|---|---|---|---|---|---|");
    for (clients, per) in [(1, per * 4), (clients, per)] {
        let (lat, wall) = run(clients, per);
        println!(
            "| {clients} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            lat.len(),
            wall.as_secs_f64(),
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
            lat.len() as f64 / wall.as_secs_f64(),
            loadavg()
        );
    }
}

/// (3) A fresh cluster on `url` with `lease` / `orphan_after`: `n`
/// messages entered through all three hosts, host a killed with `kill -9`
/// while its modems send; the time from the kill until every message a had
/// claimed has gone out through b or c, and until all `n` are out.
fn failover(rt: &Runtime, server: &pgserver::Server, lease: &str, orphan_after: &str, n: usize) {
    let url = server.fresh_url();
    let plan = Plan {
        url: &url,
        lease,
        orphan_after,
    };
    let net = Network::new(NetworkOptions::default());
    let mut hosts: Vec<Host> = (0..3).map(|i| Host::start(rt, &net, &plan, i)).collect();
    for i in 0..n {
        hosts[i % 3].send(&recipient(3, i), &format!("failover {i}"));
    }
    // Every modem of a has a part in flight: wait for a fresh payload on
    // each after the queue is in.
    for sim in &hosts[0].sims {
        let seen = sim.payloads();
        rt.block_on(sim.wait_payloads(seen + 1, Duration::from_secs(60)))
            .expect("a sends");
    }
    hosts[0].kill9();
    let killed = Instant::now();
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the URL");
    let db = url.rsplit('/').next().unwrap_or_default().to_string();
    let claimed: BTreeSet<String> = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname={db}"),
            postgres::NoTls,
        )
        .expect("connect");
        c.query(
            "SELECT recipient FROM outgoing
              WHERE claimed_by = 'a' AND state IN ('queued', 'sending')",
            &[],
        )
        .expect("claims of a")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
    })
    .join()
    .expect("query thread");
    let a_sims = hosts[0].msisdns.clone();
    let through_others = |sent: &[NetMessage], to: &str| {
        sent.iter()
            .any(|m| m.to == to && !a_sims.contains(&m.from_msisdn) && m.at > killed)
    };
    let deadline = killed + Duration::from_secs(300);
    let mut have = 0;
    let (mut claims_out, mut all_out) = (None, None);
    while claims_out.is_none() || all_out.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "failover not done in 300 s: {} claims of a, {} SUBMITs; log b:\n{}",
            claimed.len(),
            have,
            hosts[1].log()
        );
        let sent = match rt.block_on(net.wait_external(have + 1, left)) {
            Ok(s) => s,
            Err(_) => net.external_messages(),
        };
        have = sent.len();
        if claims_out.is_none() && claimed.iter().all(|to| through_others(&sent, to)) {
            claims_out = Some(
                sent.iter()
                    .filter(|m| claimed.contains(&m.to) && !a_sims.contains(&m.from_msisdn))
                    .map(|m| m.at)
                    .max()
                    .unwrap_or(killed)
                    .saturating_duration_since(killed),
            );
        }
        let distinct: BTreeSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
        if all_out.is_none() && distinct.len() >= n {
            all_out = Some(
                sent.iter()
                    .map(|m| m.at)
                    .max()
                    .unwrap_or(killed)
                    .saturating_duration_since(killed),
            );
        }
    }
    let sent = net.external_messages();
    let distinct: BTreeSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    println!(
        "| {lease} | {orphan_after} | {n} | {} | {:.2} | {:.2} | {} | {} |",
        claimed.len(),
        claims_out.unwrap_or_default().as_secs_f64(),
        all_out.unwrap_or_default().as_secs_f64(),
        sent.len() - distinct.len(),
        loadavg()
    );
}

fn main() {
    let messages = arg("--messages", 1440) as usize;
    let sending_only = std::env::args().any(|a| a == "--sending-only");
    let posts = arg("--posts", 50) as usize;
    let rt = Runtime::new().expect("runtime");
    let server = match pgserver::Server::launch() {
        Ok(s) => s,
        Err(e) => panic!("no PostgreSQL server: {e}"),
    };
    println!("binary: {}", bin().display());
    let url = server.fresh_url();
    let net = Network::new(NetworkOptions::default());
    let plan = Plan {
        url: &url,
        lease: "30s",
        orphan_after: "10m",
    };
    let count = arg("--hosts", 3).clamp(1, 3) as usize;
    let hosts: Vec<Host> = (0..count)
        .map(|i| Host::start(&rt, &net, &plan, i))
        .collect();
    // Tokens live in the database: one serves every host.
    let token = control(
        &hosts[0].socket,
        json!({"cmd": "token_create", "name": "bench", "scopes": ["send"]}),
    )["token"]
        .as_str()
        .expect("token")
        .to_string();
    throughput(&rt, &net, &hosts, &token, messages);
    if sending_only {
        return;
    }
    intake(&hosts[0], &token, 64, posts);
    drop(hosts);

    println!("\n## failover: `kill -9` of host a under load (3 hosts × {MODEMS} modems, a fresh database each)\n");
    println!("| lease | orphan_after | messages | a's claims at the kill | kill → last of them out through b/c s | kill → all out s | sent twice | loadavg |");
    println!("|---|---|---|---|---|---|---|---|");
    for (lease, orphan) in [("2s", "4s"), ("2s", "4s"), ("6s", "12s")] {
        failover(&rt, &server, lease, orphan, 240);
    }
}
