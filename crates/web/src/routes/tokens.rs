//! API tokens over HTTP (SEC-77): the account's tokens page and the same over `/api/v1`.
//! Making a token needs a recent proof of presence (SEC-29); the token is shown once.

use attest_domain::authn::api_tokens::{NewApiToken, TokenScope};
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::identity::IdentityError;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::AppError;
use crate::middleware::RequestContext;
use crate::routes::account::{chrome, when};
use crate::routes::identity_error_json;
use crate::views::{self, TokenView, TokensPage};

fn internal(e: &IdentityError) -> AppError {
    AppError::internal(e)
}

/// What the page shows besides the list.
#[derive(Default)]
struct Shown {
    new_token: Option<String>,
    message: Option<String>,
    errors: Vec<(String, String)>,
}

async fn page_with(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let tokens = state
        .identity
        .api_tokens(session)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .map(|t| {
            let live = t.live;
            TokenView {
                id: t.id.to_string(),
                name: t.name,
                scope: t.scope,
                expires: when(t.expires_at),
                last_used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
                live,
                state: if t.revoked_at.is_some() {
                    "revoked"
                } else if live {
                    ""
                } else {
                    "expired"
                },
            }
        })
        .collect();
    let mut r = views::html(
        status,
        &TokensPage {
            title: "API tokens",
            chrome,
            csrf: session.csrf_token.clone(),
            tokens,
            new_token: shown.new_token,
            message: shown.message,
            errors: shown.errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /account/tokens`
///
/// # Errors
/// Only on internal failure.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    page_with(&state, &session, StatusCode::OK, Shown::default()).await
}

/// A new token's settings (form or JSON).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default = "default_days", deserialize_with = "days")]
    expires_in_days: u32,
}

const fn default_days() -> u32 {
    90
}

/// Days as a number (JSON) or text (form); anything unreadable becomes 0, which the domain
/// refuses with a clear message.
fn days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Text(String),
    }
    Ok(match N::deserialize(d)? {
        N::Num(n) => u32::try_from(n).unwrap_or(0),
        N::Text(t) => t.trim().parse().unwrap_or(0),
    })
}

async fn create(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    form: &CreateForm,
) -> Result<NewApiToken, IdentityError> {
    let (_, origin) = client_of(Some(ctx), None);
    let scope = TokenScope::parse(&form.scope)?;
    state
        .identity
        .create_api_token(session, &form.name, scope, form.expires_in_days, origin)
        .await
}

/// `POST /account/tokens`: makes a token and shows it once (SEC-29: a recent proof first).
///
/// # Errors
/// Only on internal failure.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    match create(&state, &ctx, &session, &form).await {
        Ok(t) => {
            page_with(
                &state,
                &session,
                StatusCode::OK,
                Shown {
                    new_token: Some(t.token.to_string()),
                    ..Shown::default()
                },
            )
            .await
        }
        Err(IdentityError::ReauthRequired) => {
            Ok(crate::routes::inline_step_up("/account/tokens".to_owned()))
        }
        Err(IdentityError::Invalid { field, message, .. }) => {
            page_with(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Shown {
                    errors: vec![(field.to_owned(), message)],
                    ..Shown::default()
                },
            )
            .await
        }
        Err(e) => Err(internal(&e)),
    }
}

/// `POST /account/tokens/{id}/revoke`
///
/// # Errors
/// Only on internal failure.
pub async fn revoke_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state.identity.revoke_api_token(&session, &id, origin).await {
        Ok(()) => {
            page_with(
                &state,
                &session,
                StatusCode::OK,
                Shown {
                    message: Some("The token was revoked; it no longer works.".to_owned()),
                    ..Shown::default()
                },
            )
            .await
        }
        Err(IdentityError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(internal(&e)),
    }
}

/// `GET /api/v1/account/tokens`: the user's tokens (never the tokens themselves).
///
/// # Errors
/// Only on internal failure.
pub async fn api_list(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let items: Vec<_> = state
        .identity
        .api_tokens(&session)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id.to_string(),
                "name": t.name,
                "scope": t.scope,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            })
        })
        .collect();
    let mut r = Json(serde_json::json!({ "tokens": items })).into_response();
    tag(&mut r, &session);
    Ok(r)
}

/// `POST /api/v1/account/tokens` `{"name", "scope": "read"|"write", "expires_in_days"}` →
/// 201 with the token, shown once. 401 `reauth_required` without a recent proof.
///
/// # Errors
/// Only on internal failure.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<CreateForm>,
) -> Result<Response, AppError> {
    let mut r = match create(&state, &ctx, &session, &form).await {
        Ok(t) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "id": t.id.to_string(),
                "token": t.token.as_str(),
                "expires_at": t.expires_at,
            })),
        )
            .into_response(),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e))?,
    };
    tag(&mut r, &session);
    Ok(r)
}

/// `DELETE /api/v1/account/tokens/{id}` → 204.
///
/// # Errors
/// Only on internal failure.
pub async fn api_revoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let mut r = match state.identity.revoke_api_token(&session, &id, origin).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e))?,
    };
    tag(&mut r, &session);
    Ok(r)
}
