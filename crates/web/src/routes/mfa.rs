//! Second factors and step-up over HTTP: the sign-in's second-factor prompt, the security
//! page (authenticator app, recovery codes, the organisation's MFA policy), the step-up
//! prompt (SEC-29), and the same over the JSON API. The rules live in the domain's
//! `authn::mfa`; these handlers translate.

use attest_crypto::Zeroizing;
use attest_domain::authn::mfa::{OFFERED_METHODS, Proof, SecondFactorFailure, TotpEnrolment};
use attest_domain::authn::passkeys::PasskeyResponse;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::identity::IdentityError;
use attest_types::Role;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Enrolling, client_of, tag};
use crate::cookies;
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::middleware::csrf::CsrfToken;
use crate::routes::account::chrome;
use crate::routes::account::when;
use crate::routes::auth::safe_next;
use crate::routes::{came_from, identity_error_json, see_other};
use crate::views::{
    self, Chrome, ContinuePage, EnrolmentView, PasskeyView, ReauthPage, SecondFactorPage,
    SecurityPage,
};

fn internal(e: &IdentityError) -> AppError {
    AppError::internal(e)
}

fn with_retry_after(mut r: Response, wait: time::Duration) -> Response {
    if let Ok(v) = HeaderValue::from_str(&wait.whole_seconds().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

// ---------------------------------------------------------------------------------------
// The second step of a sign-in.

/// `?method=…&next=…`
#[derive(Debug, Deserialize)]
pub struct SecondFactorQuery {
    method: Option<String>,
    next: Option<String>,
}

/// The method a prompt shows: the one asked for if the user has it, else the strongest the
/// user has (a passkey before an app), else a recovery code.
pub(crate) fn method_of(m: Option<&str>, totp: bool, passkey: bool) -> &'static str {
    match m {
        Some("recovery_code") => "recovery_code",
        Some("totp") if totp => "totp",
        Some("passkey") if passkey => "passkey",
        _ if passkey => "passkey",
        _ if totp => "totp",
        _ => "recovery_code",
    }
}

/// `GET /login/second-factor`: the prompt, while a pending login is live.
///
/// # Errors
/// If the page cannot be rendered.
pub async fn second_factor_page(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Query(q): Query<SecondFactorQuery>,
) -> Result<Response, AppError> {
    let methods = match cookies::get(&headers, cookies::PENDING) {
        Some(token) => state
            .identity
            .pending_login_methods(&token)
            .await
            .map_err(|e| internal(&e))?,
        None => None,
    };
    let Some((totp, passkey)) = methods else {
        return Ok(see_other("/login?reason=login_restart"));
    };
    let passkey = passkey && state.identity.passkeys_available();
    views::html(
        StatusCode::OK,
        &SecondFactorPage {
            title: "Confirm it is you",
            chrome: Chrome::default(),
            csrf: csrf.0,
            next: safe_next(q.next.as_deref()),
            method: method_of(q.method.as_deref(), totp, passkey),
            totp,
            passkey,
            error: None,
        },
    )
}

/// The second-factor form.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct SecondFactorForm {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
    /// A passkey answer: the ceremony's id …
    #[serde(default)]
    ceremony: String,
    /// … and the credential JSON.
    #[serde(default)]
    credential: String,
}

impl std::fmt::Debug for SecondFactorForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondFactorForm([redacted])")
    }
}

/// `POST /login/second-factor` (and `/api/v1/login/second-factor`): a TOTP or recovery code
/// for the pending login. 401 `invalid_code`; 429 `totp_locked` after three wrong TOTP codes
/// in a step; 401 `login_restart` after five wrong answers, however right the sixth (SEC-15).
///
/// # Errors
/// Only on internal failure.
pub async fn second_factor(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/login", &headers);
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let next = safe_next(form.next.as_deref());
    let method = form.method.as_deref().unwrap_or("totp");
    let proof = match method {
        "totp" | "recovery_code" => Proof::parse(method, Zeroizing::new(form.code)),
        "passkey" => Ok(Proof::Passkey(PasskeyResponse {
            ceremony: form.ceremony,
            credential: form.credential,
        })),
        _ => Err(IdentityError::UnsupportedMethod),
    };
    let proof = match proof {
        Ok(p) => p,
        Err(e) => {
            return identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e));
        }
    };
    let Some(pending) = cookies::get(&headers, cookies::PENDING) else {
        return Ok(restart(format, ctx.request_id));
    };
    let (totp, passkey) = state
        .identity
        .pending_login_methods(&pending)
        .await
        .map_err(|e| internal(&e))?
        .unwrap_or_default();
    let passkey = passkey && state.identity.passkeys_available();
    let shown_method = method_of(Some(method), totp, passkey);
    let page_error = |status: StatusCode, message: &str| {
        views::html(
            status,
            &SecondFactorPage {
                title: "Confirm it is you",
                chrome: Chrome::default(),
                csrf: csrf.0.clone(),
                next: next.clone(),
                method: shown_method,
                totp,
                passkey,
                error: Some(message.to_owned()),
            },
        )
    };
    match state
        .identity
        .complete_second_factor(&pending, proof, &client, origin)
        .await
    {
        Ok((token, session)) => {
            let mut r = crate::routes::signed_in(format, &next, &token.0, &session);
            r.headers_mut()
                .append(header::SET_COOKIE, cookies::clear_pending());
            Ok(r)
        }
        Err(SecondFactorFailure::Invalid) => {
            if format == Format::Json {
                return Ok(error_code_response(
                    StatusCode::UNAUTHORIZED,
                    "invalid_code",
                    ctx.request_id,
                    format,
                ));
            }
            page_error(
                StatusCode::UNAUTHORIZED,
                if method == "passkey" {
                    "The passkey could not be verified. Try again, or use another way to confirm."
                } else {
                    "That code is not correct. Codes from the app change every 30 seconds and each works once."
                },
            )
        }
        Err(SecondFactorFailure::TotpLocked(wait)) => {
            let r = if format == Format::Json {
                error_code_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "totp_locked",
                    ctx.request_id,
                    format,
                )
            } else {
                page_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many wrong codes. Wait for the app to show a new code, then try again, or use a recovery code.",
                )?
            };
            Ok(with_retry_after(r, wait))
        }
        Err(SecondFactorFailure::Restart) => Ok(restart(format, ctx.request_id)),
        Err(SecondFactorFailure::Internal(e)) => Err(internal(&e)),
    }
}

fn restart(format: Format, request_id: attest_types::RequestId) -> Response {
    let mut r = if format == Format::Json {
        error_code_response(
            StatusCode::UNAUTHORIZED,
            "login_restart",
            request_id,
            format,
        )
    } else {
        see_other("/login?reason=login_restart")
    };
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear_pending());
    r
}

// ---------------------------------------------------------------------------------------
// The security page.

#[derive(Default)]
pub(crate) struct Shown {
    pub(crate) enrolment: Option<TotpEnrolment>,
    pub(crate) codes: Vec<String>,
    pub(crate) message: Option<String>,
    pub(crate) error: Option<String>,
}

async fn security_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let factors = state
        .identity
        .factors(session)
        .await
        .map_err(|e| internal(&e))?;
    let tenant_policy = match session.tenant {
        Some((t, Role::Owner | Role::Admin)) => Some(
            state
                .identity
                .tenant_mfa_required(t)
                .await
                .map_err(|e| internal(&e))?,
        ),
        _ => None,
    };
    let enrolment = match shown.enrolment {
        Some(e) => Some(EnrolmentView {
            secret: e.secret_base32.to_string(),
            qr_svg: crate::qr::svg(&e.otpauth_uri, "QR code for your authenticator app")
                .ok_or_else(|| AppError::Internal("QR code".into()))?,
        }),
        None => None,
    };
    let passkeys: Vec<PasskeyView> = state
        .identity
        .passkeys(session)
        .await
        .map_err(|e| internal(&e))?
        .into_iter()
        .map(|p| PasskeyView {
            id: p.id.to_string(),
            name: p.name,
            created: when(p.created_at),
            last_used: p.last_used_at.map_or_else(|| "never".to_owned(), when),
            discoverable: p.discoverable,
        })
        .collect();
    let removable = !factors.required || factors.totp || passkeys.len() > 1;
    let mut r = views::html(
        status,
        &SecurityPage {
            title: "Sign-in security",
            chrome,
            csrf: session.csrf_token.clone(),
            totp: factors.totp,
            any_factor: factors.any(),
            passkeys,
            passkeys_available: state.identity.passkeys_available(),
            removable,
            required: factors.required,
            recovery_left: factors.recovery_codes_left,
            enrolment,
            codes: shown.codes,
            message: shown.message,
            error: shown.error,
            tenant_policy,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /account/security`
///
/// # Errors
/// Only on internal failure.
pub async fn page(
    State(state): State<AppState>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    security_page(&state, &session, StatusCode::OK, Shown::default()).await
}

/// The HTML answer to a failed security action: step-up, a message, or an error.
pub(crate) async fn security_error(
    state: &AppState,
    session: &VerifiedSession,
    e: IdentityError,
) -> Result<Response, AppError> {
    let (status, message) = match e {
        IdentityError::ReauthRequired => {
            return Ok(crate::routes::inline_step_up(
                "/account/security".to_owned(),
            ));
        }
        IdentityError::InvalidCode => (
            StatusCode::UNAUTHORIZED,
            "That code is not correct. Enter the code the app shows now.",
        ),
        IdentityError::Taken("this passkey") => {
            (StatusCode::CONFLICT, "This passkey is registered already.")
        }
        IdentityError::Taken(_) => (
            StatusCode::CONFLICT,
            "An authenticator app is already set up. Remove it first to set up another.",
        ),
        IdentityError::UnsupportedMethod => (
            StatusCode::BAD_REQUEST,
            "Passkeys cannot be used on this installation: it is not reached by a domain name.",
        ),
        IdentityError::Invalid { message, .. } => {
            return security_page(
                state,
                session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Shown {
                    error: Some(message),
                    ..Shown::default()
                },
            )
            .await;
        }
        IdentityError::SecondFactorRequired => (
            StatusCode::CONFLICT,
            "Your role or organisation requires a second factor, so it cannot be removed.",
        ),
        IdentityError::NotFound => (
            StatusCode::NOT_FOUND,
            "There is nothing to confirm or remove. Start again.",
        ),
        IdentityError::Forbidden => (
            StatusCode::FORBIDDEN,
            "Only owners and administrators change the organisation's policy.",
        ),
        other => return Err(internal(&other)),
    };
    security_page(
        state,
        session,
        status,
        Shown {
            error: Some(message.to_owned()),
            ..Shown::default()
        },
    )
    .await
}

/// The security page after an action: what it produced, or why it failed.
pub(crate) async fn after_action(
    state: &AppState,
    session: &VerifiedSession,
    result: Result<Shown, IdentityError>,
) -> Result<Response, AppError> {
    match result {
        Ok(shown) => security_page(state, session, StatusCode::OK, shown).await,
        Err(e) => security_error(state, session, e).await,
    }
}

pub(crate) fn told(message: &str) -> Shown {
    Shown {
        message: Some(message.to_owned()),
        ..Shown::default()
    }
}

/// `POST /account/security/totp`: starts an enrolment (needs a recent proof, SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn start_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state.identity.start_totp_enrolment(&session, origin).await;
    let shown = result.map(|enrolment| Shown {
        enrolment: Some(enrolment),
        ..Shown::default()
    });
    after_action(&state, &session, shown).await
}

/// A code.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    /// The form's CSRF field (the middleware checks it); nothing else unknown is accepted,
    /// in a form or JSON (SEC-37).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    code: String,
}

impl std::fmt::Debug for CodeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeForm([redacted])")
    }
}

pub(crate) fn shown_codes(codes: Option<attest_domain::authn::mfa::RecoveryCodes>) -> Vec<String> {
    codes
        .map(|c| c.0.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

/// `POST /account/security/totp/confirm`
///
/// # Errors
/// Only on internal failure.
pub async fn confirm_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .confirm_totp(&session, &form.code, origin)
        .await;
    let shown = result.map(|codes| Shown {
        codes: shown_codes(codes),
        ..told("Your authenticator app is set up. From now on, signing in asks for a code from it.")
    });
    after_action(&state, &session, shown).await
}

/// `POST /account/security/totp/remove`
///
/// # Errors
/// Only on internal failure.
pub async fn remove_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state.identity.remove_totp(&session, origin).await;
    let shown =
        result.map(|()| told("The authenticator app and your recovery codes were removed."));
    after_action(&state, &session, shown).await
}

/// `POST /account/security/recovery-codes`
///
/// # Errors
/// Only on internal failure.
pub async fn regenerate_codes(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .regenerate_recovery_codes(&session, origin)
        .await;
    let shown = result.map(|codes| Shown {
        codes: shown_codes(Some(codes)),
        ..told("New recovery codes were created; the old ones no longer work.")
    });
    after_action(&state, &session, shown).await
}

/// The organisation's MFA policy.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyForm {
    /// The form's CSRF field (the middleware checks it); nothing else unknown is accepted,
    /// in a form or JSON (SEC-37).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    mfa_required: bool,
}

/// `POST /account/security/policy` (owners and admins).
///
/// # Errors
/// Only on internal failure.
pub async fn set_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    crate::auth::SignedIn(session): crate::auth::SignedIn,
    Form(form): Form<PolicyForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .set_tenant_mfa_required(&session, form.mfa_required, origin)
        .await;
    let shown = result.map(|()| told("The organisation's policy was saved."));
    after_action(&state, &session, shown).await
}

// ---------------------------------------------------------------------------------------
// Step-up.

/// `?next=…&method=…`
#[derive(Debug, Deserialize)]
pub struct ReauthQuery {
    next: Option<String>,
    method: Option<String>,
}

/// What the step-up page shows.
struct ReauthView<'a> {
    next: String,
    method: Option<&'a str>,
    status: StatusCode,
    error: Option<String>,
    continue_to: Option<String>,
    carry: Vec<(String, String)>,
    retype: bool,
}

async fn reauth_page(
    state: &AppState,
    session: &VerifiedSession,
    view: ReauthView<'_>,
) -> Result<Response, AppError> {
    let ReauthView {
        next,
        method,
        status,
        error,
        continue_to,
        carry,
        retype,
    } = view;
    let (chrome, _) = chrome(state, session).await?;
    let factors = state
        .identity
        .factors(session)
        .await
        .map_err(|e| internal(&e))?;
    let has_factor = factors.any();
    let passkey = factors.passkeys > 0 && state.identity.passkeys_available();
    let method = if has_factor {
        method_of(method, factors.totp, passkey)
    } else {
        "password"
    };
    let sso = if has_factor {
        None
    } else {
        state
            .identity
            .sso_reauth_provider(session)
            .await
            .map_err(|e| internal(&e))?
            .map(|(tenant, provider)| (tenant.to_string(), provider))
    };
    let mut r = views::html(
        status,
        &ReauthPage {
            title: "Confirm it is you",
            chrome,
            csrf: session.csrf_token.clone(),
            next,
            method,
            has_factor,
            totp: factors.totp,
            passkey,
            error,
            action: continue_to.map_or_else(
                || "/reauth".to_owned(),
                |c| format!("/reauth?continue={}", urlencode(&c)),
            ),
            carry,
            retype,
            sso,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The step-up page for an interrupted browser form (see `middleware::step_up`): `None` when
/// the request is not signed in after all.
///
/// # Errors
/// On internal failure.
pub async fn inline_reauth_page(
    state: &AppState,
    headers: &HeaderMap,
    next: String,
    continue_to: Option<String>,
    carry: Vec<(String, String)>,
) -> Result<Option<Response>, AppError> {
    let Some(token) = cookies::get(headers, cookies::SESSION) else {
        return Ok(None);
    };
    let Ok(session) = state.identity.authenticate(&token, true).await else {
        return Ok(None);
    };
    let retype = continue_to.is_none();
    let carry = if retype { Vec::new() } else { carry };
    reauth_page(
        state,
        &session,
        ReauthView {
            next,
            method: None,
            status: StatusCode::UNAUTHORIZED,
            error: None,
            continue_to,
            carry,
            retype,
        },
    )
    .await
    .map(Some)
}

/// `GET /reauth`
///
/// # Errors
/// Only on internal failure.
pub async fn reauth_form(
    State(state): State<AppState>,
    Enrolling(session): Enrolling,
    Query(q): Query<ReauthQuery>,
) -> Result<Response, AppError> {
    reauth_page(
        &state,
        &session,
        ReauthView {
            next: safe_next(q.next.as_deref()),
            method: q.method.as_deref(),
            status: StatusCode::OK,
            error: None,
            continue_to: None,
            carry: Vec::new(),
            retype: false,
        },
    )
    .await
}

/// `?continue=…` on the step-up form: the interrupted action to resume with `307`.
#[derive(Debug, Deserialize)]
pub struct ContinueQuery {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

/// The step-up JSON body (the browser form is read field by field); nothing else is
/// accepted (SEC-37).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthForm {
    method: String,
    #[serde(default)]
    value: String,
    /// A passkey answer: the ceremony's id …
    #[serde(default)]
    ceremony: String,
    /// … and the credential (JSON text in a form, an object in JSON).
    #[serde(default)]
    credential: Option<serde_json::Value>,
}

impl std::fmt::Debug for ReauthForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReauthForm([redacted])")
    }
}

async fn do_reauth(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    form: ReauthForm,
) -> Result<(), IdentityError> {
    let (_, origin) = client_of(Some(ctx), None);
    let proof = if form.method == "passkey" {
        Proof::Passkey(PasskeyResponse {
            ceremony: form.ceremony,
            credential: match form.credential {
                Some(serde_json::Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => String::new(),
            },
        })
    } else {
        Proof::parse(&form.method, Zeroizing::new(form.value))?
    };
    state.identity.reauthenticate(session, proof, origin).await
}

/// `POST /reauth`: then back to where the user was, or, with `?continue=…`, a page whose
/// form sends the interrupted form's own fields (carried in this one) on to its action; a
/// static script submits it at once, and without script it is one click (SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn reauth(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Query(q): Query<ContinueQuery>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let next = safe_next(field("next").as_deref());
    let method = field("method").unwrap_or_default();
    let form = ReauthForm {
        method: method.clone(),
        value: field("value").unwrap_or_default(),
        ceremony: field("ceremony").unwrap_or_default(),
        credential: field("credential").map(serde_json::Value::String),
    };
    let continue_to = q
        .continue_to
        .as_deref()
        .map(|c| safe_next(Some(c)))
        .filter(|c| c != "/");
    match do_reauth(&state, &ctx, &session, form).await {
        Ok(()) => match continue_to {
            // The interrupted form goes on with its own fields only: never the proof just
            // given, the method or anything else of this prompt.
            Some(action) => {
                let carry = fields
                    .into_iter()
                    .filter(|(k, _)| crate::middleware::step_up::carried(k))
                    .collect();
                let (chrome, _) = chrome(&state, &session).await?;
                let mut r = views::html(
                    StatusCode::OK,
                    &ContinuePage {
                        title: "Confirmed",
                        chrome,
                        csrf: session.csrf_token.clone(),
                        action,
                        carry,
                    },
                )?;
                tag(&mut r, &session);
                Ok(r)
            }
            None => Ok(see_other(&next)),
        },
        Err(e) => {
            let (status, message) = match &e {
                IdentityError::InvalidCode if method == "passkey" => (
                    StatusCode::UNAUTHORIZED,
                    "The passkey could not be verified. Try again, or use another way to confirm.",
                ),
                IdentityError::InvalidCode => (
                    StatusCode::UNAUTHORIZED,
                    "That code is not correct or was used already.",
                ),
                IdentityError::WrongPassword => {
                    (StatusCode::UNAUTHORIZED, "The password is not correct.")
                }
                IdentityError::TotpLocked(_) | IdentityError::Throttled(_) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts. Wait a moment, then try again.",
                ),
                IdentityError::UnsupportedMethod => (
                    StatusCode::BAD_REQUEST,
                    "Use your authenticator app or a recovery code.",
                ),
                _ => return Err(internal(&e)),
            };
            let carry = if continue_to.is_some() {
                fields
                    .into_iter()
                    .filter(|(k, _)| crate::middleware::step_up::carried(k))
                    .collect()
            } else {
                Vec::new()
            };
            reauth_page(
                &state,
                &session,
                ReauthView {
                    next,
                    method: Some(&method),
                    status,
                    error: Some(message.to_owned()),
                    continue_to,
                    carry,
                    retype: false,
                },
            )
            .await
        }
    }
}

/// `POST /api/v1/reauth` `{"method": "totp"|"recovery_code"|"password", "value": "…"}`
///
/// # Errors
/// Only on internal failure.
pub async fn api_reauth(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Json(form): Json<ReauthForm>,
) -> Result<Response, AppError> {
    match do_reauth(&state, &ctx, &session, form).await {
        Ok(()) => Ok(Json(serde_json::json!({ "status": "confirmed" })).into_response()),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

// ---------------------------------------------------------------------------------------
// JSON API.

/// `GET /api/v1/account/mfa/methods`: what is offered (never SMS or voice, SEC-13) and what
/// the user has.
///
/// # Errors
/// Only on internal failure.
pub async fn api_methods(
    State(state): State<AppState>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let f = state
        .identity
        .factors(&session)
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(serde_json::json!({
        "offered": OFFERED_METHODS,
        "enrolled": {
            "totp": f.totp,
            "passkeys": f.passkeys,
            "recovery_codes_left": f.recovery_codes_left,
        },
        "required": f.required,
    }))
    .into_response())
}

/// `POST /api/v1/account/mfa/{method}`: starts an enrolment. Only `totp` is enrolled this
/// way; anything else (`sms`, `voice`, …) is 400 `unsupported_method`.
///
/// # Errors
/// Only on internal failure.
pub async fn api_enrol(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Path(method): Path<String>,
) -> Result<Response, AppError> {
    enrol(&state, &ctx, &session, &method).await
}

/// `POST /api/v1/account/mfa/totp`: starts a TOTP enrolment (SEC-29: needs a recent proof).
///
/// # Errors
/// Only on internal failure.
pub async fn api_enrol_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    enrol(&state, &ctx, &session, "totp").await
}

async fn enrol(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    method: &str,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(ctx), None);
    let result = if method == "totp" {
        state.identity.start_totp_enrolment(session, origin).await
    } else {
        Err(IdentityError::UnsupportedMethod)
    };
    match result {
        Ok(e) => Ok(Json(serde_json::json!({
            "secret": e.secret_base32.as_str(),
            "otpauth_uri": e.otpauth_uri.as_str(),
        }))
        .into_response()),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

/// `POST /api/v1/account/mfa/totp/confirm` `{"code": "123456"}`
///
/// # Errors
/// Only on internal failure.
pub async fn api_confirm_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
    Json(form): Json<CodeForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state
        .identity
        .confirm_totp(&session, &form.code, origin)
        .await
    {
        Ok(codes) => Ok(Json(serde_json::json!({
            "status": "enabled",
            "recovery_codes": codes.map(|c| c.0.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        }))
        .into_response()),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

/// `DELETE /api/v1/account/mfa/totp`
///
/// # Errors
/// Only on internal failure.
pub async fn api_remove_totp(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state.identity.remove_totp(&session, origin).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

/// `POST /api/v1/account/mfa/recovery-codes`: a new set, shown once.
///
/// # Errors
/// Only on internal failure.
pub async fn api_regenerate_codes(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Enrolling(session): Enrolling,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state
        .identity
        .regenerate_recovery_codes(&session, origin)
        .await
    {
        Ok(codes) => Ok(Json(serde_json::json!({
            "recovery_codes": codes.0.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        }))
        .into_response()),
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

/// `PUT /api/v1/tenant/mfa-policy` `{"mfa_required": true}` (owners and admins, SEC-12).
///
/// # Errors
/// Only on internal failure.
pub async fn api_set_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    crate::auth::SignedIn(session): crate::auth::SignedIn,
    Json(form): Json<PolicyForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state
        .identity
        .set_tenant_mfa_required(&session, form.mfa_required, origin)
        .await
    {
        Ok(()) => {
            Ok(Json(serde_json::json!({ "mfa_required": form.mfa_required })).into_response())
        }
        Err(e) => identity_error_json(&e, ctx.request_id).ok_or_else(|| internal(&e)),
    }
}

/// The answer to an action that needs a recent proof of presence first (SEC-29): 401
/// `reauth_required` for JSON; for a browser form, the inline step-up page.
#[must_use]
pub fn step_up_response(
    headers: &HeaderMap,
    format: Format,
    request_id: attest_types::RequestId,
    fallback: &str,
) -> Response {
    if format == Format::Json {
        return error_code_response(
            StatusCode::UNAUTHORIZED,
            "reauth_required",
            request_id,
            format,
        );
    }
    crate::routes::inline_step_up(came_from(headers, fallback))
}
