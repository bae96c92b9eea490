//! The dispatcher: moves ready messages from the store to modem actors.
//!
//! Owns the pure policy ([`policy`], [`rate`], [`retry`], [`health`]) and the
//! async dispatch task. Never runs SQL nor AT commands: it talks to the store
//! through [`Outbox`] and to modems through [`ModemPort`].

pub mod health;
pub mod policy;
pub mod rate;
pub mod retry;
pub mod types;
