//! Pure campaign logic: the `{{var}}` text template ([`Template`]), the
//! recipient CSV, read row by row ([`CsvRows`]) and the send window in a time zone
//! ([`Window`]). No I/O, no clock of its own: every time is passed in, so
//! tables of cases test it (midnight, DST) in milliseconds.
//!
//! The gateway uses the template and the CSV to build a campaign's
//! messages; the dispatcher asks the window whether a campaign may send now
//! and when that changes. Storage and counters are `store::campaign`'s.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[cfg(test)]
mod tests;

/// Why a campaign's input was refused; the message names the row or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    #[error("text: {0}")]
    Template(String),
    #[error("csv: {0}")]
    Csv(String),
    #[error("window: {0}")]
    Window(String),
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A text with `{{name}}` placeholders (spaces inside the braces allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

fn valid_var(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

impl Template {
    /// Parses `text`. An opening `{{` without its `}}`, or a name that is
    /// empty or has other characters than letters, digits, `_`, `-`, `.`,
    /// is an error that says where.
    pub fn parse(text: &str) -> Result<Template, CampaignError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let (before, after) = rest.split_at(open);
            if !before.is_empty() {
                pieces.push(Piece::Text(before.to_string()));
            }
            let inner = after.get(2..).unwrap_or_default();
            let Some(close) = inner.find("}}") else {
                return Err(CampaignError::Template(format!(
                    "\"{{{{\" at character {} has no closing \"}}}}\"",
                    text.get(..offset + open).map_or(0, |s| s.chars().count()) + 1
                )));
            };
            let name = inner.get(..close).unwrap_or_default().trim();
            if !valid_var(name) {
                return Err(CampaignError::Template(format!(
                    "{:?} is not a variable name (letters, digits, _ - .)",
                    inner.get(..close).unwrap_or_default()
                )));
            }
            pieces.push(Piece::Var(name.to_string()));
            let used = open + 2 + close + 2;
            offset += used;
            rest = rest.get(used..).unwrap_or_default();
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// The variables the text uses, in order of first use.
    pub fn vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.pieces {
            if let Piece::Var(v) = p {
                if !out.contains(&v.as_str()) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// The text for one recipient; `Err(name)` for the first variable the
    /// recipient has no value for.
    pub fn fill(&self, vars: &BTreeMap<String, String>) -> Result<String, String> {
        self.fill_with(|name| vars.get(name).map(String::as_str))
    }

    /// As [`Template::fill`], with the values looked up by `value` (a CSV
    /// row's columns, without building a map per row).
    pub fn fill_with<'v>(&self, value: impl Fn(&str) -> Option<&'v str>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match value(v) {
                    Some(value) => out.push_str(value),
                    None => return Err(v.clone()),
                },
            }
        }
        Ok(out)
    }
}

/// One recipient of a campaign: the number and the template's values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    pub to: String,
    pub vars: BTreeMap<String, String>,
    /// Where it came from, for errors: `row 3` (CSV: the line) or
    /// `recipient 3` (a list; 1-based).
    pub row: String,
}

/// A recipient CSV read one row at a time, so a campaign of any size holds
/// one row (and the csv crate's small buffer), never the parsed list. A
/// header row names the columns, `to` (any case) is the number and is
/// required; every other column is a variable. An empty line is skipped;
/// a row with another number of fields than the header, or an empty `to`,
/// is an error naming its line.
pub struct CsvRows<R: std::io::Read> {
    reader: csv::Reader<R>,
    names: Vec<String>,
    to_col: usize,
    record: csv::StringRecord,
}

/// One row of a [`CsvRows`], borrowed until the next is read.
#[derive(Debug, Clone, Copy)]
pub struct CsvRow<'a> {
    /// The line it starts on (the header is line 1).
    pub line: u64,
    names: &'a [String],
    to_col: usize,
    record: &'a csv::StringRecord,
}

impl<'a> CsvRow<'a> {
    /// The number (the `to` field).
    pub fn to(&self) -> &'a str {
        self.record.get(self.to_col).unwrap_or_default()
    }

    /// The value of the variable (column) `name`; `None` when no column
    /// (other than `to`) has that name.
    pub fn var(&self, name: &str) -> Option<&'a str> {
        let col = self
            .names
            .iter()
            .enumerate()
            .position(|(i, n)| i != self.to_col && n == name)?;
        self.record.get(col)
    }

    /// The row as an owned [`Recipient`].
    pub fn to_recipient(&self) -> Recipient {
        let mut r = Recipient {
            to: self.to().to_string(),
            row: format!("row {}", self.line),
            ..Recipient::default()
        };
        for (i, (name, value)) in self.names.iter().zip(self.record.iter()).enumerate() {
            if i != self.to_col {
                r.vars.insert(name.clone(), value.to_string());
            }
        }
        r
    }
}

impl<R: std::io::Read> CsvRows<R> {
    /// Reads and checks the header row.
    pub fn new(input: R) -> Result<CsvRows<R>, CampaignError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| CampaignError::Csv(format!("header row: {e}")))?;
        let names: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        if names.iter().all(|n| n.is_empty()) {
            return Err(CampaignError::Csv("no header row".into()));
        }
        let Some(to_col) = names.iter().position(|n| n.eq_ignore_ascii_case("to")) else {
            return Err(CampaignError::Csv(format!(
                "the header row has no \"to\" column (it has {})",
                names.join(", ")
            )));
        };
        let mut seen = std::collections::BTreeSet::new();
        for n in &names {
            if n.is_empty() {
                return Err(CampaignError::Csv(
                    "the header row has an empty column name".into(),
                ));
            }
            if !seen.insert(n.as_str()) {
                return Err(CampaignError::Csv(format!(
                    "the header row names {n:?} twice"
                )));
            }
        }
        Ok(CsvRows {
            reader,
            names,
            to_col,
            record: csv::StringRecord::new(),
        })
    }

    /// The column names, as in the header row.
    pub fn columns(&self) -> &[String] {
        &self.names
    }

    /// The next row that is not empty; `None` at the end. After an error
    /// the caller stops (the rest of the input is not trusted).
    pub fn next_row(&mut self) -> Option<Result<CsvRow<'_>, CampaignError>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Some(Err(CampaignError::Csv(format!("row {line}: {e}"))));
                }
            }
            if self.record.iter().all(|f| f.is_empty()) {
                continue;
            }
            let line = self.record.position().map_or(0, |p| p.line());
            let row = CsvRow {
                line,
                names: &self.names,
                to_col: self.to_col,
                record: &self.record,
            };
            if row.to().is_empty() {
                return Some(Err(CampaignError::Csv(format!(
                    "row {line}: the \"to\" field is empty"
                ))));
            }
            return Some(Ok(row));
        }
    }
}

/// Reads a whole recipient CSV into a list (see [`CsvRows`] for the rules;
/// campaigns stream it instead).
pub fn parse_csv(text: &str) -> Result<Vec<Recipient>, CampaignError> {
    let mut rows = CsvRows::new(text.as_bytes())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next_row() {
        out.push(row?.to_recipient());
    }
    Ok(out)
}

/// A daily send window: open from `start` to `end`, local time in `tz`.
/// `end` before `start` spans midnight (22:00-06:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub tz: Tz,
}

fn parse_hhmm(field: &str, v: &str) -> Result<NaiveTime, CampaignError> {
    NaiveTime::parse_from_str(v.trim(), "%H:%M")
        .map_err(|_| CampaignError::Window(format!("{field} {v:?} is not a time like 09:00")))
}

impl Window {
    /// Parses `HH:MM` times and an IANA zone name; errors name the field.
    pub fn parse(start: &str, end: &str, tz: &str) -> Result<Window, CampaignError> {
        let start_t = parse_hhmm("start", start)?;
        let end_t = parse_hhmm("end", end)?;
        let tz: Tz = tz
            .trim()
            .parse()
            .map_err(|_| CampaignError::Window(format!("tz {tz:?} is not a known time zone")))?;
        if start_t == end_t {
            return Err(CampaignError::Window(format!(
                "start and end are both {start}: the window would be empty"
            )));
        }
        Ok(Window {
            start: start_t,
            end: end_t,
            tz,
        })
    }

    /// Parses the CLI's `09:00-20:00`.
    pub fn parse_range(range: &str, tz: &str) -> Result<Window, CampaignError> {
        let Some((a, b)) = range.split_once('-') else {
            return Err(CampaignError::Window(format!(
                "{range:?} is not a range like 09:00-20:00"
            )));
        };
        Window::parse(a, b, tz)
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let t = now.with_timezone(&self.tz).time();
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// The first moment after `now` at which [`Window::is_open`] may change
    /// (a local `start` or `end`, mapped to UTC; a local time that a DST
    /// jump skips counts from the first minute after the jump).
    pub fn next_change(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(&self.tz).date_naive();
        let mut best: Option<DateTime<Utc>> = None;
        for day in 0..3 {
            let Some(date) = today.checked_add_signed(Duration::days(day)) else {
                continue;
            };
            for t in [self.start, self.end] {
                let local = date.and_time(t);
                let mut at = self.tz.from_local_datetime(&local).earliest();
                // Skipped by a DST jump: the first local minute that exists.
                let mut probe = local;
                for _ in 0..180 {
                    if at.is_some() {
                        break;
                    }
                    probe += Duration::minutes(1);
                    at = self.tz.from_local_datetime(&probe).earliest();
                }
                if let Some(at) = at.map(|a| a.with_timezone(&Utc)) {
                    if at > now && best.is_none_or(|b| at < b) {
                        best = Some(at);
                    }
                }
            }
        }
        best.unwrap_or(now + Duration::hours(1))
    }
}
