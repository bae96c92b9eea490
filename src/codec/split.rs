//! Choosing the alphabet for a text and cutting it into parts (3GPP TS 23.038
//! §6.2, TS 23.040 §9.2.3.24), accounting for the UDH each part will carry:
//! concatenation IE (5 or 6 octets) and national language shift IEs (3 each).
//!
//! Owns: the encoding choice (GSM-7 with the cheapest national tables, else
//! UCS-2), part capacities, and where parts are cut: never inside an ESC
//! sequence or a surrogate pair, and not inside a grapheme cluster when keeping
//! it whole costs no extra part. Does not own building the UDH or the PDUs
//! (`udh`, `pdu`), nor the concatenation reference. Pure; never panics.

use thiserror::Error;
use unicode_segmentation::GraphemeCursor;

use super::gsm7::{self, Tables};
use super::{nat_tables, ucs2};

/// At most this many parts in one concatenated message (TP-UD has one octet for the total).
pub const MAX_PARTS: usize = 255;
/// Octets of TP-UD in one SMS.
pub const UD_OCTETS: usize = 140;
/// Octets of the concatenation IE with an 8-bit reference (IEI 0x00, IEDL, ref, total, seq).
pub const CONCAT8_IE_OCTETS: usize = 5;
/// Octets of the concatenation IE with a 16-bit reference (IEI 0x08, IEDL, ref ×2, total, seq).
pub const CONCAT16_IE_OCTETS: usize = 6;
/// Octets of one national language shift IE (IEI 0x24 or 0x25, IEDL, language).
pub const NLI_IE_OCTETS: usize = 3;

/// The alphabet of the user data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    Gsm7,
    Ucs2,
}

/// What the caller allows when splitting text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SplitOptions {
    /// National languages (1..=13) whose shift tables the encoder may use.
    pub languages: Vec<u8>,
    /// Send UCS-2 even when GSM-7 could carry the text.
    pub force_ucs2: bool,
    /// Use the 16-bit concatenation reference (IE 0x08) instead of the 8-bit one (IE 0x00).
    pub ref16: bool,
}

/// The chosen encoding and the parts, ready for the PDU layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub alphabet: Alphabet,
    /// National tables in force (always the default for UCS-2). A non-zero
    /// `locking` / `single` means the UDH carries IE 0x25 / 0x24 with that id.
    pub tables: Tables,
    /// GSM-7: unpacked septets per part; UCS-2: UTF-16BE octets per part.
    pub parts: Vec<Vec<u8>>,
}

/// The encoding and part count of a text, without building the parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measure {
    pub alphabet: Alphabet,
    pub tables: Tables,
    /// Parts the text needs.
    pub parts: usize,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) of the whole text.
    pub units: usize,
}

/// Why a text or data could not be split.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SplitError {
    #[error("message needs {needed} parts; a concatenated message holds at most 255")]
    TooManyParts { needed: usize },
    #[error("national language identifier {id} is not one of 1..=13")]
    UnknownLanguage { id: u8 },
}

/// UDH octets (the UDHL octet included) each part carries, or 0 for no UDH.
/// `concat` is `None` for a single part, else `Some(ref16)`. A non-zero table id
/// in `tables` costs one national language IE; UCS-2 never carries them.
pub fn udh_octets(alphabet: Alphabet, tables: Tables, concat: Option<bool>) -> usize {
    let mut ies = match concat {
        None => 0,
        Some(false) => CONCAT8_IE_OCTETS,
        Some(true) => CONCAT16_IE_OCTETS,
    };
    if alphabet == Alphabet::Gsm7 {
        ies += NLI_IE_OCTETS * (usize::from(tables.locking != 0) + usize::from(tables.single != 0));
    }
    if ies == 0 {
        0
    } else {
        ies + 1
    }
}

/// Septets (GSM-7) or UTF-16 units (UCS-2) that fit in one part after a UDH of
/// `udh_octets` octets (UDHL included; 0 for none). For GSM-7 this is
/// ⌊(1120 − 8·udh_octets)/7⌋, the fill bits included.
pub fn capacity(alphabet: Alphabet, udh_octets: usize) -> usize {
    let octets = UD_OCTETS.saturating_sub(udh_octets);
    match alphabet {
        Alphabet::Gsm7 => {
            let fill = usize::from(gsm7::fill_bits(udh_octets));
            (octets * 8).saturating_sub(fill) / 7
        }
        Alphabet::Ucs2 => octets / 2,
    }
}

/// The enabled languages, as flags indexed by id.
fn enabled_languages(opts: &SplitOptions) -> Result<[bool; 14], SplitError> {
    let mut on = [false; 14];
    for &id in &opts.languages {
        match on.get_mut(usize::from(id)) {
            Some(slot) if id != 0 => *slot = true,
            _ => return Err(SplitError::UnknownLanguage { id }),
        }
    }
    Ok(on)
}

/// Candidate tables in preference order: the default tables first, then single
/// shift only, then locking shift combinations.
fn candidates(on: &[bool; 14]) -> impl Iterator<Item = Tables> + '_ {
    let ids = move |has: fn(u8) -> bool| {
        std::iter::once(0u8).chain(
            (1u8..=13)
                .filter(move |&id| on.get(usize::from(id)).copied().unwrap_or(false) && has(id)),
        )
    };
    ids(nat_tables::has_locking).flat_map(move |locking| {
        ids(nat_tables::has_single).map(move |single| Tables { locking, single })
    })
}

/// Parts a sequence of weights needs when cut greedily at `cap` per part.
fn greedy_parts(weights: impl Iterator<Item = usize>, cap: usize) -> usize {
    let mut parts = 1;
    let mut used = 0usize;
    for w in weights {
        if used + w > cap && used > 0 {
            parts += 1;
            used = 0;
        }
        used += w;
    }
    parts
}

/// Septets and parts of `text` under `tables`, or None if not representable.
fn measure_gsm7(text: &str, tables: Tables, ref16: bool) -> Option<(usize, usize)> {
    let len = gsm7::septet_len(text, tables)?;
    let single = capacity(Alphabet::Gsm7, udh_octets(Alphabet::Gsm7, tables, None));
    if len <= single {
        return Some((len, 1));
    }
    let cap = capacity(
        Alphabet::Gsm7,
        udh_octets(Alphabet::Gsm7, tables, Some(ref16)),
    );
    let weights = text
        .chars()
        .map(|c| gsm7::char_septets(c, tables).unwrap_or(1));
    Some((len, greedy_parts(weights, cap)))
}

/// UTF-16 units and parts of `text` in UCS-2.
fn measure_ucs2(text: &str, ref16: bool) -> (usize, usize) {
    let len = ucs2::unit_len(text);
    if len <= capacity(Alphabet::Ucs2, 0) {
        return (len, 1);
    }
    let cap = capacity(
        Alphabet::Ucs2,
        udh_octets(Alphabet::Ucs2, Tables::DEFAULT, Some(ref16)),
    );
    (len, greedy_parts(text.chars().map(char::len_utf16), cap))
}

/// The encoding and part count `plan` would choose, without building the parts.
pub fn measure(text: &str, opts: &SplitOptions) -> Result<Measure, SplitError> {
    let on = enabled_languages(opts)?;
    let mut best: Option<(usize, usize, Measure)> = None;
    if !opts.force_ucs2 {
        for tables in candidates(&on) {
            // A candidate needs at least one part and its shift IEs: skip it
            // unscanned when that already loses (the common case: plain text
            // that fits one part with the default tables).
            let floor = (1, udh_octets(Alphabet::Gsm7, tables, None));
            if best.as_ref().is_some_and(|(p, u, _)| (*p, *u) <= floor) {
                continue;
            }
            let Some((units, parts)) = measure_gsm7(text, tables, opts.ref16) else {
                continue;
            };
            let concat = (parts > 1).then_some(opts.ref16);
            let key = (parts, udh_octets(Alphabet::Gsm7, tables, concat));
            if best.as_ref().is_none_or(|(p, u, _)| key < (*p, *u)) {
                let m = Measure {
                    alphabet: Alphabet::Gsm7,
                    tables,
                    parts,
                    units,
                };
                best = Some((key.0, key.1, m));
            }
        }
    }
    let m = match best {
        Some((_, _, m)) => m,
        None => {
            let (units, parts) = measure_ucs2(text, opts.ref16);
            Measure {
                alphabet: Alphabet::Ucs2,
                tables: Tables::DEFAULT,
                parts,
                units,
            }
        }
    };
    if m.parts > MAX_PARTS {
        return Err(SplitError::TooManyParts { needed: m.parts });
    }
    Ok(m)
}

/// Parts `text` needs under `opts` (what `plan(text, opts)?.parts.len()` gives).
pub fn part_count(text: &str, opts: &SplitOptions) -> Result<usize, SplitError> {
    measure(text, opts).map(|m| m.parts)
}

/// The start of the grapheme cluster that byte offset `at` of `text` falls
/// inside, or None when `at` is already a cluster boundary.
fn cluster_start(text: &str, at: usize) -> Option<usize> {
    let mut cursor = GraphemeCursor::new(at, text.len(), true);
    match cursor.is_boundary(text, 0) {
        Ok(false) => cursor.prev_boundary(text, 0).ok().flatten(),
        Ok(true) | Err(_) => None,
    }
}

/// Where each part ends, as offsets into the encoded stream of `total` units
/// (septets or UTF-16 units), `cap` units per part.
///
/// `weight(c)` gives the units of one character of `text`, and
/// `is_cut_ok(i)` whether a part may end before unit `i` (not inside an ESC
/// sequence or a surrogate pair). `parts` is the minimum part count, which the
/// greedy cut between characters gives. A cut inside a grapheme cluster moves
/// back to the cluster's start when the rest still fits in the parts left.
fn cut_points(
    text: &str,
    weight: impl Fn(char) -> usize,
    total: usize,
    cap: usize,
    parts: usize,
    is_cut_ok: impl Fn(usize) -> bool,
) -> Vec<usize> {
    // On the stream: the latest cut at or before start + cap that splits no character.
    let char_cut = |start: usize| -> usize {
        let hard = start.saturating_add(cap.max(1)).min(total);
        if hard == total {
            return total;
        }
        let mut end = hard;
        while end > start && !is_cut_ok(end) {
            end -= 1;
        }
        if end == start {
            hard
        } else {
            end
        }
    };
    // Parts needed from `start` to the end, counting no further than `limit` + 1.
    let parts_from = |mut start: usize, limit: usize| -> usize {
        let mut n = 0;
        while start < total && n <= limit {
            start = char_cut(start);
            n += 1;
        }
        n
    };
    let mut ends = Vec::with_capacity(parts);
    // Byte offset in `text` and unit offset in the stream where the part starts.
    let (mut byte, mut unit) = (0usize, 0usize);
    while unit < total {
        let mut chars = text.get(byte..).unwrap_or("").chars().peekable();
        let (mut b, mut u) = (byte, unit);
        while let Some(&c) = chars.peek() {
            let w = weight(c);
            // Always take one character, so a part never comes out empty.
            if u + w > unit + cap && u > unit {
                break;
            }
            u += w;
            b += c.len_utf8();
            chars.next();
        }
        if u == unit {
            break; // no text left: the stream and the text disagree
        }
        let mut end = (b, u);
        if u < total {
            if let Some(g) = cluster_start(text, b).filter(|&g| g > byte) {
                let back: usize = text.get(g..b).unwrap_or("").chars().map(&weight).sum();
                let ug = u.saturating_sub(back);
                let left = parts.saturating_sub(ends.len() + 1);
                if ug > unit && parts_from(ug, left) <= left {
                    end = (g, ug);
                }
            }
        }
        ends.push(end.1);
        (byte, unit) = end;
    }
    if ends.last().is_none_or(|&e| e < total) {
        ends.push(total);
    }
    ends
}

/// Cuts `units` at `ends` into owned parts, each unit turned into octets by `emit`.
fn cut<T: Copy>(
    units: &[T],
    ends: &[usize],
    mut emit: impl FnMut(&mut Vec<u8>, T),
) -> Vec<Vec<u8>> {
    let mut parts = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for &end in ends {
        let slice = units.get(start..end).unwrap_or(&[]);
        let mut part = Vec::with_capacity(slice.len() * 2);
        for &u in slice {
            emit(&mut part, u);
        }
        parts.push(part);
        start = end;
    }
    parts
}

/// Chooses the encoding and cuts `text` into parts, accounting for the UDH
/// each part will carry. Empty text is one empty part.
pub fn plan(text: &str, opts: &SplitOptions) -> Result<Plan, SplitError> {
    let m = measure(text, opts)?;
    let concat = (m.parts > 1).then_some(opts.ref16);
    let cap = capacity(m.alphabet, udh_octets(m.alphabet, m.tables, concat));
    let parts = match m.alphabet {
        Alphabet::Gsm7 => {
            let mut septets = Vec::with_capacity(m.units);
            // Representability was checked by `measure`.
            let _ = gsm7::encode_into(text, m.tables, &mut septets);
            if m.parts == 1 {
                vec![septets]
            } else {
                let weight = |c| gsm7::char_septets(c, m.tables).unwrap_or(1);
                let ends = cut_points(text, weight, septets.len(), cap, m.parts, |i| {
                    i == 0 || septets.get(i - 1) != Some(&gsm7::ESC)
                });
                cut(&septets, &ends, |out, s| out.push(s))
            }
        }
        Alphabet::Ucs2 if m.parts == 1 => vec![ucs2::encode(text)],
        Alphabet::Ucs2 => {
            let units: Vec<u16> = text.encode_utf16().collect();
            let ends = cut_points(text, char::len_utf16, units.len(), cap, m.parts, |i| {
                i == 0
                    || !units
                        .get(i - 1)
                        .is_some_and(|&u| ucs2::is_high_surrogate(u))
            });
            cut(&units, &ends, |out, u| {
                out.extend_from_slice(&u.to_be_bytes())
            })
        }
    };
    Ok(Plan {
        alphabet: m.alphabet,
        tables: m.tables,
        parts,
    })
}

/// 8-bit data split into parts of 140 (single) / 134 (8-bit ref) / 133 (16-bit ref) octets.
pub fn split_binary(data: &[u8], ref16: bool) -> Result<Vec<Vec<u8>>, SplitError> {
    if data.len() <= UD_OCTETS {
        return Ok(vec![data.to_vec()]);
    }
    let cap = UD_OCTETS
        - if ref16 {
            CONCAT16_IE_OCTETS + 1
        } else {
            CONCAT8_IE_OCTETS + 1
        };
    let needed = data.len().div_ceil(cap);
    if needed > MAX_PARTS {
        return Err(SplitError::TooManyParts { needed });
    }
    Ok(data.chunks(cap).map(<[u8]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts() -> SplitOptions {
        SplitOptions::default()
    }

    fn opts16() -> SplitOptions {
        SplitOptions {
            ref16: true,
            ..SplitOptions::default()
        }
    }

    /// The text a plan carries, decoding each part on its own (as a phone that
    /// never saw the other parts would).
    fn decode_parts(plan: &Plan) -> String {
        plan.parts
            .iter()
            .map(|p| match plan.alphabet {
                Alphabet::Gsm7 => gsm7::decode(p, plan.tables),
                Alphabet::Ucs2 => ucs2::decode(p).expect("parts hold whole units"),
            })
            .collect()
    }

    /// Units in each part: septets or UTF-16 units.
    fn lens(plan: &Plan) -> Vec<usize> {
        plan.parts
            .iter()
            .map(|p| match plan.alphabet {
                Alphabet::Gsm7 => p.len(),
                Alphabet::Ucs2 => p.len() / 2,
            })
            .collect()
    }

    fn check_invariants(text: &str, o: &SplitOptions, plan: &Plan) {
        assert!(!plan.parts.is_empty());
        assert!(plan.parts.len() <= MAX_PARTS);
        assert_eq!(decode_parts(plan), text);
        let concat = (plan.parts.len() > 1).then_some(o.ref16);
        let cap = capacity(
            plan.alphabet,
            udh_octets(plan.alphabet, plan.tables, concat),
        );
        for (i, (part, len)) in plan.parts.iter().zip(lens(plan)).enumerate() {
            assert!(len <= cap, "part {i} holds {len} > {cap}");
            match plan.alphabet {
                Alphabet::Gsm7 => assert_ne!(part.last(), Some(&gsm7::ESC), "part {i} ends in ESC"),
                Alphabet::Ucs2 => {
                    assert_eq!(part.len() % 2, 0);
                    if let [.., hi, lo] = part[..] {
                        let last = u16::from_be_bytes([hi, lo]);
                        assert!(
                            !ucs2::is_high_surrogate(last),
                            "part {i} ends on a high surrogate"
                        );
                    }
                }
            }
        }
        let m = measure(text, o).expect("plan succeeded");
        assert_eq!(m.parts, plan.parts.len());
        assert_eq!((m.alphabet, m.tables), (plan.alphabet, plan.tables));
        assert_eq!(m.units, lens(plan).iter().sum::<usize>());
        assert_eq!(part_count(text, o), Ok(plan.parts.len()));
    }

    #[test]
    fn capacity_vectors() {
        // (alphabet, tables, concat, UDH octets, capacity)
        let t = |locking, single| Tables { locking, single };
        let table: &[(Alphabet, Tables, Option<bool>, usize, usize)] = &[
            (Alphabet::Gsm7, t(0, 0), None, 0, 160),
            (Alphabet::Gsm7, t(0, 0), Some(false), 6, 153),
            (Alphabet::Gsm7, t(0, 0), Some(true), 7, 152),
            (Alphabet::Gsm7, t(1, 0), None, 4, 155),
            (Alphabet::Gsm7, t(0, 1), None, 4, 155),
            (Alphabet::Gsm7, t(1, 1), None, 7, 152),
            (Alphabet::Gsm7, t(0, 2), Some(false), 9, 149),
            (Alphabet::Gsm7, t(3, 3), Some(false), 12, 146),
            (Alphabet::Gsm7, t(1, 0), Some(true), 10, 148),
            (Alphabet::Gsm7, t(1, 1), Some(true), 13, 145),
            (Alphabet::Ucs2, t(0, 0), None, 0, 70),
            (Alphabet::Ucs2, t(0, 0), Some(false), 6, 67),
            (Alphabet::Ucs2, t(0, 0), Some(true), 7, 66),
            (Alphabet::Ucs2, t(1, 1), Some(true), 7, 66), // UCS-2 carries no shift IEs
        ];
        assert!(!table.is_empty());
        fn check(a: Alphabet, tables: Tables, concat: Option<bool>, udh: usize, cap: usize) {
            assert_eq!(
                udh_octets(a, tables, concat),
                udh,
                "{a:?} {tables:?} {concat:?}"
            );
            assert_eq!(capacity(a, udh), cap, "{a:?} {tables:?} {concat:?}");
            if a == Alphabet::Gsm7 {
                // the general formula ⌊(1120 − 8·(UDHL+1))/7⌋
                assert_eq!(cap, (1120 - 8 * udh) / 7);
            }
        }
        for &(a, tables, concat, udh, cap) in table {
            check(a, tables, concat, udh, cap);
        }
    }

    #[test]
    fn plan_vectors() {
        let a = |n: usize| "a".repeat(n);
        let zh = |n: usize| "ж".repeat(n);
        let euro = |n: usize| "€".repeat(n);
        // (name, text, options, alphabet, units per part)
        let table: Vec<(&str, String, SplitOptions, Alphabet, Vec<usize>)> = vec![
            ("empty", String::new(), opts(), Alphabet::Gsm7, vec![0]),
            (
                "empty ucs2",
                String::new(),
                SplitOptions {
                    force_ucs2: true,
                    ..opts()
                },
                Alphabet::Ucs2,
                vec![0],
            ),
            ("160", a(160), opts(), Alphabet::Gsm7, vec![160]),
            ("161", a(161), opts(), Alphabet::Gsm7, vec![153, 8]),
            ("161 ref16", a(161), opts16(), Alphabet::Gsm7, vec![152, 9]),
            ("306", a(306), opts(), Alphabet::Gsm7, vec![153, 153]),
            ("307", a(307), opts(), Alphabet::Gsm7, vec![153, 153, 1]),
            ("80 euro", euro(80), opts(), Alphabet::Gsm7, vec![160]),
            ("81 euro", euro(81), opts(), Alphabet::Gsm7, vec![152, 10]),
            (
                "81 euro ref16",
                euro(81),
                opts16(),
                Alphabet::Gsm7,
                vec![152, 10],
            ),
            // crates-and-pty.md §1.3: 173 septets, "€" at septets 152–153 would
            // be cut at 153; the ESC moves to part 2 with its code.
            (
                "euro at the cut",
                format!("{}€{}", a(152), "b".repeat(19)),
                opts(),
                Alphabet::Gsm7,
                vec![152, 21],
            ),
            (
                "euro before the cut",
                format!("{}€{}", a(151), "b".repeat(20)),
                opts(),
                Alphabet::Gsm7,
                vec![153, 20],
            ),
            ("70 ucs2", zh(70), opts(), Alphabet::Ucs2, vec![70]),
            ("71 ucs2", zh(71), opts(), Alphabet::Ucs2, vec![67, 4]),
            (
                "71 ucs2 ref16",
                zh(71),
                opts16(),
                Alphabet::Ucs2,
                vec![66, 5],
            ),
            (
                "forced",
                "abc".into(),
                SplitOptions {
                    force_ucs2: true,
                    ..opts()
                },
                Alphabet::Ucs2,
                vec![3],
            ),
            // an emoji at the UCS-2 boundary moves whole to part 2
            (
                "emoji at the cut",
                format!("{}😀{}", a(66), "b".repeat(10)),
                opts(),
                Alphabet::Ucs2,
                vec![66, 12],
            ),
            (
                "emoji fits",
                format!("{}😀{}", a(65), "b".repeat(10)),
                opts(),
                Alphabet::Ucs2,
                vec![67, 10],
            ),
            (
                "emoji single",
                format!("{}😀", a(68)),
                opts(),
                Alphabet::Ucs2,
                vec![70],
            ),
            // a flag (two regional indicators, 4 units) stays whole when that costs no part
            (
                "flag whole",
                format!("{}🇩🇪{}", a(65), "b".repeat(10)),
                opts(),
                Alphabet::Ucs2,
                vec![65, 14],
            ),
            // ... and is split between its indicators when keeping it whole would need a third part
            (
                "flag split",
                format!("{}🇩🇪{}", a(65), "b".repeat(65)),
                opts(),
                Alphabet::Ucs2,
                vec![67, 67],
            ),
            // ZWJ family: 👨 ZWJ 👩 ZWJ 👧 = 8 units
            (
                "zwj whole",
                format!("{}👨\u{200D}👩\u{200D}👧{}", a(62), "b".repeat(10)),
                opts(),
                Alphabet::Ucs2,
                vec![62, 18],
            ),
            // combining acute accent stays with its base letter
            (
                "combining",
                format!("{}e\u{301}{}", a(66), "ж".repeat(5)),
                opts(),
                Alphabet::Ucs2,
                vec![66, 7],
            ),
            // a cluster longer than a part has to be cut inside
            (
                "long cluster",
                format!("x{}", "\u{301}".repeat(500)),
                opts(),
                Alphabet::Ucs2,
                vec![67, 67, 67, 67, 67, 67, 67, 32],
            ),
            // CR LF is one grapheme cluster, also in GSM-7
            (
                "crlf whole",
                format!("{}\r\n{}", a(152), "b".repeat(10)),
                opts(),
                Alphabet::Gsm7,
                vec![152, 12],
            ),
            (
                "crlf split",
                format!("{}\r\n{}", a(152), "b".repeat(152)),
                opts(),
                Alphabet::Gsm7,
                vec![153, 153],
            ),
            (
                "languages ignored without tables",
                "Hello".into(),
                SplitOptions {
                    languages: vec![1, 2, 3],
                    ..opts()
                },
                Alphabet::Gsm7,
                vec![5],
            ),
        ];
        assert!(!table.is_empty());
        fn check(name: &str, text: &str, o: &SplitOptions, alphabet: Alphabet, want: &[usize]) {
            let plan = plan(text, o).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(plan.alphabet, alphabet, "{name}");
            assert_eq!(lens(&plan), want, "{name}");
            check_invariants(text, o, &plan);
        }
        for (name, text, o, alphabet, want) in &table {
            check(name, text, o, *alphabet, want);
        }
    }

    #[test]
    fn national_language_vectors() {
        let langs = |ids: &[u8]| SplitOptions {
            languages: ids.to_vec(),
            ..opts()
        };
        let t = |locking, single| Tables { locking, single };
        // (name, text, options, alphabet, tables chosen, units per part)
        /// (name, text, options, alphabet, tables chosen, units per part)
        type Row = (
            &'static str,
            String,
            SplitOptions,
            Alphabet,
            Tables,
            Vec<usize>,
        );
        let table: Vec<Row> = vec![
            (
                "turkish off",
                "Ağaç ışık".into(),
                opts(),
                Alphabet::Ucs2,
                t(0, 0),
                vec![9],
            ),
            // single shift and locking both give one part with a 4-octet UDH:
            // the default base table wins the tie (old phones show ğ as g)
            (
                "turkish short",
                "Ağaç ışık".into(),
                langs(&[1]),
                Alphabet::Gsm7,
                t(0, 1),
                vec![14],
            ),
            // 155 ş: 310 septets with the single shift (3 parts), 155 with locking (1 part)
            (
                "turkish 155",
                "ş".repeat(155),
                langs(&[1]),
                Alphabet::Gsm7,
                t(1, 0),
                vec![155],
            ),
            (
                "turkish 156",
                "ş".repeat(156),
                langs(&[1]),
                Alphabet::Gsm7,
                t(1, 0),
                vec![149, 7],
            ),
            (
                "turkish 156 ref16",
                "ş".repeat(156),
                SplitOptions {
                    ref16: true,
                    ..langs(&[1])
                },
                Alphabet::Gsm7,
                t(1, 0),
                vec![148, 8],
            ),
            // default tables need 2 parts for 81 €; Turkish locking has € in one septet
            (
                "euro default",
                "€".repeat(81),
                opts(),
                Alphabet::Gsm7,
                t(0, 0),
                vec![152, 10],
            ),
            (
                "euro turkish",
                "€".repeat(81),
                langs(&[1]),
                Alphabet::Gsm7,
                t(1, 0),
                vec![81],
            ),
            (
                "euro 80",
                "€".repeat(80),
                langs(&[1]),
                Alphabet::Gsm7,
                t(0, 0),
                vec![160],
            ),
            // Turkish locking lacks è, so only the single shift can carry this
            (
                "turkish single only",
                format!("è{}", "ş".repeat(100)),
                langs(&[1]),
                Alphabet::Gsm7,
                t(0, 1),
                vec![149, 52],
            ),
            (
                "spanish",
                "¿Qué tal? Está bien".into(),
                langs(&[2]),
                Alphabet::Gsm7,
                t(0, 2),
                vec![20],
            ),
            (
                "portuguese",
                "Não, você está lá".into(),
                langs(&[3]),
                Alphabet::Gsm7,
                t(0, 3),
                vec![21],
            ),
            // (1, 3) and (3, 1) tie on parts and UDH octets: the lower locking id comes first
            (
                "portuguese and turkish",
                "Não ş".into(),
                langs(&[1, 3]),
                Alphabet::Gsm7,
                t(1, 3),
                vec![6],
            ),
            (
                "plain text keeps the default",
                "Hello".into(),
                langs(&[1, 2, 3]),
                Alphabet::Gsm7,
                t(0, 0),
                vec![5],
            ),
            // KA + vowel sign AA is one grapheme cluster: the cut moves back to 148
            (
                "hindi",
                "\u{0915}\u{093E}".repeat(80),
                langs(&[6]),
                Alphabet::Gsm7,
                t(6, 0),
                vec![148, 12],
            ),
            (
                "no language fits",
                "ş😀".into(),
                langs(&[1, 3]),
                Alphabet::Ucs2,
                t(0, 0),
                vec![3],
            ),
            (
                "forced ucs2",
                "ş".into(),
                SplitOptions {
                    force_ucs2: true,
                    ..langs(&[1])
                },
                Alphabet::Ucs2,
                t(0, 0),
                vec![1],
            ),
        ];
        assert!(!table.is_empty());
        fn check(
            name: &str,
            text: &str,
            o: &SplitOptions,
            alphabet: Alphabet,
            tables: Tables,
            want: &[usize],
        ) {
            let plan = plan(text, o).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((plan.alphabet, plan.tables), (alphabet, tables), "{name}");
            assert_eq!(lens(&plan), want, "{name}");
            check_invariants(text, o, &plan);
        }
        for (name, text, o, alphabet, tables, want) in &table {
            check(name, text, o, *alphabet, *tables, want);
        }
    }

    #[test]
    fn euro_at_the_cut_keeps_its_escape() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(19));
        assert_eq!(gsm7::septet_len(&text, Tables::DEFAULT), Some(173));
        let plan = plan(&text, &opts()).expect("fits");
        assert_eq!(plan.parts[0].last(), Some(&b'a'));
        assert_eq!(plan.parts[1][..2], [gsm7::ESC, 0x65]);
        assert_eq!(
            gsm7::decode(&plan.parts[1], Tables::DEFAULT),
            format!("€{}", "b".repeat(19))
        );
    }

    #[test]
    fn error_vectors() {
        // (name, text, options, error)
        let table: Vec<(&str, String, SplitOptions, SplitError)> = vec![
            (
                "256 gsm7 parts",
                "a".repeat(153 * 255 + 1),
                opts(),
                SplitError::TooManyParts { needed: 256 },
            ),
            (
                "256 ucs2 parts",
                "ж".repeat(67 * 255 + 1),
                opts(),
                SplitError::TooManyParts { needed: 256 },
            ),
            (
                "language 0",
                "a".into(),
                SplitOptions {
                    languages: vec![0],
                    ..opts()
                },
                SplitError::UnknownLanguage { id: 0 },
            ),
            (
                "language 14",
                "a".into(),
                SplitOptions {
                    languages: vec![1, 14],
                    ..opts()
                },
                SplitError::UnknownLanguage { id: 14 },
            ),
        ];
        assert!(!table.is_empty());
        fn check(name: &str, text: &str, o: &SplitOptions, want: &SplitError) {
            assert_eq!(plan(text, o).as_ref().err(), Some(want), "{name}");
            assert_eq!(part_count(text, o).err().as_ref(), Some(want), "{name}");
        }
        for (name, text, o, want) in &table {
            check(name, text, o, want);
        }
        // exactly 255 parts is fine
        let plan = plan(&"a".repeat(153 * 255), &opts()).expect("255 parts fit");
        assert_eq!(plan.parts.len(), 255);
        // 76 escapes (152 septets) per part: the 153rd septet would be a lone ESC
        let text = "€".repeat(76 * 255);
        let plan = super::plan(&text, &opts()).expect("255 parts fit");
        assert_eq!(plan.parts.len(), 255);
        check_invariants(&text, &opts(), &plan);
        let text = "€".repeat(76 * 255 + 1);
        assert_eq!(
            super::plan(&text, &opts()),
            Err(SplitError::TooManyParts { needed: 256 })
        );
    }

    #[test]
    fn binary_vectors() {
        // (length, ref16, part lengths or the parts needed)
        /// Part lengths, or the part count that was too many.
        type Want = Result<&'static [usize], usize>;
        let table: &[(usize, bool, Want)] = &[
            (0, false, Ok(&[0])),
            (140, false, Ok(&[140])),
            (141, false, Ok(&[134, 7])),
            (141, true, Ok(&[133, 8])),
            (268, false, Ok(&[134, 134])),
            (134 * 255, false, Ok(&[134; 255])),
            (134 * 255 + 1, false, Err(256)),
            (133 * 255 + 1, true, Err(256)),
        ];
        assert!(!table.is_empty());
        fn check(len: usize, ref16: bool, want: Result<&[usize], usize>) {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            match (split_binary(&data, ref16), want) {
                (Ok(parts), Ok(want)) => {
                    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), want);
                    assert_eq!(parts.concat(), data);
                }
                (Err(e), Err(needed)) => assert_eq!(e, SplitError::TooManyParts { needed }),
                (got, want) => panic!("{len} {ref16}: got {got:?}, want {want:?}"),
            }
        }
        for &(len, ref16, want) in table {
            check(len, ref16, want);
        }
    }

    /// Characters that stress the splitter: GSM-7 base and extension, emoji,
    /// flags, ZWJ, combining marks, and anything else.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec!['a', 'Z', ' ', '@', '\n', '\r', 'é', 'Δ']),
            2 => proptest::sample::select(vec!['€', '{', '}', '[', ']', '~', '\\', '|', '^', '\u{0C}']),
            1 => proptest::sample::select(vec!['😀', '👨', '👩', '\u{200D}', '\u{1F1E9}', '\u{1F1EA}', '\u{301}', '\u{FE0F}', 'ж']),
            1 => any::<char>(),
        ]
    }

    /// GSM-7 text only, so multipart GSM-7 gets exercised.
    fn gsm_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec!['a', 'Z', ' ', '@', '\n', '\r', 'é', 'Δ']),
            2 => proptest::sample::select(vec!['€', '{', '}', '[', ']', '~', '\\', '|', '^', '\u{0C}']),
        ]
    }

    fn text_of(c: impl Strategy<Value = char>) -> impl Strategy<Value = String> {
        proptest::collection::vec(c, 0..700).prop_map(|v| v.into_iter().collect())
    }

    /// Enabled languages and a text drawn from their tables (plus a few
    /// characters no table has), so every combination gets exercised.
    fn national_text() -> impl Strategy<Value = (Vec<u8>, String)> {
        proptest::collection::vec(1u8..=13, 1..3).prop_flat_map(|langs| {
            let mut chars: Vec<char> = vec!['a', ' ', '€', '😀', '\u{301}'];
            for &l in &langs {
                for t in [nat_tables::locking_shift(l), nat_tables::single_shift(l)]
                    .into_iter()
                    .flatten()
                {
                    chars.extend(t.iter().flatten());
                }
            }
            let text = proptest::collection::vec(
                prop_oneof![20 => proptest::sample::select(chars), 1 => any::<char>()],
                0..500,
            )
            .prop_map(|v| v.into_iter().collect::<String>());
            (Just(langs), text)
        })
    }

    /// The minimum part count: cut greedily between characters.
    fn reference_count(text: &str, plan: &Plan, ref16: bool) -> usize {
        let single = capacity(plan.alphabet, udh_octets(plan.alphabet, plan.tables, None));
        let multi = capacity(
            plan.alphabet,
            udh_octets(plan.alphabet, plan.tables, Some(ref16)),
        );
        let w = |c: char| match plan.alphabet {
            Alphabet::Gsm7 => gsm7::char_septets(c, plan.tables).expect("plan chose GSM-7"),
            Alphabet::Ucs2 => c.len_utf16(),
        };
        let total: usize = text.chars().map(w).sum();
        if total <= single {
            return 1;
        }
        let (mut parts, mut used) = (1, 0);
        for c in text.chars() {
            if used + w(c) > multi {
                parts += 1;
                used = 0;
            }
            used += w(c);
        }
        parts
    }

    /// Deterministic runs: a fixed seed, no regression files.
    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7370_6C74),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn plan_round_trips_any_text(text in text_of(tricky_char()), ref16 in any::<bool>(), force in any::<bool>()) {
            let o = SplitOptions { ref16, force_ucs2: force, ..opts() };
            let plan = plan(&text, &o).expect("at most 700 characters fit");
            check_invariants(&text, &o, &plan);
            prop_assert_eq!(plan.parts.len(), reference_count(&text, &plan, ref16));
            let gsm = gsm7::septet_len(&text, Tables::DEFAULT).is_some();
            prop_assert_eq!(plan.alphabet == Alphabet::Gsm7, gsm && !force);
        }

        #[test]
        fn plan_round_trips_gsm7_text(text in text_of(gsm_char()), ref16 in any::<bool>()) {
            let o = SplitOptions { ref16, ..opts() };
            let plan = plan(&text, &o).expect("fits");
            prop_assert_eq!(plan.alphabet, Alphabet::Gsm7);
            check_invariants(&text, &o, &plan);
            prop_assert_eq!(plan.parts.len(), reference_count(&text, &plan, ref16));
            // the whole stream, packed and unpacked, still decodes to the text
            let all: Vec<u8> = plan.parts.concat();
            let back = gsm7::unpack(&gsm7::pack(&all, 0), 0, all.len());
            prop_assert_eq!(gsm7::decode(&back, plan.tables), text);
        }

        #[test]
        fn plan_with_national_tables((languages, text) in national_text(), ref16 in any::<bool>()) {
            let o = SplitOptions { languages, ref16, ..opts() };
            let plan = plan(&text, &o).expect("at most 500 characters fit");
            check_invariants(&text, &o, &plan);
            prop_assert_eq!(plan.parts.len(), reference_count(&text, &plan, ref16));
            // no enabled combination needs fewer parts, or as many with a smaller UDH
            let on = enabled_languages(&o).expect("valid ids");
            let concat = (plan.parts.len() > 1).then_some(ref16);
            let chosen = (plan.parts.len(), udh_octets(plan.alphabet, plan.tables, concat));
            for tables in candidates(&on) {
                if let Some((_, parts)) = measure_gsm7(&text, tables, ref16) {
                    prop_assert_eq!(plan.alphabet, Alphabet::Gsm7);
                    let udh = udh_octets(Alphabet::Gsm7, tables, (parts > 1).then_some(ref16));
                    prop_assert!(chosen <= (parts, udh), "{:?} beats {:?}", tables, plan.tables);
                }
            }
        }

        #[test]
        fn plan_round_trips_arbitrary_unicode(text in any::<String>(), ref16 in any::<bool>()) {
            let o = SplitOptions { ref16, ..opts() };
            let plan = plan(&text, &o).expect("short text fits");
            check_invariants(&text, &o, &plan);
        }

        #[test]
        fn binary_round_trips(data in proptest::collection::vec(any::<u8>(), 0..2000), ref16 in any::<bool>()) {
            let parts = split_binary(&data, ref16).expect("fits");
            prop_assert_eq!(parts.concat(), data.clone());
            let cap = if parts.len() == 1 { 140 } else if ref16 { 133 } else { 134 };
            prop_assert!(parts.iter().all(|p| p.len() <= cap));
            prop_assert_eq!(parts.len(), if data.len() <= 140 { 1 } else { data.len().div_ceil(cap) });
        }
    }
}
