//! Command-line interface: clap definitions and dispatch to each command.
//! Business logic lives in the library modules; each subcommand file here only
//! parses its arguments, calls the library and prints.

pub mod campaign;
pub mod check_config;
pub mod client;
pub mod demo;
pub mod migrate;
pub mod optout;
pub mod pdu;
pub mod probe;
pub mod report;
pub mod sim;
pub mod token;
pub mod webhook;

use clap::{Parser, Subcommand};

/// A failure that ends the command: the message is printed as one line on
/// stderr and the process exits with `code` (1 runtime, 2 usage/config).
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    /// A runtime failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
    /// Exit 1 with nothing more to say (the answer was printed).
    pub fn runtime_quiet() -> Self {
        Self::runtime("")
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "smsgate",
    version,
    about = "SMS gateway for pools of GSM modems"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon in the foreground.
    Run {
        /// Configuration file.
        #[arg(
            short = 'c',
            long = "config",
            default_value = "/etc/smsgate/smsgate.toml"
        )]
        config: std::path::PathBuf,
    },
    /// Queue a message through the daemon; prints its id.
    Send {
        #[command(flatten)]
        conn: client::Conn,
        #[command(flatten)]
        cmd: client::SendCmd,
    },
    /// The daemon, every modem and the queue.
    Status {
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// The hosts of a cluster on PostgreSQL: each host's heartbeat, its
    /// claims and its modems, and which host serves each hook and webhook.
    Cluster {
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// One outgoing message with its parts and delivery state.
    Show {
        id: i64,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Outgoing messages, newest first.
    Outbox {
        /// queued, sending, sent, delivered, failed, cancelled, expired or skipped.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Received messages, oldest first after --since.
    Inbox {
        #[arg(long)]
        since: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued message.
    Cancel {
        id: i64,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Requeue a failed, expired or cancelled message.
    Retry {
        id: i64,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Stream events (received, sent, delivered, failed, modem up/down, …)
    /// as they happen; with --since, first every event after that id.
    Watch {
        /// Replay the events after this event id first.
        #[arg(long)]
        since: Option<i64>,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Delete finished messages, received messages, reports and events
    /// older than `[store] keep`, now (the daemon also does it hourly).
    Prune {
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Run a USSD code (e.g. *100#) on one modem and print the answer.
    Ussd {
        #[arg(long)]
        modem: String,
        code: String,
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Delivery report: per modem, day or campaign, messages and parts
    /// sent, delivered, failed, expired, received; delivery rate; times.
    Report(report::ReportArgs),
    /// Diagnose a modem port without the daemon: who holds it, whether it
    /// answers, SIM, PIN, network, signal, modes, storage, with advice.
    Probe(probe::ProbeArgs),
    /// Webhook endpoints: list, add, remove, deliveries, replay.
    Webhook(webhook::WebhookArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    #[command(hide = true)]
    Manpage,
    /// Re-read the configuration, like SIGHUP.
    Reload {
        #[command(flatten)]
        conn: client::Conn,
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration and print a summary.
    CheckConfig(check_config::CheckConfigArgs),
    /// Offline PDU tools: decode or encode SMS PDUs.
    Pdu(pdu::PduArgs),
    /// The whole gateway on simulated modems: no hardware, no root, no config.
    Demo(demo::DemoArgs),
    /// Run simulated modems on pseudo-terminals.
    Sim(sim::SimArgs),
    /// HTTP API tokens: create, list, revoke.
    Token(token::TokenArgs),
    /// Campaigns: create from a CSV, list, show, pause, resume, cancel.
    Campaign(campaign::CampaignArgsCli),
    /// The opt-out suppression list: list, add, remove.
    Optout(optout::OptoutArgs),
    /// Verification codes: send, check.
    Verify(optout::VerifyArgs),
    /// Copy a single host's SQLite store into an empty PostgreSQL
    /// database (a cluster's), keeping every id; run it with the daemon
    /// stopped.
    Migrate(migrate::MigrateArgs),
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if !matches!(
        cli.command,
        Command::Run { .. } | Command::Sim(_) | Command::Demo(_) | Command::Send { .. }
    ) {
        stop_quietly_on_closed_stdout();
    }
    use crate::control::protocol::Request;
    let result = match cli.command {
        Command::Run { config } => run_daemon(&config),
        Command::Send { conn, cmd } => client::send(&conn, cmd),
        Command::Status { conn, json } => client::single(&conn, Request::Status {}, json),
        Command::Cluster { conn, json } => client::cluster(&conn, json),
        Command::Show { id, conn, json } => {
            client::single(&conn, Request::Show { message: id }, json)
        }
        Command::Outbox {
            state,
            limit,
            conn,
            json,
        } => client::list(
            &conn,
            Request::Outbox {
                state,
                limit: Some(limit),
            },
            json,
        ),
        Command::Inbox {
            since,
            limit,
            conn,
            json,
        } => client::list(
            &conn,
            Request::Inbox {
                since,
                limit: Some(limit),
            },
            json,
        ),
        Command::Cancel { id, conn, json } => {
            client::single(&conn, Request::Cancel { message: id }, json)
        }
        Command::Retry { id, conn, json } => {
            client::single(&conn, Request::Retry { message: id }, json)
        }
        Command::Watch { since, conn, json } => client::watch(&conn, since, json),
        Command::Prune { conn, json } => client::single(&conn, Request::Prune {}, json),
        Command::Ussd {
            modem,
            code,
            conn,
            json,
        } => client::single(&conn, Request::Ussd { modem, code }, json),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "smsgate", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpage => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(CliError::runtime(format!("man page: {e}"))),
                })
        }
        Command::Reload { conn, json } => client::single(&conn, Request::Reload {}, json),
        Command::Report(args) => report::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Webhook(args) => webhook::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Pdu(args) => pdu::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Token(args) => token::run(args),
        Command::Campaign(args) => campaign::run(args),
        Command::Optout(args) => optout::run_optout(args),
        Command::Verify(args) => optout::run_verify(args),
        Command::Migrate(args) => migrate::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("smsgate: {}", e.message);
            }
            e.code
        }
    }
}

/// A command that prints (`outbox | head`, `watch | grep -m1 …`) ends
/// quietly when its reader goes away, as Unix tools do, instead of a panic
/// from `println!` on `EPIPE`: SIGPIPE gets its default action back (Rust
/// ignores it). Not for the daemon, the simulator or the demo, whose sockets
/// and terminals must see `EPIPE` as an error, nor for `send`, whose lost
/// daemon connection must be reported.
#[cfg(unix)]
fn stop_quietly_on_closed_stdout() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: restores the default disposition before any other thread
    // exists; no handler code runs.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

#[cfg(not(unix))]
fn stop_quietly_on_closed_stdout() {}

/// At most two glibc malloc arenas for the daemon's few threads (glibc
/// gives each thread that meets contention an arena of its own, up to 8 per
/// core, each holding on to its free memory): the idle daemon keeps less
/// memory, and two arenas are enough for a store thread and two workers.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it runs before the
    // daemon starts any other thread.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// `smsgate run`: loads the configuration (a bad one exits 2), sets up
/// logging and runs the daemon until SIGTERM/SIGINT.
fn run_daemon(path: &std::path::Path) -> Result<(), CliError> {
    limit_malloc_arenas();
    let cfg = crate::config::Config::load(path).map_err(|e| CliError::usage(e.to_string()))?;
    crate::daemon::init_tracing(&cfg.log.level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("tokio runtime: {e}")))?;
    rt.block_on(crate::daemon::run(cfg, path, None))
        .map_err(|e| CliError {
            code: e.exit_code(),
            message: e.to_string(),
        })
}
