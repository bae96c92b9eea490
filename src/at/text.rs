//! Text-mode SMS (`AT+CMGF=1`, 3GPP TS 27.005 §3.1 and §4): reading the
//! `+CMGL` / `+CMGR` listings, `+CMT` and `+CDS` URCs a modem prints in text
//! mode, turning each into the DELIVER or STATUS-REPORT PDU the rest of the
//! daemon reads, and turning a SUBMIT PDU into the `AT+CSMP` / `AT+CSCS` /
//! `AT+CMGS` lines that send it in text mode.
//!
//! Owns the text-mode formats only; the PDUs are built and read with
//! `crate::codec`, the character sets with `codec::charset`. Does not decide
//! when a modem is in text mode, nor which messages it may send (`modem`,
//! `dispatch`). Pure: no I/O, and no panic on any input.
//!
//! Formats (with `AT+CSDH=1`; the bracketed tail is absent with `+CSDH=0`),
//! as the SIMCom SIM7500/SIM7600, Quectel UG/EC25, Telit and Wavecom manuals
//! print them:
//! - `+CMGR: <stat>,<oa>,[<alpha>],<scts>[,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>]` + text
//! - `+CMGR: <stat>,<fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` (status report)
//! - `+CMGL: <index>,<stat>,<oa>,[<alpha>],[<scts>][,<tooa>,<length>]` + text
//! - `+CMGL: <index>,<stat>,<fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`
//! - `+CMT: <oa>,[<alpha>],<scts>[,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>]` + text
//! - `+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>`
//!
//! The text is in the `AT+CSCS` character set; in `"UCS2"` it is hex, and so
//! are the addresses. Whatever the character set, a UCS-2 or 8-bit message is
//! shown as hex octets when its `<dcs>` says so (27.005 §3.1, `<data>`).

use super::command::Response;
use super::urc::after;
use super::AtError;
use crate::codec::charset::{self, Cscs};
use crate::codec::dcs::Alphabet;
use crate::codec::{
    self, gsm7, Address, Dcs, Decoded, Deliver, Pdu, Scts, Status, StatusReport, UserData, Validity,
};

/// A received message as a text-mode listing or `+CMT` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDeliver {
    pub oa: String,
    pub tooa: Option<u8>,
    /// `yy/MM/dd,hh:mm:ss±zz`, as printed.
    pub scts: Option<String>,
    pub fo: Option<u8>,
    pub pid: Option<u8>,
    pub dcs: Option<u8>,
    pub sca: Option<String>,
    pub tosca: Option<u8>,
    /// The text line(s), joined with `\n`, still in the modem's character set.
    pub data: String,
}

/// A status report as a text-mode listing or `+CDS` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextReport {
    pub fo: u8,
    pub mr: u8,
    pub ra: String,
    pub tora: Option<u8>,
    pub scts: String,
    pub dt: String,
    pub st: u8,
}

/// One entry of a text-mode listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextEntry {
    Deliver(TextDeliver),
    Report(TextReport),
    /// A stored outgoing message (`STO SENT` / `STO UNSENT`): nothing received.
    Outgoing,
}

/// An entry and its index (`None` for `+CMGR`, whose index is the one asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStored {
    pub index: Option<u32>,
    pub entry: TextEntry,
}

/// Comma-separated fields, each with whether it was quoted.
fn qfields(rest: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            ',' if !quoted => {
                out.push((cur.trim().to_string(), was_quoted));
                cur.clear();
                was_quoted = false;
            }
            _ => cur.push(c),
        }
    }
    out.push((cur.trim().to_string(), was_quoted));
    out
}

fn num<T: std::str::FromStr>(f: &[(String, bool)], i: usize) -> Option<T> {
    f.get(i).and_then(|(v, _)| v.parse().ok())
}

fn text_at(f: &[(String, bool)], i: usize) -> Option<String> {
    f.get(i).map(|(v, _)| v.clone()).filter(|v| !v.is_empty())
}

fn bad(command: &'static str, field: &'static str, line: &str) -> AtError {
    AtError::BadField {
        command,
        field,
        line: line.to_string(),
    }
}

/// `<fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` from field `i` on.
fn report_fields(
    f: &[(String, bool)],
    i: usize,
    command: &'static str,
    line: &str,
) -> Result<TextReport, AtError> {
    let n = |k: usize, field| num::<u8>(f, i + k).ok_or_else(|| bad(command, field, line));
    let s = |k: usize, field| text_at(f, i + k).ok_or_else(|| bad(command, field, line));
    Ok(TextReport {
        fo: n(0, "fo")?,
        mr: n(1, "mr")?,
        ra: text_at(f, i + 2).unwrap_or_default(),
        tora: num(f, i + 3),
        scts: s(4, "scts")?,
        dt: s(5, "dt")?,
        st: n(6, "st")?,
    })
}

/// Is the field at `i` a bare number (a report's `<fo>`) rather than a quoted
/// address?
fn report_at(f: &[(String, bool)], i: usize) -> bool {
    f.get(i)
        .is_some_and(|(v, q)| !*q && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

fn outgoing(stat: &str) -> bool {
    matches!(stat.trim(), "STO SENT" | "STO UNSENT" | "2" | "3")
}

/// The header of a `+CMGL` (`listing`) or `+CMGR` entry, after the prefix.
fn parse_head(
    rest: &str,
    listing: bool,
    data: String,
) -> Result<(Option<u32>, TextEntry), AtError> {
    let command = if listing { "+CMGL" } else { "+CMGR" };
    let f = qfields(rest);
    let (index, at) = if listing {
        let index = num::<u32>(&f, 0).ok_or_else(|| bad(command, "index", rest))?;
        (Some(index), 1)
    } else {
        (None, 0)
    };
    let stat = text_at(&f, at).ok_or_else(|| bad(command, "stat", rest))?;
    if outgoing(&stat) {
        return Ok((index, TextEntry::Outgoing));
    }
    if report_at(&f, at + 1) {
        return Ok((
            index,
            TextEntry::Report(report_fields(&f, at + 1, command, rest)?),
        ));
    }
    let oa = text_at(&f, at + 1).ok_or_else(|| bad(command, "oa", rest))?;
    let scts = text_at(&f, at + 3);
    let d = if listing {
        // `[,<tooa>,<length>]`
        TextDeliver {
            oa,
            tooa: num(&f, at + 4),
            scts,
            fo: None,
            pid: None,
            dcs: None,
            sca: None,
            tosca: None,
            data,
        }
    } else {
        // `[,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>]`
        TextDeliver {
            oa,
            tooa: num(&f, at + 4),
            scts,
            fo: num(&f, at + 5),
            pid: num(&f, at + 6),
            dcs: num(&f, at + 7),
            sca: text_at(&f, at + 8),
            tosca: num(&f, at + 9),
            data,
        }
    };
    Ok((index, TextEntry::Deliver(d)))
}

/// The entries of a text-mode `+CMGL` (`prefix` `"+CMGL:"`) or `+CMGR`
/// (`"+CMGR:"`) answer: each header line with the text lines up to the next
/// header. Malformed entries come back as errors beside the good ones.
pub fn parse_text_listing(r: &Response, prefix: &str) -> (Vec<TextStored>, Vec<AtError>) {
    let listing = prefix == "+CMGL:";
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut it = r.lines.iter().peekable();
    while let Some(line) = it.next() {
        let Some(rest) = after(line, prefix) else {
            continue;
        };
        let mut body = Vec::new();
        while let Some(next) = it.peek() {
            if after(next, prefix).is_some() {
                break;
            }
            body.push(next.as_str());
            it.next();
        }
        match parse_head(rest, listing, body.join("\n")) {
            Ok((index, entry)) => out.push(TextStored { index, entry }),
            Err(e) => errs.push(e),
        }
    }
    (out, errs)
}

/// A text-mode `+CMT:` header (after the prefix) and its text line.
pub fn parse_cmt_text(head: &str, data: &str) -> Result<TextDeliver, AtError> {
    let f = qfields(head);
    Ok(TextDeliver {
        oa: text_at(&f, 0).ok_or_else(|| bad("+CMT", "oa", head))?,
        scts: text_at(&f, 2),
        tooa: num(&f, 3),
        fo: num(&f, 4),
        pid: num(&f, 5),
        dcs: num(&f, 6),
        sca: text_at(&f, 7),
        tosca: num(&f, 8),
        data: data.to_string(),
    })
}

/// A text-mode `+CDS:` line (after the prefix).
pub fn parse_cds_text(rest: &str) -> Result<TextReport, AtError> {
    report_fields(&qfields(rest), 0, "+CDS", rest)
}

/// `yy/MM/dd,hh:mm:ss±zz` (zz in quarter-hours).
pub fn parse_scts(s: &str) -> Option<Scts> {
    let s = s.trim().trim_matches('"');
    let (date, rest) = s.split_once(',')?;
    let mut d = date.split('/').map(|p| p.trim().parse::<u8>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let split = rest.rfind(['+', '-']);
    let (time, tz) = match split {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, "+0"),
    };
    let mut t = time.split(':').map(|p| p.trim().parse::<u8>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    let tz: i8 = tz.trim_start_matches('+').parse().ok()?;
    Some(Scts::new(year, month, day, hour, minute, second, tz))
}

/// An address as printed: in UCS2 it is hex of UTF-16 (when that decodes to a
/// number), otherwise plain.
fn address_text(s: &str, cs: Cscs) -> String {
    if cs == Cscs::Ucs2 {
        if let Ok(t) = charset::decode(s.as_bytes(), Cscs::Ucs2) {
            if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || "+*#".contains(c)) {
                return t;
            }
        }
    }
    s.to_string()
}

fn address(s: &str, to: Option<u8>, cs: Cscs) -> Address {
    let text = address_text(s, cs);
    let digits = text.trim_start_matches('+');
    let numeric = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#');
    match to {
        Some(toa) if numeric && (toa >> 4) & 0x07 != 5 => Address {
            ton: (toa >> 4) & 0x07,
            npi: toa & 0x0F,
            value: digits.to_string(),
        },
        _ => Address::parse(&text).unwrap_or_else(|_| Address::alphanumeric(&text)),
    }
}

/// The user data of a text line in character set `cs` with data coding `dcs`.
fn user_data(data: &str, cs: Cscs, dcs: Option<Dcs>) -> UserData {
    let alphabet = dcs.map(Dcs::effective_alphabet);
    let hex = || codec::from_hex(data).ok();
    match alphabet {
        Some(Alphabet::Eight) => match hex() {
            Some(b) => UserData::Binary(b),
            None => UserData::Text(data.to_string()),
        },
        Some(Alphabet::Ucs2) => {
            let t = charset::decode(data.as_bytes(), Cscs::Ucs2);
            UserData::Text(t.unwrap_or_else(|_| data.to_string()))
        }
        _ => {
            let t = charset::decode(data.as_bytes(), cs);
            UserData::Text(t.unwrap_or_else(|_| data.to_string()))
        }
    }
}

/// A DCS that can carry `data`: the modem's own when it fits, else GSM-7
/// where every character has a GSM-7 code, else UCS-2.
fn fitting_dcs(dcs: Option<Dcs>, data: &UserData) -> Dcs {
    let gsm = |t: &str| gsm7::septet_len(t, gsm7::Tables::DEFAULT).is_some();
    match (dcs, data) {
        (Some(d), UserData::Binary(_)) => d,
        (None, UserData::Binary(_)) => Dcs::EIGHT_BIT,
        (Some(d), UserData::Text(t)) => match d.effective_alphabet() {
            Alphabet::Ucs2 => d,
            Alphabet::Gsm7 | Alphabet::Reserved if gsm(t) => d,
            _ => Dcs::UCS2,
        },
        (None, UserData::Text(t)) if gsm(t) => Dcs::GSM7,
        (None, UserData::Text(_)) => Dcs::UCS2,
        (d, UserData::Lossy { .. }) => d.unwrap_or(Dcs::GSM7),
    }
}

/// A PDU built from a text-mode entry: the bytes (SMSC prefix first) and the
/// TPDU length, as a PDU-mode modem would have given them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPdu {
    pub bytes: Vec<u8>,
    pub tpdu_len: usize,
}

fn built(bytes: Vec<u8>) -> BuiltPdu {
    let sca = bytes.first().map_or(1, |l| usize::from(*l) + 1);
    BuiltPdu {
        tpdu_len: bytes.len().saturating_sub(sca),
        bytes,
    }
}

/// TP-UDL of packed GSM-7 user data `ud` that starts with a header (UDHL
/// first). When one septet fewer fills the same octets and the last septet
/// is 0, it is read as padding, not as an `@`.
fn udh_septets(ud: &[u8]) -> usize {
    let most = ud.len() * 8 / 7;
    if most == 0 || ((most - 1) * 7).div_ceil(8) != ud.len() {
        return most;
    }
    let hdr = ud.first().map_or(0, |l| usize::from(*l) + 1);
    let body = most.saturating_sub(gsm7::udh_septets(hdr));
    let septets = gsm7::unpack(
        ud.get(hdr..).unwrap_or_default(),
        gsm7::fill_bits(hdr),
        body,
    );
    if body > 0 && septets.len() == body && septets.last() == Some(&0) {
        most - 1
    } else {
        most
    }
}

impl TextDeliver {
    /// The SMS-DELIVER this entry shows; `cs` is the `AT+CSCS` it was read in.
    pub fn to_pdu(&self, cs: Cscs) -> Result<BuiltPdu, AtError> {
        let scts = match &self.scts {
            Some(s) => parse_scts(s).ok_or_else(|| bad("text SMS", "scts", s))?,
            None => Scts::new(0, 1, 1, 0, 0, 0, 0),
        };
        if let Some(fo) = self.fo.filter(|fo| fo & 0x40 != 0) {
            return self.with_header(fo, scts, cs);
        }
        let dcs = self.dcs.map(Dcs);
        let data = user_data(&self.data, cs, dcs);
        let dcs = fitting_dcs(dcs, &data);
        let fo = self.fo.unwrap_or(0x04);
        let smsc = self
            .sca
            .as_deref()
            .map(|s| address(s, self.tosca, cs))
            .filter(|a| !a.value.is_empty() && !a.is_alphanumeric());
        let d = Deliver {
            more_messages: fo & 0x04 == 0,
            loop_prevention: fo & 0x08 != 0,
            status_report_indication: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            originator: address(&self.oa, self.tooa, cs),
            pid: self.pid.unwrap_or(0),
            dcs,
            scts,
            // A text-mode line carries no user data header.
            udh: None,
            data,
        };
        Ok(built(d.encode(smsc.as_ref())))
    }
}

impl TextDeliver {
    /// A message with a user data header (TP-UDHI in `<fo>`): 27.005 shows
    /// its whole user data, header included, as hex octets. The TPDU is
    /// rebuilt around them so the header (a concatenation reference, say)
    /// reaches reassembly.
    fn with_header(&self, fo: u8, scts: Scts, cs: Cscs) -> Result<BuiltPdu, AtError> {
        let ud = codec::from_hex(self.data.trim())
            .map_err(|_| bad("text SMS", "hex user data", &self.data))?;
        let dcs = Dcs(self.dcs.unwrap_or(0));
        let udl = match dcs.effective_alphabet() {
            Alphabet::Gsm7 | Alphabet::Reserved if !dcs.compressed() => udh_septets(&ud),
            _ => ud.len(),
        };
        let udl = u8::try_from(udl).map_err(|_| bad("text SMS", "user data length", &self.data))?;
        let mut tpdu = vec![fo & !0x03];
        address(&self.oa, self.tooa, cs).encode_tp(&mut tpdu);
        tpdu.push(self.pid.unwrap_or(0));
        tpdu.push(dcs.0);
        tpdu.extend_from_slice(&scts.raw);
        tpdu.push(udl);
        tpdu.extend_from_slice(&ud);
        // Only what reads back as a DELIVER leaves here.
        match codec::decode(&tpdu, Some(tpdu.len())) {
            Ok(Decoded {
                pdu: Pdu::Deliver(_),
                ..
            }) => {}
            _ => return Err(bad("text SMS", "user data header", &self.data)),
        }
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&tpdu);
        Ok(BuiltPdu {
            tpdu_len: tpdu.len(),
            bytes,
        })
    }
}

impl TextReport {
    /// The SMS-STATUS-REPORT this entry shows.
    pub fn to_pdu(&self, cs: Cscs) -> Result<BuiltPdu, AtError> {
        let time = |s: &str, field| parse_scts(s).ok_or_else(|| bad("status report", field, s));
        let r = StatusReport {
            more_messages: self.fo & 0x04 == 0,
            loop_prevention: self.fo & 0x08 != 0,
            qualifier: self.fo & 0x20 != 0,
            mr: self.mr,
            recipient: address(&self.ra, self.tora, cs),
            scts: time(&self.scts, "scts")?,
            discharge: time(&self.dt, "dt")?,
            status: Status(self.st),
            pi: None,
            pid: None,
            dcs: None,
            udh: None,
            data: None,
        };
        Ok(built(r.encode(None)))
    }
}

/// How to send one SUBMIT in text mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSubmit {
    pub fo: u8,
    pub vp: u8,
    pub pid: u8,
    pub dcs: u8,
    pub cscs: Cscs,
    /// The destination, in `cscs`.
    pub da: String,
    pub toda: u8,
    /// The text, in `cscs`, written after the prompt.
    pub text: String,
}

/// Why a SUBMIT cannot go out in text mode (another SIM in PDU mode can).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextSendError {
    #[error("not an SMS-SUBMIT PDU: {0}")]
    NotSubmit(String),
    #[error(
        "text mode cannot send a message with a user data header (long or national-table messages)"
    )]
    Udh,
    #[error("text mode cannot send 8-bit data")]
    EightBit,
    #[error("text mode cannot send an absolute or enhanced validity period")]
    Validity,
    #[error("text mode cannot write this text: {0}")]
    Charset(String),
}

impl TextSubmit {
    /// Plan the text-mode send of a SUBMIT PDU (SMSC prefix included,
    /// `tpdu_len` as for `AT+CMGS`). GSM-7 text goes in the `"GSM"` character
    /// set, or in `"UCS2"` when it holds characters the `"GSM"` line cannot
    /// carry (`@`, escape-table ones: the modem converts back to GSM-7 as the
    /// `<dcs>` says); UCS-2 text in `"UCS2"`.
    pub fn from_pdu(pdu: &[u8], tpdu_len: Option<usize>) -> Result<TextSubmit, TextSendError> {
        let s = match codec::decode(pdu, tpdu_len) {
            Ok(Decoded {
                pdu: Pdu::Submit(s),
                ..
            }) => s,
            Ok(_) => return Err(TextSendError::NotSubmit("another PDU type".into())),
            Err(e) => return Err(TextSendError::NotSubmit(e.to_string())),
        };
        if s.udh.is_some() {
            return Err(TextSendError::Udh);
        }
        let vp = match s.validity {
            Validity::None => 167,
            Validity::Relative(v) => v,
            Validity::Absolute(_) | Validity::Enhanced(_) => return Err(TextSendError::Validity),
        };
        let sca = match tpdu_len {
            Some(n) => pdu.len().saturating_sub(n),
            None => pdu.first().map_or(1, |l| usize::from(*l) + 1),
        };
        let fo = pdu
            .get(sca)
            .copied()
            .ok_or_else(|| TextSendError::NotSubmit("no first octet".into()))?;
        let text = match &s.data {
            UserData::Text(t) => t.clone(),
            UserData::Binary(_) => return Err(TextSendError::EightBit),
            UserData::Lossy { .. } => {
                return Err(TextSendError::Charset(
                    "user data that no text gives back unchanged".into(),
                ))
            }
        };
        let cscs = match s.dcs.effective_alphabet() {
            Alphabet::Eight => return Err(TextSendError::EightBit),
            Alphabet::Ucs2 => Cscs::Ucs2,
            _ if charset::encode(&text, Cscs::Gsm).is_ok() => Cscs::Gsm,
            _ => Cscs::Ucs2,
        };
        let enc = |t: &str| {
            charset::encode(t, cscs)
                .map_err(|e| TextSendError::Charset(e.to_string()))
                .and_then(|b| {
                    String::from_utf8(b).map_err(|e| TextSendError::Charset(e.to_string()))
                })
        };
        Ok(TextSubmit {
            fo,
            vp,
            pid: s.pid,
            dcs: s.dcs.0,
            cscs,
            da: enc(&s.destination.to_string())?,
            toda: s.destination.toa(),
            text: enc(&text)?,
        })
    }

    /// `AT+CSMP=<fo>,<vp>,<pid>,<dcs>`.
    pub fn csmp_line(&self) -> String {
        format!("AT+CSMP={},{},{},{}", self.fo, self.vp, self.pid, self.dcs)
    }
}

/// `AT+CSCS="<cs>"`.
pub fn cscs_line(cs: Cscs) -> String {
    format!("AT+CSCS=\"{cs}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::at::Final;
    use crate::codec::{Pdu, SubmitOptions};

    fn resp(lines: &[&str]) -> Response {
        Response {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            result: Final::Ok,
        }
    }

    fn decoded(p: &BuiltPdu) -> Pdu {
        codec::decode(&p.bytes, Some(p.tpdu_len)).unwrap().pdu
    }

    /// Listings from the manuals and from real modems' transcripts, read,
    /// rebuilt as PDUs and decoded again: (answer lines, prefix, charset,
    /// expected index, sender or recipient, text or status).
    #[test]
    fn listings_become_pdus() {
        type Case<'a> = (&'a [&'a str], &'a str, Cscs, Option<u32>, &'a str, &'a str);
        let table: &[Case] = &[
            // Wavecom, CSDH=1 (`AAA` from +8613501154105).
            (
                &[
                    "+CMGR: \"REC UNREAD\",\"+8613501154105\",,\"01/09/12,18:04:09+32\",145,4,0,0,\"+8613800100500\",145,3",
                    "AAA",
                ],
                "+CMGR:",
                Cscs::Gsm,
                None,
                "+8613501154105",
                "AAA",
            ),
            // Same, CSDH=0, a space after the comma as that firmware prints it.
            (
                &["+CMGR: \"REC READ\", \"+8613501154105\",,\"01/09/13,11:02:06+32\"", "AAA"],
                "+CMGR:",
                Cscs::Gsm,
                None,
                "+8613501154105",
                "AAA",
            ),
            // SIMCom SIM800, CSDH=1, UCS-2 message: hex octets per its <dcs> 8.
            (
                &[
                    "+CMGR: \"REC UNREAD\",\"+8613918186089\",\"\",\"02/01/30,20:40:31+00\",145,4,0,8,\"+8613800210500\",145,4",
                    "4F60597D",
                ],
                "+CMGR:",
                Cscs::Gsm,
                None,
                "+8613918186089",
                "你好",
            ),
            // Quectel EC25 in "UCS2": address and text are hex.
            (
                &[
                    "+CMGL: 1,\"REC READ\",\"002B00310035003500350030003000300030003000300031\",\"\",\"24/03/05,09:15:00+04\",145,5",
                    "00480065006C006C006F",
                ],
                "+CMGL:",
                Cscs::Ucs2,
                Some(1),
                "+15550000001",
                "Hello",
            ),
            // Huawei E173 listing from 0, CSDH=0, two text lines.
            (
                &[
                    "+CMGL: 0,\"REC UNREAD\",\"+447700900123\",,\"24/03/05,09:15:00+00\"",
                    "line one",
                    "line two",
                ],
                "+CMGL:",
                Cscs::Gsm,
                Some(0),
                "+447700900123",
                "line one\nline two",
            ),
            // An alphanumeric sender.
            (
                &["+CMGL: 3,\"REC READ\",\"Vodafone\",,\"24/03/05,09:15:00+04\",208,4", "Hi"],
                "+CMGL:",
                Cscs::Gsm,
                Some(3),
                "Vodafone",
                "Hi",
            ),
            // Status reports: SIMCom/Quectel form, then Telit's empty <ra>.
            (
                &["+CMGR: \"REC UNREAD\",6,238,\"+8613918186089\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:15:05+04\",0"],
                "+CMGR:",
                Cscs::Gsm,
                None,
                "+8613918186089",
                "0",
            ),
            (
                &["+CMGL: 2,\"REC READ\",6,17,,,\"24/03/05,09:15:00+04\",\"24/03/05,09:16:00+04\",70"],
                "+CMGL:",
                Cscs::Gsm,
                Some(2),
                "",
                "70",
            ),
        ];
        assert!(!table.is_empty());
        fn check(
            lines: &[&str],
            prefix: &str,
            cs: Cscs,
            index: Option<u32>,
            who: &str,
            what: &str,
        ) {
            let (ok, bad) = parse_text_listing(&resp(lines), prefix);
            assert!(bad.is_empty(), "{lines:?}: {bad:?}");
            let [e] = ok.as_slice() else {
                panic!("{lines:?}: {ok:?}")
            };
            assert_eq!(e.index, index, "{lines:?}");
            match &e.entry {
                TextEntry::Deliver(d) => match decoded(&d.to_pdu(cs).unwrap()) {
                    Pdu::Deliver(p) => {
                        assert_eq!(p.originator.to_string(), who, "{lines:?}");
                        assert_eq!(p.data.text(), Some(what), "{lines:?}");
                    }
                    other => panic!("{other:?}"),
                },
                TextEntry::Report(r) => match decoded(&r.to_pdu(cs).unwrap()) {
                    Pdu::StatusReport(p) => {
                        assert_eq!(p.recipient.to_string(), who, "{lines:?}");
                        assert_eq!(p.status.0.to_string(), what, "{lines:?}");
                        assert_eq!(p.mr, r.mr);
                    }
                    other => panic!("{other:?}"),
                },
                TextEntry::Outgoing => panic!("{lines:?}"),
            }
        }
        for (l, p, cs, i, w, t) in table {
            check(l, p, *cs, *i, w, t);
        }
    }

    /// The parts of a long message, as `+CMGR` shows them with `AT+CSDH=1`:
    /// `<fo>` with TP-UDHI and the user data (header included) in hex.
    #[test]
    fn parts_with_a_header_keep_it() {
        let to = Address::parse("+15550000001").unwrap();
        // (text, parts, what reads back)
        let table: &[(String, usize, String)] = &[
            ("long message ".repeat(20), 2, "long message ".repeat(20)),
            ("x".repeat(153 + 146), 2, "x".repeat(153 + 146)),
            ("Ж".repeat(100), 2, "Ж".repeat(100)),
            // An `@` (septet 0) that ends where padding could: read as padding.
            ("@".repeat(161), 2, "@".repeat(160)),
        ];
        assert!(!table.is_empty());
        for (text, n, want) in table {
            let parts = codec::encode_submit(&to, text, &SubmitOptions::default()).unwrap();
            assert_eq!(parts.len(), *n, "{text}");
            let mut got = String::new();
            for p in &parts {
                let Pdu::Submit(s) = codec::decode(&p.bytes, Some(p.tpdu_len)).unwrap().pdu else {
                    panic!()
                };
                // The DELIVER a network makes of it, then its text-mode face.
                let d = Deliver {
                    more_messages: false,
                    loop_prevention: false,
                    status_report_indication: false,
                    reply_path: false,
                    originator: to.clone(),
                    pid: 0,
                    dcs: s.dcs,
                    scts: Scts::new(24, 3, 5, 9, 15, 0, 4),
                    udh: s.udh.clone(),
                    data: s.data.clone(),
                };
                let tpdu = d.encode(None);
                let tpdu = tpdu.get(1..).unwrap().to_vec();
                let ud_at = 2 + 1 + 6 + 1 + 1 + 7;
                let ud = codec::to_hex(tpdu.get(ud_at + 1..).unwrap());
                let head = format!(
                    "+CMGR: \"REC UNREAD\",\"+15550000001\",,\"24/03/05,09:15:00+01\",145,{},0,{},\"+15559990000\",145,{}",
                    tpdu[0],
                    s.dcs.0,
                    ud.len() / 2
                );
                let (ok, bad) = parse_text_listing(&resp(&[&head, &ud]), "+CMGR:");
                assert!(bad.is_empty(), "{bad:?}");
                let Some(TextEntry::Deliver(t)) = ok.first().map(|e| &e.entry) else {
                    panic!("{ok:?}")
                };
                let Pdu::Deliver(back) = decoded(&t.to_pdu(Cscs::Ucs2).unwrap()) else {
                    panic!()
                };
                assert_eq!(back.udh, d.udh, "{text}");
                got.push_str(back.data.text().unwrap_or_default());
            }
            assert_eq!(&got, want);
        }
    }

    #[test]
    fn listing_of_several_and_broken_entries() {
        let r = resp(&[
            "+CMGL: 1,\"REC READ\",\"+15550001\",,\"24/03/05,09:15:00+04\"",
            "first",
            "+CMGL: 2,\"STO SENT\",\"+15550002\",,",
            "mine",
            "+CMGL: x,\"REC READ\"",
            "+CMGL: 4,\"REC UNREAD\",\"+15550004\",,\"24/03/05,09:15:00+04\"",
            "last",
        ]);
        let (ok, bad) = parse_text_listing(&r, "+CMGL:");
        assert_eq!(bad.len(), 1);
        let idx: Vec<_> = ok.iter().map(|e| e.index).collect();
        assert_eq!(idx, [Some(1), Some(2), Some(4)]);
        assert_eq!(ok.get(1).map(|e| &e.entry), Some(&TextEntry::Outgoing));
    }

    #[test]
    fn urcs() {
        let d = parse_cmt_text(
            "\"+8613501154105\",,\"01/09/12,18:04:09+32\",145,4,0,0,\"+8613800100500\",145,3",
            "AAA",
        )
        .unwrap();
        assert_eq!((d.dcs, d.fo, d.data.as_str()), (Some(0), Some(4), "AAA"));
        let p = d.to_pdu(Cscs::Gsm).unwrap();
        match decoded(&p) {
            Pdu::Deliver(x) => {
                assert_eq!(
                    x.scts.to_datetime().map(|t| t.to_rfc3339()).as_deref(),
                    Some("2001-09-12T18:04:09+08:00")
                )
            }
            other => panic!("{other:?}"),
        }
        let r = parse_cds_text(
            "6,43,\"+15550001\",145,\"24/03/05,09:15:00+04\",\"24/03/05,09:15:09+04\",0",
        )
        .unwrap();
        assert_eq!((r.fo, r.mr, r.st, r.tora), (6, 43, 0, Some(145)));
        assert!(parse_cds_text("6,x").is_err());
        assert!(parse_cmt_text("", "x").is_err());
        assert_eq!(
            parse_scts("24/13/05,99:15:00"),
            Some(Scts::new(24, 13, 5, 99, 15, 0, 0))
        );
        assert_eq!(parse_scts("garbage"), None);
        assert_eq!(
            parse_scts("24/03/05,09:15:00-08").map(|s| s.tz_quarters),
            Some(-8)
        );
    }

    proptest::proptest! {
        /// Whatever a modem prints, reading it never panics.
        #[test]
        fn never_panics(
            head in "[+CMGLR: ]{0,6}[-0-9A-Za-z\",/:+ ]{0,80}",
            body in "[ -~]{0,40}",
            ucs in proptest::bool::ANY,
        ) {
            let cs = if ucs { Cscs::Ucs2 } else { Cscs::Gsm };
            for prefix in ["+CMGL:", "+CMGR:"] {
                let r = resp(&[&format!("{prefix}{head}"), &body]);
                for e in parse_text_listing(&r, prefix).0 {
                    match e.entry {
                        TextEntry::Deliver(d) => drop(d.to_pdu(cs)),
                        TextEntry::Report(r) => drop(r.to_pdu(cs)),
                        TextEntry::Outgoing => {}
                    }
                }
            }
            if let Ok(d) = parse_cmt_text(&head, &body) {
                drop(d.to_pdu(cs));
            }
            if let Ok(r) = parse_cds_text(&head) {
                drop(r.to_pdu(cs));
            }
            drop(TextSubmit::from_pdu(body.as_bytes(), None));
        }
    }

    #[test]
    fn submits_for_text_mode() {
        let to = Address::parse("+15550000001").unwrap();
        let one = |text: &str, opts: SubmitOptions| {
            let parts = codec::encode_submit(&to, text, &opts).unwrap();
            let p = parts.first().unwrap().clone();
            (
                parts.len(),
                TextSubmit::from_pdu(&p.bytes, Some(p.tpdu_len)),
            )
        };
        let (_, s) = one(
            "Hello",
            SubmitOptions {
                status_report: true,
                ..Default::default()
            },
        );
        let s = s.unwrap();
        assert_eq!(
            (s.cscs, s.da.as_str(), s.toda, s.text.as_str(), s.dcs),
            (Cscs::Gsm, "+15550000001", 145, "Hello", 0)
        );
        assert_eq!(s.fo & 0x21, 0x21, "SUBMIT with status report request");
        assert!(s.csmp_line().starts_with(&format!("AT+CSMP={},", s.fo)));
        let (_, s) = one("Привет", SubmitOptions::default());
        let s = s.unwrap();
        assert_eq!((s.cscs, s.dcs), (Cscs::Ucs2, 8));
        assert_eq!(s.text, "041F04400438043204350442");
        assert_eq!(s.da, "002B00310035003500350030003000300030003000300031");
        // `@` and `€` cannot cross a "GSM" line: UCS2 with GSM-7 <dcs>.
        let (_, s) = one("a@b €", SubmitOptions::default());
        let s = s.unwrap();
        assert_eq!((s.cscs, s.dcs), (Cscs::Ucs2, 0));
        let (n, s) = one(&"x".repeat(200), SubmitOptions::default());
        assert!(n > 1);
        assert_eq!(s, Err(TextSendError::Udh));
        assert!(matches!(
            TextSubmit::from_pdu(&[0, 1, 2], None),
            Err(TextSendError::NotSubmit(_))
        ));
        assert_eq!(cscs_line(Cscs::Ucs2), "AT+CSCS=\"UCS2\"");
    }
}
