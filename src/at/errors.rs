//! `+CMS ERROR` (27.005 §3.2.5) and `+CME ERROR` (27.007 §9.2) tables: code
//! and verbose text in both directions, and how a failed send is classified.
//! Owns no I/O; the modem driver decides what to do with a class.

use serde::Serialize;

/// What the dispatcher should do with a message whose send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorClass {
    /// A passing problem of this modem or of the network: try again here later.
    RetryHere,
    /// This SIM or its subscription cannot send now: another SIM may.
    TryAnotherSim,
    /// The message itself is refused (bad destination, invalid PDU): give up.
    Permanent,
    /// Timed out after the PDU was written: it may have gone out.
    Uncertain,
    /// Not tried: the modem was not ready.
    NotReady,
}

/// A `+CMS ERROR`, numeric or verbose. `code` is `None` when a verbose text
/// is not in the table; the raw text is always kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmsError {
    pub code: Option<u16>,
    pub text: String,
}

/// A `+CME ERROR`, numeric or verbose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmeError {
    pub code: Option<u16>,
    pub text: String,
}

use ErrorClass::{Permanent, RetryHere, TryAnotherSim};

/// `+CMS ERROR` codes: (code, meaning, class). The comment after each row says
/// why it has that class. Codes not listed fall back to [`classify_cms`]'s ranges.
pub const CMS_TABLE: &[(u16, &str, ErrorClass)] = &[
    // RP causes (24.011 E.2) about the destination: no other SIM will do better.
    (1, "unassigned (unallocated) number", Permanent),
    (8, "operator determined barring", Permanent),
    (10, "call barred", Permanent),
    (21, "short message transfer rejected", Permanent),
    (27, "destination out of service", Permanent),
    (28, "unidentified subscriber", Permanent),
    (29, "facility rejected", Permanent),
    (30, "unknown subscriber", Permanent),
    // Network-side congestion and failures pass.
    (17, "network failure", RetryHere),
    (22, "memory capacity exceeded", RetryHere),
    (38, "network out of order", RetryHere),
    (41, "temporary failure", RetryHere),
    (42, "congestion", RetryHere),
    (47, "resources unavailable, unspecified", RetryHere),
    // The sending subscription lacks the service: another SIM may have it.
    (50, "requested facility not subscribed", TryAnotherSim),
    (69, "requested facility not implemented", TryAnotherSim),
    // Malformed message: resending the same bytes fails the same way.
    (
        95,
        "invalid short message transfer reference value",
        Permanent,
    ),
    (96, "invalid mandatory information", Permanent),
    (111, "protocol error, unspecified", RetryHere),
    // TP-FCS (23.040 §9.2.3.22): SC busy or failing passes; a bad address does not.
    (192, "SC busy", RetryHere),
    (193, "no SC subscription", TryAnotherSim),
    (194, "SC system failure", RetryHere),
    (195, "invalid SME address", Permanent),
    (196, "destination SME barred", Permanent),
    (197, "SM rejected-duplicate SM", Permanent),
    (208, "(U)SIM SMS storage full", RetryHere),
    (255, "unspecified error cause", RetryHere),
    // 27.005 ME/TA errors.
    (300, "ME failure", RetryHere), // usually clears after a moment
    (301, "SMS service of ME reserved", RetryHere), // busy with another SMS operation
    (302, "operation not allowed", RetryHere), // often "not registered yet"
    (303, "operation not supported", TryAnotherSim), // this modem cannot, another may
    (304, "invalid PDU mode parameter", Permanent), // the PDU is wrong
    (305, "invalid text mode parameter", Permanent), // the text/number is wrong
    (310, "SIM not inserted", TryAnotherSim),
    (311, "SIM PIN required", TryAnotherSim),
    (312, "PH-SIM PIN required", TryAnotherSim),
    (313, "SIM failure", TryAnotherSim),
    (314, "SIM busy", RetryHere), // the spec's table: transient
    (315, "SIM wrong", TryAnotherSim),
    (316, "SIM PUK required", TryAnotherSim),
    (317, "SIM PIN2 required", TryAnotherSim),
    (318, "SIM PUK2 required", TryAnotherSim),
    (320, "memory failure", RetryHere),
    (321, "invalid memory index", RetryHere),
    (322, "memory full", RetryHere), // the driver sweeps; slots free up
    (330, "SMSC address unknown", TryAnotherSim), // this SIM has no usable SMSC
    (331, "no network service", TryAnotherSim), // this SIM is not registered
    (332, "network timeout", RetryHere),
    (340, "no +CNMA acknowledgement expected", RetryHere),
    (500, "unknown error", RetryHere),
];

/// `+CME ERROR` codes: (code, meaning, class when it answers a send).
pub const CME_TABLE: &[(u16, &str, ErrorClass)] = &[
    (0, "phone failure", RetryHere),
    (1, "no connection to phone", RetryHere),
    (2, "phone-adaptor link reserved", RetryHere),
    (3, "operation not allowed", RetryHere),
    (4, "operation not supported", TryAnotherSim),
    (5, "PH-SIM PIN required", TryAnotherSim),
    (10, "SIM not inserted", TryAnotherSim),
    (11, "SIM PIN required", TryAnotherSim),
    (12, "SIM PUK required", TryAnotherSim),
    (13, "SIM failure", TryAnotherSim),
    (14, "SIM busy", RetryHere),
    (15, "SIM wrong", TryAnotherSim),
    (16, "incorrect password", TryAnotherSim),
    (17, "SIM PIN2 required", TryAnotherSim),
    (18, "SIM PUK2 required", TryAnotherSim),
    (20, "memory full", RetryHere),
    (21, "invalid index", RetryHere),
    (22, "not found", RetryHere),
    (23, "memory failure", RetryHere),
    (24, "text string too long", Permanent),
    (25, "invalid characters in text string", Permanent),
    (26, "dial string too long", Permanent),
    (27, "invalid characters in dial string", Permanent),
    (30, "no network service", TryAnotherSim),
    (31, "network timeout", RetryHere),
    (
        32,
        "network not allowed - emergency calls only",
        TryAnotherSim,
    ),
    (100, "unknown", RetryHere),
];

fn by_text(table: &[(u16, &str, ErrorClass)], text: &str) -> Option<u16> {
    let t = text.trim();
    table
        .iter()
        .find(|(_, m, _)| m.eq_ignore_ascii_case(t))
        .map(|(c, _, _)| *c)
}

fn by_code(
    table: &[(u16, &'static str, ErrorClass)],
    code: u16,
) -> Option<(&'static str, ErrorClass)> {
    table
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, m, k)| (*m, *k))
}

/// Extra verbose spellings seen from real modems, mapped to codes.
const CMS_ALIASES: &[(&str, u16)] = &[
    ("unknown", 500),
    ("SIM PIN necessary", 311),
    ("SIM PUK necessary", 316),
    ("SMSC address unknown", 330),
    ("invalid PDU mode", 304),
    ("network time out", 332),
];
const CME_ALIASES: &[(&str, u16)] = &[
    ("SIM PIN necessary", 11),
    ("SIM PUK necessary", 12),
    ("unknown error", 100),
    ("incorrect PIN", 16),
];

type Table = &'static [(u16, &'static str, ErrorClass)];

/// The code of the text after `+CMS ERROR:` / `+CME ERROR:`: a number, a
/// verbose text from `table`, or one of the `aliases` modems print instead.
fn code_of(table: Table, aliases: &[(&str, u16)], t: &str) -> Option<u16> {
    t.parse::<u16>().ok().or_else(|| {
        by_text(table, t).or_else(|| {
            aliases
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(t))
                .map(|(_, c)| *c)
        })
    })
}

/// The meaning of `code` in `table`, or the raw `text` the modem printed.
fn meaning_of(table: Table, code: Option<u16>, text: &str) -> String {
    match code.and_then(|c| by_code(table, c)) {
        Some((m, _)) => m.to_string(),
        None => text.to_string(),
    }
}

impl CmsError {
    /// From the text after `+CMS ERROR:`: a number or a verbose text.
    pub fn from_raw(raw: &str) -> Self {
        let t = raw.trim();
        Self {
            code: code_of(CMS_TABLE, CMS_ALIASES, t),
            text: t.to_string(),
        }
    }
    /// The meaning from the table, or the raw text.
    pub fn meaning(&self) -> String {
        meaning_of(CMS_TABLE, self.code, &self.text)
    }
}

impl CmeError {
    /// From the text after `+CME ERROR:`: a number or a verbose text.
    pub fn from_raw(raw: &str) -> Self {
        let t = raw.trim();
        Self {
            code: code_of(CME_TABLE, CME_ALIASES, t),
            text: t.to_string(),
        }
    }
    /// The meaning from the table, or the raw text.
    pub fn meaning(&self) -> String {
        meaning_of(CME_TABLE, self.code, &self.text)
    }
}

/// Class of a `+CMS ERROR` answering `AT+CMGS`.
pub fn classify_cms(code: u16) -> ErrorClass {
    if let Some((_, class)) = by_code(CMS_TABLE, code) {
        return class;
    }
    match code {
        // Other RP causes: unknown ones are treated as passing; the dispatcher's
        // retry limit bounds the cost.
        0..=127 => RetryHere,
        // Other TP-FCS values are PID/DCS/command errors about the message.
        128..=255 => Permanent,
        // 512+ are manufacturer-specific (SIMCom 512 "SIM not ready", 513 lower
        // layer failure, 515 storage busy...): all transient in practice.
        _ => RetryHere,
    }
}

/// Class of a `+CME ERROR` answering a send.
pub fn classify_cme(code: u16) -> ErrorClass {
    match by_code(CME_TABLE, code) {
        Some((_, class)) => class,
        None => RetryHere,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_classes() {
        let table: &[(u16, ErrorClass)] = &[
            (300, RetryHere),
            (314, RetryHere),
            (332, RetryHere),
            (512, RetryHere),
            (515, RetryHere),
            (330, TryAnotherSim),
            (331, TryAnotherSim),
            (310, TryAnotherSim),
            (313, TryAnotherSim),
            (316, TryAnotherSim),
            (1, Permanent),
            (8, Permanent),
            (10, Permanent),
            (21, Permanent),
            (27, Permanent),
            (304, Permanent),
            (42, RetryHere),
            (150, Permanent),
        ];
        assert!(!table.is_empty());
        fn check(code: u16, want: ErrorClass) {
            assert_eq!(classify_cms(code), want, "CMS {code}");
        }
        for (c, w) in table {
            check(*c, *w);
        }
    }

    #[test]
    fn verbose_forms() {
        let table: &[(&str, Option<u16>, bool)] = &[
            ("500", Some(500), true),
            ("SIM busy", Some(314), true),
            ("sim busy", Some(314), true),
            ("memory full", Some(322), true),
            ("invalid PDU mode parameter", Some(304), true),
            ("SIM PIN required", Some(11), false),
            ("incorrect password", Some(16), false),
            ("SIM PUK required", Some(12), false),
            ("something odd", None, true),
        ];
        assert!(!table.is_empty());
        fn check(raw: &str, want: Option<u16>, cms: bool) {
            let got = if cms {
                CmsError::from_raw(raw).code
            } else {
                CmeError::from_raw(raw).code
            };
            assert_eq!(got, want, "{raw:?}");
        }
        for (r, w, c) in table {
            check(r, *w, *c);
        }
    }

    #[test]
    fn tables_have_unique_codes() {
        for t in [CMS_TABLE, CME_TABLE] {
            let mut codes: Vec<u16> = t.iter().map(|r| r.0).collect();
            let n = codes.len();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), n);
        }
    }
}
