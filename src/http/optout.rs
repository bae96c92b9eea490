//! The HTTP face of opt-out and verification codes: `/api/v1/optout`
//! (the suppression list) and `/api/v1/verify`, `/api/v1/verify/check`.
//! Each handler parses, checks the caller's scope, makes one `Gateway` call
//! and shapes the answer; a code over the hourly limit is 429.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{extract::State, Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::need;
use super::problem::{parse_json, ApiError, Body, Path, Problem, Query};
use super::AppState;
use crate::gateway::api::{Caller, Scope};
use crate::gateway::verify::{CheckRequest, VerifyRequest, VerifySent};
use crate::gateway::DEFAULT_LIMIT;
use crate::store::{CheckResult, OptoutChange, OptoutEntry};

/// `GET /api/v1/optout` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OptoutQuery {
    /// Start after this number (the `next` of the previous page).
    pub after: Option<String>,
    pub limit: Option<usize>,
}

/// One page of the suppression list, in number order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptoutPage {
    pub items: Vec<OptoutEntry>,
    /// Pass as `after` for the next page; null at the end.
    pub next: Option<String>,
}

/// `POST /api/v1/optout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptoutBody {
    /// Any form: `+49151…`, `0049151…`, or national with `[optout] country`.
    pub number: String,
}

/// The suppression list (numbers in E.164 form where it can be known).
#[utoipa::path(get, path = "/api/v1/optout", tag = "optout",
    params(OptoutQuery),
    responses(
        (status = 200, body = OptoutPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_optout(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<OptoutQuery>,
) -> Result<Json<OptoutPage>, ApiError> {
    need(&caller, Scope::Read)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000);
    let items = st.gw.optout_list(q.after, limit).await?;
    let next = (items.len() == limit)
        .then(|| items.last().map(|e| e.number.clone()))
        .flatten();
    Ok(Json(OptoutPage { items, next }))
}

/// Put a number on the suppression list: its queued marketing messages end
/// `skipped` at once, later ones at intake (send scope).
#[utoipa::path(post, path = "/api/v1/optout", tag = "optout",
    request_body = OptoutBody,
    responses(
        (status = 201, description = "added", body = OptoutChange),
        (status = 200, description = "already on the list", body = OptoutChange),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not a phone number", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_optout(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Send)?;
    let b: OptoutBody = parse_json(&body)?;
    let change = st
        .gw
        .optout_add(&b.number, &format!("http:{}", caller.name))
        .await?;
    let status = if change.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(change)).into_response())
}

/// Take a number off the suppression list (admin scope: it lets marketing
/// reach someone who said stop).
#[utoipa::path(delete, path = "/api/v1/optout/{number}", tag = "optout",
    params(("number" = String, Path, description = "the number, any form (`+` may be written as `%2B`)")),
    responses(
        (status = 200, body = OptoutChange),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not on the list", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_optout(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<String>,
) -> Result<Json<OptoutChange>, ApiError> {
    need(&caller, Scope::Admin)?;
    let change = st
        .gw
        .optout_remove(&number, &format!("http:{}", caller.name))
        .await?;
    if !change.changed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} is not on the suppression list", change.number),
        ));
    }
    Ok(Json(change))
}

/// Send a verification code at the highest priority. The code is never
/// stored or returned: only a keyed hash is kept.
#[utoipa::path(post, path = "/api/v1/verify", tag = "verify",
    request_body = VerifyRequest,
    responses(
        (status = 201, body = VerifySent),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad number, length, ttl or text", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "this number's codes an hour (`[verify] max_per_hour`), or the token's rate", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_send(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Send)?;
    let b: VerifyRequest = parse_json(&body)?;
    let sent = st
        .gw
        .verify_send(b, &format!("http:{}", caller.name))
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

/// Check a verification code: `valid` once for the right code; a code dies
/// after 5 wrong tries or its ttl (`reason` says which).
#[utoipa::path(post, path = "/api/v1/verify/check", tag = "verify",
    request_body = CheckRequest,
    responses(
        (status = 200, body = CheckResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "bad number, or a code that is empty or not digits", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_check(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<CheckResult>, ApiError> {
    need(&caller, Scope::Send)?;
    let b: CheckRequest = parse_json(&body)?;
    Ok(Json(st.gw.verify_check(b).await?))
}
