//! Invitations, password reset and the members page.

use attest_crypto::Zeroizing;
use attest_domain::identity::IdentityError;
use attest_domain::onboarding::MembershipLimits;
use attest_types::Role;
use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response, field_error_response};
use crate::middleware::RequestContext;
use crate::middleware::csrf::CsrfToken;
use crate::routes::account::chrome;
use crate::routes::see_other;
use crate::views::{
    self, Chrome, ConfirmPage, ForgotPage, MemberLine, MembersPage, MessagePage, SetPasswordPage,
};

/// `GET /forgot`
///
/// # Errors
/// If the page cannot be rendered.
pub async fn forgot_page(Extension(csrf): Extension<CsrfToken>) -> Result<Response, AppError> {
    views::html(
        StatusCode::OK,
        &ForgotPage {
            title: "Reset your password",
            chrome: Chrome::default(),
            csrf: csrf.0,
        },
    )
}

/// The reset request.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /forgot`: 202 whatever the address (SEC-08); 429 when the client address asks too
/// often (SEC-07).
///
/// # Errors
/// If the page cannot be rendered.
pub async fn forgot(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let format = Format::negotiate("/forgot", &headers);
    if let Err(retry) = state
        .identity
        .request_reset(&form.email, &state.settings.public_url, origin)
        .await
    {
        let mut r = error_code_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            ctx.request_id,
            format,
        );
        if let Ok(v) = HeaderValue::from_str(&retry.whole_seconds().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    if format == Format::Json {
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "status": "accepted" })),
        )
            .into_response());
    }
    views::html(
        StatusCode::ACCEPTED,
        &MessagePage {
            title: "Check your inbox",
            chrome: Chrome::default(),
            text: "If that address belongs to an account, a link to reset the password is on its way. It works once, within 15 minutes.".to_owned(),
            link: Some(("/login".to_owned(), "Back to sign in".to_owned())),
        },
    )
}

fn reset_form(
    csrf: &CsrfToken,
    token: &str,
    ask_code: bool,
    errors: Vec<(String, String)>,
) -> SetPasswordPage {
    SetPasswordPage {
        title: "Choose a new password",
        chrome: Chrome::default(),
        csrf: csrf.0.clone(),
        intro: Some("Choosing a new password signs you out everywhere.".to_owned()),
        action: format!("/reset/{token}"),
        ask_name: false,
        name: String::new(),
        password_label: "New password",
        autocomplete: "new-password",
        password_help: "At least 15 characters; any characters, spaces welcome.",
        button: "Set password",
        ask_code,
        errors,
    }
}

fn bad_link(ctx: &RequestContext, headers: &HeaderMap, status: StatusCode) -> Response {
    error_code_response(
        status,
        "invalid_link",
        ctx.request_id,
        Format::negotiate("/reset", headers),
    )
}

/// `GET /reset/{token}`
///
/// # Errors
/// 400 for a used, expired or unknown link (SEC-09).
pub async fn reset_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let Ok(ask_code) = state.identity.check_reset(&token).await else {
        return Ok(bad_link(&ctx, &headers, StatusCode::BAD_REQUEST));
    };
    views::html(
        StatusCode::OK,
        &reset_form(&csrf, &token, ask_code, Vec::new()),
    )
}

/// A new password.
#[derive(Deserialize)]
pub struct PasswordOnly {
    password: String,
    #[serde(default)]
    name: String,
    /// A second-factor code, when the account has one (SEC-09).
    #[serde(default)]
    code: Option<String>,
}

impl std::fmt::Debug for PasswordOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordOnly([redacted])")
    }
}

/// `POST /reset/{token}`
///
/// # Errors
/// 422 for a refused password (the link stays usable), 400 for a bad link.
pub async fn reset(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<PasswordOnly>,
) -> Result<Response, AppError> {
    let (_, origin) = client_of(Some(&ctx), None);
    let format = Format::negotiate("/reset", &headers);
    match state
        .identity
        .complete_reset(
            &token,
            Zeroizing::new(form.password),
            form.code.as_deref(),
            origin,
        )
        .await
    {
        Ok(()) => {
            if format == Format::Json {
                return Ok(
                    axum::Json(serde_json::json!({ "status": "password_set" })).into_response()
                );
            }
            Ok(see_other("/login?reason=password_reset"))
        }
        Err(IdentityError::Invalid {
            code,
            message,
            field,
        }) => {
            if format == Format::Json {
                return Ok(field_error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    field,
                    &message,
                    ctx.request_id,
                ));
            }
            let ask_code = state.identity.check_reset(&token).await.unwrap_or(true);
            views::html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &reset_form(&csrf, &token, ask_code, vec![(field.to_owned(), message)]),
            )
        }
        Err(e @ IdentityError::TotpLocked(_)) => {
            crate::routes::identity_error_json(&e, ctx.request_id)
                .ok_or_else(|| AppError::internal(&e))
        }
        Err(IdentityError::LinkGone | IdentityError::LinkUnknown) => {
            Ok(bad_link(&ctx, &headers, StatusCode::BAD_REQUEST))
        }
        Err(e) => Err(AppError::internal(&e)),
    }
}

fn invitation_form(
    csrf: &CsrfToken,
    token: &str,
    tenant: &str,
    existing: bool,
    name: &str,
    errors: Vec<(String, String)>,
) -> SetPasswordPage {
    SetPasswordPage {
        title: "Accept your invitation",
        chrome: Chrome::default(),
        csrf: csrf.0.clone(),
        intro: Some(if existing {
            format!(
                "You have been invited to join {tenant}. Enter the password of your existing account to accept."
            )
        } else {
            format!("You have been invited to join {tenant}. Choose your name and a password.")
        }),
        action: format!("/invitations/{token}"),
        ask_name: !existing,
        name: name.chars().take(100).collect(),
        password_label: if existing {
            "Your password"
        } else {
            "Password"
        },
        autocomplete: if existing {
            "current-password"
        } else {
            "new-password"
        },
        password_help: if existing {
            "The password you already use for Attest."
        } else {
            "At least 15 characters; any characters, spaces welcome."
        },
        button: "Accept invitation",
        ask_code: false,
        errors,
    }
}

/// `GET /invitations/{token}`
///
/// # Errors
/// 410 for a used or expired invitation (SEC-10), 404 for an unknown one.
pub async fn invitation_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    match state.identity.check_invitation(&token).await {
        Ok(attest_domain::onboarding::InvitationView {
            sso: Some((tenant, provider)),
            ..
        }) => {
            // The organisation enforces SSO: the invitation is accepted by signing in
            // through its provider (SEC-19).
            let mut r = crate::routes::sso::sso_required(
                Format::Html,
                &ctx,
                &csrf,
                tenant,
                &provider,
                "/",
            )?;
            *r.status_mut() = StatusCode::OK;
            Ok(r)
        }
        Ok(view) => views::html(
            StatusCode::OK,
            &invitation_form(
                &csrf,
                &token,
                &view.tenant,
                view.existing_user,
                "",
                Vec::new(),
            ),
        ),
        Err(IdentityError::LinkGone) => Ok(bad_link(&ctx, &headers, StatusCode::GONE)),
        Err(IdentityError::LinkUnknown) => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(&e)),
    }
}

/// `POST /invitations/{token}`
///
/// # Errors
/// 410 once used or expired; 422 for a refused password; 403 for a wrong existing password.
pub async fn accept_invitation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<PasswordOnly>,
) -> Result<Response, AppError> {
    let (client, origin) = client_of(Some(&ctx), headers.get(header::USER_AGENT));
    let format = Format::negotiate("/invitations", &headers);
    match state
        .identity
        .accept_invitation(
            &token,
            &form.name,
            Zeroizing::new(form.password),
            &client,
            origin,
        )
        .await
    {
        Ok((session_token, _)) => Ok(crate::routes::with_session_cookie(
            see_other("/"),
            &session_token.0,
        )),
        Err(IdentityError::Invalid {
            code,
            message,
            field,
        }) => {
            if format == Format::Json {
                return Ok(field_error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    field,
                    &message,
                    ctx.request_id,
                ));
            }
            let view = state
                .identity
                .check_invitation(&token)
                .await
                .map_err(|e| AppError::internal(&e))?;
            views::html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &invitation_form(
                    &csrf,
                    &token,
                    &view.tenant,
                    view.existing_user,
                    &form.name,
                    vec![(field.to_owned(), message)],
                ),
            )
        }
        Err(IdentityError::SsoRequired { tenant, provider }) => {
            crate::routes::sso::sso_required(format, &ctx, &csrf, tenant, &provider, "/")
        }
        Err(IdentityError::WrongPassword) => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "wrong_password",
            ctx.request_id,
            format,
        )),
        Err(IdentityError::LinkGone | IdentityError::Taken(_)) => {
            Ok(bad_link(&ctx, &headers, StatusCode::GONE))
        }
        Err(IdentityError::LinkUnknown) => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(&e)),
    }
}

async fn members_page(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let (tenant, members) = state
        .identity
        .members(session)
        .await
        .map_err(|_| AppError::NotFound)?;
    let role = session.tenant.map(|t| t.1);
    let can_manage = role.is_some_and(Role::manages_members);
    let members = members
        .into_iter()
        .map(|m| {
            let parsed: Option<Role> = m.role.parse().ok();
            let mut limits = Vec::new();
            if let Some(until) = m.access_until {
                limits.push(format!("until {}", crate::routes::account::when(until)));
            }
            if m.shared_only && parsed != Some(Role::External) {
                limits.push("shared items only".to_owned());
            }
            MemberLine {
                id: m.id.to_string(),
                name: m.display_name,
                email: m.email,
                role: parsed.map_or("Unknown", Role::label).to_owned(),
                limits: limits.join(", "),
                manageable: can_manage
                    && m.id != session.user.as_uuid()
                    && parsed
                        .zip(role)
                        .is_some_and(|(target, mine)| target >= mine),
                role_value: m.role,
                disabled: m.status != "active",
            }
        })
        .collect();
    let mut r = views::html(
        status,
        &MembersPage {
            title: "Members",
            chrome,
            csrf: session.csrf_token.clone(),
            tenant,
            members,
            can_invite: can_manage,
            role_options: role
                .map(|r| views::role_options(r, true))
                .unwrap_or_default(),
            message,
            error,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /members`
///
/// # Errors
/// 404 without a tenant.
pub async fn members(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    members_page(&state, &session, StatusCode::OK, None, None, Vec::new()).await
}

/// The invitation form.
#[derive(Debug, Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
    /// Optional end of access, `YYYY-MM-DD` (the membership ends at its start, UTC).
    #[serde(default)]
    access_until: Option<String>,
    /// `on` limits an auditor to what is shared with them.
    #[serde(default)]
    shared_only: Option<String>,
}

/// Reads the invitation's limits; `Err` names the bad field.
fn limits_of(form: &InviteForm) -> Result<MembershipLimits, ()> {
    let access_until = match form.access_until.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(crate::routes::parse_date(d).ok_or(())?),
    };
    Ok(MembershipLimits {
        access_until,
        shared_only: matches!(form.shared_only.as_deref(), Some("on" | "true")),
    })
}

/// `POST /members/invite`
///
/// # Errors
/// 403 for members who may not invite or grant that role; 422 for a bad address.
pub async fn invite(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/members", &headers);
    let Ok(role) = form.role.parse::<Role>() else {
        return json_or_page_error(
            &state,
            &session,
            &ctx,
            format,
            "role",
            "invalid",
            "Choose one of the roles offered.",
        )
        .await;
    };
    let Ok(limits) = limits_of(&form) else {
        return json_or_page_error(
            &state,
            &session,
            &ctx,
            format,
            "access_until",
            "invalid_date",
            "Enter the end of access as a date (YYYY-MM-DD).",
        )
        .await;
    };
    let (_, origin) = client_of(Some(&ctx), None);
    match state
        .identity
        .invite(
            &session,
            &form.email,
            role,
            limits,
            &state.settings.public_url,
            origin,
        )
        .await
    {
        Ok(()) => {
            if format == Format::Json {
                return Ok((
                    StatusCode::ACCEPTED,
                    axum::Json(serde_json::json!({ "status": "invited" })),
                )
                    .into_response());
            }
            members_page(
                &state,
                &session,
                StatusCode::OK,
                Some(format!("Invitation sent to {}.", form.email.trim())),
                None,
                Vec::new(),
            )
            .await
        }
        Err(IdentityError::Forbidden | IdentityError::NotFound) => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        Err(IdentityError::Invalid {
            field,
            code,
            message,
        }) => json_or_page_error(&state, &session, &ctx, format, field, code, &message).await,
        Err(IdentityError::Taken(_)) => {
            json_or_page_error(
                &state,
                &session,
                &ctx,
                format,
                "email",
                "already_member",
                "This address is already a member.",
            )
            .await
        }
        Err(e) => Err(AppError::internal(&e)),
    }
}

async fn json_or_page_error(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
    ctx: &RequestContext,
    format: Format,
    field: &str,
    code: &str,
    message: &str,
) -> Result<Response, AppError> {
    if format == Format::Json {
        return Ok(field_error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            field,
            message,
            ctx.request_id,
        ));
    }
    members_page(
        state,
        session,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        None,
        vec![(field.to_owned(), message.to_owned())],
    )
    .await
}

fn member_error(e: &IdentityError) -> Option<(StatusCode, &'static str, &'static str)> {
    Some(match e {
        IdentityError::Forbidden => (
            StatusCode::FORBIDDEN,
            "forbidden",
            "You may not change this member.",
        ),
        IdentityError::NotFound => (
            StatusCode::NOT_FOUND,
            "not_found",
            "There is no such member.",
        ),
        IdentityError::LastOwner => (
            StatusCode::CONFLICT,
            "last_owner",
            "An organisation must keep at least one owner: make someone else owner first.",
        ),
        _ => return None,
    })
}

async fn member_result(
    state: &AppState,
    session: &attest_domain::authn::sessions::VerifiedSession,
    ctx: &RequestContext,
    headers: &HeaderMap,
    result: Result<String, IdentityError>,
) -> Result<Response, AppError> {
    let format = Format::negotiate("/members", headers);
    match result {
        Ok(message) => {
            if format == Format::Json {
                return Ok(axum::Json(serde_json::json!({ "status": "ok" })).into_response());
            }
            members_page(
                state,
                session,
                StatusCode::OK,
                Some(message),
                None,
                Vec::new(),
            )
            .await
        }
        Err(IdentityError::ReauthRequired) => Ok(crate::routes::mfa::step_up_response(
            headers,
            format,
            ctx.request_id,
            "/members",
        )),
        Err(e) => {
            let Some((status, code, message)) = member_error(&e) else {
                return Err(AppError::internal(&e));
            };
            if format == Format::Json {
                return Ok(error_code_response(status, code, ctx.request_id, format));
            }
            members_page(
                state,
                session,
                status,
                None,
                Some(message.to_owned()),
                Vec::new(),
            )
            .await
        }
    }
}

fn member_id(id: &str) -> Result<attest_types::UserId, AppError> {
    id.parse().map_err(|_| AppError::NotFound)
}

/// A role choice.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /members/{id}/role`
///
/// # Errors
/// 403 above one's rights, 404 unknown member, 409 for the last owner.
pub async fn change_role(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let target = member_id(&id)?;
    let role: Role = form.role.parse().map_err(|_| AppError::NotFound)?;
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .change_role(&session, target, role, origin)
        .await
        .map(|()| "The role was changed.".to_owned());
    member_result(&state, &session, &ctx, &headers, result).await
}

/// `POST /members/{id}/sessions/end`
///
/// # Errors
/// As [`change_role`].
pub async fn end_member_sessions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let target = member_id(&id)?;
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .revoke_member_sessions(&session, target, origin)
        .await
        .map(|n| format!("{n} session(s) were ended."));
    member_result(&state, &session, &ctx, &headers, result).await
}

/// `GET /members/{id}/remove`: the confirmation page.
///
/// # Errors
/// 404 for an unknown member.
pub async fn remove_member_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let target = member_id(&id)?;
    let (_, members) = state
        .identity
        .members(&session)
        .await
        .map_err(|_| AppError::NotFound)?;
    let found = members
        .into_iter()
        .find(|m| m.id == target.as_uuid())
        .ok_or(AppError::NotFound)?;
    let (name, email) = (found.display_name, found.email);
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Remove member",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "Remove {name} ({email}) from this organisation? They are signed out at once and lose access to everything here. Their records and the audit trail stay."
            ),
            action: format!("/members/{target}/remove"),
            button: "Remove member",
            cancel: "/members".to_owned(),
        },
    )
}

/// `POST /members/{id}/remove`
///
/// # Errors
/// As [`change_role`].
pub async fn remove_member(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let target = member_id(&id)?;
    let (_, origin) = client_of(Some(&ctx), None);
    let result = state
        .identity
        .remove_member(&session, target, origin)
        .await
        .map(|()| "The member was removed.".to_owned());
    member_result(&state, &session, &ctx, &headers, result).await
}

/// The tenant to switch to.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    tenant: String,
}

/// `POST /switch-tenant`
///
/// # Errors
/// 404 for a tenant the user does not belong to.
pub async fn switch_tenant(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Form(form): Form<SwitchForm>,
) -> Result<Response, AppError> {
    let tenant: attest_types::TenantId = form.tenant.parse().map_err(|_| AppError::NotFound)?;
    match state.identity.switch_tenant(&session, tenant).await {
        Ok(()) => Ok(see_other("/")),
        Err(IdentityError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(AppError::internal(&e)),
    }
}
