//! What an endpoint receives, pure: the native body (the event object
//! itself) and the android flavour's envelope, SMS Gateway for Android's
//! `{deviceId, event, id, payload, webhookId}` with `payload` =
//! `{messageId, message?, phoneNumber, simNumber, receivedAt | sentAt |
//! deliveredAt | failedAt, reason?}`.

use serde_json::{json, Value};

use crate::store::{Event, EventData};

/// The log's event types behind an android event name (`sms:failed` also
/// covers messages that expired unsent).
pub fn android_kinds(event: &str) -> &'static [&'static str] {
    match event {
        "sms:received" => &["received"],
        "sms:sent" => &["sent"],
        "sms:delivered" => &["delivered"],
        "sms:failed" => &["failed", "expired"],
        _ => &[],
    }
}

/// The native body: the event object, `{"event_id", "type", "at", "data"}`.
pub fn native_body(ev: &Event) -> Vec<u8> {
    serde_json::to_vec(ev).unwrap_or_default()
}

/// The android envelope for `ev`, or `None` when the event is not one of
/// the four SMS events. `sim_number` gives a modem's 1-based position.
pub fn android_body(
    ev: &Event,
    webhook_id: &str,
    device_id: &str,
    sim_number: impl Fn(&str) -> Option<u32>,
) -> Option<Value> {
    let at = ev.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let sim = |modem: &Option<String>| modem.as_deref().and_then(&sim_number);
    let (name, payload) = match &ev.data {
        EventData::Received(m) => (
            "sms:received",
            json!({
                "messageId": m.id.to_string(),
                "message": m.text,
                "phoneNumber": m.from,
                // The reference client's payload parser reads `sender`.
                "sender": m.from,
                "simNumber": sim_number(&m.modem),
                "receivedAt": m.received_at,
            }),
        ),
        EventData::Sent(m) => (
            "sms:sent",
            json!({
                "messageId": m.id.to_string(),
                "phoneNumber": m.to,
                "simNumber": sim(&m.modem),
                "sentAt": at,
            }),
        ),
        EventData::Delivered(m) => (
            "sms:delivered",
            json!({
                "messageId": m.id.to_string(),
                "phoneNumber": m.to,
                "simNumber": sim(&m.modem),
                "deliveredAt": at,
            }),
        ),
        EventData::Failed(m) | EventData::Expired(m) => (
            "sms:failed",
            json!({
                "messageId": m.id.to_string(),
                "phoneNumber": m.to,
                "simNumber": sim(&m.modem),
                "failedAt": at,
                "reason": m.error.clone().unwrap_or_else(|| ev.kind().to_string()),
            }),
        ),
        _ => return None,
    };
    Some(json!({
        "deviceId": device_id,
        "event": name,
        "id": ev.event_id.to_string(),
        "payload": payload,
        "webhookId": webhook_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InboxMessage, MessageState, OutgoingView, Priority};
    use chrono::{TimeZone, Utc};

    fn message(state: MessageState, error: Option<&str>) -> OutgoingView {
        OutgoingView {
            id: 17,
            to: "+15550001111".into(),
            text: "hello".into(),
            state,
            modem: Some("m1".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
            error: error.map(str::to_string),
            parts: vec![],
            priority: Priority::Normal,
            report: true,
            flash: false,
            sim: None,
            queue: None,
            source: "test".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            expires_at: None,
            tried_modems: vec![],
            campaign: None,
            category: Default::default(),
        }
    }

    fn event(id: i64, data: EventData) -> Event {
        Event {
            event_id: id,
            at: Utc
                .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
                .single()
                .expect("time"),
            data,
        }
    }

    fn sims(modem: &str) -> Option<u32> {
        match modem {
            "m0" => Some(1),
            "m1" => Some(2),
            _ => None,
        }
    }

    #[test]
    fn the_android_envelope_of_each_sms_event() {
        let inbox = InboxMessage {
            id: 5,
            modem: "m0".into(),
            from: "+15559990000".into(),
            text: "hi there".into(),
            sent_at: None,
            received_at: "2026-01-02T03:04:00Z".into(),
            parts: 1,
            complete: true,
            class0: false,
            binary: false,
            sim: "001010000000000".into(),
            missing_parts: vec![],
            replaces: None,
        };
        let at = "2026-01-02T03:04:05.000+00:00";
        let cases = vec![
            (
                EventData::Received(inbox),
                json!({"deviceId": "dev", "event": "sms:received", "id": "9", "webhookId": "wh_1",
                       "payload": {"messageId": "5", "message": "hi there", "phoneNumber": "+15559990000",
                                   "sender": "+15559990000", "simNumber": 1, "receivedAt": "2026-01-02T03:04:00Z"}}),
            ),
            (
                EventData::Sent(message(MessageState::Sent, None)),
                json!({"deviceId": "dev", "event": "sms:sent", "id": "9", "webhookId": "wh_1",
                       "payload": {"messageId": "17", "phoneNumber": "+15550001111", "simNumber": 2,
                                   "sentAt": at}}),
            ),
            (
                EventData::Delivered(message(MessageState::Delivered, None)),
                json!({"deviceId": "dev", "event": "sms:delivered", "id": "9", "webhookId": "wh_1",
                       "payload": {"messageId": "17", "phoneNumber": "+15550001111", "simNumber": 2,
                                   "deliveredAt": at}}),
            ),
            (
                EventData::Failed(message(MessageState::Failed, Some("CMS ERROR 38"))),
                json!({"deviceId": "dev", "event": "sms:failed", "id": "9", "webhookId": "wh_1",
                       "payload": {"messageId": "17", "phoneNumber": "+15550001111", "simNumber": 2,
                                   "failedAt": at, "reason": "CMS ERROR 38"}}),
            ),
            (
                EventData::Expired(message(MessageState::Expired, None)),
                json!({"deviceId": "dev", "event": "sms:failed", "id": "9", "webhookId": "wh_1",
                       "payload": {"messageId": "17", "phoneNumber": "+15550001111", "simNumber": 2,
                                   "failedAt": at, "reason": "expired"}}),
            ),
        ];
        for (data, want) in cases {
            let got = android_body(&event(9, data), "wh_1", "dev", sims).expect("an SMS event");
            assert_eq!(got, want);
        }
        let queued = event(9, EventData::Queued(message(MessageState::Queued, None)));
        assert_eq!(android_body(&queued, "wh_1", "dev", sims), None);
    }

    #[test]
    fn the_native_body_is_the_event_object() {
        let ev = event(3, EventData::Sent(message(MessageState::Sent, None)));
        let v: Value = serde_json::from_slice(&native_body(&ev)).expect("json");
        assert_eq!(v["event_id"], 3);
        assert_eq!(v["type"], "sent");
        assert_eq!(v["at"], "2026-01-02T03:04:05Z");
        assert_eq!(v["data"]["id"], 17);
        assert_eq!(v, ev.to_json());
    }
}
