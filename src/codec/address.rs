//! Phone and alphanumeric addresses (TS 23.040 §9.1.2.5, TS 24.011 RP address
//! for the SMSC): parsing user input, and the wire form of TP-OA/DA/RA and of
//! the SMSC prefix. Not the text alphabets (gsm7) nor the PDU layout (pdu).

use super::gsm7;
use super::{CodecError, Reader};
use std::fmt;

/// Type of number: alphanumeric (TON 101).
pub const TON_ALPHANUMERIC: u8 = 5;
/// Type of number: international (TON 001).
pub const TON_INTERNATIONAL: u8 = 1;
/// Type of number: unknown (TON 000).
pub const TON_UNKNOWN: u8 = 0;
/// Type of number: national (TON 010).
pub const TON_NATIONAL: u8 = 2;
/// Numbering plan: ISDN/telephone (E.164).
pub const NPI_ISDN: u8 = 1;

/// An address: type of number, numbering plan and value. Unknown TON/NPI
/// values are kept raw. For numeric addresses `value` holds the digits
/// (`*`, `#`, `a`, `b`, `c` for the BCD nibbles A–E, `f` for a stray F), for
/// alphanumeric ones (TON 5) the decoded text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Address {
    /// Type of number, 3 bits (0 unknown, 1 international, 2 national, 5 alphanumeric…).
    pub ton: u8,
    /// Numbering plan identification, 4 bits (1 ISDN).
    pub npi: u8,
    /// Digits without a leading `+`, or the alphanumeric text.
    pub value: String,
}

impl Address {
    /// Parses a user-given number with [`normalise`] and [`Plain::ByLength`]:
    /// `+4915…` is international (TOA 0x91); plain digits are international
    /// when there are 7 or more of them (numbers are written with their
    /// country code), otherwise a short code with unknown TON.
    pub fn parse(s: &str) -> Result<Address, CodecError> {
        normalise(s, Plain::ByLength).map_err(|e| CodecError::Address {
            input: s.to_string(),
            reason: e.to_string(),
        })
    }

    /// An alphanumeric sender (TON 5, NPI 0), as networks send it in TP-OA.
    /// Characters outside the GSM default alphabet become `?`; the text is
    /// cut to 11 characters, the most 20 semi-octets hold.
    pub fn alphanumeric(s: &str) -> Address {
        Address {
            ton: TON_ALPHANUMERIC,
            npi: 0,
            value: s.chars().take(11).collect(),
        }
    }

    /// The type-of-address octet: `1 TTT NNNN`.
    pub fn toa(&self) -> u8 {
        0x80 | (self.ton & 0x07) << 4 | (self.npi & 0x0F)
    }

    fn from_toa(toa: u8, value: String) -> Address {
        Address {
            ton: (toa >> 4) & 0x07,
            npi: toa & 0x0F,
            value,
        }
    }

    pub fn is_alphanumeric(&self) -> bool {
        self.ton == TON_ALPHANUMERIC
    }

    /// The address field of a TPDU (TP-OA, TP-DA, TP-RA): length in useful
    /// semi-octets, TOA, swapped BCD (or packed GSM-7 when alphanumeric).
    pub fn encode_tp(&self, out: &mut Vec<u8>) {
        if self.is_alphanumeric() {
            let septets = alnum_septets(&self.value);
            let packed = gsm7::pack(&septets, 0);
            let semi = (septets.len() * 7).div_ceil(4);
            out.push(u8::try_from(semi).unwrap_or(u8::MAX));
            out.push(self.toa());
            out.extend_from_slice(&packed);
        } else {
            let digits = bcd_digits(&self.value);
            out.push(u8::try_from(digits.len()).unwrap_or(u8::MAX));
            out.push(self.toa());
            push_bcd(&digits, out);
        }
    }

    /// The SMSC prefix of a 27.005 PDU (TS 24.011 RP address): length in
    /// octets including the TOA, TOA, swapped BCD. `None` encodes as `00`.
    pub fn encode_smsc(smsc: Option<&Address>, out: &mut Vec<u8>) {
        match smsc {
            None => out.push(0),
            Some(a) => {
                let digits = bcd_digits(&a.value);
                let octets = digits.len().div_ceil(2) + 1;
                out.push(u8::try_from(octets).unwrap_or(u8::MAX));
                out.push(a.toa());
                push_bcd(&digits, out);
            }
        }
    }

    /// Reads TP-OA/DA/RA. `field` names it in errors.
    pub(crate) fn decode_tp(
        r: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Address, CodecError> {
        let semi = usize::from(r.u8(field)?);
        let toa = r.u8(field)?;
        let octets = r.take(semi.div_ceil(2), field)?;
        if (toa >> 4) & 0x07 == TON_ALPHANUMERIC {
            let septets = gsm7::unpack(octets, 0, semi * 4 / 7);
            let text = gsm7::decode(&septets, gsm7::Tables::default());
            Ok(Address::from_toa(toa, text))
        } else {
            Ok(Address::from_toa(toa, read_bcd(octets, semi)))
        }
    }

    /// Reads the SMSC prefix; `None` when its length octet is 0.
    pub(crate) fn decode_smsc(r: &mut Reader<'_>) -> Result<Option<Address>, CodecError> {
        let len = usize::from(r.u8("SMSC length")?);
        if len == 0 {
            return Ok(None);
        }
        let toa = r.u8("SMSC type of address")?;
        let octets = r.take(len - 1, "SMSC address")?;
        let mut digits = read_bcd(octets, octets.len() * 2);
        if digits.ends_with('f') {
            digits.pop();
        }
        Ok(Some(Address::from_toa(toa, digits)))
    }
}

/// The most digits a number may have (20 semi-octets).
pub const MAX_DIGITS: usize = 20;

/// How [`normalise`] reads a number written without a leading `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    /// International from 7 digits on, otherwise a short code (TON unknown):
    /// `send`, the CLI.
    ByLength,
    /// Always this type of number (`TON_INTERNATIONAL`, `TON_NATIONAL`,
    /// `TON_UNKNOWN`): the spool, where smstools3's `To_TOA` decides.
    Ton(u8),
}

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// `offset` is the byte offset in the string given to [`normalise`].
    #[error("character {ch:?} is not allowed")]
    BadChar { ch: char, offset: usize },
    #[error("no digits")]
    Empty,
    #[error("{0} digits, at most {MAX_DIGITS}")]
    TooLong(usize),
}

/// The one number normaliser: spaces, tabs, dashes, dots and parentheses are
/// dropped; a `+` before the first digit makes the number international;
/// `*` and `#` (service codes) make it TON unknown; otherwise `plain` decides.
/// NPI is ISDN. The result's `value` holds the digits only.
pub fn normalise(raw: &str, plain: Plain) -> Result<Address, NumberError> {
    let mut value = String::with_capacity(raw.len());
    let mut plus = false;
    let mut special = false;
    for (offset, c) in raw.char_indices() {
        match c {
            '0'..='9' => value.push(c),
            '*' | '#' => {
                special = true;
                value.push(c)
            }
            '+' if value.is_empty() && !plus => plus = true,
            ' ' | '\t' | '-' | '.' | '(' | ')' => {}
            ch => return Err(NumberError::BadChar { ch, offset }),
        }
    }
    if value.is_empty() {
        return Err(NumberError::Empty);
    }
    if value.len() > MAX_DIGITS {
        return Err(NumberError::TooLong(value.len()));
    }
    let ton = match plain {
        _ if special => TON_UNKNOWN,
        _ if plus => TON_INTERNATIONAL,
        Plain::ByLength if value.len() >= 7 => TON_INTERNATIONAL,
        Plain::ByLength => TON_UNKNOWN,
        Plain::Ton(t) => t & 0x07,
    };
    Ok(Address {
        ton,
        npi: NPI_ISDN,
        value,
    })
}

/// The digits of a number, without `+` or separators.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Whether two numbers name the same subscriber: equal digits (not none),
/// or one lacks the country code and the longer one ends with the whole of
/// the shorter (after dropping a national trunk `0`), at least 7 digits.
/// The one comparison: report matching (store) and the simulated network
/// finding a SIM by its number both use it.
pub fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let short = short.trim_start_matches('0');
    short.len() >= 7 && long.ends_with(short)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ton == TON_INTERNATIONAL && !self.value.starts_with('+') {
            write!(f, "+{}", self.value)
        } else {
            f.write_str(&self.value)
        }
    }
}

fn alnum_septets(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let mut buf = [0u8; 4];
        match gsm7::encode(c.encode_utf8(&mut buf), gsm7::Tables::default()) {
            Some(s) => out.extend_from_slice(&s),
            None => out.push(b'?'),
        }
    }
    out
}

fn nibble_of(c: char) -> u8 {
    match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 0xA,
        '#' => 0xB,
        'a' | 'A' => 0xC,
        'b' | 'B' => 0xD,
        'c' | 'C' => 0xE,
        _ => 0xF,
    }
}

fn char_of(n: u8) -> char {
    match n {
        0..=9 => char::from(b'0' + n),
        0xA => '*',
        0xB => '#',
        0xC => 'a',
        0xD => 'b',
        0xE => 'c',
        _ => 'f',
    }
}

fn bcd_digits(value: &str) -> Vec<u8> {
    value
        .chars()
        .filter(|c| *c != '+')
        .take(255)
        .map(nibble_of)
        .collect()
}

fn push_bcd(digits: &[u8], out: &mut Vec<u8>) {
    for pair in digits.chunks(2) {
        let lo = pair.first().copied().unwrap_or(0xF);
        let hi = pair.get(1).copied().unwrap_or(0xF);
        out.push(hi << 4 | lo);
    }
}

fn read_bcd(octets: &[u8], semi: usize) -> String {
    let mut s = String::with_capacity(semi);
    for i in 0..semi {
        let Some(b) = octets.get(i / 2) else { break };
        let n = if i % 2 == 0 { b & 0x0F } else { b >> 4 };
        s.push(char_of(n));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)]
    use super::*;
    use crate::codec::from_hex;

    fn check(input: &str, want: Result<(u8, &str), ()>) {
        match (Address::parse(input), want) {
            (Ok(a), Ok((ton, value))) => {
                assert_eq!((a.ton, a.value.as_str()), (ton, value), "{input:?}");
                assert_eq!(a.npi, NPI_ISDN);
            }
            (Err(_), Err(())) => {}
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<(u8, &str), ()>)] = &[
            ("+4915112345678", Ok((1, "4915112345678"))),
            ("4915112345678", Ok((1, "4915112345678"))),
            ("1234567", Ok((1, "1234567"))),
            ("123456", Ok((0, "123456"))),
            ("+123", Ok((1, "123"))),
            ("*100#", Ok((0, "*100#"))),
            ("+49 151 123-45", Ok((1, "4915112345"))),
            ("", Err(())),
            ("+", Err(())),
            ("12a4", Err(())),
            ("123456789012345678901", Err(())),
        ];
        assert!(!cases.is_empty());
        for (input, want) in cases {
            check(input, *want);
        }
        let e = Address::parse("12x").unwrap_err();
        assert!(e.to_string().contains("'x'"), "{e}");
    }

    #[test]
    fn normalise_table() {
        use Plain::*;
        let nat = Ton(TON_NATIONAL);
        let intl = Ton(TON_INTERNATIONAL);
        let unk = Ton(TON_UNKNOWN);
        let cases: &[(&str, Plain, Result<(u8, &str), NumberError>)] = &[
            ("+4915112345678", ByLength, Ok((1, "4915112345678"))),
            ("+4915112345678", nat, Ok((1, "4915112345678"))),
            ("01721234567", nat, Ok((2, "01721234567"))),
            ("01721234567", ByLength, Ok((1, "01721234567"))),
            ("1234", unk, Ok((0, "1234"))),
            ("123", intl, Ok((1, "123"))),
            ("123", ByLength, Ok((0, "123"))),
            ("*100#", intl, Ok((0, "*100#"))),
            (" (+49) 151\t12-34.5 ", ByLength, Ok((1, "4915112345"))),
            (
                "4+9",
                ByLength,
                Err(NumberError::BadChar { ch: '+', offset: 1 }),
            ),
            (
                "++49",
                ByLength,
                Err(NumberError::BadChar { ch: '+', offset: 1 }),
            ),
            (
                "  12x",
                intl,
                Err(NumberError::BadChar { ch: 'x', offset: 4 }),
            ),
            ("(-)", intl, Err(NumberError::Empty)),
            ("+", ByLength, Err(NumberError::Empty)),
            (
                "123456789012345678901",
                ByLength,
                Err(NumberError::TooLong(21)),
            ),
        ];
        for (input, plain, want) in cases {
            let got = normalise(input, *plain).map(|a| (a.ton, a.value));
            let want = want.clone().map(|(t, v)| (t, v.to_string()));
            assert_eq!(got, want, "{input:?} {plain:?}");
        }
    }

    #[test]
    fn same_number_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("+491701234567", "491701234567", true),
            ("+491701234567", "01701234567", true),
            ("+491701234567", "1701234567", true),
            ("+491701234567", "+491701234568", false),
            ("+491701234567", "+441701234567", false),
            ("+491701234567", "234567", false),
            ("12345", "12345", true),
            ("12345", "+12345", true),
            ("+1 (555) 123-4567", "15551234567", true),
            ("", "", false),
            ("+", "-", false),
            ("0000000", "0", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_number(a, b), *want, "{a} vs {b}");
            assert_eq!(same_number(b, a), *want, "{b} vs {a}");
        }
    }

    proptest::proptest! {
        #[test]
        fn normalised_numbers_are_the_same_number(d in "[1-9][0-9]{6,14}", sep in "[ .()-]{0,2}") {
            let written = format!("+{}{sep}{}", &d[..2], &d[2..]);
            let a = normalise(&written, Plain::ByLength).unwrap();
            proptest::prop_assert_eq!(&a.value, &d);
            proptest::prop_assert!(same_number(&a.to_string(), &written));
            proptest::prop_assert!(same_number(&d, &written));
        }
    }

    #[test]
    fn wire_table() {
        // (address, TP form hex)
        let cases: &[(Address, &str)] = &[
            (Address::parse("+46708251358").unwrap(), "0B916407281553F8"),
            (
                Address {
                    ton: 0,
                    npi: 1,
                    value: "13421839693".into(),
                },
                "0B813124819396F3",
            ),
            (Address::parse("*100#").unwrap(), "05811A00FB"),
            (Address::alphanumeric("InfoSMS"), "0DD049B7F93D6D4E01"),
            (
                Address::alphanumeric("20124079901"),
                "14D032584C4683DD7239580C",
            ),
        ];
        assert!(!cases.is_empty());
        for (addr, hex) in cases {
            let mut out = Vec::new();
            addr.encode_tp(&mut out);
            assert_eq!(crate::codec::to_hex(&out), *hex, "{addr:?}");
            let bytes = from_hex(hex).unwrap();
            let mut r = Reader::new(&bytes, 0);
            assert_eq!(&Address::decode_tp(&mut r, "TP-DA").unwrap(), addr);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn smsc_round_trip() {
        let a = Address::parse("+27381000015").unwrap();
        let mut out = Vec::new();
        Address::encode_smsc(Some(&a), &mut out);
        assert_eq!(crate::codec::to_hex(&out), "07917283010010F5");
        let mut r = Reader::new(&out, 0);
        assert_eq!(Address::decode_smsc(&mut r).unwrap(), Some(a));
    }

    #[test]
    fn truncated_names_field() {
        let bytes = from_hex("0B9164072815").unwrap();
        let mut r = Reader::new(&bytes, 3);
        assert_eq!(
            Address::decode_tp(&mut r, "TP-DA"),
            Err(CodecError::Truncated {
                field: "TP-DA",
                offset: 5
            })
        );
    }
}
