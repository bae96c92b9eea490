//! Plain data the dispatcher exchanges with the store and the modem actors,
//! re-exported from `src/store/` and `src/modem/` so the policy modules name
//! them in one place. Nothing is defined here.

pub use crate::store::{
    Disposition, MessageState, PartPdu, PartRow, PartState, Priority, ReadyBatch, ReadyMessage,
    Usage,
};

pub use crate::at::errors::ErrorClass;
pub use crate::modem::{SendError, SendRequest};
