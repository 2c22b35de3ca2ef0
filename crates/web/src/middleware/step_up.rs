//! Inline step-up for browser forms (SEC-29). When a form post meets a use case that wants a
//! recent proof of presence, the handler answers with a [`ReauthNeeded`] marker; this layer,
//! which kept the posted fields, turns that into the step-up page carrying them as hidden
//! inputs. The page posts to `/reauth?continue=<the form's path>`, and a successful proof
//! answers `307`, so the browser re-sends the same fields to the original action: the action
//! continues without being filled in again. Passwords are never carried (the page says to
//! enter them again), nor secrets such as an SSO client secret, nor the CSRF token (the page has its own) or the step-up's own fields.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Set by a handler whose form needs a recent proof of presence first; `next` is where to go
/// if the form cannot be carried over.
#[derive(Debug, Clone)]
pub struct ReauthNeeded {
    /// The page to come back to.
    pub next: String,
}

/// Fields the step-up page itself uses, or that must never be echoed into a page.
pub(crate) fn carried(name: &str) -> bool {
    !(name == "csrf_token"
        || name == "method"
        || name == "value"
        || name == "next"
        || is_secret(name))
}

/// Fields never echoed into a page: passwords and secrets (e.g. an SSO client secret, which
/// is write-only).
fn is_secret(name: &str) -> bool {
    name.contains("password") || name.contains("secret")
}

/// Keeps a browser form's fields, and renders the step-up page when the handler asks for it.
pub async fn replay(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_form = request.method() == Method::POST
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, state.settings.max_body_bytes).await else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return r;
    };
    let path = parts.uri.path().to_owned();
    let headers = parts.headers.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let Some(needed) = response.extensions().get::<ReauthNeeded>().cloned() else {
        return response;
    };
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let dropped = fields.iter().any(|(k, _)| is_secret(k));
    let carry: Vec<(String, String)> = fields.into_iter().filter(|(k, _)| carried(k)).collect();
    let action = if dropped {
        None
    } else {
        Some(crate::routes::auth::safe_next(Some(&path)))
    };
    match crate::routes::mfa::inline_reauth_page(&state, &headers, needed.next, action, carry).await
    {
        Ok(Some(page)) => page,
        Ok(None) => response,
        Err(e) => {
            tracing::error!(error = %e, "could not render the step-up page; redirecting instead");
            response
        }
    }
}
