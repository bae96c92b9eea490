//! The streaming AT parser: push bytes as they come, pull [`Event`]s.
//!
//! Whether a line answers the command in flight or is a URC depends on that
//! command ([`InFlight`]), which the driver sets before writing it. The parser
//! never panics, and every call either returns an event or leaves no complete
//! line, no prompt and at most [`MAX_LINE`] bytes buffered.

use super::errors::{CmeError, CmsError};
use super::urc::{self, Urc};
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{all_consuming, rest, value};
use nom::{IResult, Parser as _};
use serde::Serialize;

/// Longest line kept while waiting for its end; beyond it the bytes are garbage.
pub const MAX_LINE: usize = 4096;

/// A final result code: the end of a command's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Final {
    Ok,
    Error,
    Cme(CmeError),
    Cms(CmsError),
    NoCarrier,
    Busy,
    NoAnswer,
    NoDialtone,
    Connect(String),
}

impl Final {
    pub fn is_ok(&self) -> bool {
        matches!(self, Final::Ok)
    }
}

impl std::fmt::Display for Final {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Final::Ok => write!(f, "OK"),
            Final::Error => write!(f, "ERROR"),
            Final::Cme(e) => write!(f, "+CME ERROR: {} ({})", e.text, e.meaning()),
            Final::Cms(e) => write!(f, "+CMS ERROR: {} ({})", e.text, e.meaning()),
            Final::NoCarrier => write!(f, "NO CARRIER"),
            Final::Busy => write!(f, "BUSY"),
            Final::NoAnswer => write!(f, "NO ANSWER"),
            Final::NoDialtone => write!(f, "NO DIALTONE"),
            Final::Connect(s) => write!(f, "CONNECT{s}"),
        }
    }
}

/// What the parser produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The modem echoed the command (or the payload) back.
    Echo(String),
    /// An information line answering the command in flight.
    Line(String),
    /// The line after a `+CMGL:`/`+CMGR:` header (a PDU or a text body).
    Data(String),
    Final(Final),
    /// `> `: the modem waits for the PDU or text.
    Prompt,
    Urc(Urc),
    /// Bytes that were not a line (binary noise, an overlong partial line).
    Garbage(Vec<u8>),
}

/// What the parser needs to know about the command in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight {
    /// The command line as written (its echo is recognised).
    pub echo: String,
    /// Prefixes of the lines that answer it (e.g. `+CMGS:`): such a line is
    /// the answer even if the same prefix could be a URC.
    pub prefixes: Vec<String>,
    /// Prefixes of header lines followed by one data line (`+CMGL:`).
    pub data_after: Vec<String>,
    /// Text written after the prompt; its echo is recognised.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    None,
    Data,
    UrcHead(String),
}

/// The streaming parser. See the module documentation.
#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
    in_flight: Option<InFlight>,
    pending: Pending,
    extra_urcs: Vec<String>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

fn final_code(i: &str) -> IResult<&str, Final> {
    alt((
        value(Final::Ok, all_consuming(tag("OK"))),
        value(Final::Error, all_consuming(tag("ERROR"))),
        value(Final::NoCarrier, all_consuming(tag("NO CARRIER"))),
        value(Final::Busy, all_consuming(tag("BUSY"))),
        value(Final::NoAnswer, all_consuming(tag("NO ANSWER"))),
        value(Final::NoDialtone, all_consuming(tag("NO DIALTONE"))),
        // Huawei answers unknown commands with these instead of ERROR.
        value(Final::Error, all_consuming(tag("COMMAND NOT SUPPORT"))),
        value(Final::Error, all_consuming(tag("TOO MANY PARAMETERS"))),
        (tag("+CME ERROR:"), rest).map(|(_, r): (&str, &str)| Final::Cme(CmeError::from_raw(r))),
        (tag("+CMS ERROR:"), rest).map(|(_, r): (&str, &str)| Final::Cms(CmsError::from_raw(r))),
        (tag("CONNECT"), rest).map(|(_, r): (&str, &str)| Final::Connect(r.to_string())),
    ))
    .parse(i)
}

/// A final result code, if this whole line is one.
pub fn parse_final(line: &str) -> Option<Final> {
    final_code(line.trim()).ok().map(|(_, f)| f)
}

fn is_line_end(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

impl Parser {
    /// A parser that also treats lines starting with `extra_urcs` as URCs
    /// (vendor noise from the quirks table).
    pub fn new(extra_urcs: Vec<String>) -> Self {
        Self {
            buf: Vec::new(),
            in_flight: None,
            pending: Pending::None,
            extra_urcs,
        }
    }

    /// Append bytes read from the modem.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Set (or clear) the command in flight.
    pub fn set_in_flight(&mut self, f: Option<InFlight>) {
        self.in_flight = f;
        if self.pending == Pending::Data {
            self.pending = Pending::None;
        }
    }

    /// Bytes waiting for a line end.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drop everything buffered (after a timeout or a reopen); returns it.
    pub fn discard_partial(&mut self) -> Vec<u8> {
        self.pending = Pending::None;
        std::mem::take(&mut self.buf)
    }

    /// The next event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let skip = self
                .buf
                .iter()
                .take_while(|b| is_line_end(**b) || **b == 0)
                .count();
            self.buf.drain(..skip);
            if self.buf.is_empty() {
                return None;
            }
            if self.pending == Pending::None && self.buf.starts_with(b"> ") {
                self.buf.drain(..2);
                return Some(Event::Prompt);
            }
            let Some(end) = self.buf.iter().position(|b| is_line_end(*b)) else {
                if self.buf.len() > MAX_LINE {
                    self.pending = Pending::None;
                    return Some(Event::Garbage(std::mem::take(&mut self.buf)));
                }
                // A lone `>` with the command waiting for a prompt: some modems
                // send it without the space.
                if self.buf == b">" && self.in_flight.as_ref().is_some_and(|f| f.payload.is_some())
                {
                    self.buf.clear();
                    return Some(Event::Prompt);
                }
                return None;
            };
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            let body = raw.get(..end).unwrap_or_default();
            // A payload echo ends with Ctrl-Z or ESC.
            let body: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| *b != 0x1a && *b != 0x1b)
                .collect();
            let text = match std::str::from_utf8(&body) {
                Ok(t) => t.trim().to_string(),
                Err(_) if self.pending != Pending::None => {
                    String::from_utf8_lossy(&body).trim().to_string()
                }
                Err(_) => return Some(Event::Garbage(raw)),
            };
            if self.pending == Pending::None && text.chars().any(|c| c.is_control() && c != '\t') {
                return Some(Event::Garbage(raw));
            }
            if text.is_empty() {
                continue;
            }
            if let Some(ev) = self.classify(text) {
                return Some(ev);
            }
        }
    }

    fn classify(&mut self, text: String) -> Option<Event> {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => {}
            Pending::Data => {
                if let Some(f) = parse_final(&text) {
                    return Some(Event::Final(f));
                }
                return Some(Event::Data(text));
            }
            Pending::UrcHead(head) => {
                if let Some(f) = parse_final(&text) {
                    // The data line never came: the header is dropped.
                    return Some(Event::Final(f));
                }
                return Some(Event::Urc(urc::two_line(&head, &text)));
            }
        }
        if let Some(f) = &self.in_flight {
            if text.eq_ignore_ascii_case(f.echo.trim()) {
                return Some(Event::Echo(text));
            }
            if f.payload.as_deref().is_some_and(|p| text == p.trim()) {
                return Some(Event::Echo(text));
            }
        }
        if let Some(f) = parse_final(&text) {
            return Some(Event::Final(f));
        }
        if let Some(f) = &self.in_flight {
            if f.prefixes.iter().any(|p| text.starts_with(p.as_str())) {
                if f.data_after.iter().any(|p| text.starts_with(p.as_str())) {
                    self.pending = Pending::Data;
                }
                return Some(Event::Line(text));
            }
        }
        if urc::is_two_line_head(&text) {
            self.pending = Pending::UrcHead(text);
            return None;
        }
        if urc::is_urc(&text, &self.extra_urcs) {
            return Some(Event::Urc(urc::parse(&text)));
        }
        match &self.in_flight {
            Some(_) => Some(Event::Line(text)),
            None if text.len() >= 2
                && text.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("AT")) =>
            {
                Some(Event::Echo(text))
            }
            None => Some(Event::Urc(Urc::Unknown(text))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmd(echo: &str, prefixes: &[&str], data: &[&str], payload: Option<&str>) -> InFlight {
        InFlight {
            echo: echo.into(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            data_after: data.iter().map(|s| s.to_string()).collect(),
            payload: payload.map(str::to_string),
        }
    }

    fn run(input: &[u8], f: Option<InFlight>) -> Vec<Event> {
        let mut p = Parser::new(vec!["+ZUSIMR:".into()]);
        p.set_in_flight(f);
        p.push(input);
        std::iter::from_fn(|| p.next_event()).collect()
    }

    fn l(s: &str) -> Event {
        Event::Line(s.into())
    }
    fn ok() -> Event {
        Event::Final(Final::Ok)
    }
    fn cmti(i: u32) -> Event {
        Event::Urc(Urc::Cmti {
            mem: "SM".into(),
            index: i,
        })
    }

    #[test]
    fn transcripts() {
        let csq = || Some(cmd("AT+CSQ", &["+CSQ:"], &[], None));
        let cmgs = || Some(cmd("AT+CMGS=23", &["+CMGS:"], &[], Some("0011AB")));
        let cmgl = || Some(cmd("AT+CMGL=4", &["+CMGL:"], &["+CMGL:"], None));
        type Case<'a> = (&'a str, &'a [u8], Option<InFlight>, Vec<Event>);
        let table: Vec<Case> = vec![
            (
                "plain answer",
                b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
                csq(),
                vec![l("+CSQ: 17,99"), ok()],
            ),
            (
                "echo then URC then answer",
                b"AT+CSQ\r\r\n+CMTI: \"SM\",1\r\n\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
                csq(),
                vec![
                    Event::Echo("AT+CSQ".into()),
                    cmti(1),
                    l("+CSQ: 17,99"),
                    ok(),
                ],
            ),
            (
                "prompt, URC between prompt and result",
                b"\r\n> \r\n+CMTI: \"SM\",2\r\n\r\n+CMGS: 7\r\n\r\nOK\r\n",
                cmgs(),
                vec![Event::Prompt, cmti(2), l("+CMGS: 7"), ok()],
            ),
            (
                "payload echo with Ctrl-Z",
                b"> 0011AB\x1a\r\n+CMGS: 8\r\nOK\r\n",
                cmgs(),
                vec![
                    Event::Prompt,
                    Event::Echo("0011AB".into()),
                    l("+CMGS: 8"),
                    ok(),
                ],
            ),
            (
                "URC inside a CMGL listing",
                b"+CMGL: 1,0,,3\r\n0102AA\r\n+CMTI: \"SM\",3\r\n+CMGL: 2,1,,3\r\n0102BB\r\nOK\r\n",
                cmgl(),
                vec![
                    l("+CMGL: 1,0,,3"),
                    Event::Data("0102AA".into()),
                    cmti(3),
                    l("+CMGL: 2,1,,3"),
                    Event::Data("0102BB".into()),
                    ok(),
                ],
            ),
            (
                "two-line +CMT inside an answer",
                b"+CMT: ,24\r\n07911326040000F0\r\n+CSQ: 5,0\r\nOK\r\n",
                csq(),
                vec![
                    Event::Urc(Urc::Cmt {
                        length: Some(24),
                        data: "07911326040000F0".into(),
                    }),
                    l("+CSQ: 5,0"),
                    ok(),
                ],
            ),
            (
                "+CDS while idle",
                b"\r\n+CDS: 25\r\n06000B91\r\n",
                None,
                vec![Event::Urc(Urc::Cds {
                    length: Some(25),
                    data: "06000B91".into(),
                })],
            ),
            (
                "+CDSI is one line, not +CDS",
                b"+CDSI: \"SR\",4\r\n",
                None,
                vec![Event::Urc(Urc::Cdsi {
                    mem: "SR".into(),
                    index: 4,
                })],
            ),
            (
                "CMS verbose",
                b"\r\n+CMS ERROR: SIM busy\r\n",
                cmgs(),
                vec![Event::Final(Final::Cms(CmsError {
                    code: Some(314),
                    text: "SIM busy".into(),
                }))],
            ),
            (
                "CME numeric",
                b"+CME ERROR: 16\r\n",
                csq(),
                vec![Event::Final(Final::Cme(CmeError {
                    code: Some(16),
                    text: "16".into(),
                }))],
            ),
            (
                "vendor noise and garbage",
                b"^RSSI:12\r\n\xff\xfe\r\n+ZUSIMR:2\r\nOK\r\n",
                csq(),
                vec![
                    Event::Urc(Urc::Rssi(12)),
                    Event::Garbage(b"\xff\xfe\r".to_vec()),
                    Event::Urc(Urc::Noise("+ZUSIMR:2".into())),
                    ok(),
                ],
            ),
            (
                "identity line (no prefix) is an answer",
                b"\r\nhuawei\r\n\r\nOK\r\n",
                Some(cmd("AT+CGMI", &[], &[], None)),
                vec![l("huawei"), ok()],
            ),
            (
                "stray line while idle",
                b"hello\r\n",
                None,
                vec![Event::Urc(Urc::Unknown("hello".into()))],
            ),
            ("partial line waits", b"+CSQ: 1", csq(), vec![]),
            (
                "CR-only line ends",
                b"\r+CSQ: 1,2\rOK\r",
                csq(),
                vec![l("+CSQ: 1,2"), ok()],
            ),
            (
                "solicited +CPIN vs URC +CPIN",
                b"+CPIN: SIM PIN\r\nOK\r\n",
                Some(cmd("AT+CPIN?", &["+CPIN:"], &[], None)),
                vec![l("+CPIN: SIM PIN"), ok()],
            ),
            (
                "SIMCom boot while idle",
                b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nSMS Ready\r\n",
                None,
                vec![
                    Event::Urc(Urc::Noise("RDY".into())),
                    Event::Urc(Urc::Noise("+CFUN: 1".into())),
                    Event::Urc(Urc::Noise("+CPIN: READY".into())),
                    Event::Urc(Urc::Noise("SMS Ready".into())),
                ],
            ),
        ];
        assert!(!table.is_empty());
        fn check(name: &str, input: &[u8], f: Option<InFlight>, want: &[Event]) {
            assert_eq!(run(input, f), want, "{name}");
        }
        for (n, i, f, w) in &table {
            check(n, i, f.clone(), w);
        }
    }

    #[test]
    fn byte_at_a_time_matches_whole() {
        let input: &[u8] =
            b"AT+CMGL=4\r\r\n+CMGL: 1,0,,3\r\n0102AA\r\n^RSSI:3\r\n+CMT: ,2\r\nAABB\r\nOK\r\n";
        let f = cmd("AT+CMGL=4", &["+CMGL:"], &["+CMGL:"], None);
        let whole = run(input, Some(f.clone()));
        let mut p = Parser::default();
        p.set_in_flight(Some(f));
        let mut got = Vec::new();
        for b in input {
            p.push(&[*b]);
            got.extend(std::iter::from_fn(|| p.next_event()));
        }
        assert_eq!(got, whole);
    }

    proptest! {
        #[test]
        fn never_panics_and_progresses(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16), flight in any::<bool>()) {
            let mut p = Parser::default();
            if flight {
                p.set_in_flight(Some(cmd("AT+CMGS=5", &["+CMGS:"], &[], Some("AB"))));
            }
            for c in &chunks {
                p.push(c);
                let mut n = 0;
                while let Some(_ev) = p.next_event() {
                    n += 1;
                    prop_assert!(n <= 10_000);
                }
                // No complete line is left behind, and the buffer stays bounded.
                prop_assert!(p.buffered() <= MAX_LINE);
                let rest_has_line = {
                    let skip = p.buf.iter().take_while(|b| is_line_end(**b) || **b == 0).count();
                    p.buf.get(skip..).unwrap_or_default().iter().any(|b| is_line_end(*b))
                };
                prop_assert!(!rest_has_line);
            }
        }

        #[test]
        fn urcs_anywhere_between_listing_entries(
            entries in proptest::collection::vec((0u32..500, "[0-9A-F]{2,40}"), 0..6),
            urc_at in proptest::collection::vec(any::<bool>(), 0..8),
            chunk in 1usize..17,
        ) {
            let mut input = String::from("AT+CMGL=4\r\r\n");
            let mut urcs = 0;
            let mut flags = urc_at.iter().copied().cycle().take(entries.len() + 1);
            for (i, (index, hex)) in entries.iter().enumerate() {
                if flags.next().unwrap_or(false) {
                    input.push_str(&format!("\r\n+CMTI: \"SM\",{i}\r\n"));
                    urcs += 1;
                }
                input.push_str(&format!("\r\n+CMGL: {index},1,,{}\r\n{hex}\r\n", hex.len() / 2));
            }
            if flags.next().unwrap_or(false) {
                input.push_str("\r\n+CDS: 2\r\nAABB\r\n");
                urcs += 1;
            }
            input.push_str("\r\nOK\r\n");
            let mut p = Parser::default();
            p.set_in_flight(Some(cmd("AT+CMGL=4", &["+CMGL:"], &["+CMGL:"], None)));
            let mut got = Vec::new();
            for c in input.as_bytes().chunks(chunk) {
                p.push(c);
                got.extend(std::iter::from_fn(|| p.next_event()));
            }
            let data: Vec<String> = got.iter().filter_map(|e| match e { Event::Data(d) => Some(d.clone()), _ => None }).collect();
            let want: Vec<String> = entries.iter().map(|(_, h)| h.clone()).collect();
            prop_assert_eq!(data, want);
            prop_assert_eq!(got.iter().filter(|e| matches!(e, Event::Urc(_))).count(), urcs);
            prop_assert_eq!(got.last(), Some(&Event::Final(Final::Ok)));
        }

        #[test]
        fn lines_survive_any_split(split in 0usize..60) {
            let input: &[u8] = b"\r\n+CMTI: \"SM\",9\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n";
            let f = cmd("AT+CMGS=5", &["+CMGS:"], &[], Some("AB"));
            let whole = run(input, Some(f.clone()));
            let at = split.min(input.len());
            let mut p = Parser::default();
            p.set_in_flight(Some(f));
            let mut got = Vec::new();
            p.push(input.get(..at).unwrap_or_default());
            got.extend(std::iter::from_fn(|| p.next_event()));
            p.push(input.get(at..).unwrap_or_default());
            got.extend(std::iter::from_fn(|| p.next_event()));
            prop_assert_eq!(got, whole);
        }
    }
}
