//! SMS-SUBMIT (TS 23.040 §9.2.2.2): parse and emit, TP-VP (relative,
//! absolute, enhanced; durations), and the multipart builder behind
//! `codec::encode_submit` / `codec::count_parts`.

use super::{
    decode_ud, encode_ud, encode_ud_octets, encode_ud_septets, fmt_udh_and_data, UserData,
};
use crate::codec::split;
use crate::codec::udh::{Concat, IEI_NATIONAL_LOCKING, IEI_NATIONAL_SINGLE};
use crate::codec::{Address, CodecError, Dcs, InformationElement, Reader, Scts, Udh};
use std::fmt;
use std::time::Duration;

/// TP-VP in one of its three formats, or absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Validity {
    #[default]
    None,
    /// One octet, see [`Validity::relative_duration`].
    Relative(u8),
    Absolute(Scts),
    /// Seven raw octets; the first is the functionality indicator.
    Enhanced([u8; 7]),
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

impl Validity {
    /// The relative VP value whose period is the longest not above `d`,
    /// clamped to 5 minutes (0) … 63 weeks (255).
    pub fn relative_from(d: Duration) -> Validity {
        let secs = d.as_secs();
        let v = (0..=255u8)
            .rev()
            .find(|v| Self::relative_duration(*v).as_secs() <= secs)
            .unwrap_or(0);
        Validity::Relative(v)
    }

    /// The period a relative VP octet stands for (TS 23.040 §9.2.3.12.1).
    pub fn relative_duration(v: u8) -> Duration {
        let v = u64::from(v);
        Duration::from_secs(match v {
            0..=143 => (v + 1) * 5 * MINUTE,
            144..=167 => 12 * HOUR + (v - 143) * 30 * MINUTE,
            168..=196 => (v - 166) * DAY,
            _ => (v - 192) * WEEK,
        })
    }

    fn vpf(&self) -> u8 {
        match self {
            Validity::None => 0x00,
            Validity::Relative(_) => 0x10,
            Validity::Enhanced(_) => 0x08,
            Validity::Absolute(_) => 0x18,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Validity::None => {}
            Validity::Relative(v) => out.push(*v),
            Validity::Absolute(s) => out.extend_from_slice(&s.raw),
            Validity::Enhanced(e) => out.extend_from_slice(e),
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validity::None => f.write_str("none"),
            Validity::Relative(v) => write!(
                f,
                "relative 0x{v:02X} ({} min)",
                Self::relative_duration(*v).as_secs() / 60
            ),
            Validity::Absolute(s) => write!(f, "absolute {s}"),
            Validity::Enhanced(e) => write!(f, "enhanced {}", crate::codec::to_hex(e)),
        }
    }
}

/// An SMS-SUBMIT TPDU.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Submit {
    /// TP-RD, bit 2.
    pub reject_duplicates: bool,
    pub validity: Validity,
    /// TP-SRR, bit 5.
    pub status_report_request: bool,
    /// TP-RP, bit 7.
    pub reply_path: bool,
    /// TP-MR: 0 when sending, the modem assigns it.
    pub mr: u8,
    pub destination: Address,
    pub pid: u8,
    pub dcs: Dcs,
    pub udh: Option<Udh>,
    pub data: UserData,
}

impl Submit {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Submit, CodecError> {
        let fo = r.u8("TP-MTI")?;
        let mr = r.u8("TP-MR")?;
        let destination = Address::decode_tp(r, "TP-DA")?;
        let pid = r.u8("TP-PID")?;
        let dcs = Dcs(r.u8("TP-DCS")?);
        let validity = match (fo >> 3) & 0x03 {
            0 => Validity::None,
            2 => Validity::Relative(r.u8("TP-VP")?),
            1 => Validity::Enhanced(r.array7("TP-VP")?),
            _ => Validity::Absolute(Scts::from_raw(r.array7("TP-VP")?)),
        };
        let (udh, data) = decode_ud(r, fo & 0x40 != 0, dcs)?;
        Ok(Submit {
            reject_duplicates: fo & 0x04 != 0,
            validity,
            status_report_request: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            mr,
            destination,
            pid,
            dcs,
            udh,
            data,
        })
    }

    fn first_octet(&self, udhi: bool) -> u8 {
        let mut fo = 0x01 | self.validity.vpf();
        if self.reject_duplicates {
            fo |= 0x04;
        }
        if self.status_report_request {
            fo |= 0x20;
        }
        if udhi {
            fo |= 0x40;
        }
        if self.reply_path {
            fo |= 0x80;
        }
        fo
    }

    /// FO through TP-VP.
    fn encode_head(&self, out: &mut Vec<u8>, udhi: bool) {
        out.push(self.first_octet(udhi));
        out.push(self.mr);
        self.destination.encode_tp(out);
        out.push(self.pid);
        out.push(self.dcs.0);
        self.validity.encode(out);
    }

    /// The whole PDU, SMSC prefix first (`00` for `None`).
    pub fn encode(&self, smsc: Option<&Address>) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        Address::encode_smsc(smsc, &mut out);
        self.encode_head(&mut out, self.udh.is_some());
        encode_ud(&mut out, self.udh.as_ref(), self.dcs, &self.data);
        out
    }
}

impl fmt::Display for Submit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Type: SMS-SUBMIT")?;
        writeln!(
            f,
            "To: {} (TOA 0x{:02X})",
            self.destination,
            self.destination.toa()
        )?;
        writeln!(f, "Message reference: {}", self.mr)?;
        writeln!(f, "Validity: {}", self.validity)?;
        writeln!(
            f,
            "Flags: reject-duplicates={} status-report-request={} reply-path={}",
            self.reject_duplicates, self.status_report_request, self.reply_path
        )?;
        writeln!(f, "PID: 0x{:02X}", self.pid)?;
        writeln!(f, "DCS: {}", self.dcs)?;
        fmt_udh_and_data(f, self.udh.as_ref(), &self.data)
    }
}

/// How [`crate::codec::encode_submit`] builds its PDUs.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SubmitOptions {
    /// SMSC for the prefix; `None` writes `00` (the modem's `AT+CSCA`).
    pub smsc: Option<Address>,
    pub status_report: bool,
    /// Class 0 (DCS 0x10 / 0x18).
    pub flash: bool,
    pub validity: Validity,
    /// Concatenation reference (the low 8 bits unless `ref16`).
    pub concat_ref: u16,
    pub ref16: bool,
    /// National language identifiers the splitter may use.
    pub languages: Vec<u8>,
    pub force_ucs2: bool,
    pub reject_duplicates: bool,
    pub reply_path: bool,
    pub pid: u8,
}

/// One part, ready for `AT+CMGS=<tpdu_len>` followed by `hex()`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EncodedPart {
    /// The whole PDU, SMSC prefix included.
    pub bytes: Vec<u8>,
    /// TPDU octets: the `AT+CMGS` length, SMSC prefix excluded.
    pub tpdu_len: usize,
    /// 1-based part number.
    pub seq: u8,
    pub total: u8,
}

impl EncodedPart {
    /// Upper-case hex of the whole PDU.
    pub fn hex(&self) -> String {
        crate::codec::to_hex(&self.bytes)
    }
}

fn split_options(opts: &SubmitOptions) -> split::SplitOptions {
    split::SplitOptions {
        languages: opts.languages.clone(),
        force_ucs2: opts.force_ucs2,
        ref16: opts.ref16,
    }
}

fn plan(text: &str, opts: &SubmitOptions) -> Result<split::Plan, CodecError> {
    split::plan(text, &split_options(opts)).map_err(|e| CodecError::Split(e.to_string()))
}

pub(crate) fn count_parts(text: &str, opts: &SubmitOptions) -> Result<usize, CodecError> {
    split::part_count(text, &split_options(opts)).map_err(|e| CodecError::Split(e.to_string()))
}

pub(crate) fn encode_submit(
    to: &Address,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<EncodedPart>, CodecError> {
    let plan = plan(text, opts)?;
    let total = u8::try_from(plan.parts.len())
        .map_err(|_| CodecError::Split(format!("{} parts, at most 255", plan.parts.len())))?;
    let gsm = plan.alphabet == split::Alphabet::Gsm7;
    let dcs = match (gsm, opts.flash) {
        (true, false) => Dcs::GSM7,
        (true, true) => Dcs::FLASH_GSM7,
        (false, false) => Dcs::UCS2,
        (false, true) => Dcs::FLASH_UCS2,
    };
    let head = Submit {
        reject_duplicates: opts.reject_duplicates,
        validity: opts.validity,
        status_report_request: opts.status_report,
        reply_path: opts.reply_path,
        mr: 0,
        destination: to.clone(),
        pid: opts.pid,
        dcs,
        udh: None,
        data: UserData::Binary(Vec::new()),
    };
    let mut parts = Vec::with_capacity(plan.parts.len());
    for (i, body) in plan.parts.iter().enumerate() {
        let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let mut elements = Vec::with_capacity(3);
        if total > 1 {
            elements.push(
                Concat {
                    reference: if opts.ref16 {
                        opts.concat_ref
                    } else {
                        opts.concat_ref & 0xFF
                    },
                    total,
                    seq,
                    ref16: opts.ref16,
                }
                .element(),
            );
        }
        if gsm && plan.tables.single != 0 {
            elements.push(InformationElement {
                iei: IEI_NATIONAL_SINGLE,
                data: vec![plan.tables.single],
            });
        }
        if gsm && plan.tables.locking != 0 {
            elements.push(InformationElement {
                iei: IEI_NATIONAL_LOCKING,
                data: vec![plan.tables.locking],
            });
        }
        let header = if elements.is_empty() {
            Vec::new()
        } else {
            Udh { elements }.encode()
        };
        let mut out = Vec::with_capacity(32 + body.len());
        Address::encode_smsc(opts.smsc.as_ref(), &mut out);
        let prefix = out.len();
        head.encode_head(&mut out, !header.is_empty());
        if gsm {
            encode_ud_septets(&mut out, &header, body);
        } else {
            encode_ud_octets(&mut out, &header, body);
        }
        parts.push(EncodedPart {
            tpdu_len: out.len() - prefix,
            bytes: out,
            seq,
            total,
        });
    }
    Ok(parts)
}
