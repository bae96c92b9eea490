//! USSD text: `+CUSD` answers come as plain text, packed GSM-7 hex (Huawei)
//! or UCS-2 hex, depending on the modem and `<dcs>`. Owns only the USSD
//! framing (the CR that pads 7 spare bits, TS 23.038 §6.1.2.3.1) and the
//! choice of decoding; the alphabets and septet packing are `codec::gsm7` and
//! `codec::ucs2`.

use super::decode_hex;
use crate::codec::{gsm7, ucs2};

/// Unpack septets (LSB first). A trailing CR that pads 8n−1 septets is dropped.
pub fn unpack_septets(bytes: &[u8]) -> Vec<u8> {
    let mut out = gsm7::unpack(bytes, 0, bytes.len() * 8 / 7);
    if out.len().is_multiple_of(8) && out.last() == Some(&0x0d) {
        out.pop();
    }
    out
}

/// Pack GSM-7 septets (LSB first), CR-padding 7 spare bits.
pub fn pack_septets(septets: &[u8]) -> Vec<u8> {
    let mut s = septets.to_vec();
    if s.len() % 8 == 7 {
        s.push(0x0d);
    }
    gsm7::pack(&s, 0)
}

/// Text → GSM-7 codes (default alphabet and its extension table), for USSD
/// codes (`*100#`); `None` if a char is missing.
pub fn to_gsm7(text: &str) -> Option<Vec<u8>> {
    gsm7::encode(text, gsm7::Tables::DEFAULT)
}

/// Is `<dcs>` (23.038 §5, CBS coding) UCS-2?
fn dcs_is_ucs2(dcs: u8) -> bool {
    dcs == 0x48 || dcs == 0x11 || (dcs & 0xf0 == 0x40 && dcs & 0x0c == 0x08)
}

/// Decode the `<str>` of a `+CUSD` answer.
/// `hex_packed`: the modem returns GSM-7 answers as packed hex (Huawei).
pub fn decode_cusd(text: &str, dcs: Option<u8>, hex_packed: bool) -> String {
    let hexish = !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.chars().all(|c| c.is_ascii_hexdigit());
    if hexish {
        if let Ok(bytes) = decode_hex(text) {
            if dcs.is_some_and(dcs_is_ucs2) {
                return ucs2::decode_lossy(&bytes);
            }
            if hex_packed {
                return gsm7::decode(&unpack_septets(&bytes), gsm7::Tables::DEFAULT);
            }
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at::encode_hex;
    use proptest::prelude::*;

    #[test]
    fn cusd_table() {
        let table: &[(&str, Option<u8>, bool, &str)] = &[
            ("Balance 5.00", Some(15), false, "Balance 5.00"),
            // "*100#" packed as Huawei sends it.
            ("AA180C3602", Some(15), true, "*100#"),
            ("0048006900200021", Some(72), false, "Hi !"),
            ("1234", Some(15), false, "1234"),
        ];
        assert!(!table.is_empty());
        fn check(t: &str, dcs: Option<u8>, packed: bool, want: &str) {
            assert_eq!(decode_cusd(t, dcs, packed), want, "{t:?}");
        }
        for (t, d, p, w) in table {
            check(t, *d, *p, w);
        }
        let packed = to_gsm7("*100#").map(|c| encode_hex(&pack_septets(&c)));
        assert_eq!(packed.as_deref(), Some("AA180C3602"));
    }

    #[test]
    fn packed_answers_use_the_extension_table() {
        // Seven septets pad with CR; escapes (`€`, `[`, `]`) take two septets.
        let table: &[&str] = &["Cost: 5€", "[menu]", "1234567", "12345678", "{a|b}~^\\"];
        assert!(!table.is_empty());
        for text in table {
            let septets = to_gsm7(text).expect("GSM-7 text");
            let hex = encode_hex(&pack_septets(&septets));
            assert_eq!(decode_cusd(&hex, Some(15), true), *text, "{hex}");
        }
        assert_eq!(to_gsm7("Ж"), None);
    }

    proptest! {
        #[test]
        fn pack_round_trip(s in proptest::collection::vec(0u8..128, 0..40)) {
            prop_assume!(s.last() != Some(&0x0d));
            let mut back = unpack_septets(&pack_septets(&s));
            // A payload of 8n septets may gain one zero septet of padding.
            if back.len() > s.len() { back.truncate(s.len()); }
            prop_assert_eq!(back, s);
        }
    }
}
