//! Server-rendered pages (askama: compiled templates, HTML auto-escaping on, SEC-45). Every
//! page has a [`Chrome`]: the frame with the account menu and the sign-out form (SEC-26).

use askama::Template;
use attest_types::RequestId;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The signed-in part of the frame.
#[derive(Debug, Clone)]
pub struct Nav {
    /// Whose session.
    pub email: String,
    /// The organisation worked in.
    pub tenant: Option<String>,
    /// CSRF token for the sign-out form.
    pub csrf: String,
    /// The role may see the member list (not externals, SEC-36).
    pub members_link: bool,
}

/// The frame around every page.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// Present when signed in.
    pub nav: Option<Nav>,
}

/// Renders a template as an HTML response with a status.
///
/// # Errors
/// The roles `granter` may give, as `(value, label)` for a `<select>` (SEC-35: never above
/// their own; `with_owner` false leaves the owner role out).
#[must_use]
pub fn role_options(
    granter: attest_types::Role,
    with_owner: bool,
) -> Vec<(&'static str, &'static str)> {
    attest_types::Role::ALL
        .into_iter()
        .filter(|r| r.grantable_by(granter) && (with_owner || *r != attest_types::Role::Owner))
        .map(|r| (r.as_str(), r.label()))
        .collect()
}

/// If the template fails to render.
pub fn html(status: StatusCode, template: &impl Template) -> Result<Response, AppError> {
    let body = template.render().map_err(|e| AppError::internal(&e))?;
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // A page shown with an error status (a form with its errors) is the answer itself; the
    // framing middleware must not replace it with the generic error page.
    r.extensions_mut().insert(crate::error::Rendered);
    Ok(r)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    chrome: Chrome,
    status: u16,
    message: &'a str,
    reference: String,
}

/// The HTML body of a generic error page.
#[must_use]
pub fn error_page(status: StatusCode, message: &str, request_id: RequestId) -> String {
    ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        chrome: Chrome::default(),
        status: status.as_u16(),
        message,
        reference: request_id.to_string(),
    }
    .render()
    .unwrap_or_else(|_| "An error occurred.".to_owned())
}

/// The start page.
#[derive(Debug, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// Database and schema are fine.
    pub ready: bool,
    /// CSRF token for the switch forms.
    pub csrf: String,
    /// The user's organisations.
    pub tenants: Vec<TenantLine>,
}

/// One of the user's organisations on the start page.
#[derive(Debug, Clone)]
pub struct TenantLine {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role as shown.
    pub role: String,
    /// The session works in it.
    pub current: bool,
}

/// The sign-in form.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Where to go after signing in (validated).
    pub next: String,
    /// The email typed, kept on error.
    pub email: String,
    /// Offer "Sign in with a passkey" (the installation has a domain name).
    pub passkeys: bool,
    /// Why the user landed here.
    pub notice: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
}

/// The first-administrator form.
#[derive(Debug, Template)]
#[template(path = "bootstrap.html")]
pub struct BootstrapPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// The link token (already in the address bar).
    pub token: String,
    /// Kept input.
    pub tenant: String,
    /// Kept input.
    pub name: String,
    /// Kept input.
    pub email: String,
    /// Field errors: (field id, message).
    pub errors: Vec<(String, String)>,
}

/// One session row on the account page.
#[derive(Debug, Clone)]
pub struct SessionLine {
    /// Id.
    pub id: String,
    /// Start, ISO.
    pub started: String,
    /// Last activity, ISO.
    pub last_seen: String,
    /// Address.
    pub ip: String,
    /// Browser.
    pub agent: String,
    /// This browser.
    pub current: bool,
}

/// The account page.
#[derive(Debug, Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// The user's email.
    pub email: String,
    /// Live sessions.
    pub sessions: Vec<SessionLine>,
    /// A confirmation.
    pub message: Option<String>,
    /// Field errors of the password form.
    pub errors: Vec<(String, String)>,
}

/// A short page with a message and an optional link.
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// The message.
    pub text: String,
    /// (href, label)
    pub link: Option<(String, String)>,
}

/// The "forgot password" form.
#[derive(Debug, Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
}

/// A form that sets a password (reset, invitation).
#[derive(Debug, Template)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Explanation.
    pub intro: Option<String>,
    /// Form target.
    pub action: String,
    /// Ask for a name (new accounts).
    pub ask_name: bool,
    /// Kept name.
    pub name: String,
    /// Label of the password field.
    pub password_label: &'static str,
    /// `new-password` or `current-password`.
    pub autocomplete: &'static str,
    /// Help under the password field.
    pub password_help: &'static str,
    /// Submit label.
    pub button: &'static str,
    /// Also ask for a second-factor code (SEC-09).
    pub ask_code: bool,
    /// Field errors.
    pub errors: Vec<(String, String)>,
}

/// The members page.
#[derive(Debug, Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Tenant name.
    pub tenant: String,
    /// The members.
    pub members: Vec<MemberLine>,
    /// May invite.
    pub can_invite: bool,
    /// The roles the viewer may grant, `(value, label)`.
    pub role_options: Vec<(&'static str, &'static str)>,
    /// Confirmation.
    pub message: Option<String>,
    /// A refusal to show at the top.
    pub error: Option<String>,
    /// Field errors.
    pub errors: Vec<(String, String)>,
}

/// One row of the members table.
#[derive(Debug, Clone)]
pub struct MemberLine {
    /// User id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role as shown.
    pub role: String,
    /// Role as stored.
    pub role_value: String,
    /// End date and scope limit, as shown ("" for none).
    pub limits: String,
    /// Disabled account.
    pub disabled: bool,
    /// The viewer may manage this member.
    pub manageable: bool,
}

/// A confirmation page for a destructive action (UI.md).
#[derive(Debug, Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// What will happen and what will be lost.
    pub text: String,
    /// Form target.
    pub action: String,
    /// Submit label.
    pub button: &'static str,
    /// Where Cancel goes.
    pub cancel: String,
}

/// The second-factor prompt of a sign-in.
#[derive(Debug, Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Where to go afterwards (validated).
    pub next: String,
    /// `totp`, `passkey` or `recovery_code`.
    pub method: &'static str,
    /// The user has an authenticator app.
    pub totp: bool,
    /// The user has a passkey (and the installation can use them).
    pub passkey: bool,
    /// What went wrong.
    pub error: Option<String>,
}

/// A passkey in the security page's list.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    /// Opaque id.
    pub id: String,
    /// The user's label.
    pub name: String,
    /// When it was added.
    pub created: String,
    /// When it was last used, or "never".
    pub last_used: String,
    /// Signs in without a password.
    pub discoverable: bool,
}

/// After a step-up: the interrupted form, sent on with its own fields only.
#[derive(Debug, Template)]
#[template(path = "continue.html")]
pub struct ContinuePage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// The interrupted form's action (validated, same origin).
    pub action: String,
    /// Its fields.
    pub carry: Vec<(String, String)>,
}

/// The step-up prompt (SEC-29).
#[derive(Debug, Template)]
#[template(path = "reauth.html")]
pub struct ReauthPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// Where to go afterwards (validated).
    pub next: String,
    /// `totp`, `passkey`, `recovery_code` or `password`.
    pub method: &'static str,
    /// The user has a second factor (then the password is not enough).
    pub has_factor: bool,
    /// The user has an authenticator app.
    pub totp: bool,
    /// The user has a passkey (and the installation can use them).
    pub passkey: bool,
    /// What went wrong.
    pub error: Option<String>,
    /// Where the form posts (`/reauth`, or `/reauth?continue=…` to resume an action).
    pub action: String,
    /// The interrupted form's fields, sent on when the proof succeeds.
    pub carry: Vec<(String, String)>,
    /// The interrupted form held passwords, which are not carried: say so.
    pub retype: bool,
    /// An account without password or second factor proves presence by signing in again
    /// through its organisation's provider: (tenant id, button text).
    pub sso: Option<(String, String)>,
}

/// A TOTP enrolment in progress, as shown once.
#[derive(Debug, Clone)]
pub struct EnrolmentView {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// Inline SVG of the otpauth URI (generated here, no user text inside).
    pub qr_svg: String,
}

/// The account's security page: second factors, recovery codes, the tenant's MFA policy.
#[derive(Debug, Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// A confirmed authenticator app exists.
    pub totp: bool,
    /// Any second factor exists.
    pub any_factor: bool,
    /// The user's passkeys.
    pub passkeys: Vec<PasskeyView>,
    /// Passkeys can be used here (the origin has a domain name).
    pub passkeys_available: bool,
    /// A passkey may be removed (not the only factor of a user who needs one).
    pub removable: bool,
    /// The user's role or tenant requires a second factor.
    pub required: bool,
    /// Unused recovery codes.
    pub recovery_left: i64,
    /// An enrolment just started.
    pub enrolment: Option<EnrolmentView>,
    /// Recovery codes to show once.
    pub codes: Vec<String>,
    /// A confirmation.
    pub message: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// For owners and admins: whether the tenant requires MFA of everyone.
    pub tenant_policy: Option<bool>,
}

/// A token in the list.
#[derive(Debug, Clone)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    /// Expiry.
    pub expires: String,
    /// Last use, or "never".
    pub last_used: String,
    /// Neither revoked nor expired.
    pub live: bool,
    /// "revoked" or "expired" when not live.
    pub state: &'static str,
}

/// The API tokens page.
#[derive(Debug, Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    /// Title.
    pub title: &'static str,
    /// Frame.
    pub chrome: Chrome,
    /// CSRF token.
    pub csrf: String,
    /// The user's tokens.
    pub tokens: Vec<TokenView>,
    /// A token just made, shown once.
    pub new_token: Option<String>,
    /// A confirmation.
    pub message: Option<String>,
    /// Field errors.
    pub errors: Vec<(String, String)>,
}
