//! The control socket server: accepts Unix stream connections, reads JSON
//! Lines requests with a size limit, hands each one to the gateway as a
//! [`Call`] over a channel (answered by `control::handler`) and writes the
//! reply; `watch` streams the event log from the position the client asks
//! for (`since`), then follows it live.
//!
//! It owns no state of the gateway and runs no SQL: the daemon answers calls.
//! Every connection is its own task, replies are written with a deadline, and
//! a client that does not read is dropped, so a slow or stuck client never
//! blocks the daemon or other clients.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::protocol::{parse_request, ErrorCode, Reply, Request};
use crate::events::Reader;
use crate::store::Store;

/// How long a reply or event may take to be written before the client is
/// considered stuck and dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Errors of the control server's set-up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: another daemon is listening there")]
    InUse { path: PathBuf },
    #[error("control socket: group {0:?} does not exist")]
    NoSuchGroup(String),
}

/// Socket settings, from the `[control]` section of the configuration.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub path: PathBuf,
    /// File mode of the socket, e.g. `0o660`.
    pub mode: u32,
    /// Group that owns the socket, if set.
    pub group: Option<String>,
    pub max_request_bytes: usize,
    pub max_clients: usize,
}

/// Who is on the other end of a connection (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid={} gid={}", self.uid, self.gid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        Ok(())
    }
}

/// One request for the daemon to answer. The reply's `id` is filled in by the
/// server; the daemon answers with `Ok(result)` or `Err((code, message))`.
#[derive(Debug)]
pub struct Call {
    pub request: Request,
    pub peer: Peer,
    pub reply: oneshot::Sender<Result<Value, (ErrorCode, String)>>,
}

/// Binds the socket at `opts.path`, or takes the one systemd passed
/// (socket activation, `LISTEN_FDS`). A stale socket file left by a dead
/// daemon is replaced; a live one is an error.
pub async fn bind(opts: &ServerOptions) -> Result<UnixListener, ControlError> {
    if let Some(listener) = from_systemd()? {
        return Ok(listener);
    }
    let path = &opts.path;
    let io = |source| ControlError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::InUse { path: path.clone() });
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(opts.mode)).map_err(io)?;
    if let Some(group) = opts.group.as_deref().filter(|g| !g.is_empty()) {
        let gid = nix::unistd::Group::from_name(group)
            .ok()
            .flatten()
            .ok_or_else(|| ControlError::NoSuchGroup(group.to_string()))?
            .gid;
        nix::unistd::chown(path, None, Some(gid))
            .map_err(|e| io(std::io::Error::from_raw_os_error(e as i32)))?;
    }
    Ok(listener)
}

fn from_systemd() -> Result<Option<UnixListener>, ControlError> {
    use std::os::fd::FromRawFd;
    let fds = match sd_notify::listen_fds() {
        Ok(fds) => fds,
        Err(_) => return Ok(None),
    };
    let Some(fd) = fds.into_iter().next() else {
        return Ok(None);
    };
    // SAFETY: systemd passed this descriptor to us (LISTEN_FDS/LISTEN_PID
    // checked by sd_notify) and nothing else in the process owns it.
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    let wrap = |source| ControlError::Io {
        path: PathBuf::from("<systemd socket>"),
        source,
    };
    std_listener.set_nonblocking(true).map_err(wrap)?;
    UnixListener::from_std(std_listener).map_err(wrap).map(Some)
}

/// Serves connections until `cancel` fires, then waits for the connection
/// tasks to notice and end.
pub async fn serve(
    listener: UnixListener,
    opts: ServerOptions,
    calls: mpsc::Sender<Call>,
    events: Store,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(opts.max_clients.max(1)));
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("control socket accept failed: {e}");
                // EMFILE and friends: give the system a moment instead of spinning.
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracker.spawn(refuse(stream));
            continue;
        };
        let conn = Connection {
            max: opts.max_request_bytes.max(64),
            calls: calls.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
        };
        tracker.spawn(async move {
            conn.run(stream).await;
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
    if listener_is_ours(&opts.path) {
        let _ = std::fs::remove_file(&opts.path);
    }
}

fn listener_is_ours(path: &Path) -> bool {
    // With socket activation systemd owns the socket file: leave it alone.
    std::env::var_os("LISTEN_FDS").is_none() && path.exists()
}

async fn refuse(mut stream: UnixStream) {
    let line = Reply::err(None, ErrorCode::Unavailable, "too many clients").to_line();
    let _ = tokio::time::timeout(WRITE_DEADLINE, stream.write_all(line.as_bytes())).await;
}

struct Connection {
    max: usize,
    calls: mpsc::Sender<Call>,
    events: Store,
    cancel: CancellationToken,
}

/// What the line reader produced.
enum Line {
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

impl Connection {
    async fn run(self, stream: UnixStream) {
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                tracing::warn!("control socket: cannot read peer credentials: {e}");
                return;
            }
        };
        let (mut rd, mut wr) = stream.into_split();
        let mut buf: Vec<u8> = Vec::new();
        let mut discarding = false;
        loop {
            let line = tokio::select! {
                _ = self.cancel.cancelled() => return,
                l = read_line(&mut rd, &mut buf, self.max, &mut discarding) => l,
            };
            let line = match line {
                Ok(Line::Complete(l)) => l,
                Ok(Line::TooLong) => {
                    let reply = Reply::err(
                        None,
                        ErrorCode::TooLarge,
                        format!("request longer than {} bytes", self.max),
                    );
                    if !write_line(&mut wr, &reply.to_line()).await {
                        return;
                    }
                    continue;
                }
                Ok(Line::Eof) | Err(_) => return,
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let envelope = parse_request(&line);
            // The raw line (a campaign's CSV: megabytes) is not kept while
            // the request runs.
            drop(line);
            let envelope = match envelope {
                Ok(env) => env,
                Err(e) => {
                    if !write_line(&mut wr, &e.reply().to_line()).await {
                        return;
                    }
                    continue;
                }
            };
            let id = envelope.id;
            if let Request::Watch { since } = envelope.request {
                let from = since.unwrap_or_else(|| self.events.last_event_id());
                let reader = Reader::new(self.events.clone(), from.max(0), Vec::new());
                let ok = Reply::ok(id, serde_json::json!({"watching": true, "since": from}));
                if !write_line(&mut wr, &ok.to_line()).await {
                    return;
                }
                self.watch(reader, &mut rd, &mut wr).await;
                return;
            }
            let (tx, rx) = oneshot::channel();
            let call = Call {
                request: envelope.request,
                peer,
                reply: tx,
            };
            let reply = if self.calls.send(call).await.is_err() {
                Reply::err(id, ErrorCode::Unavailable, "the daemon is shutting down")
            } else {
                match rx.await {
                    Ok(Ok(result)) => Reply::ok(id, result),
                    Ok(Err((code, message))) => Reply::err(id, code, message),
                    Err(_) => Reply::err(id, ErrorCode::Unavailable, "the daemon is shutting down"),
                }
            };
            if !write_line(&mut wr, &reply.to_line()).await {
                return;
            }
        }
    }

    /// Streams events from the log until the client closes its end, the
    /// daemon stops, or the client stops reading. A slow client is never
    /// handed a gap: it reads the log at its own pace.
    async fn watch(
        &self,
        mut reader: Reader,
        rd: &mut tokio::net::unix::OwnedReadHalf,
        wr: &mut tokio::net::unix::OwnedWriteHalf,
    ) {
        let mut scratch = [0u8; 256];
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                n = rd.read(&mut scratch) => {
                    // Anything the client sends while watching is ignored; EOF ends the watch.
                    if matches!(n, Ok(0) | Err(_)) {
                        return;
                    }
                }
                batch = reader.next() => {
                    let events = match batch {
                        Some(Ok(events)) => events,
                        Some(Err(e)) => {
                            // Tell the client where to resume; it loses nothing.
                            let line = serde_json::json!({"error": {
                                "code": ErrorCode::Unavailable,
                                "message": format!("reading events: {e}"),
                                "resume_after": reader.position(),
                            }});
                            let _ = write_line(wr, &format!("{line}\n")).await;
                            return;
                        }
                        None => return,
                    };
                    if events.is_empty() {
                        continue;
                    }
                    let mut out = String::new();
                    for ev in &events {
                        out.push_str(&serde_json::json!({"event": ev}).to_string());
                        out.push('\n');
                    }
                    if !write_line(wr, &out).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Reads one line of at most `max` bytes. A longer line is reported once as
/// `TooLong` and the rest of it is skipped up to its newline. Each byte is
/// looked at once (a line of megabytes, a campaign's CSV, arrives in many
/// reads), and a line that fills the buffer is handed over without a copy.
async fn read_line<R: AsyncReadExt + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    discarding: &mut bool,
) -> std::io::Result<Line> {
    // Bytes before `from` hold no newline.
    let mut from = 0;
    loop {
        let newline = buf
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'));
        if let Some(pos) = newline.map(|p| p + from) {
            let mut line: Vec<u8> = if pos + 1 == buf.len() {
                std::mem::take(buf)
            } else {
                buf.drain(..=pos).collect()
            };
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            from = 0;
            if *discarding {
                *discarding = false;
                continue;
            }
            if line.len() > max {
                return Ok(Line::TooLong);
            }
            return Ok(Line::Complete(line));
        }
        if buf.len() > max {
            buf.clear();
            if !*discarding {
                *discarding = true;
                return Ok(Line::TooLong);
            }
        }
        from = buf.len();
        let mut chunk = [0u8; 4096];
        let n = rd.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Line::Eof);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Writes a line within the deadline; `false` means the client is gone or stuck.
async fn write_line<W: AsyncWriteExt + Unpin>(wr: &mut W, line: &str) -> bool {
    matches!(
        tokio::time::timeout(WRITE_DEADLINE, wr.write_all(line.as_bytes())).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    const T: Duration = Duration::from_secs(10);

    struct Harness {
        path: PathBuf,
        _dir: tempfile::TempDir,
        events: Store,
        cancel: CancellationToken,
        server: tokio::task::JoinHandle<()>,
    }

    /// A server whose "daemon" answers `status` with the caller's uid and
    /// `show` with not-found; other requests get `invalid`.
    async fn start(max_clients: usize) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctl.sock");
        let opts = ServerOptions {
            path: path.clone(),
            mode: 0o660,
            group: None,
            max_request_bytes: 1024,
            max_clients,
        };
        let listener = bind(&opts).await.expect("bind");
        let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(16);
        let events = Store::open(&dir.path().join("s.db")).expect("store");
        let cancel = CancellationToken::new();
        tokio::spawn(async move {
            while let Some(call) = calls_rx.recv().await {
                let answer = match call.request {
                    Request::Status {} => Ok(serde_json::json!({"uid": call.peer.uid})),
                    Request::Show { message } => {
                        Err((ErrorCode::NotFound, format!("no message {message}")))
                    }
                    _ => Err((ErrorCode::Invalid, "unsupported here".into())),
                };
                let _ = call.reply.send(answer);
            }
        });
        let server = tokio::spawn(serve(
            listener,
            opts,
            calls_tx,
            events.clone(),
            cancel.clone(),
        ));
        Harness {
            path,
            _dir: dir,
            events,
            cancel,
            server,
        }
    }

    async fn roundtrip(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
        wr: &mut tokio::net::unix::OwnedWriteHalf,
        req: &[u8],
    ) -> Reply {
        wr.write_all(req).await.expect("write");
        let line = tokio::time::timeout(T, lines.next_line())
            .await
            .expect("reply in time")
            .expect("read")
            .expect("a line");
        serde_json::from_str(&line).expect("reply is JSON")
    }

    async fn connect(
        path: &Path,
    ) -> (
        tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
        tokio::net::unix::OwnedWriteHalf,
    ) {
        let s = UnixStream::connect(path).await.expect("connect");
        let (r, w) = s.into_split();
        (BufReader::new(r).lines(), w)
    }

    #[tokio::test]
    async fn answers_and_stays_usable_after_errors() {
        let h = start(8).await;
        let (mut lines, mut wr) = connect(&h.path).await;
        let r = roundtrip(&mut lines, &mut wr, b"{\"id\":1,\"cmd\":\"status\"}\n").await;
        assert!(r.ok);
        assert_eq!(r.id, Some(serde_json::json!(1)));
        assert_eq!(
            r.result.unwrap()["uid"],
            serde_json::json!(nix::unistd::getuid().as_raw())
        );
        let r = roundtrip(&mut lines, &mut wr, b"not json\n").await;
        assert_eq!(r.error.unwrap().code, ErrorCode::BadRequest);
        let r = roundtrip(&mut lines, &mut wr, b"{\"cmd\":\"status\",\"x\":1}\n").await;
        assert_eq!(r.error.unwrap().code, ErrorCode::BadRequest);
        let big = format!("{{\"cmd\":\"status\",\"pad\":\"{}\"}}\n", "a".repeat(5000));
        let r = roundtrip(&mut lines, &mut wr, big.as_bytes()).await;
        assert_eq!(r.error.unwrap().code, ErrorCode::TooLarge);
        let r = roundtrip(
            &mut lines,
            &mut wr,
            b"{\"id\":\"x\",\"cmd\":\"show\",\"message\":4}\n",
        )
        .await;
        let e = r.error.unwrap();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(r.id, Some(serde_json::json!("x")));
        // Still usable.
        let r = roundtrip(&mut lines, &mut wr, b"{\"cmd\":\"status\"}\n").await;
        assert!(r.ok);
        h.cancel.cancel();
        tokio::time::timeout(T, h.server)
            .await
            .expect("stops")
            .expect("no panic");
    }

    #[tokio::test]
    async fn many_clients_and_a_stuck_one() {
        let h = start(64).await;
        // A client that connects, sends half a line and never reads.
        let mut stuck = UnixStream::connect(&h.path).await.expect("connect");
        stuck.write_all(b"{\"cmd\":\"sta").await.expect("write");
        let mut tasks = Vec::new();
        for i in 0..50 {
            let path = h.path.clone();
            tasks.push(tokio::spawn(async move {
                let (mut lines, mut wr) = connect(&path).await;
                let req = format!("{{\"id\":{i},\"cmd\":\"status\"}}\n");
                let r = roundtrip(&mut lines, &mut wr, req.as_bytes()).await;
                assert!(r.ok);
                assert_eq!(r.id, Some(serde_json::json!(i)));
            }));
        }
        for t in tasks {
            tokio::time::timeout(T, t)
                .await
                .expect("in time")
                .expect("ok");
        }
        drop(stuck);
        h.cancel.cancel();
    }

    #[tokio::test]
    async fn too_many_clients_get_a_reply() {
        let h = start(1).await;
        let (_l1, _w1) = connect(&h.path).await;
        // Give the first connection time to take its slot: wait for it to answer.
        let (mut l1, mut w1) = (_l1, _w1);
        let r = roundtrip(&mut l1, &mut w1, b"{\"cmd\":\"status\"}\n").await;
        assert!(r.ok);
        let (mut l2, _w2) = connect(&h.path).await;
        let line = tokio::time::timeout(T, l2.next_line())
            .await
            .expect("in time")
            .expect("read")
            .expect("line");
        let r: Reply = serde_json::from_str(&line).expect("json");
        assert_eq!(r.error.unwrap().code, ErrorCode::Unavailable);
        h.cancel.cancel();
    }

    fn modem_up(name: &str) -> crate::store::EventData {
        crate::store::EventData::ModemUp(crate::store::ModemEvent {
            modem: name.into(),
            state: "ready".into(),
            ..Default::default()
        })
    }

    async fn next_event(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    ) -> Value {
        let line = tokio::time::timeout(T, lines.next_line())
            .await
            .expect("in time")
            .expect("read")
            .expect("line");
        let v: Value = serde_json::from_str(&line).expect("json");
        v["event"].clone()
    }

    #[tokio::test]
    async fn watch_streams_events() {
        let h = start(8).await;
        let (mut lines, mut wr) = connect(&h.path).await;
        let r = roundtrip(&mut lines, &mut wr, b"{\"cmd\":\"watch\"}\n").await;
        assert!(r.ok);
        let id = h
            .events
            .append_event(modem_up("m3"), chrono::Utc::now())
            .await
            .expect("append");
        let ev = next_event(&mut lines).await;
        assert_eq!(ev["type"], "modem_up");
        assert_eq!(ev["event_id"], id);
        assert_eq!(ev["data"]["modem"], "m3");
        h.cancel.cancel();
    }

    #[tokio::test]
    async fn watch_since_replays_exactly_what_was_missed() {
        let h = start(8).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                h.events
                    .append_event(modem_up(&format!("m{i}")), chrono::Utc::now())
                    .await
                    .expect("append"),
            );
        }
        let (mut lines, mut wr) = connect(&h.path).await;
        let req = format!("{{\"cmd\":\"watch\",\"since\":{}}}\n", ids[1]);
        let r = roundtrip(&mut lines, &mut wr, req.as_bytes()).await;
        assert!(r.ok);
        for want in &ids[2..] {
            assert_eq!(next_event(&mut lines).await["event_id"], *want);
        }
        // Then live.
        let live = h
            .events
            .append_event(modem_up("m9"), chrono::Utc::now())
            .await
            .expect("append");
        assert_eq!(next_event(&mut lines).await["event_id"], live);
        h.cancel.cancel();
    }

    #[tokio::test]
    async fn a_live_socket_is_not_stolen_and_a_stale_one_is_replaced() {
        let h = start(8).await;
        let opts = ServerOptions {
            path: h.path.clone(),
            mode: 0o600,
            group: None,
            max_request_bytes: 1024,
            max_clients: 4,
        };
        assert!(matches!(bind(&opts).await, Err(ControlError::InUse { .. })));
        h.cancel.cancel();
        tokio::time::timeout(T, h.server)
            .await
            .expect("stops")
            .expect("ok");
        // A stale file (no listener) is replaced.
        std::fs::write(&h.path, b"").expect("stale file");
        let l = bind(&opts).await.expect("rebind");
        let mode = std::fs::metadata(&h.path)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        drop(l);
    }
}
