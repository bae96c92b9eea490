//! systemd integration: READY, STATUS, WATCHDOG and STOPPING notifications
//! through `$NOTIFY_SOCKET` (sd_notify protocol; states formatted by the
//! `sd-notify` crate, sent here without blocking).
//! Outside systemd every call is a no-op.
//!
//! The watchdog is fed only by [`Watchdog::feed_if_alive`], which the daemon
//! calls from its supervisor loop with the liveness of its core loops, so a
//! wedged daemon stops feeding and systemd restarts it.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon is ready (store open, socket listening, spool watched).
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Updates the one-line status `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Tells systemd the daemon is reloading its configuration.
pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Sends without blocking: `sd_notify::notify` blocks while the receiver's
/// queue is full, which would stall the daemon's core loop (and every control
/// call) behind a service manager that reads slowly. A datagram that does not
/// fit is dropped, as libsystemd's `sd_notify` does.
fn send(states: &[NotifyState<'_>]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    if let Err(e) = send_nonblocking(&path, msg.as_bytes()) {
        tracing::debug!("sd_notify: {e}");
    }
}

fn send_nonblocking(path: &std::ffi::OsStr, msg: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    sock.send_to_addr(msg, &addr)
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    interval: Option<Duration>,
}

impl Watchdog {
    pub fn from_env() -> Watchdog {
        Watchdog {
            interval: sd_notify::watchdog_enabled(),
        }
    }

    /// How often to check and feed: half the watchdog interval.
    pub fn period(&self) -> Option<Duration> {
        self.interval
            .map(|d| (d / 2).max(Duration::from_millis(100)))
    }

    /// Feeds the watchdog when `alive` is true; a daemon whose core loops
    /// stopped answering does not, and systemd restarts it.
    pub fn feed_if_alive(&self, alive: bool) {
        if self.interval.is_some() && alive {
            send(&[NotifyState::Watchdog]);
        }
    }
}
