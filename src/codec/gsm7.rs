//! GSM 7-bit alphabet (3GPP TS 23.038 §6.2.1): the 128-entry default alphabet,
//! the default extension table, text <-> unpacked septets under any pair of
//! national language tables, and septet packing with UDH fill bits (§6.1.2.1,
//! TS 23.040 §9.2.3.24).
//!
//! Owns: character <-> code lookups and the bit packing. Does not own the
//! national table data (`nat_tables`), the UDH that selects those tables
//! (`udh`), choosing an encoding or cutting text into parts (`split`), or the
//! TP-UDL arithmetic of a PDU (`pdu`). Pure; never panics on any input.

use super::nat_tables;

/// The escape code: the next septet is read from the extension (single shift) table.
pub const ESC: u8 = 0x1B;

/// Tables in force: 0 = default alphabet / default extension table; 1..=13 = national language id
/// (`locking` replaces the base table for the whole message, `single` replaces the extension table).
///
/// An identifier with no such table (Spanish has no locking table; 0 and 14+ are
/// reserved) means the default table, as a receiver that lacks the table would do.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Tables {
    pub locking: u8,
    pub single: u8,
}

impl Tables {
    /// The default alphabet and the default extension table.
    pub const DEFAULT: Tables = Tables {
        locking: 0,
        single: 0,
    };
}

/// The default alphabet, indexed by septet. 0x1B is ESC and has no character.
#[rustfmt::skip]
#[allow(
    clippy::indexing_slicing,
    reason = "built at compile time; every index is a loop counter below 128 or a checked character below 128"
)]
static DEFAULT_BASE: [Option<char>; 128] = {
    const T: [char; 128] = [
        // 0x00
        '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
        // 0x10: Greek capitals; 0x1B (ESC) is a placeholder, see below
        '\u{0394}', '_', '\u{03A6}', '\u{0393}', '\u{039B}', '\u{03A9}', '\u{03A0}', '\u{03A8}',
        '\u{03A3}', '\u{0398}', '\u{039E}', '\u{1B}', 'Æ', 'æ', 'ß', 'É',
        // 0x20
        ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
        // 0x30
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
        // 0x40
        '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
        // 0x50
        'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
        // 0x60
        '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
        // 0x70
        'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
    ];
    let mut out = [None; 128];
    let mut i = 0;
    while i < 128 {
        if i != ESC as usize {
            out[i] = Some(T[i]);
        }
        i += 1;
    }
    out
};

/// The default extension table (ESC + code). 0x0D (CR2) and 0x1B are reserved
/// and decode like unknown codes.
static DEFAULT_EXT: [Option<char>; 128] = {
    let mut t = [None; 128];
    t[0x0A] = Some('\u{0C}'); // form feed
    t[0x14] = Some('^');
    t[0x28] = Some('{');
    t[0x29] = Some('}');
    t[0x2F] = Some('\\');
    t[0x3C] = Some('[');
    t[0x3D] = Some('~');
    t[0x3E] = Some(']');
    t[0x40] = Some('|');
    t[0x65] = Some('€');
    t
};

/// No code for this character.
const NONE: u16 = u16::MAX;
/// Marks an extension-table code in [`ASCII_CODES`].
const EXT: u16 = 0x100;

/// ASCII -> code in the default tables: `0..=0x7F` base, `EXT | code` extension, [`NONE`].
#[allow(
    clippy::indexing_slicing,
    reason = "built at compile time; every index is a loop counter below 128 or a checked character below 128"
)]
static ASCII_CODES: [u16; 128] = {
    let mut out = [NONE; 128];
    let mut i = 0;
    while i < 128 {
        if let Some(c) = DEFAULT_EXT[i] {
            if (c as u32) < 128 {
                out[c as usize] = EXT | i as u16;
            }
        }
        i += 1;
    }
    // Base codes last: a character in both tables costs one septet.
    let mut i = 0;
    while i < 128 {
        if let Some(c) = DEFAULT_BASE[i] {
            if (c as u32) < 128 {
                out[c as usize] = i as u16;
            }
        }
        i += 1;
    }
    out
};

/// Where a character lives under a given pair of tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    /// One septet in the base (locking) table.
    Base(u8),
    /// ESC + this septet in the extension (single shift) table.
    Ext(u8),
}

impl Code {
    fn septets(self) -> usize {
        match self {
            Code::Base(_) => 1,
            Code::Ext(_) => 2,
        }
    }
}

/// Code of a non-ASCII character in the default tables.
fn default_code_non_ascii(c: char) -> Option<Code> {
    let code = match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        '\u{0394}' => 0x10,
        '\u{03A6}' => 0x12,
        '\u{0393}' => 0x13,
        '\u{039B}' => 0x14,
        '\u{03A9}' => 0x15,
        '\u{03A0}' => 0x16,
        '\u{03A8}' => 0x17,
        '\u{03A3}' => 0x18,
        '\u{0398}' => 0x19,
        '\u{039E}' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        '€' => return Some(Code::Ext(0x65)),
        _ => return None,
    };
    Some(Code::Base(code))
}

/// Code of `c` in the default tables.
#[inline]
fn default_code(c: char) -> Option<Code> {
    let u = c as u32;
    if u < 128 {
        let v = ASCII_CODES.get(u as usize).copied().unwrap_or(NONE);
        if v == NONE {
            None
        } else if v & EXT != 0 {
            Some(Code::Ext((v & 0x7F) as u8))
        } else {
            Some(Code::Base(v as u8))
        }
    } else {
        default_code_non_ascii(c)
    }
}

/// The base table in force for decoding.
fn base_table(tables: Tables) -> &'static [Option<char>; 128] {
    if tables.locking == 0 {
        return &DEFAULT_BASE;
    }
    nat_tables::locking_shift(tables.locking).unwrap_or(&DEFAULT_BASE)
}

/// The extension table in force for decoding.
fn ext_table(tables: Tables) -> &'static [Option<char>; 128] {
    if tables.single == 0 {
        return &DEFAULT_EXT;
    }
    nat_tables::single_shift(tables.single).unwrap_or(&DEFAULT_EXT)
}

/// Where `c` lives under `tables`; the base table wins over the extension table.
#[inline]
fn code(c: char, tables: Tables) -> Option<Code> {
    if tables == Tables::DEFAULT {
        return default_code(c);
    }
    let base = if nat_tables::has_locking(tables.locking) {
        nat_tables::locking_code(tables.locking, c)
    } else {
        match default_code(c) {
            Some(Code::Base(b)) => Some(b),
            _ => None,
        }
    };
    if let Some(b) = base {
        return Some(Code::Base(b));
    }
    if nat_tables::has_single(tables.single) {
        nat_tables::single_code(tables.single, c).map(Code::Ext)
    } else {
        match default_code(c) {
            Some(Code::Ext(e)) => Some(Code::Ext(e)),
            _ => None,
        }
    }
}

/// Text -> unpacked septets (ESC sequences included); None if a character cannot be represented.
pub fn encode(text: &str, tables: Tables) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 8);
    encode_into(text, tables, &mut out)?;
    Some(out)
}

/// Calls `f` with the code of each character of `text`, in order; None as
/// soon as one cannot be represented.
#[inline]
fn for_each_code(text: &str, tables: Tables, mut f: impl FnMut(Code)) -> Option<()> {
    if tables != Tables::DEFAULT {
        for c in text.chars() {
            f(code(c, tables)?);
        }
        return Some(());
    }
    // Default tables: ASCII bytes by table lookup, the rest by character.
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte.is_ascii() {
            let v = ASCII_CODES.get(usize::from(byte)).copied().unwrap_or(NONE);
            if v == NONE {
                return None;
            }
            f(if v & EXT != 0 {
                Code::Ext((v & 0x7F) as u8)
            } else {
                Code::Base(v as u8)
            });
            i += 1;
        } else {
            let c = text.get(i..).and_then(|rest| rest.chars().next())?;
            f(default_code_non_ascii(c)?);
            i += c.len_utf8();
        }
    }
    Some(())
}

/// Appends the septets of `text` to `out` and returns how many were added; on
/// None (a character cannot be represented) `out` is left as it was.
pub fn encode_into(text: &str, tables: Tables, out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    out.reserve(text.len());
    let done = for_each_code(text, tables, |code| match code {
        Code::Base(b) => out.push(b),
        Code::Ext(e) => {
            out.push(ESC);
            out.push(e);
        }
    });
    if done.is_none() {
        out.truncate(start);
        return None;
    }
    Some(out.len() - start)
}

/// Septets needed for `text`, or None if not representable (no allocation).
pub fn septet_len(text: &str, tables: Tables) -> Option<usize> {
    let mut n = 0usize;
    for_each_code(text, tables, |code| n += code.septets())?;
    Some(n)
}

/// Septets needed for one character, or None if not representable.
pub fn char_septets(c: char, tables: Tables) -> Option<usize> {
    code(c, tables).map(Code::septets)
}

/// The GSM-7 lookalike for a character the default tables lack, if there is
/// an unambiguous one: typographic quotes, dashes, spaces and the ellipsis.
fn lookalike(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{00B4}'
        | '\u{02BC}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' => "\"",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => "-",
        '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2007}' | '\u{2009}' | '\u{202F}' | '\t' => " ",
        '\u{2026}' => "...",
        _ => return None,
    })
}

/// Replaces typographic characters the default alphabet lacks (curly quotes,
/// dashes, non-breaking and thin spaces, tab, ellipsis) by their plain
/// lookalikes, so that text pasted from a word processor can go as GSM-7.
/// Every other character is kept, representable or not; nothing is dropped.
/// Borrows when nothing changes. For callers that enable folding explicitly:
/// `split::plan` never folds on its own.
pub fn transliterate(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(first) = text.char_indices().find(|&(_, c)| lookalike(c).is_some()) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let (head, tail) = text.split_at(first.0);
    let mut out = String::with_capacity(text.len());
    out.push_str(head);
    for c in tail.chars() {
        match lookalike(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Unpacked septets -> text. ESC + unknown code shows the base-table character; ESC + ESC shows a space;
/// a trailing lone ESC shows a space. Never panics, never adds characters.
///
/// Only the low 7 bits of each octet count. A code with no character in the
/// tables in force (a gap in a national table) shows U+FFFD.
pub fn decode(septets: &[u8], tables: Tables) -> String {
    let base = base_table(tables);
    let ext = ext_table(tables);
    let mut out = String::with_capacity(septets.len() + septets.len() / 2);
    let mut it = septets.iter().map(|&s| s & 0x7F);
    while let Some(s) = it.next() {
        let c = if s == ESC {
            match it.next() {
                None | Some(ESC) => ' ',
                Some(e) => look(ext, e)
                    .or(look(base, e))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
            }
        } else {
            look(base, s).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        out.push(c);
    }
    out
}

/// The character of `code` in `table`, if it has one.
fn look(table: &[Option<char>; 128], code: u8) -> Option<char> {
    table.get(usize::from(code)).copied().flatten()
}

/// Packs septets LSB-first after `fill_bits` (0..=6) zero bits; unused high bits of the last octet are 0.
///
/// Only the low 7 bits of each septet count. The result holds
/// `ceil((fill_bits + 7 * septets.len()) / 8)` octets, so fill bits with no
/// septets still take an octet, as they do in a TP-UD after a UDH.
pub fn pack(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let total_bits = fill_bits as usize + 7 * septets.len();
    let mut out = Vec::with_capacity(total_bits.div_ceil(8));
    out.resize(fill_bits as usize / 8, 0);
    let mut acc: u32 = 0;
    let mut nbits: u32 = u32::from(fill_bits % 8);
    for &s in septets {
        acc |= u32::from(s & 0x7F) << nbits;
        nbits += 7;
        if nbits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            nbits -= 8;
        }
    }
    if nbits > 0 {
        out.push(acc as u8);
    }
    out
}

/// Unpacks exactly min(septet_count, what the octets hold) septets after skipping `fill_bits`; never invents a septet.
pub fn unpack(octets: &[u8], fill_bits: u8, septet_count: usize) -> Vec<u8> {
    let held = (octets.len() * 8).saturating_sub(fill_bits as usize) / 7;
    let n = septet_count.min(held);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let skip = fill_bits as usize / 8;
    let mut drop = u32::from(fill_bits % 8);
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    for &b in octets.iter().skip(skip) {
        acc |= u32::from(b) << nbits;
        nbits += 8;
        if drop > 0 {
            acc >>= drop;
            nbits -= drop;
            drop = 0;
        }
        while nbits >= 7 {
            out.push((acc & 0x7F) as u8);
            if out.len() == n {
                return out;
            }
            acc >>= 7;
            nbits -= 7;
        }
    }
    out
}

/// Fill bits after a UDH of `udh_octets` octets (UDHL octet included): (7 - (udh_octets*8 % 7)) % 7.
pub fn fill_bits(udh_octets: usize) -> u8 {
    let r = ((udh_octets % 7) * 8) % 7;
    ((7 - r) % 7) as u8
}

/// Septets a UDH of `udh_octets` octets (UDHL octet included) takes in TP-UDL,
/// fill bits included: `(udh_octets * 8 + fill_bits) / 7`.
pub fn udh_septets(udh_octets: usize) -> usize {
    (udh_octets * 8 + fill_bits(udh_octets) as usize) / 7
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::codec::to_hex as hex;

    fn unhex(s: &str) -> Vec<u8> {
        crate::codec::from_hex(s).expect("test vector is hex")
    }

    /// Every character the default tables can encode, with its septets.
    fn default_chars() -> Vec<(char, Vec<u8>)> {
        let mut v = Vec::new();
        for (i, c) in DEFAULT_BASE.iter().enumerate() {
            if let Some(c) = c {
                v.push((*c, vec![i as u8]));
            }
        }
        for (i, c) in DEFAULT_EXT.iter().enumerate() {
            if let Some(c) = c {
                v.push((*c, vec![ESC, i as u8]));
            }
        }
        v
    }

    #[test]
    fn tables_are_consistent() {
        let chars = default_chars();
        assert_eq!(chars.len(), 127 + 10);
        for (c, septets) in &chars {
            assert_eq!(
                encode(&c.to_string(), Tables::DEFAULT).as_ref(),
                Some(septets),
                "{c:?}"
            );
            assert_eq!(
                septet_len(&c.to_string(), Tables::DEFAULT),
                Some(septets.len())
            );
            assert_eq!(decode(septets, Tables::DEFAULT), c.to_string());
        }
    }

    #[test]
    fn encode_decode_vectors() {
        // (text, septets hex, or None when not representable)
        let table: &[(&str, Option<&str>)] = &[
            ("", Some("")),
            ("@", Some("00")),
            ("Hello", Some("48656C6C6F")),
            ("£$¥", Some("010203")),
            ("_¤¡¿§", Some("112440605F")),
            ("€", Some("1B65")),
            ("^{}\\[~]|", Some("1B141B281B291B2F1B3C1B3D1B3E1B40")),
            ("\u{0C}", Some("1B0A")),
            ("a\nb\rc", Some("610A620D63")),
            ("ΔΦΓΛΩΠΨΣΘΞ", Some("1012131415161718191A")),
            ("ç", None),  // only capital Ç (0x09) is in the table
            ("`", None),  // no backtick in GSM 03.38
            ("😀", None), // emoji
            ("\u{1B}", None),
            ("\0", None),
            ("é€x", Some("051B6578")),
        ];
        assert!(!table.is_empty());
        fn check(text: &str, want: Option<&str>) {
            let got = encode(text, Tables::DEFAULT);
            assert_eq!(got.as_deref().map(hex), want.map(str::to_owned), "{text:?}");
            assert_eq!(
                septet_len(text, Tables::DEFAULT),
                got.as_ref().map(Vec::len)
            );
            if let Some(s) = got {
                assert_eq!(decode(&s, Tables::DEFAULT), text);
            }
        }
        for (text, want) in table {
            check(text, *want);
        }
    }

    #[test]
    fn decode_vectors() {
        // (septets hex, text): ESC rules and out-of-range octets.
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("00", "@"),
            ("1B65", "€"),
            ("1B61", "a"),    // ESC + unknown code shows the base character
            ("1B0D", "\r"),   // CR2 is reserved: base character
            ("1B1B", " "),    // ESC ESC shows a space
            ("411B", "A "),   // trailing lone ESC shows a space
            ("1B", " "),      // lone ESC
            ("1B1B65", " e"), // ESC ESC then a plain e
            ("C1", "A"),      // high bit ignored
            ("9B65", "€"),    // ESC with the high bit set is still ESC
            ("48656C6C6F00", "Hello@"),
        ];
        assert!(!table.is_empty());
        fn check(septets: &str, want: &str) {
            assert_eq!(decode(&unhex(septets), Tables::DEFAULT), want, "{septets}");
        }
        for (s, w) in table {
            check(s, w);
        }
    }

    #[test]
    fn pack_vectors() {
        // (text, fill bits, packed hex)
        let table: &[(&str, u8, &str)] = &[
            ("Hello world", 0, "C8329BFD06DDDF723619"),    // P8
            ("hellohello", 0, "E8329BFD4697D9EC37"),       // P1 UD
            ("How are you?", 0, "C8F71D14969741F977FD07"), // P3 UD
            ("Hello world", 1, "906536FB0DBABFE56C32"),    // V2 UD after the 6-octet UDH
            ("Please reply", 3, "80B2CBE17919242FC3D979"), // P7 UD after the 11-octet UDH (first octet shares fill bits)
            ("Price: 5€ [ok]", 0, "50797A5CD6816A9B3268C37BAF373E"), // V1 UD: 17 septets, 3 escapes
            ("Flash!", 0, "4676788E0E01"),                 // V6 UD
            ("Your code is 1234", 0, "D9775D0E1ABFC965507A0E8AC96634"), // V5 UD
            ("InfoSMS", 0, "49B7F93D6D4E01"),              // V5 alphanumeric OA
            ("20124079901", 0, "32584C4683DD7239580C"),    // P6 alphanumeric OA
            ("", 0, ""),
            ("", 1, "00"),
            ("@", 0, "00"),
            ("@@@@@@@@", 0, "00000000000000"), // 8 septets fill 7 octets exactly
            ("A", 6, "4010"),
        ];
        assert!(!table.is_empty());
        fn check(text: &str, fill: u8, want: &str) {
            let septets = encode(text, Tables::DEFAULT).expect("vector text is GSM-7");
            let packed = pack(&septets, fill);
            assert_eq!(hex(&packed), want, "{text:?} fill {fill}");
            assert_eq!(unpack(&packed, fill, septets.len()), septets);
            assert_eq!(
                decode(&unpack(&packed, fill, septets.len()), Tables::DEFAULT),
                text
            );
        }
        for (t, f, w) in table {
            check(t, *f, w);
        }
    }

    #[test]
    fn p7_user_data_with_reply_address_udh() {
        // UDL 0x19 = 25 septets; UDH 0A 22 08 0B 91 21 43 65 87 09 F1 (11 octets);
        // 88 bits + 3 fill bits = 13 septets; 12 text septets "Please reply".
        let ud = unhex("0A22080B912143658709F180B2CBE17919242FC3D979");
        let udh_octets = usize::from(ud[0]) + 1;
        assert_eq!(udh_octets, 11);
        let fill = fill_bits(udh_octets);
        assert_eq!(fill, 3);
        assert_eq!(udh_septets(udh_octets), 13);
        let septets = unpack(&ud[udh_octets..], fill, 25 - 13);
        assert_eq!(decode(&septets, Tables::DEFAULT), "Please reply");
    }

    #[test]
    fn fill_bit_vectors() {
        // (UDHL, fill bits) where the UDH is UDHL + 1 octets.
        let table: &[(usize, u8)] = &[
            (5, 1),  // 8-bit concat
            (6, 0),  // 16-bit concat: 0, not 7
            (10, 3), // P7
            (3, 3),  // one national language IE
            (8, 5),  // 8-bit concat + one NLI IE
            (11, 2), // 8-bit concat + both NLI IEs
            (13, 0),
        ];
        assert!(!table.is_empty());
        fn check(udhl: usize, want: u8) {
            assert_eq!(fill_bits(udhl + 1), want, "UDHL {udhl}");
            assert_eq!(((udhl + 1) * 8 + want as usize) % 7, 0);
        }
        for (u, w) in table {
            check(*u, *w);
        }
        assert_eq!(fill_bits(0), 0);
        assert_eq!(fill_bits(usize::MAX), fill_bits(usize::MAX % 7));
    }

    #[test]
    fn unpack_never_invents_septets() {
        // (packed hex, fill, septets asked, septets hex expected)
        let table: &[(&str, u8, usize, &str)] = &[
            // 7 "@" septets use 49 bits: the 7th octet's top 7 bits are padding, not an 8th "@".
            ("00000000000000", 0, 8, "0000000000000000"),
            ("000000000000", 0, 8, "000000000000"), // 48 bits hold 6 septets
            ("41", 0, 5, "41"),
            ("", 0, 3, ""),
            ("FF", 2, 3, ""), // 6 bits after the fill hold no septet
            ("FF", 1, 3, "7F"),
            ("C8329BFD06DDDF723619", 0, 11, "48656C6C6F20776F726C64"),
            ("C8329BFD06DDDF723619", 0, 5, "48656C6C6F"),
            ("C8329BFD06DDDF723619", 0, 0, ""),
            ("0000", 200, 9, ""),
        ];
        assert!(!table.is_empty());
        fn check(packed: &str, fill: u8, count: usize, want: &str) {
            assert_eq!(
                hex(&unpack(&unhex(packed), fill, count)),
                want,
                "{packed} {fill} {count}"
            );
        }
        for (p, f, c, w) in table {
            check(p, *f, *c, w);
        }
    }

    #[test]
    fn real_at_sign_at_the_end_is_kept() {
        // "Hi@" is 3 septets: the last one is a real @.
        let septets = encode("Hi@", Tables::DEFAULT).expect("GSM-7");
        let packed = pack(&septets, 0);
        assert_eq!(decode(&unpack(&packed, 0, 3), Tables::DEFAULT), "Hi@");
        // Seven septets leave 7 spare zero bits, which look like one more "@":
        // only the septet count (TP-UDL) tells them apart, and unpack honours it.
        let septets = encode("1234567", Tables::DEFAULT).expect("GSM-7");
        let packed = pack(&septets, 0);
        assert_eq!(packed.len(), 7);
        assert_eq!(decode(&unpack(&packed, 0, 7), Tables::DEFAULT), "1234567");
        let septets = encode("123456@", Tables::DEFAULT).expect("GSM-7");
        assert_eq!(
            decode(&unpack(&pack(&septets, 0), 0, 7), Tables::DEFAULT),
            "123456@"
        );
    }

    #[test]
    fn unknown_table_ids_fall_back_to_default() {
        for id in [0u8, 14, 200, 255] {
            let t = Tables {
                locking: id,
                single: id,
            };
            assert_eq!(encode("Hi €", t), encode("Hi €", Tables::DEFAULT));
            assert_eq!(decode(&[0x48, ESC, 0x65], t), "H€");
        }
    }

    #[test]
    fn national_encode_vectors() {
        let t = |locking, single| Tables { locking, single };
        // (text, tables, septets hex, or None when not representable)
        let table: &[(&str, Tables, Option<&str>)] = &[
            ("ğ", t(0, 0), None),
            ("ğ", t(1, 0), Some("0C")),   // Turkish locking
            ("ğ", t(0, 1), Some("1B67")), // Turkish single shift
            ("ğ", t(1, 1), Some("0C")),   // the base table wins over the extension
            ("€", t(1, 0), Some("04")),   // Turkish locking has € at 0x04
            ("€", t(0, 1), Some("1B65")),
            ("{", t(1, 0), Some("1B28")), // default extension under Turkish locking
            ("è", t(1, 0), None),         // Turkish locking replaces è by €
            ("è", t(1, 1), None),
            ("è", t(0, 1), Some("04")),
            ("á", t(0, 2), Some("1B61")), // Spanish single shift
            ("á", t(2, 0), None),         // Spanish has no locking table: default
            ("ê", t(3, 0), Some("04")),   // Portuguese locking
            ("ê", t(0, 3), Some("1B05")), // Portuguese single shift
            ("`", t(3, 0), Some("7D")),   // Portuguese locking has a backtick
            ("ä", t(3, 0), None),         // ... and ã where the default has ä
            ("Δ", t(0, 3), Some("10")),
            ("Ağaç ışık", t(1, 0), Some("410C616020071D076B")),
            ("Ağaç", t(0, 1), Some("411B67611B63")),
            ("\u{0915}", t(6, 0), Some("15")), // Hindi KA
        ];
        assert!(!table.is_empty());
        fn check(text: &str, tables: Tables, want: Option<&str>) {
            let got = encode(text, tables);
            assert_eq!(
                got.as_deref().map(hex),
                want.map(str::to_owned),
                "{text:?} {tables:?}"
            );
            assert_eq!(septet_len(text, tables), got.as_ref().map(Vec::len));
            if let Some(s) = got {
                assert_eq!(decode(&s, tables), text, "{tables:?}");
            }
        }
        for &(text, tables, want) in table {
            check(text, tables, want);
        }
    }

    #[test]
    fn national_decode_vectors() {
        let t = |locking, single| Tables { locking, single };
        // (septets hex, tables, text)
        let table: &[(&str, Tables, &str)] = &[
            ("0C", t(1, 0), "ğ"),
            ("04", t(1, 0), "€"),
            ("1B67", t(0, 1), "ğ"),
            ("1B67", t(0, 0), "g"), // a receiver without the table shows the base character
            ("1B61", t(1, 1), "a"), // no Turkish single shift at 0x61: Turkish base
            ("1B04", t(1, 1), "€"), // no Turkish single shift at 0x04: Turkish locking €
            ("1B65", t(0, 2), "€"),
            ("0C", t(4, 0), "\u{FFFD}"), // a gap in the Bengali locking table
            ("1B1B", t(6, 6), " "),
            ("1B", t(13, 13), " "),
        ];
        assert!(!table.is_empty());
        fn check(septets: &str, tables: Tables, want: &str) {
            assert_eq!(
                decode(&unhex(septets), tables),
                want,
                "{septets} {tables:?}"
            );
        }
        for &(s, tables, want) in table {
            check(s, tables, want);
        }
    }

    #[test]
    fn transliterate_vectors() {
        // (input, output)
        let table: &[(&str, &str)] = &[
            ("plain", "plain"),
            (
                "\u{201C}Hi\u{201D} \u{2014} it\u{2019}s\u{2026}",
                "\"Hi\" - it's...",
            ),
            ("a\u{00A0}b\tc", "a b c"),
            ("«ok»", "\"ok\""),
            ("Ω😀", "Ω😀"), // kept: not a typographic lookalike
            ("", ""),
        ];
        assert!(!table.is_empty());
        fn check(input: &str, want: &str) {
            let got = transliterate(input);
            assert_eq!(got, want, "{input:?}");
            assert_eq!(matches!(got, std::borrow::Cow::Borrowed(_)), input == want);
        }
        for (i, w) in table {
            check(i, w);
        }
        // every replacement is GSM-7
        for c in (0..=0x2FFFu32).filter_map(char::from_u32) {
            if let Some(s) = lookalike(c) {
                assert!(septet_len(s, Tables::DEFAULT).is_some(), "{c:?}");
                assert!(
                    char_septets(c, Tables::DEFAULT).is_none(),
                    "{c:?} is GSM-7 already"
                );
            }
        }
    }

    /// Every character `tables` can encode.
    fn chars_of(tables: Tables) -> Vec<char> {
        let base = base_table(tables);
        let ext = ext_table(tables);
        let mut v: Vec<char> = base.iter().chain(ext.iter()).flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// A language id, its tables, and a text those tables can encode.
    fn national_text() -> impl Strategy<Value = (Tables, String)> {
        (1u8..=13, any::<bool>(), any::<bool>())
            .prop_map(|(lang, use_locking, use_single)| Tables {
                locking: if use_locking { lang } else { 0 },
                single: if use_single { lang } else { 0 },
            })
            .prop_flat_map(|tables| {
                let chars = chars_of(tables);
                (
                    Just(tables),
                    proptest::collection::vec(proptest::sample::select(chars), 0..300)
                        .prop_map(|v| v.into_iter().collect::<String>()),
                )
            })
    }

    /// A string of characters the default tables can encode.
    fn gsm7_text() -> impl Strategy<Value = String> {
        let chars: Vec<char> = default_chars().into_iter().map(|(c, _)| c).collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..400)
            .prop_map(|v| v.into_iter().collect())
    }

    /// Deterministic runs: a fixed seed, no regression files.
    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6573_6D37),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn pack_unpack_identity(septets in proptest::collection::vec(0u8..128, 0..400), fill in 0u8..=6) {
            let packed = pack(&septets, fill);
            prop_assert_eq!(packed.len(), (fill as usize + 7 * septets.len()).div_ceil(8));
            prop_assert_eq!(unpack(&packed, fill, septets.len()), septets.clone());
            // Asking for more never invents more than the spare bits can hold (at most one).
            let more = unpack(&packed, fill, septets.len() + 5);
            prop_assert!(more.len() <= septets.len() + 1);
            prop_assert_eq!(&more[..septets.len()], &septets[..]);
        }

        #[test]
        fn unused_high_bits_are_zero(septets in proptest::collection::vec(0u8..128, 1..50), fill in 0u8..=6) {
            let packed = pack(&septets, fill);
            let bits = fill as usize + 7 * septets.len();
            let spare = packed.len() * 8 - bits;
            let last = *packed.last().expect("non-empty");
            prop_assert_eq!(u16::from(last) >> (8 - spare), 0);
            // and the fill bits are zero
            prop_assert_eq!(packed[0] & ((1u16 << fill) - 1) as u8, 0);
        }

        #[test]
        fn gsm7_text_round_trip(text in gsm7_text()) {
            let septets = encode(&text, Tables::DEFAULT).expect("built from the tables");
            prop_assert_eq!(septet_len(&text, Tables::DEFAULT), Some(septets.len()));
            prop_assert_eq!(decode(&septets, Tables::DEFAULT), text.clone());
            for fill in 0..=6u8 {
                let back = unpack(&pack(&septets, fill), fill, septets.len());
                prop_assert_eq!(decode(&back, Tables::DEFAULT), text.clone());
            }
        }

        #[test]
        fn national_text_round_trip((tables, text) in national_text()) {
            let septets = encode(&text, tables).expect("built from the tables");
            prop_assert_eq!(septet_len(&text, tables), Some(septets.len()));
            prop_assert!(septets.iter().all(|&s| s < 128));
            prop_assert_eq!(decode(&septets, tables), text);
        }

        #[test]
        fn transliterate_keeps_gsm7_text_and_is_idempotent(text in any::<String>(), gsm in gsm7_text()) {
            prop_assert!(matches!(transliterate(&gsm), std::borrow::Cow::Borrowed(_)));
            let out = transliterate(&text);
            prop_assert_eq!(transliterate(&out), out.clone());
            prop_assert!(out.chars().count() >= text.chars().count());
            // what was not representable only because of lookalikes now is
            let others_ok = text.chars().all(|c| lookalike(c).is_some() || char_septets(c, Tables::DEFAULT).is_some());
            prop_assert_eq!(septet_len(&out, Tables::DEFAULT).is_some(), others_ok);
        }

        #[test]
        fn encode_agrees_with_septet_len(text in any::<String>()) {
            let e = encode(&text, Tables::DEFAULT);
            prop_assert_eq!(e.as_ref().map(Vec::len), septet_len(&text, Tables::DEFAULT));
            if let Some(s) = e {
                prop_assert_eq!(decode(&s, Tables::DEFAULT), text);
            }
        }

        #[test]
        fn decode_never_panics_never_adds(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                          locking in 0u8..16, single in 0u8..16) {
            let t = Tables { locking, single };
            let s = decode(&bytes, t);
            prop_assert!(s.chars().count() <= bytes.len());
            let escs = bytes.iter().filter(|&&b| b & 0x7F == ESC).count();
            prop_assert!(s.chars().count() >= bytes.len() - escs);
        }

        #[test]
        fn unpack_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                               fill in any::<u8>(), count in 0usize..300) {
            let out = unpack(&bytes, fill, count);
            prop_assert!(out.len() <= count);
            prop_assert!(out.len() * 7 + fill as usize <= bytes.len() * 8 || out.is_empty());
            prop_assert!(out.iter().all(|&s| s < 128));
        }
    }
}
