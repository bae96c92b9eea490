//! TP-DCS, the data coding scheme (TS 23.038 §4): a raw octet with a decoded
//! view (alphabet, class, compression, auto-delete, message waiting). Every
//! octet is accepted and kept; reserved groups read as GSM-7.

use std::fmt;

/// The data coding scheme octet, kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Dcs(pub u8);

/// The alphabet a DCS selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Alphabet {
    Gsm7,
    Eight,
    Ucs2,
    /// Reserved alphabet or coding group; decoded as GSM-7.
    Reserved,
}

/// Message waiting indication type (bits 1–0 of groups 1100–1110).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum MwiKind {
    Voicemail,
    Fax,
    Email,
    Other,
}

/// A message waiting indication carried in the DCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Mwi {
    /// true: indication set; false: cleared (bit 3).
    pub active: bool,
    pub kind: MwiKind,
    /// Group 1101/1110 "store message"; 1100 "discard message".
    pub store: bool,
}

impl Dcs {
    pub const GSM7: Dcs = Dcs(0x00);
    pub const EIGHT_BIT: Dcs = Dcs(0x04);
    pub const UCS2: Dcs = Dcs(0x08);
    pub const FLASH_GSM7: Dcs = Dcs(0x10);
    pub const FLASH_UCS2: Dcs = Dcs(0x18);

    fn group(self) -> u8 {
        self.0 >> 4
    }

    /// The alphabet this DCS selects.
    pub fn alphabet(self) -> Alphabet {
        match self.group() {
            0x0..=0x7 => match (self.0 >> 2) & 0x03 {
                0 => Alphabet::Gsm7,
                1 => Alphabet::Eight,
                2 => Alphabet::Ucs2,
                _ => Alphabet::Reserved,
            },
            0x8..=0xB => Alphabet::Reserved,
            0xC | 0xD => Alphabet::Gsm7,
            0xE => Alphabet::Ucs2,
            _ => {
                if self.0 & 0x04 == 0 {
                    Alphabet::Gsm7
                } else {
                    Alphabet::Eight
                }
            }
        }
    }

    /// The alphabet to decode with: reserved ones read as GSM-7.
    pub fn effective_alphabet(self) -> Alphabet {
        match self.alphabet() {
            Alphabet::Reserved => Alphabet::Gsm7,
            a => a,
        }
    }

    /// The message class 0–3, when the DCS gives one. Class 0 is "flash".
    pub fn class(self) -> Option<u8> {
        match self.group() {
            0x0..=0x7 if self.0 & 0x10 != 0 => Some(self.0 & 0x03),
            0xF => Some(self.0 & 0x03),
            _ => None,
        }
    }

    /// Compressed user data (TS 23.042): kept raw, never decompressed.
    pub fn compressed(self) -> bool {
        self.group() <= 0x7 && self.0 & 0x20 != 0
    }

    /// Group 01xx: "marked for automatic deletion".
    pub fn auto_delete(self) -> bool {
        (0x4..=0x7).contains(&self.group())
    }

    /// The message waiting indication of groups 1100–1110.
    pub fn mwi(self) -> Option<Mwi> {
        let store = match self.group() {
            0xC => false,
            0xD | 0xE => true,
            _ => return None,
        };
        let kind = match self.0 & 0x03 {
            0 => MwiKind::Voicemail,
            1 => MwiKind::Fax,
            2 => MwiKind::Email,
            _ => MwiKind::Other,
        };
        Some(Mwi {
            active: self.0 & 0x08 != 0,
            kind,
            store,
        })
    }

    /// Class 0: shown at once, not stored ("flash SMS").
    pub fn is_flash(self) -> bool {
        self.class() == Some(0)
    }
}

impl fmt::Display for Dcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} {:?}", self.0, self.alphabet())?;
        if let Some(c) = self.class() {
            write!(f, " class {c}")?;
        }
        if self.compressed() {
            f.write_str(" compressed")?;
        }
        if self.auto_delete() {
            f.write_str(" auto-delete")?;
        }
        if let Some(m) = self.mwi() {
            write!(
                f,
                " MWI {:?} {} {}",
                m.kind,
                if m.active { "set" } else { "clear" },
                if m.store { "store" } else { "discard" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)]
    use super::*;

    #[allow(clippy::type_complexity)]
    fn check(dcs: u8, want: (Alphabet, Option<u8>, bool, bool, Option<Mwi>)) {
        let d = Dcs(dcs);
        assert_eq!(
            (
                d.alphabet(),
                d.class(),
                d.compressed(),
                d.auto_delete(),
                d.mwi()
            ),
            want,
            "DCS {dcs:#04x}"
        );
        assert!(!d.to_string().is_empty());
    }

    #[test]
    fn table() {
        use Alphabet::*;
        let mwi = |active, kind, store| {
            Some(Mwi {
                active,
                kind,
                store,
            })
        };
        #[allow(clippy::type_complexity)]
        let cases: &[(u8, (Alphabet, Option<u8>, bool, bool, Option<Mwi>))] = &[
            (0x00, (Gsm7, None, false, false, None)),
            (0x04, (Eight, None, false, false, None)),
            (0x08, (Ucs2, None, false, false, None)),
            (0x0C, (Reserved, None, false, false, None)),
            (0x10, (Gsm7, Some(0), false, false, None)),
            (0x18, (Ucs2, Some(0), false, false, None)),
            (0x11, (Gsm7, Some(1), false, false, None)),
            (0x20, (Gsm7, None, true, false, None)),
            (0x48, (Ucs2, None, false, true, None)),
            (0x80, (Reserved, None, false, false, None)),
            (
                0xC8,
                (
                    Gsm7,
                    None,
                    false,
                    false,
                    mwi(true, MwiKind::Voicemail, false),
                ),
            ),
            (
                0xD1,
                (Gsm7, None, false, false, mwi(false, MwiKind::Fax, true)),
            ),
            (
                0xEA,
                (Ucs2, None, false, false, mwi(true, MwiKind::Email, true)),
            ),
            (0xF0, (Gsm7, Some(0), false, false, None)),
            (0xF4, (Eight, Some(0), false, false, None)),
            (0xF5, (Eight, Some(1), false, false, None)),
        ];
        assert!(!cases.is_empty());
        for (dcs, want) in cases {
            check(*dcs, *want);
        }
        assert!(Dcs(0x10).is_flash() && Dcs(0xF0).is_flash() && !Dcs(0x11).is_flash());
        assert_eq!(Dcs(0x0C).effective_alphabet(), Gsm7);
    }
}
