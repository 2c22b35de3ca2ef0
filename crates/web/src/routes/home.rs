//! The start page: status for visitors, the user's organisations once signed in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::auth::{Enrolling, tag};
use crate::error::AppError;
use crate::routes::account::chrome;
use crate::views::{self, Chrome, HomePage, TenantLine};

/// `GET /`
///
/// # Errors
/// If the page cannot be rendered.
pub async fn home(
    State(state): State<AppState>,
    session: Option<Enrolling>,
) -> Result<Response, AppError> {
    if let Some(Enrolling(s)) = &session
        && s.standing != attest_domain::authn::sessions::Standing::Full
    {
        // SEC-12: the user's role or organisation needs a second factor first.
        return Ok(crate::routes::see_other("/account/security"));
    }
    let ready = attest_domain::health::readiness(&state.db).await.is_ok();
    let (chrome, tenants, csrf) = match &session {
        Some(Enrolling(s)) => {
            let (c, _) = chrome(&state, s).await?;
            let current = s.tenant.map(|t| t.0);
            let tenants = state
                .identity
                .tenants_of(s.user)
                .await
                .map_err(|e| AppError::internal(&e))?
                .into_iter()
                .map(|(id, name, role)| TenantLine {
                    id: id.to_string(),
                    name,
                    role: role_label(role).to_owned(),
                    current: Some(id) == current,
                })
                .collect();
            (c, tenants, s.csrf_token.clone())
        }
        None => (Chrome::default(), Vec::new(), String::new()),
    };
    let mut r = views::html(
        StatusCode::OK,
        &HomePage {
            title: "Attest",
            chrome,
            ready,
            csrf,
            tenants,
        },
    )?;
    if let Some(Enrolling(s)) = &session {
        tag(&mut r, s);
    }
    Ok(r)
}

/// How a role is named on pages.
#[must_use]
pub const fn role_label(role: attest_types::Role) -> &'static str {
    role.label()
}
