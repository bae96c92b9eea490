//! smstools3-format copies of finished, failed and received messages and of
//! status reports (`[spool] sent_dir`, `failed_copy_dir`, `incoming_dir`,
//! `report_dir`), written by one durable consumer of the event log per
//! directory (`copy:sent`, `copy:failed`, `copy:incoming`, `copy:report`),
//! so a copy is never skipped under load or across a crash (at worst written
//! twice, under the same name). File work runs on the blocking pool.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::gateway::{intake, Gateway};
use crate::spool::smstools;
use crate::store::{Event, EventData, MessageState};

/// Which copy directory a consumer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sent,
    Failed,
    Incoming,
    Report,
}

impl Kind {
    fn consumer(self) -> &'static str {
        match self {
            Kind::Sent => "copy:sent",
            Kind::Failed => "copy:failed",
            Kind::Incoming => "copy:incoming",
            Kind::Report => "copy:report",
        }
    }

    fn kinds(self) -> Vec<String> {
        let k: &[&str] = match self {
            Kind::Sent => &["sent"],
            Kind::Failed => &["failed"],
            Kind::Incoming => &["received"],
            Kind::Report => &["report"],
        };
        k.iter().map(|s| s.to_string()).collect()
    }
}

/// Starts a consumer for each configured copy directory; they end with
/// `cancel`. Each cursor exists before this returns (a new directory starts
/// at the end of the log).
pub async fn start(gw: Arc<Gateway>, cancel: CancellationToken, tracker: &TaskTracker) {
    let cfg = gw.config();
    let dirs = [
        (Kind::Sent, cfg.spool.sent_dir.clone()),
        (Kind::Failed, cfg.spool.failed_copy_dir.clone()),
        (Kind::Incoming, cfg.spool.incoming_dir.clone()),
        (Kind::Report, cfg.spool.report_dir.clone()),
    ];
    for (kind, dir) in dirs {
        let Some(dir) = dir else { continue };
        if let Err(e) = gw.store.cursor(kind.consumer(), chrono::Utc::now()).await {
            warn!(consumer = kind.consumer(), "creating the cursor: {e}");
        }
        let gw2 = gw.clone();
        tracker.spawn(crate::events::run_durable(
            gw.store.clone(),
            kind.consumer().to_string(),
            kind.kinds(),
            1,
            cancel.clone(),
            move |ev| {
                let (gw, dir) = (gw2.clone(), dir.clone());
                async move {
                    let write = tokio::task::spawn_blocking(move || write(&gw, kind, &dir, &ev));
                    if let Err(e) = write.await {
                        warn!("writing an smstools3 copy: {e}");
                    }
                }
            },
        ));
    }
}

/// The IMSI and IMEI of a modem, when it is running.
fn ident(gw: &Gateway, modem: &str) -> (Option<String>, Option<String>) {
    gw.modem(modem)
        .map(|h| {
            let s = h.status().borrow().clone();
            (s.imsi, s.imei)
        })
        .unwrap_or_default()
}

fn write(gw: &Gateway, kind: Kind, dir: &Path, ev: &Event) {
    let at = ev.at.fixed_offset();
    match (&ev.data, kind) {
        (EventData::Sent(v), Kind::Sent) => {
            intake::write_copy_to(gw, dir, v, MessageState::Sent, at)
        }
        (EventData::Failed(v), Kind::Failed) => {
            intake::write_copy_to(gw, dir, v, MessageState::Failed, at)
        }
        (EventData::Received(m), Kind::Incoming) => {
            let sent = m
                .sent_at
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .unwrap_or(at);
            let (imsi, imei) = ident(gw, &m.modem);
            let bytes = smstools::format_received(&smstools::Received {
                from: &m.from,
                from_smsc: None,
                sent_at: sent,
                received_at: at,
                modem: &m.modem,
                imsi: imsi.as_deref(),
                imei: imei.as_deref(),
                report: false,
                flash: m.class0,
                incomplete: !m.complete,
                text: &m.text,
            });
            let name = format!("{}.{}", m.modem, ev.event_id);
            intake::write_file(dir, &name, &bytes);
        }
        (EventData::Report(r), Kind::Report) => {
            let (imsi, imei) = ident(gw, &r.modem);
            let discharge = r
                .discharge
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .unwrap_or(at);
            let bytes = smstools::format_report(&smstools::Report {
                recipient: &r.recipient,
                from_smsc: None,
                sent_at: discharge,
                received_at: at,
                modem: &r.modem,
                imsi: imsi.as_deref(),
                imei: imei.as_deref(),
                message_id: u16::from(r.mr),
                discharge_at: discharge,
                status: r.status,
            });
            let name = format!("{}.report.{}", r.modem, ev.event_id);
            intake::write_file(dir, &name, &bytes);
        }
        _ => {}
    }
}
