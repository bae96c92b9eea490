//! The spool watcher: finds files in `<dir>/outgoing/` (the inotify crate's
//! event stream for `IN_MOVED_TO` and `IN_CLOSE_WRITE`, a full rescan at
//! start, on `IN_Q_OVERFLOW` and on a slow timer), claims each by an atomic
//! rename into `<dir>/processing/`, and hands it on as a [`Claimed`]. Owns
//! `outgoing/`, `processing/` and `failed/` handling; never touches the store
//! and never parses beyond [`format::parse`] (and
//! [`format::peek_priority`] for the order).
//!
//! Pick-up: an empty file is a placeholder (smstools3's `sendsms` makes one
//! with `mktemp` and renames the real file over it) and is left alone until it
//! has content. Files found ready wait in a queue and are claimed only when
//! the daemon can take one: urgent and high priority first, then oldest
//! first, so a high-priority file dropped behind a backlog is not stuck
//! behind it.
//!
//! Every file-system call after [`Spool::start`] (stat, read, rename, link,
//! fsync, directory listing) runs on tokio's blocking pool, never on a
//! runtime worker thread.
//!
//! Crash safety: a file is only removed by [`Claimed::done`], which the daemon
//! calls after its store commit. Files left in `processing/` by a crash are
//! handed on again at start with the same [`Claimed::key`] (name, device,
//! inode, mtime and size survive the rename), so the store can answer
//! "duplicate" instead of storing the message twice.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventStream, Inotify, WatchMask};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::format::{self, Priority, SpoolMessage};
use super::SpoolError;

/// How long a file found by a rescan must have been left alone before it is
/// claimed (it may still be being written; its `IN_CLOSE_WRITE` comes too).
const SETTLE: Duration = Duration::from_secs(1);

/// How many claimed files may wait for the daemon. Small: the rest wait in
/// `outgoing/`, where a later high-priority file can still go first.
const CHANNEL: usize = 2;

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
        let events = inotify
            .into_event_stream(vec![0u8; 64 * 1024])
            .map_err(|e| SpoolError::io(&dirs.outgoing, e))?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let cancel = CancellationToken::new();
        let rescan = Arc::new(Notify::new());
        let watcher = Watcher {
            dirs: Arc::clone(&dirs),
            events,
            tx,
            cancel: cancel.clone(),
            rescan: Arc::clone(&rescan),
            scan_interval: scan_interval.max(Duration::from_millis(10)),
            pending: Vec::new(),
            ready: ReadyQueue::default(),
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
    /// Reads and parses the claimed file (at most `max_file_bytes`), on the
    /// blocking pool.
    pub async fn read(&self) -> Result<SpoolMessage, SpoolError> {
        let path = self.path.clone();
        let max = self.dirs.max_file_bytes;
        let bytes = run_blocking(&self.path, move || read_limited(&path, max)).await?;
        format::parse(&bytes)
    }

    /// The message is durable in the store: removes the file (and makes the
    /// removal durable), on the blocking pool.
    pub async fn done(self) -> Result<(), SpoolError> {
        let path = self.path.clone();
        run_blocking(&path, move || self.done_blocking()).await
    }

    fn done_blocking(self) -> Result<(), SpoolError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(SpoolError::io(&self.path, e)),
        }
        sync_dir(&self.dirs.processing)
    }

    /// The file cannot be accepted: writes `failed/<name>` (with a numeric
    /// suffix on a clash) holding a `Fail_reason: <reason>` line followed by
    /// the original bytes, then removes the claim, on the blocking pool.
    /// Returns the new path.
    pub async fn fail(self, reason: &str) -> Result<PathBuf, SpoolError> {
        let path = self.path.clone();
        let reason = reason.to_string();
        run_blocking(&path, move || self.fail_blocking(&reason)).await
    }

    fn fail_blocking(self, reason: &str) -> Result<PathBuf, SpoolError> {
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

/// Runs a file operation on `path` on the blocking pool; a task that did not
/// finish (runtime shutting down) is an I/O error on `path`.
async fn run_blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(SpoolError::io(path, io::Error::other(e.to_string()))),
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

/// Runs `f` on tokio's blocking pool. `None` (logged) only if the closure
/// panicked or the runtime is shutting down.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "spool file-system task did not finish");
            None
        }
    }
}

/// Files found ready in `outgoing/`, in pick-up order: higher priority first,
/// then older first, then by name. A name is queued at most once.
#[derive(Debug, Default)]
struct ReadyQueue {
    order: BTreeSet<(Reverse<u8>, SystemTime, String)>,
    by_name: HashMap<String, (Reverse<u8>, SystemTime)>,
}

impl ReadyQueue {
    fn insert(&mut self, name: String, priority: Priority, mtime: SystemTime) {
        let key = (Reverse(priority.rank()), mtime);
        if let Some(old) = self.by_name.insert(name.clone(), key) {
            self.order.remove(&(old.0, old.1, name.clone()));
        }
        self.order.insert((key.0, key.1, name));
    }

    fn pop(&mut self) -> Option<String> {
        let (_, _, name) = self.order.pop_first()?;
        self.by_name.remove(&name);
        Some(name)
    }

    fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What a look at `outgoing/<name>` found.
#[derive(Debug)]
enum Look {
    /// Not a message now (gone, skipped name, directory, empty placeholder,
    /// locked, or refused into `failed/`); an event brings it back.
    Skip,
    /// Possibly still being written, or a claim of the same name is still in
    /// `processing/`: look again after [`SETTLE`].
    Defer,
    /// Ready to be claimed.
    Ready {
        priority: Priority,
        mtime: SystemTime,
    },
}

/// How much of a file is read to find its `Priority:` header.
const PEEK_BYTES: u64 = 4096;

/// Looks at `outgoing/<name>` (blocking). A symlink, FIFO, socket or device
/// is refused into `failed/` here.
fn inspect(dirs: &Dirs, name: &str, from_scan: bool) -> Look {
    let src = dirs.outgoing.join(name);
    let meta = match precheck(dirs, name, &src) {
        Ok(m) => m,
        Err(look) => return look,
    };
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if from_scan
        && SystemTime::now()
            .duration_since(mtime)
            .is_ok_and(|age| age < SETTLE)
    {
        return Look::Defer;
    }
    let priority = match open_nofollow(&src) {
        Ok(f) => {
            let mut head = Vec::new();
            match f.take(PEEK_BYTES).read_to_end(&mut head) {
                Ok(_) => format::peek_priority(&head),
                Err(_) => Priority::Normal,
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Look::Skip,
        Err(_) => Priority::Normal,
    };
    Look::Ready { priority, mtime }
}

/// The checks made both when a file is found and again right before it is
/// claimed: `Ok` with its metadata when it is a non-empty regular file that
/// is not locked and whose name is free in `processing/`.
fn precheck(dirs: &Dirs, name: &str, src: &Path) -> Result<fs::Metadata, Look> {
    if is_skipped(name) {
        return Err(Look::Skip);
    }
    let meta = match fs::symlink_metadata(src) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Look::Skip),
        Err(e) => {
            tracing::warn!(file = %src.display(), error = %e, "cannot stat spool file");
            return Err(Look::Skip);
        }
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(Look::Skip);
    }
    if !ft.is_file() {
        reject_special(dirs, name, src, &ft);
        return Err(Look::Skip);
    }
    if meta.len() == 0 {
        // A placeholder: its content comes by a rename over it (IN_MOVED_TO)
        // or by writing it in place (IN_CLOSE_WRITE).
        tracing::debug!(file = %src.display(), "empty spool file left alone until it has content");
        return Err(Look::Skip);
    }
    if dirs.outgoing.join(format!("{name}.LOCK")).exists() {
        return Err(Look::Skip);
    }
    if fs::symlink_metadata(dirs.processing.join(name)).is_ok() {
        // A claim of the same name is still being handled; try later.
        return Err(Look::Defer);
    }
    Ok(meta)
}

/// What [`claim`] did.
enum Claim {
    Taken(Claimed),
    Skip,
    Defer,
}

/// Claims `outgoing/<name>` by an atomic rename into `processing/`
/// (blocking), after the same checks as [`inspect`].
fn claim(dirs: &Arc<Dirs>, name: &str) -> Claim {
    let src = dirs.outgoing.join(name);
    match precheck(dirs, name, &src) {
        Ok(_) => {}
        Err(Look::Defer) => return Claim::Defer,
        Err(_) => return Claim::Skip,
    }
    let dst = dirs.processing.join(name);
    match fs::rename(&src, &dst) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Claim::Skip,
        Err(e) => {
            tracing::warn!(file = %src.display(), error = %e, "cannot claim spool file");
            return Claim::Skip;
        }
    }
    match fs::symlink_metadata(&dst) {
        Ok(meta) => Claim::Taken(Claimed {
            key: key_of(name, &meta),
            name: name.to_string(),
            path: dst,
            dirs: Arc::clone(dirs),
        }),
        Err(e) => {
            tracing::warn!(file = %dst.display(), error = %e, "claimed spool file vanished");
            Claim::Skip
        }
    }
}

/// A symlink, FIFO, socket or device in `outgoing/`: never opened; a
/// `failed/<name>` file records why, and the entry is removed.
fn reject_special(dirs: &Dirs, name: &str, src: &Path, ft: &fs::FileType) {
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
    match write_failed(&dirs.failed, name, |out| out.write_all(line.as_bytes())) {
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

/// Files left in `processing/` by an earlier run (blocking).
fn leftovers(dirs: &Arc<Dirs>) -> Vec<Claimed> {
    let names = match list(&dirs.processing, None) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the spool's processing directory");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (name, _) in names {
        let path = dirs.processing.join(&name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        out.push(Claimed {
            key: key_of(&name, &meta),
            name,
            path,
            dirs: Arc::clone(dirs),
        });
    }
    out
}

/// One inotify event, as the watcher uses it.
type RawEvent = (EventMask, Option<OsString>);

/// Turns a batch of events into looks at names (blocking), in event order.
fn on_events(dirs: &Dirs, events: Vec<RawEvent>) -> (bool, Vec<(String, Look)>) {
    let mut overflow = false;
    let mut looks: Vec<(String, Look)> = Vec::new();
    for (mask, name) in events {
        if mask.contains(EventMask::Q_OVERFLOW) {
            overflow = true;
            continue;
        }
        let Some(name) = name else { continue };
        let arrived = mask.contains(EventMask::MOVED_TO) || mask.contains(EventMask::CLOSE_WRITE);
        let Some(name) = name.to_str().map(str::to_string) else {
            if arrived {
                refuse_bad_name(dirs, &name);
            }
            continue;
        };
        let target = if arrived {
            name
        } else if let Some(base) = name.strip_suffix(".LOCK") {
            // A lock companion went away: the file may be ready now.
            base.to_string()
        } else {
            continue;
        };
        let look = inspect(dirs, &target, false);
        looks.push((target, look));
    }
    (overflow, looks)
}

/// The names in `outgoing/` with their looks (blocking), skipping names
/// already queued.
fn scan(dirs: &Dirs, queued: HashSet<String>) -> Vec<(String, Look)> {
    match list(&dirs.outgoing, Some(dirs)) {
        Ok(names) => names
            .into_iter()
            .filter(|(n, _)| !queued.contains(n))
            .map(|(n, _)| {
                let look = inspect(dirs, &n, true);
                (n, look)
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the spool's outgoing directory");
            Vec::new()
        }
    }
}

/// How many events are taken from the stream at once (all that are already
/// there, up to this), so that files arriving together are ordered together.
const EVENT_BATCH: usize = 4096;

struct Watcher {
    dirs: Arc<Dirs>,
    events: EventStream<Vec<u8>>,
    tx: mpsc::Sender<Claimed>,
    cancel: CancellationToken,
    rescan: Arc<Notify>,
    scan_interval: Duration,
    /// Names to look at again, and when.
    pending: Vec<(Instant, String)>,
    ready: ReadyQueue,
}

enum Wake {
    Stop,
    Events(Vec<RawEvent>),
    ReadError(Option<io::Error>),
    Rescan,
    Recheck,
    Permit(mpsc::OwnedPermit<Claimed>),
}

/// Whether the watcher goes on.
enum Outcome {
    Continue,
    Stop,
}

impl Watcher {
    async fn run(mut self) {
        let dirs = Arc::clone(&self.dirs);
        for c in blocking(move || leftovers(&dirs)).await.unwrap_or_default() {
            if let Outcome::Stop = self.emit(c).await {
                return;
            }
        }
        self.scan().await;
        let mut ticker =
            tokio::time::interval_at(Instant::now() + self.scan_interval, self.scan_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.pending.iter().map(|(t, _)| *t).min();
            let have_ready = !self.ready.is_empty();
            let wake = tokio::select! {
                _ = self.cancel.cancelled() => Wake::Stop,
                _ = self.tx.closed() => Wake::Stop,
                p = self.tx.clone().reserve_owned(), if have_ready => match p {
                    Ok(p) => Wake::Permit(p),
                    Err(_) => Wake::Stop,
                },
                e = self.events.next() => match e {
                    Some(Ok(first)) => {
                        let mut batch = vec![(first.mask, first.name)];
                        while batch.len() < EVENT_BATCH {
                            match self.events.next().now_or_never() {
                                Some(Some(Ok(e))) => batch.push((e.mask, e.name)),
                                _ => break,
                            }
                        }
                        Wake::Events(batch)
                    }
                    Some(Err(e)) => Wake::ReadError(Some(e)),
                    None => Wake::ReadError(None),
                },
                _ = ticker.tick() => Wake::Rescan,
                _ = self.rescan.notified() => Wake::Rescan,
                _ = sleep_until_opt(next) => Wake::Recheck,
            };
            let outcome = match wake {
                Wake::Stop => Outcome::Stop,
                Wake::Permit(p) => self.claim_next(p).await,
                Wake::Events(events) => {
                    let dirs = Arc::clone(&self.dirs);
                    if let Some((overflow, looks)) =
                        blocking(move || on_events(&dirs, events)).await
                    {
                        self.absorb(looks);
                        if overflow {
                            tracing::info!("inotify queue overflowed; rescanning the spool");
                            self.scan().await;
                        }
                    }
                    Outcome::Continue
                }
                Wake::ReadError(e) => {
                    match e {
                        Some(e) => {
                            tracing::warn!(error = %e, "reading inotify events failed; rescanning")
                        }
                        None => tracing::warn!("the inotify event stream ended; rescanning"),
                    }
                    tokio::select! {
                        _ = self.cancel.cancelled() => Outcome::Stop,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            self.scan().await;
                            Outcome::Continue
                        }
                    }
                }
                Wake::Rescan => {
                    self.scan().await;
                    Outcome::Continue
                }
                Wake::Recheck => {
                    self.recheck().await;
                    Outcome::Continue
                }
            };
            if let Outcome::Stop = outcome {
                return;
            }
        }
    }

    /// Queues what the looks found ready and defers what may still change.
    fn absorb(&mut self, looks: Vec<(String, Look)>) {
        for (name, look) in looks {
            match look {
                Look::Skip => {}
                Look::Defer => self.defer(&name),
                Look::Ready { priority, mtime } => self.ready.insert(name, priority, mtime),
            }
        }
    }

    /// Claims the first file in pick-up order that can still be claimed and
    /// hands it on through `permit`.
    async fn claim_next(&mut self, permit: mpsc::OwnedPermit<Claimed>) -> Outcome {
        while let Some(name) = self.ready.pop() {
            let dirs = Arc::clone(&self.dirs);
            let n = name.clone();
            match blocking(move || claim(&dirs, &n)).await {
                Some(Claim::Taken(c)) => {
                    tracing::debug!(file = %c.name, key = %c.key, "claimed spool file");
                    permit.send(c);
                    return Outcome::Continue;
                }
                Some(Claim::Defer) => self.defer(&name),
                Some(Claim::Skip) => {}
                None => return Outcome::Stop,
            }
            if self.cancel.is_cancelled() {
                return Outcome::Stop;
            }
        }
        Outcome::Continue
    }

    /// A full rescan of `outgoing/`.
    async fn scan(&mut self) {
        let dirs = Arc::clone(&self.dirs);
        let queued: HashSet<String> = self.ready.by_name.keys().cloned().collect();
        if let Some(looks) = blocking(move || scan(&dirs, queued)).await {
            self.absorb(looks);
        }
    }

    async fn recheck(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.pending = later;
        let due: Vec<String> = due
            .into_iter()
            .map(|(_, n)| n)
            .filter(|n| !self.ready.contains(n))
            .collect();
        if due.is_empty() {
            return;
        }
        let dirs = Arc::clone(&self.dirs);
        let looks = blocking(move || {
            due.into_iter()
                .map(|n| {
                    let look = inspect(&dirs, &n, true);
                    (n, look)
                })
                .collect::<Vec<_>>()
        })
        .await;
        if let Some(looks) = looks {
            self.absorb(looks);
        }
    }

    fn defer(&mut self, name: &str) {
        if !self.pending.iter().any(|(_, n)| n == name) {
            self.pending
                .push((Instant::now() + SETTLE, name.to_string()));
        }
    }

    async fn emit(&mut self, c: Claimed) -> Outcome {
        tracing::debug!(file = %c.name, key = %c.key, "handing on a claimed spool file");
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
    fn ready_queue_orders_by_priority_then_age_then_name_and_dedups() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut q = ReadyQueue::default();
        let inserts: &[(&str, Priority, u64)] = &[
            ("n-new", Priority::Normal, 50),
            ("low", Priority::Low, 1),
            ("n-old-b", Priority::Normal, 10),
            ("n-old-a", Priority::Normal, 10),
            ("high", Priority::High, 90),
            ("urgent", Priority::Urgent, 99),
            // Seen again (rewritten): the newer look replaces the old one.
            ("low", Priority::High, 95),
        ];
        for (name, p, secs) in inserts {
            q.insert(name.to_string(), *p, t(*secs));
        }
        assert!(q.contains("low") && !q.contains("gone"));
        let mut order = Vec::new();
        while let Some(n) = q.pop() {
            order.push(n);
        }
        assert_eq!(
            order,
            ["urgent", "high", "low", "n-old-a", "n-old-b", "n-new"]
        );
        assert!(q.is_empty() && q.by_name.is_empty());
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
