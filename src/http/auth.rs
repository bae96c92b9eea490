//! Who is calling: `Authorization: Bearer TOKEN` or HTTP Basic (the token's
//! name as user, the token as password), checked by the gateway against the
//! stored hashes; the per-token rate limit (`[http] rate`, a token bucket
//! holding one second's worth); the scope check handlers call. Every refusal
//! is a problem (401 with a challenge, 403, 429 with `Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::problem::ApiError;
use super::AppState;
use crate::gateway::api::{Caller, Scope};

/// Token buckets, one per token name.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one request from `name`'s bucket at `rate` per second;
    /// `Err(seconds to wait)` when it is empty. `rate` 0 is no limit.
    pub fn check(&self, name: &str, rate: u32, now: Instant) -> Result<(), u64> {
        if rate == 0 {
            return Ok(());
        }
        let rate = f64::from(rate);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(name.to_string()).or_insert((rate, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / rate).ceil();
            Err((wait as u64).max(1))
        }
    }
}

/// What the `Authorization` header says: a secret, and a name for Basic.
pub fn credentials(value: &str) -> Option<(String, Option<String>)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| (rest.to_string(), None));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        return Some((pass.to_string(), Some(user.to_string())));
    }
    None
}

/// Middleware: authenticates, rate-limits, and hands the [`Caller`] to the
/// handler as an extension.
pub async fn require_token(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    match caller(&st, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The caller a request's `Authorization` header names, rate-limited; a
/// problem when there is none or it is unknown (for routes outside the
/// middleware that ask for a token only when configured to: `/metrics`).
pub async fn caller(st: &AppState, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "a token is required (Authorization: Bearer TOKEN)",
        ));
    };
    let Some((secret, name)) = value.to_str().ok().and_then(credentials) else {
        return Err(ApiError::unauthorized(
            "the Authorization header is neither Bearer nor Basic",
        ));
    };
    let caller = match st.gw.authenticate(&secret, name.as_deref()).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(ApiError::unauthorized("unknown or revoked token")),
        Err(e) => return Err(ApiError::from(e)),
    };
    let rate = st.gw.config().http.rate;
    if let Err(wait) = st.limiter.check(&caller.name, rate, Instant::now()) {
        return Err(ApiError::rate_limited(wait));
    }
    Ok(caller)
}

/// 403 unless the caller holds `scope` (or `admin`).
pub fn need(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.may(scope) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "token {:?} lacks the {:?} scope",
            caller.name,
            scope.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn authorization_headers() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        type Creds = Option<(String, Option<String>)>;
        let cases: Vec<(String, Creds)> = vec![
            ("Bearer abc".into(), Some(("abc".into(), None))),
            ("bearer  abc ".into(), Some(("abc".into(), None))),
            ("Bearer ".into(), None),
            (
                format!("Basic {}", b("app:sgt_x")),
                Some(("sgt_x".into(), Some("app".into()))),
            ),
            (format!("Basic {}", b("no-colon")), None),
            ("Basic !!!".into(), None),
            ("Digest x".into(), None),
            ("".into(), None),
        ];
        for (h, want) in cases {
            assert_eq!(credentials(&h), want, "{h}");
        }
    }

    #[test]
    fn the_bucket_holds_one_second_and_refills() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.check("a", 5, t0), Ok(()));
        }
        assert_eq!(l.check("a", 5, t0), Err(1));
        // Another token has its own bucket.
        assert_eq!(l.check("b", 5, t0), Ok(()));
        // 200 ms at 5/s is one more request.
        assert_eq!(l.check("a", 5, t0 + Duration::from_millis(200)), Ok(()));
        assert!(l.check("a", 5, t0 + Duration::from_millis(200)).is_err());
        // No limit.
        for _ in 0..100 {
            assert_eq!(l.check("c", 0, t0), Ok(()));
        }
    }
}
