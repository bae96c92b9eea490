//! smsgate: an SMS gateway daemon for pools of USB/serial GSM modems.
//!
//! The library holds every part of the gateway; `main.rs` is a thin shell over
//! [`cli`]. See ARCHITECTURE.md for the map of modules and their boundaries.
//!
//! Nothing on a daemon path may panic on input: outside tests the library
//! denies `unwrap`, `expect`, `panic!` and indexing that can panic. (Set here
//! rather than in Cargo.toml's `[lints]`, which would also deny them in the
//! integration tests and benchmarks, where a panic is how a check fails.) A
//! true invariant carries an `#[allow]` with its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod at;
pub mod campaign;
pub mod cli;
pub mod codec;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dispatch;
pub mod events;
pub mod gateway;
pub mod hooks;
pub mod http;
pub mod modem;
pub mod notify;
pub mod sim;
pub mod smpp;
pub mod spool;
pub mod store;
pub mod webhooks;
