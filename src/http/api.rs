//! The native API under `/api/v1/` and `/health/*`: each handler turns its
//! request into one gateway call and the result into the same JSON objects
//! the socket and `--json` print. The OpenAPI document is generated from
//! the `#[utoipa::path]` annotations and the types here and in the store.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::need;
use super::problem::{parse_json, ApiError, Body, Path, Problem, Query};
use super::AppState;
use crate::gateway::api::{api_key, sha256_hex, Caller, Idempotency, Scope};
use crate::gateway::{MessageView, SendRequest, WebhookRequest, WebhookView, DEFAULT_LIMIT};
use crate::store::{
    Accepted, Category, InboxMessage, MessageState, OutgoingView, Priority, Series, WebhookDelivery,
};

/// The most items one list call returns.
pub const MAX_LIMIT: usize = 1000;

/// One number or a list of numbers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

/// What a number looks like (the gateway decides what it accepts).
const NUMBER_PATTERN: &str = r"^\+?[0-9]{3,20}$";

impl utoipa::PartialSchema for Recipients {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let number = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NUMBER_PATTERN))
                .examples([json!("+4915112345678")])
        };
        OneOfBuilder::new()
            .item(number())
            .item(
                ArrayBuilder::new()
                    .items(number())
                    .min_items(Some(1))
                    .max_items(Some(crate::gateway::api::MAX_RECIPIENTS)),
            )
            .description(Some("a number, or an array of numbers"))
            .into()
    }
}

impl ToSchema for Recipients {}

/// `POST /api/v1/messages`: the socket's `send` fields.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// A number (`+4915112345678`) or an array of numbers.
    pub to: Recipients,
    pub text: String,
    /// Ask for a status report.
    #[serde(default)]
    pub report: bool,
    /// Class 0 (shown, not stored).
    #[serde(default)]
    pub flash: bool,
    /// Send through this modem only.
    #[serde(default)]
    pub modem: Option<String>,
    /// Send through a modem serving this queue.
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// A duration such as `"12h"` (at least 5m).
    #[serde(default)]
    pub validity: Option<String>,
    /// RFC 3339: not before this moment.
    #[serde(default)]
    pub send_after: Option<DateTime<Utc>>,
    /// `transactional` (default) or `marketing`: a marketing message to a
    /// number that opted out ends `skipped`.
    #[serde(default)]
    pub category: Category,
}

/// 202 for one recipient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Queued {
    pub id: i64,
    pub parts: u32,
}

/// 202 for an array of recipients: one entry per recipient, in order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedMany {
    pub messages: Vec<QueuedOne>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedOne {
    pub id: i64,
    pub to: String,
    pub parts: u32,
}

/// 202: `{id, parts}` for one number, `{messages}` for an array.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SendAnswer {
    One(Queued),
    Many(QueuedMany),
}

/// The answer to cancel and retry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StateAnswer {
    pub id: i64,
    pub state: MessageState,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePage {
    /// Newest first.
    pub items: Vec<OutgoingView>,
    /// Pass as `before` for the next page; null on the last one.
    pub next: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxPage {
    /// Oldest first.
    pub items: Vec<InboxMessage>,
    /// Pass as `since` for the next page; null on the last one.
    pub next: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// queued, sending, sent, delivered, failed, cancelled, expired, skipped
    pub state: Option<MessageState>,
    /// 1 to 1000 (default 50)
    pub limit: Option<usize>,
    /// Only messages with a smaller id (the `next` of the previous page).
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Only messages with a greater id (oldest first).
    pub since: Option<i64>,
    /// Only messages with a smaller id, newest first: a number above the
    /// newest id (9007199254740991) gives the latest, the `next` of a page
    /// the page after it. Not with `since`.
    pub before: Option<i64>,
    /// 1 to 1000 (default 50)
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// The window back from now: a duration, 1m to 24h (default `6h`).
    pub since: Option<String>,
    /// The bucket: a duration, at least 1m (default `5m`); at most 1440
    /// buckets.
    pub step: Option<String>,
}

/// `GET /api/v1/whoami`: the calling token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The token's name.
    pub name: String,
    /// `send`, `read`, `admin` (which implies the others).
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay the events after this id, then follow (default: only new
    /// events). A `Last-Event-ID` header wins.
    pub since: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UssdBody {
    pub modem: String,
    /// e.g. `*100#`
    pub code: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UssdReply {
    pub modem: String,
    pub reply: String,
}

/// An event of the log, as `data:` of each Server-Sent Event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventObject {
    pub event_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

fn limit(l: Option<usize>) -> Result<usize, ApiError> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}, not {n}"
        ))),
    }
}

/// A body's own error for the idempotency header.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?
        .trim();
    if k.is_empty() || k.len() > 255 {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 255 characters",
        ));
    }
    Ok(Some(k.to_string()))
}

/// The socket's send fields as gateway requests, one per recipient.
pub fn send_requests(b: SendBody, source: &str) -> Result<Vec<SendRequest>, ApiError> {
    let to = match b.to {
        Recipients::One(n) => vec![n],
        Recipients::Many(v) if v.is_empty() => {
            return Err(ApiError::bad_request("to: an empty list"))
        }
        Recipients::Many(v) => v,
    };
    let validity = match b.validity.as_deref() {
        None => None,
        Some(v) => Some(crate::config::parse_duration(v).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("validity: {e}"),
            )
        })?),
    };
    Ok(to
        .into_iter()
        .map(|to| SendRequest {
            to,
            text: b.text.clone(),
            report: b.report,
            flash: b.flash,
            priority: b.priority,
            validity,
            not_before: b.send_after,
            modem: b.modem.clone(),
            queue: b.queue.clone(),
            options: Default::default(),
            source: source.to_string(),
            spool_key: None,
            category: b.category,
        })
        .collect())
}

/// Queue a message for one number or for each of several.
#[utoipa::path(post, path = "/api/v1/messages", tag = "messages",
    request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "a repeat within 24 h answers the first result and queues nothing")),
    responses(
        (status = 202, description = "queued and durable: `{id, parts}` for one number, `{messages}` for an array", body = SendAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_message(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Send)?;
    let key = idempotency_key(&headers)?;
    let parsed: SendBody = parse_json(&body)?;
    let many = matches!(parsed.to, Recipients::Many(_));
    let key = match key {
        None => None,
        Some(k) => {
            // The same request is the same JSON, whatever its spacing.
            let canonical = serde_json::to_vec(&parsed).unwrap_or_default();
            Some(Idempotency {
                key: api_key(&caller.name, &k),
                fingerprint: sha256_hex(&canonical),
                expires: true,
            })
        }
    };
    let reqs = send_requests(parsed, &format!("http:{}", caller.name))?;
    let done = st.gw.send_batch(reqs, key).await?;
    let body = answer(&done.messages, many);
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if done.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

fn answer(msgs: &[Accepted], many: bool) -> SendAnswer {
    match (many, msgs.first()) {
        (false, Some(m)) => SendAnswer::One(Queued {
            id: m.id,
            parts: m.parts,
        }),
        _ => SendAnswer::Many(QueuedMany {
            messages: msgs
                .iter()
                .map(|m| QueuedOne {
                    id: m.id,
                    to: m.to.clone(),
                    parts: m.parts,
                })
                .collect(),
        }),
    }
}

/// One outgoing message with its parts (as `smsgate show --json`).
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = MessageView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_message(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<MessageView>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(st.gw.show(id).await?))
}

/// Outgoing messages, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages",
    params(ListQuery),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_messages(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    need(&caller, Scope::Read)?;
    let n = limit(q.limit)?;
    let items = st.gw.outbox_page(q.state, q.before, n).await?;
    let next = (items.len() == n)
        .then(|| items.last().map(|m| m.id))
        .flatten();
    Ok(Json(MessagePage { items, next }))
}

/// Cancel a queued message (or the unsent rest of a sending one).
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = StateAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "past cancelling", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_message(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<StateAnswer>, ApiError> {
    need(&caller, Scope::Send)?;
    let state = st.gw.cancel(id).await?;
    Ok(Json(StateAnswer { id, state }))
}

/// Requeue a failed, expired or cancelled message as a whole.
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry", tag = "messages",
    params(("id" = i64, Path, description = "message id")),
    responses(
        (status = 200, body = StateAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_message(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<StateAnswer>, ApiError> {
    need(&caller, Scope::Send)?;
    let state = st.gw.retry(id).await?;
    Ok(Json(StateAnswer { id, state }))
}

/// Received messages: oldest first after `since` (from the first when
/// absent), or newest first below `before`.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "inbox",
    params(InboxQuery),
    responses(
        (status = 200, body = InboxPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn inbox(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    need(&caller, Scope::Read)?;
    let n = limit(q.limit)?;
    let items = match (q.since, q.before) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "since (oldest first) and before (newest first) do not go together",
            ))
        }
        (since, None) => st.gw.inbox(since, n).await?,
        (None, before) => st.gw.inbox_latest(before, n).await?,
    };
    let next = (items.len() == n)
        .then(|| items.last().map(|m| m.id))
        .flatten();
    Ok(Json(InboxPage { items, next }))
}

/// The daemon, every modem and the queue (as `smsgate status --json`).
#[utoipa::path(get, path = "/api/v1/status", tag = "gateway",
    responses(
        (status = 200, body = Object),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(st.gw.status().await?))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// A duration back from now (`7d`, `12h`, `90m`) or an RFC 3339 moment
    /// (default `7d`).
    pub since: Option<String>,
    /// `modem` (default), `day` or `campaign`.
    pub by: Option<String>,
}

/// The delivery report (as `smsgate report --json`): per group, messages
/// and parts sent, delivered, failed, expired, received; delivery rate;
/// median and 95th percentile of queued-to-sent and sent-to-delivered.
#[utoipa::path(get, path = "/api/v1/report", tag = "gateway",
    params(ReportQuery),
    responses(
        (status = 200, body = crate::store::Report),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ReportQuery>,
) -> Result<Json<crate::store::Report>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(
        st.gw.report(q.since.as_deref(), q.by.as_deref()).await?,
    ))
}

/// The calling token's name and scopes (any scope may ask).
#[utoipa::path(get, path = "/api/v1/whoami", tag = "gateway",
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: caller.name,
        scopes: caller
            .scopes
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
    })
}

/// Counts per time bucket for charts: parts sent per SIM, messages queued,
/// sent with a report request and delivered (with the delivery rate), and
/// messages received. Messages count in the bucket they were queued in.
#[utoipa::path(get, path = "/api/v1/stats/series", tag = "gateway",
    params(SeriesQuery),
    responses(
        (status = 200, body = Series),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn series(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<SeriesQuery>,
) -> Result<Json<Series>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(
        st.gw.series(q.since.as_deref(), q.step.as_deref()).await?,
    ))
}

/// Run a USSD code on one modem (admin scope).
#[utoipa::path(post, path = "/api/v1/ussd", tag = "gateway",
    request_body = UssdBody,
    responses(
        (status = 200, body = UssdReply),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ussd(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<UssdReply>, ApiError> {
    need(&caller, Scope::Admin)?;
    let b: UssdBody = parse_json(&body)?;
    let reply = st.gw.ussd(&b.modem, b.code).await?;
    Ok(Json(UssdReply {
        modem: b.modem,
        reply,
    }))
}

/// Server-Sent Events from the event log: `id:` the event id, `event:` its
/// type, `data:` the event object. Resumable with `Last-Event-ID`.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "resume after this event (wins over `since`)")),
    responses(
        (status = 200, description = "an endless event stream", body = EventObject, content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    need(&caller, Scope::Read)?;
    let last = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id"))?,
        ),
    };
    let from = last
        .or(q.since)
        .unwrap_or_else(|| st.gw.store.last_event_id())
        .max(0);
    let reader = crate::events::Reader::new(st.gw.store.clone(), from, Vec::new());
    let batches = stream::unfold(reader, |mut r| async move {
        match r.next().await {
            None => None,
            Some(Ok(events)) => Some((events, r)),
            Some(Err(e)) => {
                tracing::warn!("event stream: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Vec::new(), r))
            }
        }
    });
    let events = batches
        .flat_map(|evs| stream::iter(evs.into_iter().map(|e| Ok(sse_event(&e)))))
        .take_until(st.cancel.clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse_event(e: &crate::store::Event) -> SseEvent {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    SseEvent::default()
        .id(e.event_id.to_string())
        .event(e.kind())
        .data(data)
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", security(()),
    responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// The store answers and a modem is ready (or none is configured).
#[utoipa::path(get, path = "/health/ready", tag = "health", security(()),
    responses(
        (status = 200, body = Health),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ready(State(st): State<AppState>) -> Result<Json<Health>, ApiError> {
    match st.gw.readiness().await {
        Ok(()) => Ok(Json(Health {
            status: "ready".into(),
        })),
        Err(reasons) => {
            let mut e = ApiError::unavailable(reasons.join("; "));
            e.problem.reasons = Some(reasons);
            Err(e)
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "gateway",
    responses(
        (status = 200, body = Object),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn openapi(State(st): State<AppState>) -> Response {
    let doc = st.openapi.get_or_init(|| {
        bytes::Bytes::from(super::document().to_json().unwrap_or_else(|_| "{}".into()))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.clone(),
    )
        .into_response()
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// http:// or https:// (private and loopback addresses are allowed).
    pub url: String,
    /// Event types (`message.delivered`, …); empty or absent: every type.
    #[serde(default)]
    pub events: Vec<String>,
    /// `whsec_` and base64; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryObject {
    pub event_id: i64,
    /// 1 for the first attempt of this event.
    pub attempt: u32,
    /// `ok`, `failed`, `gave_up` or `disabled`.
    pub result: String,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub at: String,
    /// `failed`: when the next attempt is due.
    pub next_at: Option<String>,
}

impl From<WebhookDelivery> for DeliveryObject {
    fn from(d: WebhookDelivery) -> Self {
        let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        DeliveryObject {
            event_id: d.event_id,
            attempt: d.attempt,
            result: serde_json::to_value(d.result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            status: d.status,
            error: d.error,
            duration_ms: d.duration_ms,
            at: rfc(d.at),
            next_at: d.next_at.map(rfc),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryObject>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// 1 to 1000 (default 50)
    pub limit: Option<usize>,
}

/// Register a webhook endpoint (admin scope); it gets the events committed
/// from now on, signed with Standard Webhooks.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "registered; `secret` is shown this once", body = WebhookView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a bad URL, event type or secret", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_webhook(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Admin)?;
    let b: WebhookBody = parse_json(&body)?;
    let view = st
        .gw
        .webhook_create(WebhookRequest {
            id: None,
            url: b.url,
            events: b.events,
            secret: b.secret,
            flavour: None,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Every webhook endpoint with its backlog.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, body = WebhookList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhooks(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<WebhookList>, ApiError> {
    need(&caller, Scope::Read)?;
    let items = st.gw.webhook_list().await?;
    Ok(Json(WebhookList { items }))
}

/// Remove a webhook endpoint registered through the API (admin scope).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses(
        (status = 204, description = "removed with its delivery records"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "it comes from `[[webhook]]` in the configuration", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    need(&caller, Scope::Admin)?;
    st.gw.webhook_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook endpoint's latest delivery attempts, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id"), DeliveriesQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook_deliveries(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    need(&caller, Scope::Read)?;
    let n = limit(q.limit)?;
    let items = st.gw.webhook_deliveries(&id, n).await?;
    Ok(Json(DeliveryPage {
        items: items.into_iter().map(DeliveryObject::from).collect(),
    }))
}
