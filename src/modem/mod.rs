//! The modem driver: one actor task per device, the only code that touches
//! its port. It takes requests (send, confirm a stored SMS, USSD) and emits
//! events (received PDU, status report, state changes). It never decides which
//! SIM sends what, never touches SQL, and never deletes an SMS the daemon has
//! not confirmed.
//!
//! - [`spawn`] starts the actor and returns a cloneable [`ModemHandle`].
//! - `driver` holds the actor: start-up, send, receive, sweep, health,
//!   recovery ladder, unplug and replug.
//! - `conn` runs one AT command over the port; `port` opens the device and
//!   waits (inotify + slow timer) for a vanished path to come back.
//! - [`quirks`] is the vendor table.
//! - [`probe`] diagnoses a port without the daemon (`smsgate probe`).

mod conn;
mod driver;
mod port;
pub mod probe;
pub mod quirks;

pub use crate::at::{ErrorClass, Registration};

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Everything the driver needs to know about one modem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverOptions {
    pub name: String,
    pub device: PathBuf,
    /// 115200 by default.
    pub baud: u32,
    /// Never serialised (status output must not show it).
    #[serde(skip_serializing)]
    pub pin: Option<String>,
    /// `AT+CMGF` mode: PDU, text, or auto (PDU where the modem accepts
    /// `AT+CMGF=0`, text otherwise).
    pub mode: crate::config::ModemMode,
    /// `AT+CNMI=` argument; default store-and-notify `2,1,0,2,0`.
    pub cnmi: String,
    /// SMS storage: "SM" (default), "ME", "MT".
    pub storage: String,
    /// Status-report storage, "SR" where supported.
    pub report_storage: Option<String>,
    /// Set the SMSC with `AT+CSCA` at start-up.
    pub smsc: Option<String>,
    /// Extra AT commands run at the end of start-up.
    pub init: Vec<String>,
    /// Force a quirk family; `None` detects it from `AT+CGMI`.
    pub quirks: Option<quirks::Family>,
    pub command_timeout: Duration,
    /// How long `AT+CMGS` may wait for the network (60–180 s; 120 s default).
    pub send_timeout: Duration,
    pub health_interval: Duration,
    pub sweep_interval: Duration,
    /// Allow `AT+CFUN=1,1` as the last recovery step (re-enumerates USB).
    pub radio_reset: bool,
    /// Longest wait between reopen attempts (and the slow retry while gone).
    pub reopen_backoff_max: Duration,
}

impl DriverOptions {
    /// Defaults for everything but the name and the device path.
    pub fn new(name: impl Into<String>, device: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            device: device.into(),
            baud: 115_200,
            pin: None,
            mode: crate::config::ModemMode::Auto,
            cnmi: "2,1,0,2,0".into(),
            storage: "SM".into(),
            report_storage: None,
            smsc: None,
            init: Vec::new(),
            quirks: None,
            command_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(120),
            health_interval: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(300),
            radio_reset: false,
            reopen_backoff_max: Duration::from_secs(60),
        }
    }
}

/// What to send. A modem in text mode sends the same SUBMIT: the actor
/// decodes it and sends it with `AT+CSMP`/`AT+CSCS`/`AT+CMGS="<da>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SendRequest {
    /// A SUBMIT PDU (SMSC prefix included, `00` for the SIM's SMSC);
    /// `tpdu_len` is the `AT+CMGS=` length (SMSC excluded). The driver
    /// writes it as hex: the only place a sent PDU is hex.
    Pdu { pdu: Vec<u8>, tpdu_len: usize },
}

/// Why a send failed, and what the dispatcher should do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendError {
    pub class: ErrorClass,
    /// The `+CMS`/`+CME ERROR` code, when there was one.
    pub code: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for SendError {
    /// The modem's reason, with its error code when the text lacks it: this
    /// is what a failed message shows as its error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) if !self.message.contains(&code.to_string()) => {
                write!(f, "{} (code {code})", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SendError {}

/// Where a received PDU lives until the daemon confirms it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StorageLocation {
    /// "SM", "ME", "SR"...; `"routed"` for a routed `+CMT`/`+CDS`.
    pub mem: String,
    /// The storage index, or a sequence number for routed messages.
    pub index: u32,
    /// Came as `+CMT`/`+CDS`: confirming it sends `+CNMA` (when required).
    pub routed: bool,
}

/// Events from the actor. (`Status` is large, but the daemon's contract names
/// it unboxed; events are rare, so the size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ModemEvent {
    Pdu {
        modem: String,
        /// Always `Some`: a storage slot, or for routed `+CMT`/`+CDS` a
        /// location with `routed: true` that the daemon confirms so the
        /// driver can acknowledge with `+CNMA`.
        location: Option<StorageLocation>,
        pdu: Vec<u8>,
        tpdu_len: Option<usize>,
        /// A status report (`+CDS`, `+CDSI`, SR storage, or TP-MTI says so).
        report: bool,
    },
    /// On every state change and after each health check.
    Status(ModemStatus),
}

/// The actor's life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ModemState {
    Starting,
    Ready,
    Recovering,
    /// Unplugged; reopened when the path returns.
    Gone,
    /// Not retried (wrong PIN, PUK needed...).
    Failed(String),
    Stopped,
}

/// A snapshot of one modem, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModemStatus {
    pub name: String,
    pub state: ModemState,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub smsc: Option<String>,
    pub operator: Option<String>,
    pub registration: Option<Registration>,
    /// CSQ rssi 0–31, 99 unknown.
    pub signal: Option<u8>,
    pub storage_used: Option<(u32, u32)>,
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// RFC 3339: the last moment the modem was seen ready (while it is
    /// ready: its last status update; afterwards: when it stopped being).
    pub last_ready_at: Option<String>,
    /// The modem works in text mode (`AT+CMGF=1`): it can send only
    /// single-part messages without a user data header.
    pub text_mode: bool,
}

impl ModemStatus {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            state: ModemState::Starting,
            manufacturer: None,
            model: None,
            revision: None,
            imei: None,
            imsi: None,
            iccid: None,
            smsc: None,
            operator: None,
            registration: None,
            signal: None,
            storage_used: None,
            sent: 0,
            received: 0,
            errors: 0,
            last_error: None,
            last_ready_at: None,
            text_mode: false,
        }
    }
}

/// Errors of the modem module (USSD and internal failures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModemError {
    #[error("modem not ready ({0:?})")]
    NotReady(ModemState),
    #[error("{command}: no answer within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("{command}: {result}")]
    Command { command: String, result: String },
    #[error("device {path}: {reason}")]
    Gone { path: String, reason: String },
    #[error("i/o on {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("the modem actor has stopped")]
    Stopped,
}

#[derive(Debug)]
pub(crate) enum Request {
    Send {
        req: SendRequest,
        reply: oneshot::Sender<Result<u8, SendError>>,
    },
    Confirm {
        loc: StorageLocation,
    },
    Ussd {
        code: String,
        reply: oneshot::Sender<Result<String, ModemError>>,
    },
}

/// The daemon's side of one modem actor.
#[derive(Debug, Clone)]
pub struct ModemHandle {
    name: Arc<str>,
    tx: mpsc::UnboundedSender<Request>,
    status: watch::Receiver<ModemStatus>,
}

impl ModemHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Send one message; answers the TP-MR from `+CMGS`. One at a time per
    /// modem: the daemon keeps one send in flight.
    pub async fn send(&self, req: SendRequest) -> Result<u8, SendError> {
        let stopped = || SendError {
            class: ErrorClass::NotReady,
            code: None,
            message: "modem actor stopped".into(),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Send { req, reply })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// The daemon committed this PDU: delete it from the modem (or ack a
    /// routed one with `+CNMA`). Returns once queued; a modem that is away
    /// deletes it when it is back.
    pub async fn confirm_stored(&self, loc: StorageLocation) {
        if self.tx.send(Request::Confirm { loc }).is_err() {
            tracing::debug!(modem = %self.name, "confirm after the actor stopped");
        }
    }

    /// Run a USSD code and return the network's answer.
    pub async fn ussd(&self, code: String) -> Result<String, ModemError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Ussd { code, reply })
            .map_err(|_| ModemError::Stopped)?;
        rx.await.map_err(|_| ModemError::Stopped)?
    }

    /// The latest status, updated on every change.
    pub fn status(&self) -> watch::Receiver<ModemStatus> {
        self.status.clone()
    }
}

/// The other ends of a [`ModemHandle`] that no actor drives: its requests
/// and its status. Tests answer sends through these.
#[cfg(test)]
pub(crate) struct Detached {
    pub requests: mpsc::UnboundedReceiver<Request>,
    pub status: watch::Sender<ModemStatus>,
}

#[cfg(test)]
impl ModemHandle {
    /// A handle with no actor behind it: the caller reads its requests and
    /// sets its status (starting as `Starting`, like a fresh actor's).
    pub(crate) fn detached(name: &str) -> (ModemHandle, Detached) {
        let (tx, requests) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(ModemStatus::new(name));
        let handle = ModemHandle {
            name: Arc::from(name),
            tx,
            status,
        };
        (
            handle,
            Detached {
                requests,
                status: status_tx,
            },
        )
    }
}

/// Start the actor for one modem. It runs until `cancel` fires (finishing a
/// send in flight first) and never blocks other modems.
pub fn spawn(
    opts: DriverOptions,
    events: mpsc::Sender<ModemEvent>,
    cancel: CancellationToken,
) -> ModemHandle {
    spawn_on(opts, events, cancel, None)
}

/// [`spawn`], with the actor's task held by `tracker` (the daemon's), so
/// shutdown waits for it like for every other task.
pub fn spawn_on(
    opts: DriverOptions,
    events: mpsc::Sender<ModemEvent>,
    cancel: CancellationToken,
    tracker: Option<&tokio_util::task::TaskTracker>,
) -> ModemHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(ModemStatus::new(&opts.name));
    let name: Arc<str> = Arc::from(opts.name.as_str());
    let actor = driver::run(opts, events, cancel, rx, status_tx);
    match tracker {
        Some(t) => {
            t.spawn(actor);
        }
        None => {
            tokio::spawn(actor);
        }
    }
    ModemHandle { name, tx, status }
}
