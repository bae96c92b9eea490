//! The encoding choices recorded with each outgoing message at intake, so the
//! PDUs built at send time have the part count intake counted. Plain data
//! (one serde form, kept in the store's `options` column); the daemon-wide
//! defaults that fill it live in `dispatch::encode`.

use serde::{Deserialize, Serialize};

/// Per-message encoding options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageOptions {
    /// National language identifiers the splitter may use.
    pub languages: Vec<u8>,
    /// Send as UCS-2 even when GSM-7 would do.
    pub ucs2: bool,
    /// 16-bit concatenation reference (it changes the part count). `None` on
    /// messages stored before intake recorded it: today's setting applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref16: Option<bool>,
    /// The stored text is masked (a verification code): the real one is
    /// held in memory by the store and used at send time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}
