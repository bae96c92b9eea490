//! `smsgate optout list|add|remove` (the suppression list) and `smsgate
//! verify send|check` (verification codes), over the control socket.
//! Parses, sends one request, prints.

use std::io::Write;

use serde_json::Value;

use super::client::{Client, Conn};
use super::CliError;
use crate::control::protocol::Request;

#[derive(clap::Args, Debug)]
pub struct OptoutArgs {
    #[command(subcommand)]
    pub cmd: OptoutCmd,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Subcommand, Debug)]
pub enum OptoutCmd {
    /// The numbers on the suppression list (E.164 form), in number order.
    List {
        /// Start after this number (paging).
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Put a number on the list: marketing messages to it end `skipped`.
    Add {
        number: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a number off the list.
    Remove {
        number: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(subcommand)]
    pub cmd: VerifyCmd,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Subcommand, Debug)]
pub enum VerifyCmd {
    /// Send a verification code (the code is never printed or stored).
    Send {
        #[arg(long)]
        to: String,
        /// Digits (4 to 10; default `[verify] length`).
        #[arg(long)]
        length: Option<u32>,
        /// How long the code is good, e.g. 10m.
        #[arg(long)]
        ttl: Option<String>,
        /// The text with {{code}} where the code goes.
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check a code; exit 0 when valid, 1 when not.
    Check {
        #[arg(long)]
        to: String,
        #[arg(long)]
        code: String,
        #[arg(long)]
        json: bool,
    },
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

pub fn run_optout(args: OptoutArgs) -> Result<(), CliError> {
    let mut client = Client::connect(&args.conn.socket_path()?)?;
    let mut out = std::io::stdout().lock();
    match args.cmd {
        OptoutCmd::List { after, limit, json } => {
            let r = client.call(&Request::OptoutList { after, limit })?;
            for e in r.as_array().cloned().unwrap_or_default() {
                if json {
                    let _ = writeln!(out, "{e}");
                } else {
                    let _ = writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        s(&e, "number"),
                        s(&e, "created_at"),
                        s(&e, "source"),
                        s(&e, "keyword")
                    );
                }
            }
        }
        OptoutCmd::Add { number, json } => {
            let r = client.call(&Request::OptoutAdd { number })?;
            if json {
                let _ = writeln!(out, "{r}");
            } else {
                let skipped = r
                    .get("skipped")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let was = if r.get("changed") == Some(&Value::Bool(true)) {
                    "opted out"
                } else {
                    "already opted out"
                };
                let _ = writeln!(
                    out,
                    "{} {was}; {skipped} queued marketing message(s) skipped",
                    s(&r, "number")
                );
            }
        }
        OptoutCmd::Remove { number, json } => {
            let r = client.call(&Request::OptoutRemove { number })?;
            if json {
                let _ = writeln!(out, "{r}");
            } else {
                let was = if r.get("changed") == Some(&Value::Bool(true)) {
                    "removed from the list"
                } else {
                    "was not on the list"
                };
                let _ = writeln!(out, "{} {was}", s(&r, "number"));
            }
        }
    }
    Ok(())
}

pub fn run_verify(args: VerifyArgs) -> Result<(), CliError> {
    let mut client = Client::connect(&args.conn.socket_path()?)?;
    let mut out = std::io::stdout().lock();
    match args.cmd {
        VerifyCmd::Send {
            to,
            length,
            ttl,
            text,
            json,
        } => {
            let r = client.call(&Request::VerifySend {
                to,
                length,
                ttl,
                text,
            })?;
            if json {
                let _ = writeln!(out, "{r}");
            } else {
                let _ = writeln!(
                    out,
                    "code {} sent to {} (message {}), good until {}",
                    s(&r, "id"),
                    s(&r, "to"),
                    s(&r, "message"),
                    s(&r, "expires_at")
                );
            }
        }
        VerifyCmd::Check { to, code, json } => {
            let r = client.call(&Request::VerifyCheck { to, code })?;
            let valid = r.get("valid") == Some(&Value::Bool(true));
            if json {
                let _ = writeln!(out, "{r}");
            } else if valid {
                let _ = writeln!(out, "valid");
            } else {
                let _ = writeln!(out, "invalid: {}", s(&r, "reason"));
            }
            if !valid {
                return Err(CliError::runtime_quiet());
            }
        }
    }
    Ok(())
}
