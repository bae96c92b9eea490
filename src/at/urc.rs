//! Unsolicited result codes: which lines are URCs, and their typed forms
//! (`+CMTI`, `+CDSI`, two-line `+CMT`/`+CDS`, `+CREG`, `+CUSD`, vendor noise).
//! Also the comma-separated field splitter shared by answer parsers.

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{digit1, space0};
use nom::combinator::map_res;
use nom::{IResult, Parser as _};
use serde::Serialize;

/// Network registration as `+CREG`/`+CGREG`/`+CEREG` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// 0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming...
    pub stat: u8,
    pub lac: Option<String>,
    pub ci: Option<String>,
    pub act: Option<u8>,
}

impl Registration {
    /// Home or roaming (including the "SMS only" variants).
    pub fn registered(&self) -> bool {
        matches!(self.stat, 1 | 5 | 6 | 7 | 9 | 10)
    }
}

/// An unsolicited line (or pair of lines) from the modem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Urc {
    /// `+CMTI: <mem>,<index>`: a new SMS was stored.
    Cmti { mem: String, index: u32 },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    Cdsi { mem: String, index: u32 },
    /// `+CMT: [<alpha>],<length>` + PDU line: a routed SMS.
    Cmt { length: Option<usize>, data: String },
    /// `+CDS: <length>` + PDU line: a routed status report.
    Cds { length: Option<usize>, data: String },
    /// Text mode `+CMT: <oa>,[<alpha>],<scts>[,...]` + text line: `head` is
    /// the header after the prefix (read with `at::text::parse_cmt_text`).
    CmtText { head: String, data: String },
    /// Text mode `+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` (one
    /// line; read with `at::text::parse_cds_text`).
    CdsText(String),
    /// `+CREG`, `+CGREG` or `+CEREG` (`kind` says which).
    Reg { kind: String, reg: Registration },
    /// `+CUSD: <m>[,<str>[,<dcs>]]`.
    Cusd {
        m: u8,
        text: Option<String>,
        dcs: Option<u8>,
    },
    /// Huawei `^RSSI: <rssi>` (same scale as `+CSQ`).
    Rssi(u8),
    /// `RING`, `+CRING`, `+CLIP`: an incoming call.
    Ring(String),
    /// Start-up chatter: `RDY`, `SMS Ready`, `^BOOT`, `+CPIN: READY`, `+QIND`...
    Noise(String),
    /// A line we do not know that arrived with no command in flight.
    Unknown(String),
}

/// Prefixes of URCs every modem may print. Vendor noise is added from the
/// quirks table at run time.
pub const URC_PREFIXES: &[&str] = &[
    "+CMTI:",
    "+CDSI:",
    "+CMT:",
    "+CDS:",
    "+CBM:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CUSD:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CPIN:",
    "+CFUN:",
    "RDY",
    "SMS Ready",
    "Call Ready",
    "PB DONE",
    "^",
    "+QIND:",
    "+QUSIM:",
    "+CIEV:",
    "+CTZV:",
    "+CTZE:",
    "+NITZ:",
    "+PACSP",
];

/// Is this line a URC by its prefix (ignoring what is in flight)?
pub fn is_urc(line: &str, extra: &[String]) -> bool {
    URC_PREFIXES.iter().any(|p| line.starts_with(p))
        || extra.iter().any(|p| line.starts_with(p.as_str()))
}

/// Does this URC header announce a second (PDU or text) line? A text-mode
/// `+CDS:` (more than the one `<length>` field) is a line of its own.
pub fn is_two_line_head(line: &str) -> bool {
    if let Some(rest) = after(line, "+CDS:") {
        return !text_cds(rest);
    }
    line.starts_with("+CMT:") || line.starts_with("+CBM:")
}

/// A `+CDS:` body in text mode: `<fo>,<mr>,...`, not PDU mode's `<length>`.
fn text_cds(rest: &str) -> bool {
    rest.contains(',')
}

/// One field of a comma-separated answer, with quotes removed.
pub fn fields(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// The text after `prefix` (e.g. `"+CSQ:"`), if the line starts with it.
pub fn after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix).map(str::trim)
}

fn number(i: &str) -> IResult<&str, u32> {
    map_res(digit1, str::parse::<u32>).parse(i)
}

/// `+CMTI: "SM",3` style: prefix, quoted memory, index.
fn mem_index<'a>(prefix: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, (String, u32)> {
    move |i: &'a str| {
        let (i, _) = (tag(prefix), space0, tag("\"")).parse(i)?;
        let (i, mem) = take_while1(|c: char| c != '"').parse(i)?;
        let (i, _) = (tag("\""), space0, tag(","), space0).parse(i)?;
        let (i, index) = number(i)?;
        Ok((i, (mem.to_string(), index)))
    }
}

/// Parse a registration answer or URC body (after the colon). Both the URC
/// form `<stat>[,<lac>,<ci>[,<act>]]` and the query form
/// `<n>,<stat>[,...]` are accepted; `query` says which.
pub fn parse_registration(rest: &str, query: bool) -> Option<Registration> {
    let f = fields(rest);
    let f: &[String] = if query { f.get(1..)? } else { &f };
    let stat = f.first()?.parse().ok()?;
    let opt = |i: usize| f.get(i).filter(|s| !s.is_empty()).cloned();
    Some(Registration {
        stat,
        lac: opt(1),
        ci: opt(2),
        act: f.get(3).and_then(|s| s.parse().ok()),
    })
}

/// Parse the body of a `+CUSD:` line.
pub fn parse_cusd(rest: &str) -> Option<Urc> {
    let f = fields(rest);
    let m = f.first()?.parse().ok()?;
    Some(Urc::Cusd {
        m,
        text: f.get(1).cloned(),
        dcs: f.get(2).and_then(|s| s.parse().ok()),
    })
}

/// Classify a one-line URC.
pub fn parse(line: &str) -> Urc {
    if let Ok((_, (mem, index))) = mem_index("+CMTI:")(line) {
        return Urc::Cmti { mem, index };
    }
    if let Ok((_, (mem, index))) = mem_index("+CDSI:")(line) {
        return Urc::Cdsi { mem, index };
    }
    for kind in ["+CREG:", "+CGREG:", "+CEREG:"] {
        if let Some(rest) = after(line, kind) {
            // A URC has stat first; a 2-field `n,stat` form is a query echo.
            let f = fields(rest);
            let query = f.len() == 2 && f.get(1).is_some_and(|s| s.len() == 1);
            if let Some(reg) = parse_registration(rest, query) {
                return Urc::Reg {
                    kind: kind.trim_end_matches(':').to_string(),
                    reg,
                };
            }
        }
    }
    if let Some(rest) = after(line, "+CUSD:") {
        if let Some(u) = parse_cusd(rest) {
            return u;
        }
    }
    if let Some(rest) = after(line, "^RSSI:") {
        if let Ok(v) = rest.parse::<u8>() {
            return Urc::Rssi(v);
        }
    }
    if let Some(rest) = after(line, "+CDS:") {
        if text_cds(rest) {
            return Urc::CdsText(rest.to_string());
        }
    }
    if line == "RING" || line.starts_with("+CRING:") || line.starts_with("+CLIP:") {
        return Urc::Ring(line.to_string());
    }
    Urc::Noise(line.to_string())
}

/// Combine a two-line URC header with its data line.
pub fn two_line(head: &str, data: &str) -> Urc {
    let length_of = |rest: &str| fields(rest).last().and_then(|s| s.parse::<usize>().ok());
    if let Some(rest) = after(head, "+CMT:") {
        // PDU mode: `[<alpha>],<length>`; text mode: `<oa>,[<alpha>],<scts>...`.
        if fields(rest).len() >= 3 {
            return Urc::CmtText {
                head: rest.to_string(),
                data: data.trim().to_string(),
            };
        }
        return Urc::Cmt {
            length: length_of(rest),
            data: data.trim().to_string(),
        };
    }
    if let Some(rest) = after(head, "+CDS:") {
        return Urc::Cds {
            length: length_of(rest),
            data: data.trim().to_string(),
        };
    }
    Urc::Noise(format!("{head} / {data}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urc_table() {
        let reg = |stat, lac: Option<&str>, ci: Option<&str>, act| Registration {
            stat,
            lac: lac.map(str::to_string),
            ci: ci.map(str::to_string),
            act,
        };
        let table: Vec<(&str, Urc)> = vec![
            (
                "+CMTI: \"SM\",3",
                Urc::Cmti {
                    mem: "SM".into(),
                    index: 3,
                },
            ),
            (
                "+CMTI: \"ME\", 0",
                Urc::Cmti {
                    mem: "ME".into(),
                    index: 0,
                },
            ),
            (
                "+CDSI: \"SR\",12",
                Urc::Cdsi {
                    mem: "SR".into(),
                    index: 12,
                },
            ),
            (
                "+CREG: 1",
                Urc::Reg {
                    kind: "+CREG".into(),
                    reg: reg(1, None, None, None),
                },
            ),
            (
                "+CREG: 5,\"00C3\",\"0000A1B2\",7",
                Urc::Reg {
                    kind: "+CREG".into(),
                    reg: reg(5, Some("00C3"), Some("0000A1B2"), Some(7)),
                },
            ),
            (
                "+CUSD: 0,\"Balance 5.00\",15",
                Urc::Cusd {
                    m: 0,
                    text: Some("Balance 5.00".into()),
                    dcs: Some(15),
                },
            ),
            (
                "+CUSD: 2",
                Urc::Cusd {
                    m: 2,
                    text: None,
                    dcs: None,
                },
            ),
            ("^RSSI:17", Urc::Rssi(17)),
            ("^RSSI: 99", Urc::Rssi(99)),
            ("RING", Urc::Ring("RING".into())),
            (
                "^BOOT:20657725,0,0,0,72",
                Urc::Noise("^BOOT:20657725,0,0,0,72".into()),
            ),
            ("+QIND: SMS DONE", Urc::Noise("+QIND: SMS DONE".into())),
            ("+CMTI: SM,x", Urc::Noise("+CMTI: SM,x".into())),
            (
                "+CDS: 6,238,\"+8613918186089\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:15:05+04\",0",
                Urc::CdsText("6,238,\"+8613918186089\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:15:05+04\",0".into()),
            ),
        ];
        assert!(!table.is_empty());
        fn check(line: &str, want: &Urc) {
            assert_eq!(&parse(line), want, "{line:?}");
        }
        for (l, w) in &table {
            check(l, w);
        }
    }

    #[test]
    fn two_line_forms() {
        assert!(is_two_line_head("+CDS: 25"));
        assert!(!is_two_line_head("+CDS: 6,43,\"+1555\",145,\"a\",\"b\",0"));
        assert!(is_two_line_head(
            "+CMT: \"+1555\",,\"24/03/05,09:15:00+04\""
        ));
        assert_eq!(
            two_line("+CMT: ,24", "0791AA"),
            Urc::Cmt {
                length: Some(24),
                data: "0791AA".into()
            }
        );
        assert_eq!(
            two_line("+CMT: \"Alice\",24", "0791AA"),
            Urc::Cmt {
                length: Some(24),
                data: "0791AA".into()
            }
        );
        // Wavecom, CSDH=1 (the manual's transcript).
        assert_eq!(
            two_line(
                "+CMT: \"+8613501154105\",,\"01/09/12,18:04:09+32\",145,4,0,0,\"+8613800100500\",145,3",
                "AAA"
            ),
            Urc::CmtText {
                head: "\"+8613501154105\",,\"01/09/12,18:04:09+32\",145,4,0,0,\"+8613800100500\",145,3".into(),
                data: "AAA".into()
            }
        );
    }

    #[test]
    fn fields_table() {
        let table: &[(&str, &[&str])] = &[
            ("1,2", &["1", "2"]),
            ("\"a,b\",3", &["a,b", "3"]),
            ("0,,39", &["0", "", "39"]),
            ("", &[""]),
        ];
        assert!(!table.is_empty());
        fn check(input: &str, want: &[&str]) {
            assert_eq!(fields(input), want, "{input:?}");
        }
        for (i, w) in table {
            check(i, w);
        }
    }
}
