//! The AT engine: bytes from a modem become events (response lines, final
//! results, the `> ` prompt, echo, URCs), typed commands carry their own
//! timeout and answer parsers, and the CMS/CME error tables classify failures.
//!
//! Pure: no I/O, no tokio, no logging, and no panic on any input. The modem
//! driver (`crate::modem`) owns the port and feeds this module.

pub mod command;
pub mod errors;
pub mod parser;
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

/// Hex text to bytes; whitespace at the ends is ignored.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, AtError> {
    let t = text.trim().as_bytes();
    if !t.len().is_multiple_of(2) {
        return Err(AtError::BadHex { offset: t.len() });
    }
    let nib = |b: u8, offset: usize| -> Result<u8, AtError> {
        match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            b'A'..=b'F' => Ok(b - b'A' + 10),
            _ => Err(AtError::BadHex { offset }),
        }
    };
    t.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match pair {
            [h, l] => Ok(nib(*h, 2 * i)? << 4 | nib(*l, 2 * i + 1)?),
            _ => Err(AtError::BadHex { offset: 2 * i }),
        })
        .collect()
}

/// Bytes to upper-case hex, as modems expect it.
pub fn encode_hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

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
