//! Who may call a route (SEC-31: deny by default). Every route of the router is declared in
//! [`crate::router::ROUTES`] together with an [`Access`]; the router is built from that table
//! only, so a route cannot exist without a policy, and [`enforce`] runs it before any handler:
//!
//! - [`Access::Public`] routes are the allowlist (sign-in, reset, invitations, SSO, health,
//!   static files, and `/metrics`, which checks its own bearer token);
//! - every other route needs a live session, checked against the database here. The
//!   verified session is handed to the handler's extractor, so the lookup happens once;
//! - [`Access::TenantAdmin`] routes also need the owner or admin role in the session's tenant.
//!
//! The domain still checks each object and action (SEC-32): this layer is the first wall,
//! not the only one.

use attest_types::Role;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::authenticate_request;
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
    /// A session in full standing whose role in its tenant is owner or admin.
    TenantAdmin,
}

impl Access {
    /// Whether the route needs no session.
    #[must_use]
    pub const fn is_public(self) -> bool {
        matches!(self, Self::Public)
    }
}

/// The middleware that applies a route's [`Access`] before its handler runs.
pub async fn enforce(
    State((state, access)): State<(AppState, Access)>,
    request: Request,
    next: Next,
) -> Response {
    if access.is_public() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let session = match authenticate_request(&mut parts, &state, access == Access::Enrolling).await
    {
        Ok(s) => s,
        Err(rejection) => return rejection.into_response(),
    };
    if access == Access::TenantAdmin
        && !matches!(session.tenant, Some((_, Role::Owner | Role::Admin)))
    {
        let request_id = parts
            .extensions
            .get::<RequestContext>()
            .map_or_else(attest_types::RequestId::new_random, |c| c.request_id);
        let format = Format::negotiate(parts.uri.path(), &parts.headers);
        return error_code_response(StatusCode::FORBIDDEN, "forbidden", request_id, format);
    }
    next.run(Request::from_parts(parts, body)).await
}
