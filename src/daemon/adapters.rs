//! The seams between the dispatcher and the real parts: the store as the
//! dispatcher's [`Outbox`], a modem actor as its [`ModemPort`], and the codec
//! as its [`Encoder`]. Mapping only; no policy and no SQL here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::codec::{self, address::Address, pdu::Validity, SubmitOptions};
use crate::dispatch::{
    self, DispatchError, Disposition, EncodeRequest, EncodedPdu, Encoder, MessageState, ModemPort,
    ModemView, Outbox, ReadyBatch, Usage,
};
use crate::modem::{self, ModemHandle, ModemState, ModemStatus};
use crate::store::{Store, StoreError};

fn store_err(op: &'static str) -> impl FnOnce(StoreError) -> DispatchError {
    move |e| DispatchError::Store {
        op,
        message: e.to_string(),
    }
}

/// The store, as the dispatcher sees it.
#[derive(Clone)]
pub struct StoreOutbox(pub Store);

impl Outbox for StoreOutbox {
    async fn ready(&self, now: DateTime<Utc>, limit: usize) -> Result<ReadyBatch, DispatchError> {
        self.0.ready(now, limit).await.map_err(store_err("ready"))
    }

    async fn next_concat_ref(&self, sim: &str, destination: &str) -> Result<u16, DispatchError> {
        self.0
            .next_concat_ref(sim, destination)
            .await
            .map_err(store_err("next_concat_ref"))
    }

    async fn assign(
        &self,
        id: i64,
        modem: &str,
        sim: Option<&str>,
        parts: Vec<(u32, String, u32)>,
    ) -> Result<(), DispatchError> {
        self.0
            .assign(id, modem, sim, parts)
            .await
            .map_err(store_err("assign"))
    }

    async fn part_sending(
        &self,
        id: i64,
        seq: u32,
        modem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DispatchError> {
        self.0
            .part_sending(id, seq, modem, now)
            .await
            .map_err(store_err("part_sending"))
    }

    async fn part_sent(
        &self,
        id: i64,
        seq: u32,
        mr: u8,
        now: DateTime<Utc>,
    ) -> Result<MessageState, DispatchError> {
        self.0
            .part_sent(id, seq, mr, now)
            .await
            .map_err(store_err("part_sent"))
    }

    async fn part_failed(
        &self,
        id: i64,
        seq: u32,
        error: &str,
        disposition: Disposition,
        now: DateTime<Utc>,
    ) -> Result<MessageState, DispatchError> {
        self.0
            .part_failed(id, seq, error, disposition, now)
            .await
            .map_err(store_err("part_failed"))
    }

    async fn expire(&self, now: DateTime<Utc>) -> Result<Vec<i64>, DispatchError> {
        self.0.expire(now).await.map_err(store_err("expire"))
    }

    async fn usage(&self, sim: &str, now: DateTime<Utc>) -> Result<Usage, DispatchError> {
        self.0.usage(sim, now).await.map_err(store_err("usage"))
    }

    async fn last_modem_for(&self, to: &str) -> Result<Option<String>, DispatchError> {
        self.0
            .last_modem_for(to)
            .await
            .map_err(store_err("last_modem_for"))
    }
}

impl ModemView for ModemStatus {
    fn is_ready(&self) -> bool {
        self.state == ModemState::Ready
    }

    fn imsi(&self) -> Option<&str> {
        self.imsi.as_deref()
    }
}

/// A modem actor, as the dispatcher sees it.
#[derive(Clone)]
pub struct ModemPortHandle(pub ModemHandle);

impl ModemPort for ModemPortHandle {
    type Status = ModemStatus;

    async fn send(&self, req: dispatch::SendRequest) -> Result<u8, dispatch::SendError> {
        let dispatch::SendRequest::Pdu { hex, tpdu_len } = req;
        let req = modem::SendRequest::Pdu {
            hex,
            tpdu_len: tpdu_len as usize,
        };
        self.0.send(req).await.map_err(|e| dispatch::SendError {
            class: e.class,
            code: e.code,
            message: e.message,
        })
    }

    fn status(&self) -> watch::Receiver<ModemStatus> {
        self.0.status()
    }
}

/// Per-message encoding options kept in the store's `options` column.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MessageOptions {
    /// National language identifiers enabled for this message.
    pub languages: Vec<u8>,
    /// Send as UCS-2 even when GSM-7 would do.
    pub ucs2: bool,
}

/// Daemon-wide encoding settings.
#[derive(Debug, Clone)]
pub struct CodecEncoder {
    pub default_validity: Duration,
    pub ref16: bool,
    pub smsc: Option<Address>,
}

impl CodecEncoder {
    /// The codec options for one message.
    pub fn options(
        &self,
        status_report: bool,
        flash: bool,
        validity: Option<Duration>,
        concat_ref: u16,
        opts: &MessageOptions,
    ) -> SubmitOptions {
        SubmitOptions {
            smsc: self.smsc.clone(),
            status_report,
            flash,
            validity: Validity::relative_from(validity.unwrap_or(self.default_validity)),
            concat_ref: if self.ref16 {
                concat_ref
            } else {
                concat_ref & 0xff
            },
            ref16: self.ref16,
            languages: opts.languages.clone(),
            force_ucs2: opts.ucs2,
            ..SubmitOptions::default()
        }
    }
}

impl Encoder for CodecEncoder {
    fn encode(&self, req: &EncodeRequest<'_>) -> Result<Vec<EncodedPdu>, String> {
        let opts: MessageOptions = serde_json::from_value(req.options.clone()).unwrap_or_default();
        let to = Address::parse(req.to).map_err(|e| format!("destination: {e}"))?;
        let submit = self.options(
            req.status_report,
            req.flash,
            req.validity,
            req.concat_ref,
            &opts,
        );
        let parts = codec::encode_submit(&to, req.text, &submit).map_err(|e| e.to_string())?;
        Ok(parts
            .into_iter()
            .map(|p| EncodedPdu {
                seq: u32::from(p.seq),
                hex: p.hex(),
                tpdu_len: u32::try_from(p.tpdu_len).unwrap_or(u32::MAX),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_builds_parts_the_codec_decodes() {
        let enc = CodecEncoder {
            default_validity: Duration::from_secs(2 * 86_400),
            ref16: false,
            smsc: None,
        };
        let text = "€".repeat(100);
        let opts = serde_json::json!({});
        let parts = enc
            .encode(&EncodeRequest {
                to: "+4915112345678",
                text: &text,
                concat_ref: 0x1ff,
                status_report: true,
                flash: false,
                validity: None,
                options: &opts,
            })
            .expect("encodes");
        assert_eq!(parts.len(), 2);
        let mut out = String::new();
        for p in &parts {
            let d = codec::decode_hex(&p.hex, Some(p.tpdu_len as usize)).expect("decodes");
            let codec::pdu::Pdu::Submit(s) = d.pdu else {
                panic!("not a submit");
            };
            assert!(s.status_report_request);
            let c = s.udh.as_ref().and_then(|u| u.concat()).expect("concat");
            assert_eq!(c.reference, 0xff, "8-bit reference masked");
            out.push_str(s.data.text().expect("text"));
        }
        assert_eq!(out, text);
    }

    #[test]
    fn encoder_rejects_a_bad_number() {
        let enc = CodecEncoder {
            default_validity: Duration::from_secs(60),
            ref16: false,
            smsc: None,
        };
        let opts = serde_json::json!({});
        let r = enc.encode(&EncodeRequest {
            to: "+49abc",
            text: "x",
            concat_ref: 0,
            status_report: false,
            flash: false,
            validity: None,
            options: &opts,
        });
        assert!(r.is_err());
    }
}
