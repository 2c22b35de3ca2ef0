//! Changing one's email address (SEC-17, SEC-29): the request (needs a recent proof of
//! presence) and the confirmation from the link mailed to the new address.

use attest_domain::identity::IdentityError;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format};
use crate::middleware::RequestContext;
use crate::routes::account::chrome;
use crate::routes::identity_error_json;
use crate::routes::mfa::step_up_response;
use crate::views::{self, ConfirmPage, MessagePage};

/// The new address.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailForm {
    email: String,
}

async fn message(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
    status: StatusCode,
    text: String,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &MessagePage {
            title: "Email address",
            chrome,
            text,
            link: Some(("/account".to_owned(), "Back to your account".to_owned())),
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

fn failure_text(e: &IdentityError) -> Option<(StatusCode, String)> {
    Some(match e {
        IdentityError::Invalid { message, .. } => (StatusCode::UNPROCESSABLE_ENTITY, message.clone()),
        IdentityError::Taken(_) => (
            StatusCode::CONFLICT,
            "That address belongs to another account.".to_owned(),
        ),
        IdentityError::LinkGone | IdentityError::LinkUnknown => (
            StatusCode::BAD_REQUEST,
            "This link is not valid: it may have been used, replaced by a newer request, or have expired. Ask for a new one from your account page.".to_owned(),
        ),
        _ => return None,
    })
}

async fn request(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    session: &attest_domain::authn::sessions::VerifiedSession,
    email: &str,
    format: Format,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(ctx), None);
    match state
        .identity
        .request_email_change(session, email, &state.settings.public_url, origin)
        .await
    {
        Ok(()) => {
            if format == Format::Json {
                return Ok(
                    Json(serde_json::json!({ "status": "confirmation_sent" })).into_response()
                );
            }
            message(
                state,
                session,
                StatusCode::OK,
                "We sent a link to the new address. Open it within 24 hours, signed in, to complete the change. Your current address was told about the request.".to_owned(),
            )
            .await
        }
        Err(IdentityError::ReauthRequired) => Ok(step_up_response(
            headers,
            format,
            ctx.request_id,
            "/account",
        )),
        Err(e) => {
            if format == Format::Json {
                return identity_error_json(&e, ctx.request_id)
                    .ok_or_else(|| AppError::internal(&e));
            }
            let (status, text) = failure_text(&e).ok_or_else(|| AppError::internal(&e))?;
            message(state, session, status, text).await
        }
    }
}

/// `POST /account/email`
///
/// # Errors
/// Only on internal failure.
pub async fn request_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Form(form): Form<EmailFormWithCsrf>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/account", &headers);
    request(&state, &ctx, &headers, &session, &form.email, format).await
}

/// The form version (carries the CSRF token field too).
#[derive(Debug, Deserialize)]
pub struct EmailFormWithCsrf {
    email: String,
}

/// `PATCH /api/v1/account/email` `{"email": "…"}`: 401 `reauth_required` without a recent
/// proof of presence (SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn request_api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Json(form): Json<EmailForm>,
) -> Result<Response, AppError> {
    request(&state, &ctx, &headers, &session, &form.email, Format::Json).await
}

/// `GET /account/email/{token}`: what the link would do, with a button.
///
/// # Errors
/// Only on internal failure.
pub async fn confirm_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    match state.identity.check_email_change(&session, &token).await {
        Ok(new_email) => {
            let (chrome, _) = chrome(&state, &session).await?;
            let mut r = views::html(
                StatusCode::OK,
                &ConfirmPage {
                    title: "Change your email address",
                    chrome,
                    csrf: session.csrf_token.clone(),
                    text: format!(
                        "Your account's address becomes {new_email}. You sign in with it from now on."
                    ),
                    action: format!("/account/email/{token}"),
                    button: "Change address",
                    cancel: "/account".to_owned(),
                },
            )?;
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => {
            let (status, text) = failure_text(&e).ok_or_else(|| AppError::internal(&e))?;
            message(&state, &session, status, text).await
        }
    }
}

/// `POST /account/email/{token}`
///
/// # Errors
/// Only on internal failure.
pub async fn confirm(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let format = Format::negotiate("/account", &headers);
    match state
        .identity
        .confirm_email_change(&session, &token, origin)
        .await
    {
        Ok(email) => {
            if format == Format::Json {
                return Ok(
                    Json(serde_json::json!({ "status": "changed", "email": email }))
                        .into_response(),
                );
            }
            message(
                &state,
                &session,
                StatusCode::OK,
                format!("Your address is now {email}."),
            )
            .await
        }
        Err(e) => {
            if format == Format::Json {
                return identity_error_json(&e, ctx.request_id)
                    .ok_or_else(|| AppError::internal(&e));
            }
            let (status, text) = failure_text(&e).ok_or_else(|| AppError::internal(&e))?;
            message(&state, &session, status, text).await
        }
    }
}
