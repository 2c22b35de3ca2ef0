//! Who may call a route (SEC-31: deny by default). Every route of the router is declared in
//! [`crate::router::ROUTES`] together with an [`Access`]; the router is built from that table
//! only, so a route cannot exist without a policy, and [`enforce`] runs it before any handler:
//!
//! - [`Access::Public`] routes are the allowlist (sign-in, reset, invitations, SSO, health,
//!   static files, and `/metrics`, which checks its own bearer token);
//! - every other route needs a live session, checked against the database here. The
//!   verified session is handed to the handler's extractor, so the lookup happens once;
//! - [`Access::Needs`] routes also need a permission of the caller's role in the session's
//!   tenant (`attest_domain::access::Permission`: the role model in one table).
//!
//! The domain still checks each object and action (SEC-32): this layer is the first wall,
//! not the only one.

use attest_domain::access::Permission;
use attest_domain::authn::api_tokens::{TokenFailure, TokenScope};
use attest_domain::authn::sessions::VerifiedSession;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{accept_checked, authenticate_request, bearer};
use crate::cookies;
use crate::error::{Format, error_code_response};
use crate::middleware::RequestContext;

/// The policy of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed (the allowlist).
    Public,
    /// A session, even one that must still enrol a second factor (the security page,
    /// step-up, sign-out).
    Enrolling,
    /// A session in full standing.
    SignedIn,
    /// A session in full standing whose role in its tenant has this permission.
    Needs(Permission),
}

impl Access {
    /// Owners and admins: the tenant's settings and its members.
    pub const TENANT_ADMIN: Self = Self::Needs(Permission::ManageTenant);
}

impl Access {
    /// Whether the route needs no session.
    #[must_use]
    pub const fn is_public(self) -> bool {
        matches!(self, Self::Public)
    }
}

/// The middleware that applies a route's [`Access`] before its handler runs. An API route
/// called with `Authorization: Bearer` and no session cookie is authenticated by its token.
pub async fn enforce(
    State((state, access)): State<(AppState, Access)>,
    request: Request,
    next: Next,
) -> Response {
    if access.is_public() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let request_id = parts
        .extensions
        .get::<RequestContext>()
        .map_or_else(attest_types::RequestId::new_random, |c| c.request_id);
    let format = Format::negotiate(parts.uri.path(), &parts.headers);
    let token_request = parts.uri.path().starts_with("/api/v1/")
        && cookies::get(&parts.headers, cookies::SESSION).is_none()
        && bearer(&parts.headers).is_some();
    let session = if token_request {
        match by_token(&state, &parts).await {
            Ok(s) => {
                // A read-only token only reads (SEC-77).
                if s.token_scope == Some(TokenScope::Read)
                    && !matches!(parts.method, Method::GET | Method::HEAD)
                {
                    return error_code_response(
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        request_id,
                        Format::Json,
                    );
                }
                accept_checked(&mut parts, s.clone());
                s
            }
            Err(r) => return r,
        }
    } else {
        let session =
            match authenticate_request(&mut parts, &state, access == Access::Enrolling).await {
                Ok(s) => s,
                Err(rejection) => return rejection.into_response(),
            };
        // The API's request limits apply to scripts using a session too (SEC-78).
        if parts.uri.path().starts_with("/api/v1/") {
            let ip = parts
                .extensions
                .get::<RequestContext>()
                .map(|c| c.client_ip);
            if let Err(wait) = state.identity.count_api_request(session.user, ip) {
                return too_many(request_id, wait);
            }
        }
        session
    };
    if let Access::Needs(permission) = access
        && !session
            .tenant
            .is_some_and(|(_, role)| permission.granted_to(role))
    {
        return error_code_response(StatusCode::FORBIDDEN, "forbidden", request_id, format);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Authenticates an API request by its bearer token (SEC-77): 401 `invalid_token` with a
/// `WWW-Authenticate` challenge, or 429 with `Retry-After` over a limit (SEC-78).
async fn by_token(state: &AppState, parts: &Parts) -> Result<VerifiedSession, Response> {
    let context = parts.extensions.get::<RequestContext>();
    let request_id = context.map_or_else(attest_types::RequestId::new_random, |c| c.request_id);
    let ip = context.map(|c| c.client_ip);
    let token = bearer(&parts.headers).unwrap_or_default();
    match state.identity.authenticate_api_token(token, ip).await {
        Ok(s) => Ok(s),
        Err(TokenFailure::Invalid) => {
            let mut r = error_code_response(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                request_id,
                Format::Json,
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            Err(r)
        }
        Err(TokenFailure::Throttled(wait)) => Err(too_many(request_id, wait)),
        Err(TokenFailure::Unavailable) => {
            Err(crate::error::unavailable_response(request_id, Format::Json))
        }
    }
}

/// 429 `rate_limited` with `Retry-After` (SEC-78).
fn too_many(request_id: attest_types::RequestId, wait: time::Duration) -> Response {
    let mut r = error_code_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        request_id,
        Format::Json,
    );
    if let Ok(v) = HeaderValue::from_str(&wait.whole_seconds().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}
