//! Refusals as `application/problem+json` (RFC 9457): `{"type", "title",
//! "status", "detail", "code"}`, `code` being the control socket's error
//! code where one fits; and the extractors whose rejections become such
//! problems (a JSON body read under the size limit, query strings, path
//! ids), so no refusal leaves the server as anything else.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::gateway::GatewayError;

/// A problem document.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:smsgate:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `too_large`, `invalid`,
    /// `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// Seconds to wait (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Why the gateway is not ready (503 from `/health/ready` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
}

/// An error a handler returns: a problem plus the headers it needs.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Boxed: handlers return `Result<_, ApiError>` everywhere.
    pub problem: Box<Problem>,
    /// Ask for credentials (401).
    pub challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            problem: Box::new(Problem {
                kind: format!("urn:smsgate:problem:{code}"),
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                status: status.as_u16(),
                detail: detail.into(),
                code: code.to_string(),
                retry_after: None,
                reasons: None,
            }),
            challenge: false,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        e.challenge = true;
        e
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", detail)
    }

    pub fn rate_limited(wait_s: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for this token; retry in {wait_s} s"),
        );
        e.problem.retry_after = Some(wait_s);
        e
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> ApiError {
        let (status, code) = match &e {
            GatewayError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            GatewayError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            GatewayError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            GatewayError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            GatewayError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            GatewayError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.problem.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        if self.challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"smsgate\", Basic realm=\"smsgate\""),
            );
        }
        resp
    }
}

/// Parses a JSON body into `T`: malformed JSON, a wrong type, a missing or
/// unknown field are 400 with the path of the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = match inner.classify() {
            serde_json::error::Category::Data => "bad request",
            serde_json::error::Category::Eof => "incomplete JSON",
            _ => "malformed JSON",
        };
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("{what}: {inner}"))
        } else {
            ApiError::bad_request(format!("{what}: {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(v)
}

/// The raw body under the configured limit (413 past it).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(BytesRejection::FailedToBufferBody(e))
                if e.body_text().contains("length limit") =>
            {
                Err(ApiError::too_large(
                    "the request body is larger than [http] max_body_bytes",
                ))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::too_large(
                "the request body is larger than [http] max_body_bytes",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "reading the body: {}",
                e.body_text()
            ))),
        }
    }
}

/// A query string parsed into `T`; a bad one is 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(q)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("query string: {e}")))
    }
}

/// A path parameter parsed into `T`; a bad one is 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        to: String,
        #[serde(default)]
        n: u32,
    }

    #[test]
    fn every_bad_body_is_a_400_naming_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("{", "incomplete JSON"),
            ("{\"to\": }", "malformed JSON"),
            ("{\"to\": 5}", "to"),
            ("{\"to\": \"1\", \"x\": 1}", "unknown field"),
            ("{\"to\": \"1\", \"n\": \"3\"}", "n"),
            ("{}", "missing field"),
            ("{\"to\": \"1\"} x", "malformed JSON"),
            ("", "JSON"),
        ];
        for (body, needle) in cases {
            let e = parse_json::<T>(body.as_bytes()).unwrap_err();
            assert_eq!(e.problem.status, 400, "{body}");
            assert_eq!(e.problem.code, "bad_request");
            assert!(
                e.problem.detail.contains(needle),
                "{body}: {}",
                e.problem.detail
            );
        }
        assert!(parse_json::<T>(b"{\"to\": \"1\"}").is_ok());
    }

    #[test]
    fn gateway_errors_map_to_their_statuses() {
        let table = [
            (GatewayError::Invalid("x".into()), 422, "invalid"),
            (GatewayError::NotFound("x".into()), 404, "not_found"),
            (GatewayError::Conflict("x".into()), 409, "conflict"),
            (GatewayError::Unavailable("x".into()), 503, "unavailable"),
            (GatewayError::Internal("x".into()), 500, "internal"),
        ];
        for (e, status, code) in table {
            let p = ApiError::from(e).problem;
            assert_eq!((p.status, p.code.as_str()), (status, code));
        }
    }
}
