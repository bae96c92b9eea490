//! systemd integration: READY, STATUS, WATCHDOG and STOPPING notifications
//! through `$NOTIFY_SOCKET` (sd_notify protocol, via the `sd-notify` crate).
//! Outside systemd every call is a no-op.
//!
//! The watchdog is fed only by [`Watchdog::feed_if_alive`], which the daemon
//! calls from its supervisor loop with the liveness of its core loops, so a
//! wedged daemon stops feeding and systemd restarts it.
//!
//! Datagrams go out through a non-blocking socket: a notify socket whose
//! queue is full (a slow or absent reader) costs a dropped notification,
//! never a blocked daemon.

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

fn send(states: &[NotifyState<'_>]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let mut msg = String::new();
    for s in states {
        msg.push_str(&s.to_string());
        msg.push('\n');
    }
    if let Err(e) = send_datagram(&path, msg.as_bytes()) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// Sends one datagram to the notify socket without blocking. A path that
/// starts with `@` is in the abstract namespace.
fn send_datagram(path: &std::ffi::OsStr, msg: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    sock.send_to_addr(msg, &addr).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_notify_socket_never_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        // Nobody reads: far more datagrams than any queue holds.
        for _ in 0..10_000 {
            let _ = send_datagram(path.as_os_str(), b"WATCHDOG=1\n");
        }
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("the first ones arrived");
        assert_eq!(&buf[..n], b"WATCHDOG=1\n");
    }

    #[test]
    fn messages_are_what_systemd_expects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.sock");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        let mut msg = String::new();
        for s in [NotifyState::Ready, NotifyState::Status("2/2 modems ready")] {
            msg.push_str(&s.to_string());
            msg.push('\n');
        }
        send_datagram(path.as_os_str(), msg.as_bytes()).expect("send");
        let mut buf = [0u8; 128];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(
            std::str::from_utf8(&buf[..n]).expect("utf8"),
            "READY=1\nSTATUS=2/2 modems ready\n"
        );
    }
}
