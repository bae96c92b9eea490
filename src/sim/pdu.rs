//! The simulator's private PDU stand-in: just enough TS 23.040 / 23.038 to read the
//! SMS-SUBMITs a driver sends and to build the SMS-DELIVERs and STATUS-REPORTs a
//! network would send back. Owns GSM-7 (default table + extension), UCS-2,
//! semi-octet addresses, concatenation UDH and SCTS stamps for the simulator only.
//! It is not the product codec (`src/codec/`), which it will defer to once that
//! lands; nothing here panics on any input.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// A SUBMIT the simulator could not read; carries the field and octet offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("PDU truncated in field {field} at octet {offset}")]
    Truncated { field: &'static str, offset: usize },
    #[error("PDU is not an SMS-SUBMIT (first octet {fo:#04x})")]
    NotSubmit { fo: u8 },
    #[error("invalid hex at character {offset}")]
    Hex { offset: usize },
}

/// GSM 03.38 default alphabet; index = septet value. 0x1B (escape) is a space here
/// and never produced by the encoder through this table.
const GSM7: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table (after 0x1B).
const GSM7_EXT: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets for one character, or `None` when GSM-7 cannot carry it.
pub fn gsm7_char(c: char) -> Option<Vec<u8>> {
    if let Some(i) = GSM7
        .iter()
        .enumerate()
        .find(|(i, g)| **g == c && *i != 0x1B)
        .map(|(i, _)| i)
    {
        return u8::try_from(i).ok().map(|s| vec![s]);
    }
    GSM7_EXT
        .iter()
        .find(|(_, g)| *g == c)
        .map(|(s, _)| vec![0x1B, *s])
}

/// Septets for a whole text, or `None` if any character needs UCS-2.
pub fn gsm7_encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        out.extend(gsm7_char(c)?);
    }
    Some(out)
}

/// Text from septets (escape sequences resolved, unknown ones as a space).
pub fn gsm7_decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut esc = false;
    for &s in septets {
        let s = s & 0x7F;
        if esc {
            esc = false;
            let c = GSM7_EXT
                .iter()
                .find(|(e, _)| *e == s)
                .map(|(_, c)| *c)
                .unwrap_or(' ');
            out.push(c);
        } else if s == 0x1B {
            esc = true;
        } else {
            out.push(GSM7[usize::from(s)]);
        }
    }
    out
}

/// Packs septets, starting after `fill` padding bits.
pub fn pack7(septets: &[u8], fill: u32) -> Vec<u8> {
    let total_bits = septets.len() * 7 + fill as usize;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    let mut bit = fill as usize;
    for &s in septets {
        for k in 0..7 {
            if s & (1 << k) != 0 {
                if let Some(o) = out.get_mut((bit + k) / 8) {
                    *o |= 1 << ((bit + k) % 8);
                }
            }
        }
        bit += 7;
    }
    out
}

/// Unpacks `count` septets after `fill` padding bits (missing bits read as 0).
pub fn unpack7(bytes: &[u8], count: usize, fill: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(count);
    let mut bit = fill as usize;
    for _ in 0..count {
        let mut s = 0u8;
        for k in 0..7 {
            let b = bit + k;
            if bytes.get(b / 8).is_some_and(|o| o & (1 << (b % 8)) != 0) {
                s |= 1 << k;
            }
        }
        out.push(s);
        bit += 7;
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub fn unhex(s: &str) -> Result<Vec<u8>, PduError> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(PduError::Hex { offset: b.len() });
    }
    b.chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let txt = std::str::from_utf8(pair).map_err(|_| PduError::Hex { offset: i * 2 })?;
            u8::from_str_radix(txt, 16).map_err(|_| PduError::Hex { offset: i * 2 })
        })
        .collect()
}

/// A semi-octet address field (length in digits, TOA, swapped BCD). A sender
/// name with letters (`InfoSMS`) becomes an alphanumeric address (TOA 0xD0,
/// GSM-7 packed, length in useful semi-octets).
pub fn encode_address(number: &str) -> Vec<u8> {
    let digits_only = number
        .strip_prefix('+')
        .unwrap_or(number)
        .chars()
        .all(|c| bcd_nibble(c).is_some());
    if !digits_only || number.is_empty() {
        let septets: Vec<u8> = number
            .chars()
            .take(11)
            .flat_map(|c| gsm7_char(c).unwrap_or(vec![0x3F]))
            .collect();
        let packed = pack7(&septets, 0);
        let semi = (septets.len() * 7).div_ceil(4);
        let mut out = vec![u8::try_from(semi).unwrap_or(0), 0xD0];
        out.extend(packed);
        return out;
    }
    let (toa, digits) = match number.strip_prefix('+') {
        Some(d) => (0x91u8, d),
        None => (0x81u8, number),
    };
    let nibbles: Vec<u8> = digits.chars().filter_map(bcd_nibble).collect();
    let mut out = vec![u8::try_from(nibbles.len()).unwrap_or(0), toa];
    for pair in nibbles.chunks(2) {
        let lo = pair.first().copied().unwrap_or(0xF);
        let hi = pair.get(1).copied().unwrap_or(0xF);
        out.push(hi << 4 | lo);
    }
    out
}

/// The SMSC address as it prefixes a PDU (length counts octets, TOA included).
pub fn encode_smsc(number: &str) -> Vec<u8> {
    let a = encode_address(number);
    let mut out = vec![u8::try_from(a.len() - 1).unwrap_or(0)];
    out.extend(a.get(1..).unwrap_or(&[]));
    out
}

fn bcd_nibble(c: char) -> Option<u8> {
    match c {
        '0'..='9' => c.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '*' => Some(0xA),
        '#' => Some(0xB),
        'a' | 'A' => Some(0xC),
        'b' | 'B' => Some(0xD),
        'c' | 'C' => Some(0xE),
        _ => None,
    }
}

fn nibble_char(n: u8) -> Option<char> {
    match n {
        0..=9 => Some(char::from(b'0' + n)),
        0xA => Some('*'),
        0xB => Some('#'),
        0xC => Some('a'),
        0xD => Some('b'),
        0xE => Some('c'),
        _ => None,
    }
}

/// What the simulated network reads from a SUBMIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    pub first_octet: u8,
    /// The DA digits, `+` first when international.
    pub to: String,
    /// The raw DA field, reused as the RA of a status report.
    pub da_raw: Vec<u8>,
    pub pid: u8,
    pub dcs: u8,
    /// UDL and UD exactly as sent, copied into the DELIVER.
    pub udl: u8,
    pub ud: Vec<u8>,
    pub text: String,
    /// (reference, total, sequence) from a concatenation IE.
    pub concat: Option<(u16, u8, u8)>,
}

impl Submit {
    pub fn wants_report(&self) -> bool {
        self.first_octet & 0x20 != 0
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PduError> {
        let end = self.at.checked_add(n).ok_or(PduError::Truncated {
            field,
            offset: self.at,
        })?;
        let s = self.b.get(self.at..end).ok_or(PduError::Truncated {
            field,
            offset: self.at,
        })?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        self.take(1, field).map(|s| s.first().copied().unwrap_or(0))
    }
}

/// Reads an SMS-SUBMIT TPDU (no SMSC prefix).
pub fn decode_submit(tpdu: &[u8]) -> Result<Submit, PduError> {
    let mut c = Cursor { b: tpdu, at: 0 };
    let fo = c.u8("TP-FO")?;
    if fo & 0x03 != 0x01 {
        return Err(PduError::NotSubmit { fo });
    }
    let _mr = c.u8("TP-MR")?;
    let da_len = c.u8("TP-DA")?;
    let toa = c.u8("TP-DA")?;
    let digits = c.take(usize::from(da_len).div_ceil(2), "TP-DA")?;
    let mut da_raw = vec![da_len, toa];
    da_raw.extend(digits);
    let mut to = String::new();
    if toa & 0x70 == 0x10 {
        to.push('+');
    }
    if toa & 0x70 == 0x50 {
        let septets = usize::from(da_len) * 4 / 7;
        to.push_str(&gsm7_decode(&unpack7(digits, septets, 0)));
    } else {
        for (i, b) in digits.iter().enumerate() {
            for (k, n) in [b & 0xF, b >> 4].into_iter().enumerate() {
                if i * 2 + k < usize::from(da_len) {
                    if let Some(ch) = nibble_char(n) {
                        to.push(ch);
                    }
                }
            }
        }
    }
    let pid = c.u8("TP-PID")?;
    let dcs = c.u8("TP-DCS")?;
    let vp_len = match (fo >> 3) & 0x03 {
        0b10 => 1,
        0b01 | 0b11 => 7,
        _ => 0,
    };
    c.take(vp_len, "TP-VP")?;
    let udl = c.u8("TP-UDL")?;
    let ud = c.b.get(c.at..).unwrap_or(&[]).to_vec();
    let (mut text, mut concat) = decode_ud(fo & 0x40 != 0, dcs, udl, &ud);
    // The product codec reads what this stand-in cannot (national language
    // tables, odd UDH layouts); its reading wins whenever it has one.
    if let Ok(crate::codec::Decoded {
        pdu: crate::codec::Pdu::Submit(s),
        ..
    }) = crate::codec::decode(tpdu, Some(tpdu.len()))
    {
        if let Some(t) = s.data.text() {
            text = t.to_string();
        }
        if let Some(c) = s.udh.as_ref().and_then(crate::codec::Udh::concat) {
            concat = Some((c.reference, c.total, c.seq));
        }
        to = s.destination.to_string();
    }
    Ok(Submit {
        first_octet: fo,
        to,
        da_raw,
        pid,
        dcs,
        udl,
        ud,
        text,
        concat,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    Gsm7,
    Eight,
    Ucs2,
}

fn alphabet(dcs: u8) -> Alphabet {
    match dcs >> 4 {
        0x0..=0x7 => match (dcs >> 2) & 0x03 {
            0b01 => Alphabet::Eight,
            0b10 => Alphabet::Ucs2,
            _ => Alphabet::Gsm7,
        },
        0xE => Alphabet::Ucs2,
        0xF if dcs & 0x04 != 0 => Alphabet::Eight,
        _ => Alphabet::Gsm7,
    }
}

/// The text and concatenation info of a user-data field.
pub fn decode_ud(udhi: bool, dcs: u8, udl: u8, ud: &[u8]) -> (String, Option<(u16, u8, u8)>) {
    let mut concat = None;
    let mut udh_len = 0usize;
    if udhi {
        let udhl = usize::from(ud.first().copied().unwrap_or(0));
        udh_len = udhl + 1;
        let ies = ud.get(1..udh_len.min(ud.len())).unwrap_or(&[]);
        let mut i = 0;
        while let (Some(&iei), Some(&len)) = (ies.get(i), ies.get(i + 1)) {
            let data = ies.get(i + 2..i + 2 + usize::from(len)).unwrap_or(&[]);
            match (iei, data) {
                (0x00, [r, t, s]) => concat = Some((u16::from(*r), *t, *s)),
                (0x08, [r1, r2, t, s]) => concat = Some((u16::from_be_bytes([*r1, *r2]), *t, *s)),
                _ => {}
            }
            i += 2 + usize::from(len);
        }
    }
    let text = match alphabet(dcs) {
        Alphabet::Gsm7 => {
            let header_septets = (udh_len * 8).div_ceil(7);
            let fill = u32::try_from(header_septets * 7 - udh_len * 8).unwrap_or(0);
            let count = usize::from(udl).saturating_sub(header_septets);
            let body = ud.get(udh_len.min(ud.len())..).unwrap_or(&[]);
            gsm7_decode(&unpack7(body, count, fill))
        }
        Alphabet::Ucs2 => {
            let body = ud
                .get(udh_len.min(ud.len())..usize::from(udl).min(ud.len()))
                .unwrap_or(&[]);
            let units: Vec<u16> = body
                .chunks_exact(2)
                .filter_map(|p| match p {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        Alphabet::Eight => {
            let body = ud
                .get(udh_len.min(ud.len())..usize::from(udl).min(ud.len()))
                .unwrap_or(&[]);
            String::from_utf8_lossy(body).into_owned()
        }
    };
    (text, concat)
}

/// One part ready to go into a PDU: DCS, UDL, UD (UDH included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub dcs: u8,
    pub udl: u8,
    pub ud: Vec<u8>,
    pub udhi: bool,
}

/// Splits a text into parts (GSM-7 when possible, else UCS-2), with an 8-bit
/// concatenation IE carrying `reference` when more than one part is needed.
pub fn split_text(text: &str, reference: u8) -> Vec<UserData> {
    let chars: Vec<char> = text.chars().collect();
    if let Some(all) = gsm7_encode(text) {
        if all.len() <= 160 {
            return vec![UserData {
                dcs: 0,
                udl: u8::try_from(all.len()).unwrap_or(160),
                ud: pack7(&all, 0),
                udhi: false,
            }];
        }
        let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
        for c in &chars {
            let s = gsm7_char(*c).unwrap_or_default();
            let cur_len = parts.last().map_or(0, Vec::len);
            if cur_len + s.len() > 153 {
                parts.push(Vec::new());
            }
            if let Some(last) = parts.last_mut() {
                last.extend(s);
            }
        }
        let total = u8::try_from(parts.len()).unwrap_or(255);
        return parts
            .iter()
            .enumerate()
            .map(|(i, sept)| {
                let seq = u8::try_from(i + 1).unwrap_or(255);
                let mut ud = vec![5, 0x00, 3, reference, total, seq];
                ud.extend(pack7(sept, 1));
                UserData {
                    dcs: 0,
                    udl: u8::try_from(7 + sept.len()).unwrap_or(160),
                    ud,
                    udhi: true,
                }
            })
            .collect();
    }
    let units: usize = chars.iter().map(|c| c.len_utf16()).sum();
    if units <= 70 {
        let ud: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        return vec![UserData {
            dcs: 0x08,
            udl: u8::try_from(ud.len()).unwrap_or(140),
            ud,
            udhi: false,
        }];
    }
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    for c in &chars {
        let mut buf = [0u16; 2];
        let b: Vec<u8> = c
            .encode_utf16(&mut buf)
            .iter()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        if parts.last().map_or(0, Vec::len) + b.len() > 134 {
            parts.push(Vec::new());
        }
        if let Some(last) = parts.last_mut() {
            last.extend(b);
        }
    }
    let total = u8::try_from(parts.len()).unwrap_or(255);
    parts
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let seq = u8::try_from(i + 1).unwrap_or(255);
            let mut ud = vec![5, 0x00, 3, reference, total, seq];
            ud.extend(body);
            UserData {
                dcs: 0x08,
                udl: u8::try_from(ud.len()).unwrap_or(140),
                ud,
                udhi: true,
            }
        })
        .collect()
}

/// A service-centre time stamp (7 swapped semi-octets, TZ in quarter hours).
pub fn scts(t: DateTime<FixedOffset>) -> Vec<u8> {
    fn swap(v: u32) -> u8 {
        let v = u8::try_from(v % 100).unwrap_or(0);
        (v % 10) << 4 | (v / 10)
    }
    let quarters = t.offset().local_minus_utc() / 900;
    let q = u8::try_from(quarters.unsigned_abs() % 80).unwrap_or(0);
    let mut tz = (q % 10) << 4 | (q / 10);
    if quarters < 0 {
        tz |= 0x08;
    }
    vec![
        swap(u32::try_from(t.year().rem_euclid(100)).unwrap_or(0)),
        swap(t.month()),
        swap(t.day()),
        swap(t.hour()),
        swap(t.minute()),
        swap(t.second()),
        tz,
    ]
}

/// The text-mode form of a time stamp: `yy/MM/dd,hh:mm:ss±zz`.
pub fn scts_text(t: DateTime<FixedOffset>) -> String {
    let q = t.offset().local_minus_utc() / 900;
    format!(
        "{}{}{:02}",
        t.format("%y/%m/%d,%H:%M:%S"),
        if q < 0 { '-' } else { '+' },
        q.unsigned_abs()
    )
}

/// An SMS-DELIVER TPDU (no SMSC prefix).
pub fn encode_deliver(from: &str, pid: u8, ud: &UserData, at: DateTime<FixedOffset>) -> Vec<u8> {
    let mut out = vec![0x04 | if ud.udhi { 0x40 } else { 0 }];
    out.extend(encode_address(from));
    out.push(pid);
    out.push(ud.dcs);
    out.extend(scts(at));
    out.push(ud.udl);
    out.extend(&ud.ud);
    out
}

/// An SMS-STATUS-REPORT TPDU (no SMSC prefix) about the SUBMIT with `mr` to `ra_raw`.
pub fn encode_status_report(
    mr: u8,
    ra_raw: &[u8],
    sent: DateTime<FixedOffset>,
    done: DateTime<FixedOffset>,
    status: u8,
) -> Vec<u8> {
    let mut out = vec![0x06, mr];
    out.extend(ra_raw);
    out.extend(scts(sent));
    out.extend(scts(done));
    out.push(status);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(name: &str, got: &str, want: &str) {
        assert_eq!(got, want, "{name}");
    }

    #[test]
    fn published_vectors() {
        // P1: dreamfabric SUBMIT to +46708251358, VP 4 days, "hellohello".
        let p1 = unhex("0011000B916407281553F80000AA0AE8329BFD4697D9EC37").expect("hex");
        let s = decode_submit(p1.get(1..).unwrap_or_default()).expect("P1");
        let table: &[(&str, String, &str)] = &[
            ("P1 DA", s.to.clone(), "+46708251358"),
            ("P1 text", s.text.clone(), "hellohello"),
            (
                "P8 pack",
                hex(&pack7(&gsm7_encode("Hello world").expect("gsm"), 0)),
                "C8329BFD06DDDF723619",
            ),
            (
                "address",
                hex(&encode_address("+15551234567")),
                "0B915155214365F7",
            ),
            (
                "smsc",
                hex(&encode_smsc("+27381000015")),
                "07917283010010F5",
            ),
        ];
        assert!(!table.is_empty());
        for (name, got, want) in table {
            check(name, got, want);
        }
        // V1: SRR + relative VP, 3 escape sequences.
        let v1 =
            unhex("0031000B915155214365F70000A71150797A5CD6816A9B3268C37BAF373E").expect("hex");
        let s = decode_submit(v1.get(1..).unwrap_or_default()).expect("V1");
        assert!(s.wants_report());
        check("V1 text", &s.text, "Price: 5€ [ok]");
    }

    #[test]
    fn concatenation_ies_and_alphanumeric_addresses() {
        // (UDL, UD hex, text, concat): V2 (8-bit reference) and V3 (16-bit reference).
        type Concat = (u16, u8, u8);
        let table: &[(u8, &str, &str, Concat)] = &[
            (
                0x12,
                "050003420201906536FB0DBABFE56C32",
                "Hello world",
                (0x42, 2, 1),
            ),
            (
                0x13,
                "06080412340201C8329BFD06DDDF723619",
                "Hello world",
                (0x1234, 2, 1),
            ),
        ];
        assert!(!table.is_empty());
        for (udl, ud, text, concat) in table {
            let ud = unhex(ud).expect("hex");
            let (got, c) = decode_ud(true, 0, *udl, &ud);
            check("text", &got, text);
            assert_eq!(c, Some(*concat));
        }
        // V5: OA "InfoSMS" is 13 semi-octets, TOA D0.
        check(
            "alnum",
            &hex(&encode_address("InfoSMS")),
            "0DD049B7F93D6D4E01",
        );
    }

    #[test]
    fn split_and_decode_round_trip_long_texts() {
        for text in ["a".repeat(400), "ж".repeat(150), "€".repeat(90)] {
            let parts = split_text(&text, 7);
            assert!(parts.len() > 1);
            let joined: String = parts
                .iter()
                .map(|p| decode_ud(p.udhi, p.dcs, p.udl, &p.ud).0)
                .collect();
            assert_eq!(joined, text);
        }
    }

    /// The stand-in's own reading of a SUBMIT's user data, codec not consulted.
    type Reading = (String, Option<(u16, u8, u8)>);

    fn stand_in_text(tpdu: &[u8]) -> Option<Reading> {
        let fo = *tpdu.first()?;
        let da_len = usize::from(*tpdu.get(2)?);
        let at = 4 + da_len.div_ceil(2);
        let dcs = *tpdu.get(at + 1)?;
        let vp = match (fo >> 3) & 0x03 {
            0b10 => 1,
            0b01 | 0b11 => 7,
            _ => 0,
        };
        let udl = *tpdu.get(at + 2 + vp)?;
        let ud = tpdu.get(at + 3 + vp..)?;
        Some(decode_ud(fo & 0x40 != 0, dcs, udl, ud))
    }

    proptest! {
        /// Differential: what the product codec encodes, the stand-in reads the same.
        #[test]
        fn stand_in_reads_what_the_codec_writes(text in "[ -~£€äöüß\\n]{1,300}|\\PC{1,200}") {
            let to = crate::codec::Address::parse("+4915112345678").expect("address");
            let opts = crate::codec::SubmitOptions::default();
            let Ok(parts) = crate::codec::encode_submit(&to, &text, &opts) else {
                return Ok(());
            };
            let mut joined = String::new();
            for p in &parts {
                let tpdu = p.bytes.get(p.bytes.len() - p.tpdu_len..).expect("tpdu");
                let (t, concat) = stand_in_text(tpdu).expect("stand-in reads it");
                if parts.len() > 1 {
                    prop_assert_eq!(concat.map(|c| (c.1, c.2)), Some((p.total, p.seq)));
                }
                joined.push_str(&t);
                let s = decode_submit(tpdu).expect("decodes");
                prop_assert_eq!(&s.to, "+4915112345678");
            }
            prop_assert_eq!(joined, text);
        }

        /// Differential: the DELIVERs the network builds decode with the product codec.
        #[test]
        fn codec_reads_the_delivers_the_network_builds(text in "\\PC{1,300}") {
            let at = chrono::DateTime::parse_from_rfc3339("2024-01-31T23:59:58+01:00").expect("time");
            let mut joined = String::new();
            for p in split_text(&text, 9) {
                let tpdu = encode_deliver("+15550000001", 0, &p, at);
                let mut bytes = encode_smsc("+15559990000");
                bytes.extend(&tpdu);
                let d = crate::codec::decode(&bytes, Some(tpdu.len())).expect("codec decodes");
                let crate::codec::Pdu::Deliver(d) = d.pdu else {
                    return Err(TestCaseError::fail("not a DELIVER"));
                };
                prop_assert_eq!(d.originator.to_string(), "+15550000001");
                joined.push_str(d.data.text().unwrap_or_default());
            }
            prop_assert_eq!(joined, text);
        }

        #[test]
        fn decode_submit_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_submit(&bytes);
        }

        #[test]
        fn split_round_trips(text in "\\PC{0,400}") {
            let parts = split_text(&text, 1);
            let joined: String = parts.iter().map(|p| decode_ud(p.udhi, p.dcs, p.udl, &p.ud).0).collect();
            prop_assert_eq!(joined, text);
        }
    }
}
