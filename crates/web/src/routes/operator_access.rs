//! Operator access (SEC-39): the page where a tenant's owners and admins let the operator
//! read their records for a few hours, see every grant and end one early. The operator itself
//! has no web access at all; it uses the CLI (`attest admin tenant-documents`).

use askama::Template;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::identity::IdentityError;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::AppError;
use crate::middleware::RequestContext;
use crate::routes::account::{chrome, when};
use crate::routes::{inline_step_up, see_other};
use crate::views::{self, Chrome};

/// One grant as shown.
struct Line {
    id: String,
    by: String,
    reason: String,
    created: String,
    expires: String,
    live: bool,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "operator_access.html")]
struct Page {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    grants: Vec<Line>,
    errors: Vec<(String, String)>,
}

async fn page_with(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let grants = match state.identity.operator_grants(session).await {
        Ok(g) => g.into_inner(),
        Err(IdentityError::Forbidden | IdentityError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(AppError::internal(&e)),
    }
    .into_iter()
    .map(|g| {
        let live = g.revoked_at.is_none() && g.expires_at > now;
        Line {
            id: g.id.to_string(),
            by: g.granted_by_name.unwrap_or_default(),
            reason: g.reason,
            created: when(g.created_at),
            expires: when(g.expires_at),
            live,
            state: if g.revoked_at.is_some() {
                "revoked"
            } else if live {
                "live"
            } else {
                "expired"
            },
        }
    })
    .collect();
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &Page {
            title: "Operator access",
            chrome,
            csrf: session.csrf_token.clone(),
            grants,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /tenant/operator-access`
///
/// # Errors
/// Only on internal failure.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    page_with(&state, &session, StatusCode::OK, Vec::new()).await
}

/// A grant's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    _csrf_token: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    reason: String,
}

/// `POST /tenant/operator-access` (needs a recent proof, SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn grant(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<GrantForm>,
) -> Result<Response, AppError> {
    let hours = form.hours.trim().parse::<i64>().unwrap_or(0);
    let origin = client_of(Some(&ctx), None).1;
    match state
        .identity
        .grant_operator_access(&session, hours, &form.reason, origin)
        .await
    {
        Ok(_) => Ok(see_other("/tenant/operator-access")),
        Err(IdentityError::ReauthRequired) => {
            Ok(inline_step_up("/tenant/operator-access".to_owned()))
        }
        Err(IdentityError::Invalid { field, message, .. }) => {
            page_with(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(IdentityError::Forbidden | IdentityError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(&e)),
    }
}

/// `POST /tenant/operator-access/{id}/revoke`
///
/// # Errors
/// 404 for an unknown or ended grant.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let origin = client_of(Some(&ctx), None).1;
    match state
        .identity
        .revoke_operator_grant(&session, &id, origin)
        .await
    {
        Ok(()) => Ok(see_other("/tenant/operator-access")),
        Err(IdentityError::Forbidden | IdentityError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(&e)),
    }
}
