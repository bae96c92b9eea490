//! SMS-DELIVER (TS 23.040 §9.2.2.1): what a network sends a phone. Parse and
//! emit (the simulator builds network traffic with `encode`).

use super::{decode_ud, encode_ud, fmt_udh_and_data, UserData};
use crate::codec::dcs::Mwi;
use crate::codec::{Address, CodecError, Concat, Dcs, Reader, Scts, Udh};
use std::fmt;

/// An SMS-DELIVER TPDU.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Deliver {
    /// More messages are waiting in the SC (TP-MMS bit 2 = 0).
    pub more_messages: bool,
    /// TP-LP, bit 3.
    pub loop_prevention: bool,
    /// TP-SRI, bit 5: the sender asked for a status report.
    pub status_report_indication: bool,
    /// TP-RP, bit 7.
    pub reply_path: bool,
    pub originator: Address,
    pub pid: u8,
    pub dcs: Dcs,
    pub scts: Scts,
    pub udh: Option<Udh>,
    pub data: UserData,
}

impl Deliver {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Deliver, CodecError> {
        let fo = r.u8("TP-MTI")?;
        let originator = Address::decode_tp(r, "TP-OA")?;
        let pid = r.u8("TP-PID")?;
        let dcs = Dcs(r.u8("TP-DCS")?);
        let scts = Scts::from_raw(r.array7("TP-SCTS")?);
        let (udh, data) = decode_ud(r, fo & 0x40 != 0, dcs)?;
        Ok(Deliver {
            more_messages: fo & 0x04 == 0,
            loop_prevention: fo & 0x08 != 0,
            status_report_indication: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            originator,
            pid,
            dcs,
            scts,
            udh,
            data,
        })
    }

    /// The whole PDU, SMSC prefix first (`00` for `None`).
    pub fn encode(&self, smsc: Option<&Address>) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        Address::encode_smsc(smsc, &mut out);
        let mut fo = 0x00;
        if !self.more_messages {
            fo |= 0x04;
        }
        if self.loop_prevention {
            fo |= 0x08;
        }
        if self.status_report_indication {
            fo |= 0x20;
        }
        if self.udh.is_some() {
            fo |= 0x40;
        }
        if self.reply_path {
            fo |= 0x80;
        }
        out.push(fo);
        self.originator.encode_tp(&mut out);
        out.push(self.pid);
        out.push(self.dcs.0);
        out.extend_from_slice(&self.scts.raw);
        encode_ud(&mut out, self.udh.as_ref(), self.dcs, &self.data);
        out
    }

    /// The concatenation element, when this is one part of several.
    pub fn concat(&self) -> Option<Concat> {
        self.udh.as_ref().and_then(Udh::concat)
    }

    /// Short Message Type 0 (PID 0x40): acknowledge and discard.
    pub fn is_type0(&self) -> bool {
        self.pid == 0x40
    }

    /// Replace Short Message Type 1–7 (PID 0x41–0x47).
    pub fn replace_type(&self) -> Option<u8> {
        (0x41..=0x47).contains(&self.pid).then(|| self.pid - 0x40)
    }

    /// Class 0: display at once.
    pub fn is_flash(&self) -> bool {
        self.dcs.is_flash()
    }

    /// Message waiting indication carried in the DCS.
    pub fn mwi(&self) -> Option<Mwi> {
        self.dcs.mwi()
    }
}

impl fmt::Display for Deliver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Type: SMS-DELIVER")?;
        writeln!(
            f,
            "From: {} (TOA 0x{:02X})",
            self.originator,
            self.originator.toa()
        )?;
        writeln!(f, "Sent: {}", self.scts)?;
        writeln!(
            f,
            "Flags: more-messages={} loop-prevention={} status-report-indication={} reply-path={}",
            self.more_messages,
            self.loop_prevention,
            self.status_report_indication,
            self.reply_path
        )?;
        writeln!(f, "PID: 0x{:02X}", self.pid)?;
        writeln!(f, "DCS: {}", self.dcs)?;
        fmt_udh_and_data(f, self.udh.as_ref(), &self.data)
    }
}
