//! A real PostgreSQL server for the store's tests: one per test binary,
//! started on first use (`initdb` into a temporary directory as an
//! unprivileged user, on a free port of 127.0.0.1), with a fresh database
//! per test. Tests skip when no server can be started, unless the
//! environment variable `CI` is set: then they fail.
//!
//! The server is watched by a small shell that holds a pipe from this
//! process: when the test binary exits (even by `kill -9`), the pipe closes,
//! and the shell stops the server (`pg_ctl stop -m fast`) and removes its
//! directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::sql::PgConn;

struct Server {
    port: u16,
    /// Keeps the watcher's stdin open for the life of the process.
    _watcher: Mutex<Child>,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The directory of PostgreSQL's server binaries (`initdb`, `postgres`).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SMSGATE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn free_port() -> Option<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    l.local_addr().ok().map(|a| a.port())
}

fn start() -> Result<Server, String> {
    let bin = bin_dir().ok_or("no PostgreSQL server binaries (install the postgresql package)")?;
    let root = nix::unistd::geteuid().is_root();
    // As root, the server runs as nobody, who must reach the directory:
    // /tmp, whatever TMPDIR says.
    let base = if root {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("smsgate-pg-")
        .tempdir_in(base)
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    // PostgreSQL refuses to run as root: run it as nobody, in a directory
    // nobody owns.
    let as_user = |cmd: &Path| -> Command {
        if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(cmd);
            c
        } else {
            Command::new(cmd)
        }
    };
    if root {
        let nobody = nix::unistd::User::from_name("nobody")
            .ok()
            .flatten()
            .ok_or("no user nobody")?;
        nix::unistd::chown(&dir, Some(nobody.uid), Some(nobody.gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let out = as_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port().ok_or("no free port")?;
    // The watcher: starts the server, waits for this process's end (EOF on
    // its stdin), stops the server and removes the directory.
    let pg_ctl = bin.join("pg_ctl");
    let script = r#"
        "$@" start -w -t 60 -D "$DIR/data" -l "$DIR/log" \
            -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null || { cat "$DIR/log" >&2; rm -rf "$DIR"; exit 1; }
        echo started
        cat >/dev/null
        "$@" stop -m fast -D "$DIR/data" >/dev/null 2>&1
        rm -rf "$DIR"
    "#;
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(script).arg("pg-watcher");
    if root {
        sh.args([
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ]);
    }
    let mut child = sh
        .arg(&pg_ctl)
        .env("DIR", &dir)
        .env("PORT", port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.as_mut() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    if line.trim() != "started" {
        let mut err = String::new();
        if let Some(e) = child.stderr.as_mut() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let _ = child.wait();
        return Err(format!("the PostgreSQL server did not start: {err}"));
    }
    // Make sure it answers before handing it out.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin(port, |c| c.batch_execute("SELECT 1")) {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = stdin.flush();
    }
    Ok(Server {
        port,
        _watcher: Mutex::new(child),
    })
}

/// Runs `f` on a connection to the `postgres` database, on a thread of its
/// own (the blocking client must not run inside an async runtime).
fn admin<T: Send + 'static>(
    port: u16,
    f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            postgres::NoTls,
        )
        .map_err(|e| e.to_string())?;
        f(&mut c).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

fn server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| match start() {
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
pub(crate) fn url() -> Option<String> {
    let server = server()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let create = format!("CREATE DATABASE {name}");
    if let Err(e) = admin(server.port, move |c| c.batch_execute(&create)) {
        panic!("create a test database: {e}");
    }
    Some(format!(
        "postgresql://postgres@127.0.0.1:{}/{name}",
        server.port
    ))
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
