//! smsgate: an SMS gateway daemon for pools of USB/serial GSM modems.
//!
//! The library holds every part of the gateway; `main.rs` is a thin shell over
//! [`cli`]. See ARCHITECTURE.md for the map of modules and their boundaries.

pub mod at;
pub mod cli;
pub mod codec;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dispatch;
pub mod events;
pub mod gateway;
pub mod hooks;
pub mod modem;
pub mod notify;
pub mod sim;
pub mod smpp;
pub mod spool;
pub mod store;
