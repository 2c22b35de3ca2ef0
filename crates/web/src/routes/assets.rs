//! Static assets, embedded in the binary (no directory on disk to list or traverse, SEC-79).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("../../static/attest.css");

/// `GET /static/attest.css`: public and cacheable.
pub async fn stylesheet() -> Response {
    let mut r = STYLESHEET.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
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
