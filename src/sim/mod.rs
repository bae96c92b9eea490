//! Simulated GSM modems on pseudo-terminals, sharing one simulated network, with
//! fault injection. Backs the integration tests, `smsgate demo` and `smsgate sim`.
//! Owns the pty plumbing (`modem.rs`), the AT state machine (`engine.rs`), the
//! vendor quirk table (`personality.rs`) and the network (`network.rs`); PDUs are
//! read and built with the product codec (`crate::codec`). Nothing the daemon
//! needs at run time lives here, and nothing here opens a real serial device.
//!
//! What a simulated modem looks like from the port:
//! - after power-up, `AT+CFUN=1,1` or a replug: the personality's boot noise, echo
//!   on, `+CMEE=0`, PDU mode (text mode for a `text_only` modem),
//!   `+CSDH=0`, `+CSCS="GSM"`, `+CNMI: 2,1,0,0,0` (store + `+CMTI`, no status
//!   reports until `ds` is 1 or 2), storage `SM` with `storage_slots` slots;
//! - every SIM uses the SMSC `+15559990000`; a locked SIM's PUK is `12345678`;
//! - SIM storage and message references survive resets and unplugs, session
//!   settings do not; a URC due while unplugged is lost, the message stays stored;
//! - output written while nobody has the port open stays in the pty and is read
//!   by the next opener (a real USB modem's tty would drop it).

mod engine;
mod modem;
mod network;
mod personality;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use modem::SimModem;
pub use network::{Network, NetworkOptions, SMSC};
pub use personality::{Personality, ALL as ALL_PERSONALITIES};

/// Everything that can go wrong running a simulated modem.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(#[source] nix::Error),
    #[error("pseudo-terminal I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot point link {link} at {target}: {source}")]
    Link {
        link: PathBuf,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {timeout:?} waiting for {want} {what}, have {got}")]
    Timeout {
        what: &'static str,
        want: usize,
        got: usize,
        timeout: Duration,
    },
    #[error("no simulated SIM has the number {0}")]
    UnknownMsisdn(String),
    #[error("modem {0} is unplugged")]
    Unplugged(String),
    #[error("cannot build the PDUs: {0}")]
    Codec(#[from] crate::codec::CodecError),
}

/// A message as the simulated network saw it leave a SIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetMessage {
    pub from_msisdn: String,
    pub to: String,
    pub text: String,
    /// The SUBMIT TPDU (no SMSC prefix), with the MR the modem assigned.
    pub pdu_hex: String,
    /// (reference, total, sequence) when the part carries a concatenation IE.
    pub concat: Option<(u16, u8, u8)>,
    pub at: Instant,
}

/// What a modem's tap (`SimModem::set_tap`) reports, stamped the moment the
/// simulator read the line or handed the SUBMIT to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapEvent {
    /// A command line arrived, e.g. `AT+CMGS=23`.
    Command {
        msisdn: String,
        line: String,
        at: Instant,
    },
    /// A SUBMIT left for the network (after any `cmgs_latency`, before the answer).
    Transmitted { msisdn: String, at: Instant },
}

/// Faults a simulated modem injects. `Default` is a perfect modem.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Delay between the Ctrl-Z of an `AT+CMGS` and its answer.
    pub cmgs_latency: Duration,
    /// Probability that an `AT+CMGS` fails with `+CMS ERROR: <cms_error_code>`.
    pub cms_error_rate: f64,
    /// The code those failures carry; 0 means 500 ("unknown error").
    pub cms_error_code: u16,
    /// Probability that a command line gets no answer at all.
    pub no_answer_rate: f64,
    /// Probability that an answer is preceded by random bytes or half a line.
    pub garbage_rate: f64,
    /// Send a noise URC this often, and sprinkle them inside answers.
    pub urc_noise_interval: Option<Duration>,
    /// The SIM storage reports full: arrivals wait in the network, writes get 322.
    pub storage_full: bool,
    /// Echo even after `ATE0`.
    pub echo: bool,
    /// A modem without PDU mode: `AT+CMGF=0` is refused, it starts and stays
    /// in text mode (`AT+CSDH`, `AT+CSMP`, `AT+CSCS`, text listings and URCs).
    pub text_only: bool,
}

/// One simulated SIM in one simulated modem.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpec {
    pub name: String,
    pub personality: Personality,
    /// The SIM's own number, `+` and digits.
    pub msisdn: String,
    pub imsi: String,
    pub iccid: String,
    pub imei: String,
    /// When set, the SIM starts locked (`+CPIN: SIM PIN`); the PUK is `12345678`.
    pub pin: Option<String>,
    pub storage_slots: u32,
    pub faults: Faults,
}

impl SimSpec {
    /// A spec with identifiers derived from the number (stable across runs).
    pub fn new(name: &str, personality: Personality, msisdn: &str) -> SimSpec {
        let digits: String = msisdn.chars().filter(char::is_ascii_digit).collect();
        let tail = |n: usize| -> String {
            let d = format!("{digits:0>n$}");
            d.get(d.len().saturating_sub(n)..).unwrap_or("").to_string()
        };
        SimSpec {
            name: name.to_string(),
            personality,
            msisdn: msisdn.to_string(),
            imsi: format!("00101{}", tail(10)),
            iccid: format!("8901001{}", tail(12)),
            imei: format!("35000000{}", tail(7)),
            pin: None,
            storage_slots: 30,
            faults: Faults::default(),
        }
    }
}

/// Numbers compare as everywhere else, so `+1555…` and `1555…` are one SIM.
pub(crate) use crate::codec::address::same_number;

/// Stable 64-bit hash (FNV-1a) for seeding a modem's randomness from its spec.
pub(crate) fn seed_for(net_seed: u64, spec: &SimSpec) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ net_seed;
    for b in spec.imsi.bytes().chain(spec.msisdn.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
