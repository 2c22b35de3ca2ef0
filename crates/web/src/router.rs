//! The router and the middleware stack.
//!
//! Layers, outermost first: `frame` (context, panic guard, error bodies, security headers,
//! log, metrics) → `refuse_methods` → `admission` (concurrency) → timeout → body limit →
//! routes. Every route, the fallback and every error pass through all of them.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, patch, post, put};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::error::AppError;
use crate::middleware::{csrf, frame, limits, step_up};
use crate::routes::{account, assets, auth, email, health, home, mfa, onboarding, passkeys, sso};

/// Routes that need no authentication (SEC-31's allowlist). Everything else added later must
/// go through the central policy.
pub const PUBLIC_ROUTES: &[&str] = &[
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/attest.css",
    "/static/passkey.js",
    "/favicon.ico",
    "/login",
    "/logout",
    "/api/v1/login",
    "/api/v1/logout",
    "/login/second-factor",
    "/api/v1/login/second-factor",
    "/login/second-factor/passkey/begin",
    "/api/v1/login/second-factor/passkey/begin",
    "/login/passkey/begin",
    "/api/v1/login/passkey/begin",
    "/login/passkey",
    "/api/v1/login/passkey",
    "/bootstrap/{token}",
    "/forgot",
    "/reset/{token}",
    "/invitations/{token}",
    // Single sign-on (SEC-18): the provider's callback is protected by its single-use,
    // browser-bound state; starting and linking carry CSRF tokens.
    "/sso",
    "/sso/start",
    "/sso/callback",
    "/sso/link",
    "/sso/{tenant}",
];

/// Builds the application. `extra` lets the test harness add routes (e.g. a panicking one)
/// that then pass through exactly the same middleware; the binary passes `None`.
pub fn build_router(state: AppState, extra: Option<Router<AppState>>) -> Router {
    let mut routes = Router::new()
        .route("/", get(home::home))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/static/attest.css", get(assets::stylesheet))
        .route("/static/passkey.js", get(assets::passkey_script))
        .route("/favicon.ico", get(assets::favicon))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route(
            "/login/second-factor",
            get(mfa::second_factor_page).post(mfa::second_factor),
        )
        .route("/api/v1/login/second-factor", post(mfa::second_factor))
        .route("/reauth", get(mfa::reauth_form).post(mfa::reauth))
        .route("/api/v1/reauth", post(mfa::api_reauth))
        .route("/account/security", get(mfa::page))
        .route("/account/security/totp", post(mfa::start_totp))
        .route("/account/security/totp/confirm", post(mfa::confirm_totp))
        .route("/account/security/totp/remove", post(mfa::remove_totp))
        .route(
            "/account/security/recovery-codes",
            post(mfa::regenerate_codes),
        )
        .route("/account/security/policy", post(mfa::set_policy))
        .route("/api/v1/account/mfa/methods", get(mfa::api_methods))
        .route(
            "/api/v1/account/mfa/totp/confirm",
            post(mfa::api_confirm_totp),
        )
        .route(
            "/api/v1/account/mfa/totp",
            post(mfa::api_enrol_totp).delete(mfa::api_remove_totp),
        )
        .route(
            "/api/v1/account/mfa/recovery-codes",
            post(mfa::api_regenerate_codes),
        )
        .route("/api/v1/account/mfa/{method}", post(mfa::api_enrol))
        .route("/api/v1/tenant/mfa-policy", put(mfa::api_set_policy))
        .route(
            "/login/second-factor/passkey/begin",
            post(passkeys::begin_second_factor),
        )
        .route(
            "/api/v1/login/second-factor/passkey/begin",
            post(passkeys::begin_second_factor),
        )
        .route("/login/passkey/begin", post(passkeys::begin_sign_in))
        .route("/api/v1/login/passkey/begin", post(passkeys::begin_sign_in))
        .route("/login/passkey", post(passkeys::sign_in))
        .route("/api/v1/login/passkey", post(passkeys::sign_in))
        .route("/reauth/passkey/begin", post(passkeys::begin_reauth))
        .route("/api/v1/reauth/passkey/begin", post(passkeys::begin_reauth))
        .route(
            "/account/security/passkeys/begin",
            post(passkeys::begin_registration),
        )
        .route("/account/security/passkeys", post(passkeys::register))
        .route(
            "/account/security/passkeys/{id}/remove",
            post(passkeys::remove),
        )
        .route(
            "/api/v1/account/passkeys/begin",
            post(passkeys::begin_registration),
        )
        .route(
            "/api/v1/account/passkeys",
            get(passkeys::api_list).post(passkeys::api_register),
        )
        .route(
            "/api/v1/account/passkeys/{id}",
            delete(passkeys::api_remove),
        )
        .route("/account/email", post(email::request_form))
        .route("/api/v1/account/email", patch(email::request_api))
        .route(
            "/account/email/{token}",
            get(email::confirm_page).post(email::confirm),
        )
        .route(
            "/bootstrap/{token}",
            get(auth::bootstrap_page).post(auth::bootstrap),
        )
        .route(
            "/forgot",
            get(onboarding::forgot_page).post(onboarding::forgot),
        )
        .route(
            "/reset/{token}",
            get(onboarding::reset_page).post(onboarding::reset),
        )
        .route(
            "/invitations/{token}",
            get(onboarding::invitation_page).post(onboarding::accept_invitation),
        )
        .route("/members", get(onboarding::members))
        .route("/members/invite", post(onboarding::invite))
        .route("/members/{id}/role", post(onboarding::change_role))
        .route(
            "/members/{id}/sessions/end",
            post(onboarding::end_member_sessions),
        )
        .route(
            "/members/{id}/remove",
            get(onboarding::remove_member_page).post(onboarding::remove_member),
        )
        .route("/switch-tenant", post(onboarding::switch_tenant))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/api/v1/account", get(account::api_me))
        .route("/api/v1/account/password", post(account::change_password))
        .route("/api/v1/account/sessions", get(account::api_sessions))
        .route(
            "/api/v1/account/sessions/{id}",
            delete(account::api_end_session),
        );
    // Single sign-on (SEC-18, SEC-19).
    routes = routes
        .route("/sso", get(sso::signin_page))
        .route("/sso/start", post(sso::start))
        .route("/sso/callback", get(sso::callback))
        .route("/sso/link", get(sso::link_page).post(sso::link))
        .route("/sso/{tenant}", get(sso::tenant_page))
        .route("/tenant/sso", get(sso::settings).post(sso::save))
        .route(
            "/tenant/sso/remove",
            get(sso::remove_page).post(sso::remove),
        )
        .route("/api/v1/tenant/sso", get(sso::api_get).put(sso::api_put));
    if let Some(extra) = extra {
        routes = routes.merge(extra);
    }
    // Innermost, per route: keeps browser form fields for an inline step-up (SEC-29).
    routes = routes.layer(from_fn_with_state(state.clone(), step_up::replay));
    let settings = &state.settings;
    routes
        .fallback(|| async { AppError::NotFound })
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(state.clone(), frame::frame))
                .layer(from_fn(limits::refuse_methods))
                .layer(from_fn_with_state(state.clone(), csrf::csrf))
                .layer(from_fn_with_state(state.clone(), limits::admission))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(settings.request_timeout_secs),
                ))
                .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
                .layer(DefaultBodyLimit::max(settings.max_body_bytes)),
        )
        .with_state(state)
}
