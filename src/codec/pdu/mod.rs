//! TS 23.040 TPDUs in 27.005 PDU mode: SMS-DELIVER, SMS-SUBMIT and
//! SMS-STATUS-REPORT (parse and emit), the SMSC prefix, TP-VP, TP-ST and the
//! user data (UDL, UDH, fill bits, alphabets). Also the multipart SUBMIT
//! builder behind `codec::encode_submit`. Not the field formats (address,
//! scts, dcs, udh) nor the alphabets and splitting (gsm7, ucs2, split).

mod deliver;
mod status_report;
mod submit;

pub use deliver::Deliver;
pub use status_report::{Status, StatusClass, StatusReport};
pub(crate) use submit::{count_parts, encode_submit};
pub use submit::{EncodedPart, Submit, SubmitOptions, Validity};

use super::dcs::Alphabet as DcsAlphabet;
use super::{Address, CodecError, Dcs, Reader, Udh};
use crate::codec::{gsm7, ucs2};
use std::fmt;

/// A decoded PDU with the SMSC address of its prefix (`None` for `00` or
/// when the modem gave no prefix).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decoded {
    pub smsc: Option<Address>,
    pub pdu: Pdu,
}

/// The TPDU, by TP-MTI (00 DELIVER, 01 SUBMIT, 10 STATUS-REPORT).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Pdu {
    Deliver(Deliver),
    Submit(Submit),
    StatusReport(StatusReport),
}

/// The user data after the header: text for GSM-7 and UCS-2, raw octets for
/// 8-bit and compressed data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum UserData {
    Text(String),
    Binary(Vec<u8>),
    /// GSM-7 or UCS-2 user data that no text encodes back to the same units
    /// (an escape to an undefined character, a lone surrogate, an odd
    /// trailing octet…): `text` is the best reading (U+FFFD where a unit has
    /// no character), `raw` the septets (GSM-7) or octets (UCS-2) as they
    /// came, which `encode` writes back unchanged.
    Lossy {
        text: String,
        raw: Vec<u8>,
    },
}

impl UserData {
    /// The text, if this is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            UserData::Text(t) | UserData::Lossy { text: t, .. } => Some(t),
            UserData::Binary(_) => None,
        }
    }
}

impl fmt::Display for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserData::Text(t) => write!(f, "{t:?}"),
            UserData::Binary(b) => write!(f, "binary {} octets {}", b.len(), super::to_hex(b)),
            UserData::Lossy { text, raw } => {
                write!(
                    f,
                    "{text:?} (not lossless; raw units {})",
                    super::to_hex(raw)
                )
            }
        }
    }
}

/// Decodes a whole PDU; see `codec::decode`.
pub(crate) fn decode(bytes: &[u8], tpdu_len: Option<usize>) -> Result<Decoded, CodecError> {
    let total = bytes.len();
    let has_prefix = match tpdu_len {
        None => true,
        Some(n) if total > n => {
            let smsc_len = total - n;
            let declared = usize::from(bytes.first().copied().unwrap_or(0));
            if declared + 1 != smsc_len {
                return Err(CodecError::LengthMismatch {
                    tpdu_len: n,
                    total,
                    smsc_len,
                });
            }
            true
        }
        Some(n) if total == n => false,
        Some(n) => {
            return Err(CodecError::LengthMismatch {
                tpdu_len: n,
                total,
                smsc_len: 0,
            })
        }
    };
    let mut r = Reader::new(bytes, 0);
    let smsc = if has_prefix {
        Address::decode_smsc(&mut r)?
    } else {
        None
    };
    let start = r.offset();
    let tpdu = bytes.get(start..).unwrap_or(&[]);
    let mut r = Reader::new(tpdu, start);
    let fo = *tpdu.first().ok_or(CodecError::Truncated {
        field: "TP-MTI",
        offset: start,
    })?;
    let pdu = match fo & 0x03 {
        0 => Pdu::Deliver(Deliver::decode(&mut r)?),
        1 => Pdu::Submit(Submit::decode(&mut r)?),
        2 => Pdu::StatusReport(StatusReport::decode(&mut r)?),
        _ => {
            return Err(CodecError::Invalid {
                field: "TP-MTI",
                offset: start,
                reason: "reserved message type 11".into(),
            })
        }
    };
    Ok(Decoded { smsc, pdu })
}

fn tables_of(udh: Option<&Udh>) -> gsm7::Tables {
    gsm7::Tables {
        locking: udh.and_then(Udh::national_locking).unwrap_or(0),
        single: udh.and_then(Udh::national_single).unwrap_or(0),
    }
}

/// Octets a UDH of `header_octets` (UDHL included) occupies in septets,
/// fill bits included.
fn header_septets(header_octets: usize) -> usize {
    if header_octets == 0 {
        0
    } else {
        (header_octets * 8 + usize::from(gsm7::fill_bits(header_octets))) / 7
    }
}

/// Reads TP-UDL and TP-UD. Decoding stops at TP-UDL: trailing bits are never
/// read as `@`.
pub(crate) fn decode_ud(
    r: &mut Reader<'_>,
    udhi: bool,
    dcs: Dcs,
) -> Result<(Option<Udh>, UserData), CodecError> {
    let udl_offset = r.offset();
    let udl = usize::from(r.u8("TP-UDL")?);
    let septet_mode = dcs.effective_alphabet() == DcsAlphabet::Gsm7 && !dcs.compressed();
    let ud_octets = if septet_mode {
        (udl * 7).div_ceil(8)
    } else {
        udl
    };
    let ud_offset = r.offset();
    let ud = r.take(ud_octets, "TP-UD")?;
    let (udh, header_octets) = if udhi {
        let udhl = usize::from(*ud.first().ok_or(CodecError::Truncated {
            field: "TP-UDHL",
            offset: ud_offset,
        })?);
        let header = ud.get(1..1 + udhl).ok_or(CodecError::Truncated {
            field: "TP-UDH",
            offset: ud_offset + 1,
        })?;
        (Some(Udh::parse(header, ud_offset + 1)?), udhl + 1)
    } else {
        (None, 0)
    };
    let body = ud.get(header_octets..).unwrap_or(&[]);
    let data = if septet_mode {
        let hs = header_septets(header_octets);
        let count = udl.checked_sub(hs).ok_or_else(|| CodecError::Invalid {
            field: "TP-UDL",
            offset: udl_offset,
            reason: format!("{udl} septets cannot hold a {header_octets}-octet header"),
        })?;
        let fill = if header_octets == 0 {
            0
        } else {
            gsm7::fill_bits(header_octets)
        };
        let septets = gsm7::unpack(body, fill, count);
        let tables = tables_of(udh.as_ref());
        let text = gsm7::decode(&septets, tables);
        if gsm7::encode(&text, tables).as_deref() == Some(septets.as_slice()) {
            UserData::Text(text)
        } else {
            UserData::Lossy { text, raw: septets }
        }
    } else if dcs.compressed() || dcs.effective_alphabet() == DcsAlphabet::Eight {
        UserData::Binary(body.to_vec())
    } else {
        match ucs2::decode(body) {
            Ok(t) if ucs2::encode(&t) == body => UserData::Text(t),
            _ => UserData::Lossy {
                text: ucs2::decode_lossy(body),
                raw: body.to_vec(),
            },
        }
    };
    Ok((udh, data))
}

/// Writes TP-UDL and TP-UD for already-encoded septets.
pub(crate) fn encode_ud_septets(out: &mut Vec<u8>, header: &[u8], septets: &[u8]) {
    let fill = if header.is_empty() {
        0
    } else {
        gsm7::fill_bits(header.len())
    };
    let udl = header_septets(header.len()) + septets.len();
    out.push(u8::try_from(udl).unwrap_or(u8::MAX));
    out.extend_from_slice(header);
    out.extend_from_slice(&gsm7::pack(septets, fill));
}

/// Writes TP-UDL and TP-UD for octet data (8-bit, UCS-2).
pub(crate) fn encode_ud_octets(out: &mut Vec<u8>, header: &[u8], octets: &[u8]) {
    let udl = header.len() + octets.len();
    out.push(u8::try_from(udl).unwrap_or(u8::MAX));
    out.extend_from_slice(header);
    out.extend_from_slice(octets);
}

/// Septets for `text`; characters outside the tables become `?`.
fn septets_lossy(text: &str, tables: gsm7::Tables) -> Vec<u8> {
    if let Some(s) = gsm7::encode(text, tables) {
        return s;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        match gsm7::encode(c.encode_utf8(&mut buf), tables) {
            Some(s) => out.extend_from_slice(&s),
            None => out.push(b'?'),
        }
    }
    out
}

/// Writes TP-UDL and TP-UD for a header and user data under `dcs`.
pub(crate) fn encode_ud(out: &mut Vec<u8>, udh: Option<&Udh>, dcs: Dcs, data: &UserData) {
    let header = udh.map(Udh::encode).unwrap_or_default();
    let septet_mode = dcs.effective_alphabet() == DcsAlphabet::Gsm7 && !dcs.compressed();
    match (data, septet_mode) {
        (UserData::Text(t), true) => {
            encode_ud_septets(out, &header, &septets_lossy(t, tables_of(udh)))
        }
        (UserData::Binary(b), true) => {
            let septets: Vec<u8> = b.iter().map(|s| s & 0x7F).collect();
            encode_ud_septets(out, &header, &septets)
        }
        (UserData::Text(t), false) if dcs.effective_alphabet() == DcsAlphabet::Ucs2 => {
            encode_ud_octets(out, &header, &ucs2::encode(t))
        }
        (UserData::Text(t), false) => encode_ud_octets(out, &header, t.as_bytes()),
        (UserData::Binary(b), false) => encode_ud_octets(out, &header, b),
        (UserData::Lossy { raw, .. }, true) => encode_ud_septets(out, &header, raw),
        (UserData::Lossy { raw, .. }, false) => encode_ud_octets(out, &header, raw),
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.smsc {
            Some(a) => writeln!(f, "SMSC: {a} (TOA 0x{:02X})", a.toa())?,
            None => writeln!(f, "SMSC: (from the modem)")?,
        }
        match &self.pdu {
            Pdu::Deliver(d) => write!(f, "{d}"),
            Pdu::Submit(s) => write!(f, "{s}"),
            Pdu::StatusReport(s) => write!(f, "{s}"),
        }
    }
}

fn fmt_udh_and_data(f: &mut fmt::Formatter<'_>, udh: Option<&Udh>, data: &UserData) -> fmt::Result {
    if let Some(u) = udh {
        writeln!(f, "UDH: {u}")?;
    }
    writeln!(f, "Data: {data}")
}

#[cfg(test)]
mod tests;
