//! Private stand-in for the text half of the codec (`codec::gsm7`,
//! `codec::ucs2`, `codec::split`, owned by another engineer), with the agreed
//! signatures, so the PDU layer can be built and tested before that half
//! lands. Default alphabet and extension table only; no national tables.
//! When the real modules land, this file goes and `use super::super::{gsm7,
//! ucs2, split}` replaces it.

pub mod gsm7 {
    use std::sync::LazyLock;

    pub const ESC: u8 = 0x1B;

    /// National language tables in use: 0 = the default alphabet.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
    pub struct Tables {
        pub locking: u8,
        pub single: u8,
    }

    const BASE: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXT: &[(u8, char)] = &[
        (0x0A, '\u{0c}'),
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

    static BASE_TABLE: LazyLock<[char; 128]> = LazyLock::new(|| {
        let mut t = [' '; 128];
        for (i, c) in BASE.chars().enumerate().take(128) {
            t[i] = c;
        }
        t
    });

    /// Latin-1 range reverse map: 0..=0x7F base code, 0x80|code extension, 0xFF none.
    static REVERSE: LazyLock<[u8; 256]> = LazyLock::new(|| {
        let mut r = [0xFFu8; 256];
        for (i, c) in BASE_TABLE.iter().enumerate() {
            if i != usize::from(ESC) && (*c as u32) < 256 {
                r[*c as usize] = i as u8;
            }
        }
        for (code, c) in EXT {
            if (*c as u32) < 256 {
                r[*c as usize] = 0x80 | code;
            }
        }
        r
    });

    fn lookup(c: char) -> Option<(u8, bool)> {
        if (c as u32) < 256 {
            let v = REVERSE[c as usize];
            return match v {
                0xFF => None,
                v if v & 0x80 != 0 => Some((v & 0x7F, true)),
                v => Some((v, false)),
            };
        }
        if c == '€' {
            return Some((0x65, true));
        }
        BASE_TABLE
            .iter()
            .position(|b| *b == c)
            .filter(|p| *p != usize::from(ESC))
            .map(|p| (p as u8, false))
    }

    /// Septets for `s`, or `None` if a character is not in the tables.
    pub fn encode(s: &str, _tables: Tables) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(s.len());
        for c in s.chars() {
            let (code, ext) = lookup(c)?;
            if ext {
                out.push(ESC);
            }
            out.push(code);
        }
        Some(out)
    }

    /// Septets `s` needs, or `None`.
    #[allow(dead_code)]
    pub fn septet_len(s: &str, tables: Tables) -> Option<usize> {
        encode(s, tables).map(|v| v.len())
    }

    /// Text for unpacked septets.
    pub fn decode(septets: &[u8], _tables: Tables) -> String {
        let mut s = String::with_capacity(septets.len());
        let mut i = 0;
        while i < septets.len() {
            let code = septets[i] & 0x7F;
            if code == ESC {
                match septets.get(i + 1) {
                    Some(&next) => {
                        let next = next & 0x7F;
                        match EXT.iter().find(|(c, _)| *c == next) {
                            Some((_, ch)) => s.push(*ch),
                            None if next == ESC => s.push(' '),
                            None => s.push(BASE_TABLE[usize::from(next)]),
                        }
                        i += 2;
                    }
                    None => {
                        s.push(' ');
                        i += 1;
                    }
                }
            } else {
                s.push(BASE_TABLE[usize::from(code)]);
                i += 1;
            }
        }
        s
    }

    /// Packs septets LSB first after `fill_bits` zero bits.
    pub fn pack(septets: &[u8], fill_bits: u8) -> Vec<u8> {
        let bits = usize::from(fill_bits) + septets.len() * 7;
        let mut out = vec![0u8; bits.div_ceil(8)];
        let mut pos = usize::from(fill_bits);
        for s in septets {
            let v = u16::from(s & 0x7F) << (pos % 8);
            out[pos / 8] |= (v & 0xFF) as u8;
            if let Some(b) = out.get_mut(pos / 8 + 1) {
                *b |= (v >> 8) as u8;
            }
            pos += 7;
        }
        out
    }

    /// Unpacks up to `septet_count` septets after `fill_bits` bits.
    pub fn unpack(octets: &[u8], fill_bits: u8, septet_count: usize) -> Vec<u8> {
        let avail = (octets.len() * 8).saturating_sub(usize::from(fill_bits)) / 7;
        let n = septet_count.min(avail);
        let mut out = Vec::with_capacity(n);
        let mut pos = usize::from(fill_bits);
        for _ in 0..n {
            let lo = u16::from(octets.get(pos / 8).copied().unwrap_or(0));
            let hi = u16::from(octets.get(pos / 8 + 1).copied().unwrap_or(0));
            out.push((((hi << 8 | lo) >> (pos % 8)) & 0x7F) as u8);
            pos += 7;
        }
        out
    }

    /// Fill bits after a UDH of `udh_octets` octets (UDHL included).
    pub fn fill_bits(udh_octets: usize) -> u8 {
        ((7 - (udh_octets * 8) % 7) % 7) as u8
    }
}

pub mod ucs2 {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Ucs2Error {
        pub len: usize,
    }

    pub fn encode(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    pub fn decode(b: &[u8]) -> Result<String, Ucs2Error> {
        if !b.len().is_multiple_of(2) {
            return Err(Ucs2Error { len: b.len() });
        }
        Ok(decode_lossy(b))
    }

    pub fn decode_lossy(b: &[u8]) -> String {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

pub mod split {
    use super::{gsm7, ucs2};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Alphabet {
        Gsm7,
        Ucs2,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct SplitOptions {
        pub languages: Vec<u8>,
        pub force_ucs2: bool,
        pub ref16: bool,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Plan {
        pub alphabet: Alphabet,
        pub tables: gsm7::Tables,
        pub parts: Vec<Vec<u8>>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SplitError {
        pub parts: usize,
    }

    impl std::fmt::Display for SplitError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} parts, at most 255", self.parts)
        }
    }

    pub fn plan(text: &str, opts: &SplitOptions) -> Result<Plan, SplitError> {
        let udh = if opts.ref16 { 7 } else { 6 };
        let tables = gsm7::Tables::default();
        let septets = if opts.force_ucs2 {
            None
        } else {
            gsm7::encode(text, tables)
        };
        let (alphabet, parts) = match septets {
            Some(s) if s.len() <= 160 => (Alphabet::Gsm7, vec![s]),
            Some(s) => {
                let cap = (1120 - 8 * udh) / 7;
                let mut parts = Vec::new();
                let mut rest = s.as_slice();
                while !rest.is_empty() {
                    let mut n = cap.min(rest.len());
                    if n < rest.len() && rest.get(n - 1) == Some(&gsm7::ESC) {
                        n -= 1;
                    }
                    let (a, b) = rest.split_at(n);
                    parts.push(a.to_vec());
                    rest = b;
                }
                (Alphabet::Gsm7, parts)
            }
            None => {
                let o = ucs2::encode(text);
                if o.len() <= 140 {
                    (Alphabet::Ucs2, vec![o])
                } else {
                    let cap = (140 - udh) & !1;
                    let mut parts = Vec::new();
                    let mut rest = o.as_slice();
                    while !rest.is_empty() {
                        let mut n = cap.min(rest.len());
                        if n < rest.len() {
                            if let Some(&hi) = rest.get(n - 2) {
                                if (0xD8..=0xDB).contains(&hi) {
                                    n -= 2;
                                }
                            }
                        }
                        let (a, b) = rest.split_at(n);
                        parts.push(a.to_vec());
                        rest = b;
                    }
                    (Alphabet::Ucs2, parts)
                }
            }
        };
        if parts.len() > 255 {
            return Err(SplitError { parts: parts.len() });
        }
        Ok(Plan {
            alphabet,
            tables,
            parts,
        })
    }
}
