//! Single sign-on over HTTP (SEC-18, SEC-19): the "Sign in with …" pages, the start of a
//! sign-in, the provider's callback, the confirmation that links an existing account, and the
//! tenant's SSO settings (page and JSON). The rules live in the domain's `authn::sso`; these
//! handlers translate, and render every refusal as a clear page or a JSON error with a stable
//! code (details go to the log, never to the page).
//!
//! The browser-binding cookie `__Host-attest-sso` (Secure, HttpOnly, `SameSite=Lax` so that it
//! comes back on the provider's top-level redirect, 10 minutes) holds a random secret from
//! which the attempt's nonce and PKCE verifier are derived; a callback without it fails.
//!
//! The callback is a GET that signs in, as the OpenID Connect protocol requires; it is
//! protected by the single-use, browser-bound `state` rather than a CSRF token.

use askama::Template;
use attest_crypto::Zeroizing;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::authn::sso::{
    CallbackParams, LinkOffer, ProviderFailure, SsoError, SsoOutcome, SsoSettings, SsoSettingsInput,
};
use attest_types::TenantId;
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::cookies;
use crate::error::{AppError, Format, Rendered};
use crate::middleware::RequestContext;
use crate::middleware::csrf::CsrfToken;
use crate::routes::account::chrome;
use crate::routes::auth::safe_next;
use crate::routes::mfa::step_up_response;
use crate::routes::{see_other, with_session_cookie};
use crate::views::{self, Chrome};

/// The browser-binding cookie of an SSO sign-in.
pub const SSO_COOKIE: &str = "__Host-attest-sso";

fn sso_cookie(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SSO_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600"
    ))
    .ok()
}

fn parse_tenant(text: &str) -> Option<TenantId> {
    text.trim().parse::<TenantId>().ok()
}

/// The status of a refusal: 400 for a bad or replayed state, 401 for a token that fails a
/// check (SEC-18), 502 when the provider is down or answers nonsense (its fault, not the
/// user's; a rendered page, never the generic 500).
#[must_use]
pub fn status_of(e: &SsoError) -> StatusCode {
    match e {
        SsoError::CallbackInvalid(_) | SsoError::StateInvalid(_) | SsoError::LinkGone => {
            StatusCode::BAD_REQUEST
        }
        SsoError::Token(_)
        | SsoError::ProviderError(_)
        | SsoError::Provider(ProviderFailure::TokenRefused { .. })
        | SsoError::WrongPassword
        | SsoError::InvalidCode
        | SsoError::ReauthRequired => StatusCode::UNAUTHORIZED,
        SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        SsoError::Forbidden | SsoError::EmailNotAllowed(_) | SsoError::NoAccess => {
            StatusCode::FORBIDDEN
        }
        SsoError::NotConfigured => StatusCode::NOT_FOUND,
        SsoError::AlreadyLinked => StatusCode::CONFLICT,
        SsoError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SsoError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        SsoError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Template)]
#[template(path = "sso_problem.html")]
struct ProblemPage<'a> {
    title: &'a str,
    chrome: Chrome,
    message: String,
    status: u16,
    code: &'a str,
    reference: String,
    again: Option<String>,
}

/// An SSO failure that is ours: 503 when the database was too busy to answer, else 500.
fn sso_internal(e: &SsoError) -> AppError {
    match e {
        SsoError::Internal(inner) => AppError::internal(inner),
        other => AppError::Internal(other.detail()),
    }
}

/// The answer to a refused SSO step: a page saying what happened and what to do, or JSON
/// with the stable code. Internal failures become the generic 500.
fn refusal(
    e: &SsoError,
    format: Format,
    ctx: &RequestContext,
    again: Option<String>,
) -> Result<Response, AppError> {
    let status = status_of(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return Err(sso_internal(e));
    }
    let mut r = if format == Format::Json {
        let mut r = (
            status,
            Json(serde_json::json!({
                "error": e.code(),
                "message": e.message(),
                "id": ctx.request_id.to_string(),
            })),
        )
            .into_response();
        r.extensions_mut().insert(Rendered);
        r
    } else {
        views::html(
            status,
            &ProblemPage {
                title: match status {
                    StatusCode::BAD_GATEWAY => "The identity provider is not answering",
                    StatusCode::BAD_REQUEST => "Start the sign-in again",
                    _ => "Single sign-on did not work",
                },
                chrome: Chrome::default(),
                message: e.message(),
                status: status.as_u16(),
                code: e.code(),
                reference: ctx.request_id.to_string(),
                again,
            },
        )?
    };
    if let SsoError::Throttled(d) = e
        && let Ok(v) = HeaderValue::from_str(&d.whole_seconds().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// Signing in.

#[derive(Template)]
#[template(path = "sso_signin.html")]
struct SignInPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    next: String,
    /// `(tenant id, button text)` for a tenant's own page.
    target: Option<(String, String)>,
    email: String,
    error: Option<String>,
}

/// `?next=…`
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /sso`: "Sign in with SSO": asks for the work email and routes by its domain.
///
/// # Errors
/// If the page cannot be rendered.
pub async fn signin_page(
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    views::html(
        StatusCode::OK,
        &SignInPage {
            title: "Sign in with single sign-on",
            chrome: Chrome::default(),
            csrf: csrf.0,
            next: safe_next(q.next.as_deref()),
            target: None,
            email: String::new(),
            error: None,
        },
    )
}

/// `GET /sso/{tenant}`: the organisation's "Sign in with <provider>" page (a link
/// administrators share).
///
/// # Errors
/// 404 for a tenant without SSO (the same as an unknown one).
pub async fn tenant_page(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Path(tenant): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let Some(tenant) = parse_tenant(&tenant) else {
        return Err(AppError::NotFound);
    };
    let target = match state.sso.target(tenant).await {
        Ok(t) => t,
        Err(SsoError::NotConfigured) => return Err(AppError::NotFound),
        Err(e) => return Err(sso_internal(&e)),
    };
    views::html(
        StatusCode::OK,
        &SignInPage {
            title: "Sign in",
            chrome: Chrome::default(),
            csrf: csrf.0,
            next: safe_next(q.next.as_deref()),
            target: Some((target.tenant.to_string(), target.display_name)),
            email: String::new(),
            error: None,
        },
    )
}

/// The start form: a tenant (its button) or a work email (routed by domain).
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    login_hint: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /sso/start`: stores the attempt and sends the browser to the provider (303).
///
/// # Errors
/// Only on internal failure.
pub async fn start(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/sso", &headers);
    let (_, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let next = safe_next(form.next.as_deref());
    let email = form
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| e.chars().take(254).collect::<String>());
    let tenant = match (form.tenant.as_deref().and_then(parse_tenant), &email) {
        (Some(t), _) => Some(t),
        (None, Some(e)) => state
            .sso
            .target_for_email(e)
            .await
            .map_err(|e| sso_internal(&e))?
            .map(|t| t.tenant),
        (None, None) => None,
    };
    let Some(tenant) = tenant else {
        let message = "Single sign-on is not set up for this email address's domain. Sign in with your password, or ask your administrator for your organisation's sign-in link.";
        if format == Format::Json {
            return refusal(&SsoError::NotConfigured, format, &ctx, None);
        }
        return views::html(
            StatusCode::NOT_FOUND,
            &SignInPage {
                title: "Sign in with single sign-on",
                chrome: Chrome::default(),
                csrf: csrf.0,
                next,
                target: None,
                email: email.unwrap_or_default(),
                error: Some(message.to_owned()),
            },
        );
    };
    let hint = form.login_hint.or(email);
    let browser = cookies::get(&headers, SSO_COOKIE);
    match state
        .sso
        .start(tenant, browser.as_deref(), &next, hint.as_deref(), origin)
        .await
    {
        Ok(started) => {
            let mut r = see_other(&started.redirect_to);
            if let Some(secret) = &started.new_browser_secret
                && let Some(c) = sso_cookie(secret)
            {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            Ok(r)
        }
        Err(e) => refusal(&e, format, &ctx, Some(format!("/sso/{tenant}"))),
    }
}

/// `GET /sso/callback?state=…&code=…` (or `error=…`): the provider sends the browser back.
/// A bad or replayed state → 400; a token that fails a check → 401; a provider that is down
/// → 502; each refusal audited, nothing else changed (SEC-18).
///
/// # Errors
/// Only on internal failure.
pub async fn callback(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/sso", &headers);
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let raw = query.unwrap_or_default();
    let params = if raw.len() > 3 * attest_domain::authn::sso::MAX_PARAM_LEN {
        Err(SsoError::CallbackInvalid("the callback query is too long"))
    } else {
        CallbackParams::parse(
            form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    };
    let browser = cookies::get(&headers, SSO_COOKIE);
    match state
        .sso
        .callback(params, browser.as_deref(), &client, origin)
        .await
    {
        Ok(outcome) => Ok(finish(outcome, format)),
        Err(e) => refusal(&e, format, &ctx, Some("/sso".to_owned())),
    }
}

fn finish(outcome: SsoOutcome, format: Format) -> Response {
    match outcome {
        SsoOutcome::SignedIn(token, session, next) => {
            let r = if format == Format::Json {
                Json(serde_json::json!({
                    "status": "signed_in",
                    "user": session.user.to_string(),
                    "csrf_token": session.csrf_token,
                }))
                .into_response()
            } else {
                see_other(&safe_next(Some(&next)))
            };
            let mut r = with_session_cookie(r, &token.0);
            tag(&mut r, &session);
            r
        }
        SsoOutcome::SecondFactor(pending, next) => {
            let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            let mut r = if format == Format::Json {
                Json(serde_json::json!({ "status": "second_factor_required" })).into_response()
            } else {
                see_other(&format!("/login/second-factor?next={encoded}"))
            };
            if let Some(c) = cookies::pending(&pending.0) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        SsoOutcome::LinkOffered { .. } => {
            if format == Format::Json {
                let mut r = (
                    StatusCode::CONFLICT,
                    Json(serde_json::json!({
                        "error": "sso_link_required",
                        "message": "An Attest account with this email exists: confirm with its password to connect it.",
                    })),
                )
                    .into_response();
                r.extensions_mut().insert(Rendered);
                r
            } else {
                see_other("/sso/link")
            }
        }
    }
}

#[derive(Template)]
#[template(path = "sso_link.html")]
struct LinkPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    offer: LinkOffer,
    error: Option<String>,
}

/// `GET /sso/link`: confirm linking the provider's identity to the existing account.
///
/// # Errors
/// Only on internal failure.
pub async fn link_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/sso", &headers);
    let browser = cookies::get(&headers, SSO_COOKIE);
    match state.sso.link_offer(browser.as_deref()).await {
        Ok(Some(offer)) => views::html(
            StatusCode::OK,
            &LinkPage {
                title: "Connect your account",
                chrome: Chrome::default(),
                csrf: csrf.0,
                offer,
                error: None,
            },
        ),
        Ok(None) => refusal(&SsoError::LinkGone, format, &ctx, Some("/sso".to_owned())),
        Err(e) => refusal(&e, format, &ctx, None),
    }
}

/// The link confirmation.
#[derive(Deserialize)]
pub struct LinkForm {
    password: String,
    #[serde(default)]
    code: Option<String>,
}

impl std::fmt::Debug for LinkForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkForm([redacted])")
    }
}

/// `POST /sso/link`: the account's password (and second factor) confirm the link; then the
/// user is signed in.
///
/// # Errors
/// Only on internal failure.
pub async fn link(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/sso", &headers);
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let browser = cookies::get(&headers, SSO_COOKIE);
    let result = state
        .sso
        .confirm_link(
            browser.as_deref(),
            Zeroizing::new(form.password),
            form.code.as_deref(),
            &client,
            origin,
        )
        .await;
    match result {
        Ok(outcome) => Ok(finish(outcome, format)),
        Err(e @ (SsoError::WrongPassword | SsoError::InvalidCode | SsoError::Throttled(_)))
            if format == Format::Html =>
        {
            let Ok(Some(offer)) = state.sso.link_offer(browser.as_deref()).await else {
                return refusal(&SsoError::LinkGone, format, &ctx, Some("/sso".to_owned()));
            };
            views::html(
                status_of(&e),
                &LinkPage {
                    title: "Connect your account",
                    chrome: Chrome::default(),
                    csrf: csrf.0,
                    offer,
                    error: Some(e.message()),
                },
            )
        }
        Err(e) => refusal(&e, format, &ctx, Some("/sso".to_owned())),
    }
}

/// The page of a password sign-in refused because the organisation enforces SSO (SEC-19).
#[derive(Template)]
#[template(path = "sso_required.html")]
struct RequiredPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    tenant: String,
    provider: String,
    next: String,
}

/// The answer to a correct password whose user must sign in through SSO (SEC-19): 403
/// `sso_required`, as a page with the organisation's "Sign in with …" button, or JSON.
///
/// # Errors
/// If the page cannot be rendered.
pub fn sso_required(
    format: Format,
    ctx: &RequestContext,
    csrf: &CsrfToken,
    tenant: TenantId,
    provider: &str,
    next: &str,
) -> Result<Response, AppError> {
    if format == Format::Json {
        let mut r = (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": "sso_required",
                "message": format!("Your organisation signs you in with {provider}. Use \"Sign in with {provider}\"."),
                "sso_url": format!("/sso/{tenant}"),
                "id": ctx.request_id.to_string(),
            })),
        )
            .into_response();
        r.extensions_mut().insert(Rendered);
        return Ok(r);
    }
    views::html(
        StatusCode::FORBIDDEN,
        &RequiredPage {
            title: "Sign in with your organisation",
            chrome: Chrome::default(),
            csrf: csrf.0.clone(),
            tenant: tenant.to_string(),
            provider: provider.to_owned(),
            next: next.to_owned(),
        },
    )
}

// ---------------------------------------------------------------------------------------
// Settings.

#[derive(Template)]
#[template(path = "sso_settings.html")]
struct SettingsPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    form: SettingsView,
    configured: bool,
    sign_in_link: Option<String>,
    redirect_uri: String,
    grantable_roles: Vec<(&'static str, &'static str)>,
    message: Option<String>,
    errors: Vec<(String, String)>,
}

/// The settings form's values as shown (never the secret).
#[derive(Debug, Clone, Default)]
struct SettingsView {
    display_name: String,
    issuer: String,
    client_id: String,
    secret_set: bool,
    allowed_domains: String,
    jit: bool,
    jit_role: String,
    enforce: bool,
    secret_from_operator: bool,
}

impl From<&SsoSettings> for SettingsView {
    fn from(s: &SsoSettings) -> Self {
        Self {
            display_name: s.display_name.clone(),
            issuer: s.issuer.clone(),
            client_id: s.client_id.clone(),
            secret_set: s.client_secret_set,
            allowed_domains: s.allowed_domains.join(" "),
            jit: s.jit,
            jit_role: s.jit_role.as_str().to_owned(),
            enforce: s.enforce,
            secret_from_operator: s.client_secret_from_operator,
        }
    }
}

fn settings_json(s: &SsoSettings, redirect_uri: &str) -> serde_json::Value {
    serde_json::json!({
        "configured": true,
        "display_name": s.display_name,
        "issuer": s.issuer,
        "client_id": s.client_id,
        "client_secret_set": s.client_secret_set,
        "client_secret_from_operator": s.client_secret_from_operator,
        "allowed_domains": s.allowed_domains,
        "jit": s.jit,
        "jit_role": s.jit_role.as_str(),
        "enforce": s.enforce,
        "redirect_uri": redirect_uri,
        "sign_in_url": format!("/sso/{}", s.tenant),
    })
}

#[allow(clippy::too_many_arguments)]
async fn settings_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    status: StatusCode,
    form: Option<SettingsView>,
    message: Option<String>,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let current = match state.sso.settings(session).await {
        Ok(s) => s,
        Err(SsoError::Forbidden | SsoError::NotConfigured) => {
            return Ok(crate::error::error_code_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                ctx.request_id,
                Format::Html,
            ));
        }
        Err(e) => return Err(sso_internal(&e)),
    };
    let mut form =
        form.unwrap_or_else(|| current.as_ref().map(SettingsView::from).unwrap_or_default());
    form.secret_set = current.as_ref().is_some_and(|c| c.client_secret_set);
    form.secret_from_operator = current
        .as_ref()
        .is_some_and(|c| c.client_secret_from_operator);
    if form.jit_role.is_empty() {
        form.jit_role = "contributor".to_owned();
    }
    let mut r = views::html(
        status,
        &SettingsPage {
            title: "Single sign-on",
            chrome,
            csrf: session.csrf_token.clone(),
            configured: current.is_some(),
            sign_in_link: current
                .as_ref()
                .map(|c| format!("{}/sso/{}", state.settings.public_url, c.tenant)),
            redirect_uri: state.sso.redirect_uri().to_owned(),
            // Just-in-time members are never owners (SEC-35).
            grantable_roles: views::role_options(attest_types::Role::Admin, false),
            form,
            message,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /tenant/sso` (owners and admins).
///
/// # Errors
/// Only on internal failure.
pub async fn settings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    settings_page(
        &state,
        &ctx,
        &session,
        StatusCode::OK,
        None,
        None,
        Vec::new(),
    )
    .await
}

/// The settings form (and JSON body). `client_secret` is write-only: empty keeps the stored
/// one.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsForm {
    /// The form's CSRF field (the middleware checks it); nothing else unknown is accepted,
    /// in a form or JSON (SEC-37).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    display_name: String,
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    allowed_domains: AllowedDomains,
    #[serde(default, deserialize_with = "flag")]
    jit: bool,
    #[serde(default)]
    jit_role: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    enforce: bool,
}

impl std::fmt::Debug for SettingsForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsForm([redacted])")
    }
}

/// Domains as one text (form) or a list (JSON).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AllowedDomains {
    /// `"a.com b.com"`
    Text(String),
    /// `["a.com", "b.com"]`
    List(Vec<String>),
    /// Nothing given.
    #[default]
    None,
}

impl AllowedDomains {
    fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::List(l) => l.join(" "),
            Self::None => String::new(),
        }
    }
}

/// A checkbox (`on`/`true`) or a JSON boolean.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Text(t) => matches!(t.as_str(), "on" | "true" | "1" | "yes"),
    })
}

impl SettingsForm {
    fn view(&self) -> SettingsView {
        SettingsView {
            display_name: self.display_name.chars().take(60).collect(),
            issuer: self.issuer.chars().take(512).collect(),
            client_id: self.client_id.chars().take(255).collect(),
            secret_set: false,
            secret_from_operator: false,
            allowed_domains: self.allowed_domains.text().chars().take(2000).collect(),
            jit: self.jit,
            jit_role: self
                .jit_role
                .clone()
                .unwrap_or_default()
                .chars()
                .take(20)
                .collect(),
            enforce: self.enforce,
        }
    }

    fn into_input(self) -> SsoSettingsInput {
        SsoSettingsInput {
            allowed_domains: self.allowed_domains.text(),
            display_name: self.display_name,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self
                .client_secret
                .map(attest_domain::authn::sso::ClientSecret::new),
            jit: self.jit,
            jit_role: self.jit_role.unwrap_or_else(|| "contributor".to_owned()),
            enforce: self.enforce,
        }
    }
}

/// `POST /tenant/sso`: saves the settings (owners and admins; SEC-29 step-up first).
///
/// # Errors
/// Only on internal failure.
pub async fn save(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let shown = form.view();
    match state
        .sso
        .save_settings(&session, form.into_input(), origin)
        .await
    {
        Ok(_) => {
            settings_page(
                &state,
                &ctx,
                &session,
                StatusCode::OK,
                None,
                Some("The single sign-on settings were saved.".to_owned()),
                Vec::new(),
            )
            .await
        }
        Err(SsoError::ReauthRequired) => Ok(step_up_response(
            &headers,
            Format::Html,
            ctx.request_id,
            "/tenant/sso",
        )),
        Err(SsoError::Invalid { field, message, .. }) => {
            settings_page(
                &state,
                &ctx,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(shown),
                None,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => refusal(&e, Format::Html, &ctx, None),
    }
}

/// `GET /tenant/sso/remove`: asks for confirmation on a page of its own (UI.md).
///
/// # Errors
/// Only on internal failure.
pub async fn remove_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    if !matches!(state.sso.settings(&session).await, Ok(Some(_))) {
        return Ok(see_other("/tenant/sso"));
    }
    let (chrome, _) = chrome(&state, &session).await?;
    let mut r = views::html(
        StatusCode::OK,
        &views::ConfirmPage {
            title: "Remove single sign-on",
            chrome,
            csrf: session.csrf_token.clone(),
            text: "Members will no longer be able to sign in with your identity provider. Those who have a password sign in with it; the others must reset it first. Connected identities are kept and work again if you set up the same provider.".to_owned(),
            action: "/tenant/sso/remove".to_owned(),
            button: "Remove single sign-on",
            cancel: "/tenant/sso".to_owned(),
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// `POST /tenant/sso/remove` (owners and admins; SEC-29 step-up first).
///
/// # Errors
/// Only on internal failure.
pub async fn remove(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state.sso.remove_settings(&session, origin).await {
        Ok(()) => {
            settings_page(
                &state,
                &ctx,
                &session,
                StatusCode::OK,
                None,
                Some(
                    "Single sign-on was removed. Members sign in with their passwords.".to_owned(),
                ),
                Vec::new(),
            )
            .await
        }
        Err(SsoError::ReauthRequired) => Ok(step_up_response(
            &headers,
            Format::Html,
            ctx.request_id,
            "/tenant/sso",
        )),
        Err(e) => refusal(&e, Format::Html, &ctx, None),
    }
}

/// `GET /api/v1/tenant/sso` (owners and admins): the settings without the secret.
///
/// # Errors
/// Only on internal failure.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    match state.sso.settings(&session).await {
        Ok(Some(s)) => Ok(Json(settings_json(&s, state.sso.redirect_uri())).into_response()),
        Ok(None) => Ok(Json(serde_json::json!({
            "configured": false,
            "redirect_uri": state.sso.redirect_uri(),
        }))
        .into_response()),
        Err(e) => refusal(&e, Format::Json, &ctx, None),
    }
}

/// `PUT /api/v1/tenant/sso` (owners and admins; 401 `reauth_required` without a recent
/// proof, SEC-29).
///
/// # Errors
/// Only on internal failure.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<SettingsForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    match state
        .sso
        .save_settings(&session, form.into_input(), origin)
        .await
    {
        Ok(s) => Ok(Json(settings_json(&s, state.sso.redirect_uri())).into_response()),
        Err(SsoError::Invalid {
            field,
            code,
            message,
        }) => Ok(crate::error::field_error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            field,
            &message,
            ctx.request_id,
        )),
        Err(e) => refusal(&e, Format::Json, &ctx, None),
    }
}
