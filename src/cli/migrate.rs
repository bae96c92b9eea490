//! `smsgate migrate --from sqlite:PATH --to postgresql://…`: copies a single
//! host's SQLite store into an empty PostgreSQL database (see
//! `crate::store::migrate` for what is copied and the rules). Parses,
//! calls the store, prints what was copied.

use std::io::Write;

use super::CliError;
use crate::store::migrate::{self, MigrateError};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The SQLite store to read (`sqlite:/var/lib/smsgate/smsgate.db`);
    /// opened read-only. Stop the daemon that uses it first.
    #[arg(long, value_name = "sqlite:PATH")]
    pub from: String,
    /// The PostgreSQL database to fill (`postgresql://user:pass@host/db`):
    /// empty, or with no schema yet.
    #[arg(long, value_name = "postgresql://…")]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: MigrateArgs) -> Result<(), CliError> {
    if !(args.to.starts_with("postgresql://") || args.to.starts_with("postgres://")) {
        return Err(CliError::usage(
            "--to: a PostgreSQL URL (postgresql://user:password@host:port/database)",
        ));
    }
    if args.from.contains("://") {
        return Err(CliError::usage("--from: a SQLite store, sqlite:PATH"));
    }
    let from = migrate::sqlite_path(&args.from);
    let done = migrate::migrate(from, &args.to).map_err(|e| match e {
        MigrateError::Refused(m) => CliError::runtime(format!("migrate: {m}")),
        MigrateError::Store(e) => {
            CliError::runtime(format!("migrate: {e} (nothing was written to PostgreSQL)"))
        }
    })?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "version": done.version,
                "rows": done.rows(),
                "verify_key": done.verify_key,
                "tables": done
                    .tables
                    .iter()
                    .map(|(t, n)| (t.clone(), serde_json::Value::from(*n)))
                    .collect::<serde_json::Map<_, _>>(),
            })
        )
    } else {
        let mut text = String::new();
        for (table, n) in &done.tables {
            text.push_str(&format!("{table:<20} {n:>10}\n"));
        }
        writeln!(
            out,
            "{text}copied {} rows of {} tables (schema version {}); the identity sequences \
             continue after the copied ids\n{}",
            done.rows(),
            done.tables.len(),
            done.version,
            if done.verify_key {
                "the verification codes' key (verify.key) is now in the database: codes sent \
                 before the migration check on every host"
            } else {
                "no verify.key beside the SQLite store: the cluster makes its verification key \
                 when the first code is sent"
            }
        )
    };
    written.map_err(|e| CliError::runtime(format!("stdout: {e}")))
}
