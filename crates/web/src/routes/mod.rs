//! Handlers, one module per area.

pub mod access_reviews;
pub mod account;
pub mod activities;
pub mod assets;
pub mod auth;
pub mod controls;
pub mod dashboard;
pub mod documents;
pub mod email;
pub mod evidence;
pub mod frameworks;
pub mod health;
pub mod home;
pub mod mfa;
pub mod onboarding;
pub mod operator_access;
pub mod passkeys;
pub mod risks;
pub mod runs;
pub mod sso;
pub mod tokens;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

/// Whether the session's role in its tenant has a permission (for what a page offers; the
/// router and the domain still check every request).
pub(crate) fn granted(
    session: &attest_domain::authn::sessions::VerifiedSession,
    p: attest_domain::access::Permission,
) -> bool {
    session.tenant.is_some_and(|(_, r)| p.granted_to(r))
}

/// `303 See Other` to a path (after a form post).
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A CSV file download: `text/csv`, as an attachment named `name` (a fixed, safe name).
pub(crate) fn csv_attachment(csv: String, name: &'static str) -> Response {
    let mut r = csv.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
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

/// The answer to a failed identity operation, for JSON clients: a status and a stable code
/// (SEC-76: no internals). `None` for failures that are internal errors.
pub(crate) fn identity_error_json(
    e: &attest_domain::identity::IdentityError,
    request_id: attest_types::RequestId,
) -> Option<Response> {
    use attest_domain::identity::IdentityError as E;
    let (status, code, retry) = match e {
        E::ReauthRequired => (StatusCode::UNAUTHORIZED, "reauth_required", None),
        E::InvalidCode => (StatusCode::UNAUTHORIZED, "invalid_code", None),
        E::PasskeyRejected => (StatusCode::UNAUTHORIZED, "passkey_rejected", None),
        E::WrongPassword => (StatusCode::UNAUTHORIZED, "wrong_password", None),
        E::TotpLocked(d) => (StatusCode::TOO_MANY_REQUESTS, "totp_locked", Some(*d)),
        E::Throttled(d) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(*d)),
        E::UnsupportedMethod => (StatusCode::BAD_REQUEST, "unsupported_method", None),
        E::SecondFactorRequired => (StatusCode::CONFLICT, "second_factor_required", None),
        E::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
        E::NotFound => (StatusCode::NOT_FOUND, "not_found", None),
        E::Taken(_) => (StatusCode::CONFLICT, "taken", None),
        E::LastOwner => (StatusCode::CONFLICT, "last_owner", None),
        E::LinkGone | E::LinkUnknown => (StatusCode::BAD_REQUEST, "invalid_link", None),
        E::Invalid {
            field,
            code,
            message,
        } => {
            return Some(crate::error::field_error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                field,
                message,
                request_id,
            ));
        }
        _ => return None,
    };
    let mut r =
        crate::error::error_code_response(status, code, request_id, crate::error::Format::Json);
    if let Some(d) = retry
        && let Ok(v) = HeaderValue::from_str(&d.whole_seconds().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(r)
}

/// The page a form was posted from (same origin, from `Referer`), for coming back after a
/// step-up; `fallback` otherwise.
pub(crate) fn came_from(headers: &axum::http::HeaderMap, fallback: &str) -> String {
    let path = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()));
    crate::routes::auth::safe_next(path.as_deref().or(Some(fallback)))
}

/// `303` to the step-up page, coming back to `next` afterwards (SEC-29).
pub(crate) fn reauth_redirect(next: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    see_other(&format!("/reauth?next={encoded}"))
}

/// The answer to a completed sign-in: the session cookie and, for scripts, the session's CSRF
/// token as JSON; for browsers, a redirect to `next`.
pub(crate) fn signed_in(
    format: crate::error::Format,
    next: &str,
    token: &str,
    session: &attest_domain::authn::sessions::VerifiedSession,
) -> Response {
    use axum::response::IntoResponse as _;
    let r = if format == crate::error::Format::Json {
        axum::Json(serde_json::json!({
            "status": "signed_in",
            "user": session.user.to_string(),
            "csrf_token": session.csrf_token,
        }))
        .into_response()
    } else {
        see_other(next)
    };
    with_session_cookie(r, token)
}

/// The answer of a browser form whose action needs a fresh proof (SEC-29): the step-up
/// layer turns it into the prompt that carries the form on; a request it did not keep (not a
/// form) follows the redirect to the prompt instead, coming back to `next`.
pub(crate) fn inline_step_up(next: String) -> Response {
    let mut r = reauth_redirect(&next);
    r.extensions_mut()
        .insert(crate::middleware::step_up::ReauthNeeded { next });
    r
}

/// A timestamp for JSON: RFC 3339 in UTC, as every API answer gives times.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A calendar date `YYYY-MM-DD` as the start of that day in UTC; `None` if it is not one.
pub(crate) fn parse_date(text: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format)
        .ok()
        .map(|d| d.midnight().assume_utc())
}
