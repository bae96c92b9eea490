//! The client commands (`send`, `status`, `show`, `outbox`, `inbox`,
//! `cancel`, `retry`, `watch`, `ussd`, `reload`): each is one request on the
//! control socket, printed as a readable table or, with `--json`, as JSON
//! (JSON Lines for lists). Finds the socket as CONTRACT.md says: `--socket`,
//! `$SMSGATE_SOCKET`, the `[control] socket` of `-c PATH`, then the default.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::CliError;
use crate::control::protocol::{request_line, ErrorCode, Reply, Request, SendArgs};

/// Where the daemon listens when nothing else says.
pub const DEFAULT_SOCKET: &str = "/run/smsgate/smsgate.sock";

/// Options every client command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Control socket path (overrides $SMSGATE_SOCKET and the config).
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// Configuration file to read `[control] socket` from.
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Option<PathBuf>,
}

impl Conn {
    /// The socket path, in the contract's order.
    pub fn socket_path(&self) -> Result<PathBuf, CliError> {
        if let Some(p) = &self.socket {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("SMSGATE_SOCKET").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(cfg) = &self.config {
            return socket_from_config(cfg);
        }
        Ok(PathBuf::from(DEFAULT_SOCKET))
    }
}

/// Reads only `[control] socket` from a config file, so a client works even
/// when other parts of the file would not validate.
fn socket_from_config(path: &Path) -> Result<PathBuf, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let socket = table
        .get("control")
        .and_then(|c| c.get("socket"))
        .and_then(|s| s.as_str())
        .unwrap_or(DEFAULT_SOCKET);
    Ok(PathBuf::from(socket))
}

/// A connection to the daemon.
pub struct Client {
    stream: UnixStream,
    reader: std::io::BufReader<UnixStream>,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, CliError> {
        let stream = UnixStream::connect(path).map_err(|e| {
            CliError::runtime(format!(
                "cannot reach the daemon at {}: {e} (is `smsgate run` running?)",
                path.display()
            ))
        })?;
        let reader = std::io::BufReader::new(
            stream
                .try_clone()
                .map_err(|e| CliError::runtime(format!("socket: {e}")))?,
        );
        Ok(Client {
            stream,
            reader,
            next_id: 1,
        })
    }

    /// Sends one request and returns its result, or the daemon's error as a
    /// `CliError` (exit 2 for requests the daemon found invalid, 1 otherwise).
    pub fn call(&mut self, request: &Request) -> Result<Value, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = request_line(Some(Value::from(id)), request);
        self.stream
            .write_all(line.as_bytes())
            .map_err(|e| CliError::runtime(format!("socket write: {e}")))?;
        let reply = self.read_line()?;
        let reply: Reply = serde_json::from_value(reply)
            .map_err(|e| CliError::runtime(format!("unexpected reply from the daemon: {e}")))?;
        match (reply.ok, reply.result, reply.error) {
            (true, Some(result), _) => Ok(result),
            (true, None, _) => Ok(Value::Null),
            (false, _, Some(err)) => Err(match err.code {
                ErrorCode::BadRequest | ErrorCode::Invalid | ErrorCode::TooLarge => {
                    CliError::usage(err.message)
                }
                _ => CliError::runtime(err.message),
            }),
            (false, _, None) => Err(CliError::runtime("the daemon refused without a reason")),
        }
    }

    /// Reads one JSON line from the daemon.
    pub fn read_line(&mut self) -> Result<Value, CliError> {
        use std::io::BufRead;
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| CliError::runtime(format!("socket read: {e}")))?;
        if n == 0 {
            return Err(CliError::runtime("the daemon closed the connection"));
        }
        serde_json::from_str(&line)
            .map_err(|e| CliError::runtime(format!("unexpected reply from the daemon: {e}")))
    }
}

#[derive(clap::Args, Debug)]
pub struct SendCmd {
    /// Destination number (international with or without `+`, or a short code).
    #[arg(long, required_unless_present = "to_file", conflicts_with = "to_file")]
    pub to: Option<String>,
    /// A file of numbers, one a line (`#` comments and blank lines allowed):
    /// one message each, queued in one durable batch (an alert broadcast).
    #[arg(long, value_name = "NUMBERS")]
    pub to_file: Option<std::path::PathBuf>,
    /// The text; read from standard input when absent.
    #[arg(long)]
    pub text: Option<String>,
    /// Ask for a status report.
    #[arg(long)]
    pub report: bool,
    /// Send as a flash (class 0) message.
    #[arg(long)]
    pub flash: bool,
    /// Send through this modem only.
    #[arg(long)]
    pub modem: Option<String>,
    /// Send through the modems serving this queue.
    #[arg(long)]
    pub queue: Option<String>,
    #[arg(long, value_parser = ["urgent", "high", "normal", "low"])]
    pub priority: Option<String>,
    /// Validity period, e.g. 30m, 12h, 2d, 1w.
    #[arg(long)]
    pub validity: Option<String>,
    /// Do not send before this moment (RFC 3339).
    #[arg(long)]
    pub send_after: Option<String>,
    /// `marketing` messages are not sent to numbers that opted out.
    #[arg(long, value_parser = ["transactional", "marketing"])]
    pub category: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn send(conn: &Conn, cmd: SendCmd) -> Result<(), CliError> {
    let text = match cmd.text {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .map_err(|e| CliError::usage(format!("reading the text from stdin: {e}")))?;
            // `echo hi | smsgate send` should send "hi", not "hi\n".
            if t.ends_with('\n') {
                t.pop();
                if t.ends_with('\r') {
                    t.pop();
                }
            }
            t
        }
    };
    if let Some(path) = &cmd.to_file {
        let numbers = read_numbers(path)?;
        let req = Request::SendBatch(crate::control::protocol::SendBatchArgs {
            to: numbers,
            text,
            report: cmd.report,
            flash: cmd.flash,
            modem: cmd.modem,
            queue: cmd.queue,
            priority: cmd.priority,
            validity: cmd.validity,
            category: cmd.category.clone(),
        });
        let result = Client::connect(&conn.socket_path()?)?.call(&req)?;
        let msgs = result
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for m in msgs {
            if cmd.json {
                println!("{m}");
            } else {
                println!("{}", m.get("id").cloned().unwrap_or(Value::Null));
            }
        }
        return Ok(());
    }
    let req = Request::Send(SendArgs {
        to: cmd.to.unwrap_or_default(),
        text,
        report: cmd.report,
        flash: cmd.flash,
        modem: cmd.modem,
        queue: cmd.queue,
        priority: cmd.priority,
        validity: cmd.validity,
        send_after: cmd.send_after,
        category: cmd.category,
    });
    let result = Client::connect(&conn.socket_path()?)?.call(&req)?;
    if cmd.json {
        println!("{result}");
    } else {
        println!("{}", result.get("id").cloned().unwrap_or(Value::Null));
    }
    Ok(())
}

/// `status`, `show`, `cancel`, `retry`, `ussd`, `reload`: one object back.
pub fn single(conn: &Conn, req: Request, json: bool) -> Result<(), CliError> {
    let result = Client::connect(&conn.socket_path()?)?.call(&req)?;
    if json {
        println!("{result}");
        return Ok(());
    }
    let text = match &req {
        Request::Status {} => render_status(&result),
        Request::Show { .. } => render_message(&result),
        Request::Ussd { .. } => result
            .get("answer")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => render_kv(&result),
    };
    println!("{}", text.trim_end());
    Ok(())
}

/// `outbox` and `inbox`: a list back.
pub fn list(conn: &Conn, req: Request, json: bool) -> Result<(), CliError> {
    let inbox = matches!(req, Request::Inbox { .. });
    let result = Client::connect(&conn.socket_path()?)?.call(&req)?;
    let items = result.as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if json {
        for item in &items {
            let _ = writeln!(out, "{item}");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = if inbox {
        let mut rows = vec![vec![
            "ID".into(),
            "MODEM".into(),
            "FROM".into(),
            "SENT".into(),
            "PARTS".into(),
            "TEXT".into(),
        ]];
        for m in &items {
            let parts = format!(
                "{}{}",
                field(m, "parts"),
                if m.get("complete") == Some(&Value::Bool(false)) {
                    " (incomplete)"
                } else {
                    ""
                }
            );
            rows.push(vec![
                field(m, "id"),
                field(m, "modem"),
                field(m, "from"),
                field(m, "sent_at"),
                parts,
                one_line(&field(m, "text"), 60),
            ]);
        }
        rows
    } else {
        let mut rows = vec![vec![
            "ID".into(),
            "STATE".into(),
            "TO".into(),
            "MODEM".into(),
            "PARTS".into(),
            "CREATED".into(),
            "TEXT".into(),
        ]];
        for m in &items {
            let parts = m
                .get("parts")
                .and_then(Value::as_array)
                .map(|p| p.len().to_string())
                .unwrap_or_default();
            rows.push(vec![
                field(m, "id"),
                field(m, "state"),
                field(m, "to"),
                field(m, "modem"),
                parts,
                field(m, "created_at"),
                one_line(&field(m, "text"), 50),
            ]);
        }
        rows
    };
    let _ = write!(out, "{}", table(&rows));
    Ok(())
}

pub fn watch(conn: &Conn, since: Option<i64>, json: bool) -> Result<(), CliError> {
    let mut client = Client::connect(&conn.socket_path()?)?;
    client.call(&Request::Watch { since })?;
    loop {
        let line = client.read_line()?;
        let event = line.get("event").cloned().unwrap_or(line);
        if json {
            println!("{event}");
        } else {
            println!("{}", render_event(&event));
        }
    }
}

fn field(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        flat
    }
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render_kv(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .keys()
            .map(|k| format!("{k}: {}", one_line(&field(v, k), 200)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_message(m: &Value) -> String {
    let mut out = String::new();
    for key in ["id", "state", "to", "modem", "created_at", "error"] {
        out.push_str(&format!("{key:<11}{}\n", field(m, key)));
    }
    out.push_str(&format!("{:<11}{}\n", "text", field(m, "text")));
    if let Some(parts) = m.get("parts").and_then(Value::as_array) {
        let mut rows = vec![vec![
            "SEQ".into(),
            "STATE".into(),
            "MR".into(),
            "STATUS".into(),
            "ERROR".into(),
        ]];
        for p in parts {
            rows.push(vec![
                field(p, "seq"),
                field(p, "state"),
                field(p, "mr"),
                field(p, "status"),
                field(p, "error"),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    out
}

fn render_status(s: &Value) -> String {
    let mut out = String::new();
    if let Some(d) = s.get("daemon") {
        out.push_str(&format!(
            "smsgate {} (protocol {}), pid {}, up {}s\n",
            field(d, "version"),
            field(d, "protocol"),
            field(d, "pid"),
            field(d, "uptime_s")
        ));
    }
    if let Some(st) = s.get("store") {
        match st.get("state").and_then(Value::as_str) {
            Some("waiting") => out.push_str(&format!(
                "store: {} WAITING for its server since {} ({}); new work is refused\n",
                field(st, "engine"),
                field(st, "since"),
                one_line(&field(st, "error"), 80)
            )),
            _ => out.push_str(&format!("store: {} up\n", field(st, "engine"))),
        }
    }
    if let Some(Value::Object(q)) = s.get("queue") {
        let parts: Vec<String> = q.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("queue: {}\n", parts.join(", ")));
    }
    if let Some(c) = s.get("cluster") {
        out.push_str(&render_nodes(c, false));
    }
    let mut rows = vec![vec![
        "MODEM".into(),
        "STATE".into(),
        "OPERATOR".into(),
        "REG".into(),
        "SIGNAL".into(),
        "IMEI".into(),
        "IMSI".into(),
        "SENT".into(),
        "RECEIVED".into(),
        "ERRORS".into(),
        "LAST READY".into(),
        "LAST ERROR".into(),
    ]];
    for m in s
        .get("modems")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let state = match m.get("state") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" "),
            _ => "-".into(),
        };
        rows.push(vec![
            field(m, "name"),
            state,
            field(m, "operator"),
            field(m, "registration"),
            field(m, "signal"),
            field(m, "imei"),
            field(m, "imsi"),
            field(m, "sent"),
            field(m, "received"),
            field(m, "errors"),
            field(m, "last_ready_at"),
            one_line(&field(m, "last_error"), 60),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

/// The hosts of a cluster (`status`'s `cluster`): one row per host with
/// its heartbeat's age and its modems (`detail`: one row per modem too).
pub(crate) fn render_nodes(c: &Value, detail: bool) -> String {
    let me = field(c, "node");
    let Some(nodes) = c.get("nodes").and_then(Value::as_array) else {
        return format!(
            "cluster: this host is {me}; the other hosts are unknown while the store waits\n"
        );
    };
    let mut rows = vec![vec![
        "NODE".into(),
        "STATE".into(),
        "HEARTBEAT".into(),
        "VERSION".into(),
        "PID".into(),
        "STARTED".into(),
        "CLAIMED".into(),
        "MODEMS".into(),
    ]];
    let mut modem_rows = vec![vec![
        "NODE".into(),
        "MODEM".into(),
        "STATE".into(),
        "SIM".into(),
        "IMSI".into(),
        "ICCID".into(),
        "IMEI".into(),
        "SEEN".into(),
    ]];
    for n in nodes {
        let name = field(n, "name");
        let age = n
            .get("heartbeat_age_ms")
            .and_then(Value::as_i64)
            .map(|ms| format!("{:.1}s ago", ms as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        let modems = n
            .get("modems")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let list: Vec<String> = modems
            .iter()
            .map(|m| format!("{} ({})", field(m, "modem"), field(m, "state")))
            .collect();
        rows.push(vec![
            if name == me {
                format!("{name} *")
            } else {
                name.clone()
            },
            field(n, "state"),
            age,
            field(n, "version"),
            field(n, "pid"),
            field(n, "started_at"),
            field(n, "claimed"),
            if list.is_empty() {
                "-".into()
            } else {
                list.join(", ")
            },
        ]);
        for m in modems {
            modem_rows.push(vec![
                name.clone(),
                field(m, "modem"),
                field(m, "state"),
                field(m, "sim"),
                field(m, "imsi"),
                field(m, "iccid"),
                field(m, "imei"),
                field(m, "seen_at"),
            ]);
        }
    }
    let mut out = format!("cluster: {} hosts (* this one)\n", nodes.len());
    out.push_str(&table(&rows));
    if detail && modem_rows.len() > 1 {
        out.push('\n');
        out.push_str(&table(&modem_rows));
    }
    out.push_str(&render_leases(c, &me, detail));
    out
}

/// Which host serves each hook and webhook consumer (`cluster.leases`),
/// and until when; nothing while the store waits. `detail` says so when
/// no consumer is leased.
fn render_leases(c: &Value, me: &str, detail: bool) -> String {
    let Some(leases) = c.get("leases").and_then(Value::as_array) else {
        return String::new();
    };
    if leases.is_empty() {
        return if detail {
            "\nconsumer leases: none (no hook or webhook consumer runs)\n".into()
        } else {
            String::new()
        };
    }
    let mut rows = vec![vec![
        "CONSUMER".into(),
        "SERVED BY".into(),
        "LEASE".into(),
        "EXPIRES".into(),
        "TAKEN".into(),
    ]];
    for l in leases {
        let node = field(l, "node");
        let left = l
            .get("expires_in_ms")
            .and_then(Value::as_i64)
            .map(|ms| {
                if ms > 0 {
                    format!("{:.1}s left", ms as f64 / 1000.0)
                } else {
                    format!("lapsed {:.1}s ago", -ms as f64 / 1000.0)
                }
            })
            .unwrap_or_else(|| "-".into());
        rows.push(vec![
            field(l, "consumer"),
            if node == me {
                format!("{node} *")
            } else {
                node
            },
            left,
            field(l, "expires_at"),
            field(l, "taken_at"),
        ]);
    }
    format!(
        "\nconsumer leases (each hook and webhook served by one host):\n{}",
        table(&rows)
    )
}

/// `smsgate cluster`: the hosts of the cluster and their modems, from
/// `status`.
pub fn cluster(conn: &Conn, json: bool) -> Result<(), CliError> {
    let result = Client::connect(&conn.socket_path()?)?.call(&Request::Status {})?;
    let c = result.get("cluster").cloned().unwrap_or(Value::Null);
    if json {
        println!("{c}");
        return Ok(());
    }
    if c.is_null() {
        println!("not a cluster: this daemon keeps its store in SQLite ([store] path)");
        return Ok(());
    }
    println!("{}", render_nodes(&c, true).trim_end());
    Ok(())
}

/// One line per event: id, type, then the scalar fields of its data.
fn render_event(e: &Value) -> String {
    let kind = field(e, "type");
    let id = field(e, "event_id");
    let mut rest: Vec<String> = Vec::new();
    if let Some(Value::Object(map)) = e.get("data") {
        for (k, v) in map {
            if matches!(v, Value::Array(_) | Value::Object(_) | Value::Null) {
                continue;
            }
            let v = match v {
                Value::String(s) => one_line(s, 60),
                other => other.to_string(),
            };
            rest.push(format!("{k}={v}"));
        }
    }
    format!("{id:>6} {kind:<11} {}", rest.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_the_store_waiting_and_every_node() {
        let s = serde_json::json!({
            "store": {"engine": "postgresql", "state": "waiting",
                      "since": "2026-01-01T00:00:00Z", "error": "connection refused", "reconnects": 0},
            "queue": null,
            "modems": [],
            "cluster": {"node": "gw-a", "nodes": [
                {"name": "gw-a", "state": "up", "heartbeat_age_ms": 1500, "version": "1",
                 "pid": 7, "started_at": "t", "claimed": 3,
                 "modems": [{"modem": "sim1", "state": "ready", "sim": "26201", "imsi": "26201",
                             "iccid": null, "imei": "35", "seen_at": "t"}]},
                {"name": "gw-b", "state": "late", "heartbeat_age_ms": 45000, "version": "1",
                 "pid": 8, "started_at": "t", "claimed": 0, "modems": []}
            ], "leases": [
                {"consumer": "hook:sent", "node": "gw-a", "expires_at": "2026-01-01T00:00:30Z",
                 "expires_in_ms": 8200, "taken_at": "2026-01-01T00:00:00Z"},
                {"consumer": "webhook:crm", "node": "gw-b", "expires_at": "2026-01-01T00:00:10Z",
                 "expires_in_ms": -3100, "taken_at": "2026-01-01T00:00:00Z"}
            ]}
        });
        let text = render_status(&s);
        assert!(text.contains("store: postgresql WAITING for its server since 2026-01-01T00:00:00Z (connection refused)"), "{text}");
        assert!(text.contains("gw-a *  up"), "{text}");
        assert!(text.contains("1.5s ago"), "{text}");
        assert!(text.contains("sim1 (ready)"), "{text}");
        assert!(text.contains("gw-b    late   45.0s ago"), "{text}");
        let detail = render_nodes(&s["cluster"], true);
        assert!(detail.contains("gw-a  sim1   ready  26201"), "{detail}");
        for shown in [&text, &detail] {
            assert!(shown.contains("consumer leases"), "{shown}");
            assert!(
                shown.contains("hook:sent    gw-a *     8.2s left"),
                "{shown}"
            );
            assert!(
                shown.contains("webhook:crm  gw-b       lapsed 3.1s ago  2026-01-01T00:00:10Z"),
                "{shown}"
            );
        }
        let none = render_nodes(
            &serde_json::json!({"node": "gw-a", "nodes": [], "leases": []}),
            true,
        );
        assert!(none.contains("consumer leases: none"), "{none}");
        let unknown = render_nodes(&serde_json::json!({"node": "gw-a", "nodes": null}), true);
        assert!(
            unknown.contains("unknown while the store waits"),
            "{unknown}"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["ID".to_string(), "TEXT".to_string()],
            vec!["100".to_string(), "hello".to_string()],
        ];
        assert_eq!(table(&rows), "ID   TEXT\n100  hello\n");
    }

    #[test]
    fn one_line_flattens_and_truncates() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }

    #[test]
    fn socket_order() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "[control]\nsocket = \"/tmp/x.sock\"\n").unwrap();
        let conn = Conn {
            socket: Some(PathBuf::from("/a.sock")),
            config: Some(cfg.clone()),
        };
        assert_eq!(conn.socket_path().unwrap(), PathBuf::from("/a.sock"));
        let conn = Conn {
            socket: None,
            config: Some(cfg),
        };
        // $SMSGATE_SOCKET, when set in the test environment, wins over the config.
        let expected = std::env::var("SMSGATE_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/tmp/x.sock".into());
        assert_eq!(conn.socket_path().unwrap(), PathBuf::from(expected));
    }
}

/// The numbers of a `--to-file`: one a line; blank lines and `#` comments
/// are skipped. A line that is not a number is an error naming it, and
/// nothing is sent.
pub fn read_numbers(path: &std::path::Path) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    parse_numbers(&text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// See [`read_numbers`].
pub fn parse_numbers(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or_default().trim();
        if l.is_empty() {
            continue;
        }
        let digits = l.strip_prefix('+').unwrap_or(l);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "line {}: {l:?} is not a number (digits, an optional leading +); nothing sent",
                i + 1
            ));
        }
        out.push(l.to_string());
    }
    if out.is_empty() {
        return Err("no number in the file; nothing sent".into());
    }
    Ok(out)
}

#[cfg(test)]
mod numbers_tests {
    use super::parse_numbers;

    #[test]
    fn number_files() {
        assert_eq!(
            parse_numbers("# staff\n+4915112345\n\n 0049151 # night shift\n"),
            Ok(vec!["+4915112345".to_string(), "0049151".to_string()])
        );
        let bad: &[(&str, &str)] = &[
            ("+49151\nhello\n", "line 2: \"hello\""),
            ("+49 151\n", "line 1"),
            ("# only a comment\n", "no number"),
            ("+\n", "line 1"),
        ];
        assert!(!bad.is_empty());
        for (text, want) in bad {
            let e = parse_numbers(text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
