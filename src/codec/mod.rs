//! SMS codec: GSM 03.38 alphabets, UCS-2, septet packing, UDH and TS 23.040
//! PDUs. Pure: no I/O, no tokio, no logging, and no panic on any input.
//!
//! This file owns the top-level API the daemon codes against ([`decode`],
//! [`decode_hex`], [`encode_submit`], [`count_parts`]) and the one error type,
//! [`CodecError`]. The PDU structures live in [`pdu`], the fields in
//! [`address`], [`scts`], [`dcs`] and [`udh`]; the alphabets and splitting in
//! `gsm7`, `ucs2`, `split` and `charset` (another owner).

pub mod address;
pub mod charset;
pub mod dcs;
pub mod e164;
pub mod gsm7;
pub mod hex;
pub mod nat_tables;
pub mod options;
pub mod pdu;
pub mod scts;
pub mod split;
pub mod ucs2;
pub mod udh;

pub use address::Address;
pub use dcs::Dcs;
pub use hex::{decode as from_hex, encode as to_hex};
pub use options::MessageOptions;
pub use pdu::{
    Decoded, Deliver, EncodedPart, Pdu, Status, StatusClass, StatusReport, Submit, SubmitOptions,
    UserData, Validity,
};
pub use scts::Scts;
pub use udh::{Concat, InformationElement, Udh};

/// Everything that can go wrong in the codec. Decoding errors name the TPDU
/// field and the octet offset (counted from the first octet given, the SMSC
/// prefix included) where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The PDU ended inside `field`.
    #[error("PDU truncated in {field} at octet {offset}")]
    Truncated { field: &'static str, offset: usize },
    /// `field` holds a value this codec cannot accept.
    #[error("invalid {field} at octet {offset}: {reason}")]
    Invalid {
        field: &'static str,
        offset: usize,
        reason: String,
    },
    /// The input is not an even string of hex digits.
    #[error("invalid hex at character {offset}")]
    Hex { offset: usize },
    /// The `<length>` the modem gave does not fit the PDU.
    #[error(
        "TPDU length {tpdu_len} does not fit a PDU of {total} octets (SMSC prefix {smsc_len})"
    )]
    LengthMismatch {
        tpdu_len: usize,
        total: usize,
        smsc_len: usize,
    },
    /// An address string that cannot be a phone number.
    #[error("invalid address {input:?}: {reason}")]
    Address { input: String, reason: String },
    /// The text cannot be split into at most 255 parts.
    #[error("text cannot be sent: {0}")]
    Split(String),
}

/// Decodes one PDU as a modem hands it over (`+CMGR`, `+CMGL`, `+CMT`,
/// `+CDS`). `tpdu_len` is the `<length>` the modem gave (TPDU octets). With
/// `None` the SMSC prefix is assumed present; with `Some(n)` it is present iff
/// `bytes.len() > n`, and its length octet must then account for the rest.
pub fn decode(bytes: &[u8], tpdu_len: Option<usize>) -> Result<Decoded, CodecError> {
    pdu::decode(bytes, tpdu_len)
}

/// [`decode`] from a hex string (upper or lower case, surrounding white space
/// ignored).
pub fn decode_hex(hex: &str, tpdu_len: Option<usize>) -> Result<Decoded, CodecError> {
    let bytes = from_hex(hex)?;
    decode(&bytes, tpdu_len)
}

/// Encodes `text` for `to` as one SMS-SUBMIT per part, ready for `AT+CMGS`.
pub fn encode_submit(
    to: &Address,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<EncodedPart>, CodecError> {
    pdu::encode_submit(to, text, opts)
}

/// The number of parts [`encode_submit`] would produce, without building PDUs.
pub fn count_parts(text: &str, opts: &SubmitOptions) -> Result<usize, CodecError> {
    pdu::count_parts(text, opts)
}

/// A cursor over untrusted octets: every read names the field it is for, so a
/// short PDU yields an error with the field and the offset.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }
    /// The absolute offset of the next octet.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, CodecError> {
        let b = self
            .buf
            .get(self.pos)
            .copied()
            .ok_or(CodecError::Truncated {
                field,
                offset: self.offset(),
            })?;
        self.pos += 1;
        Ok(b)
    }
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated {
            field,
            offset: self.offset(),
        })?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Truncated {
            field,
            offset: self.offset(),
        })?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn array7(&mut self, field: &'static str) -> Result<[u8; 7], CodecError> {
        let s = self.take(7, field)?;
        let mut a = [0u8; 7];
        a.copy_from_slice(s);
        Ok(a)
    }
}
