//! The start page: status for visitors, the user's organisations once signed in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::auth::{SignedIn, tag};
use crate::error::AppError;
use crate::routes::account::chrome;
use crate::views::{self, Chrome, HomePage};

/// `GET /`
///
/// # Errors
/// If the page cannot be rendered.
pub async fn home(
    State(state): State<AppState>,
    session: Option<SignedIn>,
) -> Result<Response, AppError> {
    let ready = attest_domain::health::readiness(&state.db).await.is_ok();
    let (chrome, tenants) = match &session {
        Some(SignedIn(s)) => {
            let (c, _) = chrome(&state, s).await?;
            let tenants = state
                .identity
                .tenants_of(s.user)
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .into_iter()
                .map(|(_, name, role)| (name, role_label(role).to_owned()))
                .collect();
            (c, tenants)
        }
        None => (Chrome::default(), Vec::new()),
    };
    let mut r = views::html(
        StatusCode::OK,
        &HomePage {
            title: "Attest",
            chrome,
            ready,
            tenants,
        },
    )?;
    if let Some(SignedIn(s)) = &session {
        tag(&mut r, s);
    }
    Ok(r)
}

/// How a role is named on pages.
#[must_use]
pub const fn role_label(role: attest_types::Role) -> &'static str {
    match role {
        attest_types::Role::Owner => "Owner",
        attest_types::Role::Admin => "Administrator",
        attest_types::Role::Member => "Member",
    }
}
