//! systemd integration: READY, STATUS, WATCHDOG and STOPPING notifications
//! through `$NOTIFY_SOCKET` (sd_notify protocol, via the `sd-notify` crate).
//! Outside systemd every call is a no-op.
//!
//! The watchdog is fed only by [`Watchdog::feed_if_alive`], which the daemon
//! calls from its supervisor loop with the liveness of its core loops, so a
//! wedged daemon stops feeding and systemd restarts it.
//!
//! Sending never holds the daemon up: the datagram goes out on a socket with
//! a short send timeout (READY, RELOADING, STOPPING) or none at all (STATUS,
//! WATCHDOG, dropped when the manager's queue is full; the next one follows),
//! so a manager that does not read cannot wedge the main loop.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon is ready (store open, socket listening, spool watched).
pub fn ready(status: &str) {
    send(
        &[NotifyState::Ready, NotifyState::Status(status)],
        Some(IMPORTANT),
    );
}

/// Updates the one-line status `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)], None);
}

/// Tells systemd the daemon is reloading its configuration.
pub fn reloading() {
    send(&[NotifyState::Reloading], Some(IMPORTANT));
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping], Some(IMPORTANT));
}

/// How long a state change that matters may wait for room in the manager's
/// queue before it is given up.
const IMPORTANT: Duration = Duration::from_secs(1);

/// Sends `states` as one datagram to `$NOTIFY_SOCKET` (a path, or `@name`
/// for an abstract socket). `wait`: how long the send may block; `None`
/// never blocks.
fn send(states: &[NotifyState<'_>], wait: Option<Duration>) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    if let Err(e) = send_datagram(&path, msg.as_bytes(), wait) {
        tracing::debug!("sd_notify {}: {e}", msg.trim_end().replace('\n', " "));
    }
}

fn send_datagram(
    path: &std::ffi::OsStr,
    msg: &[u8],
    wait: Option<Duration>,
) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    match wait {
        Some(t) => sock.set_write_timeout(Some(t))?,
        None => sock.set_nonblocking(true)?,
    }
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.connect_addr(&addr)?;
        }
        None => sock.connect(path)?,
    }
    let n = sock.send(msg)?;
    if n != msg.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "incomplete datagram",
        ));
    }
    Ok(())
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
            send(&[NotifyState::Watchdog], None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::time::Instant;

    #[test]
    fn a_manager_that_does_not_read_never_wedges_the_sender() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).expect("bind");
        // Fill the receiver's queue; a non-blocking send then fails at once.
        let started = Instant::now();
        let mut sent = 0;
        while send_datagram(path.as_os_str(), b"WATCHDOG=1\n", None).is_ok() {
            sent += 1;
            assert!(sent < 100_000, "the queue never filled");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // A bounded send gives up after its timeout.
        let started = Instant::now();
        let r = send_datagram(
            path.as_os_str(),
            b"STOPPING=1\n",
            Some(Duration::from_millis(200)),
        );
        assert!(r.is_err());
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Once the manager reads, sends go through again, in order.
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(buf.get(..n), Some(&b"WATCHDOG=1\n"[..]));
    }

    #[test]
    fn abstract_socket_names_work() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("smsgate-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract name");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind");
        let path = format!("@{name}");
        send_datagram(std::ffi::OsStr::new(&path), b"READY=1\n", Some(IMPORTANT)).expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(buf.get(..n), Some(&b"READY=1\n"[..]));
    }
}
