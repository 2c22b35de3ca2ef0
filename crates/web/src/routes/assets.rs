//! Static assets, embedded in the binary (no directory on disk to list or traverse, SEC-79).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../../static/attest.css");
const PASSKEY_SCRIPT: &str = include_str!("../../static/passkey.js");
const CONTINUE_SCRIPT: &str = include_str!("../../static/continue.js");
const UPLOAD_SCRIPT: &str = include_str!("../../static/upload.js");

/// A public, cacheable text asset.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// `GET /static/attest.css`: public and cacheable.
pub async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

/// `GET /static/passkey.js`: the passkey pages' only script (CSP `script-src 'self'`).
pub async fn passkey_script() -> Response {
    asset(PASSKEY_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /static/continue.js`: sends an interrupted form on after a step-up.
pub async fn continue_script() -> Response {
    asset(CONTINUE_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /static/upload.js`: upload progress for forms marked `data-upload`.
pub async fn upload_script() -> Response {
    asset(UPLOAD_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /favicon.ico`: no icon, and browsers should not ask again.
pub async fn favicon() -> Response {
    let mut r = axum::http::StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}
