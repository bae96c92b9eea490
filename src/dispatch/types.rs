//! Plain data the dispatcher exchanges with the store and the modem actors.
//!
//! These are private stand-ins for types owned by `src/store/` and
//! `src/modem/` (not merged yet), shaped after their specified APIs. The daemon
//! maps the real types onto these when it implements [`super::Outbox`] and
//! [`super::ModemPort`]. No behaviour lives here beyond small helpers.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Message priority; `High` sorts first when dispatching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

/// The state of one part of an outgoing message, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartState {
    Pending,
    Sending,
    Uncertain,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl PartState {
    /// True when something of this part may already have reached the network,
    /// which pins the message to the SIM it was assigned to.
    pub fn progressed(self) -> bool {
        matches!(
            self,
            PartState::Sending | PartState::Uncertain | PartState::Sent | PartState::Delivered
        )
    }
}

/// One part row of a ready message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    pub seq: u32,
    pub state: PartState,
    pub attempts: u32,
    pub pdu_hex: Option<String>,
    pub tpdu_len: Option<u32>,
    pub mr: Option<u8>,
}

/// A message the store says may be dispatched now.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyMessage {
    pub id: i64,
    pub to: String,
    pub text: String,
    pub report: bool,
    pub flash: bool,
    pub priority: Priority,
    pub validity: Option<Duration>,
    /// Explicit modem asked for by the sender.
    pub modem: Option<String>,
    /// Explicit queue asked for by the sender.
    pub queue: Option<String>,
    /// The modem the message was assigned to (its PDUs were built for its SIM).
    pub assigned_modem: Option<String>,
    pub sim: Option<String>,
    pub options: serde_json::Value,
    pub parts: Vec<PartRow>,
    /// Modems that already failed this message with a SIM-related error.
    pub tried_modems: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl ReadyMessage {
    /// When a queued message of this kind becomes `expired`.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        let v = self.validity?;
        let d = chrono::TimeDelta::from_std(v).ok()?;
        self.created_at.checked_add_signed(d)
    }
}

/// The answer of `Outbox::ready`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadyBatch {
    pub messages: Vec<ReadyMessage>,
    /// The earliest future moment a message becomes ready (schedule, retry
    /// time) or expires. `None`: nothing is waiting on time.
    pub next_wake: Option<DateTime<Utc>>,
}

/// What the store should do with a part whose send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again on the same SIM, not before this time.
    RetryAt(DateTime<Utc>),
    /// Try again on another SIM (the store adds the modem to `tried_modems`),
    /// not before this time.
    Failover(DateTime<Utc>),
    /// Give up: the message fails with the error.
    Permanent,
}

/// A message's state as the store derives it from its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
    Expired,
}

/// Sends counted against one SIM in the trailing windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub last_minute: u32,
    pub last_hour: u32,
    pub last_day: u32,
}

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
