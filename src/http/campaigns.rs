//! The campaign routes of the native API: create (from a recipient list or
//! a CSV text), list, show, pause, resume, cancel. Each handler is one
//! `Gateway::campaign_*` call; validation and storage are the core's.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::need;
use super::problem::{parse_json, ApiError, Body, Path, Problem};
use super::AppState;
use crate::gateway::api::{Caller, Scope};
use crate::gateway::{CampaignRecipients, CampaignRequest};
use crate::store::{CampaignAction, CampaignView, CampaignWindow, Priority};

/// One recipient of a campaign and the values of its template variables.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    pub to: String,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// `POST /api/v1/campaigns`: `recipients` or `csv`, not both.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignBody {
    pub name: String,
    /// The text; `{{name}}` is filled from each recipient's `vars`.
    pub text: String,
    #[serde(default)]
    pub recipients: Option<Vec<RecipientBody>>,
    /// A CSV text: a header row naming the columns, `to` required, every
    /// other column a variable.
    #[serde(default)]
    pub csv: Option<String>,
    /// Nothing of the campaign is sent outside it.
    #[serde(default)]
    pub window: Option<CampaignWindow>,
    /// Default `low`.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Ask for status reports (default true).
    #[serde(default)]
    pub report: Option<bool>,
    /// At most this many messages a minute.
    #[serde(default)]
    pub rate_per_min: Option<u32>,
    /// Class 0 (shown, not stored).
    #[serde(default)]
    pub flash: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignList {
    /// Newest first.
    pub items: Vec<CampaignView>,
}

/// Create a campaign: every message is queued (durably) before the answer.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns",
    request_body = CampaignBody,
    responses(
        (status = 201, description = "created: the campaign with `id` and `total`", body = CampaignView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a bad row, variable, number or window; nothing created", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_campaign(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    need(&caller, Scope::Send)?;
    let b: CampaignBody = parse_json(&body)?;
    // The CSV was copied out of the JSON (unescaped); the raw body is not
    // kept while the campaign streams into the store.
    drop(body);
    let recipients = CampaignRecipients::from_fields(
        b.recipients
            .map(|l| l.into_iter().map(|r| (r.to, r.vars)).collect()),
        b.csv,
    )?;
    let view = st
        .gw
        .campaign_create(CampaignRequest {
            name: b.name,
            text: b.text,
            recipients,
            window: b.window,
            priority: b.priority,
            report: b.report,
            rate_per_min: b.rate_per_min,
            flash: b.flash,
            source: format!("http:{}", caller.name),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Campaigns with their counters, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns",
    responses(
        (status = 200, body = CampaignList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_campaigns(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<CampaignList>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(CampaignList {
        items: st.gw.campaign_list(1000).await?,
    }))
}

/// One campaign: state and counters (they add up to `total`).
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = i64, Path, description = "campaign id")),
    responses(
        (status = 200, body = CampaignView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_campaign(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignView>, ApiError> {
    need(&caller, Scope::Read)?;
    Ok(Json(st.gw.campaign_show(id).await?))
}

async fn act(
    st: AppState,
    caller: Caller,
    id: i64,
    action: CampaignAction,
) -> Result<Json<CampaignView>, ApiError> {
    need(&caller, Scope::Send)?;
    Ok(Json(st.gw.campaign_act(id, action).await?))
}

/// Pause: no new part of the campaign starts.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = i64, Path, description = "campaign id")),
    responses(
        (status = 200, body = CampaignView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "done or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pause_campaign(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignView>, ApiError> {
    act(st, caller, id, CampaignAction::Pause).await
}

/// Resume a paused campaign.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = i64, Path, description = "campaign id")),
    responses(
        (status = 200, body = CampaignView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "done or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_campaign(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignView>, ApiError> {
    act(st, caller, id, CampaignAction::Resume).await
}

/// Cancel: every message still queued ends `cancelled`.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/cancel", tag = "campaigns",
    params(("id" = i64, Path, description = "campaign id")),
    responses(
        (status = 200, body = CampaignView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "done or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_campaign(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<CampaignView>, ApiError> {
    act(st, caller, id, CampaignAction::Cancel).await
}
