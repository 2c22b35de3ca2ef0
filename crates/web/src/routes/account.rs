//! The account page: sessions (SEC-28) and password change (SEC-05); and the same over the
//! JSON API.

use attest_crypto::Zeroizing;
use attest_domain::identity::IdentityError;
use attest_types::SessionId;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::views::{self, AccountPage, Chrome, Nav, SessionLine};

/// The frame of a signed-in page.
///
/// # Errors
/// On database failure.
pub async fn chrome(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
) -> Result<(Chrome, String), AppError> {
    let (email, tenant) = state
        .identity
        .whoami(session)
        .await
        .map_err(|e| AppError::internal(&e))?;
    Ok((
        Chrome {
            nav: Some(Nav {
                email: email.clone(),
                tenant,
                csrf: session.csrf_token.clone(),
                members_link: session.tenant.is_some_and(|(_, role)| {
                    attest_domain::access::Permission::ListMembers.granted_to(role)
                }),
            }),
        },
        email,
    ))
}

/// A browser description short enough for a table cell, ending with an ellipsis when cut.
fn short_agent(ua: &str) -> String {
    if ua.chars().count() <= 60 {
        return ua.to_owned();
    }
    let mut cut: String = ua.chars().take(60).collect();
    if let Some(space) = cut.rfind(' ') {
        cut.truncate(space);
    }
    cut.push('…');
    cut
}

pub(crate) fn when(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_default()
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ")
}

async fn account_page(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
    status: StatusCode,
    message: Option<String>,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, email) = chrome(state, session).await?;
    let sessions = state
        .identity
        .sessions(session)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_iter()
        .map(|s| SessionLine {
            id: s.id.to_string(),
            started: when(s.created_at),
            last_seen: when(s.last_seen_at),
            ip: s.source_ip.unwrap_or_default(),
            agent: short_agent(&s.user_agent.unwrap_or_default()),
            current: s.current,
        })
        .collect();
    let mut r = views::html(
        status,
        &AccountPage {
            title: "Your account",
            chrome,
            csrf: session.csrf_token.clone(),
            email,
            sessions,
            message,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /account`
///
/// # Errors
/// Only on internal failure.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    account_page(&state, &session, StatusCode::OK, None, Vec::new()).await
}

/// The password form.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordForm([redacted])")
    }
}

/// `POST /account/password`
///
/// # Errors
/// 403 for a wrong current password, 422 for a refused new one.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let format = Format::negotiate("/account", &headers);
    let result = state
        .identity
        .change_password(
            &session,
            Zeroizing::new(form.current_password),
            Zeroizing::new(form.new_password),
            origin,
        )
        .await;
    let (status, code, field, message) = match result {
        Ok(ended) => {
            let msg = if ended > 0 {
                format!("Your password was changed, and {ended} other session(s) were ended.")
            } else {
                "Your password was changed.".to_owned()
            };
            if format == Format::Json {
                return Ok(Json(
                    serde_json::json!({ "status": "changed", "other_sessions_ended": ended }),
                )
                .into_response());
            }
            return account_page(&state, &session, StatusCode::OK, Some(msg), Vec::new()).await;
        }
        Err(IdentityError::ReauthRequired) => {
            return Ok(crate::routes::mfa::step_up_response(
                &headers,
                format,
                ctx.request_id,
                "/account",
            ));
        }
        Err(IdentityError::WrongPassword) => (
            StatusCode::FORBIDDEN,
            "wrong_password",
            "current_password",
            "The current password is not correct.".to_owned(),
        ),
        Err(IdentityError::Invalid { code, message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "new_password",
            message,
        ),
        Err(e) => return Err(AppError::internal(&e)),
    };
    if format == Format::Json {
        return Ok(crate::error::field_error_response(
            status,
            code,
            field,
            &message,
            ctx.request_id,
        ));
    }
    account_page(
        &state,
        &session,
        status,
        None,
        vec![(field.to_owned(), message)],
    )
    .await
}

/// `POST /account/sessions/{id}/end`
///
/// # Errors
/// 404 for a session that is not the user's or not live.
pub async fn end_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: SessionId = id.parse().map_err(|_| AppError::NotFound)?;
    let (_, origin) = client_of(Some(&ctx), None);
    let ended = state
        .identity
        .end_session(&session, id, "revoked", origin)
        .await
        .map_err(|e| AppError::internal(&e))?;
    if !ended {
        return Err(AppError::NotFound);
    }
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/account"));
    Ok(r)
}

/// `GET /api/v1/account/sessions`
///
/// # Errors
/// Only on internal failure.
pub async fn api_sessions(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let list = state
        .identity
        .sessions(&session)
        .await
        .map_err(|e| AppError::internal(&e))?;
    let items: Vec<_> = list
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id.to_string(),
                "created_at": s.created_at.format(&Rfc3339).unwrap_or_default(),
                "last_seen_at": s.last_seen_at.format(&Rfc3339).unwrap_or_default(),
                "source_ip": s.source_ip,
                "user_agent": s.user_agent,
                "current": s.current,
            })
        })
        .collect();
    let mut r = Json(serde_json::json!({ "sessions": items })).into_response();
    tag(&mut r, &session);
    Ok(r)
}

/// `DELETE /api/v1/account/sessions/{id}`
///
/// # Errors
/// 404 for a session that is not the user's or not live.
pub async fn api_end_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: SessionId = id.parse().map_err(|_| AppError::NotFound)?;
    let (_, origin) = client_of(Some(&ctx), None);
    let ended = state
        .identity
        .end_session(&session, id, "revoked", origin)
        .await
        .map_err(|e| AppError::internal(&e))?;
    if !ended {
        return Ok(error_code_response(
            StatusCode::NOT_FOUND,
            "not_found",
            ctx.request_id,
            Format::Json,
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/account`: who am I (used by scripts and tests).
///
/// # Errors
/// Only on internal failure.
pub async fn api_me(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let (email, tenant) = state
        .identity
        .whoami(&session)
        .await
        .map_err(|e| AppError::internal(&e))?;
    let mut r = Json(serde_json::json!({
        "user": session.user.to_string(),
        "email": email,
        "tenant": tenant,
        "tenant_id": session.tenant.map(|t| t.0.to_string()),
        "role": session.tenant.map(|t| t.1.as_str()),
        "csrf_token": session.csrf_token,
    }))
    .into_response();
    tag(&mut r, &session);
    Ok(r)
}
