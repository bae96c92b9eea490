//! Answers control-socket calls: turns each request into a call of the
//! gateway core and its result into the reply's JSON, or its error kind into
//! the protocol's error code. Holds no business logic (validation, state
//! changes and queries are the gateway's); logs each change with the
//! caller's credentials.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::info;

use crate::control::protocol::{CampaignArgs, ErrorCode, Request, SendArgs, PROTOCOL_VERSION};
use crate::control::server::{Call, Peer};
use crate::gateway::verify::{CheckRequest, VerifyRequest};
use crate::gateway::{
    CampaignRecipients, CampaignRequest, Gateway, GatewayError, SendRequest, WebhookRequest,
    DEFAULT_LIMIT,
};
use crate::store::{CampaignAction, CampaignWindow, Category, MessageState, Priority};

type Answer = Result<Value, (ErrorCode, String)>;

/// Answers one call.
pub async fn handle(gw: Arc<Gateway>, call: Call) {
    let answer = answer(&gw, call.request, call.peer).await;
    let _ = call.reply.send(answer);
}

/// The protocol's code for a gateway error.
pub fn code(e: &GatewayError) -> ErrorCode {
    match e {
        GatewayError::Invalid(_) => ErrorCode::Invalid,
        GatewayError::NotFound(_) => ErrorCode::NotFound,
        GatewayError::Conflict(_) => ErrorCode::Conflict,
        GatewayError::Unavailable(_) => ErrorCode::Unavailable,
        GatewayError::Internal(_) => ErrorCode::Internal,
        GatewayError::RateLimited(_) => ErrorCode::RateLimited,
    }
}

fn fail(e: GatewayError) -> (ErrorCode, String) {
    (code(&e), e.to_string())
}

fn invalid(msg: impl Into<String>) -> (ErrorCode, String) {
    (ErrorCode::Invalid, msg.into())
}

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::Internal, e.to_string()))
}

async fn answer(gw: &Gateway, req: Request, peer: Peer) -> Answer {
    match req {
        Request::Version {} => {
            Ok(json!({"protocol": PROTOCOL_VERSION, "version": env!("CARGO_PKG_VERSION")}))
        }
        Request::Send(args) => {
            let req = send_request(args, format!("socket:{peer}"))?;
            let enq = gw.send(req).await.map_err(fail)?;
            info!(id = enq.id, parts = enq.parts, %peer, "queued from the socket");
            Ok(json!({"id": enq.id, "parts": enq.parts}))
        }
        Request::Status {} => gw.status().await.map_err(fail),
        Request::Show { message } => to_json(&gw.show(message).await.map_err(fail)?),
        Request::Outbox { state, limit } => {
            let state = match state {
                Some(s) => Some(
                    s.parse::<MessageState>()
                        .map_err(|_| invalid(format!("unknown state {s:?}")))?,
                ),
                None => None,
            };
            to_json(
                &gw.outbox(state, limit.unwrap_or(DEFAULT_LIMIT))
                    .await
                    .map_err(fail)?,
            )
        }
        Request::Inbox { since, limit } => to_json(
            &gw.inbox(since, limit.unwrap_or(DEFAULT_LIMIT))
                .await
                .map_err(fail)?,
        ),
        Request::Cancel { message } => {
            let state = gw.cancel(message).await.map_err(fail)?;
            info!(id = message, %peer, "cancelled");
            Ok(json!({"id": message, "state": state.as_str()}))
        }
        Request::Retry { message } => {
            let state = gw.retry(message).await.map_err(fail)?;
            info!(id = message, %peer, "requeued");
            Ok(json!({"id": message, "state": state.as_str()}))
        }
        Request::Ussd { modem, code } => {
            info!(%modem, %code, %peer, "USSD");
            let answer = gw.ussd(&modem, code).await.map_err(fail)?;
            Ok(json!({"modem": modem, "answer": answer}))
        }
        Request::Reload {} => {
            info!(%peer, "reload requested");
            gw.reload().await.map_err(fail)
        }
        Request::Prune {} => {
            info!(%peer, "prune requested");
            to_json(&gw.prune().await.map_err(fail)?)
        }
        Request::TokenCreate { name, scopes } => {
            let (secret, info) = gw.token_create(name, scopes).await.map_err(fail)?;
            info!(token = %info.name, scopes = ?info.scopes, %peer, "API token created");
            Ok(json!({
                "name": info.name,
                "token": secret,
                "scopes": info.scopes,
                "created_at": info.created_at,
            }))
        }
        Request::TokenList {} => to_json(&gw.token_list().await.map_err(fail)?),
        Request::TokenRevoke { name } => {
            gw.token_revoke(name.clone()).await.map_err(fail)?;
            info!(token = %name, %peer, "API token revoked");
            Ok(json!({"name": name, "revoked": true}))
        }
        Request::WebhookList {} => to_json(&gw.webhook_list().await.map_err(fail)?),
        Request::WebhookAdd {
            webhook,
            url,
            events,
            secret,
            flavour,
        } => {
            let req = WebhookRequest {
                id: webhook,
                url,
                events,
                secret,
                flavour,
            };
            let view = gw.webhook_create(req).await.map_err(fail)?;
            info!(webhook = %view.id, url = %view.url, %peer, "webhook endpoint added");
            to_json(&view)
        }
        Request::WebhookRemove { webhook } => {
            gw.webhook_delete(&webhook).await.map_err(fail)?;
            info!(%webhook, %peer, "webhook endpoint removed");
            Ok(json!({"id": webhook, "removed": true}))
        }
        Request::WebhookDeliveries { webhook, limit } => to_json(
            &gw.webhook_deliveries(&webhook, limit.unwrap_or(DEFAULT_LIMIT))
                .await
                .map_err(fail)?,
        ),
        Request::WebhookReplay { webhook, since } => {
            let view = gw.webhook_replay(&webhook, since).await.map_err(fail)?;
            info!(%webhook, since, %peer, "webhook replay");
            to_json(&view)
        }
        // The server streams `watch` itself; it never reaches the gateway.
        Request::Report { since, by } => to_json(
            &gw.report(since.as_deref(), by.as_deref())
                .await
                .map_err(fail)?,
        ),
        Request::SendBatch(args) => {
            let source = format!("socket:{peer}");
            let reqs = args
                .to
                .iter()
                .map(|to| {
                    send_request(
                        SendArgs {
                            to: to.clone(),
                            text: args.text.clone(),
                            report: args.report,
                            flash: args.flash,
                            modem: args.modem.clone(),
                            queue: args.queue.clone(),
                            priority: args.priority.clone(),
                            validity: args.validity.clone(),
                            send_after: None,
                            category: args.category.clone(),
                        },
                        source.clone(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let done = gw.send_batch(reqs, None).await.map_err(fail)?;
            info!(messages = done.messages.len(), %peer, "batch queued from the socket");
            Ok(json!({"messages": done.messages}))
        }
        Request::CampaignCreate(args) => {
            let req = campaign_request(args, format!("socket:{peer}"))?;
            to_json(&gw.campaign_create(req).await.map_err(fail)?)
        }
        Request::CampaignList {} => to_json(&gw.campaign_list(1000).await.map_err(fail)?),
        Request::CampaignShow { campaign } => {
            to_json(&gw.campaign_show(campaign).await.map_err(fail)?)
        }
        Request::CampaignPause { campaign } => to_json(
            &gw.campaign_act(campaign, CampaignAction::Pause)
                .await
                .map_err(fail)?,
        ),
        Request::CampaignResume { campaign } => to_json(
            &gw.campaign_act(campaign, CampaignAction::Resume)
                .await
                .map_err(fail)?,
        ),
        Request::CampaignCancel { campaign } => to_json(
            &gw.campaign_act(campaign, CampaignAction::Cancel)
                .await
                .map_err(fail)?,
        ),
        Request::OptoutList { after, limit } => to_json(
            &gw.optout_list(after, limit.unwrap_or(DEFAULT_LIMIT))
                .await
                .map_err(fail)?,
        ),
        Request::OptoutAdd { number } => {
            let change = gw
                .optout_add(&number, &format!("socket:{peer}"))
                .await
                .map_err(fail)?;
            to_json(&change)
        }
        Request::OptoutRemove { number } => {
            let change = gw
                .optout_remove(&number, &format!("socket:{peer}"))
                .await
                .map_err(fail)?;
            to_json(&change)
        }
        Request::VerifySend {
            to,
            length,
            ttl,
            text,
        } => {
            let req = VerifyRequest {
                to,
                length,
                ttl,
                text,
            };
            to_json(
                &gw.verify_send(req, &format!("socket:{peer}"))
                    .await
                    .map_err(fail)?,
            )
        }
        Request::VerifyCheck { to, code } => to_json(
            &gw.verify_check(CheckRequest { to, code })
                .await
                .map_err(fail)?,
        ),
        Request::Watch { .. } => Err(invalid("watch is handled by the server")),
    }
}

/// The socket's `campaign_create` arguments as the gateway's request.
fn campaign_request(
    args: CampaignArgs,
    source: String,
) -> Result<CampaignRequest, (ErrorCode, String)> {
    let priority = match args.priority.as_deref() {
        None => None,
        Some(p) => Some(p.parse::<Priority>().map_err(|_| {
            invalid(format!(
                "priority must be urgent, high, normal or low, not {p:?}"
            ))
        })?),
    };
    let recipients = CampaignRecipients::from_fields(
        args.recipients
            .map(|l| l.into_iter().map(|r| (r.to, r.vars)).collect()),
        args.csv,
    )
    .map_err(fail)?;
    Ok(CampaignRequest {
        name: args.name,
        text: args.text,
        recipients,
        window: args.window.map(|w| CampaignWindow {
            start: w.start,
            end: w.end,
            tz: w.tz,
        }),
        priority,
        report: args.report,
        rate_per_min: args.rate_per_min,
        flash: args.flash,
        source,
    })
}

/// The socket's `send` arguments as the gateway's request.
pub fn send_request(args: SendArgs, source: String) -> Result<SendRequest, (ErrorCode, String)> {
    let priority = match args.priority.as_deref() {
        None => None,
        Some(p) => Some(p.parse::<Priority>().map_err(|_| {
            invalid(format!(
                "priority must be urgent, high, normal or low, not {p:?}"
            ))
        })?),
    };
    let validity = match args.validity.as_deref() {
        None => None,
        Some(v) => {
            Some(crate::config::parse_duration(v).map_err(|e| invalid(format!("validity: {e}")))?)
        }
    };
    let not_before = match args.send_after.as_deref() {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| invalid(format!("send_after must be RFC 3339: {e}")))?
                .with_timezone(&Utc),
        ),
    };
    let category = match args.category.as_deref() {
        None => Category::Transactional,
        Some(c) => c.parse::<Category>().map_err(|_| {
            invalid(format!(
                "category must be transactional or marketing, not {c:?}"
            ))
        })?,
    };
    Ok(SendRequest {
        category,
        to: args.to,
        text: args.text,
        report: args.report,
        flash: args.flash,
        priority,
        validity,
        not_before,
        modem: args.modem,
        queue: args.queue,
        options: Default::default(),
        source,
        spool_key: None,
    })
}
