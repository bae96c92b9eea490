//! The AT engine: bytes from a modem become events (response lines, final
//! results, the `> ` prompt, echo, URCs), typed commands carry their own
//! timeout and answer parsers, and the CMS/CME error tables classify failures.
//!
//! Pure: no I/O, no tokio, no logging, and no panic on any input. The modem
//! driver (`crate::modem`) owns the port and feeds this module.

pub mod command;
pub mod errors;
pub mod parser;
pub mod text;
pub mod urc;
pub mod ussd;

pub use command::{Command, CpinState, Response, StoredPdu};
pub use errors::{classify_cme, classify_cms, CmeError, CmsError, ErrorClass};
pub use parser::{Event, Final, InFlight, Parser};
pub use urc::{Registration, Urc};

/// Everything that can be wrong with an AT answer. Each variant names the
/// field or offset and keeps the raw text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    /// A response line lacked an expected field or the field did not parse.
    #[error("{command}: bad field `{field}` in {line:?}")]
    BadField {
        command: &'static str,
        field: &'static str,
        line: String,
    },
    /// The answer had no line with the expected prefix.
    #[error("{command}: no `{prefix}` line in the answer")]
    Missing {
        command: &'static str,
        prefix: &'static str,
    },
    /// Hex text was malformed.
    #[error("bad hex at offset {offset}")]
    BadHex { offset: usize },
}

/// Hex text to bytes; whitespace at the ends is ignored (`codec::from_hex`
/// with this module's error).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, AtError> {
    crate::codec::from_hex(text).map_err(|e| AtError::BadHex {
        offset: match e {
            crate::codec::CodecError::Hex { offset } => offset,
            _ => 0,
        },
    })
}

/// Bytes to upper-case hex, as modems expect it.
pub use crate::codec::to_hex as encode_hex;

/// Truncate PDU hex for logs: long hex keeps its head and its length.
pub fn truncate_for_log(text: &str) -> String {
    const KEEP: usize = 24;
    if text.chars().count() <= KEEP {
        text.to_string()
    } else {
        let head: String = text.chars().take(KEEP).collect();
        format!("{head}…({} chars)", text.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_table() {
        let table: &[(&str, Option<&[u8]>)] = &[
            ("", Some(&[])),
            ("00", Some(&[0])),
            ("0aFf", Some(&[0x0a, 0xff])),
            (" 1A ", Some(&[0x1a])),
            ("1", None),
            ("zz", None),
            ("0G", None),
        ];
        assert!(!table.is_empty());
        fn check(input: &str, want: Option<&[u8]>) {
            assert_eq!(decode_hex(input).ok().as_deref(), want, "{input:?}");
        }
        for (i, w) in table {
            check(i, *w);
        }
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode_hex(&encode_hex(&bytes)).ok(), Some(bytes));
        }
    }
}
