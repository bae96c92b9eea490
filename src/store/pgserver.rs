//! A real PostgreSQL server for tests: `initdb` into a temporary directory
//! as an unprivileged user (nobody, when the tests run as root), started on
//! a free port of 127.0.0.1 with `fsync` off, and watched by a small shell
//! that holds a pipe from the test process: when that process ends (even by
//! `kill -9`), the pipe closes and the shell stops the server (`pg_ctl stop
//! -m fast`) and removes its directory. The shell also stops and starts the
//! server on request, for tests of a server going away.
//!
//! Shared by the store's unit tests (`pgtest.rs`) and the integration tests
//! (`tests/common`, which include this file by path): it uses nothing of the
//! crate, only std, nix, tempfile and the postgres client.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running server and the shell that watches it.
pub struct Server {
    port: u16,
    /// The watcher: its stdin takes `stop` / `start` lines (each answered
    /// with a line on its stdout) and its end stops the server.
    watcher: Mutex<Watcher>,
}

struct Watcher {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

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

/// The watcher's script: starts the server, then serves `stop` and `start`
/// lines from its stdin (answering `stopped` / `started`); at EOF (this
/// process ended, however) it stops the server and removes the directory.
const WATCHER: &str = r#"
    # A function's "$@" is its own arguments: the command is passed on.
    up() {
        "$@" start -w -t 60 -D "$DIR/data" -l "$DIR/log" \
            -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null
    }
    up "$@" || { cat "$DIR/log" >&2; rm -rf "$DIR"; exit 1; }
    echo started
    while read -r cmd; do
        case "$cmd" in
            stop) "$@" stop -m fast -D "$DIR/data" >/dev/null 2>&1; echo stopped ;;
            start) if up "$@"; then echo started; else echo failed; fi ;;
        esac
    done
    "$@" stop -m fast -D "$DIR/data" >/dev/null 2>&1
    rm -rf "$DIR"
"#;

impl Server {
    /// `initdb` into a temporary directory and start a server on a free
    /// port of 127.0.0.1, as nobody when this runs as root.
    pub fn launch() -> Result<Server, String> {
        let bin =
            bin_dir().ok_or("no PostgreSQL server binaries (install the postgresql package)")?;
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
        let pg_ctl = bin.join("pg_ctl");
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(WATCHER).arg("pg-watcher");
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
        let Some(stdout) = child.stdout.take() else {
            return Err("the watcher has no stdout".into());
        };
        let mut watcher = Watcher {
            child,
            out: std::io::BufReader::new(stdout),
        };
        let line = watcher.line();
        if line != "started" {
            let mut err = String::new();
            if let Some(e) = watcher.child.stderr.as_mut() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            let _ = watcher.child.wait();
            return Err(format!("the PostgreSQL server did not start: {err}"));
        }
        let server = Server {
            port,
            watcher: Mutex::new(watcher),
        };
        server.wait_answering()?;
        Ok(server)
    }

    /// Stops the server (`pg_ctl stop -m fast`: every connection is closed).
    pub fn stop(&self) {
        let answer = self.command("stop");
        assert_eq!(answer, "stopped", "stopping the PostgreSQL server");
    }

    /// Starts the stopped server again, on the same port, and waits until
    /// it answers.
    pub fn start(&self) {
        let answer = self.command("start");
        assert_eq!(answer, "started", "starting the PostgreSQL server again");
        if let Err(e) = self.wait_answering() {
            panic!("the PostgreSQL server does not answer after a restart: {e}");
        }
    }

    fn command(&self, cmd: &str) -> String {
        let mut w = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stdin) = w.child.stdin.as_mut() {
            let _ = writeln!(stdin, "{cmd}");
            let _ = stdin.flush();
        }
        w.line()
    }

    fn wait_answering(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match admin(self.port, |c| c.batch_execute("SELECT 1")) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The URL of a fresh, empty database on this server.
    pub fn fresh_url(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let create = format!("CREATE DATABASE {name}");
        if let Err(e) = admin(self.port, move |c| c.batch_execute(&create)) {
            panic!("create a test database: {e}");
        }
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Watcher {
    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = self.out.read_line(&mut line);
        line.trim().to_string()
    }
}

/// A server of its own for a test that stops and starts it (the shared one
/// serves the other tests of the binary meanwhile); `None` (skip) when none
/// can be started and `CI` is not set.
pub fn private_server() -> Option<Server> {
    match Server::launch() {
        Ok(s) => Some(s),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and no PostgreSQL server could be started: {e}")
        }
        Err(e) => {
            eprintln!("skipping a PostgreSQL test: {e}");
            None
        }
    }
}

/// Runs `f` on a connection to the `postgres` database, on a thread of its
/// own (the blocking client must not run inside an async runtime).
pub fn admin<T: Send + 'static>(
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
