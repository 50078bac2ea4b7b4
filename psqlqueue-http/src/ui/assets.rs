//! The dashboard's page and its static files, embedded in the binary: hand-written HTML, CSS,
//! JavaScript and an SVG icon, no build step and nothing fetched from elsewhere.
//!
//! Each answer carries an ETag (a hash of the file, computed once) and `Cache-Control:
//! no-cache`, so a browser revalidates and gets 304 until the binary changes; and a
//! Content-Security-Policy that lets the page load only its own files and call only this
//! sidecar, so text from messages or filters can never run as script.

use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
#[derive(Debug)]
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: LazyLock<String>,
}

/// A strong ETag from the first 16 bytes of the file's SHA-256.
fn etag_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

macro_rules! asset {
    ($file:literal, $type:literal) => {{
        const BODY: &str = include_str!(concat!("assets/", $file));
        Asset {
            body: BODY,
            content_type: $type,
            etag: LazyLock::new(|| etag_of(BODY)),
        }
    }};
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("app.css", "text/css; charset=utf-8");
static ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// Only this origin's files and API; inline styles stay off (the page sets none), and no
/// other site may frame the page.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /ui`: the page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /ui/app.js`.
pub(crate) async fn script(headers: HeaderMap) -> Response {
    serve(&SCRIPT, &headers)
}

/// `GET /ui/app.css`.
pub(crate) async fn style(headers: HeaderMap) -> Response {
    serve(&STYLE, &headers)
}

/// `GET /ui/icon.svg`.
pub(crate) async fn icon(headers: HeaderMap) -> Response {
    serve(&ICON, &headers)
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = asset.etag.as_str();
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 4] = [
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, POLICY),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    response
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_page_names_only_its_own_files() {
        for file in ["/ui/app.js", "/ui/app.css", "/ui/icon.svg"] {
            assert!(INDEX.body.contains(file), "index.html loads {file}");
        }
        // No CDN: nothing on the page or in the script points at another host.
        for asset in [&INDEX, &SCRIPT, &STYLE] {
            assert!(!asset.body.contains("http://") && !asset.body.contains("https://"));
        }
    }

    #[test]
    fn a_matching_etag_is_answered_304() {
        let mut request = HeaderMap::new();
        let first = serve(&STYLE, &request);
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[ETAG].clone();
        request.insert(IF_NONE_MATCH, tag);
        assert_eq!(serve(&STYLE, &request).status(), StatusCode::NOT_MODIFIED);
    }
}
