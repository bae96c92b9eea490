//! The gateway benchmark: the real `smsgate run` binary (release build) against
//! simulated modems (`smsgate::sim`, in this process), measuring throughput,
//! pickup and inbound latency, memory and CPU. Owns the scenarios, the daemon
//! rig (config, process, control client, /proc sampling) and the report it
//! prints; it does not own the simulator (only its tap) nor the daemon.
//!
//! Run: `cargo bench --bench gateway` (a few minutes); `-- --big` adds 64
//! modems and 100,000 queued messages; `-- --help` lists the rest. Method and
//! figures: BENCHMARKS.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use smsgate::sim::{Faults, Network, NetworkOptions, Personality, SimModem, SimSpec, TapEvent};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixDatagram, UnixStream};
use tokio::sync::mpsc;

/// Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;
/// The number the simulated outside world sends from and receives at.
const OUTSIDE: &str = "+15557770000";

#[derive(Parser, Debug)]
#[command(about = "smsgate gateway benchmark (see BENCHMARKS.md)")]
struct Args {
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Scenarios to run, comma-separated: throughput, pickup, inbound, run10k,
    /// idle, queue, smstools, hooks (the last is not in the default set).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput,pickup,inbound,run10k,idle,queue,smstools"
    )]
    only: Vec<String>,
    /// Modem counts for the throughput table.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    modems: Vec<usize>,
    /// Queue sizes for the queue-scaling table.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    queued: Vec<usize>,
    /// How many of the queued messages the queue-scaling runs send before
    /// stopping (the rest stay queued, so the drain rate is measured with the
    /// queue still large).
    #[arg(long, default_value_t = 10_000)]
    drain: usize,
    /// Adds 64 modems to the throughput table and 100,000 to the queue table.
    #[arg(long)]
    big: bool,
    /// Samples per latency figure.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Seconds of the idle-CPU window.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Seconds each latency-bound throughput run should last (ideally).
    #[arg(long, default_value_t = 10)]
    run_secs: u64,
    /// The daemon binary (default: the one cargo built next to this bench).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Where the daemon's database goes (default: the rig's temporary
    /// directory); e.g. /dev/shm to take the disk's fsync out of the figures.
    #[arg(long)]
    db_dir: Option<PathBuf>,
}

/// `--db-dir`, set once at start.
static DB_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Extra TOML appended to every rig's configuration (the hooks scenario
/// sets its `[hooks]` section; empty otherwise).
static EXTRA_TOML: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.big {
        if !args.modems.contains(&64) {
            args.modems.push(64);
        }
        if !args.queued.contains(&100_000) {
            args.queued.push(100_000);
        }
    }
    if let Some(d) = &args.db_dir {
        let _ = DB_DIR.set(d.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run(args))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run(args: Args) -> Result<()> {
    let bin = args
        .bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_smsgate")));
    println!("# smsgate gateway benchmark");
    println!("binary: {}", bin.display());
    println!(
        "database in: {}",
        DB_DIR
            .get()
            .map_or("the rig's temporary directory (ext4 on /tmp)".into(), |d| d
                .display()
                .to_string())
    );
    println!(
        "started: {} UTC, loadavg {}",
        chrono::Utc::now().format("%H:%M:%S"),
        loadavg()
    );
    let want = |s: &str| args.only.iter().any(|o| o == s);
    if want("throughput") {
        println!("\n## throughput (parts/s; window = all modems busy)");
        println!("| modems | +CMGS latency | parts | parts/s | ideal | ratio | whole-run parts/s | daemon CPU s | VmHWM MiB | loadavg |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for &n in &args.modems {
            for latency_ms in [0u64, 250] {
                let parts = if latency_ms == 0 {
                    (2000 * n).clamp(2000, 8000)
                } else {
                    (n * 4 * args.run_secs as usize).max(200)
                };
                let r = throughput(&bin, n, Duration::from_millis(latency_ms), parts).await?;
                let ideal = if latency_ms == 0 {
                    "-".to_string()
                } else {
                    format!("{:.0}", n as f64 * 1000.0 / latency_ms as f64)
                };
                let ratio = if latency_ms == 0 {
                    "-".to_string()
                } else {
                    format!(
                        "{:.1} %",
                        100.0 * r.rate / (n as f64 * 1000.0 / latency_ms as f64)
                    )
                };
                println!(
                    "| {n} | {latency_ms} ms | {parts} | {:.1} | {ideal} | {ratio} | {:.1} | {:.2} | {:.1} | {} |",
                    r.rate, r.whole, r.cpu, r.hwm_mib, loadavg()
                );
            }
        }
    }
    if want("pickup") {
        println!("\n## pickup latency (idle daemon, 1 modem answering at once)");
        println!("| path | samples | median ms | p99 ms | max ms | loadavg |");
        println!("|---|---|---|---|---|---|");
        let (spool, socket) = pickup(&bin, args.samples).await?;
        for (name, v) in [
            ("spool file -> AT+CMGS", spool),
            ("socket send -> AT+CMGS", socket),
        ] {
            let s = Stats::of(v);
            println!(
                "| {name} | {} | {:.2} | {:.2} | {:.2} | {} |",
                s.n,
                s.median,
                s.p99,
                s.max,
                loadavg()
            );
        }
    }
    if want("inbound") {
        println!("\n## inbound latency (+CMTI -> committed row)");
        println!("| until | samples | median ms | p99 ms | max ms | loadavg |");
        println!("|---|---|---|---|---|---|");
        let (event, inbox) = inbound(&bin, args.samples).await?;
        for (name, v) in [
            ("`received` event on the socket", event),
            ("row returned by `inbox`", inbox),
        ] {
            let s = Stats::of(v);
            println!(
                "| {name} | {} | {:.2} | {:.2} | {:.2} | {} |",
                s.n,
                s.median,
                s.p99,
                s.max,
                loadavg()
            );
        }
    }
    if want("run10k") {
        println!("\n## a 10,000-message run (4 modems answering at once, sent through the socket while sending)");
        let r = run10k(&bin).await?;
        println!("| messages | wall s | daemon CPU s (user+sys) | CPU ms per message | VmRSS after MiB | VmHWM MiB | loadavg |");
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| 10000 | {:.1} | {:.2} | {:.3} | {:.1} | {:.1} | {} |",
            r.wall,
            r.cpu,
            r.cpu * 1000.0 / 10_000.0,
            r.rss_mib,
            r.hwm_mib,
            loadavg()
        );
    }
    if want("idle") {
        println!(
            "\n## idle (16 modems ready, nothing to do, {} s)",
            args.idle_secs
        );
        let r = idle(&bin, 16, Duration::from_secs(args.idle_secs)).await?;
        println!("| modems | window s | daemon CPU s | CPU % of one core | VmRSS MiB | threads | loadavg |");
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| 16 | {} | {:.2} | {:.3} % | {:.1} | {} | {} |",
            args.idle_secs,
            r.cpu,
            100.0 * r.cpu / args.idle_secs as f64,
            r.rss_mib,
            r.threads,
            loadavg()
        );
    }
    if want("queue") {
        println!(
            "\n## queue scaling (queued with no modem, then 4 modems answering at once send the first {})",
            args.drain
        );
        println!("| queued | intake msg/s | VmRSS queued MiB | sent | drain parts/s | VmHWM MiB | VmRSS after MiB | daemon CPU s | db MiB | loadavg |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for &m in &args.queued {
            let sent = m.min(args.drain);
            let r = queue(&bin, m, sent).await?;
            println!(
                "| {m} | {:.0} | {:.1} | {sent} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {} |",
                r.intake,
                r.rss_queued,
                r.drain,
                r.hwm_mib,
                r.rss_after,
                r.cpu,
                r.db_mib,
                loadavg()
            );
        }
    }
    if want("hooks") {
        println!("\n## hooks (a `sent` hook on every message, 4 modems answering at once)");
        println!("| hook | messages | max_concurrent | all sent after s | backlog drained after s | hook runs/s | runs | loadavg |");
        println!("|---|---|---|---|---|---|---|---|");
        for (label, argv) in [
            ("/bin/true", "[\"/bin/true\"]"),
            ("sh, sleep 50 ms", "[\"/bin/sh\", \"-c\", \"sleep 0.05\"]"),
        ] {
            let r = hooks(&bin, 5_000, argv).await?;
            println!(
                "| {label} | {} | 4 | {:.2} | {:.2} | {:.0} | {} | {} |",
                r.messages,
                r.sent_after,
                r.drained_after,
                r.runs_per_s,
                r.runs,
                loadavg()
            );
        }
    }
    if want("smstools") {
        println!("\n## smstools3 (smsd) on the same simulated modems, files spooled before start");
        println!("| modems | +CMGS latency | parts | smsd parts/s | smsgate parts/s | smsgate / smsd | smsd CPU s | loadavg |");
        println!("|---|---|---|---|---|---|---|---|");
        for (n, latency_ms, parts) in [(1usize, 0u64, 60usize), (4, 250, 120), (16, 250, 320)] {
            let latency = Duration::from_millis(latency_ms);
            match smstools(n, latency, parts).await {
                Ok(s) => {
                    let g = throughput(&bin, n, latency, parts).await?;
                    println!(
                        "| {n} | {latency_ms} ms | {parts} | {:.2} | {:.1} | {:.1} | {:.2} | {} |",
                        s.whole,
                        g.whole,
                        g.whole / s.whole,
                        s.cpu,
                        loadavg()
                    );
                }
                Err(e) => println!("| {n} | {latency_ms} ms | {parts} | failed: {e:#} | | | | |"),
            }
        }
    }
    println!(
        "\nfinished: {} UTC, loadavg {}",
        chrono::Utc::now().format("%H:%M:%S"),
        loadavg()
    );
    Ok(())
}

// ---------------------------------------------------------------- statistics

struct Stats {
    n: usize,
    median: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    /// Nearest-rank percentiles of durations, in milliseconds.
    fn of(mut v: Vec<Duration>) -> Stats {
        v.sort();
        let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        let rank = |p: f64| {
            let r = (p * v.len() as f64).ceil() as usize;
            v.get(r.saturating_sub(1))
        };
        Stats {
            n: v.len(),
            median: ms(rank(0.5)),
            p99: ms(rank(0.99)),
            max: ms(v.last()),
        }
    }
}

// ---------------------------------------------------------------- the rig

/// Simulated modems, a config, and the daemon under test.
struct Rig {
    dir: tempfile::TempDir,
    net: Network,
    sims: Vec<SimModem>,
    taps: mpsc::UnboundedReceiver<TapEvent>,
    child: Child,
    notify: UnixDatagram,
    config: PathBuf,
    socket: PathBuf,
    spool: PathBuf,
    db: PathBuf,
}

/// /proc figures of one process.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStat {
    cpu: f64,
    rss_mib: f64,
    hwm_mib: f64,
    threads: u64,
}

fn msisdn(i: usize) -> String {
    format!("+1555000{i:04}")
}

impl Rig {
    /// Starts `n` simulated modems and the daemon; with `configured`, the
    /// modems are in the config from the start, else only after `add_modems`.
    async fn start(bin: &Path, n: usize, faults: Faults, configured: bool) -> Result<Rig> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let net = Network::new(NetworkOptions::default());
        let (tx, taps) = mpsc::unbounded_channel();
        let mut sims = Vec::new();
        for i in 0..n {
            let mut spec = SimSpec::new(&format!("m{i}"), Personality::Generic, &msisdn(i));
            spec.faults = faults.clone();
            let link = dir.path().join(format!("modem{i}"));
            let sim = SimModem::start(&net, spec, Some(link)).await?;
            sim.set_tap(tx.clone());
            sims.push(sim);
        }
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).context("notify socket")?;
        let config = dir.path().join("smsgate.toml");
        let socket = dir.path().join("ctl.sock");
        let spool = dir.path().join("spool");
        let db = match DB_DIR.get() {
            Some(d) => d.join(format!(
                "smsgate-bench-{}-{}.db",
                std::process::id(),
                dir.path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )),
            None => dir.path().join("smsgate.db"),
        };
        write_config(
            &config,
            &db,
            &socket,
            &spool,
            dir.path(),
            if configured { n } else { 0 },
        )?;
        let log = std::fs::File::create(dir.path().join("daemon.log")).context("log")?;
        let child = Command::new(bin)
            .args(["run", "-c"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("SMSGATE_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let rig = Rig {
            dir,
            net,
            sims,
            taps,
            child,
            notify,
            config,
            socket,
            spool,
            db,
        };
        rig.wait_notify("READY=1", Duration::from_secs(60)).await?;
        if configured {
            rig.wait_modems_ready(n, Duration::from_secs(120)).await?;
        }
        Ok(rig)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn wait_notify(&self, needle: &str, timeout: Duration) -> Result<()> {
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.notify.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).contains(needle) {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => bail!("no {needle} in {timeout:?}; log:\n{}", self.log_tail()),
            }
        }
    }

    /// Puts all modems into the config and reloads.
    async fn add_modems(&self) -> Result<()> {
        write_config(
            &self.config,
            &self.db,
            &self.socket,
            &self.spool,
            self.dir.path(),
            self.sims.len(),
        )?;
        let mut c = Client::connect(&self.socket).await?;
        c.ok(json!({"cmd": "reload"})).await?;
        Ok(())
    }

    /// Polls `status` until `n` modems say `ready`.
    async fn wait_modems_ready(&self, n: usize, timeout: Duration) -> Result<()> {
        let mut c = Client::connect(&self.socket).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let st = c.ok(json!({"cmd": "status"})).await?;
            let ready = st["modems"].as_array().map_or(0, |a| {
                a.iter().filter(|m| m["state"] == json!("ready")).count()
            });
            if ready >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("only {ready} of {n} modems ready after {timeout:?}: {st}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn proc(&self) -> ProcStat {
        proc_stat(self.child.id())
    }

    /// The next tap event matching `pred`, or an error after `timeout`.
    async fn next_tap(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&TapEvent) -> bool,
    ) -> Result<TapEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.taps.recv()).await {
                Ok(Some(ev)) if pred(&ev) => return Ok(ev),
                Ok(Some(_)) => {}
                Ok(None) => bail!("tap closed"),
                Err(_) => bail!(
                    "no expected modem event in {timeout:?}; log:\n{}",
                    self.log_tail()
                ),
            }
        }
    }

    /// Drops tap events already seen.
    fn drain_taps(&mut self) {
        while self.taps.try_recv().is_ok() {}
    }

    async fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for s in self.sims.drain(..) {
            s.shutdown().await;
        }
        Ok(())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if DB_DIR.get().is_some() {
            for sfx in ["", "-wal", "-shm"] {
                let mut p = self.db.clone().into_os_string();
                p.push(sfx);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

fn write_config(
    config: &Path,
    db: &Path,
    socket: &Path,
    spool: &Path,
    dir: &Path,
    modems: usize,
) -> Result<()> {
    let mut toml = format!(
        "[store]\npath = \"{}\"\n\n[control]\nsocket = \"{}\"\nmax_clients = 1024\n\n[spool]\ndir = \"{}\"\n\n[log]\nlevel = \"warn\"\n\n",
        db.display(),
        socket.display(),
        spool.display()
    );
    toml.push_str(&EXTRA_TOML.lock().map(|e| e.clone()).unwrap_or_default());
    for i in 0..modems {
        toml.push_str(&format!(
            "[[modem]]\nname = \"m{i}\"\ndevice = \"{}\"\n\n",
            dir.join(format!("modem{i}")).display()
        ));
    }
    std::fs::write(config, toml).context("writing the config")
}

/// CPU seconds (user + system), resident and peak memory of `pid`.
fn proc_stat(pid: u32) -> ProcStat {
    let mut p = ProcStat::default();
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the ")" that ends the command name: state is field 3,
        // utime 14, stime 15.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            p.cpu = (num(11) + num(12)) / USER_HZ;
        }
    }
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let kib = || {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            if line.starts_with("VmRSS:") {
                p.rss_mib = kib() / 1024.0;
            } else if line.starts_with("VmHWM:") {
                p.hwm_mib = kib() / 1024.0;
            } else if line.starts_with("Threads:") {
                p.threads = kib() as u64;
            }
        }
    }
    p
}

// ---------------------------------------------------------------- control client

/// One control connection; requests may be pipelined.
struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    line: String,
}

impl Client {
    async fn connect(path: &Path) -> Result<Client> {
        let s = UnixStream::connect(path)
            .await
            .with_context(|| format!("connecting to {}", path.display()))?;
        let (r, w) = s.into_split();
        Ok(Client {
            r: BufReader::new(r),
            w,
            line: String::new(),
        })
    }

    async fn write(&mut self, req: &Value) -> Result<()> {
        let mut line = req.to_string();
        line.push('\n');
        self.w.write_all(line.as_bytes()).await?;
        Ok(())
    }

    async fn read(&mut self) -> Result<Value> {
        self.line.clear();
        let n = tokio::time::timeout(Duration::from_secs(60), self.r.read_line(&mut self.line))
            .await
            .map_err(|_| anyhow!("no reply in 60 s"))??;
        if n == 0 {
            bail!("the daemon closed the connection");
        }
        Ok(serde_json::from_str(&self.line)?)
    }

    async fn ok(&mut self, req: Value) -> Result<Value> {
        self.write(&req).await?;
        let r = self.read().await?;
        if r["ok"] != json!(true) {
            bail!("{req} -> {r}");
        }
        Ok(r["result"].clone())
    }

    /// Subscribes; the connection then carries events only.
    async fn watch(path: &Path) -> Result<Client> {
        let mut c = Client::connect(path).await?;
        c.ok(json!({"cmd": "watch"})).await?;
        Ok(c)
    }

    /// The next event of type `ty`.
    async fn event(&mut self, ty: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = tokio::time::timeout_at(deadline, self.read())
                .await
                .map_err(|_| anyhow!("no {ty} event in {timeout:?}"))??;
            if v["event"]["type"] == json!(ty) {
                return Ok(v["event"].clone());
            }
        }
    }
}

/// Queues `m` single-part messages through `conns` pipelined connections;
/// returns when every one is acknowledged (durable).
async fn send_many(socket: &Path, m: usize, conns: usize) -> Result<()> {
    const WINDOW: usize = 64;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let share = m / conns + usize::from(c < m % conns);
        let socket = socket.to_path_buf();
        tasks.push(tokio::spawn(async move {
            let mut cl = Client::connect(&socket).await?;
            let (mut sent, mut acked) = (0usize, 0usize);
            while acked < share {
                while sent < share && sent - acked < WINDOW {
                    let req =
                        json!({"cmd": "send", "to": OUTSIDE, "text": format!("bench {c}-{sent}")});
                    cl.write(&req).await?;
                    sent += 1;
                }
                let r = cl.read().await?;
                if r["ok"] != json!(true) {
                    bail!("send refused: {r}");
                }
                acked += 1;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

// ---------------------------------------------------------------- scenarios

struct Throughput {
    /// Parts/s while every modem was busy.
    rate: f64,
    /// Parts/s from the first `AT+CMGS` to the last transmission.
    whole: f64,
    cpu: f64,
    hwm_mib: f64,
}

/// Collects `parts` transmissions; returns per-modem first `AT+CMGS` times and
/// all transmission times.
async fn collect_sends(
    rig: &mut Rig,
    parts: usize,
    timeout: Duration,
) -> Result<(HashMap<String, Instant>, Vec<Instant>)> {
    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut done = Vec::with_capacity(parts);
    let deadline = tokio::time::Instant::now() + timeout;
    while done.len() < parts {
        match tokio::time::timeout_at(deadline, rig.taps.recv()).await {
            Ok(Some(TapEvent::Command { msisdn, line, at })) => {
                if line.starts_with("AT+CMGS") {
                    first.entry(msisdn).or_insert(at);
                }
            }
            Ok(Some(TapEvent::Transmitted { at, .. })) => done.push(at),
            Ok(None) => bail!("tap closed"),
            Err(_) => bail!(
                "only {} of {parts} parts sent in {timeout:?}; log:\n{}",
                done.len(),
                rig.log_tail()
            ),
        }
    }
    Ok((first, done))
}

async fn throughput(bin: &Path, n: usize, latency: Duration, parts: usize) -> Result<Throughput> {
    let faults = Faults {
        cmgs_latency: latency,
        ..Faults::default()
    };
    let mut rig = Rig::start(bin, n, faults, false).await?;
    send_many(&rig.socket, parts, 8).await?;
    rig.drain_taps();
    rig.add_modems().await?;
    let timeout = Duration::from_secs(120) + latency * (parts as u32) * 3 / (n as u32);
    let (first, done) = collect_sends(&mut rig, parts, timeout).await?;
    let start_all = first
        .values()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("no AT+CMGS"))?;
    let start_any = first
        .values()
        .min()
        .copied()
        .ok_or_else(|| anyhow!("no AT+CMGS"))?;
    let last = done
        .iter()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("nothing sent"))?;
    // Every modem is busy from the last one's first `AT+CMGS` on; parts
    // transmitted after it count against the window that follows.
    let in_window = done.iter().filter(|&&t| t > start_all + latency).count();
    let window = last
        .saturating_duration_since(start_all + latency)
        .as_secs_f64();
    let whole = parts as f64 / last.saturating_duration_since(start_any).as_secs_f64();
    let rate = if first.len() == n && window > 0.0 {
        in_window as f64 / window
    } else {
        whole
    };
    let p = rig.proc();
    rig.stop().await?;
    Ok(Throughput {
        rate,
        whole,
        cpu: p.cpu,
        hwm_mib: p.hwm_mib,
    })
}

struct HookFigures {
    messages: usize,
    sent_after: f64,
    drained_after: f64,
    runs_per_s: f64,
    runs: u64,
}

/// A burst of `m` queued messages with a `sent` hook (`argv`), then 4
/// instant modems: how long until every message is sent, and until the
/// hook's backlog in the event log is drained (`status` → `events.pending`).
async fn hooks(bin: &Path, m: usize, argv: &str) -> Result<HookFigures> {
    *EXTRA_TOML.lock().map_err(|_| anyhow!("lock"))? =
        format!("[hooks]\nsent = {argv}\ntimeout = \"60s\"\n\n");
    // The hook stays in the config for the whole run (`add_modems`
    // rewrites it); cleared again when the rig stops.
    let mut rig = Rig::start(bin, 4, Faults::default(), false).await?;
    send_many(&rig.socket, m, 8).await?;
    rig.drain_taps();
    let start = Instant::now();
    rig.add_modems().await?;
    let mut c = Client::connect(&rig.socket).await?;
    let mut sent_after = None;
    let deadline = start + Duration::from_secs(900);
    let drained = loop {
        let s = c.ok(json!({"cmd": "status"})).await?;
        let q = &s["queue"];
        let done = q["sent"].as_u64().unwrap_or(0) + q["delivered"].as_u64().unwrap_or(0);
        if sent_after.is_none() && done as usize >= m {
            sent_after = Some(start.elapsed());
        }
        if sent_after.is_some() && s["events"]["pending"]["hook:sent"] == json!(0) {
            break start.elapsed();
        }
        if Instant::now() > deadline {
            bail!("hook backlog not drained: {s}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let runs = m as u64;
    rig.stop().await?;
    EXTRA_TOML.lock().map_err(|_| anyhow!("lock"))?.clear();
    let sent_after = sent_after.unwrap_or(drained).as_secs_f64();
    Ok(HookFigures {
        messages: m,
        sent_after,
        drained_after: drained.as_secs_f64(),
        runs_per_s: runs as f64 / drained.as_secs_f64(),
        runs,
    })
}

fn is_cmgs(e: &TapEvent) -> bool {
    matches!(e, TapEvent::Command { line, .. } if line.starts_with("AT+CMGS"))
}

fn is_transmit(e: &TapEvent) -> bool {
    matches!(e, TapEvent::Transmitted { .. })
}

/// (spool file -> AT+CMGS, socket send -> AT+CMGS), one message at a time.
async fn pickup(bin: &Path, samples: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let t = Duration::from_secs(10);
    let mut rig = Rig::start(bin, 1, Faults::default(), true).await?;
    let mut watch = Client::watch(&rig.socket).await?;
    let outgoing = rig.spool.join("outgoing");
    std::fs::create_dir_all(&outgoing)?;
    let mut spool = Vec::with_capacity(samples);
    for i in 0..samples {
        let tmp = rig.spool.join(format!(".bench-{i}"));
        std::fs::write(&tmp, format!("To: {OUTSIDE}\n\nspool pickup {i}\n"))?;
        let t0 = Instant::now();
        std::fs::rename(&tmp, outgoing.join(format!("bench-{i}")))?;
        let ev = rig.next_tap(t, is_cmgs).await?;
        if let TapEvent::Command { at, .. } = ev {
            spool.push(at.saturating_duration_since(t0));
        }
        rig.next_tap(t, is_transmit).await?;
        watch.event("sent", t).await?;
    }
    let mut socket = Vec::with_capacity(samples);
    let mut c = Client::connect(&rig.socket).await?;
    for i in 0..samples {
        let req = json!({"cmd": "send", "to": OUTSIDE, "text": format!("socket pickup {i}")});
        let t0 = Instant::now();
        c.write(&req).await?;
        let ev = rig.next_tap(t, is_cmgs).await?;
        if let TapEvent::Command { at, .. } = ev {
            socket.push(at.saturating_duration_since(t0));
        }
        let r = c.read().await?;
        if r["ok"] != json!(true) {
            bail!("send refused: {r}");
        }
        rig.next_tap(t, is_transmit).await?;
        watch.event("sent", t).await?;
    }
    rig.stop().await?;
    Ok((spool, socket))
}

/// (+CMTI -> `received` event, +CMTI -> row returned by `inbox`).
async fn inbound(bin: &Path, samples: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let t = Duration::from_secs(10);
    let rig = Rig::start(bin, 1, Faults::default(), true).await?;
    let mut watch = Client::watch(&rig.socket).await?;
    let mut c = Client::connect(&rig.socket).await?;
    let (mut event, mut inbox) = (Vec::new(), Vec::new());
    let mut since = 0i64;
    for i in 0..samples {
        let text = format!("inbound {i}");
        let t0 = Instant::now();
        rig.net.inject(OUTSIDE, &msisdn(0), &text)?;
        watch.event("received", t).await?;
        event.push(t0.elapsed());
        let rows = c
            .ok(json!({"cmd": "inbox", "since": since, "limit": 10}))
            .await?;
        let row = rows
            .as_array()
            .and_then(|a| a.iter().find(|r| r["text"] == json!(text)))
            .ok_or_else(|| anyhow!("{text:?} not in the inbox after its event: {rows}"))?;
        inbox.push(t0.elapsed());
        since = row["id"].as_i64().unwrap_or(since);
        // The modem deletes the stored SMS after the commit; wait for it so
        // the next sample starts from an idle modem.
        rig.sims
            .first()
            .ok_or_else(|| anyhow!("no modem"))?
            .wait_stored(0, t)
            .await?;
    }
    rig.stop().await?;
    Ok((event, inbox))
}

struct RunFigures {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
    hwm_mib: f64,
}

async fn run10k(bin: &Path) -> Result<RunFigures> {
    const M: usize = 10_000;
    let mut rig = Rig::start(bin, 4, Faults::default(), true).await?;
    let before = rig.proc();
    let t0 = Instant::now();
    let socket = rig.socket.clone();
    let sender = tokio::spawn(async move { send_many(&socket, M, 8).await });
    collect_sends(&mut rig, M, Duration::from_secs(600)).await?;
    sender.await??;
    let wall = t0.elapsed().as_secs_f64();
    let after = rig.proc();
    rig.stop().await?;
    Ok(RunFigures {
        wall,
        cpu: after.cpu - before.cpu,
        rss_mib: after.rss_mib,
        hwm_mib: after.hwm_mib,
    })
}

async fn idle(bin: &Path, n: usize, window: Duration) -> Result<ProcStat> {
    let rig = Rig::start(bin, n, Faults::default(), true).await?;
    let before = rig.proc();
    tokio::time::sleep(window).await;
    let mut after = rig.proc();
    after.cpu -= before.cpu;
    rig.stop().await?;
    Ok(after)
}

struct QueueFigures {
    intake: f64,
    rss_queued: f64,
    drain: f64,
    hwm_mib: f64,
    rss_after: f64,
    cpu: f64,
    db_mib: f64,
}

async fn queue(bin: &Path, m: usize, sent: usize) -> Result<QueueFigures> {
    let mut rig = Rig::start(bin, 4, Faults::default(), false).await?;
    let t0 = Instant::now();
    send_many(&rig.socket, m, 8).await?;
    let intake = m as f64 / t0.elapsed().as_secs_f64();
    let queued = rig.proc();
    rig.drain_taps();
    rig.add_modems().await?;
    let (first, done) = collect_sends(&mut rig, sent, Duration::from_secs(1800)).await?;
    let start = first
        .values()
        .min()
        .copied()
        .ok_or_else(|| anyhow!("no AT+CMGS"))?;
    let last = done
        .iter()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("nothing sent"))?;
    let drain = sent as f64 / last.saturating_duration_since(start).as_secs_f64();
    let after = rig.proc();
    let db_bytes: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|sfx| {
            let mut p = rig.db.clone().into_os_string();
            p.push(sfx);
            std::fs::metadata(PathBuf::from(p)).ok().map(|m| m.len())
        })
        .sum();
    rig.stop().await?;
    Ok(QueueFigures {
        intake,
        rss_queued: queued.rss_mib,
        drain,
        hwm_mib: after.hwm_mib,
        rss_after: after.rss_mib,
        cpu: after.cpu,
        db_mib: db_bytes as f64 / (1024.0 * 1024.0),
    })
}

// ---------------------------------------------------------------- smstools3

/// CPU seconds of `pid` and its children, and the sum of their peak RSS.
fn tree_stat(pid: u32) -> ProcStat {
    let mut total = proc_stat(pid);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let ppid = std::fs::read_to_string(format!("/proc/{child}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')').and_then(|(_, r)| {
                    r.split_whitespace()
                        .nth(1)
                        .and_then(|p| p.parse::<u32>().ok())
                })
            });
        if ppid == Some(pid) {
            let c = proc_stat(child);
            total.cpu += c.cpu;
            total.rss_mib += c.rss_mib;
            total.hwm_mib += c.hwm_mib;
        }
    }
    total
}

/// smstools3's `smsd` on the same simulated modems: `parts` spool files
/// written before it starts, then timed from the first `AT+CMGS` to the last
/// transmission, like `throughput`.
async fn smstools(n: usize, latency: Duration, parts: usize) -> Result<Throughput> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let net = Network::new(NetworkOptions::default());
    let (tx, mut taps) = mpsc::unbounded_channel();
    let mut sims = Vec::new();
    for i in 0..n {
        let mut spec = SimSpec::new(&format!("m{i}"), Personality::Generic, &msisdn(i));
        spec.faults.cmgs_latency = latency;
        let sim = SimModem::start(&net, spec, Some(dir.path().join(format!("modem{i}")))).await?;
        sim.set_tap(tx.clone());
        sims.push(sim);
    }
    let d = |s: &str| dir.path().join(s);
    for s in ["outgoing", "checked", "failed", "sent", "incoming"] {
        std::fs::create_dir_all(d(s))?;
    }
    let devices: Vec<String> = (0..n).map(|i| format!("GSM{i}")).collect();
    let mut conf = format!(
        "devices = {}\noutgoing = {}\nchecked = {}\nfailed = {}\nsent = {}\nincoming = {}\n\
         logfile = {}\nloglevel = 5\ninfofile = {}\npidfile = {}\n\
         delaytime = 1\ndelaytime_mainprocess = 1\ntrust_outgoing = yes\nreceive_before_send = no\nautosplit = 3\n\n",
        devices.join(","),
        d("outgoing").display(),
        d("checked").display(),
        d("failed").display(),
        d("sent").display(),
        d("incoming").display(),
        d("smsd.log").display(),
        d("smsd.working").display(),
        d("smsd.pid").display(),
    );
    for (i, name) in devices.iter().enumerate() {
        conf.push_str(&format!(
            "[{name}]\ndevice = {}\nincoming = no\nbaudrate = 115200\ncheck_network = 0\n\n",
            d(&format!("modem{i}")).display()
        ));
    }
    std::fs::write(d("smsd.conf"), conf)?;
    for i in 0..parts {
        let tmp = d(&format!(".f{i}"));
        std::fs::write(
            &tmp,
            format!("To: {}\n\nbench {i}\n", OUTSIDE.trim_start_matches('+')),
        )?;
        std::fs::rename(&tmp, d(&format!("outgoing/bench{i:06}")))?;
    }
    let mut child = Command::new("smsd")
        .arg("-t")
        .arg(format!("-c{}", d("smsd.conf").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting smsd (apt-get install smstools)")?;
    let mut first: HashMap<String, Instant> = HashMap::new();
    let mut done = Vec::with_capacity(parts);
    let timeout = Duration::from_secs(120) + Duration::from_secs(2) * (parts as u32) / (n as u32);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut failure = None;
    while done.len() < parts {
        match tokio::time::timeout_at(deadline, taps.recv()).await {
            Ok(Some(TapEvent::Command { msisdn, line, at })) if line.starts_with("AT+CMGS") => {
                first.entry(msisdn).or_insert(at);
            }
            Ok(Some(TapEvent::Transmitted { at, .. })) => done.push(at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                let log = std::fs::read_to_string(d("smsd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                failure = Some(anyhow!(
                    "smsd sent {} of {parts} in {timeout:?}; log tail:\n{}",
                    done.len(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
                break;
            }
        }
    }
    let p = tree_stat(child.id());
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let stop = Instant::now();
    while child.try_wait()?.is_none() && stop.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    for s in sims {
        s.shutdown().await;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let start_all = first
        .values()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("no AT+CMGS"))?;
    let start_any = first
        .values()
        .min()
        .copied()
        .ok_or_else(|| anyhow!("no AT+CMGS"))?;
    let last = done
        .iter()
        .max()
        .copied()
        .ok_or_else(|| anyhow!("nothing sent"))?;
    let in_window = done.iter().filter(|&&t| t > start_all + latency).count();
    let window = last
        .saturating_duration_since(start_all + latency)
        .as_secs_f64();
    let whole = parts as f64 / last.saturating_duration_since(start_any).as_secs_f64();
    Ok(Throughput {
        rate: if first.len() == n && window > 0.0 {
            in_window as f64 / window
        } else {
            whole
        },
        whole,
        cpu: p.cpu,
        hwm_mib: p.hwm_mib,
    })
}
