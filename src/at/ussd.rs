//! USSD text: `+CUSD` answers come as plain text, packed GSM-7 hex (Huawei)
//! or UCS-2 hex, depending on the modem and `<dcs>`. Includes a small private
//! GSM-7 default-alphabet table (a stand-in until `codec::gsm7` lands).

use super::decode_hex;

/// GSM 03.38 default alphabet, code → char (no extension table).
const GSM7: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', 'Δ', '_',
    'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', ' ', '!', '"', '#', '¤',
    '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', '0', '1', '2', '3', '4', '5', '6', '7',
    '8', '9', ':', ';', '<', '=', '>', '?', '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J',
    'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ',
    'Ü', '§', '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p',
    'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// Unpack septets (LSB first). A trailing CR that pads 8n−1 septets is dropped.
pub fn unpack_septets(bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len() * 8 / 7;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bit = i * 7;
        let lo = bytes.get(bit / 8).copied().unwrap_or(0);
        let hi = bytes.get(bit / 8 + 1).copied().unwrap_or(0);
        let word = u16::from(lo) | (u16::from(hi) << 8);
        out.push(((word >> (bit % 8)) & 0x7f) as u8);
    }
    if out.len().is_multiple_of(8) && out.last() == Some(&0x0d) {
        out.pop();
    }
    out
}

/// Pack ASCII-range GSM-7 septets (LSB first), CR-padding 7 spare bits.
pub fn pack_septets(septets: &[u8]) -> Vec<u8> {
    let mut s = septets.to_vec();
    if s.len() % 8 == 7 {
        s.push(0x0d);
    }
    let mut out = vec![0u8; (s.len() * 7).div_ceil(8)];
    for (i, c) in s.iter().enumerate() {
        let bit = i * 7;
        let v = u16::from(c & 0x7f) << (bit % 8);
        if let Some(b) = out.get_mut(bit / 8) {
            *b |= (v & 0xff) as u8;
        }
        if let Some(b) = out.get_mut(bit / 8 + 1) {
            *b |= (v >> 8) as u8;
        }
    }
    out
}

/// Text → GSM-7 codes, for USSD codes (`*100#`); `None` if a char is missing.
pub fn to_gsm7(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| {
            GSM7.iter()
                .position(|g| *g == c)
                .and_then(|p| u8::try_from(p).ok())
        })
        .collect()
}

fn from_gsm7(codes: &[u8]) -> String {
    codes
        .iter()
        .map(|c| GSM7.get(usize::from(*c)).copied().unwrap_or('?'))
        .collect()
}

fn ucs2(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| match c {
            [h, l] => u16::from_be_bytes([*h, *l]),
            _ => 0xfffd,
        })
        .collect();
    String::from_utf16_lossy(&units)
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
                return ucs2(&bytes);
            }
            if hex_packed {
                return from_gsm7(&unpack_septets(&bytes));
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
