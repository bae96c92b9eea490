//! The spool watcher: finds files in `<dir>/outgoing/` (inotify `IN_MOVED_TO`
//! and `IN_CLOSE_WRITE`, a full rescan at start, on `IN_Q_OVERFLOW` and on a
//! slow timer), claims each by an atomic rename into `<dir>/processing/`, and
//! hands it on as a [`Claimed`]. Owns `outgoing/`, `processing/` and `failed/`
//! handling; never touches the store and never parses beyond
//! [`format::parse`](super::format::parse).
//!
//! Crash safety: a file is only removed by [`Claimed::done`], which the daemon
//! calls after its store commit. Files left in `processing/` by a crash are
//! handed on again at start with the same [`Claimed::key`] (name, device,
//! inode, mtime and size survive the rename), so the store can answer
//! "duplicate" instead of storing the message twice.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use inotify::{EventMask, Inotify, WatchMask};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::format::{self, SpoolMessage};
use super::SpoolError;

/// How long a file found by a rescan must have been left alone before it is
/// claimed (it may still be being written; its `IN_CLOSE_WRITE` comes too).
const SETTLE: Duration = Duration::from_secs(1);

/// How many claimed files may wait for the daemon.
const CHANNEL: usize = 64;

/// The directories under `spool.dir`.
#[derive(Debug)]
struct Dirs {
    outgoing: PathBuf,
    processing: PathBuf,
    failed: PathBuf,
    max_file_bytes: u64,
}

/// A running spool watcher. Dropping it (or [`Spool::stop`]) stops the task;
/// files already claimed stay in `processing/` until `done` or `fail`.
pub struct Spool {
    dirs: Arc<Dirs>,
    cancel: CancellationToken,
    rescan: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

/// A file taken out of `outgoing/` into `processing/`, waiting for the daemon
/// to store it ([`Claimed::done`]) or reject it ([`Claimed::fail`]).
#[derive(Debug)]
pub struct Claimed {
    /// The file name (as in `outgoing/`).
    pub name: String,
    /// Where it is now: `<dir>/processing/<name>`.
    pub path: PathBuf,
    /// `"{name}:{dev}:{ino}:{mtime_ns}:{size}"`, stable across the claim and
    /// across a crash: the store's idempotency key for this file.
    pub key: String,
    dirs: Arc<Dirs>,
}

impl Spool {
    /// Creates `outgoing/`, `processing/` and `failed/` under `dir` if
    /// missing and starts watching. Must be called inside a tokio runtime.
    pub fn start(
        dir: &Path,
        scan_interval: Duration,
        max_file_bytes: u64,
    ) -> Result<(Spool, mpsc::Receiver<Claimed>), SpoolError> {
        let dirs = Arc::new(Dirs {
            outgoing: dir.join("outgoing"),
            processing: dir.join("processing"),
            failed: dir.join("failed"),
            max_file_bytes,
        });
        for d in [&dirs.outgoing, &dirs.processing, &dirs.failed] {
            fs::create_dir_all(d).map_err(|e| SpoolError::io(d, e))?;
        }
        let inotify = Inotify::init().map_err(|e| SpoolError::io(&dirs.outgoing, e))?;
        inotify
            .watches()
            .add(
                &dirs.outgoing,
                WatchMask::MOVED_TO
                    | WatchMask::CLOSE_WRITE
                    | WatchMask::DELETE
                    | WatchMask::MOVED_FROM
                    | WatchMask::ONLYDIR,
            )
            .map_err(|e| SpoolError::io(&dirs.outgoing, e))?;
        // SAFETY: `Inotify` owns its descriptor and closes it only when dropped
        // (or by `close(self)`, which is never called here); `as_raw_fd`
        // returns the same descriptor for as long as the `AsyncFd` holds it.
        let fd = unsafe { AsyncFd::register_with_interest(inotify, tokio::io::Interest::READABLE) }
            .map_err(|e| SpoolError::io(&dirs.outgoing, e.into_parts().1))?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let cancel = CancellationToken::new();
        let rescan = Arc::new(Notify::new());
        let watcher = Watcher {
            dirs: Arc::clone(&dirs),
            fd,
            tx,
            cancel: cancel.clone(),
            rescan: Arc::clone(&rescan),
            scan_interval: scan_interval.max(Duration::from_millis(10)),
            pending: Vec::new(),
        };
        let task = tokio::spawn(watcher.run());
        Ok((
            Spool {
                dirs,
                cancel,
                rescan,
                task: Some(task),
            },
            rx,
        ))
    }

    /// Asks for a full rescan of `outgoing/` now.
    pub fn rescan(&self) {
        self.rescan.notify_one();
    }

    /// `<dir>/outgoing`.
    pub fn outgoing_dir(&self) -> &Path {
        &self.dirs.outgoing
    }

    /// `<dir>/failed`.
    pub fn failed_dir(&self) -> &Path {
        &self.dirs.failed
    }

    /// Stops the watcher and waits for its task to end.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Claimed {
    /// Reads and parses the claimed file (at most `max_file_bytes`).
    pub fn read(&self) -> Result<SpoolMessage, SpoolError> {
        let bytes = read_limited(&self.path, self.dirs.max_file_bytes)?;
        format::parse(&bytes)
    }

    /// The message is durable in the store: removes the file (and makes the
    /// removal durable).
    pub fn done(self) -> Result<(), SpoolError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SpoolError::io(&self.path, e)),
        }
        sync_dir(&self.dirs.processing)
    }

    /// The file cannot be accepted: writes `failed/<name>` (with a numeric
    /// suffix on a clash) holding a `Fail_reason: <reason>` line followed by
    /// the original bytes, then removes the claim. Returns the new path.
    pub fn fail(self, reason: &str) -> Result<PathBuf, SpoolError> {
        let mut src = open_nofollow(&self.path).map_err(|e| SpoolError::io(&self.path, e))?;
        let header = fail_reason_line(reason);
        let dst = write_failed(&self.dirs.failed, &self.name, |out| {
            out.write_all(header.as_bytes())?;
            io::copy(&mut src, out).map(drop)
        })?;
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SpoolError::io(&self.path, e)),
        }
        sync_dir(&self.dirs.processing)?;
        Ok(dst)
    }
}

/// The `Fail_reason:` header line for `reason`, on one line.
fn fail_reason_line(reason: &str) -> String {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("Fail_reason: {}\n", one_line.trim())
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, SpoolError> {
    let f = open_nofollow(path).map_err(|e| SpoolError::io(path, e))?;
    let meta = f.metadata().map_err(|e| SpoolError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(SpoolError::NotRegular {
            kind: kind_of(&meta.file_type()),
        });
    }
    if meta.len() > max {
        return Err(SpoolError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| SpoolError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(SpoolError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io(dir, e))
}

fn kind_of(t: &fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// Writes `failed/<name>` atomically: a hidden temporary file, fsync, then a
/// hard link under the first free name (`name`, `name.1`, `name.2`, …), so an
/// existing file is never replaced.
fn write_failed(
    failed: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<PathBuf, SpoolError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = failed.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        for n in 0u32.. {
            let dst = if n == 0 {
                failed.join(name)
            } else {
                failed.join(format!("{name}.{n}"))
            };
            match fs::hard_link(&tmp, &dst) {
                Ok(()) => return Ok(dst),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free name in failed/"))
    })();
    let _ = fs::remove_file(&tmp);
    let dst = result.map_err(|e| SpoolError::io(&failed.join(name), e))?;
    sync_dir(failed)?;
    Ok(dst)
}

/// A file in `outgoing/` whose name is not UTF-8 cannot be claimed (its
/// name is part of the spool key): it goes to `failed/` under the name made
/// valid (U+FFFD for each bad byte) with a `Fail_reason:` line, like any file
/// that cannot be accepted. Names the pick-up rules skip stay where they are.
fn refuse_bad_name(dirs: &Dirs, raw: &std::ffi::OsStr) {
    let shown = raw.to_string_lossy().to_string();
    if is_skipped(&shown) {
        return;
    }
    let path = dirs.outgoing.join(raw);
    let moved = (|| -> Result<PathBuf, SpoolError> {
        let mut src = open_nofollow(&path).map_err(|e| SpoolError::io(&path, e))?;
        let header = fail_reason_line("the file name is not UTF-8");
        let dst = write_failed(&dirs.failed, &shown, |out| {
            out.write_all(header.as_bytes())?;
            io::copy(&mut src, out).map(drop)
        })?;
        fs::remove_file(&path).map_err(|e| SpoolError::io(&path, e))?;
        Ok(dst)
    })();
    match moved {
        Ok(dst) => {
            tracing::warn!(name = ?raw, moved_to = %dst.display(), "spool file refused: the file name is not UTF-8")
        }
        Err(e) => {
            tracing::warn!(name = ?raw, "spool file name is not UTF-8, and moving it to failed/ failed: {e}")
        }
    }
}

/// smstools3's pick-up rules: dot-files, `*.LOCK` and `LOCKED*` are not
/// messages.
fn is_skipped(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".LOCK") || name.starts_with("LOCKED")
}

fn key_of(name: &str, meta: &fs::Metadata) -> String {
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    format!(
        "{name}:{}:{}:{}:{}",
        meta.dev(),
        meta.ino(),
        mtime_ns,
        meta.size()
    )
}

struct Watcher {
    dirs: Arc<Dirs>,
    fd: AsyncFd<Inotify>,
    tx: mpsc::Sender<Claimed>,
    cancel: CancellationToken,
    rescan: Arc<Notify>,
    scan_interval: Duration,
    /// Names to look at again, and when.
    pending: Vec<(Instant, String)>,
}

enum Wake {
    Stop,
    Events(Vec<(EventMask, Option<OsString>)>),
    ReadError(io::Error),
    Rescan,
    Recheck,
}

/// What [`Watcher::consider`] did with a name.
enum Outcome {
    Continue,
    Stop,
}

impl Watcher {
    async fn run(mut self) {
        if let Outcome::Stop = self.leftovers().await {
            return;
        }
        if let Outcome::Stop = self.scan().await {
            return;
        }
        let mut ticker =
            tokio::time::interval_at(Instant::now() + self.scan_interval, self.scan_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let next = self.pending.iter().map(|(t, _)| *t).min();
            let wake = tokio::select! {
                _ = self.cancel.cancelled() => Wake::Stop,
                _ = self.tx.closed() => Wake::Stop,
                r = self.fd.readable_mut() => match r {
                    Err(e) => Wake::ReadError(e),
                    Ok(mut guard) => match guard.try_io(|inner| {
                        let events = inner.get_mut().read_events(&mut buf)?;
                        Ok(events.map(|e| (e.mask, e.name.map(|n| n.to_os_string()))).collect::<Vec<_>>())
                    }) {
                        Ok(Ok(events)) => Wake::Events(events),
                        Ok(Err(e)) => Wake::ReadError(e),
                        Err(_would_block) => Wake::Events(Vec::new()),
                    },
                },
                _ = ticker.tick() => Wake::Rescan,
                _ = self.rescan.notified() => Wake::Rescan,
                _ = sleep_until_opt(next) => Wake::Recheck,
            };
            let outcome = match wake {
                Wake::Stop => Outcome::Stop,
                Wake::Events(events) => self.on_events(events).await,
                Wake::ReadError(e) => {
                    tracing::warn!(error = %e, "reading inotify events failed; rescanning");
                    tokio::select! {
                        _ = self.cancel.cancelled() => Outcome::Stop,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => self.scan().await,
                    }
                }
                Wake::Rescan => self.scan().await,
                Wake::Recheck => self.recheck().await,
            };
            if let Outcome::Stop = outcome {
                return;
            }
        }
    }

    async fn on_events(&mut self, events: Vec<(EventMask, Option<OsString>)>) -> Outcome {
        let mut overflow = false;
        for (mask, name) in events {
            if mask.contains(EventMask::Q_OVERFLOW) {
                overflow = true;
                continue;
            }
            let Some(name) = name else { continue };
            let Some(name) = name.to_str().map(str::to_string) else {
                if mask.contains(EventMask::MOVED_TO) || mask.contains(EventMask::CLOSE_WRITE) {
                    refuse_bad_name(&self.dirs, &name);
                }
                continue;
            };
            if mask.contains(EventMask::MOVED_TO) || mask.contains(EventMask::CLOSE_WRITE) {
                if let Outcome::Stop = self.consider(&name, false).await {
                    return Outcome::Stop;
                }
            } else if let Some(base) = name.strip_suffix(".LOCK") {
                // A lock companion went away: the file may be ready now.
                if let Outcome::Stop = self.consider(base, false).await {
                    return Outcome::Stop;
                }
            }
        }
        if overflow {
            tracing::info!("inotify queue overflowed; rescanning the spool");
            return self.scan().await;
        }
        Outcome::Continue
    }

    /// Files left in `processing/` by an earlier run, handed on again.
    async fn leftovers(&mut self) -> Outcome {
        let names = match list(&self.dirs.processing, None) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the spool's processing directory");
                return Outcome::Continue;
            }
        };
        for (name, _) in names {
            let path = self.dirs.processing.join(&name);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if !meta.file_type().is_file() {
                continue;
            }
            let c = Claimed {
                key: key_of(&name, &meta),
                name,
                path,
                dirs: Arc::clone(&self.dirs),
            };
            if let Outcome::Stop = self.emit(c).await {
                return Outcome::Stop;
            }
        }
        Outcome::Continue
    }

    /// A full rescan of `outgoing/`, oldest first.
    async fn scan(&mut self) -> Outcome {
        let names = match list(&self.dirs.outgoing, Some(&self.dirs)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the spool's outgoing directory");
                return Outcome::Continue;
            }
        };
        for (name, _) in names {
            if let Outcome::Stop = self.consider(&name, true).await {
                return Outcome::Stop;
            }
        }
        Outcome::Continue
    }

    async fn recheck(&mut self) -> Outcome {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pending = later;
        for (_, name) in due {
            if let Outcome::Stop = self.consider(&name, true).await {
                return Outcome::Stop;
            }
        }
        Outcome::Continue
    }

    fn defer(&mut self, name: &str) {
        if !self.pending.iter().any(|(_, n)| n == name) {
            self.pending
                .push((Instant::now() + SETTLE, name.to_string()));
        }
    }

    /// Looks at `outgoing/<name>` and claims it if it is a message.
    async fn consider(&mut self, name: &str, from_scan: bool) -> Outcome {
        if is_skipped(name) {
            return Outcome::Continue;
        }
        let src = self.dirs.outgoing.join(name);
        let meta = match fs::symlink_metadata(&src) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Continue,
            Err(e) => {
                tracing::warn!(file = %src.display(), error = %e, "cannot stat spool file");
                return Outcome::Continue;
            }
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            return Outcome::Continue;
        }
        if !ft.is_file() {
            self.reject_special(name, &src, &ft);
            return Outcome::Continue;
        }
        if from_scan {
            let recent = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age < SETTLE);
            if recent {
                self.defer(name);
                return Outcome::Continue;
            }
        }
        if self.dirs.outgoing.join(format!("{name}.LOCK")).exists() {
            return Outcome::Continue;
        }
        let dst = self.dirs.processing.join(name);
        if fs::symlink_metadata(&dst).is_ok() {
            // A claim of the same name is still being handled; try later.
            self.defer(name);
            return Outcome::Continue;
        }
        match fs::rename(&src, &dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Continue,
            Err(e) => {
                tracing::warn!(file = %src.display(), error = %e, "cannot claim spool file");
                return Outcome::Continue;
            }
        }
        let meta = match fs::symlink_metadata(&dst) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(file = %dst.display(), error = %e, "claimed spool file vanished");
                return Outcome::Continue;
            }
        };
        let c = Claimed {
            key: key_of(name, &meta),
            name: name.to_string(),
            path: dst,
            dirs: Arc::clone(&self.dirs),
        };
        self.emit(c).await
    }

    /// A symlink, FIFO, socket or device in `outgoing/`: never opened; a
    /// `failed/<name>` file records why, and the entry is removed.
    fn reject_special(&self, name: &str, src: &Path, ft: &fs::FileType) {
        let mut reason = format!(
            "{} is not accepted; write a regular file and rename it into outgoing/",
            kind_of(ft)
        );
        if ft.is_symlink() {
            if let Ok(target) = fs::read_link(src) {
                reason.push_str(&format!(" (link target: {})", target.display()));
            }
        }
        let line = fail_reason_line(&reason);
        match write_failed(&self.dirs.failed, name, |out| {
            out.write_all(line.as_bytes())
        }) {
            Ok(dst) => {
                tracing::warn!(file = %src.display(), failed = %dst.display(), "{reason}");
                if let Err(e) = fs::remove_file(src) {
                    tracing::warn!(file = %src.display(), error = %e, "cannot remove rejected spool entry");
                }
            }
            Err(e) => {
                tracing::warn!(file = %src.display(), error = %e, "cannot write to the spool's failed directory")
            }
        }
    }

    async fn emit(&mut self, c: Claimed) -> Outcome {
        tracing::debug!(file = %c.name, key = %c.key, "claimed spool file");
        tokio::select! {
            _ = self.cancel.cancelled() => Outcome::Stop,
            r = self.tx.send(c) => if r.is_ok() { Outcome::Continue } else { Outcome::Stop },
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The entries of `dir`, oldest first (then by name); names that are not
/// UTF-8 are refused into `failed/` when `refuse` is given (`outgoing/`),
/// skipped with a warning otherwise.
fn list(dir: &Path, refuse: Option<&Dirs>) -> io::Result<Vec<(String, SystemTime)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(s) = name.to_str() else {
            match refuse {
                Some(dirs) => refuse_bad_name(dirs, &name),
                None => {
                    tracing::warn!(name = ?name.as_bytes(), "spool file name is not UTF-8; skipped")
                }
            }
            continue;
        };
        if is_skipped(s) {
            continue;
        }
        let mtime = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push((s.to_string(), mtime));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_rules() {
        let cases: &[(&str, bool)] = &[
            (".hidden", true),
            ("msg.LOCK", true),
            ("LOCKED-1", true),
            ("msg", false),
            ("msg.lock", false),
            ("a.LOCKED", false),
        ];
        assert!(!cases.is_empty());
        for (name, skipped) in cases {
            assert_eq!(is_skipped(name), *skipped, "{name}");
        }
    }

    #[test]
    fn fail_reason_is_one_line() {
        assert_eq!(fail_reason_line("a\nb\r\nc "), "Fail_reason: a b  c\n");
    }

    #[test]
    fn failed_names_get_a_suffix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write_failed(dir.path(), "m", |f| f.write_all(b"1")).expect("first");
        let b = write_failed(dir.path(), "m", |f| f.write_all(b"2")).expect("second");
        let c = write_failed(dir.path(), "m", |f| f.write_all(b"3")).expect("third");
        assert_eq!(a, dir.path().join("m"));
        assert_eq!(b, dir.path().join("m.1"));
        assert_eq!(c, dir.path().join("m.2"));
        assert_eq!(fs::read(&b).expect("read"), b"2");
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .collect();
        assert_eq!(left.len(), 3, "no temporary file is left behind");
    }
}
