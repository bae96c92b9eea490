//! Typed AT commands (the line, what answers it, its own timeout) and parsers
//! for their answers. Owns no I/O: the driver writes [`Command::wire`] and
//! collects a [`Response`].

use super::parser::{Final, InFlight};
use super::urc::{after, fields, parse_registration, Registration};
use super::AtError;
use std::time::Duration;

/// A command ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Name used in errors and logs, e.g. `"+CSQ"`.
    pub name: &'static str,
    /// The command line, without the line end.
    pub line: String,
    /// Answer prefixes (`+CSQ:`) and which of them are followed by a data line.
    pub prefixes: Vec<String>,
    pub data_after: Vec<String>,
    /// Written after the `> ` prompt, followed by Ctrl-Z.
    pub payload: Option<String>,
    pub timeout: Duration,
}

/// The answer to a command: its information lines (data lines included) and
/// its final result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub lines: Vec<String>,
    pub result: Final,
}

impl Command {
    /// A command whose answer lines have no common prefix (identity queries).
    pub fn new(name: &'static str, line: impl Into<String>, timeout: Duration) -> Self {
        Self {
            name,
            line: line.into(),
            prefixes: Vec::new(),
            data_after: Vec::new(),
            payload: None,
            timeout,
        }
    }
    /// Lines starting with `prefix` answer this command.
    pub fn expect(mut self, prefix: &str) -> Self {
        self.prefixes.push(prefix.to_string());
        self
    }
    /// Lines starting with `prefix` answer it and are followed by a data line.
    pub fn with_data(mut self, prefix: &str) -> Self {
        self.prefixes.push(prefix.to_string());
        self.data_after.push(prefix.to_string());
        self
    }
    /// Write `payload` + Ctrl-Z at the prompt.
    pub fn with_payload(mut self, payload: impl Into<String>) -> Self {
        self.payload = Some(payload.into());
        self
    }
    /// What the parser needs while this command is in flight.
    pub fn in_flight(&self) -> InFlight {
        InFlight {
            echo: self.line.clone(),
            prefixes: self.prefixes.clone(),
            data_after: self.data_after.clone(),
            payload: self.payload.clone(),
        }
    }
    /// Bytes to write: the line and CR (V.250 S3).
    pub fn wire(&self) -> Vec<u8> {
        let mut v = self.line.clone().into_bytes();
        v.push(b'\r');
        v
    }
    /// Bytes to write at the prompt: payload and Ctrl-Z.
    pub fn payload_wire(&self) -> Option<Vec<u8>> {
        self.payload.as_ref().map(|p| {
            let mut v = p.clone().into_bytes();
            v.push(0x1a);
            v
        })
    }

    // --- the commands the driver uses ---

    pub fn csq(t: Duration) -> Self {
        Self::new("+CSQ", "AT+CSQ", t).expect("+CSQ:")
    }
    pub fn creg_query(t: Duration) -> Self {
        Self::new("+CREG", "AT+CREG?", t).expect("+CREG:")
    }
    pub fn cops_query(t: Duration) -> Self {
        Self::new("+COPS", "AT+COPS?", t).expect("+COPS:")
    }
    pub fn cpin_query(t: Duration) -> Self {
        Self::new("+CPIN", "AT+CPIN?", t).expect("+CPIN:")
    }
    pub fn csca_query(t: Duration) -> Self {
        Self::new("+CSCA", "AT+CSCA?", t).expect("+CSCA:")
    }
    pub fn csms_query(t: Duration) -> Self {
        Self::new("+CSMS", "AT+CSMS?", t).expect("+CSMS:")
    }
    pub fn cpms_query(t: Duration) -> Self {
        Self::new("+CPMS", "AT+CPMS?", t).expect("+CPMS:")
    }
    /// `AT+CPMS="<mem1>"[,"<mem2>","<mem3>"]`.
    pub fn cpms_set(mems: &[&str], t: Duration) -> Self {
        let list: Vec<String> = mems.iter().map(|m| format!("\"{m}\"")).collect();
        Self::new("+CPMS", format!("AT+CPMS={}", list.join(",")), t).expect("+CPMS:")
    }
    /// `AT+CMGS=<tpdu_len>` with the PDU as payload.
    pub fn cmgs_pdu(tpdu_len: usize, hex: &str, t: Duration) -> Self {
        Self::new("+CMGS", format!("AT+CMGS={tpdu_len}"), t)
            .expect("+CMGS:")
            .with_payload(hex)
    }
    /// `AT+CMGS="<da>",<toda>` (text mode) with the text as payload; `da`
    /// and `text` are already in the `AT+CSCS` character set.
    pub fn cmgs_text(da: &str, toda: u8, text: &str, t: Duration) -> Self {
        Self::new("+CMGS", format!("AT+CMGS=\"{da}\",{toda}"), t)
            .expect("+CMGS:")
            .with_payload(text)
    }
    /// `AT+CMGL="ALL"` (text mode).
    pub fn cmgl_all_text(t: Duration) -> Self {
        Self::new("+CMGL", "AT+CMGL=\"ALL\"", t).with_data("+CMGL:")
    }
    /// `AT+CMGL=4` (all, PDU mode).
    pub fn cmgl_all(t: Duration) -> Self {
        Self::new("+CMGL", "AT+CMGL=4", t).with_data("+CMGL:")
    }
    pub fn cmgr(index: u32, t: Duration) -> Self {
        Self::new("+CMGR", format!("AT+CMGR={index}"), t).with_data("+CMGR:")
    }
    pub fn cmgd(index: u32, t: Duration) -> Self {
        Self::new("+CMGD", format!("AT+CMGD={index}"), t)
    }
    pub fn cusd(code: &str, t: Duration) -> Self {
        Self::new("+CUSD", format!("AT+CUSD=1,\"{code}\",15"), t)
    }
}

impl Response {
    /// The first line starting with `prefix`, with the prefix removed.
    pub fn value(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| after(l, prefix))
    }
    /// The first line, for identity queries; a `+CGMI: ` style prefix is dropped.
    pub fn plain(&self) -> Option<String> {
        let l = self.lines.first()?;
        let v = match l.split_once(':') {
            Some((head, rest)) if head.starts_with(['+', '^', '#']) => rest.trim(),
            _ => l.trim(),
        };
        Some(v.trim_matches('"').to_string())
    }
}

/// `+CPIN:` states the driver acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpinState {
    Ready,
    SimPin,
    SimPuk,
    Other(String),
}

pub fn parse_cpin(r: &Response) -> Result<CpinState, AtError> {
    let v = r.value("+CPIN:").ok_or(AtError::Missing {
        command: "+CPIN",
        prefix: "+CPIN:",
    })?;
    Ok(match v.trim_matches('"') {
        "READY" => CpinState::Ready,
        "SIM PIN" => CpinState::SimPin,
        "SIM PUK" => CpinState::SimPuk,
        other => CpinState::Other(other.to_string()),
    })
}

/// `+CSQ: <rssi>,<ber>` → rssi.
pub fn parse_csq(r: &Response) -> Result<u8, AtError> {
    let v = r.value("+CSQ:").ok_or(AtError::Missing {
        command: "+CSQ",
        prefix: "+CSQ:",
    })?;
    fields(v)
        .first()
        .and_then(|s| s.parse().ok())
        .ok_or(AtError::BadField {
            command: "+CSQ",
            field: "rssi",
            line: v.to_string(),
        })
}

/// `+CREG: <n>,<stat>[,<lac>,<ci>[,<act>]]`.
pub fn parse_creg(r: &Response) -> Result<Registration, AtError> {
    let v = r.value("+CREG:").ok_or(AtError::Missing {
        command: "+CREG",
        prefix: "+CREG:",
    })?;
    parse_registration(v, true).ok_or(AtError::BadField {
        command: "+CREG",
        field: "stat",
        line: v.to_string(),
    })
}

/// `+COPS: <mode>[,<format>,<oper>[,<act>]]` → operator.
pub fn parse_cops(r: &Response) -> Option<String> {
    let f = fields(r.value("+COPS:")?);
    f.get(2).filter(|s| !s.is_empty()).cloned()
}

/// `+CSCA: "<sca>",<tosca>` → SMSC number.
pub fn parse_csca(r: &Response) -> Option<String> {
    let f = fields(r.value("+CSCA:")?);
    f.first().filter(|s| !s.is_empty()).cloned()
}

/// `+CSMS: <service>,<mt>,<mo>,<bm>` → whether routed messages need `+CNMA`.
pub fn parse_csms_needs_ack(r: &Response) -> bool {
    r.value("+CSMS:")
        .and_then(|v| fields(v).first().and_then(|s| s.parse::<u8>().ok()))
        .is_some_and(|service| service == 1)
}

/// `+CPMS:` answers: the query form `"SM",3,30,...` or the set form `3,30,...`.
/// Returns the (used, total) of the first memory.
pub fn parse_cpms(r: &Response) -> Result<(u32, u32), AtError> {
    let v = r.value("+CPMS:").ok_or(AtError::Missing {
        command: "+CPMS",
        prefix: "+CPMS:",
    })?;
    let f = fields(v);
    let nums: Vec<u32> = f.iter().filter_map(|s| s.parse().ok()).collect();
    match (nums.first(), nums.get(1)) {
        (Some(u), Some(t)) => Ok((*u, *t)),
        _ => Err(AtError::BadField {
            command: "+CPMS",
            field: "used,total",
            line: v.to_string(),
        }),
    }
}

/// `+CMGS: <mr>[,<scts>]` → TP-MR.
pub fn parse_cmgs(r: &Response) -> Result<u8, AtError> {
    let v = r.value("+CMGS:").ok_or(AtError::Missing {
        command: "+CMGS",
        prefix: "+CMGS:",
    })?;
    fields(v)
        .first()
        .and_then(|s| s.parse::<u32>().ok())
        .and_then(|n| u8::try_from(n & 0xff).ok())
        .ok_or(AtError::BadField {
            command: "+CMGS",
            field: "mr",
            line: v.to_string(),
        })
}

/// A stored PDU from a `+CMGL`/`+CMGR` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPdu {
    /// `None` for `+CMGR` (the index is the one asked for).
    pub index: Option<u32>,
    pub stat: u8,
    pub tpdu_len: Option<usize>,
    pub hex: String,
}

/// Pairs of `+CMGL: <index>,<stat>,[<alpha>],<length>` / PDU lines, or the
/// one `+CMGR: <stat>,[<alpha>],<length>` pair. Malformed entries are
/// returned as errors alongside the good ones.
pub fn parse_stored(r: &Response, prefix: &'static str) -> (Vec<StoredPdu>, Vec<AtError>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut it = r.lines.iter().peekable();
    while let Some(line) = it.next() {
        let Some(rest) = after(line, prefix) else {
            continue;
        };
        let f = fields(rest);
        let has_index = prefix == "+CMGL:";
        let (index, stat) = if has_index {
            (f.first().and_then(|s| s.parse().ok()), f.get(1))
        } else {
            (None, f.first())
        };
        let stat = stat.and_then(|s| s.parse::<u8>().ok());
        let len = f.last().and_then(|s| s.parse::<usize>().ok());
        let data = match it.peek() {
            Some(d) if after(d, prefix).is_none() => it.next().cloned(),
            _ => None,
        };
        match (stat, data, has_index && index.is_none()) {
            (Some(stat), Some(hex), false) => out.push(StoredPdu {
                index,
                stat,
                tpdu_len: len,
                hex,
            }),
            _ => errs.push(AtError::BadField {
                command: if has_index { "+CMGL" } else { "+CMGR" },
                field: "header or PDU",
                line: line.clone(),
            }),
        }
    }
    (out, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(lines: &[&str]) -> Response {
        Response {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            result: Final::Ok,
        }
    }

    #[test]
    fn answers() {
        // (answer lines, parser under test, expected Debug of the result)
        type P = fn(&Response) -> String;
        let table: Vec<(&[&str], P, &str)> = vec![
            (
                &["+CSQ: 17,99"],
                |r| format!("{:?}", parse_csq(r)),
                "Ok(17)",
            ),
            (
                &["+CSQ: x"],
                |r| format!("{:?}", parse_csq(r).is_err()),
                "true",
            ),
            (
                &["+CPIN: READY"],
                |r| format!("{:?}", parse_cpin(r)),
                "Ok(Ready)",
            ),
            (
                &["+CPIN: SIM PIN"],
                |r| format!("{:?}", parse_cpin(r)),
                "Ok(SimPin)",
            ),
            (
                &["+CPIN: SIM PUK"],
                |r| format!("{:?}", parse_cpin(r)),
                "Ok(SimPuk)",
            ),
            (
                &["+CREG: 2,1,\"00C3\",\"A1B2\",7"],
                |r| format!("{:?}", parse_creg(r).map(|g| g.stat)),
                "Ok(1)",
            ),
            (
                &["+COPS: 0,0,\"Vodafone\",7"],
                |r| format!("{:?}", parse_cops(r)),
                "Some(\"Vodafone\")",
            ),
            (
                &["+CSCA: \"+447785016005\",145"],
                |r| format!("{:?}", parse_csca(r)),
                "Some(\"+447785016005\")",
            ),
            (
                &["+CSMS: 1,1,1,1"],
                |r| format!("{:?}", parse_csms_needs_ack(r)),
                "true",
            ),
            (
                &["+CSMS: 0,1,1,1"],
                |r| format!("{:?}", parse_csms_needs_ack(r)),
                "false",
            ),
            (
                &["+CPMS: \"SM\",3,30,\"SM\",3,30,\"SM\",3,30"],
                |r| format!("{:?}", parse_cpms(r)),
                "Ok((3, 30))",
            ),
            (
                &["+CPMS: 30,30,30,30,30,30"],
                |r| format!("{:?}", parse_cpms(r)),
                "Ok((30, 30))",
            ),
            (&["+CMGS: 12"], |r| format!("{:?}", parse_cmgs(r)), "Ok(12)"),
            (&["+CMGS: 256"], |r| format!("{:?}", parse_cmgs(r)), "Ok(0)"),
            (
                &["+CMGS: 7,\"24/01/01,10:00:00+04\""],
                |r| format!("{:?}", parse_cmgs(r)),
                "Ok(7)",
            ),
            (
                &["huawei"],
                |r| format!("{:?}", r.plain()),
                "Some(\"huawei\")",
            ),
            (
                &["+CGMI: \"Quectel\""],
                |r| format!("{:?}", r.plain()),
                "Some(\"Quectel\")",
            ),
        ];
        assert!(!table.is_empty());
        fn check(lines: &[&str], p: P, want: &str) {
            assert_eq!(p(&resp(lines)), want, "{lines:?}");
        }
        for (l, p, w) in &table {
            check(l, *p, w);
        }
    }

    #[test]
    fn cmgl_listing() {
        let r = resp(&[
            "+CMGL: 1,0,,24",
            "0791AA",
            "+CMGL: 0,1,\"x\",5",
            "BB",
            "+CMGL: junk",
            "+CMGL: 3,1,,2",
            "CC",
        ]);
        let (ok, bad) = parse_stored(&r, "+CMGL:");
        assert_eq!(ok.len(), 3);
        assert_eq!(bad.len(), 1);
        assert_eq!(
            ok.first().map(|p| (p.index, p.tpdu_len)),
            Some((Some(1), Some(24)))
        );
        assert_eq!(ok.get(1).map(|p| p.index), Some(Some(0)));
        let r = resp(&["+CMGR: 0,,24", "0791AA"]);
        let (ok, bad) = parse_stored(&r, "+CMGR:");
        assert_eq!((ok.len(), bad.len()), (1, 0));
    }

    #[test]
    fn wire_forms() {
        let c = Command::cmgs_pdu(23, "0011", Duration::from_secs(1));
        assert_eq!(c.wire(), b"AT+CMGS=23\r");
        assert_eq!(c.payload_wire(), Some(b"0011\x1a".to_vec()));
        assert_eq!(
            Command::cpms_set(&["SM", "SM", "SR"], Duration::ZERO).line,
            "AT+CPMS=\"SM\",\"SM\",\"SR\""
        );
    }
}
