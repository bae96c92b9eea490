//! The suppression list's normal form of a phone number: E.164 (`+` and the
//! digits) wherever it can be known, so `+49151…`, `0049151…` and, with
//! `[optout] country = "DE"`, the national `0151…` are one number. Pure: a
//! table of countries (calling code, trunk prefix, international prefix)
//! and one function; no I/O, no number-plan validation beyond that.
//!
//! Rules, in order (the input first goes through `address::normalise`, so
//! separators are dropped and bad characters refused):
//! 1. `*`/`#` service codes stay as they are.
//! 2. `+digits` is international (a stray `00` after the `+` is dropped).
//! 3. The country's international prefix (`00` everywhere; also `011` in
//!    North America, `0011` in Australia, `010` in Japan) starts an
//!    international number.
//! 4. The country's trunk prefix (`0` in most of the world, `06` in
//!    Hungary, `8` in Russia and Kazakhstan, `1` in North America) starts a
//!    national number: the prefix is replaced by `+<calling code>`. In
//!    Italy, San Marino and the Vatican the leading `0` belongs to the
//!    number and stays.
//! 5. Otherwise 7 digits or more are international (numbers are written
//!    with their country code, as `send` reads them); fewer are a short code.
//! 6. A number that starts with `0` and no country says how to read it
//!    stays as its digits (national, country unknown): it still matches
//!    itself, never a number written otherwise.

use super::address::{normalise, NumberError, Plain, TON_UNKNOWN};

/// One country's dialling conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2, upper case.
    pub iso: &'static str,
    /// The country calling code, digits.
    pub calling: &'static str,
    /// The national trunk prefix ("" when there is none).
    pub trunk: &'static str,
    /// The international call prefix other than `00`, if any.
    pub idd: &'static str,
    /// A leading `0` is part of the national number (Italy).
    pub keeps_zero: bool,
}

const fn c(iso: &'static str, calling: &'static str, trunk: &'static str) -> Country {
    Country {
        iso,
        calling,
        trunk,
        idd: "",
        keeps_zero: false,
    }
}

const fn idd(mut country: Country, idd: &'static str) -> Country {
    country.idd = idd;
    country
}

const fn zero(iso: &'static str, calling: &'static str) -> Country {
    Country {
        iso,
        calling,
        trunk: "",
        idd: "",
        keeps_zero: true,
    }
}

/// The countries `[optout] country` knows.
pub const COUNTRIES: &[Country] = &[
    c("AD", "376", ""),
    c("AE", "971", "0"),
    c("AL", "355", "0"),
    c("AM", "374", "0"),
    c("AR", "54", "0"),
    c("AT", "43", "0"),
    idd(c("AU", "61", "0"), "0011"),
    c("BA", "387", "0"),
    c("BD", "880", "0"),
    c("BE", "32", "0"),
    c("BG", "359", "0"),
    c("BR", "55", "0"),
    c("BY", "375", "8"),
    idd(c("CA", "1", "1"), "011"),
    c("CH", "41", "0"),
    c("CL", "56", ""),
    c("CN", "86", "0"),
    c("CO", "57", ""),
    c("CY", "357", ""),
    c("CZ", "420", ""),
    c("DE", "49", "0"),
    c("DK", "45", ""),
    c("DZ", "213", "0"),
    c("EE", "372", ""),
    c("EG", "20", "0"),
    c("ES", "34", ""),
    c("FI", "358", "0"),
    c("FR", "33", "0"),
    c("GB", "44", "0"),
    c("GE", "995", "0"),
    c("GH", "233", "0"),
    c("GR", "30", ""),
    c("HR", "385", "0"),
    c("HU", "36", "06"),
    c("ID", "62", "0"),
    c("IE", "353", "0"),
    c("IL", "972", "0"),
    c("IN", "91", "0"),
    c("IS", "354", ""),
    zero("IT", "39"),
    idd(c("JP", "81", "0"), "010"),
    c("KE", "254", "0"),
    c("KR", "82", "0"),
    c("KZ", "7", "8"),
    c("LI", "423", ""),
    c("LT", "370", "8"),
    c("LU", "352", ""),
    c("LV", "371", ""),
    c("MA", "212", "0"),
    c("MC", "377", ""),
    c("MD", "373", "0"),
    c("ME", "382", "0"),
    c("MK", "389", "0"),
    c("MT", "356", ""),
    c("MX", "52", ""),
    c("MY", "60", "0"),
    c("NG", "234", "0"),
    c("NL", "31", "0"),
    c("NO", "47", ""),
    c("NZ", "64", "0"),
    c("PH", "63", "0"),
    c("PK", "92", "0"),
    c("PL", "48", ""),
    c("PT", "351", ""),
    c("RO", "40", "0"),
    c("RS", "381", "0"),
    c("RU", "7", "8"),
    c("SA", "966", "0"),
    c("SE", "46", "0"),
    c("SG", "65", ""),
    c("SI", "386", "0"),
    c("SK", "421", "0"),
    zero("SM", "378"),
    c("TH", "66", "0"),
    c("TN", "216", ""),
    c("TR", "90", "0"),
    c("TW", "886", "0"),
    c("UA", "380", "0"),
    idd(c("US", "1", "1"), "011"),
    zero("VA", "39"),
    c("VN", "84", "0"),
    c("ZA", "27", "0"),
];

/// The country with this ISO 3166-1 alpha-2 code (any case).
pub fn country(iso: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.iso.eq_ignore_ascii_case(iso))
}

/// The normal form of `raw` (see the module's rules). Errors only for what
/// is not a phone number at all (letters, nothing, too long).
pub fn normal_form(raw: &str, country: Option<&Country>) -> Result<String, NumberError> {
    // "+49 (0)151…": the bracketed trunk prefix is not dialled from abroad.
    let cleaned;
    let raw = if raw.trim_start().starts_with('+') && raw.contains("(0)") {
        cleaned = raw.replacen("(0)", "", 1);
        cleaned.as_str()
    } else {
        raw
    };
    let addr = normalise(raw, Plain::Ton(TON_UNKNOWN))?;
    let d = addr.value.as_str();
    if d.contains(['*', '#']) {
        return Ok(d.to_string());
    }
    let plus = raw.trim_start().starts_with('+');
    if plus {
        let rest = d.strip_prefix("00").unwrap_or(d);
        return international(rest, d);
    }
    // The country's own prefix first: Australia's `0011` also starts with `00`.
    if let Some(rest) = country
        .filter(|c| !c.idd.is_empty())
        .and_then(|c| d.strip_prefix(c.idd))
    {
        return international(rest, d);
    }
    if let Some(rest) = d.strip_prefix("00") {
        return international(rest, d);
    }
    if let Some(cty) = country {
        if cty.keeps_zero && d.starts_with('0') {
            return Ok(format!("+{}{d}", cty.calling));
        }
        if !cty.trunk.is_empty() {
            if let Some(rest) = d.strip_prefix(cty.trunk) {
                if rest.len() >= 4 && !rest.starts_with('0') {
                    return Ok(format!("+{}{rest}", cty.calling));
                }
            }
        }
    }
    if d.starts_with('0') || d.len() < 7 {
        return Ok(d.to_string());
    }
    Ok(format!("+{d}"))
}

fn international(rest: &str, all: &str) -> Result<String, NumberError> {
    if rest.is_empty() || rest.starts_with('0') {
        // "+0…" or a bare "00": not E.164; keep what was written.
        return Ok(all.to_string());
    }
    Ok(format!("+{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, cty: Option<&str>, want: Result<&str, ()>) {
        let country = cty.map(|c| country(c).unwrap_or_else(|| panic!("no country {c}")));
        let got = normal_form(raw, country).map_err(|_| ());
        assert_eq!(got.as_deref().map_err(|_| ()), want, "{raw:?} with {cty:?}");
    }

    #[test]
    fn normal_forms() {
        let table: &[(&str, Option<&str>, Result<&str, ()>)] = &[
            ("+4915112345678", None, Ok("+4915112345678")),
            ("004915112345678", None, Ok("+4915112345678")),
            ("+49 151 1234-5678", None, Ok("+4915112345678")),
            ("+49 (0)151 12345678", None, Ok("+4915112345678")),
            ("4915112345678", None, Ok("+4915112345678")),
            ("+004915112345678", None, Ok("+4915112345678")),
            ("015112345678", Some("DE"), Ok("+4915112345678")),
            ("015112345678", Some("de"), Ok("+4915112345678")),
            ("004915112345678", Some("DE"), Ok("+4915112345678")),
            ("+4915112345678", Some("FR"), Ok("+4915112345678")),
            ("0612345678", Some("FR"), Ok("+33612345678")),
            ("07700900123", Some("GB"), Ok("+447700900123")),
            ("015112345678", None, Ok("015112345678")),
            ("0612345678", Some("IT"), Ok("+390612345678")),
            ("3123456789", Some("IT"), Ok("+3123456789")),
            ("06301234567", Some("HU"), Ok("+36301234567")),
            ("89161234567", Some("RU"), Ok("+79161234567")),
            ("12025550123", Some("US"), Ok("+12025550123")),
            ("01144201234567", Some("US"), Ok("+44201234567")),
            ("0011441234567", Some("AU"), Ok("+441234567")),
            ("0412345678", Some("AU"), Ok("+61412345678")),
            ("01044201234567", Some("JP"), Ok("+44201234567")),
            ("09012345678", Some("JP"), Ok("+819012345678")),
            ("612345678", Some("ES"), Ok("+612345678")),
            ("22333", None, Ok("22333")),
            ("22333", Some("DE"), Ok("22333")),
            ("*100#", None, Ok("*100#")),
            ("00", None, Ok("00")),
            ("", None, Err(())),
            ("  ", None, Err(())),
            ("Info", None, Err(())),
            ("+49x151", None, Err(())),
            ("123456789012345678901", None, Err(())),
        ];
        assert!(!table.is_empty());
        for (raw, cty, want) in table {
            check(raw, *cty, *want);
        }
    }

    #[test]
    fn the_same_number_written_three_ways_is_one() {
        let de = country("DE");
        let forms: Vec<String> = ["+4915112345678", "004915112345678", "0151 1234 5678"]
            .iter()
            .map(|r| normal_form(r, de).expect("number"))
            .collect();
        assert!(forms.windows(2).all(|w| w[0] == w[1]), "{forms:?}");
    }

    #[test]
    fn table_is_sane() {
        assert!(!COUNTRIES.is_empty());
        for c in COUNTRIES {
            assert_eq!(c.iso.len(), 2, "{c:?}");
            assert!(c.iso.chars().all(|ch| ch.is_ascii_uppercase()), "{c:?}");
            assert!(!c.calling.is_empty() && c.calling.chars().all(|ch| ch.is_ascii_digit()));
            assert!(c.trunk.chars().all(|ch| ch.is_ascii_digit()));
            assert_eq!(
                COUNTRIES.iter().filter(|o| o.iso == c.iso).count(),
                1,
                "{c:?} twice"
            );
        }
        assert!(country("XX").is_none());
    }
}
