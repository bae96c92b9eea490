//! Opening a device by path through tokio-serial, telling "unplugged" from
//! other I/O errors, and waiting for a vanished path to come back (inotify on
//! its directory plus a slow retry timer). Nothing here speaks AT.

use std::io;
use std::path::Path;
use std::time::Duration;
use tokio_serial::{SerialPort, SerialPortBuilderExt, SerialStream};

/// Open `path` raw at `baud`, discarding input left from before. DTR/RTS are
/// asserted when the device has them; on a pty they fail with ENOTTY, which
/// means "not available".
pub(crate) fn open(path: &Path, baud: u32) -> Result<SerialStream, String> {
    let p = path.to_string_lossy().to_string();
    let mut port = tokio_serial::new(p, baud)
        .timeout(Duration::from_millis(100))
        .open_native_async()
        .map_err(|e| e.to_string())?;
    if let Err(e) = port.write_data_terminal_ready(true) {
        tracing::debug!(error = %e, "DTR not available");
    }
    if let Err(e) = port.write_request_to_send(true) {
        tracing::debug!(error = %e, "RTS not available");
    }
    // Output left from before this open (the answer to a command an earlier
    // session sent before it died) would be taken for the answers to our
    // start-up commands; the start-up sweep finds anything it announced.
    if let Err(e) = port.clear(tokio_serial::ClearBuffer::Input) {
        tracing::debug!(error = %e, "cannot discard stale input");
    }
    Ok(port)
}

/// Does this read/write error mean the device is gone (unplugged)?
pub(crate) fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EIO)
            | Some(libc_errno::ENXIO)
            | Some(libc_errno::ENODEV)
            | Some(libc_errno::EBADF)
    ) || e.kind() == io::ErrorKind::BrokenPipe
}

mod libc_errno {
    pub const EIO: i32 = nix::errno::Errno::EIO as i32;
    pub const ENXIO: i32 = nix::errno::Errno::ENXIO as i32;
    pub const ENODEV: i32 = nix::errno::Errno::ENODEV as i32;
    pub const EBADF: i32 = nix::errno::Errno::EBADF as i32;
}

/// Does the path exist now (following symlinks)?
pub(crate) fn present(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

/// Watches the directory of a device path for it to (re)appear.
pub(crate) struct PathWatch {
    events: Option<inotify::EventStream<Vec<u8>>>,
}

impl PathWatch {
    /// Watch `path`'s directory; without inotify the caller's timer still works.
    pub(crate) fn new(path: &Path) -> Self {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let events = inotify::Inotify::init()
            .and_then(|ino| {
                use inotify::WatchMask as M;
                ino.watches()
                    .add(dir, M::CREATE | M::MOVED_TO | M::ATTRIB | M::CLOSE_WRITE)?;
                ino.into_event_stream(vec![0u8; 1024])
            })
            .map_err(|e| tracing::debug!(dir = %dir.display(), error = %e, "no inotify watch; timer only"))
            .ok();
        Self { events }
    }

    /// Resolves when something changed in the directory (never, without
    /// inotify or once its stream fails). Events already queued are taken
    /// together: one wake for a burst.
    pub(crate) async fn changed(&mut self) {
        use futures_util::{FutureExt, StreamExt};
        let Some(events) = self.events.as_mut() else {
            return std::future::pending().await;
        };
        match events.next().await {
            Some(Ok(_)) => while let Some(Some(Ok(_))) = events.next().now_or_never() {},
            Some(Err(_)) | None => {
                self.events = None;
                std::future::pending::<()>().await;
            }
        }
    }
}
