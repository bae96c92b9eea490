//! The HTTP face (`[http] listen`): an HTTP/1.1 server on the daemon's
//! runtime serving the native API (`api`), the compatible API for SMS
//! Gateway for Android clients (`compat`), health checks and the generated
//! OpenAPI document, and the web dashboard's page (`dashboard`). Owns the
//! connection handling that keeps a hostile or
//! broken client from hurting the daemon: a cap on open connections, a
//! deadline for request headers (slowloris), a body size limit, a deadline
//! per request, and a problem+json answer for every refusal (`problem`);
//! authentication and the per-token rate (`auth`).
//!
//! Owns no business logic: every handler is one call of the gateway
//! (`crate::gateway`), which owns validation, idempotency, tokens and the
//! store; webhook endpoints are the gateway's `webhook_*` calls over the
//! webhook engine (`crate::webhooks`).

pub mod api;
pub mod auth;
pub mod campaigns;
pub mod compat;
pub mod dashboard;
pub mod metrics;
pub mod optout;
pub mod problem;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::HttpConfig;
use crate::gateway::Gateway;
use problem::ApiError;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub gw: Arc<Gateway>,
    pub limiter: Arc<auth::RateLimiter>,
    /// Fires at shutdown: event streams end.
    pub cancel: CancellationToken,
    /// The OpenAPI document, rendered at its first request (an idle daemon
    /// never holds it).
    pub openapi: Arc<std::sync::OnceLock<bytes::Bytes>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "smsgate",
        description = "SMS gateway for pools of GSM modems: the native HTTP API. \
            Errors are application/problem+json. Authenticate with a token from \
            `smsgate token create` (Bearer, or Basic with the token's name as user).",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "messages", description = "outgoing messages"),
        (name = "inbox", description = "received messages"),
        (name = "events", description = "the event log"),
        (name = "webhooks", description = "webhook endpoints and their deliveries"),
        (name = "campaigns", description = "personalised bulk sends with a window, a rate, pause and cancel"),
        (name = "optout", description = "the suppression list (opt-out)"),
        (name = "verify", description = "verification codes"),
        (name = "gateway", description = "status, USSD, this document"),
        (name = "health", description = "liveness and readiness, no token"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// The native API's routes and their document.
fn native() -> (Router<AppState>, Document) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::send_message, api::list_messages))
        .routes(routes!(api::get_message, api::cancel_message))
        .routes(routes!(api::retry_message))
        .routes(routes!(api::inbox))
        .routes(routes!(api::status))
        .routes(routes!(api::report))
        .routes(routes!(api::ussd))
        .routes(routes!(api::whoami))
        .routes(routes!(api::series))
        .routes(routes!(api::events))
        .routes(routes!(api::create_webhook, api::list_webhooks))
        .routes(routes!(api::delete_webhook))
        .routes(routes!(api::webhook_deliveries))
        .routes(routes!(api::openapi))
        .routes(routes!(
            campaigns::create_campaign,
            campaigns::list_campaigns
        ))
        .routes(routes!(campaigns::get_campaign))
        .routes(routes!(campaigns::pause_campaign))
        .routes(routes!(campaigns::resume_campaign))
        .routes(routes!(campaigns::cancel_campaign))
        .routes(routes!(optout::list_optout, optout::add_optout))
        .routes(routes!(optout::remove_optout))
        .routes(routes!(optout::verify_send))
        .routes(routes!(optout::verify_check))
        .split_for_parts()
}

/// The OpenAPI document of the native API (also what
/// `/api/v1/openapi.json` serves).
pub fn document() -> Document {
    let (_, mut doc) = native();
    let (_, health) = OpenApiRouter::<AppState>::new()
        .routes(routes!(api::live))
        .routes(routes!(api::ready))
        .split_for_parts();
    doc.merge(health);
    doc
}

/// The whole application: routes, limits, auth.
pub fn app(gw: Arc<Gateway>, cancel: CancellationToken) -> Router {
    let cfg = gw.config().http.clone();
    let state = AppState {
        gw,
        limiter: Arc::new(auth::RateLimiter::default()),
        cancel,
        openapi: Arc::default(),
    };
    let (native, _) = native();
    let authed = native
        .merge(compat::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let public = Router::new()
        .route("/health/live", axum::routing::get(api::live))
        .route("/health/ready", axum::routing::get(api::ready))
        .route("/3rdparty/v1/health", axum::routing::get(compat::health))
        .route("/metrics", axum::routing::get(metrics::metrics))
        .merge(dashboard::routes());
    authed
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            cfg.request_timeout,
            deadline,
        ))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// A request (body included) is answered within `[http] request_timeout`;
/// a stream's body is not bounded (only producing its head is).
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "not answered within {}",
                crate::config::format_duration(limit)
            ),
        )
        .into_response(),
    }
}

/// Binds the listener (before READY, so a bad address fails the start).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `listener` until `cancel`, then stops accepting, lets requests in
/// flight finish (up to 10 s) and returns.
pub async fn serve(listener: TcpListener, gw: Arc<Gateway>, cancel: CancellationToken) {
    let cfg: HttpConfig = gw.config().http.clone();
    let app = app(gw, cancel.clone());
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let conns = TaskTracker::new();
    if let Ok(a) = listener.local_addr() {
        info!(listen = %a, "HTTP API listening");
    }
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let cancel = cancel.clone();
        let header_timeout = cfg.header_timeout;
        conns.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!(%peer, "HTTP connection: {e}");
                    }
                }
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
                }
            }
        });
    }
    conns.close();
    if tokio::time::timeout(Duration::from_secs(12), conns.wait())
        .await
        .is_err()
    {
        warn!("HTTP: connections still open at shutdown");
    }
}
