//! Sign-in, sign-out and the first-administrator bootstrap.

use attest_crypto::Zeroizing;
use attest_domain::authn::login::LoginFailure;
use attest_domain::authn::mfa::{LoginStep, OFFERED_METHODS};
use attest_domain::identity::IdentityError;
use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Enrolling, client_of};
use crate::cookies;
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::middleware::csrf::{CsrfToken, clear_site_data};
use crate::routes::{see_other, with_session_cookie};
use crate::views::{self, BootstrapPage, Chrome, LoginPage};

/// Only same-origin relative paths are followed after sign-in (SEC-54).
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\\', '\r', '\n', '\t'])
                && n.len() <= 2000 =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `?next=…&reason=…` on the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    reason: Option<String>,
}

/// `GET /login`
///
/// # Errors
/// If the page cannot be rendered.
pub async fn login_page(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let notice = match q.reason.as_deref() {
        Some("session_superseded") => {
            Some("You signed in on another browser, so your session here was ended.".to_owned())
        }
        Some("session_expired") => Some("Your session expired. Please sign in again.".to_owned()),
        Some("login_restart") => Some(
            "The sign-in was not completed in time, or there were too many wrong codes. Please sign in again.".to_owned(),
        ),
        Some("password_reset") => {
            Some("Your password was changed. Sign in with the new one.".to_owned())
        }
        _ => None,
    };
    views::html(
        StatusCode::OK,
        &LoginPage {
            title: "Sign in",
            chrome: Chrome::default(),
            csrf: csrf.0,
            next: safe_next(q.next.as_deref()),
            email: String::new(),
            passkeys: state.identity.passkeys_available(),
            notice,
            error: None,
        },
    )
}

/// The sign-in form.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginForm([redacted])")
    }
}

/// `POST /login`: the same answer for an unknown address and a wrong password (SEC-08);
/// 429 with `Retry-After` while throttled, whatever the password (SEC-06).
///
/// # Errors
/// Only on internal failure.
pub async fn login(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let format = Format::negotiate("/login", &headers);
    let password = Zeroizing::new(form.password);
    let result = state
        .identity
        .login(&form.email, password, &client, origin.ip, origin.request_id)
        .await;
    let next = safe_next(form.next.as_deref());
    let (status, code) = match result {
        Ok(LoginStep::SecondFactor(pending)) => {
            // Password right; the second factor decides (SEC-12). The pending cookie grants
            // nothing but the prompt.
            let mut r = if format == Format::Json {
                axum::Json(serde_json::json!({
                    "status": "second_factor_required",
                    "methods": OFFERED_METHODS,
                }))
                .into_response()
            } else {
                let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                see_other(&format!("/login/second-factor?next={encoded}"))
            };
            if let Some(c) = cookies::pending(&pending.0) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            return Ok(r);
        }
        Ok(LoginStep::SignedIn(token, session)) => {
            if format == Format::Json {
                // Scripts get the session and its CSRF token as JSON; browsers a redirect.
                let body = axum::Json(serde_json::json!({
                    "status": "signed_in",
                    "user": session.user.to_string(),
                    "csrf_token": session.csrf_token,
                }));
                return Ok(with_session_cookie(body.into_response(), &token.0));
            }
            return Ok(with_session_cookie(see_other(&next), &token.0));
        }
        Err(LoginFailure::Invalid) => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        Err(LoginFailure::Throttled(retry)) => {
            let mut r = if format == Format::Json {
                error_code_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "invalid_credentials",
                    ctx.request_id,
                    format,
                )
            } else {
                login_error(
                    &state,
                    &csrf,
                    &next,
                    &form.email,
                    StatusCode::TOO_MANY_REQUESTS,
                )?
            };
            let secs = retry.whole_seconds().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Err(LoginFailure::SsoRequired { tenant, provider }) => {
            return crate::routes::sso::sso_required(format, &ctx, &csrf, tenant, &provider, &next);
        }
        Err(LoginFailure::Internal(e)) => return Err(AppError::internal(&e)),
    };
    if format == Format::Json {
        return Ok(error_code_response(status, code, ctx.request_id, format));
    }
    login_error(&state, &csrf, &next, &form.email, status)
}

fn login_error(
    state: &AppState,
    csrf: &CsrfToken,
    next: &str,
    email: &str,
    status: StatusCode,
) -> Result<Response, AppError> {
    login_page_with_error(
        state,
        csrf,
        next,
        email,
        status,
        "The email address or password is not correct, or there were too many attempts. Wait a moment and try again.",
    )
}

/// The sign-in page again, with what went wrong.
pub(crate) fn login_page_with_error(
    state: &AppState,
    csrf: &CsrfToken,
    next: &str,
    email: &str,
    status: StatusCode,
    error: &str,
) -> Result<Response, AppError> {
    views::html(
        status,
        &LoginPage {
            title: "Sign in",
            chrome: Chrome::default(),
            csrf: csrf.0.clone(),
            next: next.to_owned(),
            email: email.chars().take(254).collect(),
            passkeys: state.identity.passkeys_available(),
            notice: None,
            error: Some(error.to_owned()),
        },
    )
}

/// `POST /logout`: ends the session on the server, clears the cookie and the browser's
/// data for this site (SEC-26).
///
/// # Errors
/// Only on internal failure.
pub async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    session: Option<Enrolling>,
) -> Result<Response, AppError> {
    if let Some(Enrolling(session)) = &session {
        let (_, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
        state
            .identity
            .logout(session, origin)
            .await
            .map_err(|e| AppError::internal(&e))?;
    }
    let mut r = see_other("/login");
    if let Some(Enrolling(s)) = &session {
        crate::auth::tag(&mut r, s);
    }
    r.headers_mut()
        .append(header::SET_COOKIE, cookies::clear_session());
    r.headers_mut().insert(
        axum::http::HeaderName::from_static("clear-site-data"),
        clear_site_data(),
    );
    Ok(r)
}

fn link_error(e: &IdentityError, ctx: &RequestContext, headers: &HeaderMap) -> Option<Response> {
    let format = Format::negotiate("/bootstrap", headers);
    // A bootstrap link is a credential: used, expired and unknown links are all refused the
    // same way (SEC-11).
    match e {
        IdentityError::LinkGone
        | IdentityError::AlreadyBootstrapped
        | IdentityError::LinkUnknown => Some(error_code_response(
            StatusCode::UNAUTHORIZED,
            "invalid_link",
            ctx.request_id,
            format,
        )),
        _ => None,
    }
}

/// `GET /bootstrap/{token}`
///
/// # Errors
/// 401 for an unknown link, 410 for a used or expired one.
pub async fn bootstrap_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    if let Err(e) = state.identity.check_bootstrap(&token).await {
        return link_error(&e, &ctx, &headers).ok_or_else(|| AppError::internal(&e));
    }
    views::html(
        StatusCode::OK,
        &BootstrapPage {
            title: "Set up Attest",
            chrome: Chrome::default(),
            csrf: csrf.0,
            token,
            tenant: String::new(),
            name: String::new(),
            email: String::new(),
            errors: Vec::new(),
        },
    )
}

/// The first-administrator form.
#[derive(Deserialize)]
pub struct BootstrapForm {
    tenant: String,
    name: String,
    email: String,
    password: String,
}

impl std::fmt::Debug for BootstrapForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BootstrapForm([redacted])")
    }
}

/// `POST /bootstrap/{token}`: creates the tenant and its owner, signs them in.
///
/// # Errors
/// 422 with the form and field errors for invalid input (the link stays usable); 401/410
/// for bad links.
pub async fn bootstrap(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<BootstrapForm>,
) -> Result<Response, AppError> {
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let result = state
        .identity
        .complete_bootstrap(
            &token,
            &form.tenant,
            &form.name,
            &form.email,
            Zeroizing::new(form.password.clone()),
            &client,
            origin,
        )
        .await;
    match result {
        Ok((session_token, _)) => Ok(with_session_cookie(see_other("/"), &session_token.0)),
        Err(IdentityError::Invalid {
            field,
            code,
            message,
        }) => {
            if Format::negotiate("/bootstrap", &headers) == Format::Json {
                return Ok(crate::error::field_error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    field,
                    &message,
                    ctx.request_id,
                ));
            }
            views::html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &BootstrapPage {
                    title: "Set up Attest",
                    chrome: Chrome::default(),
                    csrf: csrf.0,
                    token,
                    tenant: form.tenant.chars().take(100).collect(),
                    name: form.name.chars().take(100).collect(),
                    email: form.email.chars().take(254).collect(),
                    errors: vec![(field.to_owned(), message)],
                },
            )
        }
        Err(e) => link_error(&e, &ctx, &headers).ok_or_else(|| AppError::internal(&e)),
    }
}
