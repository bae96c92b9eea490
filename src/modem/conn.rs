//! One open port: write a typed command, collect its answer through the AT
//! parser, keep URCs that arrive meanwhile for the driver, write the payload
//! at the prompt. Knows nothing of start-up, SMS or recovery policy.

use super::port;
use crate::at::{self, Command, Event, Final, Parser, Response, Urc};
use std::collections::VecDeque;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tokio_serial::SerialStream;

/// Why a command got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecError {
    /// No final result in time. `payload_written`: the PDU/text went out.
    Timeout { payload_written: bool },
    /// The device vanished (read 0 bytes, EIO, ENXIO...).
    Gone {
        reason: String,
        payload_written: bool,
    },
    /// Another I/O error.
    Io(String),
}

pub(crate) struct Conn {
    port: SerialStream,
    parser: Parser,
    /// URCs read while a command was in flight (or while idle), oldest first.
    pub(crate) urcs: VecDeque<Urc>,
}

impl Conn {
    pub(crate) fn new(port: SerialStream, extra_urcs: Vec<String>) -> Self {
        Self {
            port,
            parser: Parser::new(extra_urcs),
            urcs: VecDeque::new(),
        }
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), ExecError> {
        let r = async {
            self.port.write_all(bytes).await?;
            self.port.flush().await
        }
        .await;
        r.map_err(|e| {
            if port::is_gone(&e) {
                ExecError::Gone {
                    reason: e.to_string(),
                    payload_written: false,
                }
            } else {
                ExecError::Io(e.to_string())
            }
        })
    }

    /// Read what is there (waiting for at least one byte) into the parser.
    /// Cancel-safe: usable in `select!`.
    pub(crate) async fn read_some(&mut self) -> Result<(), ExecError> {
        let mut buf = [0u8; 512];
        match self.port.read(&mut buf).await {
            Ok(0) => Err(ExecError::Gone {
                reason: "read returned 0 bytes".into(),
                payload_written: false,
            }),
            Ok(n) => {
                let got = buf.get(..n).unwrap_or_default();
                tracing::trace!(bytes = n, "<- read");
                self.parser.push(got);
                Ok(())
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                Ok(())
            }
            Err(e) if port::is_gone(&e) => Err(ExecError::Gone {
                reason: e.to_string(),
                payload_written: false,
            }),
            Err(e) => Err(ExecError::Io(e.to_string())),
        }
    }

    /// Whether `path` still names the device this connection has open. A
    /// device that was replaced (unplugged and plugged again, re-enumerated,
    /// a re-pointed link) no longer matches, even when no hang-up reached the
    /// old descriptor.
    pub(crate) fn same_device(&self, path: &std::path::Path) -> bool {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let Ok(now) = std::fs::metadata(path) else {
            return false;
        };
        // SAFETY: the descriptor belongs to `self.port`, which outlives this
        // borrow; fstat neither stores nor closes it.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.port.as_raw_fd()) };
        match nix::sys::stat::fstat(fd) {
            Ok(held) => held.st_rdev == now.rdev(),
            // Cannot tell: assume it is.
            Err(_) => true,
        }
    }

    /// Move idle events to the URC queue (stray finals and lines are logged).
    pub(crate) fn drain_idle(&mut self) {
        while let Some(ev) = self.parser.next_event() {
            match ev {
                Event::Urc(u) => {
                    tracing::trace!(urc = ?u, "<- urc");
                    self.urcs.push_back(u);
                }
                Event::Garbage(g) => tracing::debug!(bytes = g.len(), "garbage skipped"),
                other => tracing::debug!(event = ?other, "stray output while idle"),
            }
        }
    }

    /// Write `cmd` and collect its answer within its own timeout.
    pub(crate) async fn exec(&mut self, cmd: &Command) -> Result<Response, ExecError> {
        let deadline = Instant::now() + cmd.timeout;
        // Whatever came before belongs to nobody: URCs are kept.
        self.drain_idle();
        self.parser.set_in_flight(Some(cmd.in_flight()));
        tracing::trace!(tx = %at::truncate_for_log(&cmd.line), "->");
        let r = self.exec_inner(cmd, deadline).await;
        self.parser.set_in_flight(None);
        match &r {
            Ok(resp) => {
                tracing::trace!(command = cmd.name, result = %resp.result, lines = resp.lines.len(), "<- final")
            }
            Err(e) => tracing::debug!(command = cmd.name, error = ?e, "no answer"),
        }
        r
    }

    async fn exec_inner(
        &mut self,
        cmd: &Command,
        deadline: Instant,
    ) -> Result<Response, ExecError> {
        self.write(&cmd.wire()).await?;
        let mut lines = Vec::new();
        let mut payload_written = false;
        loop {
            while let Some(ev) = self.parser.next_event() {
                match ev {
                    Event::Echo(e) => tracing::trace!(echo = %at::truncate_for_log(&e), "echo"),
                    Event::Line(l) | Event::Data(l) => {
                        tracing::trace!(line = %at::truncate_for_log(&l), "<-");
                        lines.push(l);
                    }
                    Event::Prompt => match cmd.payload_wire() {
                        Some(p) if !payload_written => {
                            tracing::trace!(payload = %at::truncate_for_log(cmd.payload.as_deref().unwrap_or_default()), "-> payload");
                            self.write(&p).await.map_err(|e| match e {
                                ExecError::Gone { reason, .. } => ExecError::Gone {
                                    reason,
                                    payload_written: true,
                                },
                                other => other,
                            })?;
                            payload_written = true;
                        }
                        _ => tracing::debug!("unexpected prompt"),
                    },
                    Event::Urc(u) => {
                        tracing::trace!(urc = ?u, "<- urc");
                        self.urcs.push_back(u);
                    }
                    Event::Garbage(g) => tracing::debug!(bytes = g.len(), "garbage skipped"),
                    Event::Final(result) => {
                        if cmd.payload.is_some() && !payload_written && result == Final::Ok {
                            // An OK before the prompt cannot be the answer.
                            tracing::debug!("OK before prompt ignored");
                            continue;
                        }
                        return Ok(Response { lines, result });
                    }
                }
            }
            match timeout_at(deadline, self.read_some()).await {
                Ok(Ok(())) => {}
                Ok(Err(ExecError::Gone { reason, .. })) => {
                    return Err(ExecError::Gone {
                        reason,
                        payload_written,
                    })
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    let partial = self.parser.discard_partial();
                    if !partial.is_empty() {
                        tracing::debug!(
                            bytes = partial.len(),
                            "partial line dropped after timeout"
                        );
                    }
                    return Err(ExecError::Timeout { payload_written });
                }
            }
        }
    }
}
