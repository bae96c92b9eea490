//! UCS-2 user data (3GPP TS 23.038 §6.2.3), sent and accepted as UTF-16BE with
//! surrogate pairs, as phones do for emoji.
//!
//! Owns: text <-> UTF-16BE octets. Does not own choosing UCS-2 over GSM-7 or
//! cutting parts (`split`), nor the hex form used by text-mode modems
//! (`charset`). Pure; never panics on any input.

use thiserror::Error;

/// Why UCS-2 octets could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Ucs2Error {
    /// UCS-2 data must hold whole 16-bit units.
    #[error("UCS-2 data has an odd length of {len} octets (trailing octet at offset {offset})")]
    OddLength { len: usize, offset: usize },
}

/// Text -> UTF-16BE octets; characters outside the BMP become surrogate pairs.
pub fn encode(text: &str) -> Vec<u8> {
    // A UTF-16 unit never needs more than the character's UTF-8 bytes.
    let mut out = Vec::with_capacity(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// UTF-16 units `text` takes: 1 per BMP character, 2 per character above it.
pub fn unit_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Unpaired surrogates become U+FFFD. An odd trailing octet is an error.
pub fn decode(octets: &[u8]) -> Result<String, Ucs2Error> {
    if !octets.len().is_multiple_of(2) {
        return Err(Ucs2Error::OddLength {
            len: octets.len(),
            offset: octets.len() - 1,
        });
    }
    Ok(decode_units(octets))
}

/// Like [`decode`], but an odd trailing octet becomes one U+FFFD instead of an error.
pub fn decode_lossy(octets: &[u8]) -> String {
    let mut out = decode_units(octets);
    if !octets.len().is_multiple_of(2) {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

/// Decodes the whole 16-bit units of `octets`, ignoring an odd trailing octet.
fn decode_units(octets: &[u8]) -> String {
    let (pairs, _odd) = octets.as_chunks::<2>();
    let units = pairs.iter().map(|&pair| u16::from_be_bytes(pair));
    let mut out = String::with_capacity(octets.len() + octets.len() / 2);
    out.extend(char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)));
    out
}

/// True for a UTF-16 high (leading) surrogate, U+D800..=U+DBFF.
pub fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..=0xDBFF).contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::codec::to_hex as hex;

    fn unhex(s: &str) -> Vec<u8> {
        crate::codec::from_hex(s).expect("test vector is hex")
    }

    #[test]
    fn encode_vectors() {
        // (text, UTF-16BE hex)
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("hello", "00680065006C006C006F"), // P5
            ("Hi 😀", "004800690020D83DDE00"), // V4
            ("€", "20AC"),
            ("Привет", "041F04400438043204350442"),
            ("🇩🇪", "D83CDDE9D83CDDEA"),
            ("\u{FFFF}", "FFFF"),
            ("\u{10FFFF}", "DBFFDFFF"),
        ];
        assert!(!table.is_empty());
        fn check(text: &str, want: &str) {
            let got = encode(text);
            assert_eq!(hex(&got), want, "{text:?}");
            assert_eq!(unit_len(text) * 2, got.len());
            assert_eq!(decode(&got).as_deref(), Ok(text));
        }
        for (t, w) in table {
            check(t, w);
        }
    }

    #[test]
    fn decode_vectors() {
        // (UTF-16BE hex, decoded text or the error)
        let table: &[(&str, Result<&str, Ucs2Error>)] = &[
            ("", Ok("")),
            ("004800690020D83DDE00", Ok("Hi 😀")),
            ("D83D", Ok("\u{FFFD}")),      // lone high surrogate at the end
            ("DE00", Ok("\u{FFFD}")),      // lone low surrogate
            ("D83D0041", Ok("\u{FFFD}A")), // high surrogate then a BMP unit
            ("DE00D83D", Ok("\u{FFFD}\u{FFFD}")), // reversed pair
            ("0000", Ok("\0")),
            ("00", Err(Ucs2Error::OddLength { len: 1, offset: 0 })),
            ("004100", Err(Ucs2Error::OddLength { len: 3, offset: 2 })),
        ];
        assert!(!table.is_empty());
        fn check(octets: &str, want: &Result<&str, Ucs2Error>) {
            let got = decode(&unhex(octets));
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{octets}"
            );
        }
        for (o, w) in table {
            check(o, w);
        }
    }

    #[test]
    fn lossy_marks_the_odd_octet() {
        assert_eq!(decode_lossy(&unhex("004100")), "A\u{FFFD}");
        assert_eq!(decode_lossy(&unhex("0041")), "A");
        assert_eq!(decode_lossy(&[]), "");
    }

    /// Deterministic runs: a fixed seed, no regression files.
    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7563_7332),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn round_trip(text in any::<String>()) {
            let octets = encode(&text);
            prop_assert_eq!(octets.len(), unit_len(&text) * 2);
            prop_assert_eq!(decode(&octets), Ok(text.clone()));
            prop_assert_eq!(decode_lossy(&octets), text);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let lossy = decode_lossy(&bytes);
            prop_assert!(lossy.chars().count() <= bytes.len().div_ceil(2));
            match decode(&bytes) {
                Ok(s) => prop_assert_eq!(s, lossy),
                Err(Ucs2Error::OddLength { len, offset }) => {
                    prop_assert_eq!(len, bytes.len());
                    prop_assert_eq!(offset + 1, len);
                }
            }
        }
    }
}
