//! The two cookies Attest sets, and reading cookies from a request. Both are `__Host-`
//! prefixed (Secure, Path=/, no Domain: bound to this exact origin, SEC-21) and HttpOnly.
//!
//! - `__Host-attest-session`: the 256-bit session token (SameSite=Lax so links into Attest
//!   from mail keep the user signed in; state changes are protected by CSRF tokens anyway).
//! - `__Host-attest-csrf`: a random value for forms shown before sign-in (double submit).
//! - `__Host-attest-pending`: a half-signed-in login between password and second factor
//!   (SameSite=Strict, five minutes; it grants nothing but the second-factor prompt).

use axum::http::{HeaderMap, HeaderValue, header};

/// The session cookie's name.
pub const SESSION: &str = "__Host-attest-session";
/// The pre-session CSRF cookie's name.
pub const PRE_SESSION: &str = "__Host-attest-csrf";

/// The pending-login cookie's name.
pub const PENDING: &str = "__Host-attest-pending";

/// `Set-Cookie` for a pending login.
#[must_use]
pub fn pending(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{PENDING}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=300"
    ))
    .ok()
}

/// `Set-Cookie` removing the pending-login cookie.
#[must_use]
pub fn clear_pending() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-attest-pending=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// The value of a cookie in the request, if present once.
#[must_use]
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for the session token.
#[must_use]
pub fn session(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION}={token}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// `Set-Cookie` for the pre-session CSRF value.
#[must_use]
pub fn pre_session(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{PRE_SESSION}={value}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// `Set-Cookie` removing the session cookie.
#[must_use]
pub fn clear_session() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-attest-session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}
