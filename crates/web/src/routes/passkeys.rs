//! Passkeys over HTTP: beginning each WebAuthn ceremony (JSON for `static/passkey.js` and API
//! clients), registering and removing passkeys on the security page and the JSON API, and the
//! passwordless sign-in. A passkey answer to the second-factor prompt and to the step-up
//! prompt goes through those forms (`routes::mfa`) like any other proof. The rules live in
//! the domain's `authn::passkeys`.

use attest_domain::authn::passkeys::{PasskeyChallenge, PasskeyResponse};
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::identity::IdentityError;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Enrolling, client_of, tag};
use crate::cookies;
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::middleware::csrf::CsrfToken;
use crate::routes::auth::{login_page_with_error, safe_next};
use crate::routes::identity_error_json;
use crate::routes::mfa::{after_action, shown_codes, told};

fn internal(e: &IdentityError) -> AppError {
    AppError::internal(e)
}

fn challenge_json(c: &PasskeyChallenge) -> Response {
    Json(serde_json::json!({
        "ceremony": c.ceremony.to_string(),
        "options": c.options,
    }))
    .into_response()
}

fn answer(
    result: Result<PasskeyChallenge, IdentityError>,
    ctx: &RequestContext,
    session: Option<&VerifiedSession>,
) -> Result<Response, AppError> {
    let mut r = match result {
        Ok(c) => challenge_json(&c),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e))?,
    };
    if let Some(s) = session {
        tag(&mut r, s);
    }
    Ok(r)
}

/// A credential as an API client sends it: the object `PublicKeyCredential.toJSON()` gives,
/// or that object as JSON text.
fn credential_text(v: Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s,
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Registering and removing.

/// `POST /account/security/passkeys/begin` (and `/api/v1/account/passkeys/begin`): the
/// options for `navigator.credentials.create()`. 401 `reauth_required` without a recent
/// proof (SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn begin_registration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let result = state.identity.begin_passkey_registration(&session).await;
    answer(result, &ctx, Some(&session))
}

/// The form that finishes a registration.
#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
}

impl std::fmt::Debug for RegisterForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegisterForm")
    }
}

/// `POST /account/security/passkeys`: stores the new passkey; the security page shows it,
/// and recovery codes when it is the user's first factor.
///
/// # Errors
/// Only on internal failure.
pub async fn register(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Form(form): Form<RegisterForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let response = PasskeyResponse {
        ceremony: form.ceremony,
        credential: form.credential,
    };
    let result = state
        .identity
        .finish_passkey_registration(&session, &form.name, &response, origin)
        .await;
    let shown = result.map(|codes| crate::routes::mfa::Shown {
        codes: shown_codes(codes),
        ..told("Your passkey was added. You can use it to sign in and to confirm changes.")
    });
    after_action(&state, &session, shown).await
}

/// `POST /account/security/passkeys/{id}/remove`
///
/// # Errors
/// Only on internal failure.
pub async fn remove(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state.identity.remove_passkey(&session, &id, origin).await;
    let shown = result.map(|()| told("The passkey was removed."));
    after_action(&state, &session, shown).await
}

/// `GET /api/v1/account/passkeys`
///
/// # Errors
/// Only on internal failure.
pub async fn api_list(
    State(state): State<AppState>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let list = state
        .identity
        .passkeys(&session)
        .await
        .map_err(|e| internal(&e))?;
    let items: Vec<_> = list
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id.to_string(),
                "name": p.name,
                "created_at": p.created_at,
                "last_used_at": p.last_used_at,
                "discoverable": p.discoverable,
            })
        })
        .collect();
    let mut r = Json(serde_json::json!({ "passkeys": items })).into_response();
    tag(&mut r, &session);
    Ok(r)
}

/// The JSON body that finishes a registration.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[serde(default)]
    name: String,
    ceremony: String,
    credential: Option<serde_json::Value>,
}

impl std::fmt::Debug for RegisterBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegisterBody")
    }
}

/// `POST /api/v1/account/passkeys` `{"name", "ceremony", "credential"}` → 201.
///
/// # Errors
/// Only on internal failure.
pub async fn api_register(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Json(body): Json<RegisterBody>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let response = PasskeyResponse {
        ceremony: body.ceremony,
        credential: credential_text(body.credential),
    };
    let mut r = match state
        .identity
        .finish_passkey_registration(&session, &body.name, &response, origin)
        .await
    {
        Ok(codes) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "status": "added",
                "recovery_codes": codes.map(|c| c.0.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            })),
        )
            .into_response(),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e))?,
    };
    tag(&mut r, &session);
    Ok(r)
}

/// `DELETE /api/v1/account/passkeys/{id}` → 204.
///
/// # Errors
/// Only on internal failure.
pub async fn api_remove(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let mut r = match state.identity.remove_passkey(&session, &id, origin).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e))?,
    };
    tag(&mut r, &session);
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// Assertions: second factor, step-up, passwordless.

/// `POST /login/second-factor/passkey/begin` (and under `/api/v1`): the options for the
/// pending login's passkey. 401 `login_restart` when the login is over.
///
/// # Errors
/// Only on internal failure.
pub async fn begin_second_factor(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(pending) = cookies::get(&headers, cookies::PENDING) else {
        return Ok(error_code_response(
            StatusCode::UNAUTHORIZED,
            "login_restart",
            ctx.request_id,
            Format::Json,
        ));
    };
    match state.identity.begin_passkey_second_factor(&pending).await {
        Err(IdentityError::NotFound) => Ok(error_code_response(
            StatusCode::UNAUTHORIZED,
            "login_restart",
            ctx.request_id,
            Format::Json,
        )),
        other => answer(other, &ctx, None),
    }
}

/// `POST /reauth/passkey/begin` (and `/api/v1/reauth/passkey/begin`): the options for a
/// passkey step-up (SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn begin_reauth(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let result = state.identity.begin_passkey_reauth(&session).await;
    answer(result, &ctx, Some(&session))
}

/// `POST /login/passkey/begin` (and `/api/v1/login/passkey/begin`): the options for a
/// passwordless sign-in with a discoverable passkey. 429 when the address signs in too often.
///
/// # Errors
/// Only on internal failure.
pub async fn begin_sign_in(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state.identity.begin_passkey_sign_in(origin).await;
    answer(result, &ctx, None)
}

/// The passwordless sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    next: Option<String>,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInForm")
    }
}

/// `POST /login/passkey` (and `/api/v1/login/passkey`): signs in with the passkey's answer.
/// One answer, 401 `passkey_rejected`, for every refusal (SEC-08).
///
/// # Errors
/// Only on internal failure.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/login", &headers);
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let next = safe_next(form.next.as_deref());
    let response = PasskeyResponse {
        ceremony: form.ceremony,
        credential: form.credential,
    };
    match state
        .identity
        .sign_in_with_passkey(&response, &client, origin)
        .await
    {
        Ok((token, session)) => Ok(crate::routes::signed_in(format, &next, &token.0, &session)),
        Err(IdentityError::SsoRequired { tenant, provider }) => {
            crate::routes::sso::sso_required(format, &ctx, &csrf, tenant, &provider, &next)
        }
        Err(e @ (IdentityError::PasskeyRejected | IdentityError::UnsupportedMethod)) => {
            if format == Format::Json {
                return identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e));
            }
            login_page_with_error(
                &state,
                &csrf,
                &next,
                "",
                StatusCode::UNAUTHORIZED,
                "That passkey could not sign you in. Try again, or sign in with your email address and password.",
            )
        }
        Err(e) => Err(internal(&e)),
    }
}
