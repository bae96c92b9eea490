//! `smsgate token create|list|revoke`: HTTP API tokens, managed over the
//! control socket (the daemon stores only a hash; `create` prints the secret
//! once). Parses, sends one request, prints.

use std::io::Write;

use serde_json::Value;

use super::client::{Client, Conn};
use super::CliError;
use crate::control::protocol::Request;

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub cmd: TokenCmd,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print it (shown only this once).
    Create {
        /// The token's name (the user name for HTTP Basic).
        name: String,
        /// send, read or admin (admin implies all); repeatable. Default: send and read.
        #[arg(long = "scope", value_parser = ["send", "read", "admin"])]
        scopes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (names and scopes; never the secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a token; it stops working at once.
    Revoke {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn field(v: &Value, key: &str) -> Value {
    v.get(key).cloned().unwrap_or(Value::Null)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

pub fn run(args: TokenArgs) -> Result<(), CliError> {
    let mut client = Client::connect(&args.conn.socket_path()?)?;
    let mut out = std::io::stdout().lock();
    match args.cmd {
        TokenCmd::Create { name, scopes, json } => {
            let r = client.call(&Request::TokenCreate { name, scopes })?;
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({"name": field(&r, "name"), "token": field(&r, "token"), "scopes": field(&r, "scopes")})
                );
            } else {
                let _ = writeln!(out, "{}", text(&r, "token"));
            }
        }
        TokenCmd::List { json } => {
            let r = client.call(&Request::TokenList {})?;
            for t in r.as_array().cloned().unwrap_or_default() {
                if json {
                    let _ = writeln!(out, "{t}");
                } else {
                    let scopes: Vec<&str> = t
                        .get("scopes")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{}\t{}\t{}",
                        text(&t, "name"),
                        scopes.join(","),
                        text(&t, "created_at")
                    );
                }
            }
        }
        TokenCmd::Revoke { name, json } => {
            let r = client.call(&Request::TokenRevoke { name })?;
            if json {
                let _ = writeln!(out, "{r}");
            }
        }
    }
    Ok(())
}
