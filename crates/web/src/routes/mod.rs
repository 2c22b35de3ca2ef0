//! Handlers, one module per area.

pub mod account;
pub mod assets;
pub mod auth;
pub mod health;
pub mod home;
pub mod onboarding;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

/// `303 See Other` to a path (after a form post).
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Adds the session cookie of a new session to a response.
pub(crate) fn with_session_cookie(mut r: Response, token: &str) -> Response {
    if let Some(c) = crate::cookies::session(token) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}
