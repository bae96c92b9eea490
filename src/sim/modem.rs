//! A simulated modem on a pseudo-terminal: openpty, raw slave, the harness's own
//! slave fd held open, the master driven through tokio `AsyncFd`, an optional
//! symlink replaced atomically, unplug and replug. It moves bytes between the pty
//! and the `Engine`; it does not decide what a modem answers (`engine.rs`) or
//! where a message goes (`network.rs`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, Incoming, Out};
use super::network::Network;
use super::{seed_for, Faults, NetMessage, SimError, SimSpec, TapEvent};

/// How long a write may wait for a reader before the bytes are dropped, as a
/// real modem's output is lost when nobody has the port open.
const WRITE_GIVE_UP: Duration = Duration::from_secs(2);

/// State shared by the handle, the pty task and the network.
pub(crate) struct Shared {
    pub(crate) msisdn: String,
    engine: Mutex<Engine>,
    to_task: Mutex<Option<mpsc::UnboundedSender<Vec<Out>>>>,
    changed: watch::Sender<u64>,
    tap: Mutex<Option<mpsc::UnboundedSender<TapEvent>>>,
}

impl Shared {
    pub(crate) fn engine(&self) -> MutexGuard<'_, Engine> {
        // A poisoned lock only means a test thread panicked; the state is usable.
        self.engine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn to_task(&self) -> MutexGuard<'_, Option<mpsc::UnboundedSender<Vec<Out>>>> {
        self.to_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tap(&self) -> MutexGuard<'_, Option<mpsc::UnboundedSender<TapEvent>>> {
        self.tap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reports an event to the tap, when one is set.
    fn tap_send(&self, ev: TapEvent) {
        if let Some(tx) = self.tap().as_ref() {
            let _ = tx.send(ev);
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Output for the line; lost when the modem is unplugged (like a real URC).
    fn push(&self, outs: Vec<Out>) {
        if outs.is_empty() {
            return;
        }
        self.wake(outs);
    }

    /// Sends to the task even when there is nothing to write, so it re-reads
    /// its settings (the noise interval).
    fn wake(&self, outs: Vec<Out>) {
        if let Some(tx) = self.to_task().as_ref() {
            let _ = tx.send(outs);
        }
    }

    /// A message from the network arrives at this SIM.
    pub(crate) fn deliver(&self, m: Incoming) {
        let outs = self.engine().incoming(m);
        self.bump();
        self.push(outs);
    }
}

struct Port {
    pts: PathBuf,
    harness_slave: OwnedFd,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// A running simulated modem.
pub struct SimModem {
    shared: Arc<Shared>,
    net: Network,
    name: String,
    link: Option<PathBuf>,
    port: Mutex<Option<Port>>,
    last_pts: Mutex<PathBuf>,
}

impl std::fmt::Debug for SimModem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimModem")
            .field("name", &self.name)
            .field("msisdn", &self.shared.msisdn)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl SimModem {
    /// Starts a modem on a fresh pty; with `link`, `link` points at its pts.
    pub async fn start(
        net: &Network,
        spec: SimSpec,
        link: Option<PathBuf>,
    ) -> Result<SimModem, SimError> {
        let seed = seed_for(net.seed(), &spec);
        let shared = Arc::new(Shared {
            msisdn: spec.msisdn.clone(),
            engine: Mutex::new(Engine::new(spec.clone(), seed)),
            to_task: Mutex::new(None),
            changed: watch::Sender::new(0),
            tap: Mutex::new(None),
        });
        net.register(shared.clone());
        let m = SimModem {
            shared,
            net: net.clone(),
            name: spec.name,
            link,
            port: Mutex::new(None),
            last_pts: Mutex::new(PathBuf::new()),
        };
        m.plug()?;
        Ok(m)
    }

    fn port(&self) -> MutexGuard<'_, Option<Port>> {
        self.port
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn plug(&self) -> Result<(), SimError> {
        let pty = nix::pty::openpty(None, None).map_err(SimError::Pty)?;
        // openpty(3) leaves both fds inheritable: a daemon spawned by the
        // same test process would hold the master open, and closing it here
        // would no longer look like an unplug to anyone.
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(SimError::Pty)?;
        }
        let mut t = tcgetattr(&pty.slave).map_err(SimError::Pty)?;
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).map_err(SimError::Pty)?;
        let pts = nix::unistd::ttyname(&pty.slave).map_err(SimError::Pty)?;
        // Close-on-exec: a process the harness starts (the daemon under test)
        // must not inherit the master, or closing it here would not hang up
        // the line and an unplug would go unnoticed.
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(SimError::Pty)?;
        }
        let flags = fcntl(&pty.master, FcntlArg::F_GETFL).map_err(SimError::Pty)?;
        fcntl(
            &pty.master,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(SimError::Pty)?;
        // SAFETY: the `File` owns the master fd, keeps it open and never swaps
        // it for another while the `AsyncFd` holds it.
        let master =
            unsafe { AsyncFd::register(File::from(pty.master)) }.map_err(|e| SimError::Io {
                path: pts.clone(),
                source: e.into(),
            })?;
        if let Some(link) = &self.link {
            replace_link(link, &pts)?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let boot = self.shared.engine().boot();
        let _ = tx.send(boot);
        *self.shared.to_task() = Some(tx);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            master,
            self.shared.clone(),
            self.net.clone(),
            rx,
            cancel.clone(),
        ));
        *self
            .last_pts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pts.clone();
        *self.port() = Some(Port {
            pts,
            harness_slave: pty.slave,
            cancel,
            task,
        });
        Ok(())
    }

    /// The link when there is one, else the pts path.
    pub fn path(&self) -> PathBuf {
        match &self.link {
            Some(l) => l.clone(),
            None => self.pts(),
        }
    }

    /// The current (or last) `/dev/pts/N`.
    pub fn pts(&self) -> PathBuf {
        self.last_pts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn msisdn(&self) -> &str {
        &self.shared.msisdn
    }

    pub fn is_plugged(&self) -> bool {
        self.port().is_some()
    }

    /// Closes the master and the harness's slave fd: the pts disappears and the
    /// daemon's reads give `Ok(0)`/EIO. The link is removed, as udev would.
    pub async fn unplug(&self) {
        *self.shared.to_task() = None;
        let port = self.port().take();
        if let Some(p) = port {
            p.cancel.cancel();
            let _ = p.task.await;
            drop(p.harness_slave);
            let _ = p.pts;
        }
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }

    /// A new pty, the link re-pointed, and the modem boots again.
    pub async fn replug(&self) -> Result<(), SimError> {
        self.unplug().await;
        self.plug()
    }

    /// Reports every later command line and transmission of this modem to
    /// `tx`, stamped when the simulator read or transmitted it (benchmarks use
    /// this instead of polling `commands` and `submitted`).
    pub fn set_tap(&self, tx: mpsc::UnboundedSender<TapEvent>) {
        *self.shared.tap() = Some(tx);
    }

    pub fn set_faults(&self, f: Faults) {
        let outs = self.shared.engine().set_faults(f);
        self.shared.bump();
        self.shared.wake(outs);
    }

    /// Every SUBMIT this modem transmitted, in order.
    pub fn submitted(&self) -> Vec<NetMessage> {
        self.shared.engine().submitted()
    }

    pub async fn wait_submitted(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<NetMessage>, SimError> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let got = self.submitted();
                if got.len() >= n || rx.changed().await.is_err() {
                    return got;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(got) if got.len() >= n => Ok(got),
            _ => Err(SimError::Timeout {
                what: "submitted messages",
                want: n,
                got: self.submitted().len(),
                timeout,
            }),
        }
    }

    /// Messages in its SIM storage.
    pub fn stored(&self) -> usize {
        self.shared.engine().stored()
    }

    /// Waits until the SIM storage holds exactly `n` messages.
    pub async fn wait_stored(&self, n: usize, timeout: Duration) -> Result<(), SimError> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            while self.stored() != n {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(()) if self.stored() == n => Ok(()),
            _ => Err(SimError::Timeout {
                what: "stored messages",
                want: n,
                got: self.stored(),
                timeout,
            }),
        }
    }

    /// Waits until at least `n` command lines have been received; returns them.
    pub async fn wait_commands(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, SimError> {
        let mut rx = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let got = self.commands();
                if got.len() >= n || rx.changed().await.is_err() {
                    return got;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(got) if got.len() >= n => Ok(got),
            _ => Err(SimError::Timeout {
                what: "command lines",
                want: n,
                got: self.commands().len(),
                timeout,
            }),
        }
    }

    /// Messages the network holds for this SIM while its storage is full.
    pub fn waiting(&self) -> usize {
        self.shared.engine().waiting()
    }

    /// Every command line received, for transcript assertions.
    pub fn commands(&self) -> Vec<String> {
        self.shared.engine().commands()
    }

    pub async fn shutdown(self) {
        self.unplug().await;
    }
}

impl Drop for SimModem {
    /// A modem dropped without `shutdown` still stops its task and removes its link.
    fn drop(&mut self) {
        *self.shared.to_task() = None;
        if let Some(p) = self.port().take() {
            p.cancel.cancel();
        }
        if let Some(link) = &self.link {
            if std::fs::read_link(link).is_ok_and(|t| t == self.pts()) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

/// Points `link` at `target` atomically (a temporary symlink renamed over it).
fn replace_link(link: &Path, target: &Path) -> Result<(), SimError> {
    let err = |source| SimError::Link {
        link: link.to_path_buf(),
        target: target.to_path_buf(),
        source,
    };
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "modem".into());
    let tmp = link.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err)?;
    std::fs::rename(&tmp, link).map_err(err)
}

async fn read_some(fd: &AsyncFd<File>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut g = fd.readable().await?;
        if let Ok(r) = g.try_io(|inner| inner.get_ref().read(buf)) {
            return r;
        }
    }
}

async fn write_all(fd: &AsyncFd<File>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mut g = fd.writable().await?;
        match g.try_io(|inner| inner.get_ref().write(bytes)) {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => bytes = bytes.get(n..).unwrap_or(&[]),
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// Carries out the engine's requests in order. Returns false when the line is gone.
async fn execute(
    fd: &AsyncFd<File>,
    shared: &Arc<Shared>,
    net: &Network,
    outs: Vec<Out>,
    cancel: &CancellationToken,
) -> bool {
    for o in outs {
        match o {
            Out::Bytes(b) => match tokio::time::timeout(WRITE_GIVE_UP, write_all(fd, &b)).await {
                Ok(Err(e)) => {
                    tracing::debug!(msisdn = %shared.msisdn, error = %e, "sim write failed");
                    return false;
                }
                Err(_) => {
                    tracing::debug!(msisdn = %shared.msisdn, "nobody reading; output dropped")
                }
                Ok(Ok(())) => {}
            },
            Out::Delay(d) => {
                tokio::select! {
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep(d) => {}
                }
            }
            Out::Transmit { submit, tpdu, mr } => {
                let msg = net.submit(shared, &submit, &tpdu, mr);
                shared.tap_send(TapEvent::Transmitted {
                    msisdn: shared.msisdn.clone(),
                    at: msg.at,
                });
                shared.engine().record_submitted(msg);
                shared.bump();
            }
        }
    }
    true
}

async fn run(
    fd: AsyncFd<File>,
    shared: Arc<Shared>,
    net: Network,
    mut rx: mpsc::UnboundedReceiver<Vec<Out>>,
    cancel: CancellationToken,
) {
    let mut buf = [0u8; 1024];
    let mut noise_every = None;
    let mut next_noise = tokio::time::Instant::now();
    loop {
        let every = shared.engine().faults().urc_noise_interval;
        if every != noise_every {
            noise_every = every;
            next_noise = tokio::time::Instant::now() + every.unwrap_or_default();
        }
        let noise = async {
            match noise_every {
                Some(_) => tokio::time::sleep_until(next_noise).await,
                None => std::future::pending().await,
            }
        };
        let outs = tokio::select! {
            _ = cancel.cancelled() => return,
            r = read_some(&fd, &mut buf) => match r {
                Ok(n) if n > 0 => {
                    let at = std::time::Instant::now();
                    let (outs, lines) = {
                        let mut e = shared.engine();
                        let before = e.commands_total();
                        let outs = e.feed(buf.get(..n).unwrap_or(&[]));
                        let lines = if e.commands_total() != before && shared.tap().is_some() {
                            e.commands_since(before)
                        } else {
                            Vec::new()
                        };
                        (outs, lines)
                    };
                    for line in lines {
                        shared.tap_send(TapEvent::Command { msisdn: shared.msisdn.clone(), line, at });
                    }
                    shared.bump();
                    outs
                }
                Ok(_) | Err(_) => {
                    tracing::debug!(msisdn = %shared.msisdn, "sim pty closed");
                    return;
                }
            },
            Some(outs) = rx.recv() => outs,
            _ = noise => {
                next_noise += noise_every.unwrap_or(Duration::from_secs(1));
                shared.engine().noise()
            }
        };
        if !execute(&fd, &shared, &net, outs, &cancel).await {
            return;
        }
    }
}
