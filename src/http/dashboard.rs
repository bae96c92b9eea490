//! The web dashboard's static files (`GET /` and `/assets/*`), compiled into
//! the binary from `src/http/dashboard/`: plain HTML, CSS and JavaScript
//! with charts drawn as SVG by that script, so the page needs nothing from
//! outside the daemon. Owns their headers: content types, a strict
//! Content-Security-Policy (everything from the daemon itself, no inline
//! code), ETags, and cache lifetimes (the page is revalidated on every load;
//! the assets it names carry a content version and are kept for a year).
//!
//! Serves no data: the page asks the API for everything with the user's
//! token (it is the dashboard's script that holds it, not these routes,
//! which need none).

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::problem::{ApiError, Path, Query};
use super::AppState;

const INDEX: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");
const ICON: &str = include_str!("dashboard/icon.svg");

/// Everything from the daemon itself, nothing inline, no frames.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file as served.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: String,
}

struct Assets {
    /// The content version the page puts on every asset's URL.
    version: String,
    index: Vec<u8>,
    index_etag: String,
    files: Vec<(&'static str, Asset)>,
}

fn etag_of(bytes: &[u8]) -> String {
    let hex = crate::gateway::api::sha256_hex(bytes);
    format!("\"{}\"", hex.get(..20).unwrap_or(&hex))
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let raw: [(&'static str, &'static str, &'static str); 3] = [
            ("app.js", APP_JS, "text/javascript; charset=utf-8"),
            ("app.css", APP_CSS, "text/css; charset=utf-8"),
            ("icon.svg", ICON, "image/svg+xml"),
        ];
        let all: String = raw.iter().map(|(_, body, _)| *body).collect();
        let hex = crate::gateway::api::sha256_hex(all.as_bytes());
        let version = hex.get(..12).unwrap_or(&hex).to_string();
        let index = INDEX.replace("{{v}}", &version).into_bytes();
        let files = raw
            .into_iter()
            .map(|(name, body, content_type)| {
                (
                    name,
                    Asset {
                        body: body.as_bytes(),
                        content_type,
                        etag: etag_of(body.as_bytes()),
                    },
                )
            })
            .collect();
        Assets {
            version,
            index_etag: etag_of(&index),
            index,
            files,
        }
    })
}

/// The page and its assets; no token needed.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

/// The headers every dashboard answer has.
fn common(h: &mut HeaderMap, etag: &str) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::ETAG, etag);
}

/// `If-None-Match` names this ETag (or `*`).
fn fresh(req: &HeaderMap, etag: &str) -> bool {
    req.get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        })
}

fn answer(
    req: &HeaderMap,
    body: &'static [u8],
    content_type: &str,
    etag: &str,
    cache: &str,
) -> Response {
    let mut resp = if fresh(req, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = resp.headers_mut();
    common(h, etag);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// `GET /`: the page; revalidated on every load (its ETag changes with
/// any asset, since it names their version).
async fn index(req: HeaderMap) -> Response {
    let a = assets();
    answer(
        &req,
        a.index.as_slice(),
        "text/html; charset=utf-8",
        &a.index_etag,
        "no-cache",
    )
}

#[derive(Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

/// `GET /assets/{name}?v=VERSION`: kept for a year when the version is the
/// current one, revalidated otherwise.
async fn asset(
    Path(name): Path<String>,
    Query(q): Query<AssetQuery>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let a = assets();
    let Some((_, file)) = a.files.iter().find(|(n, _)| *n == name) else {
        return Err(ApiError::not_found(format!("no dashboard asset {name:?}")));
    };
    let cache = if q.v.as_deref() == Some(a.version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(answer(
        &req,
        file.body,
        file.content_type,
        &file.etag,
        cache,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_each_asset_with_the_version() {
        let a = assets();
        let page = String::from_utf8(a.index.clone()).expect("utf-8");
        assert!(!page.contains("{{v}}"));
        for (name, _) in &a.files {
            assert!(
                page.contains(&format!("/assets/{name}?v={}", a.version)),
                "{name} in the page"
            );
        }
    }

    #[test]
    fn nothing_points_outside_the_daemon() {
        let table: &[(&str, &str)] = &[
            ("index.html", INDEX),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ];
        assert!(!table.is_empty());
        for (name, text) in table {
            for bad in ["http://", "https://", "//cdn", "@import", "url("] {
                // The SVG namespace is a name, not a request.
                let hits = text
                    .match_indices(bad)
                    .filter(|(i, _)| !text[*i..].starts_with("http://www.w3.org/2000/svg"))
                    .count();
                assert_eq!(hits, 0, "{name} contains {bad:?}");
            }
            assert!(!text.contains("<script>"), "{name}: inline script");
            assert!(!text.contains("style=\""), "{name}: inline style");
            assert!(!text.contains("eval("), "{name}: eval");
        }
    }

    #[test]
    fn if_none_match_is_read_as_a_list() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(fresh(&h, "\"b\""));
        assert!(fresh(&h, "\"a\""));
        assert!(!fresh(&h, "\"c\""));
        assert!(!fresh(&HeaderMap::new(), "\"a\""));
    }
}
