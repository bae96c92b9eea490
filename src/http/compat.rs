//! The compatible API at `/3rdparty/v1/` for the SMS Gateway for Android
//! client libraries (PyPI `android-sms-gateway` 4.x is the reference): their
//! request and answer shapes (camelCase, string ids, states `Pending`,
//! `Processed`, `Sent`, `Delivered`, `Failed`, `Cancelled`) over the same
//! gateway calls as the native API. A message to several `phoneNumbers` is
//! one message id there and one message per number here, queued in one
//! commit; the client-given `id` is its idempotency key and is kept with
//! the messages (so `GET /messages/{id}` finds them).
//!
//! Webhook registration (`/webhooks`, one `sms:*` event per registration,
//! the `android` flavour of the gateway's webhook calls) and the signing key
//! (`PATCH /settings` with `webhooks.signing_key`) are thin adapters over
//! the gateway too; the engine signs and delivers (`crate::webhooks`).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::need;
use super::problem::{parse_json, ApiError, Body, Path, Query};
use super::AppState;
use crate::gateway::api::{compat_key, sha256_hex, Caller, Idempotency, Scope};
use crate::gateway::{Gateway, GatewayError, SendRequest, WebhookRequest, WebhookView};
use crate::store::{MessageState, OutgoingView, Priority};

/// The routes that need a token (`/health` is public, see `super::app`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/3rdparty/v1/messages", get(list).post(send))
        .route("/3rdparty/v1/messages/{id}", get(state).delete(cancel))
        .route("/3rdparty/v1/inbox", get(inbox))
        .route(
            "/3rdparty/v1/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route("/3rdparty/v1/webhooks/{id}", delete(delete_webhook))
        .route("/3rdparty/v1/settings", patch(patch_settings))
}

#[derive(Debug, Deserialize)]
struct TextMessage {
    text: String,
}

fn yes() -> bool {
    true
}

/// The client's message (unknown fields are ignored: clients of other
/// versions send more).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    id: Option<String>,
    phone_numbers: Vec<String>,
    #[serde(default)]
    text_message: Option<TextMessage>,
    #[serde(default)]
    data_message: Option<Value>,
    #[serde(default)]
    mms_message: Option<Value>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    sim_number: Option<i64>,
    #[serde(default = "yes")]
    with_delivery_report: bool,
    #[serde(default)]
    is_encrypted: bool,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    valid_until: Option<DateTime<Utc>>,
}

/// Our state in that project's words.
pub fn state_name(s: MessageState) -> &'static str {
    match s {
        MessageState::Queued => "Pending",
        MessageState::Sending => "Processed",
        MessageState::Sent => "Sent",
        MessageState::Delivered => "Delivered",
        MessageState::Failed | MessageState::Expired => "Failed",
        // Not sent on purpose: the nearest word that project has.
        MessageState::Cancelled | MessageState::Skipped => "Cancelled",
    }
}

fn state_filter(s: &str) -> Result<Option<MessageState>, ApiError> {
    Ok(Some(match s {
        "Pending" => MessageState::Queued,
        "Processed" => MessageState::Sending,
        "Sent" => MessageState::Sent,
        "Delivered" => MessageState::Delivered,
        "Failed" => MessageState::Failed,
        "Cancelled" => MessageState::Cancelled,
        "" => return Ok(None),
        other => return Err(ApiError::bad_request(format!("unknown state {other:?}"))),
    }))
}

/// One message id's state over its messages (one per number): the least
/// advanced wins while any is on its way, then failure, then the rest.
fn overall(states: &[MessageState]) -> &'static str {
    let any = |s: MessageState| states.contains(&s);
    let all = |s: MessageState| !states.is_empty() && states.iter().all(|x| *x == s);
    if any(MessageState::Queued) {
        "Pending"
    } else if any(MessageState::Sending) {
        "Processed"
    } else if all(MessageState::Delivered) {
        "Delivered"
    } else if states
        .iter()
        .all(|s| matches!(s, MessageState::Cancelled | MessageState::Skipped))
        && !states.is_empty()
    {
        "Cancelled"
    } else if any(MessageState::Failed) || any(MessageState::Expired) {
        "Failed"
    } else {
        "Sent"
    }
}

/// The id the compatible API shows for one of our messages.
fn compat_id(v: &OutgoingView) -> String {
    v.source
        .strip_prefix("compat:")
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| v.id.to_string())
}

fn message_state(id: &str, views: &[OutgoingView]) -> Value {
    let states: Vec<MessageState> = views.iter().map(|v| v.state).collect();
    let recipients: Vec<Value> = views
        .iter()
        .map(|v| {
            json!({
                "phoneNumber": v.to,
                "state": state_name(v.state),
                "error": v.error,
            })
        })
        .collect();
    json!({
        "id": id,
        "deviceId": "smsgate",
        "state": overall(&states),
        "isHashed": false,
        "isEncrypted": false,
        "recipients": recipients,
        "states": {},
        "createdAt": views.first().map(|v| v.created_at.clone()),
    })
}

fn random_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
    (0..21)
        .filter_map(|_| ALPHABET.get(fastrand::usize(..ALPHABET.len())))
        .map(|b| char::from(*b))
        .collect()
}

fn requests(gw: &Gateway, m: &Message, source: &str) -> Result<Vec<SendRequest>, ApiError> {
    if m.is_encrypted {
        return Err(ApiError::bad_request(
            "encrypted messages are not supported",
        ));
    }
    if m.data_message.is_some() || m.mms_message.is_some() {
        return Err(ApiError::bad_request(
            "only textMessage is supported (no dataMessage or mmsMessage)",
        ));
    }
    let Some(text) = &m.text_message else {
        return Err(ApiError::bad_request("textMessage is required"));
    };
    if m.phone_numbers.is_empty() {
        return Err(ApiError::bad_request("phoneNumbers is empty"));
    }
    if m.ttl.is_some() && m.valid_until.is_some() {
        return Err(ApiError::bad_request(
            "ttl and validUntil exclude each other",
        ));
    }
    let modem = match m.sim_number {
        None => None,
        Some(n) => {
            let cfg = gw.config();
            let name = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| cfg.modems.get(i))
                .map(|mc| mc.name.clone());
            Some(name.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "simNumber {n}: there are {} modems",
                    cfg.modems.len()
                ))
            })?)
        }
    };
    // TP-VP says at least 5 minutes; a shorter life is rounded up to it.
    let min = Duration::from_secs(300);
    let validity = match (m.ttl, m.valid_until) {
        (Some(s), _) => Some(Duration::from_secs(s).max(min)),
        (None, Some(t)) => {
            let left = (t - Utc::now())
                .to_std()
                .map_err(|_| ApiError::bad_request("validUntil is in the past"))?;
            Some(left.max(min))
        }
        (None, None) => None,
    };
    let priority = m.priority.map(|p| match p {
        p if p >= 100 => Priority::High,
        p if p < 0 => Priority::Low,
        _ => Priority::Normal,
    });
    Ok(m.phone_numbers
        .iter()
        .map(|to| SendRequest {
            to: to.clone(),
            text: text.text.clone(),
            report: m.with_delivery_report,
            flash: false,
            priority,
            validity,
            not_before: None,
            modem: modem.clone(),
            queue: None,
            options: Default::default(),
            source: source.to_string(),
            spool_key: None,
            category: Default::default(),
        })
        .collect())
}

async fn send(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Send)?;
    let raw: Value = parse_json(&body)?;
    let m: Message = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("bad request: {e}")))?;
    let id = match m.id.as_deref().map(str::trim) {
        None | Some("") => random_id(),
        Some(id) if id.len() > 36 || id.contains('/') => {
            return Err(ApiError::bad_request("id: at most 36 characters, no '/'"))
        }
        Some(id) => id.to_string(),
    };
    let reqs = requests(&st.gw, &m, &format!("compat:{}:{id}", caller.name))?;
    let key = Idempotency {
        key: compat_key(&id),
        fingerprint: sha256_hex(raw.to_string().as_bytes()),
        expires: false,
    };
    let done = st.gw.send_batch(reqs, Some(key)).await?;
    let views = views_of(&st.gw, done.messages.iter().map(|a| a.id)).await?;
    Ok((StatusCode::ACCEPTED, Json(message_state(&id, &views))).into_response())
}

async fn views_of(
    gw: &Gateway,
    ids: impl Iterator<Item = i64>,
) -> Result<Vec<OutgoingView>, ApiError> {
    let mut out = Vec::new();
    for id in ids {
        out.push(gw.show(id).await?.message);
    }
    Ok(out)
}

/// The messages behind a compatible id: the ones its key queued, or our
/// own numeric id.
async fn resolve(gw: &Gateway, id: &str) -> Result<Vec<OutgoingView>, ApiError> {
    if let Some(accepted) = gw.key_messages(compat_key(id)).await? {
        return views_of(gw, accepted.iter().map(|a| a.id)).await;
    }
    match id.parse::<i64>() {
        Ok(n) => Ok(vec![gw.show(n).await?.message]),
        Err(_) => Err(ApiError::not_found(format!("no message {id:?}"))),
    }
}

async fn state(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    need(&caller, Scope::Read)?;
    let views = resolve(&st.gw, &id).await?;
    Ok(Json(message_state(&id, &views)))
}

async fn cancel(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    need(&caller, Scope::Send)?;
    let views = resolve(&st.gw, &id).await?;
    let mut cancelled = 0;
    let mut refusal = None;
    for v in views {
        match st.gw.cancel(v.id).await {
            Ok(_) => cancelled += 1,
            Err(e @ GatewayError::Conflict(_)) => refusal = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match (cancelled, refusal) {
        (0, Some(e)) => Err(e.into()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

fn window(limit: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), ApiError> {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset > 100_000 {
        return Err(ApiError::bad_request(
            "limit is 1 to 1000, offset at most 100000",
        ));
    }
    Ok((limit, offset))
}

async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    need(&caller, Scope::Read)?;
    let (limit, offset) = window(q.limit, q.offset)?;
    let state = state_filter(q.state.as_deref().unwrap_or_default())?;
    let views = st.gw.outbox_page(state, None, offset + limit).await?;
    // One entry per compatible id (several numbers share one), newest first.
    let mut groups: Vec<(String, Vec<OutgoingView>)> = Vec::new();
    for v in views {
        let id = compat_id(&v);
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, list)) => list.insert(0, v),
            None => groups.push((id, vec![v])),
        }
    }
    Ok(Json(
        groups
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(id, views)| message_state(id, views))
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
struct InboxQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

async fn inbox(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    need(&caller, Scope::Read)?;
    let (limit, offset) = window(q.limit, q.offset)?;
    let cfg = st.gw.config();
    let items = st.gw.inbox(None, offset + limit).await?;
    Ok(Json(
        items
            .iter()
            .skip(offset)
            .map(|m| {
                let sim = cfg
                    .modems
                    .iter()
                    .position(|mc| mc.name == m.modem)
                    .map(|i| i + 1);
                json!({
                    "id": m.id.to_string(),
                    "type": if m.binary { "DATA_SMS" } else { "SMS" },
                    "sender": m.from,
                    "recipient": null,
                    "simNumber": sim,
                    "contentPreview": m.text,
                    "createdAt": m.received_at,
                })
            })
            .collect(),
    ))
}

/// A webhook registration in that project's shape.
#[derive(Debug, Deserialize)]
struct WebhookBody {
    #[serde(default)]
    id: Option<String>,
    url: String,
    event: String,
}

fn webhook_json(v: &WebhookView) -> Value {
    json!({
        "id": v.id,
        "url": v.url,
        "event": v.events.first(),
        "deviceId": null,
    })
}

async fn list_webhooks(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<Value>>, ApiError> {
    need(&caller, Scope::Read)?;
    let all = st.gw.webhook_list().await?;
    Ok(Json(
        all.iter()
            .filter(|v| v.flavour == "android")
            .map(webhook_json)
            .collect(),
    ))
}

async fn create_webhook(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Admin)?;
    let raw: Value = parse_json(&body)?;
    let b: WebhookBody = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("bad request: {e}")))?;
    let view = st
        .gw
        .webhook_create(WebhookRequest {
            id: b.id,
            url: b.url,
            events: vec![b.event],
            secret: None,
            flavour: Some("android".into()),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(webhook_json(&view))).into_response())
}

async fn delete_webhook(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    need(&caller, Scope::Admin)?;
    st.gw.webhook_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct WebhookSettings {
    #[serde(default)]
    signing_key: Option<String>,
}

/// The settings this gateway takes (other sections are those of a phone
/// and ignored).
#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(default)]
    webhooks: Option<WebhookSettings>,
}

async fn patch_settings(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    need(&caller, Scope::Admin)?;
    let raw: Value = parse_json(&body)?;
    let s: Settings = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("bad request: {e}")))?;
    if let Some(key) = s.webhooks.and_then(|w| w.signing_key) {
        st.gw.set_compat_signing_key(Some(key)).await?;
    }
    Ok(Json(json!({
        "webhooks": {"signing_key": st.gw.compat_signing_key().map(|_| "***")},
    })))
}

/// That project's health answer: `pass` or `fail`, with checks.
pub async fn health(State(st): State<AppState>) -> Response {
    let (status, code, checks) = match st.gw.readiness().await {
        Ok(()) => ("pass", StatusCode::OK, json!({})),
        Err(reasons) => (
            "fail",
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"gateway": {"status": "fail", "description": reasons.join("; ")}}),
        ),
    };
    (
        code,
        Json(json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "checks": checks,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageState::*;

    #[test]
    fn overall_state_of_several_numbers() {
        let table: &[(&[MessageState], &str)] = &[
            (&[Queued], "Pending"),
            (&[Sending], "Processed"),
            (&[Sent], "Sent"),
            (&[Delivered], "Delivered"),
            (&[Failed], "Failed"),
            (&[Expired], "Failed"),
            (&[Cancelled], "Cancelled"),
            (&[Delivered, Queued], "Pending"),
            (&[Delivered, Sending], "Processed"),
            (&[Delivered, Sent], "Sent"),
            (&[Delivered, Failed], "Failed"),
            (&[Delivered, Delivered], "Delivered"),
            (&[Cancelled, Sent], "Sent"),
        ];
        for (states, want) in table {
            assert_eq!(overall(states), *want, "{states:?}");
        }
        for s in MessageState::ALL {
            assert!(state_filter(state_name(*s)).unwrap().is_some());
        }
    }
}
