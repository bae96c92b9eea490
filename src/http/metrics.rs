//! `GET /metrics`: the Prometheus exposition of the gateway's metrics
//! (`Gateway::metrics_text`). OpenMetrics text when the scraper accepts it
//! (Prometheus does), the classic text format 0.0.4 otherwise. No token is
//! needed unless `[http] metrics_token = true`, which asks for one with the
//! `read` scope (Bearer or Basic, as the rest of the API). Owns only the
//! negotiation and the token check; the figures are the gateway's.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::auth::{caller, need};
use super::problem::ApiError;
use super::AppState;
use crate::gateway::api::Scope;

/// The content type of OpenMetrics text 1.0.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the Prometheus text format 0.0.4.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            let mut it = v.split(';').map(str::trim);
            let media = it.next().unwrap_or_default();
            let refused = it.any(|p| p.replace(' ', "") == "q=0");
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
}

/// The metrics exposition.
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if st.gw.config().http.metrics_token {
        let checked = match caller(&st, &headers).await {
            Ok(c) => need(&c, Scope::Read),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return e.into_response();
        }
    }
    let open = wants_openmetrics(&headers);
    match st.gw.metrics_text(open).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                if open { OPENMETRICS } else { PROMETHEUS_TEXT },
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["*/*"], false),
            (&["text/plain"], false),
            (
                &["application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"],
                true,
            ),
            (&["text/plain", "application/openmetrics-text"], true),
            (&["application/openmetrics-text; q=0"], false),
        ];
        assert!(!cases.is_empty());
        for (values, want) in cases {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append(header::ACCEPT, v.parse().expect("header"));
            }
            assert_eq!(wants_openmetrics(&h), *want, "{values:?}");
        }
    }
}
