//! The receive path: a PDU a modem read (from storage or routed) is decoded,
//! committed to the store, and only then confirmed to the modem (which then
//! deletes it or acknowledges it with `+CNMA`). Status reports are matched to
//! their parts by the store. Also the periodic flush of incomplete
//! concatenated sets.
//!
//! A PDU the codec cannot decode is still stored (as raw binary, from an
//! unknown sender) before it is deleted, so nothing a modem hands over is
//! lost. A PDU whose commit fails is not confirmed: it stays on the modem and
//! the next sweep offers it again.

use std::sync::Arc;

use chrono::Utc;
use tracing::{debug, info, warn};

use super::Gateway;
use crate::codec::{self, pdu::Pdu, pdu::UserData};
use crate::modem::StorageLocation;
use crate::store::{ConcatKey, EventData, InboxMessage, MwiEvent, ReceivedPdu, ReportIn};

/// The PDU's own TP-MTI tells a report from a message, so the modem's hint
/// (`+CDS`/SR storage) is not needed here.
pub async fn on_pdu(
    shared: Arc<Gateway>,
    modem: String,
    location: Option<StorageLocation>,
    pdu: Vec<u8>,
    tpdu_len: Option<usize>,
) {
    let sim = shared.sim_key(&modem);
    let pdu_hex = codec::to_hex(&pdu);
    let now = Utc::now();
    let stored = match codec::decode(&pdu, tpdu_len) {
        Ok(decoded) => match decoded.pdu {
            Pdu::Deliver(d) => {
                if d.is_type0() {
                    // Short Message Type 0: acknowledge and discard (23.040 §9.2.3.9).
                    info!(%modem, from = %d.originator, "type 0 (silent) message discarded");
                    true
                } else if d.is_flash() && !shared.config().receive.store_class0 {
                    info!(%modem, from = %d.originator, "class 0 message discarded (receive.store_class0 = false)");
                    true
                } else if let Some(mwi) = d.dcs.mwi() {
                    // A message-waiting indication (DCS groups 1100–1110) is
                    // an event of its own, not an inbox message.
                    let text = match &d.data {
                        UserData::Text(t) | UserData::Lossy { text: t, .. } => t.clone(),
                        UserData::Binary(b) => codec::to_hex(b),
                    };
                    let kind = match mwi.kind {
                        codec::dcs::MwiKind::Voicemail => "voicemail",
                        codec::dcs::MwiKind::Fax => "fax",
                        codec::dcs::MwiKind::Email => "email",
                        _ => "other",
                    };
                    let ev = EventData::Mwi(MwiEvent {
                        modem: modem.clone(),
                        from: d.originator.to_string(),
                        kind: kind.into(),
                        active: mwi.active,
                        text,
                    });
                    info!(%modem, from = %d.originator, kind, active = mwi.active, "message waiting indication");
                    match shared.store.append_event(ev, now).await {
                        Ok(_) => true,
                        Err(e) => {
                            warn!(%modem, "storing a message waiting indication failed: {e}");
                            false
                        }
                    }
                } else {
                    let (text, binary) = match &d.data {
                        UserData::Text(t) | UserData::Lossy { text: t, .. } => (t.clone(), false),
                        UserData::Binary(b) => (codec::to_hex(b), true),
                    };
                    let rec = ReceivedPdu {
                        modem: modem.clone(),
                        sim: sim.clone(),
                        pdu: pdu.clone(),
                        from: d.originator.to_string(),
                        text,
                        binary,
                        sent_at: d.scts.to_datetime(),
                        concat: d.concat().map(|c| ConcatKey {
                            reference: c.reference,
                            total: c.total,
                            seq: c.seq,
                            ref16: c.ref16,
                        }),
                        class0: d.is_flash(),
                        replace_type: d.replace_type(),
                        pid: d.pid,
                        dcs: d.dcs.0,
                    };
                    store_received(&shared, rec, now).await
                }
            }
            Pdu::StatusReport(sr) => {
                let status = sr.status;
                let rep = ReportIn {
                    modem: modem.clone(),
                    sim: sim.clone(),
                    mr: sr.mr,
                    recipient: sr.recipient.to_string(),
                    sc_time: sr.scts.to_datetime(),
                    discharge: sr.discharge.to_datetime(),
                    status: status.0,
                    is_final: status.is_final(),
                    success: matches!(status.class(), codec::pdu::StatusClass::Delivered),
                    pdu: pdu.clone(),
                };
                match shared.store.record_report(rep, now).await {
                    Ok(out) => {
                        if !out.duplicate && out.matched.is_none() {
                            info!(%modem, mr = sr.mr, recipient = %sr.recipient, "status report matches no message; stored");
                        }
                        true
                    }
                    Err(e) => {
                        warn!(%modem, "storing a status report failed: {e}");
                        false
                    }
                }
            }
            Pdu::Submit(_) => {
                // A message the SIM keeps in its own outbox (STO SENT/UNSENT):
                // not ours to delete.
                debug!(%modem, "stored SUBMIT left on the SIM");
                return;
            }
        },
        Err(e) => {
            warn!(%modem, pdu = %pdu_hex, "undecodable PDU ({e}); stored raw");
            let rec = ReceivedPdu {
                modem: modem.clone(),
                sim: sim.clone(),
                pdu: pdu.clone(),
                from: String::new(),
                text: pdu_hex.clone(),
                binary: true,
                sent_at: None,
                concat: None,
                class0: false,
                replace_type: None,
                pid: 0,
                dcs: 0,
            };
            store_received(&shared, rec, now).await
        }
    };
    if stored {
        if let (Some(loc), Some(h)) = (location, shared.modem(&modem)) {
            h.confirm_stored(loc).await;
        }
    }
}

async fn store_received(shared: &Gateway, rec: ReceivedPdu, now: chrono::DateTime<Utc>) -> bool {
    let modem = rec.modem.clone();
    // A keyword is one short word: only a single-part text can be one.
    let optout = (rec.concat.is_none() && !rec.binary)
        .then(|| super::optout::action(&rec.from, &rec.text, &shared.config().optout))
        .flatten();
    let from = rec.from.clone();
    match shared
        .store
        .record_received_optout(rec, optout.clone(), now)
        .await
    {
        Ok((out, change)) => {
            if out.duplicate {
                debug!(%modem, "PDU already stored");
            }
            if let Some(m) = out.complete {
                announce(&m);
            }
            if let (Some(action), Some(change)) = (optout, change) {
                info!(%modem, %from, number = %change.number, changed = change.changed,
                    skipped = change.skipped.len(), "opt-out keyword: {action:?}");
                if change.changed {
                    shared.optout_reply(&from, &action).await;
                }
            }
            true
        }
        Err(e) => {
            warn!(%modem, "storing a received PDU failed (left on the modem): {e}");
            false
        }
    }
}

/// A complete (or flushed incomplete) message: the store wrote its
/// `received` event; this only logs it.
fn announce(m: &InboxMessage) {
    info!(id = m.id, modem = %m.modem, from = %m.from, parts = m.parts, complete = m.complete, "received");
}

/// Keeps concatenated sets that stayed incomplete past the timeout as
/// partial messages (never dropped).
pub async fn flush_incomplete(shared: Arc<Gateway>) {
    let cfg = shared.config();
    let now = Utc::now();
    let Ok(timeout) = chrono::TimeDelta::from_std(cfg.receive.incomplete_timeout) else {
        return;
    };
    let Some(older_than) = now.checked_sub_signed(timeout) else {
        return;
    };
    match shared.store.flush_incomplete(older_than, now).await {
        Ok(flushed) => {
            for m in &flushed {
                announce(m);
            }
        }
        Err(e) => warn!("flushing incomplete messages: {e}"),
    }
}
