//! SMS-STATUS-REPORT (TS 23.040 §9.2.2.3) and TP-ST (§9.2.3.15): parse and
//! emit, the optional TP-PI fields, and the status classes the store and the
//! dispatcher act on.

use super::{decode_ud, encode_ud, fmt_udh_and_data, UserData};
use crate::codec::{Address, CodecError, Dcs, Reader, Scts, Udh};
use std::fmt;

/// TP-ST, kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Status(pub u8);

/// What a TP-ST value means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StatusClass {
    /// 0x00–0x1F: transaction completed (final, ok).
    Delivered,
    /// 0x20–0x3F: temporary error, the SC is still trying (not final).
    Pending,
    /// 0x40–0x5F: permanent error, the SC gave up (final).
    Failed,
    /// 0x60–0x7F: temporary error, the SC is no longer trying (final).
    FailedTemporary,
    /// Any other value: a final failure of unknown kind (raw value kept).
    Unknown,
}

impl Status {
    pub fn class(self) -> StatusClass {
        match self.0 {
            0x00..=0x1F => StatusClass::Delivered,
            0x20..=0x3F => StatusClass::Pending,
            0x40..=0x5F => StatusClass::Failed,
            0x60..=0x7F => StatusClass::FailedTemporary,
            _ => StatusClass::Unknown,
        }
    }

    /// Whether this report closes the message (everything but Pending).
    pub fn is_final(self) -> bool {
        self.class() != StatusClass::Pending
    }

    /// A short English description.
    pub fn description(self) -> &'static str {
        match self.0 {
            0x00 => "received by the recipient",
            0x01 => "forwarded, delivery not confirmed",
            0x02 => "replaced by the service centre",
            0x03..=0x0F => "completed (reserved value)",
            0x10..=0x1F => "completed (SC-specific value)",
            0x20 | 0x60 => "congestion",
            0x21 | 0x61 => "recipient busy",
            0x22 | 0x62 => "no response from recipient",
            0x23 | 0x63 => "service rejected",
            0x24 | 0x44 | 0x64 => "quality of service not available",
            0x25 | 0x65 => "error in recipient",
            0x26..=0x2F | 0x66..=0x6F => "temporary error (reserved value)",
            0x30..=0x3F | 0x70..=0x7F => "temporary error (SC-specific value)",
            0x40 => "remote procedure error",
            0x41 => "incompatible destination",
            0x42 => "connection rejected by recipient",
            0x43 => "not obtainable",
            0x45 => "no interworking available",
            0x46 => "validity period expired",
            0x47 => "deleted by the sender",
            0x48 => "deleted by SC administration",
            0x49 => "message does not exist",
            0x4A..=0x4F => "permanent error (reserved value)",
            0x50..=0x5F => "permanent error (SC-specific value)",
            _ => "unknown status",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "0x{:02X} {:?}: {}",
            self.0,
            self.class(),
            self.description()
        )
    }
}

/// An SMS-STATUS-REPORT TPDU.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusReport {
    /// More messages are waiting (TP-MMS bit 2 = 0).
    pub more_messages: bool,
    /// TP-LP, bit 3.
    pub loop_prevention: bool,
    /// TP-SRQ, bit 5: true when the report is about an SMS-COMMAND.
    pub qualifier: bool,
    /// TP-MR of the message this reports on.
    pub mr: u8,
    pub recipient: Address,
    /// When the SC received the original message.
    pub scts: Scts,
    /// TP-DT: delivery or final attempt.
    pub discharge: Scts,
    pub status: Status,
    /// TP-PI as received; the presence bits 0–2 are recomputed on encode.
    pub pi: Option<u8>,
    pub pid: Option<u8>,
    pub dcs: Option<Dcs>,
    pub udh: Option<Udh>,
    pub data: Option<UserData>,
}

impl StatusReport {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<StatusReport, CodecError> {
        let fo = r.u8("TP-MTI")?;
        let mr = r.u8("TP-MR")?;
        let recipient = Address::decode_tp(r, "TP-RA")?;
        let scts = Scts::from_raw(r.array7("TP-SCTS")?);
        let discharge = Scts::from_raw(r.array7("TP-DT")?);
        let status = Status(r.u8("TP-ST")?);
        let mut rep = StatusReport {
            more_messages: fo & 0x04 == 0,
            loop_prevention: fo & 0x08 != 0,
            qualifier: fo & 0x20 != 0,
            mr,
            recipient,
            scts,
            discharge,
            status,
            pi: None,
            pid: None,
            dcs: None,
            udh: None,
            data: None,
        };
        if r.remaining() == 0 {
            return Ok(rep);
        }
        let pi = r.u8("TP-PI")?;
        rep.pi = Some(pi);
        // The optional fields are best effort: a report whose TP-MR, TP-RA and
        // TP-ST decoded is worth more than its broken tail, so a truncated or
        // malformed PID/DCS/UD leaves them out instead of failing the report.
        let _ = rep.decode_optional(r, fo, pi);
        Ok(rep)
    }

    fn decode_optional(&mut self, r: &mut Reader<'_>, fo: u8, pi: u8) -> Result<(), CodecError> {
        let pid = if pi & 0x01 != 0 {
            Some(r.u8("TP-PID")?)
        } else {
            None
        };
        let dcs = if pi & 0x02 != 0 {
            Some(Dcs(r.u8("TP-DCS")?))
        } else {
            None
        };
        let (udh, data) = if pi & 0x04 != 0 {
            let (udh, data) = decode_ud(r, fo & 0x40 != 0, dcs.unwrap_or(Dcs(0)))?;
            (udh, Some(data))
        } else {
            (None, None)
        };
        self.pid = pid;
        self.dcs = dcs;
        self.udh = udh;
        self.data = data;
        Ok(())
    }

    /// The whole PDU, SMSC prefix first (`00` for `None`).
    pub fn encode(&self, smsc: Option<&Address>) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        Address::encode_smsc(smsc, &mut out);
        let mut fo = 0x02;
        if !self.more_messages {
            fo |= 0x04;
        }
        if self.loop_prevention {
            fo |= 0x08;
        }
        if self.qualifier {
            fo |= 0x20;
        }
        if self.udh.is_some() && self.data.is_some() {
            fo |= 0x40;
        }
        out.push(fo);
        out.push(self.mr);
        self.recipient.encode_tp(&mut out);
        out.extend_from_slice(&self.scts.raw);
        out.extend_from_slice(&self.discharge.raw);
        out.push(self.status.0);
        let present = u8::from(self.pid.is_some())
            | u8::from(self.dcs.is_some()) << 1
            | u8::from(self.data.is_some()) << 2;
        if self.pi.is_none() && present == 0 {
            return out;
        }
        out.push(self.pi.unwrap_or(0) & !0x07 | present);
        if let Some(pid) = self.pid {
            out.push(pid);
        }
        if let Some(dcs) = self.dcs {
            out.push(dcs.0);
        }
        if let Some(data) = &self.data {
            encode_ud(
                &mut out,
                self.udh.as_ref(),
                self.dcs.unwrap_or(Dcs(0)),
                data,
            );
        }
        out
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Type: SMS-STATUS-REPORT")?;
        writeln!(f, "Message reference: {}", self.mr)?;
        writeln!(
            f,
            "Recipient: {} (TOA 0x{:02X})",
            self.recipient,
            self.recipient.toa()
        )?;
        writeln!(f, "Submitted: {}", self.scts)?;
        writeln!(f, "Discharged: {}", self.discharge)?;
        writeln!(f, "Status: {}", self.status)?;
        writeln!(
            f,
            "Flags: more-messages={} loop-prevention={} qualifier={}",
            self.more_messages, self.loop_prevention, self.qualifier
        )?;
        if let Some(pi) = self.pi {
            writeln!(f, "PI: 0x{pi:02X}")?;
        }
        if let Some(pid) = self.pid {
            writeln!(f, "PID: 0x{pid:02X}")?;
        }
        if let Some(dcs) = self.dcs {
            writeln!(f, "DCS: {dcs}")?;
        }
        match &self.data {
            Some(d) => fmt_udh_and_data(f, self.udh.as_ref(), d),
            None => Ok(()),
        }
    }
}
