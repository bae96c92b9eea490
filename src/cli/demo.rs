//! `smsgate demo`: the whole gateway on simulated modems, for a newcomer's
//! first run. No hardware, no root, no config: three simulated modems on
//! pseudo-terminals, the real daemon (in this process) against them in a
//! temporary directory, a few messages sent and delivered, one received from
//! the simulated network; then the socket path and commands to try from
//! another terminal, until Ctrl-C.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::CliError;
use crate::config::Config;
use crate::sim::{Faults, Network, NetworkOptions, Personality, SimModem, SimSpec};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the working directory here instead of a temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Simulated network latency per sent part (e.g. 300ms).
    #[arg(long, default_value = "300ms")]
    pub latency: String,
}

const MODEMS: [(&str, Personality, &str); 3] = [
    ("sim1", Personality::Quectel, "+15550000001"),
    ("sim2", Personality::Huawei, "+15550000002"),
    ("sim3", Personality::Simcom, "+15550000003"),
];

pub fn run(args: DemoArgs) -> Result<(), CliError> {
    let latency = crate::config::parse_duration(&args.latency)
        .map_err(|e| CliError::usage(format!("--latency: {e}")))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("tokio runtime: {e}")))?;
    rt.block_on(demo(args.dir, latency))
}

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

async fn demo(dir: Option<PathBuf>, latency: Duration) -> Result<(), CliError> {
    let rt_err = |what: &str, e: &dyn std::fmt::Display| CliError::runtime(format!("{what}: {e}"));
    // A temporary directory unless the user asked for one.
    let tmp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).map_err(|e| rt_err("creating the directory", &e))?;
            d
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("smsgate-demo.")
                .tempdir()
                .map_err(|e| rt_err("temporary directory", &e))?;
            tmp.path().to_path_buf()
        }
    };
    say(format!("smsgate demo: working in {}", dir.display()));

    // The simulated network and modems.
    let net = Network::new(NetworkOptions {
        report_delay: Duration::from_millis(500),
        ..NetworkOptions::default()
    });
    let mut sims = Vec::new();
    for (name, personality, msisdn) in MODEMS {
        let mut spec = SimSpec::new(name, personality, msisdn);
        spec.faults = Faults {
            cmgs_latency: latency,
            ..Faults::default()
        };
        let link = dir.join(name);
        let sim = SimModem::start(&net, spec, Some(link.clone()))
            .await
            .map_err(|e| rt_err("starting a simulated modem", &e))?;
        say(format!(
            "  simulated modem {name:<5} {personality:<8?} number {msisdn}  at {}",
            link.display()
        ));
        sims.push(sim);
    }

    // The configuration.
    let config_path = dir.join("smsgate.toml");
    let socket = dir.join("smsgate.sock");
    let spool = dir.join("spool");
    // The HTTP API on a free local port (asked of the kernel, then freed
    // for the daemon to bind).
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| rt_err("finding a free port", &e))?;
    let mut toml = format!(
        "[store]\npath = {:?}\n\n[control]\nsocket = {:?}\n\n[spool]\ndir = {:?}\n\n[log]\nlevel = \"warn\"\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
        dir.join("smsgate.db"),
        socket,
        spool
    );
    for (name, _, _) in MODEMS {
        toml.push_str(&format!(
            "\n[[modem]]\nname = {name:?}\ndevice = {:?}\n",
            dir.join(name)
        ));
    }
    std::fs::write(&config_path, toml).map_err(|e| rt_err("writing the config", &e))?;
    let cfg = Config::load(&config_path).map_err(|e| CliError::runtime(e.to_string()))?;
    crate::daemon::init_tracing(&cfg.log.level);

    // The daemon, in this process.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let path = config_path.clone();
    let daemon = tokio::spawn(async move { crate::daemon::run(cfg, &path, Some(ready_tx)).await });
    if ready_rx.await.is_err() {
        return match daemon.await {
            Ok(Err(e)) => Err(CliError::runtime(format!("the daemon did not start: {e}"))),
            _ => Err(CliError::runtime("the daemon did not start")),
        };
    }
    say(format!(
        "  daemon ready, control socket {}",
        socket.display()
    ));
    say("");
    let url = format!("http://127.0.0.1:{http_port}");
    let token = match Conn::open(&socket).await {
        Ok(mut c) => c
            .call(json!({"cmd": "token_create", "name": "demo", "scopes": ["admin"]}))
            .await
            .ok()
            .and_then(|r| r.get("token").and_then(Value::as_str).map(str::to_string)),
        Err(_) => None,
    };
    say(format!(
        "  HTTP API at {url}  (OpenAPI: {url}/api/v1/openapi.json)"
    ));
    say(format!("  dashboard at {url}/  (it asks for a token once)"));
    if let Some(t) = &token {
        say(format!("  an admin token for this demo: {t}"));
    }
    say("");

    let result = script(&socket, &net).await;
    if let Err(e) = &result {
        say(format!("demo step failed: {}", e.message));
    }

    say("");
    say("The gateway keeps running. In another terminal, try:");
    let s = shell_quote(&socket);
    say(format!("  smsgate status --socket {s}"));
    say(format!("  smsgate outbox --socket {s}"));
    say(format!("  smsgate inbox --socket {s}"));
    say(format!("  smsgate watch --socket {s}"));
    say(format!(
        "  smsgate send --socket {s} --to +15550000002 --report --text 'Hi there'"
    ));
    say(format!(
        "  printf 'To: 15550000003\\n\\nFrom the spool\\n' > {0}/msg.tmp && mv {0}/msg.tmp {0}/outgoing/",
        shell_quote(&spool)
    ));
    if let Some(t) = &token {
        say(format!(
            "  curl -H 'Authorization: Bearer {t}' -d '{{\"to\": \"+15550000002\", \"text\": \"Hi over HTTP\"}}' {url}/api/v1/messages"
        ));
        say(format!(
            "  curl -N -H 'Authorization: Bearer {t}' '{url}/api/v1/events?since=0'"
        ));
    }
    say("(cargo users: `cargo run -- status --socket ...`). Ctrl-C stops the demo.");

    // The daemon handles SIGINT/SIGTERM itself and returns.
    let outcome = daemon.await;
    drop(sims);
    say("smsgate demo: stopped");
    match outcome {
        Ok(Ok(())) => result,
        Ok(Err(e)) => Err(CliError::runtime(e.to_string())),
        Err(e) => Err(CliError::runtime(format!("daemon task: {e}"))),
    }
}

fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A client connection for the demo's own requests.
struct Conn {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    wr: tokio::net::unix::OwnedWriteHalf,
}

impl Conn {
    async fn open(socket: &Path) -> Result<Conn, CliError> {
        let s = UnixStream::connect(socket)
            .await
            .map_err(|e| CliError::runtime(format!("control socket: {e}")))?;
        let (r, wr) = s.into_split();
        Ok(Conn {
            lines: BufReader::new(r).lines(),
            wr,
        })
    }

    async fn line(&mut self) -> Result<Value, CliError> {
        let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
            .await
            .map_err(|_| CliError::runtime("no answer from the daemon in 120 s"))?
            .map_err(|e| CliError::runtime(format!("control socket: {e}")))?
            .ok_or_else(|| CliError::runtime("the daemon closed the connection"))?;
        serde_json::from_str(&line).map_err(|e| CliError::runtime(format!("bad reply: {e}")))
    }

    async fn call(&mut self, req: Value) -> Result<Value, CliError> {
        let mut line = req.to_string();
        line.push('\n');
        self.wr
            .write_all(line.as_bytes())
            .await
            .map_err(|e| CliError::runtime(format!("control socket: {e}")))?;
        let reply = self.line().await?;
        if at(&reply, "ok") == &json!(true) {
            Ok(at(&reply, "result").clone())
        } else {
            Err(CliError::runtime(format!(
                "request failed: {}",
                at(&reply, "error")
            )))
        }
    }
}

/// Sends the demo messages and narrates what happens, from the daemon's own
/// event stream.
async fn script(socket: &Path, net: &Network) -> Result<(), CliError> {
    let mut watch = Conn::open(socket).await?;
    watch.call(json!({"cmd": "watch"})).await?;
    let mut ctl = Conn::open(socket).await?;

    let long = "This is a long message that does not fit in one SMS, so smsgate splits it \
                into parts with a concatenation header, sends every part through the same \
                SIM, and the phone shows one message again. Status reports come back per part \
                and the message is delivered when all of them are.";
    let sends = [
        ("+15550000002", "Hello from smsgate!", true),
        ("+15550000003", long, true),
        (
            "+15550000001",
            "Emoji travel as UCS-2: 😀🚀 and € needs an escape in GSM-7",
            true,
        ),
    ];
    let mut ids = Vec::new();
    for (to, text, report) in sends {
        let r = ctl
            .call(json!({"cmd": "send", "to": to, "text": text, "report": report}))
            .await?;
        let id = at(&r, "id").as_i64().unwrap_or(0);
        say(format!(
            "→ queued message {id} to {to} ({} part{})",
            at(&r, "parts"),
            if at(&r, "parts") == &json!(1) {
                ""
            } else {
                "s"
            }
        ));
        ids.push(id);
    }
    say("← a message from the outside world to +15550000001");
    net.inject(
        "+4917099999999",
        "+15550000001",
        "Hi gateway! 👋 Reply STOP to stop.",
    )
    .map_err(|e| CliError::runtime(format!("simulated network: {e}")))?;

    // Narrate until every sent message is delivered and the outside message
    // arrived (plus the three simulated SIM-to-SIM deliveries).
    let mut delivered = std::collections::BTreeSet::new();
    let mut received = 0;
    while delivered.len() < ids.len() || received < 4 {
        let line = watch.line().await?;
        let kind = at(at(&line, "event"), "type").as_str().unwrap_or_default();
        let ev = at(at(&line, "event"), "data");
        match kind {
            "part_sent" => say(format!(
                "  message {} part {} sent through {} (TP-MR {})",
                at(ev, "id"),
                at(ev, "seq"),
                field(ev, "modem"),
                at(ev, "mr")
            )),
            "sent" => say(format!("✓ message {} sent", at(ev, "id"))),
            "delivered" => {
                if let Some(id) = at(ev, "id").as_i64() {
                    delivered.insert(id);
                }
                say(format!(
                    "✓ message {} delivered (status reports for all parts)",
                    at(ev, "id")
                ));
            }
            "failed" => say(format!(
                "✗ message {} failed: {}",
                at(ev, "id"),
                field(ev, "error")
            )),
            "received" => {
                received += 1;
                say(format!(
                    "✉ received on {} from {}: {:?}",
                    field(ev, "modem"),
                    field(ev, "from"),
                    field(ev, "text")
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn field(v: &Value, k: &str) -> String {
    let f = at(v, k);
    f.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| f.to_string())
}

/// `v[k]` without the index operator: `null` when absent.
fn at<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or(&Value::Null)
}
