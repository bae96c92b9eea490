//! Plain data the dispatcher exchanges with the store and the modem actors.
//!
//! The store's types are re-exported from `src/store/`; the modem-side types
//! below are the dispatcher's view of a modem actor, which the daemon maps the
//! real `src/modem/` types onto when it implements [`super::ModemPort`].

pub use crate::store::{
    Disposition, MessageState, PartRow, PartState, Priority, ReadyBatch, ReadyMessage, Usage,
};

pub use crate::at::errors::ErrorClass;
pub use crate::modem::SendError;

/// What the dispatcher asks a modem to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRequest {
    /// One SUBMIT PDU (with SMSC prefix) and its `AT+CMGS` length.
    Pdu { hex: String, tpdu_len: u32 },
}
