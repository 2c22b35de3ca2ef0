//! Cross-site request forgery protection (SEC-50), in one place for every route:
//!
//! - Every request gets a [`CsrfToken`] to render into its forms: bound to the session
//!   (derived from the session cookie, which a forging site cannot read) or, before sign-in,
//!   to a random pre-session cookie set here.
//! - Every state-changing request (anything but GET, HEAD, OPTIONS) must come from our own
//!   origin (`Origin`, else `Sec-Fetch-Site: same-origin`) and carry the token, in the
//!   `X-CSRF-Token` header or the `csrf_token` form field. Otherwise: 403 and nothing runs.

use attest_domain::authn::sessions::csrf_for;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::AppState;
use crate::cookies;
use crate::error::{Format, error_code_response};
use crate::middleware::RequestContext;

/// The CSRF token for forms in this response.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn same_origin(request: &Request, public_url: &str) -> bool {
    let headers = request.headers();
    // Browsers send `Origin: null` when the referrer policy hides the referrer; then the
    // Fetch Metadata header decides.
    match headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    {
        Some(origin) => origin.trim_end_matches('/') == public_url.trim_end_matches('/'),
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == "same-origin"),
    }
}

fn digest_eq(a: &str, b: &str) -> bool {
    attest_crypto::random::sha256(a.as_bytes()) == attest_crypto::random::sha256(b.as_bytes())
}

/// The middleware.
pub async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let session_cookie = cookies::get(request.headers(), cookies::SESSION);
    // A script with an API token and no session cookie cannot be a forged browser request:
    // browsers never add `Authorization` on their own. The route policy authenticates it.
    if session_cookie.is_none() && crate::auth::bearer(request.headers()).is_some() {
        let mut request = request;
        request.extensions_mut().insert(CsrfToken(String::new()));
        return next.run(request).await;
    }
    let pre_cookie = cookies::get(request.headers(), cookies::PRE_SESSION);
    let (expected, new_pre) = match (&session_cookie, &pre_cookie) {
        (Some(token), _) => (csrf_for(token), None),
        (None, Some(pre)) => (csrf_for(&format!("pre:{pre}")), None),
        (None, None) => match attest_crypto::random::token() {
            Ok(pre) => (csrf_for(&format!("pre:{pre}")), Some(pre)),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
    };
    let format = Format::negotiate(request.uri().path(), request.headers());
    let request_id = request
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.request_id)
        .unwrap_or_else(attest_types::RequestId::new_random);
    let mut request = request;
    if !is_safe(request.method()) {
        if !same_origin(&request, &state.settings.public_url) {
            return error_code_response(StatusCode::FORBIDDEN, "csrf_origin", request_id, format);
        }
        let header_token = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let provided = match header_token {
            Some(t) => Some(t),
            None if is_form(&request) => {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = to_bytes(body, state.settings.max_body_bytes).await else {
                    return StatusCode::PAYLOAD_TOO_LARGE.into_response();
                };
                let token = form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == "csrf_token")
                    .map(|(_, v)| v.into_owned());
                request = Request::from_parts(parts, Body::from(bytes));
                token
            }
            None => None,
        };
        if new_pre.is_some() || !provided.is_some_and(|p| digest_eq(&p, &expected)) {
            return error_code_response(StatusCode::FORBIDDEN, "csrf_token", request_id, format);
        }
    }
    request.extensions_mut().insert(CsrfToken(expected));
    let mut response = next.run(request).await;
    if let Some(pre) = new_pre
        && let Some(v) = cookies::pre_session(&pre)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// Marks a response as one that must not keep the cookie (used by sign-out).
#[must_use]
pub fn clear_site_data() -> HeaderValue {
    HeaderValue::from_static("\"cache\", \"cookies\", \"storage\"")
}
