//! The smstools3 outgoing message file format: a pure parser from the bytes of
//! one spool file to a [`SpoolMessage`]. Owns header parsing, number
//! normalisation, body charsets (UTF-8, ISO-8859-15, UTF-16BE) and validity
//! parsing. Does no I/O and never panics on any input; it does not encode SMS
//! (that is `codec`) and does not decide which modem sends (that is `dispatch`).
//!
//! Rules (see docs/SPOOL.md): `Name: value` header lines, names matched
//! case-insensitively; the first blank line ends the headers; the rest is the
//! body. Trailing whitespace (spaces, tabs, CR, LF) and trailing Ctrl-Z at the
//! end of a text body are removed unless that would leave it empty, as
//! smstools3 does with its default `trim_text = yes`. CRLF line ends in a text
//! body become LF.

use std::time::Duration;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};

use super::SpoolError;

/// The largest file [`parse`] accepts; the watcher applies the configured
/// (smaller) `spool.max_file_bytes` before reading.
pub const MAX_PARSE_BYTES: usize = 1 << 20;

/// The longest destination number, in digits.
const MAX_DIGITS: usize = 20;

/// What the file says about the body's character set and the coding asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// No `Alphabet:` header: UTF-8 body (ISO-8859-15 when not valid UTF-8);
    /// the encoder picks GSM 7-bit or UCS-2.
    Auto,
    /// `ISO`, `Latin`, `Ansi`: ISO-8859-15 body.
    Iso,
    /// `UTF-8`: UTF-8 body.
    Utf8,
    /// `GSM`: send in the GSM 7-bit alphabet (body read as text).
    Gsm,
    /// `UCS`, `Chinese`, `Unicode`: UTF-16BE body, sent as UCS-2.
    Ucs2,
    /// `binary` (or `Binary: yes`): 8-bit data in [`SpoolMessage::binary`].
    Binary,
}

impl Alphabet {
    pub fn as_str(self) -> &'static str {
        match self {
            Alphabet::Auto => "auto",
            Alphabet::Iso => "ISO",
            Alphabet::Utf8 => "UTF-8",
            Alphabet::Gsm => "GSM",
            Alphabet::Ucs2 => "UCS2",
            Alphabet::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Emergency alerts: before everything else.
    Urgent,
    High,
    #[default]
    Normal,
    Low,
}

/// The type of number of the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberType {
    International,
    National,
    Unknown,
}

/// One outgoing message read from a spool file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolMessage {
    /// `+<digits>` for international numbers; plain digits for short codes
    /// (`s` prefix), `To_TOA: national` and `To_TOA: unknown`.
    pub to: String,
    pub to_type: NumberType,
    /// The text (empty for binary messages).
    pub text: String,
    pub alphabet: Alphabet,
    /// The data of a binary message (`Alphabet: binary`).
    pub binary: Option<Vec<u8>>,
    /// `Flash: yes` or `Class: 0`.
    pub flash: bool,
    /// `Report:`; `None` when absent (the configured default applies).
    pub report: Option<bool>,
    pub validity: Option<Duration>,
    pub priority: Priority,
    /// `Queue:` (or smstools3's `Provider:`).
    pub queue: Option<String>,
    /// Our extension: `Modem:` forces a modem by name.
    pub modem: Option<String>,
    /// Our extension: `Send_after:` schedules the message.
    pub send_after: Option<DateTime<Utc>>,
    /// National language identifiers from `Language:` and `Language_ext:`.
    pub languages: Vec<u8>,
    /// Our extension: `Category: marketing` (opt-out applies) or
    /// `transactional` (the default).
    pub category: crate::store::Category,
    /// Things that did not stop the message: unknown or ignored headers, a
    /// body read as ISO-8859-15, a repeated header.
    pub warnings: Vec<String>,
}

/// Headers smstools3 writes into sent/failed files or uses for features we do
/// not have; accepted and ignored with a warning.
const IGNORED: &[&str] = &[
    "from",
    "retries",
    "autosplit",
    "smsc",
    "replace",
    "reply_path",
    "reject_duplicates",
    "message_reference",
    "dcs_hex",
    "smsd_debug",
    "udh",
    "modem_id",
    "sent",
    "failed",
    "fail_reason",
    "sending_time",
    "message_id",
    "imsi",
    "imei",
    "original_filename",
    "notice",
    "pdu",
    "error",
    "subject",
    "received",
    "length",
];

/// Headers that change what is sent in ways we do not support: refusing the
/// file is safer than sending something else.
const REFUSED: &[&str] = &[
    "voicecall",
    "text_is_pdu",
    "include",
    "macro",
    "udh-data",
    "udh-dump",
    "ping",
    "system_message",
];

/// Parses one spool file.
pub fn parse(bytes: &[u8]) -> Result<SpoolMessage, SpoolError> {
    if bytes.len() > MAX_PARSE_BYTES {
        return Err(SpoolError::TooLarge {
            size: bytes.len() as u64,
            max: MAX_PARSE_BYTES as u64,
        });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(SpoolError::Empty);
    }

    // Split off the header block: lines up to the first blank line.
    let mut headers: Vec<(usize, String, String)> = Vec::new();
    let mut pos = 0usize;
    let mut line_no = 0usize;
    let body_start = loop {
        line_no += 1;
        let rest = bytes.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(SpoolError::NoBlankLine);
        }
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), pos + i + 1),
            None => (rest, bytes.len()),
        };
        if let Some(i) = line.iter().position(|&b| b == 0) {
            return Err(SpoolError::Nul { offset: pos + i });
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            if next >= bytes.len() && rest.iter().all(|&b| b != b'\n') {
                return Err(SpoolError::NoBlankLine);
            }
            break next;
        }
        let text = decode_8bit(line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(SpoolError::BadHeaderLine { line: line_no });
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(SpoolError::BadHeaderLine { line: line_no });
        }
        headers.push((line_no, name.to_string(), value.trim().to_string()));
        pos = next;
    };
    let body = bytes.get(body_start..).unwrap_or_default();

    let mut msg = SpoolMessage {
        to: String::new(),
        to_type: NumberType::International,
        text: String::new(),
        alphabet: Alphabet::Auto,
        binary: None,
        flash: false,
        report: None,
        validity: None,
        priority: Priority::Normal,
        queue: None,
        modem: None,
        send_after: None,
        languages: Vec::new(),
        category: crate::store::Category::Transactional,
        warnings: Vec::new(),
    };
    let mut to: Option<String> = None;
    let mut toa: Option<NumberType> = None;
    let mut hex = false;
    let mut seen: Vec<String> = Vec::new();
    for (_line, name, value) in &headers {
        let lname = name.to_ascii_lowercase();
        if seen.contains(&lname) {
            msg.warnings
                .push(format!("header {name} repeated; the last one counts"));
        } else {
            seen.push(lname.clone());
        }
        let bad = |reason: &str| SpoolError::BadHeader {
            header: name.clone(),
            value: value.clone(),
            reason: reason.to_string(),
        };
        match lname.as_str() {
            "to" => to = Some(value.clone()),
            "to_toa" => {
                toa = Some(match value.to_ascii_lowercase().get(..3).unwrap_or_default() {
                    "int" => NumberType::International,
                    "nat" => NumberType::National,
                    "unk" => NumberType::Unknown,
                    _ => return Err(bad("expected international, national or unknown")),
                })
            }
            "alphabet" => msg.alphabet = parse_alphabet(value).ok_or_else(|| bad("expected ISO, UTF-8, GSM, UCS2 or binary"))?,
            "binary" => {
                if parse_bool(value).ok_or_else(|| bad("expected yes or no"))? {
                    msg.alphabet = Alphabet::Binary;
                }
            }
            "hex" => hex = parse_bool(value).ok_or_else(|| bad("expected yes or no"))?,
            "flash" => msg.flash = parse_bool(value).ok_or_else(|| bad("expected yes or no"))?,
            "class" => match value.as_str() {
                "0" => msg.flash = true,
                "1" | "2" | "3" => msg.warnings.push(format!("Class: {value} is ignored")),
                _ => return Err(bad("expected 0 to 3")),
            },
            "report" => msg.report = Some(parse_bool(value).ok_or_else(|| bad("expected yes or no"))?),
            "validity" => msg.validity = Some(parse_validity(value).ok_or_else(|| bad("expected 0..255, \"N min|hour|day|week|month|year\" or a duration such as \"2d\""))?),
            "priority" => {
                msg.priority =
                    parse_priority(value).ok_or_else(|| bad("expected urgent, high, normal or low"))?
            }
            "category" => {
                msg.category = value
                    .trim()
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| bad("expected transactional or marketing"))?
            }
            "queue" | "provider" => {
                if !value.is_empty() {
                    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Err(bad("a queue name is letters, digits, '_' or '-'"));
                    }
                    msg.queue = Some(value.clone());
                }
            }
            "modem" => {
                if !value.is_empty() {
                    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Err(bad("a modem name is letters, digits, '_' or '-'"));
                    }
                    msg.modem = Some(value.clone());
                }
            }
            "send_after" => msg.send_after = Some(parse_time(value).ok_or_else(|| bad("expected RFC 3339 or \"YYYY-MM-DD HH:MM[:SS]\" (local time)"))?),
            "language" | "language_ext" => {
                let id = crate::config::language_id(value).ok_or_else(|| bad("expected a national language name or 1..13"))?;
                if !msg.languages.contains(&id) {
                    msg.languages.push(id);
                }
            }
            n if REFUSED.contains(&n) => {
                return Err(SpoolError::Unsupported { header: name.clone() });
            }
            n if IGNORED.contains(&n) => msg.warnings.push(format!("header {name} is ignored")),
            _ => msg.warnings.push(format!("unknown header {name} ignored")),
        }
    }

    let to = to.ok_or(SpoolError::MissingTo)?;
    let (number, ty) = normalise_number(&to, toa)?;
    msg.to = number;
    msg.to_type = ty;

    if body.is_empty() {
        return Err(SpoolError::EmptyBody);
    }
    match msg.alphabet {
        Alphabet::Binary => {
            let data = if hex { parse_hex(body)? } else { body.to_vec() };
            if data.is_empty() {
                return Err(SpoolError::EmptyBody);
            }
            msg.binary = Some(data);
        }
        Alphabet::Ucs2 => {
            msg.text = trim_text(&decode_utf16be(body)?);
        }
        Alphabet::Iso => {
            check_nul(body, body_start)?;
            msg.text = trim_text(&decode_iso_8859_15(body));
        }
        Alphabet::Auto | Alphabet::Utf8 | Alphabet::Gsm => {
            check_nul(body, body_start)?;
            let text = match std::str::from_utf8(body) {
                Ok(s) => s.to_string(),
                Err(_) => {
                    msg.warnings
                        .push("body is not valid UTF-8; read as ISO-8859-15".to_string());
                    decode_iso_8859_15(body)
                }
            };
            msg.text = trim_text(&text);
        }
    }
    Ok(msg)
}

fn check_nul(body: &[u8], base: usize) -> Result<(), SpoolError> {
    match body.iter().position(|&b| b == 0) {
        Some(i) => Err(SpoolError::Nul { offset: base + i }),
        None => Ok(()),
    }
}

/// smstools3 `trim_text`: CRLF → LF, then drop trailing whitespace and Ctrl-Z
/// unless nothing would be left.
fn trim_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let t = s.trim_end_matches([' ', '\t', '\r', '\n', '\u{1a}']);
    if t.is_empty() {
        s
    } else {
        t.to_string()
    }
}

/// A header line: UTF-8 when valid, ISO-8859-15 otherwise.
fn decode_8bit(line: &[u8]) -> String {
    match std::str::from_utf8(line) {
        Ok(s) => s.trim_end_matches('\r').to_string(),
        Err(_) => decode_iso_8859_15(line).trim_end_matches('\r').to_string(),
    }
}

/// ISO-8859-15 to text: Latin-1 except eight code points (€ at 0xA4, …).
pub fn decode_iso_8859_15(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0xA4 => '€',
            0xA6 => 'Š',
            0xA8 => 'š',
            0xB4 => 'Ž',
            0xB8 => 'ž',
            0xBC => 'Œ',
            0xBD => 'œ',
            0xBE => 'Ÿ',
            _ => char::from(b),
        })
        .collect()
}

fn decode_utf16be(body: &[u8]) -> Result<String, SpoolError> {
    let body = body.strip_prefix(&[0xFE, 0xFF]).unwrap_or(body);
    if !body.len().is_multiple_of(2) {
        return Err(SpoolError::BadBody {
            reason: format!("UCS2 body has an odd number of bytes ({})", body.len()),
        });
    }
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect();
    let mut out = String::with_capacity(units.len());
    for (i, r) in char::decode_utf16(units.iter().copied()).enumerate() {
        match r {
            Ok('\0') => {
                return Err(SpoolError::BadBody {
                    reason: format!("UCS2 body has a NUL character (unit {i})"),
                })
            }
            Ok(c) => out.push(c),
            Err(e) => {
                return Err(SpoolError::BadBody {
                    reason: format!(
                        "UCS2 body has an unpaired surrogate 0x{:04X}",
                        e.unpaired_surrogate()
                    ),
                })
            }
        }
    }
    Ok(out)
}

/// A `Hex: yes` binary body: hex digit pairs; whitespace ignored; `#` and
/// `//` start a comment to the end of the line.
fn parse_hex(body: &[u8]) -> Result<Vec<u8>, SpoolError> {
    let text = decode_iso_8859_15(body);
    let mut digits = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let line = line.split("//").next().unwrap_or_default();
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            let d = c.to_digit(16).ok_or_else(|| SpoolError::BadBody {
                reason: format!("hex body has a non-hex character {c:?}"),
            })?;
            digits.push(u8::try_from(d).unwrap_or(0x0F));
        }
    }
    if !digits.len().is_multiple_of(2) {
        return Err(SpoolError::BadBody {
            reason: "hex body has an odd number of digits".to_string(),
        });
    }
    Ok(digits
        .chunks_exact(2)
        .map(|p| (p.first().copied().unwrap_or(0) << 4) | p.get(1).copied().unwrap_or(0))
        .collect())
}

/// A `Priority:` value: smstools3's yes/no words, or a priority name.
fn parse_priority(v: &str) -> Option<Priority> {
    Some(match v.trim().to_ascii_lowercase().as_str() {
        "urgent" => Priority::Urgent,
        "high" | "yes" | "true" | "on" | "1" => Priority::High,
        "normal" | "no" | "false" | "off" | "0" | "" => Priority::Normal,
        "low" => Priority::Low,
        _ => return None,
    })
}

/// The priority a file asks for, from the start of it (its header block or a
/// prefix of it), for ordering the pick-up before the file is claimed. Never
/// fails: anything unreadable counts as `Normal`, and [`parse`] judges the
/// file when it is read for real. The last `Priority:` header counts, as in
/// [`parse`].
pub fn peek_priority(head: &[u8]) -> Priority {
    let mut found = Priority::Normal;
    for line in head.split(|&b| b == b'\n') {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        if !name.trim_ascii().eq_ignore_ascii_case(b"priority") {
            continue;
        }
        if let Some(p) = std::str::from_utf8(value.get(1..).unwrap_or_default())
            .ok()
            .and_then(parse_priority)
        {
            found = p;
        }
    }
    found
}

impl Priority {
    /// Pick-up order: a higher rank is taken first.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Urgent => 3,
            Priority::High => 2,
            Priority::Normal => 1,
            Priority::Low => 0,
        }
    }
}

fn parse_alphabet(v: &str) -> Option<Alphabet> {
    let l = v.trim().to_ascii_lowercase();
    Some(match l.get(..3)? {
        "iso" | "lat" | "ans" => Alphabet::Iso,
        "utf" => Alphabet::Utf8,
        "gsm" => Alphabet::Gsm,
        "ucs" | "chi" | "uni" => Alphabet::Ucs2,
        "bin" => Alphabet::Binary,
        _ => return None,
    })
}

/// yes/true/on/1 and no/false/off/0, case-insensitive.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The relative TP-VP octet (3GPP TS 23.040 §9.2.3.12.1) as a duration.
pub fn tp_vp_to_duration(v: u8) -> Duration {
    let v = u64::from(v);
    let minutes = match v {
        0..=143 => (v + 1) * 5,
        144..=167 => 12 * 60 + (v - 143) * 30,
        168..=196 => (v - 166) * 24 * 60,
        _ => (v - 192) * 7 * 24 * 60,
    };
    Duration::from_secs(minutes * 60)
}

/// `Validity:` as smstools3 knows it (raw 0–255, or `N min|hour|day|week|
/// month|year`), or our duration form (`"2d"`).
pub fn parse_validity(v: &str) -> Option<Duration> {
    let t = v.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<u16>() {
        return u8::try_from(n).ok().map(tp_vp_to_duration);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    if let (Ok(n), false) = (num.parse::<u64>(), unit.is_empty()) {
        let mult = match unit {
            "min" | "mins" | "minute" | "minutes" => Some(60),
            "hour" | "hours" => Some(3600),
            "day" | "days" => Some(86_400),
            "week" | "weeks" => Some(604_800),
            "month" | "months" => Some(30 * 86_400),
            "year" | "years" => Some(365 * 86_400),
            _ => None,
        };
        if let Some(m) = mult {
            return n.checked_mul(m).map(Duration::from_secs);
        }
    }
    crate::config::parse_duration(&t).ok()
}

fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(v.trim(), f) {
            return Local
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc));
        }
    }
    None
}

/// Normalises a `To:` value with the one number normaliser
/// ([`crate::codec::address::normalise`]): grouping spaces, dashes, dots and
/// parentheses are dropped; `+` or the default makes it international
/// (`+<digits>`); an `s` prefix or `To_TOA: national/unknown` keeps plain
/// digits. This wrapper owns only smstools3's `s` prefix and `To_TOA`.
pub fn normalise_number(
    raw: &str,
    toa: Option<NumberType>,
) -> Result<(String, NumberType), SpoolError> {
    use crate::codec::address::{self, NumberError, Plain};
    let trimmed = raw.trim();
    let (short, rest) = match trimmed.strip_prefix(['s', 'S']) {
        Some(r) => (true, r),
        None => (false, trimmed),
    };
    let ty = toa.unwrap_or(if short {
        NumberType::Unknown
    } else {
        NumberType::International
    });
    let ton = match ty {
        NumberType::International => address::TON_INTERNATIONAL,
        NumberType::National => address::TON_NATIONAL,
        NumberType::Unknown => address::TON_UNKNOWN,
    };
    let a = address::normalise(rest, Plain::Ton(ton)).map_err(|e| match e {
        NumberError::BadChar { ch, offset } => SpoolError::BadNumber {
            value: raw.to_string(),
            ch,
            offset: offset + usize::from(short) + (raw.len() - raw.trim_start().len()),
        },
        NumberError::Empty => SpoolError::EmptyNumber {
            value: raw.to_string(),
        },
        NumberError::TooLong(_) => SpoolError::BadHeader {
            header: "To".to_string(),
            value: raw.to_string(),
            reason: format!("more than {MAX_DIGITS} digits"),
        },
    })?;
    Ok(match a.ton {
        address::TON_INTERNATIONAL => (format!("+{}", a.value), NumberType::International),
        address::TON_NATIONAL => (a.value, NumberType::National),
        _ => (a.value, NumberType::Unknown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a case expects: the fields checked, or the error's text prefix.
    enum Want {
        Ok(fn(&SpoolMessage) -> bool),
        Err(&'static str),
    }

    fn check(name: &str, input: &[u8], want: Want) {
        let got = parse(input);
        match (want, got) {
            (Want::Ok(f), Ok(m)) => assert!(f(&m), "{name}: unexpected message {m:?}"),
            (Want::Err(prefix), Err(e)) => {
                let s = e.to_string();
                assert!(
                    s.starts_with(prefix),
                    "{name}: expected error {prefix:?}, got {s:?}"
                )
            }
            (Want::Ok(_), Err(e)) => panic!("{name}: unexpected error {e}"),
            (Want::Err(p), Ok(m)) => panic!("{name}: expected error {p:?}, got {m:?}"),
        }
    }

    #[test]
    fn peek_priority_reads_the_header_block_only() {
        let cases: &[(&[u8], Priority)] = &[
            (b"To: 1\nPriority: high\n\nx", Priority::High),
            (b"priority:URGENT\nTo: 1\n\nx", Priority::Urgent),
            (b"To: 1\nPriority: low\n\nx", Priority::Low),
            (b"To: 1\nPriority: yes\n\nx", Priority::High),
            (b"To: 1\nPriority: high\nPriority: low\n\nx", Priority::Low),
            (b"To: 1\n\nPriority: high\n", Priority::Normal),
            (b"To: 1\nPriority: soon\n\nx", Priority::Normal),
            (b"To: 1\nPriority: \xff\n\nx", Priority::Normal),
            (b"To: 1\r\nPriority: high\r\n\r\nx", Priority::High),
            (b"To: 1\nPriori", Priority::Normal),
            (b"", Priority::Normal),
        ];
        for (head, want) in cases {
            assert_eq!(
                peek_priority(head),
                *want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn parser_table() {
        let cases: Vec<(&str, Vec<u8>, Want)> = vec![
            (
                "simple",
                b"To: 491721234567\n\nHello".to_vec(),
                Want::Ok(|m| {
                    m.to == "+491721234567"
                        && m.text == "Hello"
                        && m.alphabet == Alphabet::Auto
                        && m.warnings.is_empty()
                }),
            ),
            (
                "plus",
                b"To: +49 172 123-4567\n\nHi\n".to_vec(),
                Want::Ok(|m| m.to == "+491721234567" && m.text == "Hi"),
            ),
            (
                "grouped",
                b"To: 358 12 345 6789\n\nx".to_vec(),
                Want::Ok(|m| m.to == "+358123456789"),
            ),
            (
                "short s",
                b"To: s12345\n\nx".to_vec(),
                Want::Ok(|m| m.to == "12345" && m.to_type == NumberType::Unknown),
            ),
            (
                "national",
                b"To: 01721234567\nTo_TOA: national\n\nx".to_vec(),
                Want::Ok(|m| m.to == "01721234567" && m.to_type == NumberType::National),
            ),
            (
                "toa unknown",
                b"To: 1234\nTo_TOA: Unknown\n\nx".to_vec(),
                Want::Ok(|m| m.to == "1234" && m.to_type == NumberType::Unknown),
            ),
            (
                "case-insensitive names",
                b"to: 123\nFLASH: yes\nreport: NO\n\nx".to_vec(),
                Want::Ok(|m| m.flash && m.report == Some(false)),
            ),
            (
                "flash report",
                b"To: 123\nFlash: on\nReport: 1\n\nx".to_vec(),
                Want::Ok(|m| m.flash && m.report == Some(true)),
            ),
            (
                "class 0",
                b"To: 123\nClass: 0\n\nx".to_vec(),
                Want::Ok(|m| m.flash),
            ),
            (
                "validity raw",
                b"To: 123\nValidity: 167\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(86_400))),
            ),
            (
                "validity raw 0",
                b"To: 123\nValidity: 0\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(300))),
            ),
            (
                "validity raw 255",
                b"To: 123\nValidity: 255\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(63 * 604_800))),
            ),
            (
                "validity words",
                b"To: 123\nValidity: 3 days\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(3 * 86_400))),
            ),
            (
                "validity min",
                b"To: 123\nValidity: 30 min\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(1800))),
            ),
            (
                "validity ours",
                b"To: 123\nValidity: 2d\n\nx".to_vec(),
                Want::Ok(|m| m.validity == Some(Duration::from_secs(172_800))),
            ),
            (
                "priority",
                b"To: 123\nPriority: High\n\nx".to_vec(),
                Want::Ok(|m| m.priority == Priority::High),
            ),
            (
                "priority low",
                b"To: 123\nPriority: low\n\nx".to_vec(),
                Want::Ok(|m| m.priority == Priority::Low),
            ),
            (
                "queue",
                b"To: 123\nQueue: bulk\n\nx".to_vec(),
                Want::Ok(|m| m.queue.as_deref() == Some("bulk")),
            ),
            (
                "provider",
                b"To: 123\nProvider: telia\n\nx".to_vec(),
                Want::Ok(|m| m.queue.as_deref() == Some("telia")),
            ),
            (
                "modem",
                b"To: 123\nModem: sim2\n\nx".to_vec(),
                Want::Ok(|m| m.modem.as_deref() == Some("sim2")),
            ),
            (
                "send_after",
                b"To: 123\nSend_after: 2030-01-02T03:04:05Z\n\nx".to_vec(),
                Want::Ok(|m| {
                    m.send_after.map(|t| t.to_rfc3339()) == Some("2030-01-02T03:04:05+00:00".into())
                }),
            ),
            (
                "category",
                b"To: 123\nCategory: Marketing\n\nx".to_vec(),
                Want::Ok(|m| m.category == crate::store::Category::Marketing),
            ),
            (
                "no category",
                b"To: 123\n\nx".to_vec(),
                Want::Ok(|m| m.category == crate::store::Category::Transactional),
            ),
            (
                "language",
                b"To: 123\nLanguage: turkish\nLanguage_ext: 2\n\nx".to_vec(),
                Want::Ok(|m| m.languages == vec![1, 2]),
            ),
            (
                "utf8 body",
                "To: 123\n\nGrüße €".as_bytes().to_vec(),
                Want::Ok(|m| m.text == "Grüße €" && m.warnings.is_empty()),
            ),
            (
                "iso fallback",
                b"To: 123\n\nPrice 5\xA4 \xE4".to_vec(),
                Want::Ok(|m| m.text == "Price 5€ ä" && m.warnings.len() == 1),
            ),
            (
                "alphabet iso",
                b"To: 123\nAlphabet: ISO-8859-15\n\n\xA4\xBC".to_vec(),
                Want::Ok(|m| m.text == "€Œ" && m.alphabet == Alphabet::Iso),
            ),
            (
                "alphabet latin",
                b"To: 123\nAlphabet: Latin\n\nx".to_vec(),
                Want::Ok(|m| m.alphabet == Alphabet::Iso),
            ),
            (
                "alphabet iso valid utf8 bytes",
                "To: 123\nAlphabet: ISO\n\nä".as_bytes().to_vec(),
                Want::Ok(|m| m.text == "Ã€"),
            ),
            (
                "alphabet utf",
                "To: 123\nAlphabet: UTF-8\n\nä".as_bytes().to_vec(),
                Want::Ok(|m| m.text == "ä" && m.alphabet == Alphabet::Utf8),
            ),
            (
                "alphabet gsm",
                b"To: 123\nAlphabet: GSM\n\nx".to_vec(),
                Want::Ok(|m| m.alphabet == Alphabet::Gsm),
            ),
            (
                "ucs body",
                [
                    b"To: 123\nAlphabet: UCS2\n\n".as_slice(),
                    &[0x04, 0x1F, 0x04, 0x40, 0xD8, 0x3D, 0xDE, 0x00],
                ]
                .concat(),
                Want::Ok(|m| m.text == "Пр😀" && m.alphabet == Alphabet::Ucs2),
            ),
            (
                "ucs bom + newline trimmed",
                [
                    b"To: 123\nAlphabet: Unicode\n\n".as_slice(),
                    &[0xFE, 0xFF, 0x00, 0x41, 0x00, 0x0A],
                ]
                .concat(),
                Want::Ok(|m| m.text == "A"),
            ),
            (
                "binary",
                b"To: 123\nAlphabet: binary\n\n\x00\x01\xFF".to_vec(),
                Want::Ok(|m| m.binary.as_deref() == Some(&[0, 1, 0xFF][..]) && m.text.is_empty()),
            ),
            (
                "binary hex",
                b"To: 123\nBinary: yes\nHex: yes\n\n0001 # comment\nff\n".to_vec(),
                Want::Ok(|m| m.binary.as_deref() == Some(&[0, 1, 0xFF][..])),
            ),
            (
                "crlf",
                b"To: 123\r\nFlash: yes\r\n\r\nline1\r\nline2\r\n".to_vec(),
                Want::Ok(|m| m.flash && m.text == "line1\nline2"),
            ),
            (
                "trailing newlines trimmed",
                b"To: 123\n\nHello\n\n  \n".to_vec(),
                Want::Ok(|m| m.text == "Hello"),
            ),
            (
                "inner newlines kept",
                b"To: 123\n\n\nHello\n\nworld".to_vec(),
                Want::Ok(|m| m.text == "\nHello\n\nworld"),
            ),
            (
                "whitespace-only body kept",
                b"To: 123\n\n \n".to_vec(),
                Want::Ok(|m| m.text == " \n"),
            ),
            (
                "ctrl-z trimmed",
                b"To: 123\n\nHi\x1a".to_vec(),
                Want::Ok(|m| m.text == "Hi"),
            ),
            (
                "unknown header warns",
                b"To: 123\nX-Custom: 1\n\nx".to_vec(),
                Want::Ok(|m| m.warnings == vec!["unknown header X-Custom ignored".to_string()]),
            ),
            (
                "ignored header warns",
                b"To: 123\nFrom: me\n\nx".to_vec(),
                Want::Ok(|m| m.warnings.len() == 1),
            ),
            (
                "repeat warns, last wins",
                b"To: 111\nTo: 222\n\nx".to_vec(),
                Want::Ok(|m| m.to == "+222" && m.warnings.len() == 1),
            ),
            (
                "blank line with spaces",
                b"To: 123\n   \nbody".to_vec(),
                Want::Ok(|m| m.text == "body"),
            ),
            (
                "empty value queue",
                b"To: 123\nQueue:\n\nx".to_vec(),
                Want::Ok(|m| m.queue.is_none()),
            ),
            // errors
            ("empty", b"".to_vec(), Want::Err("empty file")),
            (
                "whitespace only",
                b" \n\n".to_vec(),
                Want::Err("empty file"),
            ),
            (
                "no blank line",
                b"To: 123\nFlash: yes\n".to_vec(),
                Want::Err("no blank line"),
            ),
            (
                "no blank line no newline",
                b"To: 123".to_vec(),
                Want::Err("no blank line"),
            ),
            (
                "body without headers",
                b"Hello there\n\nx".to_vec(),
                Want::Err("line 1 is not"),
            ),
            (
                "bad header name",
                b"To: 1\nBad Name: x\n\nx".to_vec(),
                Want::Err("line 2 is not"),
            ),
            (
                "missing to",
                b"Flash: yes\n\nx".to_vec(),
                Want::Err("no To: header"),
            ),
            (
                "bad number",
                b"To: 49abc\n\nx".to_vec(),
                Want::Err("bad number \"49abc\": bad character 'a' at offset 2"),
            ),
            (
                "plus in middle",
                b"To: 49+1\n\nx".to_vec(),
                Want::Err("bad number \"49+1\": bad character '+' at offset 2"),
            ),
            (
                "empty number",
                b"To: --\n\nx".to_vec(),
                Want::Err("number \"--\" has no digits"),
            ),
            (
                "too many digits",
                b"To: 123456789012345678901\n\nx".to_vec(),
                Want::Err("bad To: "),
            ),
            (
                "bad bool",
                b"To: 123\nFlash: maybe\n\nx".to_vec(),
                Want::Err("bad Flash: "),
            ),
            (
                "bad validity",
                b"To: 123\nValidity: 256\n\nx".to_vec(),
                Want::Err("bad Validity: "),
            ),
            (
                "bad validity unit",
                b"To: 123\nValidity: 3 fortnights\n\nx".to_vec(),
                Want::Err("bad Validity: "),
            ),
            (
                "priority urgent",
                b"To: 123\nPriority: urgent\n\nx".to_vec(),
                Want::Ok(|m| m.priority == Priority::Urgent),
            ),
            (
                "bad priority",
                b"To: 123\nPriority: soon\n\nx".to_vec(),
                Want::Err("bad Priority: "),
            ),
            (
                "bad alphabet",
                b"To: 123\nAlphabet: EBCDIC\n\nx".to_vec(),
                Want::Err("bad Alphabet: "),
            ),
            (
                "bad toa",
                b"To: 123\nTo_TOA: alien\n\nx".to_vec(),
                Want::Err("bad To_TOA: "),
            ),
            (
                "bad language",
                b"To: 123\nLanguage: klingon\n\nx".to_vec(),
                Want::Err("bad Language: "),
            ),
            (
                "bad category",
                b"To: 123\nCategory: spam\n\nx".to_vec(),
                Want::Err("bad Category: "),
            ),
            (
                "bad send_after",
                b"To: 123\nSend_after: tomorrow\n\nx".to_vec(),
                Want::Err("bad Send_after: "),
            ),
            (
                "bad queue",
                b"To: 123\nQueue: a/b\n\nx".to_vec(),
                Want::Err("bad Queue: "),
            ),
            (
                "nul in body",
                b"To: 123\n\nab\x00c".to_vec(),
                Want::Err("NUL byte at offset 11"),
            ),
            (
                "nul in header",
                b"To: 1\x0023\n\nx".to_vec(),
                Want::Err("NUL byte at offset 5"),
            ),
            (
                "empty body",
                b"To: 123\n\n".to_vec(),
                Want::Err("empty message body"),
            ),
            (
                "ucs odd",
                [
                    b"To: 123\nAlphabet: UCS\n\n".as_slice(),
                    &[0x00, 0x41, 0x00],
                ]
                .concat(),
                Want::Err("bad body: UCS2 body has an odd number"),
            ),
            (
                "ucs surrogate",
                [
                    b"To: 123\nAlphabet: UCS\n\n".as_slice(),
                    &[0xD8, 0x00, 0x00, 0x41],
                ]
                .concat(),
                Want::Err("bad body: UCS2 body has an unpaired surrogate"),
            ),
            (
                "bad hex",
                b"To: 123\nAlphabet: binary\nHex: yes\n\n0g".to_vec(),
                Want::Err("bad body: hex body has a non-hex"),
            ),
            (
                "voicecall refused",
                b"To: 123\nVoicecall: yes\n\nTONE: 1".to_vec(),
                Want::Err("header Voicecall is not supported"),
            ),
            (
                "too large",
                vec![b'a'; MAX_PARSE_BYTES + 1],
                Want::Err("file too large"),
            ),
        ];
        assert!(!cases.is_empty());
        for (name, input, want) in cases {
            check(name, &input, want);
        }
    }

    #[test]
    fn tp_vp_table() {
        let cases: &[(u8, u64)] = &[
            (0, 5),
            (143, 720),
            (144, 750),
            (167, 1440),
            (168, 2880),
            (196, 30 * 1440),
            (197, 5 * 10_080),
            (255, 63 * 10_080),
        ];
        assert!(!cases.is_empty());
        for (v, minutes) in cases {
            assert_eq!(
                tp_vp_to_duration(*v),
                Duration::from_secs(minutes * 60),
                "TP-VP {v}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_headerish_input(s in "([A-Za-z_]{1,8}: [ -~]{0,12}\r?\n){0,5}\r?\n?[\\PC\n]{0,40}") {
            let _ = parse(s.as_bytes());
        }

        #[test]
        fn grouped_numbers_normalise(groups in proptest::collection::vec(("[0-9]{1,4}", "[ .()-]{0,2}"), 1..5)) {
            let digits: String = groups.iter().map(|(d, _)| d.as_str()).collect();
            proptest::prop_assume!(digits.len() <= MAX_DIGITS);
            let raw: String = groups.iter().map(|(d, sep)| format!("{d}{sep}")).collect();
            let (n, ty) = normalise_number(&format!("+{raw}"), None).expect("valid");
            proptest::prop_assert_eq!(n, format!("+{digits}"));
            proptest::prop_assert_eq!(ty, NumberType::International);
            let (n, _) = normalise_number(&format!("s{raw}"), None).expect("valid");
            proptest::prop_assert_eq!(n, digits);
        }

        #[test]
        fn iso_bodies_decode_every_byte(body in proptest::collection::vec(1u8..=255, 1..80)) {
            let mut file = b"To: 1\nAlphabet: ISO\n\n".to_vec();
            file.extend_from_slice(&body);
            let m = parse(&file).expect("every non-NUL byte is ISO-8859-15 text");
            proptest::prop_assert!(!m.text.is_empty());
        }

        #[test]
        fn utf8_text_round_trips(text in "[^\u{0}\u{1a}]{1,60}", digits in "[0-9]{1,15}") {
            let t = text.replace("\r\n", "\n");
            let t = t.trim_end_matches([' ', '\t', '\r', '\n']);
            proptest::prop_assume!(!t.is_empty());
            let file = format!("To: {digits}\n\n{text}");
            let m = parse(file.as_bytes()).expect("a valid file");
            proptest::prop_assert_eq!(m.to, format!("+{digits}"));
            proptest::prop_assert_eq!(m.text, t);
        }
    }
}
