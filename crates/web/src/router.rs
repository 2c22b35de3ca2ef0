//! The router and the middleware stack.
//!
//! Layers, outermost first: `frame` (context, panic guard, error bodies, security headers,
//! log, metrics) → `refuse_methods` → `csrf` → `admission` (concurrency) → the outer time
//! limit → `step_up` → per route: time limit → body limit → `policy::enforce` → handler.
//! Every route, the fallback and every error pass through all of them; upload routes
//! ([`UPLOADS`]) get the transfer limits instead of the form limits.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::error::AppError;
use crate::middleware::{csrf, frame, limits, step_up};
use crate::policy::{self, Access};
use crate::routes::{
    access_reviews, account, activities, assets, auth, controls, dashboard, documents, email,
    evidence, frameworks, health, home, mfa, onboarding, operator_access, passkeys, risks, runs,
    sso, tokens,
};
use attest_domain::access::Permission;

/// One route: its path, who may call it, and its handlers.
#[derive(Debug)]
pub struct Route {
    /// The path pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its handlers by method.
    methods: fn() -> MethodRouter<AppState>,
}

/// Every route, with its policy (SEC-31). The router is built from this table only, so a
/// route without a declared [`Access`] cannot exist; `Access::Public` entries are the
/// allowlist of routes that need no session.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/",
        access: Access::Public,
        methods: || get(home::home),
    },
    Route {
        path: "/healthz",
        access: Access::Public,
        methods: || get(health::healthz),
    },
    Route {
        path: "/readyz",
        access: Access::Public,
        methods: || get(health::readyz),
    },
    Route {
        path: "/metrics",
        access: Access::Public,
        methods: || get(health::metrics),
    },
    Route {
        path: "/static/attest.css",
        access: Access::Public,
        methods: || get(assets::stylesheet),
    },
    Route {
        path: "/static/passkey.js",
        access: Access::Public,
        methods: || get(assets::passkey_script),
    },
    Route {
        path: "/static/continue.js",
        access: Access::Public,
        methods: || get(assets::continue_script),
    },
    Route {
        path: "/static/upload.js",
        access: Access::Public,
        methods: || get(assets::upload_script),
    },
    Route {
        path: "/favicon.ico",
        access: Access::Public,
        methods: || get(assets::favicon),
    },
    Route {
        path: "/login",
        access: Access::Public,
        methods: || get(auth::login_page).post(auth::login),
    },
    Route {
        path: "/logout",
        access: Access::Public,
        methods: || post(auth::logout),
    },
    Route {
        path: "/api/v1/openapi.json",
        access: Access::SignedIn,
        methods: || get(crate::openapi::serve),
    },
    Route {
        path: "/api/v1/login",
        access: Access::Public,
        methods: || post(auth::login),
    },
    Route {
        path: "/api/v1/logout",
        access: Access::Public,
        methods: || post(auth::logout),
    },
    Route {
        path: "/login/second-factor",
        access: Access::Public,
        methods: || get(mfa::second_factor_page).post(mfa::second_factor),
    },
    Route {
        path: "/api/v1/login/second-factor",
        access: Access::Public,
        methods: || post(mfa::second_factor),
    },
    Route {
        path: "/reauth",
        access: Access::Enrolling,
        methods: || get(mfa::reauth_form).post(mfa::reauth),
    },
    Route {
        path: "/api/v1/reauth",
        access: Access::Enrolling,
        methods: || post(mfa::api_reauth),
    },
    Route {
        path: "/account/security",
        access: Access::Enrolling,
        methods: || get(mfa::page),
    },
    Route {
        path: "/account/security/totp",
        access: Access::Enrolling,
        methods: || post(mfa::start_totp),
    },
    Route {
        path: "/account/security/totp/confirm",
        access: Access::Enrolling,
        methods: || post(mfa::confirm_totp),
    },
    Route {
        path: "/account/security/totp/remove",
        access: Access::Enrolling,
        methods: || post(mfa::remove_totp),
    },
    Route {
        path: "/account/security/recovery-codes",
        access: Access::Enrolling,
        methods: || post(mfa::regenerate_codes),
    },
    Route {
        path: "/account/security/policy",
        access: Access::TENANT_ADMIN,
        methods: || post(mfa::set_policy),
    },
    Route {
        path: "/api/v1/account/mfa/methods",
        access: Access::Enrolling,
        methods: || get(mfa::api_methods),
    },
    Route {
        path: "/api/v1/account/mfa/totp/confirm",
        access: Access::Enrolling,
        methods: || post(mfa::api_confirm_totp),
    },
    Route {
        path: "/api/v1/account/mfa/totp",
        access: Access::Enrolling,
        methods: || post(mfa::api_enrol_totp).delete(mfa::api_remove_totp),
    },
    Route {
        path: "/api/v1/account/mfa/recovery-codes",
        access: Access::Enrolling,
        methods: || post(mfa::api_regenerate_codes),
    },
    Route {
        path: "/api/v1/account/mfa/{method}",
        access: Access::Enrolling,
        methods: || post(mfa::api_enrol),
    },
    Route {
        path: "/api/v1/tenant/mfa-policy",
        access: Access::TENANT_ADMIN,
        methods: || put(mfa::api_set_policy),
    },
    Route {
        path: "/login/second-factor/passkey/begin",
        access: Access::Public,
        methods: || post(passkeys::begin_second_factor),
    },
    Route {
        path: "/api/v1/login/second-factor/passkey/begin",
        access: Access::Public,
        methods: || post(passkeys::begin_second_factor),
    },
    Route {
        path: "/login/passkey/begin",
        access: Access::Public,
        methods: || post(passkeys::begin_sign_in),
    },
    Route {
        path: "/api/v1/login/passkey/begin",
        access: Access::Public,
        methods: || post(passkeys::begin_sign_in),
    },
    Route {
        path: "/login/passkey",
        access: Access::Public,
        methods: || post(passkeys::sign_in),
    },
    Route {
        path: "/api/v1/login/passkey",
        access: Access::Public,
        methods: || post(passkeys::sign_in),
    },
    Route {
        path: "/reauth/passkey/begin",
        access: Access::Enrolling,
        methods: || post(passkeys::begin_reauth),
    },
    Route {
        path: "/api/v1/reauth/passkey/begin",
        access: Access::Enrolling,
        methods: || post(passkeys::begin_reauth),
    },
    Route {
        path: "/account/security/passkeys/begin",
        access: Access::Enrolling,
        methods: || post(passkeys::begin_registration),
    },
    Route {
        path: "/account/security/passkeys",
        access: Access::Enrolling,
        methods: || post(passkeys::register),
    },
    Route {
        path: "/account/security/passkeys/{id}/remove",
        access: Access::Enrolling,
        methods: || post(passkeys::remove),
    },
    Route {
        path: "/api/v1/account/passkeys/begin",
        access: Access::Enrolling,
        methods: || post(passkeys::begin_registration),
    },
    Route {
        path: "/api/v1/account/passkeys",
        access: Access::Enrolling,
        methods: || get(passkeys::api_list).post(passkeys::api_register),
    },
    Route {
        path: "/api/v1/account/passkeys/{id}",
        access: Access::Enrolling,
        methods: || delete(passkeys::api_remove),
    },
    Route {
        path: "/account/email",
        access: Access::SignedIn,
        methods: || post(email::request_form),
    },
    Route {
        path: "/api/v1/account/email",
        access: Access::SignedIn,
        methods: || patch(email::request_api),
    },
    Route {
        path: "/account/email/{token}",
        access: Access::SignedIn,
        methods: || get(email::confirm_page).post(email::confirm),
    },
    Route {
        path: "/bootstrap/{token}",
        access: Access::Public,
        methods: || get(auth::bootstrap_page).post(auth::bootstrap),
    },
    Route {
        path: "/forgot",
        access: Access::Public,
        methods: || get(onboarding::forgot_page).post(onboarding::forgot),
    },
    Route {
        path: "/reset/{token}",
        access: Access::Public,
        methods: || get(onboarding::reset_page).post(onboarding::reset),
    },
    Route {
        path: "/invitations/{token}",
        access: Access::Public,
        methods: || get(onboarding::invitation_page).post(onboarding::accept_invitation),
    },
    Route {
        path: "/members",
        access: Access::Needs(Permission::ListMembers),
        methods: || get(onboarding::members),
    },
    Route {
        path: "/members/invite",
        access: Access::TENANT_ADMIN,
        methods: || post(onboarding::invite),
    },
    Route {
        path: "/members/{id}/role",
        access: Access::TENANT_ADMIN,
        methods: || post(onboarding::change_role),
    },
    Route {
        path: "/members/{id}/sessions/end",
        access: Access::TENANT_ADMIN,
        methods: || post(onboarding::end_member_sessions),
    },
    Route {
        path: "/members/{id}/remove",
        access: Access::TENANT_ADMIN,
        methods: || get(onboarding::remove_member_page).post(onboarding::remove_member),
    },
    Route {
        path: "/switch-tenant",
        access: Access::SignedIn,
        methods: || post(onboarding::switch_tenant),
    },
    Route {
        path: "/account",
        access: Access::SignedIn,
        methods: || get(account::page),
    },
    Route {
        path: "/account/password",
        access: Access::SignedIn,
        methods: || post(account::change_password),
    },
    Route {
        path: "/account/sessions/{id}/end",
        access: Access::SignedIn,
        methods: || post(account::end_session),
    },
    Route {
        path: "/api/v1/account",
        access: Access::SignedIn,
        methods: || get(account::api_me),
    },
    Route {
        path: "/api/v1/account/password",
        access: Access::SignedIn,
        methods: || post(account::change_password),
    },
    Route {
        path: "/api/v1/account/sessions",
        access: Access::SignedIn,
        methods: || get(account::api_sessions),
    },
    Route {
        path: "/api/v1/account/sessions/{id}",
        access: Access::SignedIn,
        methods: || delete(account::api_end_session),
    },
    Route {
        path: "/sso",
        access: Access::Public,
        methods: || get(sso::signin_page),
    },
    Route {
        path: "/sso/start",
        access: Access::Public,
        methods: || post(sso::start),
    },
    Route {
        path: "/sso/callback",
        access: Access::Public,
        methods: || get(sso::callback),
    },
    Route {
        path: "/sso/link",
        access: Access::Public,
        methods: || get(sso::link_page).post(sso::link),
    },
    Route {
        path: "/sso/{tenant}",
        access: Access::Public,
        methods: || get(sso::tenant_page),
    },
    Route {
        path: "/tenant/sso",
        access: Access::TENANT_ADMIN,
        methods: || get(sso::settings).post(sso::save),
    },
    Route {
        path: "/tenant/sso/remove",
        access: Access::TENANT_ADMIN,
        methods: || get(sso::remove_page).post(sso::remove),
    },
    Route {
        path: "/api/v1/tenant/sso",
        access: Access::TENANT_ADMIN,
        methods: || get(sso::api_get).put(sso::api_put),
    },
    Route {
        path: "/account/tokens",
        access: Access::SignedIn,
        methods: || get(tokens::page).post(tokens::create_form),
    },
    Route {
        path: "/account/tokens/{id}/revoke",
        access: Access::SignedIn,
        methods: || post(tokens::revoke_form),
    },
    Route {
        path: "/api/v1/account/tokens",
        access: Access::SignedIn,
        methods: || get(tokens::api_list).post(tokens::api_create),
    },
    Route {
        path: "/api/v1/account/tokens/{id}",
        access: Access::SignedIn,
        methods: || delete(tokens::api_revoke),
    },
    // Operator access (SEC-39): the tenant's owners and admins let the operator in.
    Route {
        path: "/tenant/operator-access",
        access: Access::TENANT_ADMIN,
        methods: || get(operator_access::page).post(operator_access::grant),
    },
    Route {
        path: "/tenant/operator-access/{id}/revoke",
        access: Access::TENANT_ADMIN,
        methods: || post(operator_access::revoke),
    },
    // Access reviews (SEC-38): owners and admins; owners decide.
    Route {
        path: "/tenant/access-reviews",
        access: Access::TENANT_ADMIN,
        methods: || get(access_reviews::page).post(access_reviews::start_form),
    },
    Route {
        path: "/tenant/access-reviews/{id}",
        access: Access::TENANT_ADMIN,
        methods: || get(access_reviews::show),
    },
    Route {
        path: "/tenant/access-reviews/{id}/report.csv",
        access: Access::TENANT_ADMIN,
        methods: || get(access_reviews::report),
    },
    Route {
        path: "/tenant/access-reviews/{id}/items/{item}",
        access: Access::TENANT_ADMIN,
        methods: || post(access_reviews::decide_form),
    },
    Route {
        path: "/api/v1/access-reviews",
        access: Access::TENANT_ADMIN,
        methods: || get(access_reviews::api_list).post(access_reviews::api_start),
    },
    Route {
        path: "/api/v1/access-reviews/{id}",
        access: Access::TENANT_ADMIN,
        methods: || get(access_reviews::api_get),
    },
    Route {
        path: "/api/v1/access-reviews/{id}/items/{item}",
        access: Access::TENANT_ADMIN,
        methods: || post(access_reviews::api_decide),
    },
    // Documents: reads need a session (the domain shows each caller what they may see);
    // writes need the permission, and the domain checks the object too.
    Route {
        path: "/documents",
        access: Access::SignedIn,
        methods: || get(documents::list_page),
    },
    Route {
        path: "/documents.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(documents::export_csv),
    },
    Route {
        path: "/documents/new",
        access: Access::Needs(Permission::Contribute),
        methods: || get(documents::new_page).post(documents::create_form),
    },
    Route {
        path: "/documents/{id}",
        access: Access::SignedIn,
        methods: || get(documents::show),
    },
    Route {
        path: "/documents/{id}/versions/{n}",
        access: Access::SignedIn,
        methods: || get(documents::show_version),
    },
    Route {
        path: "/documents/{id}/edit",
        access: Access::Needs(Permission::Contribute),
        methods: || get(documents::edit_page).post(documents::edit),
    },
    Route {
        path: "/documents/{id}/delete",
        access: Access::Needs(Permission::Contribute),
        methods: || get(documents::delete_page).post(documents::delete_form),
    },
    Route {
        path: "/documents/{id}/shares",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(documents::share_form),
    },
    Route {
        path: "/documents/{id}/shares/{share}/revoke",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(documents::revoke_share_form),
    },
    Route {
        path: "/api/v1/documents",
        access: Access::SignedIn,
        methods: || get(documents::api_list).post(documents::api_create),
    },
    Route {
        path: "/api/v1/documents.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(documents::export_csv),
    },
    Route {
        path: "/api/v1/documents/{id}",
        access: Access::SignedIn,
        methods: || {
            get(documents::api_get)
                .put(documents::api_put)
                .delete(documents::api_delete)
        },
    },
    Route {
        path: "/api/v1/documents/{id}/versions",
        access: Access::SignedIn,
        methods: || get(documents::api_versions),
    },
    Route {
        path: "/api/v1/documents/{id}/versions/{n}",
        access: Access::SignedIn,
        methods: || get(documents::api_version),
    },
    Route {
        path: "/api/v1/documents/{id}/shares",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(documents::api_shares).post(documents::api_share),
    },
    Route {
        path: "/api/v1/documents/{id}/shares/{share}",
        access: Access::Needs(Permission::ManageContent),
        methods: || delete(documents::api_revoke_share),
    },
    // The evidence library (issue 6): reads need a session (the domain shows each caller
    // what they may see, downloads included); writes need the permission, and the domain
    // checks the object too. Upload routes are listed in `UPLOADS`.
    Route {
        path: "/evidence",
        access: Access::SignedIn,
        methods: || get(evidence::list_page),
    },
    Route {
        path: "/evidence.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(evidence::export_csv),
    },
    Route {
        path: "/evidence/new",
        access: Access::Needs(Permission::Contribute),
        methods: || get(evidence::new_page).post(evidence::create_form),
    },
    Route {
        path: "/evidence/{id}",
        access: Access::SignedIn,
        methods: || get(evidence::show),
    },
    Route {
        path: "/evidence/{id}/edit",
        access: Access::Needs(Permission::Contribute),
        methods: || get(evidence::edit_page).post(evidence::edit),
    },
    Route {
        path: "/evidence/{id}/versions",
        access: Access::Needs(Permission::Contribute),
        methods: || post(evidence::add_version_form),
    },
    Route {
        path: "/evidence/{id}/versions/{n}/download",
        access: Access::SignedIn,
        methods: || get(evidence::download_page),
    },
    Route {
        path: "/evidence/{id}/delete",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(evidence::delete_page).post(evidence::delete_form),
    },
    Route {
        path: "/evidence/{id}/shares",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(evidence::share_form),
    },
    Route {
        path: "/evidence/{id}/shares/{share}/revoke",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(evidence::revoke_share_form),
    },
    Route {
        path: "/api/v1/evidence",
        access: Access::SignedIn,
        methods: || get(evidence::api_list).post(evidence::api_create),
    },
    Route {
        path: "/api/v1/evidence.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(evidence::export_csv),
    },
    Route {
        path: "/api/v1/evidence/{id}",
        access: Access::SignedIn,
        methods: || {
            get(evidence::api_get)
                .put(evidence::api_put)
                .delete(evidence::api_delete)
        },
    },
    Route {
        path: "/api/v1/evidence/{id}/versions",
        access: Access::SignedIn,
        methods: || get(evidence::api_versions).post(evidence::api_add_version),
    },
    Route {
        path: "/api/v1/evidence/{id}/versions/{n}/download",
        access: Access::SignedIn,
        methods: || get(evidence::api_download),
    },
    Route {
        path: "/api/v1/evidence/{id}/shares",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(evidence::api_shares).post(evidence::api_share),
    },
    Route {
        path: "/api/v1/evidence/{id}/shares/{share}",
        access: Access::Needs(Permission::ManageContent),
        methods: || delete(evidence::api_revoke_share),
    },
    // Framework catalogues (issue 7): every member who sees the whole tenant reads them;
    // compliance managers and above import and delete; exports need the export permission.
    Route {
        path: "/frameworks",
        access: Access::SignedIn,
        methods: || get(frameworks::list_page),
    },
    Route {
        path: "/frameworks/new",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(frameworks::new_page).post(frameworks::create_form),
    },
    Route {
        path: "/frameworks/{id}",
        access: Access::SignedIn,
        methods: || get(frameworks::show),
    },
    Route {
        path: "/frameworks/{id}/versions",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(frameworks::version_form),
    },
    Route {
        path: "/frameworks/{id}/oscal.json",
        access: Access::Needs(Permission::Export),
        methods: || get(frameworks::export),
    },
    Route {
        path: "/frameworks/{id}/requirements/{req}",
        access: Access::SignedIn,
        methods: || get(frameworks::requirement_page),
    },
    Route {
        path: "/frameworks/{id}/delete",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(frameworks::delete_page).post(frameworks::delete_form),
    },
    Route {
        path: "/api/v1/frameworks",
        access: Access::SignedIn,
        methods: || get(frameworks::api_list).post(frameworks::api_create),
    },
    Route {
        path: "/api/v1/frameworks/{id}",
        access: Access::SignedIn,
        methods: || get(frameworks::api_get).delete(frameworks::api_delete),
    },
    Route {
        path: "/api/v1/frameworks/{id}/versions",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(frameworks::api_version),
    },
    Route {
        path: "/api/v1/frameworks/{id}/oscal.json",
        access: Access::Needs(Permission::Export),
        methods: || get(frameworks::export),
    },
    Route {
        path: "/api/v1/frameworks/{id}/requirements/{req}",
        access: Access::SignedIn,
        methods: || get(frameworks::api_requirement),
    },
    Route {
        path: "/frameworks/{id}/soa",
        access: Access::SignedIn,
        methods: || get(controls::soa_show),
    },
    Route {
        path: "/frameworks/{id}/soa.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(controls::soa_csv),
    },
    Route {
        path: "/api/v1/frameworks/{id}/soa.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(controls::soa_csv),
    },
    Route {
        path: "/frameworks/{id}/soa/{req}",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(controls::soa_form),
    },
    Route {
        path: "/api/v1/frameworks/{id}/soa",
        access: Access::SignedIn,
        methods: || get(controls::api_soa),
    },
    Route {
        path: "/api/v1/frameworks/{id}/soa/{req}",
        access: Access::Needs(Permission::ManageContent),
        methods: || put(controls::api_set_soa),
    },
    // Controls (issue 7): every member who sees the whole tenant reads them; compliance
    // managers and above create and delete them; a control's owner (a contributor) edits it
    // and its mappings, which the domain decides per control.
    Route {
        path: "/controls",
        access: Access::SignedIn,
        methods: || get(controls::list_page),
    },
    Route {
        path: "/controls.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(controls::export_csv),
    },
    Route {
        path: "/controls/new",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(controls::new_page).post(controls::create_form),
    },
    Route {
        path: "/controls/{id}",
        access: Access::SignedIn,
        methods: || get(controls::show),
    },
    Route {
        path: "/controls/{id}/edit",
        access: Access::Needs(Permission::Contribute),
        methods: || get(controls::edit_page).post(controls::edit),
    },
    Route {
        path: "/controls/{id}/delete",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(controls::delete_page).post(controls::delete_form),
    },
    Route {
        path: "/controls/{id}/mappings",
        access: Access::Needs(Permission::Contribute),
        methods: || post(controls::map_form),
    },
    Route {
        path: "/controls/{id}/mappings/{req}/delete",
        access: Access::Needs(Permission::Contribute),
        methods: || post(controls::unmap_form),
    },
    Route {
        path: "/api/v1/controls",
        access: Access::SignedIn,
        methods: || get(controls::api_list).post(controls::api_create),
    },
    Route {
        path: "/api/v1/controls.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(controls::export_csv),
    },
    Route {
        path: "/api/v1/controls/{id}",
        access: Access::SignedIn,
        methods: || {
            get(controls::api_get)
                .put(controls::api_put)
                .delete(controls::api_delete)
        },
    },
    Route {
        path: "/api/v1/controls/{id}/mappings",
        access: Access::Needs(Permission::Contribute),
        methods: || post(controls::api_map),
    },
    Route {
        path: "/api/v1/controls/{id}/mappings/{req}",
        access: Access::Needs(Permission::Contribute),
        methods: || delete(controls::api_unmap),
    },
    // Control activities and their runs (issue 7): everyone who sees the whole tenant reads
    // them; compliance managers and a control's owner define them; a run's performer performs
    // it and its reviewer (never its performer) reviews it, which the domain decides per run.
    Route {
        path: "/controls/{id}/activities/new",
        access: Access::Needs(Permission::Contribute),
        methods: || get(activities::new_page).post(activities::create_form),
    },
    Route {
        path: "/activities/{id}",
        access: Access::SignedIn,
        methods: || get(activities::show),
    },
    Route {
        path: "/activities/{id}/edit",
        access: Access::Needs(Permission::Contribute),
        methods: || get(activities::edit_page).post(activities::edit),
    },
    Route {
        path: "/runs",
        access: Access::SignedIn,
        methods: || get(runs::list_page),
    },
    Route {
        path: "/runs.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(runs::export_csv),
    },
    Route {
        path: "/runs/{id}",
        access: Access::SignedIn,
        methods: || get(runs::show),
    },
    Route {
        path: "/runs/{id}/perform",
        access: Access::Needs(Permission::Contribute),
        methods: || post(runs::perform_form),
    },
    Route {
        path: "/runs/{id}/review",
        access: Access::Needs(Permission::Contribute),
        methods: || post(runs::review_form),
    },
    Route {
        path: "/api/v1/controls/{id}/activities",
        access: Access::SignedIn,
        methods: || get(activities::api_of_control).post(activities::api_create),
    },
    Route {
        path: "/api/v1/activities/{id}",
        access: Access::SignedIn,
        methods: || get(activities::api_get).put(activities::api_put),
    },
    Route {
        path: "/api/v1/runs",
        access: Access::SignedIn,
        methods: || get(runs::api_list),
    },
    Route {
        path: "/api/v1/runs.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(runs::export_csv),
    },
    Route {
        path: "/api/v1/runs/{id}",
        access: Access::SignedIn,
        methods: || get(runs::api_get),
    },
    Route {
        path: "/api/v1/runs/{id}/perform",
        access: Access::Needs(Permission::Contribute),
        methods: || post(runs::api_perform),
    },
    Route {
        path: "/api/v1/runs/{id}/review",
        access: Access::Needs(Permission::Contribute),
        methods: || post(runs::api_review),
    },
    Route {
        path: "/api/v1/tasks",
        access: Access::SignedIn,
        methods: || get(runs::api_tasks),
    },
    // The dashboard (issue 7): everyone who sees the whole tenant.
    Route {
        path: "/dashboard",
        access: Access::SignedIn,
        methods: || get(dashboard::page),
    },
    Route {
        path: "/api/v1/dashboard",
        access: Access::SignedIn,
        methods: || get(dashboard::api),
    },
    // The risk register (issue 7): everyone who sees the whole tenant reads it; contributors
    // add risks and edit their own; compliance managers edit and delete any, set the scales
    // and decide acceptances — never one they asked for, which the domain decides.
    Route {
        path: "/risks",
        access: Access::SignedIn,
        methods: || get(risks::list_page),
    },
    Route {
        path: "/risks.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(risks::export_csv),
    },
    Route {
        path: "/risks/new",
        access: Access::Needs(Permission::Contribute),
        methods: || get(risks::new_page).post(risks::create_form),
    },
    Route {
        path: "/risks/{id}",
        access: Access::SignedIn,
        methods: || get(risks::show),
    },
    Route {
        path: "/risks/{id}/edit",
        access: Access::Needs(Permission::Contribute),
        methods: || get(risks::edit_page).post(risks::edit),
    },
    Route {
        path: "/risks/{id}/acceptance",
        access: Access::Needs(Permission::Contribute),
        methods: || post(risks::acceptance_form),
    },
    Route {
        path: "/risks/{id}/decision",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(risks::decision_form),
    },
    Route {
        path: "/risks/{id}/reassess",
        access: Access::Needs(Permission::Contribute),
        methods: || post(risks::reassess_form),
    },
    Route {
        path: "/risks/{id}/delete",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(risks::delete_page).post(risks::delete_form),
    },
    Route {
        path: "/risk-scales",
        access: Access::Needs(Permission::ManageContent),
        methods: || get(risks::scales_show).post(risks::scales_form),
    },
    Route {
        path: "/api/v1/risks",
        access: Access::SignedIn,
        methods: || get(risks::api_list).post(risks::api_create),
    },
    Route {
        path: "/api/v1/risks.csv",
        access: Access::Needs(Permission::Export),
        methods: || get(risks::export_csv),
    },
    Route {
        path: "/api/v1/risks/{id}",
        access: Access::SignedIn,
        methods: || {
            get(risks::api_get)
                .put(risks::api_put)
                .delete(risks::api_delete)
        },
    },
    Route {
        path: "/api/v1/risks/{id}/acceptance",
        access: Access::Needs(Permission::Contribute),
        methods: || post(risks::api_acceptance),
    },
    Route {
        path: "/api/v1/risks/{id}/decision",
        access: Access::Needs(Permission::ManageContent),
        methods: || post(risks::api_decision),
    },
    Route {
        path: "/api/v1/risks/{id}/reassess",
        access: Access::Needs(Permission::Contribute),
        methods: || post(risks::api_reassess),
    },
    Route {
        path: "/api/v1/risk-scales",
        access: Access::SignedIn,
        methods: || get(risks::api_scales).put(risks::api_set_scales),
    },
];

/// Routes whose requests carry a file (`multipart/form-data`, the file last): their body limit
/// is [`crate::WebSettings::upload_body_bytes`] and their time limit
/// `transfer_timeout_secs`. Every other route has `max_body_bytes` and `request_timeout_secs`.
pub const UPLOADS: &[&str] = &[
    "/evidence/new",
    "/evidence/{id}/versions",
    "/api/v1/evidence",
    "/api/v1/evidence/{id}/versions",
    "/frameworks/new",
    "/frameworks/{id}/versions",
    "/api/v1/frameworks",
    "/api/v1/frameworks/{id}/versions",
];

/// Builds the application. `extra` lets the test harness add routes (e.g. a panicking one)
/// that then pass through exactly the same middleware; the binary passes `None`.
pub fn build_router(state: AppState, extra: Option<Router<AppState>>) -> Router {
    let settings = &state.settings;
    let form = (settings.max_body_bytes, settings.request_timeout_secs);
    let mut routes = Router::new();
    for r in ROUTES {
        let (limit, secs) = if UPLOADS.contains(&r.path) {
            (settings.upload_body_bytes, settings.transfer_timeout_secs)
        } else {
            form
        };
        routes = routes.route(
            r.path,
            (r.methods)()
                .route_layer(from_fn_with_state(
                    (state.clone(), r.access),
                    policy::enforce,
                ))
                .route_layer(DefaultBodyLimit::max(limit))
                .route_layer(RequestBodyLimitLayer::new(limit))
                .route_layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(secs),
                )),
        );
    }
    if let Some(extra) = extra {
        // Test routes get the same limits as every form route.
        routes = routes.merge(
            extra
                .route_layer(DefaultBodyLimit::max(form.0))
                .route_layer(RequestBodyLimitLayer::new(form.0))
                .route_layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(form.1),
                )),
        );
    }
    // Innermost, per route: keeps browser form fields for an inline step-up (SEC-29).
    routes = routes.layer(from_fn_with_state(state.clone(), step_up::replay));
    // The outer time limit bounds everything before routing too (the CSRF check reads form
    // bodies); routes have their own, shorter ones above.
    let hard = settings
        .request_timeout_secs
        .max(settings.transfer_timeout_secs);
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
                    Duration::from_secs(hard),
                )),
        )
        .with_state(state)
}
