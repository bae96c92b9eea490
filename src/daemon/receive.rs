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
use serde_json::json;
use tracing::{debug, info, warn};

use super::{intake, Shared};
use crate::codec::{self, pdu::Pdu, pdu::UserData};
use crate::hooks::HookEvent;
use crate::modem::StorageLocation;
use crate::spool;
use crate::store::{ConcatKey, InboxMessage, ReceivedPdu, ReportIn};

/// The PDU's own TP-MTI tells a report from a message, so the modem's hint
/// (`+CDS`/SR storage) is not needed here.
pub async fn on_pdu(
    shared: Arc<Shared>,
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
                } else {
                    let (text, binary) = match &d.data {
                        UserData::Text(t) | UserData::Lossy { text: t, .. } => (t.clone(), false),
                        UserData::Binary(b) => (codec::to_hex(b), true),
                    };
                    let rec = ReceivedPdu {
                        modem: modem.clone(),
                        sim: sim.clone(),
                        pdu_hex: pdu_hex.clone(),
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
                    pdu_hex: pdu_hex.clone(),
                };
                match shared.store.record_report(rep, now).await {
                    Ok(out) => {
                        if !out.duplicate {
                            let (id, seq) = out
                                .matched
                                .map_or((None, None), |(i, s)| (Some(i), Some(s)));
                            shared.emit(
                                Some(HookEvent::Report),
                                json!({"type": "report", "modem": modem, "id": id, "seq": seq,
                                       "mr": sr.mr, "recipient": sr.recipient.to_string(),
                                       "status": status.0, "description": status.description(),
                                       "final": status.is_final()}),
                            );
                            write_report_copy(&shared, &modem, &sr, now);
                            if let (Some(id), Some(state)) = (id, out.message_state) {
                                shared.message_state(id, state).await;
                            }
                            if id.is_none() {
                                info!(%modem, mr = sr.mr, recipient = %sr.recipient, "status report matches no message; stored");
                            }
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
                pdu_hex: pdu_hex.clone(),
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

async fn store_received(shared: &Shared, rec: ReceivedPdu, now: chrono::DateTime<Utc>) -> bool {
    let modem = rec.modem.clone();
    match shared.store.record_received(rec, now).await {
        Ok(out) => {
            if out.duplicate {
                debug!(%modem, "PDU already stored");
            }
            if let Some(m) = out.complete {
                announce(shared, &m);
            }
            true
        }
        Err(e) => {
            warn!(%modem, "storing a received PDU failed (left on the modem): {e}");
            false
        }
    }
}

/// A complete (or flushed incomplete) message: event, hook, smstools copy.
fn announce(shared: &Shared, m: &InboxMessage) {
    info!(id = m.id, modem = %m.modem, from = %m.from, parts = m.parts, complete = m.complete, "received");
    shared.emit(
        Some(HookEvent::Received),
        json!({"type": "received", "id": m.id, "modem": m.modem, "from": m.from, "text": m.text,
               "sent_at": m.sent_at, "received_at": m.received_at, "parts": m.parts,
               "complete": m.complete, "class0": m.class0, "binary": m.binary}),
    );
    let cfg = shared.config();
    if let Some(dir) = &cfg.spool.incoming_dir {
        let now = Utc::now().fixed_offset();
        let sent = m
            .sent_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .unwrap_or(now);
        let status = shared.modem(&m.modem).map(|h| h.status().borrow().clone());
        let bytes = spool::smstools::format_received(&spool::smstools::Received {
            from: &m.from,
            from_smsc: None,
            sent_at: sent,
            received_at: now,
            modem: &m.modem,
            imsi: status.as_ref().and_then(|s| s.imsi.as_deref()),
            imei: status.as_ref().and_then(|s| s.imei.as_deref()),
            report: false,
            flash: m.class0,
            incomplete: !m.complete,
            text: &m.text,
        });
        intake::write_file(dir, &spool::smstools::incoming_name(&m.modem), &bytes);
    }
}

fn write_report_copy(
    shared: &Shared,
    modem: &str,
    sr: &codec::pdu::StatusReport,
    now: chrono::DateTime<Utc>,
) {
    let cfg = shared.config();
    let Some(dir) = &cfg.spool.report_dir else {
        return;
    };
    let now = now.fixed_offset();
    let status = shared.modem(modem).map(|h| h.status().borrow().clone());
    let recipient = sr.recipient.to_string();
    let bytes = spool::smstools::format_report(&spool::smstools::Report {
        recipient: &recipient,
        from_smsc: None,
        sent_at: sr.scts.to_datetime().unwrap_or(now),
        received_at: now,
        modem,
        imsi: status.as_ref().and_then(|s| s.imsi.as_deref()),
        imei: status.as_ref().and_then(|s| s.imei.as_deref()),
        message_id: u16::from(sr.mr),
        discharge_at: sr.discharge.to_datetime().unwrap_or(now),
        status: sr.status.0,
    });
    intake::write_file(dir, &spool::smstools::incoming_name(modem), &bytes);
}

/// Keeps concatenated sets that stayed incomplete past the timeout as
/// partial messages (never dropped).
pub async fn flush_incomplete(shared: Arc<Shared>) {
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
                announce(&shared, m);
            }
        }
        Err(e) => warn!("flushing incomplete messages: {e}"),
    }
}
