//! Hex text ↔ octets: the one hex codec of the crate. PDUs travel as bytes;
//! hex exists only where a wire or a column wants text (`AT+CMGS`, `+CMGL`,
//! the store's PDU columns, the CLI). Pure; never panics on input.

use super::CodecError;

/// Upper-case digits, as modems expect them.
pub const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// The value of one hex digit (either case).
pub fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The two upper-case digits of `byte`.
pub fn digits(byte: u8) -> [u8; 2] {
    let at = |i: u8| DIGITS.get(usize::from(i & 0x0F)).copied().unwrap_or(b'0');
    [at(byte >> 4), at(byte)]
}

/// Upper-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for d in digits(b) {
            s.push(char::from(d));
        }
    }
    s
}

/// Parses a hex string into octets. White space around it is ignored; the
/// error names the offending character's offset.
pub fn decode(hex: &str) -> Result<Vec<u8>, CodecError> {
    let raw = hex.trim().as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(CodecError::Hex { offset: raw.len() });
    }
    let (pairs, _) = raw.as_chunks::<2>();
    let mut out = Vec::with_capacity(pairs.len());
    for (i, [hi, lo]) in pairs.iter().enumerate() {
        let hi = digit(*hi).ok_or(CodecError::Hex { offset: 2 * i })?;
        let lo = digit(*lo).ok_or(CodecError::Hex { offset: 2 * i + 1 })?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decode_table() {
        let cases: &[(&str, Result<Vec<u8>, CodecError>)] = &[
            ("00A1ff", Ok(vec![0x00, 0xA1, 0xFF])),
            (" 0a \n", Ok(vec![0x0A])),
            ("", Ok(vec![])),
            ("0", Err(CodecError::Hex { offset: 1 })),
            ("0G", Err(CodecError::Hex { offset: 1 })),
            ("é", Err(CodecError::Hex { offset: 0 })),
        ];
        assert!(!cases.is_empty());
        for (input, want) in cases {
            assert_eq!(&decode(input), want, "{input:?}");
        }
        assert_eq!(encode(&[0x00, 0xAB, 0x7f]), "00AB7F");
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes.clone());
            prop_assert_eq!(decode(&encode(&bytes).to_ascii_lowercase()).unwrap(), bytes);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = decode(&s);
        }
    }
}
