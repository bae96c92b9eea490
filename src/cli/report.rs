//! `smsgate report`: asks the daemon for the delivery report over the
//! control socket and prints it as a table, JSON or CSV. The figures are
//! the store's ([`crate::store::Report`]); this file only prints them.

use clap::Args;

use super::client::{Client, Conn};
use super::CliError;
use crate::control::protocol::Request;
use crate::store::Report;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// How far back: a duration (7d, 12h, 90m) or an RFC 3339 time.
    #[arg(long, default_value = crate::gateway::DEFAULT_REPORT_SINCE)]
    pub since: String,
    /// Group by modem, day or campaign (messages carry no campaign yet:
    /// everything is in `none`).
    #[arg(long, default_value = "modem", value_parser = ["modem", "day", "campaign"])]
    pub by: String,
    #[command(flatten)]
    pub conn: Conn,
    /// One JSON object, as the socket and `GET /api/v1/report` give it.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV for spreadsheets: a header line, then one line per group.
    #[arg(long)]
    pub csv: bool,
}

pub fn run(args: ReportArgs) -> Result<(), CliError> {
    let req = Request::Report {
        since: Some(args.since),
        by: Some(args.by),
    };
    let result = Client::connect(&args.conn.socket_path()?)?.call(&req)?;
    if args.json {
        println!("{result}");
        return Ok(());
    }
    let report: Report = serde_json::from_value(result)
        .map_err(|e| CliError::runtime(format!("the daemon's report is not understood: {e}")))?;
    if args.csv {
        print!("{}", report.to_csv());
    } else {
        println!("{}", render(&report).trim_end());
    }
    Ok(())
}

fn secs(v: Option<f64>) -> String {
    match v {
        Some(s) if s >= 100.0 => format!("{s:.0}s"),
        Some(s) => format!("{s:.1}s"),
        None => "-".into(),
    }
}

/// The report as an aligned table, the total last.
pub fn render(r: &Report) -> String {
    let mut rows = vec![[
        r.by.as_str().to_uppercase(),
        "MSGS".into(),
        "SENT".into(),
        "DELIV".into(),
        "FAILED".into(),
        "EXPIRED".into(),
        "PARTS".into(),
        "P.SENT".into(),
        "RECV".into(),
        "RATE".into(),
        "Q→S p50/p95".into(),
        "S→D p50/p95".into(),
    ]
    .to_vec()];
    for g in r.groups.iter().chain(std::iter::once(&r.total)) {
        rows.push(vec![
            g.group.clone(),
            g.messages.to_string(),
            g.messages_sent.to_string(),
            g.messages_delivered.to_string(),
            g.messages_failed.to_string(),
            g.messages_expired.to_string(),
            g.parts.to_string(),
            g.parts_sent.to_string(),
            g.received.to_string(),
            g.delivery_rate
                .map(|x| format!("{:.1}%", x * 100.0))
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}/{}",
                secs(g.queued_to_sent.p50_s),
                secs(g.queued_to_sent.p95_s)
            ),
            format!(
                "{}/{}",
                secs(g.sent_to_delivered.p50_s),
                secs(g.sent_to_delivered.p95_s)
            ),
        ]);
    }
    format!(
        "since {} until {}\n{}",
        r.since,
        r.until,
        super::client::table(&rows)
    )
}
