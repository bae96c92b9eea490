//! The user data header (TS 23.040 §9.2.3.24): a TLV list of information
//! elements with accessors for concatenation (0x00, 0x08), application ports
//! (0x04, 0x05) and national language shifts (0x24, 0x25). Unknown IEIs are
//! kept as they came. Not the text after the header (pdu).

use super::CodecError;
use std::fmt;

pub const IEI_CONCAT8: u8 = 0x00;
pub const IEI_SPECIAL_SMS: u8 = 0x01;
pub const IEI_PORTS8: u8 = 0x04;
pub const IEI_PORTS16: u8 = 0x05;
pub const IEI_CONCAT16: u8 = 0x08;
pub const IEI_REPLY_ADDRESS: u8 = 0x22;
pub const IEI_NATIONAL_SINGLE: u8 = 0x24;
pub const IEI_NATIONAL_LOCKING: u8 = 0x25;

/// One information element: identifier and data, kept raw.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct InformationElement {
    pub iei: u8,
    pub data: Vec<u8>,
}

/// A user data header: its information elements in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Udh {
    pub elements: Vec<InformationElement>,
}

/// A concatenation element: part `seq` of `total`, message `reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
    /// 16-bit reference (IEI 0x08) rather than 8-bit (IEI 0x00).
    pub ref16: bool,
}

impl Concat {
    /// The information element for this concatenation.
    pub fn element(&self) -> InformationElement {
        if self.ref16 {
            let [hi, lo] = self.reference.to_be_bytes();
            InformationElement {
                iei: IEI_CONCAT16,
                data: vec![hi, lo, self.total, self.seq],
            }
        } else {
            InformationElement {
                iei: IEI_CONCAT8,
                data: vec![self.reference.to_be_bytes()[1], self.total, self.seq],
            }
        }
    }
}

impl Udh {
    /// Parses the header octets after the UDHL octet. `offset` is the
    /// absolute offset of the first of them, for errors.
    pub fn parse(bytes: &[u8], offset: usize) -> Result<Udh, CodecError> {
        let mut elements = Vec::new();
        let mut i = 0usize;
        while let Some(&iei) = bytes.get(i) {
            let len = bytes.get(i + 1).copied().ok_or(CodecError::Truncated {
                field: "TP-UDH information element",
                offset: offset + i,
            })?;
            let start = i + 2;
            let end = start + usize::from(len);
            let data = bytes.get(start..end).ok_or(CodecError::Truncated {
                field: "TP-UDH information element",
                offset: offset + i,
            })?;
            elements.push(InformationElement {
                iei,
                data: data.to_vec(),
            });
            i = end;
        }
        Ok(Udh { elements })
    }

    /// The header octets without the UDHL octet.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        for e in &self.elements {
            let data = e.data.get(..255).unwrap_or(&e.data);
            out.push(e.iei);
            out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(data);
        }
    }

    /// The whole header, UDHL octet first.
    pub fn encode(&self) -> Vec<u8> {
        let mut elements = Vec::with_capacity(self.encoded_len());
        self.encode_body(&mut elements);
        let mut body = Vec::with_capacity(elements.len() + 1);
        body.push(u8::try_from(elements.len()).unwrap_or(u8::MAX));
        body.extend_from_slice(&elements);
        body
    }

    /// Octets of the whole header including UDHL.
    pub fn encoded_len(&self) -> usize {
        1 + self
            .elements
            .iter()
            .map(|e| 2 + e.data.len().min(255))
            .sum::<usize>()
    }

    fn find(&self, iei: u8) -> Option<&[u8]> {
        self.elements
            .iter()
            .find(|e| e.iei == iei)
            .map(|e| e.data.as_slice())
    }

    /// The concatenation element, if any. A sequence number of 0 or above
    /// the total makes the part standalone (`None`).
    pub fn concat(&self) -> Option<Concat> {
        let c = self
            .elements
            .iter()
            .find_map(|e| match (e.iei, e.data.as_slice()) {
                (IEI_CONCAT8, &[r, total, seq]) => Some(Concat {
                    reference: u16::from(r),
                    total,
                    seq,
                    ref16: false,
                }),
                (IEI_CONCAT16, &[hi, lo, total, seq]) => Some(Concat {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                    ref16: true,
                }),
                _ => None,
            })?;
        (c.seq != 0 && c.seq <= c.total).then_some(c)
    }

    /// Application ports (destination, origin), from IEI 0x05 or 0x04.
    pub fn ports(&self) -> Option<(u16, u16)> {
        if let Some(&[a, b, c, d]) = self.find(IEI_PORTS16) {
            return Some((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])));
        }
        if let Some(&[d, o]) = self.find(IEI_PORTS8) {
            return Some((u16::from(d), u16::from(o)));
        }
        None
    }

    /// National language single shift table (IEI 0x24).
    pub fn national_single(&self) -> Option<u8> {
        match self.find(IEI_NATIONAL_SINGLE) {
            Some(&[l]) => Some(l),
            _ => None,
        }
    }

    /// National language locking shift table (IEI 0x25).
    pub fn national_locking(&self) -> Option<u8> {
        match self.find(IEI_NATIONAL_LOCKING) {
            Some(&[l]) => Some(l),
            _ => None,
        }
    }
}

impl fmt::Display for Udh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.elements.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let name = match e.iei {
                IEI_CONCAT8 => "concat8",
                IEI_CONCAT16 => "concat16",
                IEI_PORTS8 => "ports8",
                IEI_PORTS16 => "ports16",
                IEI_SPECIAL_SMS => "special-sms",
                IEI_REPLY_ADDRESS => "reply-address",
                IEI_NATIONAL_SINGLE => "national-single",
                IEI_NATIONAL_LOCKING => "national-locking",
                _ => "iei",
            };
            write!(f, "{name}(0x{:02X}) {}", e.iei, super::to_hex(&e.data))?;
        }
        if let Some(c) = self.concat() {
            write!(f, " [part {}/{} ref {}]", c.seq, c.total, c.reference)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)]
    use super::*;
    use crate::codec::from_hex;

    fn check(hex: &str, concat: Option<(u16, u8, u8, bool)>, ports: Option<(u16, u16)>) {
        let bytes = from_hex(hex).unwrap();
        let udh = Udh::parse(&bytes[1..], 1).unwrap();
        assert_eq!(
            udh.concat().map(|c| (c.reference, c.total, c.seq, c.ref16)),
            concat,
            "{hex}"
        );
        assert_eq!(udh.ports(), ports, "{hex}");
        assert_eq!(udh.encode(), bytes, "{hex}");
        assert_eq!(udh.encoded_len(), bytes.len());
    }

    #[test]
    fn table() {
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, Option<(u16, u8, u8, bool)>, Option<(u16, u16)>)] = &[
            ("050003420201", Some((0x42, 2, 1, false)), None),
            ("06080412340201", Some((0x1234, 2, 1, true)), None),
            ("050003420200", None, None), // seq 0: standalone
            ("050003420203", None, None), // seq > total
            ("0605040B8423F0", None, Some((2948, 9200))),
            ("0404020A0B", None, Some((10, 11))),
            ("0A22080B912143658709F1", None, None), // P7 reply address
            ("037001FF", None, None),               // unknown IEI kept
            ("00", None, None),                     // empty header
        ];
        assert!(!cases.is_empty());
        for (hex, concat, ports) in cases {
            check(hex, *concat, *ports);
        }
    }

    #[test]
    fn national_and_truncation() {
        let udh = Udh::parse(&[0x24, 1, 2, 0x25, 1, 3], 0).unwrap();
        assert_eq!(
            (udh.national_single(), udh.national_locking()),
            (Some(2), Some(3))
        );
        assert_eq!(
            Udh::parse(&[0x00, 3, 1, 2], 10),
            Err(CodecError::Truncated {
                field: "TP-UDH information element",
                offset: 10
            })
        );
        assert_eq!(
            Udh::parse(&[0x00, 3, 1, 2, 1, 0x08], 10),
            Err(CodecError::Truncated {
                field: "TP-UDH information element",
                offset: 15
            })
        );
    }
}
