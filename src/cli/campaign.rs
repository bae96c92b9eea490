//! `smsgate campaign create|list|show|pause|resume|cancel`: campaigns over
//! the control socket. Parses, sends one request, prints.

use std::io::Write;

use serde_json::Value;

use super::client::{Client, Conn};
use super::CliError;
use crate::control::protocol::{CampaignArgs, CampaignWindowArgs, Request};

#[derive(clap::Args, Debug)]
pub struct CampaignArgsCli {
    #[command(subcommand)]
    pub cmd: CampaignCmd,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Subcommand, Debug)]
pub enum CampaignCmd {
    /// Create a campaign from a CSV file (header row; a `to` column; every
    /// other column a `{{variable}}` of the text).
    Create {
        #[arg(long)]
        name: String,
        /// The text, with `{{column}}` placeholders.
        #[arg(long)]
        text: String,
        #[arg(long)]
        csv: std::path::PathBuf,
        /// Send only between these local times, e.g. 09:00-20:00.
        #[arg(long, requires = "tz")]
        window: Option<String>,
        /// The window's time zone, e.g. Europe/Berlin.
        #[arg(long, requires = "window")]
        tz: Option<String>,
        /// At most N messages a minute, e.g. 30/min (or 30).
        #[arg(long)]
        rate: Option<String>,
        #[arg(long, value_parser = ["urgent", "high", "normal", "low"])]
        priority: Option<String>,
        /// Do not ask for status reports.
        #[arg(long)]
        no_report: bool,
        #[arg(long)]
        json: bool,
    },
    /// Campaigns with their counters, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One campaign with its counters.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// No new part of the campaign starts.
    Pause {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Continue a paused campaign.
    Resume {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Cancel what is still queued.
    Cancel {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

fn rate(v: &str) -> Result<u32, CliError> {
    let n = v.trim().trim_end_matches("/min").trim();
    n.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CliError::usage(format!("--rate {v:?}: expected N/min, e.g. 30/min")))
}

fn line(v: &Value) -> String {
    let s = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    format!(
        "{}\t{}\t{}\ttotal {}\tqueued {}\tsent {}\tdelivered {}\tfailed {}\tskipped {}\texpired {}\tcancelled {}",
        s("id"),
        s("name").as_str().unwrap_or_default(),
        s("state").as_str().unwrap_or_default(),
        s("total"),
        s("queued"),
        s("sent"),
        s("delivered"),
        s("failed"),
        s("skipped"),
        s("expired"),
        s("cancelled"),
    )
}

pub fn run(args: CampaignArgsCli) -> Result<(), CliError> {
    let (req, json) = match args.cmd {
        CampaignCmd::Create {
            name,
            text,
            csv,
            window,
            tz,
            rate: r,
            priority,
            no_report,
            json,
        } => {
            let csv_text = std::fs::read_to_string(&csv)
                .map_err(|e| CliError::usage(format!("{}: {e}", csv.display())))?;
            let window = match (window, tz) {
                (Some(w), Some(tz)) => {
                    let (start, end) = w.split_once('-').ok_or_else(|| {
                        CliError::usage(format!("--window {w:?}: expected HH:MM-HH:MM"))
                    })?;
                    Some(CampaignWindowArgs {
                        start: start.trim().into(),
                        end: end.trim().into(),
                        tz,
                    })
                }
                _ => None,
            };
            let req = Request::CampaignCreate(CampaignArgs {
                name,
                text,
                csv: Some(csv_text),
                recipients: None,
                window,
                priority,
                report: Some(!no_report),
                rate_per_min: r.as_deref().map(rate).transpose()?,
                flash: false,
            });
            (req, json)
        }
        CampaignCmd::List { json } => (Request::CampaignList {}, json),
        CampaignCmd::Show { id, json } => (Request::CampaignShow { campaign: id }, json),
        CampaignCmd::Pause { id, json } => (Request::CampaignPause { campaign: id }, json),
        CampaignCmd::Resume { id, json } => (Request::CampaignResume { campaign: id }, json),
        CampaignCmd::Cancel { id, json } => (Request::CampaignCancel { campaign: id }, json),
    };
    let r = Client::connect(&args.conn.socket_path()?)?.call(&req)?;
    let mut out = std::io::stdout().lock();
    let items = match r {
        Value::Array(a) => a,
        other => vec![other],
    };
    for v in items {
        let _ = if json {
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{}", line(&v))
        };
    }
    Ok(())
}
