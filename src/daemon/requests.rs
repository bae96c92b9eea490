//! Answers control-socket calls: each request is validated, carried out
//! against the store, a modem or the daemon, and answered with a JSON result
//! or an error code. Every change is logged with the caller's credentials.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::info;

use super::intake::{self, IntakeError};
use super::{state_name, MessageOptions, Shared};
use crate::control::protocol::{ErrorCode, Request, SendArgs, PROTOCOL_VERSION};
use crate::control::server::{Call, Peer};
use crate::store::{MessageState, Priority, StoreError};

type Answer = Result<Value, (ErrorCode, String)>;

pub async fn handle(shared: Arc<Shared>, call: Call) {
    let answer = answer(&shared, call.request, call.peer).await;
    let _ = call.reply.send(answer);
}

fn invalid(msg: impl Into<String>) -> (ErrorCode, String) {
    (ErrorCode::Invalid, msg.into())
}

fn store_error(e: StoreError) -> (ErrorCode, String) {
    match e {
        StoreError::NoSuchMessage { .. } => (ErrorCode::NotFound, e.to_string()),
        StoreError::InvalidState { .. } => (ErrorCode::Conflict, e.to_string()),
        StoreError::Invalid { .. } => (ErrorCode::Invalid, e.to_string()),
        StoreError::Unavailable(_) | StoreError::Closed => (ErrorCode::Unavailable, e.to_string()),
        other => (ErrorCode::Internal, other.to_string()),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::Internal, e.to_string()))
}

async fn answer(shared: &Shared, req: Request, peer: Peer) -> Answer {
    match req {
        Request::Version {} => {
            Ok(json!({"protocol": PROTOCOL_VERSION, "version": env!("CARGO_PKG_VERSION")}))
        }
        Request::Send(args) => send(shared, args, peer).await,
        Request::Status {} => status(shared).await,
        Request::Show { message } => match shared.store.show(message).await.map_err(store_error)? {
            Some(v) => to_json(&v),
            None => Err((ErrorCode::NotFound, format!("no message {message}"))),
        },
        Request::Outbox { state, limit } => {
            let state = match state {
                Some(s) => Some(
                    s.parse::<MessageState>()
                        .map_err(|_| invalid(format!("unknown state {s:?}")))?,
                ),
                None => None,
            };
            let list = shared
                .store
                .outbox(state, limit.unwrap_or(50).min(10_000))
                .await
                .map_err(store_error)?;
            to_json(&list)
        }
        Request::Inbox { since, limit } => {
            let list = shared
                .store
                .inbox(since, limit.unwrap_or(50).min(10_000))
                .await
                .map_err(store_error)?;
            to_json(&list)
        }
        Request::Cancel { message } => {
            let state = shared
                .store
                .cancel(message, Utc::now())
                .await
                .map_err(store_error)?;
            info!(id = message, %peer, "cancelled");
            Ok(json!({"id": message, "state": state.as_str()}))
        }
        Request::Retry { message } => {
            let state = shared
                .store
                .retry(message, Utc::now())
                .await
                .map_err(store_error)?;
            shared.dispatch.work_added();
            info!(id = message, %peer, "requeued");
            Ok(json!({"id": message, "state": state.as_str()}))
        }
        Request::Ussd { modem, code } => {
            let Some(h) = shared.modem(&modem) else {
                return Err(invalid(format!("no modem named {modem:?}")));
            };
            info!(%modem, %code, %peer, "USSD");
            let answer = h
                .ussd(code)
                .await
                .map_err(|e| (ErrorCode::Unavailable, e.to_string()))?;
            Ok(json!({"modem": modem, "answer": answer}))
        }
        Request::Reload {} => {
            info!(%peer, "reload requested");
            shared.reload().await.map_err(invalid)
        }
        // The server streams `watch` itself; it never reaches the daemon.
        Request::Watch {} => Err(invalid("watch is handled by the server")),
    }
}

async fn send(shared: &Shared, args: SendArgs, peer: Peer) -> Answer {
    let priority = match args.priority.as_deref() {
        None => None,
        Some(p) => Some(
            p.parse::<Priority>()
                .map_err(|_| invalid(format!("priority must be high, normal or low, not {p:?}")))?,
        ),
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
    let req = intake::Request {
        to: args.to,
        text: args.text,
        report: args.report,
        flash: args.flash,
        priority,
        validity,
        not_before,
        modem: args.modem,
        queue: args.queue,
        options: MessageOptions::default(),
        source: format!("socket:{peer}"),
        spool_key: None,
    };
    match intake::accept(shared, req).await {
        Ok(enq) => {
            info!(id = enq.id, parts = enq.parts, %peer, "queued from the socket");
            Ok(json!({"id": enq.id, "parts": enq.parts}))
        }
        Err(IntakeError::Invalid(m)) => Err(invalid(m)),
        Err(IntakeError::Unavailable(m)) => Err((ErrorCode::Unavailable, m)),
    }
}

async fn status(shared: &Shared) -> Answer {
    let counts = shared.store.counts().await.map_err(store_error)?;
    let modems: Vec<Value> = shared
        .modem_statuses()
        .into_iter()
        .map(|s| {
            let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
            v["state"] = json!(state_name(&s.state));
            if let Some(r) = &s.registration {
                v["registration"] = json!(registration_name(r.stat));
                v["lac"] = json!(r.lac);
                v["ci"] = json!(r.ci);
            }
            if let crate::modem::ModemState::Failed(reason) = &s.state {
                v["failed_reason"] = json!(reason);
            }
            v
        })
        .collect();
    Ok(json!({
        "daemon": {
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": PROTOCOL_VERSION,
            "pid": std::process::id(),
            "uptime_s": shared.started.elapsed().as_secs(),
        },
        "queue": counts,
        "modems": modems,
    }))
}

/// 27.007 `+CREG` `<stat>` as a word.
fn registration_name(stat: u8) -> &'static str {
    match stat {
        0 => "not registered",
        1 => "home",
        2 => "searching",
        3 => "denied",
        5 => "roaming",
        6 => "home (SMS only)",
        7 => "roaming (SMS only)",
        8 => "emergency only",
        9 => "home (CSFB not preferred)",
        10 => "roaming (CSFB not preferred)",
        _ => "unknown",
    }
}
