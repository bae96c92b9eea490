//! A real PostgreSQL server for the store's tests: one per test binary,
//! started on first use (`initdb` into a temporary directory as an
//! unprivileged user, on a free port of 127.0.0.1), with a fresh database
//! per test. Tests skip when no server can be started, unless the
//! environment variable `CI` is set: then they fail.
//!
//! The server itself (initdb, the watcher shell that stops it when this
//! process ends, stop/start on request) is `pgserver.rs`, which the
//! integration tests include too. A test that restarts its server takes one
//! of its own ([`private_server`]).

use std::sync::OnceLock;

pub(crate) use super::pgserver::{private_server, Server};
use super::sql::PgConn;

static SERVER: OnceLock<Option<Server>> = OnceLock::new();

fn server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| match Server::launch() {
            Ok(s) => Some(s),
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("CI is set and no PostgreSQL server could be started: {e}")
            }
            Err(e) => {
                eprintln!("skipping PostgreSQL tests: {e}");
                None
            }
        })
        .as_ref()
}

/// The URL of a fresh, empty database; `None` (skip) when no server runs.
/// A store on the database at `url` (a test's own), opened off the async
/// runtime (the blocking client runs a runtime of its own).
pub(crate) async fn open(url: &str) -> super::Store {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || super::Store::open_postgres(&url))
        .await
        .expect("join")
        .expect("open postgres")
}

pub(crate) fn url() -> Option<String> {
    Some(server()?.fresh_url())
}

/// A connection to a fresh, empty database (call outside async code).
pub(crate) fn database() -> Option<PgConn> {
    let url = url()?;
    Some(PgConn::connect(&url).unwrap_or_else(|e| panic!("connect to {url}: {e}")))
}

/// Runs `f` on a migrated in-memory SQLite database, then on a fresh,
/// migrated PostgreSQL database (when a server runs; see [`url`]).
pub(crate) fn on_both_engines(f: impl Fn(&dyn super::sql::Db)) {
    let mut lite = rusqlite::Connection::open_in_memory().expect("memory db");
    lite.execute_batch("PRAGMA foreign_keys=ON")
        .expect("foreign keys");
    super::schema::migrate(&mut lite).expect("migrate sqlite");
    f(&lite);
    if let Some(pg) = database() {
        super::schema_pg::migrate_pg(&pg).expect("migrate postgres");
        f(&pg);
    }
}
