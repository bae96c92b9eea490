//! Service centre time stamps (TP-SCTS, TP-DT, absolute TP-VP; TS 23.040
//! §9.2.3.11): seven swapped semi-octets YY MM DD hh mm ss TZ. Owns the
//! conversion to calendar fields and to a `chrono` instant; not the PDU layout.

use std::fmt;

/// A time stamp as the network sent it. The seven raw octets are kept, so an
/// invalid date (non-BCD digits, month 13…) still round-trips; the decoded
/// fields are then best effort and [`Scts::to_datetime`] gives `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scts {
    /// Two-digit year: 70–99 mean 1970–1999, 00–69 mean 2000–2069.
    pub year: u8,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in quarter-hours; the sign comes from bit 3 of the TZ octet.
    pub tz_quarters: i8,
    /// The seven octets as received (or as built by [`Scts::new`]).
    pub raw: [u8; 7],
}

fn swapped(b: u8) -> u8 {
    (b & 0x0F) * 10 + (b >> 4)
}

fn to_swapped(v: u8) -> u8 {
    let v = v % 100;
    (v % 10) << 4 | (v / 10)
}

impl Scts {
    /// Decodes seven raw octets. Never fails: see [`Scts::to_datetime`].
    pub fn from_raw(raw: [u8; 7]) -> Scts {
        let tz = raw[6];
        let magnitude = (tz & 0x07) * 10 + (tz >> 4);
        let magnitude = i8::try_from(magnitude).unwrap_or(i8::MAX);
        let tz_quarters = if tz & 0x08 != 0 {
            -magnitude
        } else {
            magnitude
        };
        Scts {
            year: swapped(raw[0]),
            month: swapped(raw[1]),
            day: swapped(raw[2]),
            hour: swapped(raw[3]),
            minute: swapped(raw[4]),
            second: swapped(raw[5]),
            tz_quarters,
            raw,
        }
    }

    /// Builds a time stamp from fields (year as two digits, tz in
    /// quarter-hours, clamped to ±79).
    pub fn new(year: u8, month: u8, day: u8, hour: u8, minute: u8, second: u8, tz: i8) -> Scts {
        let mag = tz.unsigned_abs().min(79);
        let mut tz_octet = to_swapped(mag);
        if tz < 0 {
            tz_octet |= 0x08;
        }
        Scts::from_raw([
            to_swapped(year),
            to_swapped(month),
            to_swapped(day),
            to_swapped(hour),
            to_swapped(minute),
            to_swapped(second),
            tz_octet,
        ])
    }

    /// The time stamp for a `chrono` date-time (seconds precision, offset
    /// rounded down to whole quarter-hours).
    pub fn from_datetime(dt: &chrono::DateTime<chrono::FixedOffset>) -> Scts {
        use chrono::{Datelike, Timelike};
        let quarters = dt.offset().local_minus_utc() / 900;
        Scts::new(
            u8::try_from(dt.year().rem_euclid(100)).unwrap_or(0),
            u8::try_from(dt.month()).unwrap_or(1),
            u8::try_from(dt.day()).unwrap_or(1),
            u8::try_from(dt.hour()).unwrap_or(0),
            u8::try_from(dt.minute()).unwrap_or(0),
            u8::try_from(dt.second()).unwrap_or(0),
            i8::try_from(quarters).unwrap_or(0),
        )
    }

    /// The full year (1970–2069).
    pub fn full_year(&self) -> i32 {
        let y = i32::from(self.year);
        if y >= 70 {
            1900 + y
        } else {
            2000 + y
        }
    }

    /// The local time with its offset, or `None` when the octets are not a
    /// valid date.
    pub fn to_datetime(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        if self.raw[..6].iter().any(|b| b & 0x0F > 9 || b >> 4 > 9) {
            return None;
        }
        let offset = chrono::FixedOffset::east_opt(i32::from(self.tz_quarters) * 15 * 60)?;
        let date = chrono::NaiveDate::from_ymd_opt(
            self.full_year(),
            u32::from(self.month),
            u32::from(self.day),
        )?;
        let naive = date.and_hms_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
        )?;
        naive.and_local_timezone(offset).single()
    }
}

/// Serialised as the fields plus `datetime` (RFC 3339 with its offset, or
/// null for an invalid date), so `--json` readers need no SCTS knowledge.
impl serde::Serialize for Scts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Scts", 9)?;
        st.serialize_field("datetime", &self.to_datetime().map(|d| d.to_rfc3339()))?;
        st.serialize_field("year", &self.year)?;
        st.serialize_field("month", &self.month)?;
        st.serialize_field("day", &self.day)?;
        st.serialize_field("hour", &self.hour)?;
        st.serialize_field("minute", &self.minute)?;
        st.serialize_field("second", &self.second)?;
        st.serialize_field("tz_quarters", &self.tz_quarters)?;
        st.serialize_field("raw", &super::to_hex(&self.raw))?;
        st.end()
    }
}

impl fmt::Display for Scts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(dt) => write!(f, "{}", dt.to_rfc3339()),
            None => write!(f, "invalid ({})", super::to_hex(&self.raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)]
    use super::*;
    use crate::codec::from_hex;

    fn check(hex: &str, fields: (u8, u8, u8, u8, u8, u8, i8), rfc3339: Option<&str>) {
        let bytes = from_hex(hex).unwrap();
        let raw: [u8; 7] = bytes.as_slice().try_into().unwrap();
        let s = Scts::from_raw(raw);
        assert_eq!(
            (
                s.year,
                s.month,
                s.day,
                s.hour,
                s.minute,
                s.second,
                s.tz_quarters
            ),
            fields,
            "{hex}"
        );
        assert_eq!(
            s.to_datetime().map(|d| d.to_rfc3339()).as_deref(),
            rfc3339,
            "{hex}"
        );
        if rfc3339.is_some() && s.raw[6] != 0x08 && s.tz_quarters.abs() <= 79 {
            let f = fields;
            assert_eq!(Scts::new(f.0, f.1, f.2, f.3, f.4, f.5, f.6), s, "{hex}");
        }
    }

    #[test]
    fn table() {
        let cases: &[(&str, (u8, u8, u8, u8, u8, u8, i8), Option<&str>)] = &[
            // P2: 99-03-29 15:16:59 +02:00
            (
                "99309251619580",
                (99, 3, 29, 15, 16, 59, 8),
                Some("1999-03-29T15:16:59+02:00"),
            ),
            // P3: TZ octet 08 is "-00"
            (
                "20806291731408",
                (2, 8, 26, 19, 37, 41, 0),
                Some("2002-08-26T19:37:41+00:00"),
            ),
            // V5: TZ 0A = -20 quarters = -05:00
            (
                "4230108000000A",
                (24, 3, 1, 8, 0, 0, -20),
                Some("2024-03-01T08:00:00-05:00"),
            ),
            // V2: +01:00
            (
                "42101332958540",
                (24, 1, 31, 23, 59, 58, 4),
                Some("2024-01-31T23:59:58+01:00"),
            ),
            // month 13: fields kept, no date-time
            ("42310132958540", (24, 13, 10, 23, 59, 58, 4), None),
            // non-BCD digits
            ("FF101332958540", (165, 1, 31, 23, 59, 58, 4), None),
            // largest TZ magnitude: 7*10+15 = 85 quarters, out of chrono's range? 21h15 is fine
            (
                "420113329585FF",
                (24, 10, 31, 23, 59, 58, -85),
                Some("2024-10-31T23:59:58-21:15"),
            ),
        ];
        assert!(!cases.is_empty());
        for (hex, fields, rfc) in cases {
            check(hex, *fields, *rfc);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7363_7473),
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        #[test]
        fn never_panics(raw in proptest::array::uniform7(proptest::num::u8::ANY)) {
            let s = Scts::from_raw(raw);
            let _ = s.to_datetime();
            let _ = s.to_string();
            proptest::prop_assert_eq!(s.raw, raw);
            proptest::prop_assert!(serde_json::to_string(&s).is_ok());
        }
    }
}
