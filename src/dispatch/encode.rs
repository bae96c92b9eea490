//! Building a message's SUBMIT PDUs. Owns the daemon-wide encoder settings
//! ([`EncoderSettings`], held in one [`Encoding`] that intake and the
//! dispatcher share and a reload replaces), the options intake records with
//! each message, and the one encode per send. No SQL, no AT, no I/O.
//!
//! Settings that change the part count (`concat_ref16`, the national
//! languages) are recorded in the message's [`MessageOptions`] at intake and
//! the dispatcher encodes with those, so the parts sent are the parts the
//! store counted, whatever a reload changed in between.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::codec::{
    self, address::Address, gsm7::Tables, split, MessageOptions, SubmitOptions, Validity,
};
use crate::store::{PartPdu, ReadyMessage};

/// Daemon-wide encoding settings (from `[dispatch]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderSettings {
    /// TP-VP of a message that asked for none.
    pub default_validity: Duration,
    /// 16-bit concatenation references for new messages.
    pub ref16: bool,
    /// National languages of a message that names none.
    pub languages: Vec<u8>,
    /// SMSC written in the PDU; `None` writes `00` (the SIM's own).
    pub smsc: Option<Address>,
}

impl EncoderSettings {
    /// The options intake records with a message: what the user asked, with
    /// today's defaults for what they did not.
    pub fn record(&self, asked: &MessageOptions) -> MessageOptions {
        let mut o = asked.clone();
        if o.languages.is_empty() {
            o.languages = self.languages.clone();
        }
        if o.ref16.is_none() {
            o.ref16 = Some(self.ref16);
        }
        o
    }

    /// The codec options for one message.
    pub fn submit_options(
        &self,
        status_report: bool,
        flash: bool,
        validity: Option<Duration>,
        concat_ref: u16,
        opts: &MessageOptions,
    ) -> SubmitOptions {
        let ref16 = opts.ref16.unwrap_or(self.ref16);
        SubmitOptions {
            smsc: self.smsc.clone(),
            status_report,
            flash,
            validity: Validity::relative_from(validity.unwrap_or(self.default_validity)),
            concat_ref: if ref16 { concat_ref } else { concat_ref & 0xff },
            ref16,
            languages: opts.languages.clone(),
            force_ucs2: opts.ucs2,
            ..SubmitOptions::default()
        }
    }

    /// Whether a message needs a user data header: more than one part, or a
    /// national shift table. Text-mode modems cannot send those.
    pub fn needs_udh(&self, text: &str, parts: usize, opts: &MessageOptions) -> bool {
        if parts > 1 {
            return true;
        }
        if opts.languages.is_empty() || opts.ucs2 {
            return false;
        }
        let split = split::SplitOptions {
            languages: opts.languages.clone(),
            force_ucs2: opts.ucs2,
            ref16: opts.ref16.unwrap_or(self.ref16),
        };
        split::measure(text, &split).is_ok_and(|m| m.parts > 1 || m.tables != Tables::DEFAULT)
    }

    /// Builds every part of `msg` (split once). The count must be the one
    /// the store recorded at intake; anything else is an error, never parts
    /// silently dropped or added.
    pub fn encode(&self, msg: &ReadyMessage, concat_ref: u16) -> Result<Vec<PartPdu>, String> {
        let to = Address::parse(&msg.to).map_err(|e| format!("destination: {e}"))?;
        let opts = self.submit_options(
            msg.report,
            msg.flash,
            msg.validity,
            concat_ref,
            &msg.options,
        );
        let parts = codec::encode_submit(&to, &msg.text, &opts).map_err(|e| e.to_string())?;
        if parts.is_empty() {
            return Err("no parts".into());
        }
        if !msg.parts.is_empty() && parts.len() != msg.parts.len() {
            return Err(format!(
                "the text encodes to {} parts, {} were counted at intake",
                parts.len(),
                msg.parts.len()
            ));
        }
        parts
            .into_iter()
            .map(|p| {
                Ok(PartPdu {
                    seq: u32::from(p.seq),
                    tpdu_len: u32::try_from(p.tpdu_len).map_err(|_| "PDU too long")?,
                    pdu: p.bytes,
                })
            })
            .collect()
    }
}

/// The one place the encoder settings live; cheap to clone. Intake and the
/// dispatcher read it, a reload replaces it.
#[derive(Debug, Clone)]
pub struct Encoding(Arc<RwLock<Arc<EncoderSettings>>>);

impl Encoding {
    pub fn new(settings: EncoderSettings) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(settings))))
    }

    /// The settings in force now.
    pub fn get(&self) -> Arc<EncoderSettings> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the settings (a reload); messages already queued keep the
    /// options recorded with them.
    pub fn replace(&self, settings: EncoderSettings) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PartRow, PartState, Priority};

    fn settings(ref16: bool) -> EncoderSettings {
        EncoderSettings {
            default_validity: Duration::from_secs(2 * 86_400),
            ref16,
            languages: Vec::new(),
            smsc: None,
        }
    }

    fn message(to: &str, text: &str, parts: u32, options: MessageOptions) -> ReadyMessage {
        ReadyMessage {
            id: 1,
            to: to.into(),
            text: text.into(),
            report: true,
            flash: false,
            priority: Priority::Normal,
            validity: None,
            modem: None,
            queue: None,
            assigned_modem: None,
            sim: None,
            options,
            parts: (1..=parts)
                .map(|seq| PartRow {
                    seq,
                    state: PartState::Pending,
                    attempts: 0,
                    pdu: None,
                    tpdu_len: None,
                    mr: None,
                })
                .collect(),
            tried_modems: Vec::new(),
            created_at: chrono::Utc::now(),
            expires_at: None,
            campaign: None,
        }
    }

    #[test]
    fn parts_decode_to_the_text_with_the_recorded_reference_width() {
        // (settings' ref16, message's recorded ref16, concat ref, reference seen)
        let table = [
            (false, None, 0x1ff, 0xff),
            (true, None, 0x1ff, 0x1ff),
            (true, Some(false), 0x1ff, 0xff),
            (false, Some(true), 0x1ff, 0x1ff),
        ];
        assert!(!table.is_empty());
        let text = "€".repeat(100);
        for (now16, recorded, concat_ref, want) in table {
            let opts = MessageOptions {
                ref16: recorded,
                ..MessageOptions::default()
            };
            let enc = settings(now16);
            let parts = enc
                .encode(&message("+4915112345678", &text, 2, opts), concat_ref)
                .expect("encodes");
            assert_eq!(parts.len(), 2);
            let mut out = String::new();
            for p in &parts {
                let d = codec::decode(&p.pdu, Some(p.tpdu_len as usize)).expect("decodes");
                let codec::pdu::Pdu::Submit(s) = d.pdu else {
                    panic!("not a submit");
                };
                assert!(s.status_report_request);
                let c = s.udh.as_ref().and_then(|u| u.concat()).expect("concat");
                assert_eq!(c.reference, want, "{now16} {recorded:?}");
                out.push_str(s.data.text().expect("text"));
            }
            assert_eq!(out, text);
        }
    }

    #[test]
    fn a_count_other_than_intake_s_is_an_error() {
        // 153 GSM-7 characters: two parts with an 8-bit reference... and with
        // a 16-bit one (152 per part) too; 306 is two parts only with 8 bits.
        let text = "x".repeat(306);
        let enc = settings(false);
        let ok = message(
            "+4915112345678",
            &text,
            2,
            enc.record(&MessageOptions::default()),
        );
        assert_eq!(enc.encode(&ok, 7).expect("encodes").len(), 2);
        let sixteen = MessageOptions {
            ref16: Some(true),
            ..MessageOptions::default()
        };
        let bad = message("+4915112345678", &text, 2, sixteen);
        let e = enc.encode(&bad, 7).expect_err("three parts with 16 bits");
        assert!(e.contains("3 parts, 2 were counted"), "{e}");
    }

    #[test]
    fn a_bad_number_is_an_error() {
        let e = settings(false)
            .encode(&message("+49abc", "x", 1, MessageOptions::default()), 0)
            .expect_err("bad number");
        assert!(e.contains("destination"), "{e}");
    }

    #[test]
    fn intake_records_today_s_defaults() {
        let mut enc = settings(true);
        enc.languages = vec![1];
        let asked = MessageOptions {
            ucs2: true,
            ..MessageOptions::default()
        };
        let rec = enc.record(&asked);
        assert_eq!(
            rec,
            MessageOptions {
                languages: vec![1],
                ucs2: true,
                ref16: Some(true),
                sealed: false,
            }
        );
        // Recorded values win over later settings.
        assert_eq!(settings(false).record(&rec), rec);
    }

    #[test]
    fn needs_udh_table() {
        let turkish = MessageOptions {
            languages: vec![1],
            ..MessageOptions::default()
        };
        // (text, parts, options, needs a UDH)
        let table: &[(&str, usize, MessageOptions, bool)] = &[
            ("hello", 1, MessageOptions::default(), false),
            ("€uro", 1, MessageOptions::default(), false),
            ("long", 2, MessageOptions::default(), true),
            ("hello", 1, turkish.clone(), false),
            ("ğış", 1, turkish.clone(), true),
            ("ğış", 1, MessageOptions::default(), false),
        ];
        assert!(!table.is_empty());
        let enc = settings(false);
        for (text, parts, opts, want) in table {
            assert_eq!(
                enc.needs_udh(text, *parts, opts),
                *want,
                "{text:?} {opts:?}"
            );
        }
    }

    #[test]
    fn a_reload_replaces_the_settings_for_every_holder() {
        let a = Encoding::new(settings(false));
        let b = a.clone();
        a.replace(settings(true));
        assert!(b.get().ref16);
    }
}
