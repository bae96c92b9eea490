//! The pure parts of the SMPP face: SMPP time formats, `data_coding`
//! decoding and encoding, concatenation headers (UDH and `sar_*`), the
//! reassembly of an ESME's parts into one text, and the delivery receipt
//! text. No I/O, no clock (callers pass `now`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::codec::{gsm7, ucs2};

/// A `schedule_delivery_time` or `validity_period` as SMPP 3.4 §7.1.1
/// writes it: `YYMMDDhhmmsstnnp` with `p` one of `+`/`-` (absolute, `nn`
/// quarter hours from UTC) or `R` (relative: years, months, days, hours,
/// minutes, seconds from now). Empty means "not given".
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let b = s.as_bytes();
    if b.len() != 16
        || !b
            .get(..15)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        return Err(format!("{s:?} is not an SMPP time (YYMMDDhhmmsstnnp)"));
    }
    let n = |i: usize| -> u32 {
        let d = |j: usize| b.get(j).map_or(0, |c| u32::from(c - b'0'));
        d(i) * 10 + d(i + 1)
    };
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    match b.get(15) {
        Some(b'R') => {
            // Relative: a year is 365 days and a month 30, as SMSCs count.
            let secs = u64::from(yy) * 365 * 86_400
                + u64::from(mo) * 30 * 86_400
                + u64::from(dd) * 86_400
                + u64::from(hh) * 3_600
                + u64::from(mi) * 60
                + u64::from(ss);
            let d = TimeDelta::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
                .ok_or_else(|| format!("{s:?}: too far"))?;
            now.checked_add_signed(d)
                .map(Some)
                .ok_or_else(|| format!("{s:?}: too far"))
        }
        Some(p @ (b'+' | b'-')) => {
            let tenths = b.get(12).map_or(0, |c| u32::from(c - b'0'));
            let quarters = n(13);
            if quarters > 48 {
                return Err(format!("{s:?}: offset past 12 hours"));
            }
            let local = NaiveDate::from_ymd_opt(2000 + yy as i32, mo, dd)
                .and_then(|d| d.and_hms_milli_opt(hh, mi, ss, tenths * 100))
                .ok_or_else(|| format!("{s:?}: no such date or time"))?;
            let offset = TimeDelta::minutes(i64::from(quarters) * 15);
            let utc = if *p == b'+' {
                local - offset
            } else {
                local + offset
            };
            Ok(Some(utc.and_utc()))
        }
        _ => Err(format!("{s:?}: the last character must be +, - or R")),
    }
}

/// The `data_coding` values the gateway takes, and what it does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// 0: the SMSC default alphabet, GSM 03.38 septets, one per octet.
    Gsm7,
    /// 1: IA5 (ASCII).
    Ia5,
    /// 3: Latin-1.
    Latin1,
    /// 8: UCS-2 (UTF-16BE; surrogate pairs pass, so emoji work).
    Ucs2,
}

/// Why a `data_coding` is refused (`ESME_RINVDCS`-like).
pub fn coding(dc: u8) -> Result<Coding, String> {
    match dc {
        0 => Ok(Coding::Gsm7),
        1 => Ok(Coding::Ia5),
        3 => Ok(Coding::Latin1),
        8 => Ok(Coding::Ucs2),
        4 | 2 => Err(format!(
            "data_coding {dc} (8-bit binary) is not supported: the gateway sends text only"
        )),
        _ => Err(format!("data_coding {dc} is not supported (0, 1, 3 or 8)")),
    }
}

/// Text from the octets of one message (or a whole reassembled one).
pub fn decode(c: Coding, octets: &[u8]) -> String {
    match c {
        Coding::Gsm7 => gsm7::decode(octets, gsm7::Tables::DEFAULT),
        Coding::Ia5 => octets.iter().map(|&b| char::from(b & 0x7f)).collect(),
        Coding::Latin1 => octets.iter().map(|&b| char::from(b)).collect(),
        Coding::Ucs2 => ucs2::decode_lossy(octets),
    }
}

/// Text as `deliver_sm` octets: GSM-7 septets (data_coding 0) when it fits
/// the default alphabet, else UCS-2 (8).
pub fn encode(text: &str) -> (u8, Vec<u8>) {
    match gsm7::encode(text, gsm7::Tables::DEFAULT) {
        Some(septets) => (0, septets),
        None => (8, ucs2::encode(text)),
    }
}

/// Where one part sits in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// Splits a `short_message` with UDHI set into its concatenation segment
/// (IE 0x00 or 0x08; `None` when the header has neither) and the octets
/// after the header.
pub fn split_udh(sm: &[u8]) -> Result<(Option<Segment>, &[u8]), String> {
    let udhl = usize::from(*sm.first().ok_or("UDHI set on an empty message")?);
    let header = sm
        .get(1..1 + udhl)
        .ok_or("the UDH is longer than the message")?;
    let rest = sm.get(1 + udhl..).unwrap_or(&[]);
    let mut i = 0;
    let mut seg = None;
    while let (Some(&id), Some(&len)) = (header.get(i), header.get(i + 1)) {
        let len = usize::from(len);
        let data = header
            .get(i + 2..i + 2 + len)
            .ok_or("a UDH element runs past the header")?;
        match (id, data) {
            (0x00, [r, t, s]) => {
                seg = Some(Segment {
                    reference: u16::from(*r),
                    total: *t,
                    seq: *s,
                })
            }
            (0x08, [r1, r2, t, s]) => {
                seg = Some(Segment {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *t,
                    seq: *s,
                })
            }
            _ => {}
        }
        i += 2 + len;
    }
    if let Some(s) = seg {
        if s.total == 0 || s.seq == 0 || s.seq > s.total {
            return Err(format!("bad segment {}/{}", s.seq, s.total));
        }
    }
    Ok((seg, rest))
}

/// The key one ESME's long message is kept under while its parts come.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartsKey {
    pub source: String,
    pub dest: String,
    pub reference: u16,
    pub total: u8,
}

/// Parts of long messages that wait for the rest, per session.
#[derive(Debug, Default)]
pub struct Reassembly {
    pending: HashMap<PartsKey, Pending>,
}

#[derive(Debug)]
struct Pending {
    first_at: Instant,
    parts: Vec<Option<Vec<u8>>>,
}

/// The most long messages a session may have half-received at once.
pub const MAX_PENDING: usize = 256;

impl Reassembly {
    /// Adds one part's octets; returns the whole message's once every part
    /// came (decoded as a whole, so a UCS-2 pair split between parts joins).
    pub fn add(
        &mut self,
        key: PartsKey,
        seq: u8,
        text: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, String> {
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            return Err("too many long messages waiting for parts".into());
        }
        let total = usize::from(key.total);
        let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_at: now,
            parts: vec![None; total],
        });
        let slot = p
            .parts
            .get_mut(usize::from(seq).wrapping_sub(1))
            .ok_or_else(|| format!("part {seq} of {total}"))?;
        *slot = Some(text);
        if p.parts.iter().all(Option::is_some) {
            let whole = self
                .pending
                .remove(&key)
                .map(|p| p.parts.into_iter().flatten().flatten().collect())
                .unwrap_or_default();
            return Ok(Some(whole));
        }
        Ok(None)
    }

    /// Drops messages whose parts did not all come within `timeout`;
    /// returns their keys.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<PartsKey> {
        let gone: Vec<PartsKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.first_at) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.pending.remove(k);
        }
        gone
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The final state of a message as a receipt tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptState {
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
}

impl ReceiptState {
    /// The `stat:` word.
    pub fn stat(self) -> &'static str {
        match self {
            ReceiptState::Delivered => "DELIVRD",
            ReceiptState::Expired => "EXPIRED",
            ReceiptState::Deleted => "DELETED",
            ReceiptState::Undeliverable => "UNDELIV",
        }
    }

    /// The `message_state` TLV value (SMPP 3.4 §5.2.28).
    pub fn message_state(self) -> u8 {
        match self {
            ReceiptState::Delivered => 2,
            ReceiptState::Expired => 3,
            ReceiptState::Deleted => 4,
            ReceiptState::Undeliverable => 5,
        }
    }

    /// The receipt an event of type `kind` stands for, if any.
    pub fn for_event(kind: &str) -> Option<ReceiptState> {
        match kind {
            "delivered" => Some(ReceiptState::Delivered),
            "expired" => Some(ReceiptState::Expired),
            "cancelled" => Some(ReceiptState::Deleted),
            "failed" => Some(ReceiptState::Undeliverable),
            _ => None,
        }
    }
}

/// The standard receipt text (SMPP 3.4 appendix B).
pub fn receipt_text(
    id: &str,
    state: ReceiptState,
    submitted: DateTime<Utc>,
    done: DateTime<Utc>,
    text: &str,
) -> String {
    let dlvrd = if state == ReceiptState::Delivered {
        "001"
    } else {
        "000"
    };
    let err = if state == ReceiptState::Delivered {
        "000"
    } else {
        "001"
    };
    // The receipt stays in the default alphabet: what it cannot hold shows '?'.
    let short: String = text
        .chars()
        .take(20)
        .map(|c| match gsm7::char_septets(c, gsm7::Tables::DEFAULT) {
            Some(_) if c != '\u{1b}' => c,
            _ => '?',
        })
        .collect();
    format!(
        "id:{id} sub:001 dlvrd:{dlvrd} submit date:{} done date:{} stat:{} err:{err} text:{short}",
        submitted.format("%y%m%d%H%M"),
        done.format("%y%m%d%H%M"),
        state.stat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn smpp_times() {
        let now = t(2026, 12, 2, 10, 0, 0);
        let cases: &[(&str, Result<Option<DateTime<Utc>>, ()>)] = &[
            ("", Ok(None)),
            ("261202120000000+", Ok(Some(t(2026, 12, 2, 12, 0, 0)))),
            // +04 quarters = UTC+1: 12:00 local is 11:00 UTC.
            ("261202120000004+", Ok(Some(t(2026, 12, 2, 11, 0, 0)))),
            ("261202120000008-", Ok(Some(t(2026, 12, 2, 14, 0, 0)))),
            ("000001020304000R", Ok(Some(t(2026, 12, 3, 12, 3, 4)))),
            ("000100000000000R", Ok(Some(t(2027, 1, 1, 10, 0, 0)))),
            ("000000000100000R", Ok(Some(t(2026, 12, 2, 10, 1, 0)))),
            ("261302120000000+", Err(())),
            ("261202120000049+", Err(())),
            ("26120212000000+", Err(())),
            ("2612021200000001", Err(())),
            ("26120x120000000+", Err(())),
        ];
        for (s, want) in cases {
            let got = parse_time(s, now).map_err(|_| ());
            assert_eq!(&got, want, "{s:?}");
        }
    }

    #[test]
    fn data_codings() {
        let cases: &[(u8, &[u8], Option<&str>)] = &[
            (0, b"Hello", Some("Hello")),
            (0, &[0x00, 0x1b, 0x65], Some("@€")),
            (1, b"ASCII", Some("ASCII")),
            (3, &[0x63, 0x61, 0x66, 0xe9], Some("café")),
            (8, &[0x00, 0x48, 0xd8, 0x3d, 0xde, 0x00], Some("H😀")),
            (4, b"", None),
            (2, b"", None),
            (0xf5, b"", None),
        ];
        for (dc, octets, want) in cases {
            let got = coding(*dc).map(|c| decode(c, octets)).ok();
            assert_eq!(got.as_deref(), *want, "data_coding {dc}");
        }
        assert_eq!(encode("Hi"), (0, b"Hi".to_vec()));
        assert_eq!(encode("😀"), (8, vec![0xd8, 0x3d, 0xde, 0x00]));
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn udh_headers() {
        let seg = |r, t, s| {
            Some(Segment {
                reference: r,
                total: t,
                seq: s,
            })
        };
        let cases: &[(&[u8], Result<(Option<Segment>, &[u8]), ()>)] = &[
            (&[5, 0, 3, 7, 2, 1, b'a'], Ok((seg(7, 2, 1), b"a"))),
            (&[6, 8, 4, 1, 2, 3, 3, b'b'], Ok((seg(0x102, 3, 3), b"b"))),
            (&[3, 0x24, 1, 1, b'c'], Ok((None, b"c"))),
            (&[5, 0, 3, 7, 2, 3, b'a'], Err(())),
            (&[5, 0, 3, 7, 0, 0], Err(())),
            (&[9, 0, 3], Err(())),
            (&[4, 0, 3, 7, 2], Err(())),
            (&[], Err(())),
        ];
        for (sm, want) in cases {
            assert_eq!(&split_udh(sm).map_err(|_| ()), want, "{sm:?}");
        }
    }

    #[test]
    fn reassembly_in_any_order_and_timeout() {
        let now = Instant::now();
        let key = |r| PartsKey {
            source: "a".into(),
            dest: "b".into(),
            reference: r,
            total: 3,
        };
        let mut r = Reassembly::default();
        assert_eq!(r.add(key(1), 3, b"ghi".to_vec(), now), Ok(None));
        assert_eq!(r.add(key(1), 1, b"abc".to_vec(), now), Ok(None));
        assert_eq!(r.add(key(2), 1, b"xyz".to_vec(), now), Ok(None));
        assert_eq!(
            r.add(key(1), 2, b"def".to_vec(), now),
            Ok(Some(b"abcdefghi".to_vec()))
        );
        assert!(r.add(key(3), 4, b"no".to_vec(), now).is_err());
        assert_eq!(r.len(), 2, "key 2 and the empty key 3 wait");
        assert!(r
            .expire(now + Duration::from_secs(10), Duration::from_secs(60))
            .is_empty());
        assert_eq!(
            r.expire(now + Duration::from_secs(61), Duration::from_secs(60))
                .len(),
            2
        );
        assert!(r.is_empty());
    }

    #[test]
    fn receipt_texts() {
        let sub = t(2026, 12, 2, 9, 5, 0);
        let done = t(2026, 12, 2, 9, 7, 30);
        let cases = [
            (
                ReceiptState::Delivered,
                "Hello there, this is longer than twenty",
                "id:42 sub:001 dlvrd:001 submit date:2612020905 done date:2612020907 stat:DELIVRD err:000 text:Hello there, this is",
            ),
            (
                ReceiptState::Undeliverable,
                "x",
                "id:42 sub:001 dlvrd:000 submit date:2612020905 done date:2612020907 stat:UNDELIV err:001 text:x",
            ),
            (
                ReceiptState::Delivered,
                "Grüße 😀",
                "id:42 sub:001 dlvrd:001 submit date:2612020905 done date:2612020907 stat:DELIVRD err:000 text:Grüße ?",
            ),
            (
                ReceiptState::Expired,
                "",
                "id:42 sub:001 dlvrd:000 submit date:2612020905 done date:2612020907 stat:EXPIRED err:001 text:",
            ),
        ];
        for (state, text, want) in cases {
            assert_eq!(receipt_text("42", state, sub, done, text), want);
        }
        assert_eq!(ReceiptState::for_event("sent"), None);
        assert_eq!(
            ReceiptState::for_event("cancelled").map(ReceiptState::stat),
            Some("DELETED")
        );
    }
}
