//! Plain data the dispatcher exchanges with the store and the modem actors.
//!
//! The store's types are re-exported from `src/store/`; the modem-side types
//! below are the dispatcher's view of a modem actor, which the daemon maps the
//! real `src/modem/` types onto when it implements [`super::ModemPort`].

pub use crate::store::{
    Disposition, MessageState, PartRow, PartState, Priority, ReadyBatch, ReadyMessage, Usage,
};

/// How the modem actor classified a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A transient error on this SIM (network busy, SMSC timeout).
    RetryHere,
    /// This SIM cannot send it now (no credit, barred, not registered).
    TryAnotherSim,
    /// The message itself is bad (invalid number, rejected PDU).
    Permanent,
    /// The PDU may have left: the modem did not answer after the prompt.
    Uncertain,
    /// The modem was not ready to take the request at all.
    NotReady,
}

/// A failed send as the modem actor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub class: ErrorClass,
    /// The raw `+CMS ERROR` / `+CME ERROR` code, when there was one.
    pub code: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} (code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What the dispatcher asks a modem to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRequest {
    /// One SUBMIT PDU (with SMSC prefix) and its `AT+CMGS` length.
    Pdu { hex: String, tpdu_len: u32 },
}

/// A modem actor's life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModemState {
    #[default]
    Starting,
    Ready,
    Recovering,
    Gone,
    Failed(String),
    Stopped,
}

/// The part of a modem's status snapshot the dispatcher uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemStatus {
    pub state: ModemState,
    pub imsi: Option<String>,
}
