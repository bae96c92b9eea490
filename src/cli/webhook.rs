//! `smsgate webhook list|add|remove|deliveries|replay`: webhook endpoints
//! over the control socket, printed as tables or, with `--json`, as JSON
//! (JSON Lines for lists). No logic beyond printing.

use std::io::Write;

use serde_json::Value;

use super::client::{self, Client, Conn};
use super::CliError;
use crate::control::protocol::Request;

#[derive(clap::Args, Debug)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub cmd: WebhookCmd,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Subcommand, Debug)]
pub enum WebhookCmd {
    /// Endpoints with their backlog and state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Register an endpoint; prints its id and secret (shown this once).
    Add {
        url: String,
        /// The endpoint's id (generated when absent; an existing one is replaced).
        #[arg(long)]
        id: Option<String>,
        /// An event type to deliver (repeat; none: every event).
        #[arg(long = "event")]
        events: Vec<String>,
        /// The `whsec_…` secret (generated when absent).
        #[arg(long)]
        secret: Option<String>,
        /// `native` (default) or `android` (SMS Gateway for Android's envelope).
        #[arg(long, value_parser = ["native", "android"])]
        flavour: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint registered with `add` or the API.
    Remove {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The latest delivery attempts of one endpoint, newest first.
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Deliver again every event after --since (and enable the endpoint).
    Replay {
        id: String,
        /// The event id to start after.
        #[arg(long)]
        since: i64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: WebhookArgs) -> Result<(), CliError> {
    let mut c = Client::connect(&args.conn.socket_path()?)?;
    let mut out = std::io::stdout().lock();
    match args.cmd {
        WebhookCmd::List { json } => {
            let items = c.call(&Request::WebhookList {})?;
            let items = items.as_array().cloned().unwrap_or_default();
            if json {
                for i in &items {
                    let _ = writeln!(out, "{i}");
                }
                return Ok(());
            }
            let mut rows = vec![[
                "ID", "URL", "EVENTS", "FLAVOUR", "SOURCE", "STATE", "PENDING",
            ]
            .map(String::from)
            .to_vec()];
            for w in &items {
                let events = w
                    .get("events")
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_else(|| "all".into());
                let state = if w.get("disabled") == Some(&Value::Bool(true)) {
                    "disabled"
                } else {
                    "enabled"
                };
                rows.push(vec![
                    field(w, "id"),
                    field(w, "url"),
                    events,
                    field(w, "flavour"),
                    field(w, "source"),
                    state.into(),
                    field(w, "pending"),
                ]);
            }
            let _ = write!(out, "{}", client::table(&rows));
        }
        WebhookCmd::Add {
            url,
            id,
            events,
            secret,
            flavour,
            json,
        } => {
            let w = c.call(&Request::WebhookAdd {
                webhook: id,
                url,
                events,
                secret,
                flavour,
            })?;
            if json {
                let _ = writeln!(out, "{w}");
            } else {
                let _ = writeln!(out, "id:     {}", field(&w, "id"));
                let _ = writeln!(out, "secret: {}", field(&w, "secret"));
            }
        }
        WebhookCmd::Remove { id, json } => {
            let r = c.call(&Request::WebhookRemove {
                webhook: id.clone(),
            })?;
            if json {
                let _ = writeln!(out, "{r}");
            } else {
                let _ = writeln!(out, "removed {id}");
            }
        }
        WebhookCmd::Deliveries { id, limit, json } => {
            let items = c.call(&Request::WebhookDeliveries {
                webhook: id,
                limit: Some(limit),
            })?;
            let items = items.as_array().cloned().unwrap_or_default();
            if json {
                for i in &items {
                    let _ = writeln!(out, "{i}");
                }
                return Ok(());
            }
            let mut rows = vec![
                ["AT", "EVENT", "ATTEMPT", "RESULT", "STATUS", "MS", "ERROR"]
                    .map(String::from)
                    .to_vec(),
            ];
            for d in &items {
                rows.push(vec![
                    field(d, "at"),
                    field(d, "event_id"),
                    field(d, "attempt"),
                    field(d, "result"),
                    field(d, "status"),
                    field(d, "duration_ms"),
                    field(d, "error"),
                ]);
            }
            let _ = write!(out, "{}", client::table(&rows));
        }
        WebhookCmd::Replay { id, since, json } => {
            let w = c.call(&Request::WebhookReplay { webhook: id, since })?;
            if json {
                let _ = writeln!(out, "{w}");
            } else {
                let _ = writeln!(
                    out,
                    "{}: delivering again every event after {since}",
                    field(&w, "id")
                );
            }
        }
    }
    Ok(())
}

fn field(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
