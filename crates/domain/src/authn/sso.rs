//! OpenID Connect single sign-on (SEC-18, SEC-19): each tenant's provider settings, the
//! sign-in attempt, the callback, linking identities by (issuer, subject), just-in-time
//! membership, and the password gate of tenants that enforce SSO. The protocol itself (PKCE,
//! token exchange, ID-token checks) is `attest_sso`; this module decides what a verified
//! identity may do.
//!
//! **Attempt.** `start` makes a random `state` and, unless the browser has one, a random
//! browser secret (the `__Host-attest-sso` cookie, 10 minutes). The nonce and the PKCE verifier
//! are derived from both (SHA-256 under separate labels), so neither is stored anywhere and a
//! callback from another browser cannot complete the exchange. The attempt row holds only
//! SHA-256 of the state and of the browser secret, the tenant, where to go next, and its expiry
//! (10 minutes); it is used up once, before anything else happens.
//!
//! **Linking.** A user is found by (issuer, subject) only. An unknown identity is never linked
//! to an existing account by email alone: when the provider marks the email verified, its
//! domain is allowed and an account with that email exists, the browser is offered to link it,
//! and the account's owner confirms with the account's password (and second factor, if any)
//! on [`Sso::confirm_link`]. Without such an account, a new user and membership are created
//! with the configured role when just-in-time membership is on; otherwise the sign-in is
//! refused.
//!
//! **Second factor.** An SSO sign-in counts as second-factor proven when the tenant enforces
//! SSO (the organisation's provider is then responsible for MFA) or the ID token's `amr` says
//! `mfa`. Otherwise it is treated like a correct password: users with an authenticator app are
//! asked for it, and users whose role or tenant requires one must enrol.
//!
//! **Enforcement (SEC-19).** A member of a tenant that enforces SSO cannot sign in with a
//! password (the answer is `sso_required`, given only after a correct password so that it
//! reveals nothing to someone without it) and gets no reset mail. Break-glass: an owner of
//! that tenant who has a second factor may still sign in with password and second factor, so a
//! broken provider cannot lock the organisation out; each such sign-in is audited as
//! `auth.sso_break_glass`.

use std::fmt;

use attest_crypto::Zeroizing;
use attest_crypto::password::{StoredPassword, Verification};
use attest_crypto::random;
use attest_db::identity;
use attest_db::sso::{self as store, NewAttempt, ProviderRow};
use attest_sso::{FinishFailure, FlowSecrets, Issuer, OidcClient};
use attest_types::{Actor, Classification, Role, TenantId, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::Duration;
use uuid::Uuid;

use super::mfa::{LoginStep, PendingToken};
use super::sessions::{self, ClientFacts, SessionToken, Standing, VerifiedSession};
use super::throttle;
use crate::audit::{AuditRecord, Outcome};
use crate::identity::{Identity, IdentityError, Origin, internal, validate_name};

pub use attest_sso::{ClientSecret, OutboundPolicy, ProviderFailure, TokenRejection};

/// How long a sign-in attempt (and a link offer) stays usable.
pub const ATTEMPT_VALIDITY: Duration = Duration::minutes(10);
/// Longest callback parameter accepted.
pub const MAX_PARAM_LEN: usize = 4096;
/// Most email domains per provider.
pub const MAX_DOMAINS: usize = 20;

/// Why an SSO operation failed. Each has a stable code and a message for people; details go
/// to the log only.
#[derive(Debug)]
pub enum SsoError {
    /// A settings field is invalid.
    Invalid {
        /// Which field.
        field: &'static str,
        /// Stable code.
        code: &'static str,
        /// What to do.
        message: String,
    },
    /// Only owners and admins manage SSO.
    Forbidden,
    /// A recent proof of presence is needed (SEC-29).
    ReauthRequired,
    /// The tenant has no provider (or the caller cannot see it).
    NotConfigured,
    /// The callback's parameters are missing, repeated or too long.
    CallbackInvalid(&'static str),
    /// The `state` is unknown, from another browser, used or expired (SEC-18: 400).
    StateInvalid(&'static str),
    /// The provider sent the user back with `error=…`.
    ProviderError(String),
    /// The provider could not be reached or misbehaved.
    Provider(ProviderFailure),
    /// The ID token failed a check (SEC-18: 401).
    Token(TokenRejection),
    /// The email is missing, unverified or not in an allowed domain.
    EmailNotAllowed(&'static str),
    /// The person has no access: no account and no just-in-time membership, or disabled.
    NoAccess,
    /// The link offer is gone (used, expired, none).
    LinkGone,
    /// The password given to confirm a link is wrong.
    WrongPassword,
    /// The second-factor code given to confirm a link is wrong.
    InvalidCode,
    /// Too many attempts.
    Throttled(Duration),
    /// The identity is already linked to another account.
    AlreadyLinked,
    /// Something broke on our side.
    Internal(IdentityError),
}

impl From<IdentityError> for SsoError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::ReauthRequired => Self::ReauthRequired,
            IdentityError::Forbidden => Self::Forbidden,
            IdentityError::Invalid {
                field,
                code,
                message,
            } => Self::Invalid {
                field,
                code,
                message,
            },
            IdentityError::InvalidCode => Self::InvalidCode,
            IdentityError::TotpLocked(d) | IdentityError::Throttled(d) => Self::Throttled(d),
            other => Self::Internal(other),
        }
    }
}

impl From<attest_db::DbError> for SsoError {
    fn from(e: attest_db::DbError) -> Self {
        Self::Internal(e.into())
    }
}

impl SsoError {
    /// Stable code for pages, JSON and the audit trail.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::Forbidden => "forbidden",
            Self::ReauthRequired => "reauth_required",
            Self::NotConfigured => "sso_not_configured",
            Self::CallbackInvalid(_) => "sso_callback_invalid",
            Self::StateInvalid(_) => "sso_state_invalid",
            Self::ProviderError(_) => "sso_provider_error",
            Self::Provider(p) => p.code(),
            Self::Token(t) => t.code(),
            Self::EmailNotAllowed(_) => "sso_email_not_allowed",
            Self::NoAccess => "sso_no_access",
            Self::LinkGone => "sso_link_gone",
            Self::WrongPassword => "wrong_password",
            Self::InvalidCode => "invalid_code",
            Self::Throttled(_) => "rate_limited",
            Self::AlreadyLinked => "sso_already_linked",
            Self::Internal(_) => "internal",
        }
    }

    /// The sentence shown to the person (never internals).
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::Invalid { message, .. } => message.clone(),
            Self::Forbidden => "Only owners and administrators manage single sign-on.".to_owned(),
            Self::ReauthRequired => "Confirm it is you to continue.".to_owned(),
            Self::NotConfigured => "Single sign-on is not set up for this organisation. Sign in with your email address and password, or ask your administrator.".to_owned(),
            Self::CallbackInvalid(_) | Self::StateInvalid(_) => "This sign-in link is no longer valid; start again.".to_owned(),
            Self::ProviderError(_) => "Your identity provider did not sign you in (it reported an error or the sign-in was cancelled). Start again, and if it keeps happening, give the reference below to your administrator.".to_owned(),
            Self::Provider(p) => match p {
                ProviderFailure::DiscoveryUnavailable(_) | ProviderFailure::TokenEndpointUnavailable(_) => "Attest could not reach your organisation's identity provider. Try again in a few minutes; if it keeps happening, give the reference below to your administrator.".to_owned(),
                ProviderFailure::TokenRefused { .. } => "Your identity provider refused to complete the sign-in (the sign-in may have taken too long). Start again.".to_owned(),
                ProviderFailure::DiscoveryInvalid(_) | ProviderFailure::TokenResponseInvalid(_) | ProviderFailure::NoIdToken => "Your organisation's identity provider answered in a way Attest cannot use. Your administrator should check the single sign-on settings; give them the reference below.".to_owned(),
            },
            Self::Token(t) => match t {
                TokenRejection::WrongAudience(_) => "The identity provider's token was meant for another application, so Attest did not accept it. Your administrator should check the client id in the single sign-on settings.".to_owned(),
                TokenRejection::WrongIssuer(_) => "The identity provider's token came from a different issuer than the one configured, so Attest did not accept it.".to_owned(),
                TokenRejection::Expired(_) => "The identity provider's token has expired. Start again; if it keeps happening, the clock of the provider or of Attest may be wrong.".to_owned(),
                TokenRejection::NonceMismatch(_) => "The identity provider's token belongs to another sign-in (it may have been replayed), so Attest did not accept it. Start again.".to_owned(),
                TokenRejection::DisallowedAlgorithm(_) => "The identity provider's token was not signed with an accepted algorithm, so Attest did not accept it. Your administrator should check the provider.".to_owned(),
                TokenRejection::BadSignature(_) => "The identity provider's token signature did not verify, so Attest did not accept it.".to_owned(),
                TokenRejection::Invalid(_) => "The identity provider's token is not valid, so Attest did not accept it.".to_owned(),
            },
            Self::EmailNotAllowed(_) => "Your identity provider did not confirm an email address in a domain your organisation allows for Attest. Ask an administrator.".to_owned(),
            Self::NoAccess => "Your organisation has not given you access to Attest; ask an administrator for an invitation.".to_owned(),
            Self::LinkGone => "This account connection has expired or was completed already. Start the single sign-on again.".to_owned(),
            Self::WrongPassword => "The password is not correct.".to_owned(),
            Self::InvalidCode => "That code is not correct or was used already.".to_owned(),
            Self::Throttled(_) => "Too many attempts. Wait a moment and try again.".to_owned(),
            Self::AlreadyLinked => "This identity is already connected to another Attest account.".to_owned(),
            Self::Internal(_) => "Something went wrong on our side. If it persists, give the reference to your administrator.".to_owned(),
        }
    }

    /// What the log gets (facts, never secrets or tokens).
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::CallbackInvalid(d) | Self::StateInvalid(d) | Self::EmailNotAllowed(d) => {
                (*d).to_owned()
            }
            Self::ProviderError(e) => format!("provider error={e}"),
            Self::Provider(p) => p.detail(),
            Self::Token(t) => t.detail().to_owned(),
            Self::Internal(e) => e.to_string(),
            other => other.code().to_owned(),
        }
    }
}

/// A provider's settings as owners and admins see them: never the client secret, only
/// whether one is stored.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// The tenant.
    pub tenant: TenantId,
    /// Button text.
    pub display_name: String,
    /// Issuer URL.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// A secret exists (stored or given by the operator); it is never shown.
    pub client_secret_set: bool,
    /// The operator provides the secret (a file or the environment), which wins over one
    /// typed on the settings page.
    pub client_secret_from_operator: bool,
    /// Allowed email domains.
    pub allowed_domains: Vec<String>,
    /// Just-in-time membership.
    pub jit: bool,
    /// Role of just-in-time members.
    pub jit_role: Role,
    /// SEC-19.
    pub enforce: bool,
}

/// What an owner or admin submits. The client secret is write-only: `None` (or empty) keeps
/// the stored one.
pub struct SsoSettingsInput {
    /// Button text.
    pub display_name: String,
    /// Issuer URL.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// A new client secret, or `None` to keep the stored one.
    pub client_secret: Option<ClientSecret>,
    /// Allowed email domains, separated by spaces, commas or new lines.
    pub allowed_domains: String,
    /// Just-in-time membership.
    pub jit: bool,
    /// Role of just-in-time members (`member` or `admin`).
    pub jit_role: String,
    /// SEC-19.
    pub enforce: bool,
}

impl fmt::Debug for SsoSettingsInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoSettingsInput")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// The parameters of a callback, read once each. Built by [`CallbackParams::parse`].
#[derive(Default)]
pub struct CallbackParams {
    state: Option<String>,
    code: Option<Zeroizing<String>>,
    error: Option<String>,
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackParams([redacted])")
    }
}

impl CallbackParams {
    /// Reads `state`, `code` and `error` from the query's pairs: a repeated or overlong one,
    /// or one that is empty, is refused (the whole callback is then invalid).
    ///
    /// # Errors
    /// [`SsoError::CallbackInvalid`].
    pub fn parse<I>(pairs: I) -> Result<Self, SsoError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut out = Self::default();
        for (k, v) in pairs {
            let slot_taken = match k.as_str() {
                "state" => out.state.is_some(),
                "code" => out.code.is_some(),
                "error" => out.error.is_some(),
                _ => continue,
            };
            if slot_taken {
                return Err(SsoError::CallbackInvalid(
                    "a callback parameter is repeated",
                ));
            }
            if v.is_empty() || v.len() > MAX_PARAM_LEN {
                return Err(SsoError::CallbackInvalid(
                    "a callback parameter is empty or too long",
                ));
            }
            match k.as_str() {
                "state" => out.state = Some(v),
                "code" => out.code = Some(Zeroizing::new(v)),
                _ => {
                    out.error = Some(
                        v.chars()
                            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .take(64)
                            .collect(),
                    );
                }
            }
        }
        Ok(out)
    }
}

/// Where `start` sends the browser, and the browser-binding cookie to set when it is new.
pub struct SsoStart {
    /// The provider's authorization URL.
    pub redirect_to: String,
    /// A new value for the `__Host-attest-sso` cookie, when the browser had none.
    pub new_browser_secret: Option<Zeroizing<String>>,
}

impl fmt::Debug for SsoStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SsoStart([redacted])")
    }
}

/// What a callback (or a link confirmation) led to.
#[derive(Debug)]
pub enum SsoOutcome {
    /// Signed in; go to `next`.
    SignedIn(SessionToken, VerifiedSession, String),
    /// The user must give their Attest second factor; go to the prompt, then `next`.
    SecondFactor(PendingToken, String),
    /// An account with the verified email exists: its owner must confirm the link.
    LinkOffered {
        /// The account's email (the one the provider asserted).
        email: String,
        /// The provider's button text.
        provider: String,
    },
}

/// A link offer, as its page shows it.
#[derive(Debug, Clone)]
pub struct LinkOffer {
    /// The account's email.
    pub email: String,
    /// The provider's button text.
    pub provider: String,
    /// Whether the account has a second factor (then the page asks for a code too).
    pub needs_code: bool,
}

/// How a password sign-in stands with SSO (SEC-19).
#[derive(Debug, Clone)]
pub(crate) enum PasswordGate {
    /// No tenant of the user enforces SSO.
    Open,
    /// An owner with a second factor signs in with a password despite enforcement.
    BreakGlass(TenantId),
    /// The user must sign in through their organisation's provider.
    SsoRequired {
        /// The tenant.
        tenant: TenantId,
        /// Its provider's button text.
        provider: String,
    },
}

/// A tenant whose provider is meant, with its button text (for the login page).
#[derive(Debug, Clone)]
pub struct SsoTarget {
    /// The tenant.
    pub tenant: TenantId,
    /// Button text.
    pub display_name: String,
}

fn label_hash(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut input = format!("attest/sso/{label}/v1\0").into_bytes();
    for p in parts {
        input.extend_from_slice(p);
        input.push(0);
    }
    random::sha256(&input)
}

/// Derives the nonce and PKCE verifier of an attempt from the browser secret and the state.
fn flow_secrets(browser: &str, state: &str) -> FlowSecrets {
    let derive = |label| {
        Zeroizing::new(
            URL_SAFE_NO_PAD.encode(label_hash(label, &[browser.as_bytes(), state.as_bytes()])),
        )
    };
    FlowSecrets {
        state: Zeroizing::new(state.to_owned()),
        nonce: derive("nonce"),
        pkce_verifier: derive("pkce"),
    }
}

fn browser_hash(browser: &str) -> [u8; 32] {
    label_hash("browser", &[browser.as_bytes()])
}

fn state_hash(state: &str) -> [u8; 32] {
    label_hash("state", &[state.as_bytes()])
}

fn secret_aad(tenant: TenantId) -> Vec<u8> {
    let mut aad = b"attest/sso-client-secret/v1\0".to_vec();
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    aad
}

/// Splits and checks a list of email domains.
fn parse_domains(text: &str) -> Result<Vec<String>, SsoError> {
    let invalid = |message: String| SsoError::Invalid {
        field: "allowed_domains",
        code: "invalid_domains",
        message,
    };
    let mut out: Vec<String> = Vec::new();
    for d in text.split(|c: char| c.is_whitespace() || c == ',') {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        if d.is_empty() {
            continue;
        }
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !ok {
            return Err(invalid(format!(
                "\"{}\" is not an email domain such as example.com.",
                d.chars().take(60).collect::<String>()
            )));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "Enter at least one email domain, such as example.com.".to_owned(),
        ));
    }
    if out.len() > MAX_DOMAINS {
        return Err(invalid(format!("Enter at most {MAX_DOMAINS} domains.")));
    }
    Ok(out)
}

fn domain_of(email: &str) -> Option<&str> {
    email.rsplit_once('@').map(|(_, d)| d)
}

fn settings_of(row: &ProviderRow) -> SsoSettings {
    SsoSettings {
        tenant: TenantId::from_uuid(row.tenant_id),
        display_name: row.display_name.clone(),
        issuer: row.issuer.clone(),
        client_id: row.client_id.clone(),
        client_secret_set: !row.client_secret.is_empty(),
        client_secret_from_operator: false,
        allowed_domains: row
            .allowed_domains
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        jit: row.jit,
        jit_role: row.jit_role.parse().unwrap_or(Role::Contributor),
        enforce: row.enforce,
    }
}

/// Client secrets the operator provides outside the database, by tenant: from the
/// environment (or the configuration file), or one file per tenant in a directory, read at
/// each use so that a rotated file takes effect at once. One given here wins over a secret
/// typed on the settings page.
#[derive(Clone, Default)]
pub struct OperatorSecrets {
    dir: Option<std::path::PathBuf>,
    given: std::collections::HashMap<TenantId, Zeroizing<String>>,
}

impl fmt::Debug for OperatorSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorSecrets")
            .field("dir", &self.dir)
            .field("tenants", &self.given.len())
            .finish()
    }
}

impl OperatorSecrets {
    /// Secrets from a directory (a file per tenant id) and from named values.
    ///
    /// # Errors
    /// A message naming a key that is not a tenant id.
    pub fn new(
        dir: Option<std::path::PathBuf>,
        given: impl IntoIterator<Item = (String, Zeroizing<String>)>,
    ) -> Result<Self, String> {
        let mut map = std::collections::HashMap::new();
        for (key, secret) in given {
            let tenant = Uuid::parse_str(key.trim())
                .map_err(|_| format!("sso.client_secrets: `{key}` is not a tenant id"))?;
            map.insert(TenantId::from_uuid(tenant), secret);
        }
        Ok(Self { dir, given: map })
    }

    async fn get(&self, tenant: TenantId) -> Result<Option<ClientSecret>, SsoError> {
        if let Some(s) = self.given.get(&tenant) {
            return Ok(Some(ClientSecret::new(s.trim().to_owned())));
        }
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(tenant.as_uuid().to_string());
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let secret = text.trim();
                Ok((!secret.is_empty()).then(|| ClientSecret::new(secret.to_owned())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                // The path names a tenant id, never the secret.
                tracing::error!(path = %path.display(), error = %e, "cannot read an SSO client secret file");
                Err(SsoError::Internal(internal(e)))
            }
        }
    }
}

/// The single sign-on service.
#[derive(Debug, Clone)]
pub struct Sso {
    identity: Identity,
    oidc: OidcClient,
    redirect_uri: String,
    operator: OperatorSecrets,
}

impl Identity {
    /// How a user's password sign-in stands with SSO enforcement (SEC-19).
    pub(crate) async fn sso_password_gate(
        &self,
        user: UserId,
    ) -> Result<PasswordGate, IdentityError> {
        let enforcing = store::enforcing_memberships(&self.db, user).await?;
        let Some((first, _, _)) = enforcing.first() else {
            return Ok(PasswordGate::Open);
        };
        let all_owner = enforcing.iter().all(|(_, role, _)| role == "owner");
        if all_owner && self.has_second_factor(user).await? {
            return Ok(PasswordGate::BreakGlass(TenantId::from_uuid(*first)));
        }
        let (tenant, _, provider) = enforcing
            .iter()
            .find(|(_, role, _)| role != "owner")
            .or(enforcing.first())
            .cloned()
            .ok_or_else(|| IdentityError::Internal("no enforcing tenant".into()))?;
        Ok(PasswordGate::SsoRequired {
            tenant: TenantId::from_uuid(tenant),
            provider,
        })
    }

    /// For a step-up (SEC-29) by a user who has neither a password nor a second factor (an
    /// account made by single sign-on): the provider of the session's tenant, through which
    /// signing in again is the proof. `None` when the user can prove presence otherwise.
    ///
    /// # Errors
    /// On database failure.
    pub async fn sso_reauth_provider(
        &self,
        session: &VerifiedSession,
    ) -> Result<Option<(TenantId, String)>, IdentityError> {
        let Some((tenant, _)) = session.tenant else {
            return Ok(None);
        };
        let has_password = identity::user_by_id(&self.db, session.user)
            .await?
            .is_some_and(|u| u.password_hash.is_some());
        if has_password || self.has_second_factor(session.user).await? {
            return Ok(None);
        }
        Ok(store::provider_of(&self.db, tenant)
            .await?
            .map(|p| (tenant, p.display_name)))
    }

    /// Whether a user may not reset their password because a tenant of theirs enforces SSO
    /// (SEC-19; owners included: break-glass needs the password they know).
    pub(crate) async fn reset_blocked_by_sso(&self, user: UserId) -> Result<bool, IdentityError> {
        Ok(!store::enforcing_memberships(&self.db, user)
            .await?
            .is_empty())
    }
}

impl Sso {
    /// The service. `public_url` is the origin users reach; the one redirect URI is
    /// `{public_url}/sso/callback`.
    ///
    /// # Errors
    /// If the outbound HTTP client cannot be built.
    pub fn new(
        identity: Identity,
        policy: OutboundPolicy,
        public_url: &str,
    ) -> Result<Self, IdentityError> {
        Ok(Self {
            identity,
            oidc: OidcClient::new(policy).map_err(internal)?,
            redirect_uri: format!("{}/sso/callback", public_url.trim_end_matches('/')),
            operator: OperatorSecrets::default(),
        })
    }

    /// Uses client secrets the operator provides (see [`OperatorSecrets`]).
    #[must_use]
    pub fn with_operator_secrets(mut self, operator: OperatorSecrets) -> Self {
        self.operator = operator;
        self
    }

    /// The redirect URI to register at the provider.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn audit_failure(
        &self,
        tenant: Option<TenantId>,
        user: Option<UserId>,
        error: &SsoError,
        origin: Origin,
    ) -> AuditRecord {
        let actor = user.map_or(Actor::Anonymous, Actor::User);
        let outcome = match error {
            SsoError::NoAccess | SsoError::EmailNotAllowed(_) => Outcome::Denied,
            _ => Outcome::Failure,
        };
        match tenant {
            Some(t) => AuditRecord::tenant(t, actor, "auth.sso_login", outcome),
            None => AuditRecord::system(actor, "auth.sso_login", outcome),
        }
        .request(origin.ip, origin.request_id)
        .details(serde_json::json!({ "reason": error.code() }))
    }

    /// Logs and audits a failed sign-in, and hands the error back.
    async fn fail(
        &self,
        tenant: Option<TenantId>,
        user: Option<UserId>,
        error: SsoError,
        origin: Origin,
    ) -> SsoError {
        tracing::warn!(
            code = error.code(),
            detail = %error.detail(),
            tenant = ?tenant.map(|t| t.to_string()),
            request_id = ?origin.request_id.map(|r| r.to_string()),
            "single sign-on refused"
        );
        if let Err(e) = self
            .identity
            .audit
            .record(self.audit_failure(tenant, user, &error, origin))
            .await
        {
            tracing::error!(error = %e, "could not audit a refused single sign-on");
        }
        error
    }

    async fn provider(&self, tenant: TenantId) -> Result<ProviderRow, SsoError> {
        store::provider_of(&self.identity.db, tenant)
            .await?
            .ok_or(SsoError::NotConfigured)
    }

    async fn open_secret(&self, row: &ProviderRow) -> Result<ClientSecret, SsoError> {
        let tenant = TenantId::from_uuid(row.tenant_id);
        if let Some(given) = self.operator.get(tenant).await? {
            return Ok(given);
        }
        if row.client_secret.is_empty() {
            return Err(SsoError::NotConfigured);
        }
        let bytes = Zeroizing::new(
            self.identity
                .keys
                .open(
                    tenant,
                    Classification::Critical,
                    &secret_aad(tenant),
                    &row.client_secret,
                )
                .await
                .map_err(internal)?,
        );
        let text = std::str::from_utf8(&bytes).map_err(internal)?;
        Ok(ClientSecret::new(text.to_owned()))
    }

    // -----------------------------------------------------------------------------------
    // Public sign-in.

    /// The tenant whose provider serves an email's domain (the "Sign in with SSO" form). It
    /// reveals only which domains use SSO, never whether an account exists.
    ///
    /// # Errors
    /// On database failure.
    pub async fn target_for_email(&self, email: &str) -> Result<Option<SsoTarget>, SsoError> {
        let email = crate::authn::login::normalise_email(email);
        let Some(domain) = domain_of(&email).filter(|d| !d.is_empty()) else {
            return Ok(None);
        };
        Ok(store::all_providers(&self.identity.db)
            .await?
            .into_iter()
            .find(|p| p.allowed_domains.split_whitespace().any(|d| d == domain))
            .map(|p| SsoTarget {
                tenant: TenantId::from_uuid(p.tenant_id),
                display_name: p.display_name,
            }))
    }

    /// A tenant's provider button text (the per-tenant sign-in page).
    ///
    /// # Errors
    /// [`SsoError::NotConfigured`].
    pub async fn target(&self, tenant: TenantId) -> Result<SsoTarget, SsoError> {
        let row = self.provider(tenant).await?;
        Ok(SsoTarget {
            tenant,
            display_name: row.display_name,
        })
    }

    /// Starts a sign-in: stores the attempt and returns the provider's authorization URL.
    ///
    /// # Errors
    /// [`SsoError::NotConfigured`], or the provider's discovery failing (audited).
    pub async fn start(
        &self,
        tenant: TenantId,
        browser_secret: Option<&str>,
        next: &str,
        login_hint: Option<&str>,
        origin: Origin,
    ) -> Result<SsoStart, SsoError> {
        let row = self.provider(tenant).await?;
        let issuer = Issuer::from_stored(row.issuer.clone());
        let provider = match self.oidc.discover(&issuer).await {
            Ok(p) => p,
            Err(e) => {
                return Err(self
                    .fail(Some(tenant), None, SsoError::Provider(e), origin)
                    .await);
            }
        };
        let (browser, new_browser_secret) = match browser_secret.filter(|b| b.len() == 43) {
            Some(b) => (Zeroizing::new(b.to_owned()), None),
            None => {
                let b = Zeroizing::new(random::token().map_err(internal)?);
                (b.clone(), Some(b))
            }
        };
        let state = Zeroizing::new(random::token().map_err(internal)?);
        let secrets = flow_secrets(&browser, &state);
        let hint = login_hint
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= 254 && !h.chars().any(char::is_control));
        let redirect_to = self
            .oidc
            .authorization_url(
                &provider,
                &row.client_id,
                &self.redirect_uri,
                &secrets,
                hint,
            )
            .map_err(SsoError::Provider)?;
        let now = self.identity.clock.now();
        let mut tx = self.identity.db.begin().await?;
        store::purge_attempts(&mut tx, now - Duration::days(1)).await?;
        store::insert_attempt(
            &mut tx,
            &NewAttempt {
                id: Uuid::new_v4(),
                state_hash: &state_hash(&state),
                browser_hash: &browser_hash(&browser),
                tenant,
                next_path: next,
                now,
                expires_at: now + ATTEMPT_VALIDITY,
            },
        )
        .await?;
        self.identity
            .audit
            .record_in(
                &mut tx,
                AuditRecord::tenant(tenant, Actor::Anonymous, "auth.sso_start", Outcome::Success)
                    .request(origin.ip, origin.request_id)
                    .details(serde_json::json!({ "issuer": row.issuer })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(SsoStart {
            redirect_to,
            new_browser_secret,
        })
    }

    /// The provider sent the browser back: checks `state` against this browser's attempt and
    /// uses it up, exchanges the code, verifies the ID token, finds or creates the user, and
    /// starts the session, all audited. Every refusal is audited and changes nothing else.
    ///
    /// # Errors
    /// [`SsoError`]; 400-type errors for the state, 401-type for the token.
    pub async fn callback(
        &self,
        params: Result<CallbackParams, SsoError>,
        browser_secret: Option<&str>,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<SsoOutcome, SsoError> {
        let params = match params {
            Ok(p) => p,
            Err(e) => return Err(self.fail(None, None, e, origin).await),
        };
        let Some(state) = params.state.as_deref() else {
            return Err(self
                .fail(
                    None,
                    None,
                    SsoError::StateInvalid("no state parameter"),
                    origin,
                )
                .await);
        };
        let Some(attempt) = store::attempt_by_state(&self.identity.db, &state_hash(state)).await?
        else {
            return Err(self
                .fail(None, None, SsoError::StateInvalid("unknown state"), origin)
                .await);
        };
        let tenant = TenantId::from_uuid(attempt.tenant_id);
        let Some(browser) = browser_secret
            .filter(|b| random::sha256(&browser_hash(b)) == random::sha256(&attempt.browser_hash))
        else {
            return Err(self
                .fail(
                    Some(tenant),
                    None,
                    SsoError::StateInvalid("the state belongs to another browser"),
                    origin,
                )
                .await);
        };
        let now = self.identity.clock.now();
        let mut tx = self.identity.db.begin().await?;
        let fresh = store::use_attempt(&mut tx, attempt.id, now).await?;
        tx.commit().await?;
        if !fresh {
            let why = if attempt.used_at.is_some() {
                "the state was used already"
            } else {
                "the state has expired"
            };
            return Err(self
                .fail(Some(tenant), None, SsoError::StateInvalid(why), origin)
                .await);
        }
        if let Some(error) = params.error {
            return Err(self
                .fail(Some(tenant), None, SsoError::ProviderError(error), origin)
                .await);
        }
        let Some(code) = params.code else {
            return Err(self
                .fail(
                    Some(tenant),
                    None,
                    SsoError::CallbackInvalid("no code parameter"),
                    origin,
                )
                .await);
        };
        let row = match self.provider(tenant).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail(Some(tenant), None, e, origin).await),
        };
        let secret = self.open_secret(&row).await?;
        let issuer = Issuer::from_stored(row.issuer.clone());
        let provider = match self.oidc.discover(&issuer).await {
            Ok(p) => p,
            Err(e) => {
                return Err(self
                    .fail(Some(tenant), None, SsoError::Provider(e), origin)
                    .await);
            }
        };
        let secrets = flow_secrets(browser, state);
        let verified = match self
            .oidc
            .finish(
                &provider,
                &row.client_id,
                &secret,
                &self.redirect_uri,
                &code,
                &secrets,
                now,
            )
            .await
        {
            Ok(v) => v,
            Err(FinishFailure::Provider(p)) => {
                return Err(self
                    .fail(Some(tenant), None, SsoError::Provider(p), origin)
                    .await);
            }
            Err(FinishFailure::Token(t)) => {
                return Err(self
                    .fail(Some(tenant), None, SsoError::Token(t), origin)
                    .await);
            }
        };
        match self
            .admit(
                &row,
                &verified,
                attempt.id,
                &attempt.next_path,
                client,
                origin,
            )
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err((user, e)) => Err(self.fail(Some(tenant), user, e, origin).await),
        }
    }

    /// Finds or creates the user of a verified identity and signs them in.
    async fn admit(
        &self,
        row: &ProviderRow,
        verified: &attest_sso::VerifiedIdentity,
        attempt: Uuid,
        next: &str,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<SsoOutcome, (Option<UserId>, SsoError)> {
        let db = &self.identity.db;
        let tenant = TenantId::from_uuid(row.tenant_id);
        let plain = |e: SsoError| (None, e);
        let linked = store::identity_of(db, verified.issuer(), verified.subject())
            .await
            .map_err(|e| plain(e.into()))?;
        let allowed_email = || -> Result<String, SsoError> {
            let email = verified
                .email()
                .map(crate::authn::login::normalise_email)
                .ok_or(SsoError::EmailNotAllowed("the token has no email"))?;
            if !verified.email_verified() {
                return Err(SsoError::EmailNotAllowed(
                    "the provider did not mark the email verified",
                ));
            }
            let domain = domain_of(&email).unwrap_or_default();
            if !row.allowed_domains.split_whitespace().any(|d| d == domain) {
                return Err(SsoError::EmailNotAllowed(
                    "the email's domain is not allowed",
                ));
            }
            crate::identity::validate_email(&email)
                .map_err(|_| SsoError::EmailNotAllowed("the email is not valid"))
        };
        let jit_role: Role = row.jit_role.parse().unwrap_or(Role::Contributor);
        let (user, new_user, new_member) = match linked {
            Some(link) => {
                let user = UserId::from_uuid(link.user_id);
                let member = identity::role_in(db, tenant, user)
                    .await
                    .map_err(|e| plain(e.into()))?
                    .is_some();
                if !member {
                    // A linked person who is not (or no longer) a member enters only through
                    // just-in-time membership, under the same email rules as a newcomer.
                    if !row.jit {
                        return Err((Some(user), SsoError::NoAccess));
                    }
                    allowed_email().map_err(|e| (Some(user), e))?;
                }
                (Some(user), None, !member)
            }
            None => {
                let email = allowed_email().map_err(plain)?;
                match identity::user_by_email(db, &email)
                    .await
                    .map_err(|e| plain(e.into()))?
                {
                    Some(existing) => {
                        let user = UserId::from_uuid(existing.id);
                        let member = identity::role_in(db, tenant, user)
                            .await
                            .map_err(|e| plain(e.into()))?
                            .is_some();
                        let invited = identity::has_live_invitation(
                            db,
                            tenant,
                            &email,
                            self.identity.clock.now(),
                        )
                        .await
                        .map_err(|e| plain(e.into()))?;
                        if !member && !row.jit && !invited {
                            return Err((Some(user), SsoError::NoAccess));
                        }
                        // Never linked by email alone: the account's owner confirms.
                        let mut tx = db.begin().await.map_err(|e| plain(e.into()))?;
                        store::offer_link(
                            &mut tx,
                            attempt,
                            user,
                            verified.issuer(),
                            verified.subject(),
                        )
                        .await
                        .map_err(|e| plain(e.into()))?;
                        self.identity
                            .audit
                            .record_in(
                                &mut tx,
                                AuditRecord::tenant(
                                    tenant,
                                    Actor::Anonymous,
                                    "auth.sso_link_offer",
                                    Outcome::Success,
                                )
                                .object("user", user)
                                .request(origin.ip, origin.request_id)
                                .details(serde_json::json!({ "issuer": verified.issuer() })),
                            )
                            .await
                            .map_err(|e| plain(internal(e).into()))?;
                        tx.commit().await.map_err(|e| plain(e.into()))?;
                        return Ok(SsoOutcome::LinkOffered {
                            email,
                            provider: row.display_name.clone(),
                        });
                    }
                    // A newcomer enters through a live invitation to this tenant (whatever the
                    // just-in-time setting) or through just-in-time membership; decided in the
                    // transaction below, which uses the invitation up.
                    None => (None, Some(email), true),
                }
            }
        };
        let now = self.identity.clock.now();
        let user_id = user.unwrap_or_else(UserId::new_random);
        if let Some(u) = user {
            let active = identity::user_by_id(db, u)
                .await
                .map_err(|e| plain(e.into()))?
                .is_some_and(|r| r.status == "active");
            if !active {
                return Err((Some(u), SsoError::NoAccess));
            }
        }
        let mut tx = db.begin().await.map_err(|e| plain(e.into()))?;
        let mut member_role = jit_role;
        let mut member_limits = identity::MembershipLimits::default();
        let mut invited = false;
        if let Some(email) = &new_user {
            match identity::take_invitation_for(&mut tx, tenant, email, now)
                .await
                .map_err(|e| plain(e.into()))?
            {
                Some((role, limits)) => {
                    member_role = role.parse().unwrap_or(Role::Contributor);
                    member_limits = limits;
                    invited = true;
                }
                None if row.jit => {}
                None => return Err(plain(SsoError::NoAccess)),
            }
        }
        if let Some(email) = &new_user {
            let name = verified
                .name()
                .and_then(|n| validate_name("name", n, 100).ok())
                .unwrap_or_else(|| email.clone());
            identity::insert_user(&mut tx, user_id, email, &name, None, now)
                .await
                .map_err(|e| plain(e.into()))?;
            store::insert_identity(
                &mut tx,
                verified.issuer(),
                verified.subject(),
                user_id,
                tenant,
                now,
            )
            .await
            .map_err(|e| plain(e.into()))?;
        }
        if new_member {
            identity::insert_membership(&mut tx, tenant, user_id, member_role.as_str(), now)
                .await
                .map_err(|e| plain(e.into()))?;
            identity::set_membership_limits(&mut tx, tenant, user_id, member_limits)
                .await
                .map_err(|e| plain(e.into()))?;
        }
        store::touch_identity(&mut tx, verified.issuer(), verified.subject(), now)
            .await
            .map_err(|e| plain(e.into()))?;
        let role = if new_member {
            member_role
        } else {
            identity::role_in_tx(&mut tx, tenant, user_id)
                .await
                .map_err(|e| plain(e.into()))?
                .and_then(|r| r.parse().ok())
                .unwrap_or(Role::Contributor)
        };
        let idp_mfa = verified.amr().iter().any(|a| a == "mfa");
        let outcome = self
            .sign_in(
                &mut tx,
                user_id,
                (tenant, role),
                row.enforce || idp_mfa,
                client,
                next,
                now,
            )
            .await
            .map_err(plain)?;
        let mut record = AuditRecord::tenant(tenant, Actor::User(user_id), "auth.sso_login", Outcome::Success)
            .request(origin.ip, origin.request_id)
            .details(serde_json::json!({
                "issuer": verified.issuer(),
                "user_created": new_user.is_some(),
                "membership_created": new_member,
                "role": new_member.then(|| member_role.as_str()),
                "invitation_accepted": invited,
                "second_factor": if row.enforce { "provider_enforced" } else if idp_mfa { "provider_amr_mfa" } else { "attest" },
                "amr": verified.amr(),
            }));
        if let SsoOutcome::SignedIn(_, session, _) = &outcome {
            record = record.object("session", session.id);
        }
        self.identity
            .audit
            .record_in(&mut tx, record)
            .await
            .map_err(|e| plain(internal(e).into()))?;
        tx.commit().await.map_err(|e| plain(e.into()))?;
        Ok(outcome)
    }

    /// Starts the session (or the second-factor step) of an SSO sign-in inside `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn sign_in(
        &self,
        tx: &mut attest_db::Tx,
        user: UserId,
        tenant: (TenantId, Role),
        provider_mfa: bool,
        client: &ClientFacts,
        next: &str,
        now: time::OffsetDateTime,
    ) -> Result<SsoOutcome, SsoError> {
        if provider_mfa {
            identity::touch_login(tx, user, now).await?;
            let (token, session) = sessions::start(
                tx,
                user,
                Some(tenant),
                client,
                self.identity.policy,
                now,
                true,
                Standing::Full,
            )
            .await?;
            return Ok(SsoOutcome::SignedIn(token, session, next.to_owned()));
        }
        match self
            .identity
            .after_password(tx, user, Some(tenant), client, now)
            .await?
        {
            LoginStep::SignedIn(token, session) => {
                identity::touch_login(tx, user, now).await?;
                Ok(SsoOutcome::SignedIn(token, session, next.to_owned()))
            }
            LoginStep::SecondFactor(pending) => {
                Ok(SsoOutcome::SecondFactor(pending, next.to_owned()))
            }
        }
    }

    /// The link offer of this browser, if one is live.
    ///
    /// # Errors
    /// On database failure.
    pub async fn link_offer(
        &self,
        browser_secret: Option<&str>,
    ) -> Result<Option<LinkOffer>, SsoError> {
        let Some(row) = self.live_offer(browser_secret).await? else {
            return Ok(None);
        };
        let (Some(user), Ok(provider)) = (
            row.link_user_id,
            self.provider(TenantId::from_uuid(row.tenant_id)).await,
        ) else {
            return Ok(None);
        };
        let user = UserId::from_uuid(user);
        let Some(account) = identity::user_by_id(&self.identity.db, user).await? else {
            return Ok(None);
        };
        Ok(Some(LinkOffer {
            email: account.email,
            provider: provider.display_name,
            needs_code: self.identity.has_second_factor(user).await?,
        }))
    }

    async fn live_offer(
        &self,
        browser_secret: Option<&str>,
    ) -> Result<Option<store::AttemptRow>, SsoError> {
        let Some(browser) = browser_secret else {
            return Ok(None);
        };
        let now = self.identity.clock.now();
        Ok(
            store::link_offer_of_browser(&self.identity.db, &browser_hash(browser))
                .await?
                .filter(|r| now < r.created_at + ATTEMPT_VALIDITY),
        )
    }

    /// The account's owner confirms linking the provider's identity offered to this browser,
    /// with the account's password and, if it has one, its second factor. Then the identity
    /// is linked (and, with just-in-time membership, the membership created) and the user is
    /// signed in, in one audited transaction.
    ///
    /// # Errors
    /// [`SsoError::LinkGone`], [`SsoError::WrongPassword`], [`SsoError::InvalidCode`],
    /// [`SsoError::Throttled`], [`SsoError::AlreadyLinked`].
    pub async fn confirm_link(
        &self,
        browser_secret: Option<&str>,
        password: Zeroizing<String>,
        code: Option<&str>,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<SsoOutcome, SsoError> {
        let db = &self.identity.db;
        let Some(offer) = self.live_offer(browser_secret).await? else {
            return Err(SsoError::LinkGone);
        };
        let tenant = TenantId::from_uuid(offer.tenant_id);
        let (Some(user), Some(issuer), Some(subject)) = (
            offer.link_user_id,
            offer.link_issuer.clone(),
            offer.link_subject.clone(),
        ) else {
            return Err(SsoError::LinkGone);
        };
        let user = UserId::from_uuid(user);
        let record = |outcome, reason: &str| {
            AuditRecord::tenant(tenant, Actor::User(user), "auth.sso_link", outcome)
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "issuer": issuer, "reason": reason }))
        };
        let account = identity::user_by_id(db, user)
            .await?
            .ok_or(SsoError::LinkGone)?;
        if account.status != "active" {
            return Err(SsoError::LinkGone);
        }
        let now = self.identity.clock.now();
        let key = throttle::account_key(&account.email);
        if let Some(wait) = throttle::wait(identity::throttle_peek(db, &key).await?, now) {
            let _ = self
                .identity
                .audit
                .record(record(Outcome::Denied, "throttled"))
                .await;
            return Err(SsoError::Throttled(wait));
        }
        let stored = match (&account.password_hash, account.pepper_version) {
            (Some(phc), Some(v)) => Some(StoredPassword {
                phc: phc.clone(),
                pepper_version: u32::try_from(v).map_err(internal)?,
            }),
            _ => None,
        };
        let verified = self
            .identity
            .hashing
            .verify(password, stored)
            .await
            .map_err(internal)?;
        if verified == Verification::Mismatch {
            let mut tx = db.begin().await?;
            let previous = identity::throttle_get(&mut tx, &key).await?;
            identity::throttle_put(&mut tx, &key, throttle::after_failure(previous, now)).await?;
            self.identity
                .audit
                .record_in(&mut tx, record(Outcome::Failure, "wrong_password"))
                .await
                .map_err(internal)?;
            tx.commit().await?;
            return Err(SsoError::WrongPassword);
        }
        let has_factor = self.identity.has_second_factor(user).await?;
        if let Err(e) = self.identity.reset_second_factor(user, code, origin).await {
            let _ = self
                .identity
                .audit
                .record(record(Outcome::Failure, "second_factor"))
                .await;
            return Err(match e {
                IdentityError::Invalid {
                    code: "second_factor_required",
                    ..
                } => SsoError::InvalidCode,
                IdentityError::Invalid { .. } => SsoError::InvalidCode,
                other => other.into(),
            });
        }
        let row = self.provider(tenant).await?;
        let member = identity::role_in(db, tenant, user).await?;
        let jit_role: Role = row.jit_role.parse().unwrap_or(Role::Contributor);
        // Read before the transaction, which must not wait for a second pooled connection.
        let email = match &member {
            Some(_) => String::new(),
            None => identity::user_by_id(db, user)
                .await?
                .map(|u| u.email)
                .unwrap_or_default(),
        };
        let mut tx = db.begin().await?;
        // A newcomer to the tenant joins through a live invitation (used up here) or
        // just-in-time membership.
        let joining_role = match &member {
            Some(_) => None,
            None => match identity::take_invitation_for(&mut tx, tenant, &email, now).await? {
                Some((r, limits)) => Some((r.parse().unwrap_or(Role::Contributor), limits)),
                None if row.jit => Some((jit_role, identity::MembershipLimits::default())),
                None => return Err(SsoError::NoAccess),
            },
        };
        let role = member
            .as_deref()
            .and_then(|r| r.parse().ok())
            .or(joining_role.map(|j| j.0))
            .unwrap_or(jit_role);
        if !store::take_link_offer(&mut tx, offer.id, now).await? {
            return Err(SsoError::LinkGone);
        }
        store::insert_identity(&mut tx, &issuer, &subject, user, tenant, now)
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    SsoError::AlreadyLinked
                } else {
                    e.into()
                }
            })?;
        if let Some((joining, limits)) = joining_role {
            identity::insert_membership(&mut tx, tenant, user, joining.as_str(), now).await?;
            identity::set_membership_limits(&mut tx, tenant, user, limits).await?;
        }
        identity::throttle_clear(&mut tx, &key).await?;
        identity::touch_login(&mut tx, user, now).await?;
        let standing = if has_factor || row.enforce {
            Standing::Full
        } else {
            Identity::standing_without_second_factor(&mut tx, Some((tenant, role))).await?
        };
        let (token, session) = sessions::start(
            &mut tx,
            user,
            Some((tenant, role)),
            client,
            self.identity.policy,
            now,
            has_factor || row.enforce,
            standing,
        )
        .await?;
        self.identity
            .audit
            .record_in(
                &mut tx,
                record(Outcome::Success, "confirmed")
                    .object("session", session.id)
                    .details(serde_json::json!({
                        "issuer": issuer,
                        "membership_created": member.is_none(),
                    })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(SsoOutcome::SignedIn(token, session, offer.next_path))
    }

    // -----------------------------------------------------------------------------------
    // Settings (owners and admins; SEC-29 step-up to change them).

    fn manager(session: &VerifiedSession) -> Result<(TenantId, Role), SsoError> {
        match session.tenant {
            Some((t, role @ (Role::Owner | Role::Admin))) => Ok((t, role)),
            Some(_) => Err(SsoError::Forbidden),
            None => Err(SsoError::NotConfigured),
        }
    }

    /// The tenant's provider settings, if any (owners and admins).
    ///
    /// # Errors
    /// [`SsoError::Forbidden`].
    pub async fn settings(
        &self,
        session: &VerifiedSession,
    ) -> Result<Option<SsoSettings>, SsoError> {
        let (tenant, _) = Self::manager(session)?;
        let from_operator = self.operator.get(tenant).await?.is_some();
        Ok(store::provider_of(&self.identity.db, tenant)
            .await?
            .as_ref()
            .map(settings_of)
            .map(|mut v| {
                v.client_secret_from_operator = from_operator;
                v.client_secret_set |= from_operator;
                v
            }))
    }

    /// Saves the tenant's provider: validates every field, checks the issuer by fetching its
    /// discovery document, seals a new client secret with the tenant's Critical key (the
    /// secret is never shown again, logged or audited), and records `tenant.sso_config`.
    ///
    /// # Errors
    /// [`SsoError::Invalid`] naming the field, [`SsoError::Forbidden`],
    /// [`SsoError::ReauthRequired`].
    pub async fn save_settings(
        &self,
        session: &VerifiedSession,
        input: SsoSettingsInput,
        origin: Origin,
    ) -> Result<SsoSettings, SsoError> {
        let (tenant, _role) = Self::manager(session)?;
        self.identity.require_recent_proof(session)?;
        let existing = store::provider_of(&self.identity.db, tenant).await?;
        let display_name = validate_name("display_name", &input.display_name, 60)?;
        let issuer = Issuer::parse(&input.issuer, self.oidc.policy()).map_err(|message| {
            SsoError::Invalid {
                field: "issuer",
                code: "invalid_issuer",
                message,
            }
        })?;
        let client_id = input.client_id.trim().to_owned();
        if client_id.is_empty()
            || client_id.len() > 255
            || client_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(SsoError::Invalid {
                field: "client_id",
                code: "invalid_client_id",
                message:
                    "Enter the client id the provider gave you (up to 255 characters, no spaces)."
                        .to_owned(),
            });
        }
        let secret = input
            .client_secret
            .filter(|s| !s.expose().trim().is_empty());
        if let Some(s) = &secret
            && (s.expose().len() > 512 || s.expose().chars().any(char::is_control))
        {
            return Err(SsoError::Invalid {
                field: "client_secret",
                code: "invalid_client_secret",
                message: "The client secret is at most 512 characters, without line breaks."
                    .to_owned(),
            });
        }
        let from_operator = self.operator.get(tenant).await?.is_some();
        if secret.is_none() && existing.is_none() && !from_operator {
            return Err(SsoError::Invalid {
                field: "client_secret",
                code: "client_secret_required",
                message: "Enter the client secret the provider gave you.".to_owned(),
            });
        }
        let domains = parse_domains(&input.allowed_domains)?;
        // New members are never owners, and never above the configuring admin (who is at
        // least an admin).
        let jit_role = match input.jit_role.trim().parse::<Role>() {
            Ok(r) if r != Role::Owner && r.grantable_by(Role::Admin) => r,
            _ => {
                return Err(SsoError::Invalid {
                    field: "jit_role",
                    code: "invalid_role",
                    message: "Choose the role new members get (any role but owner).".to_owned(),
                });
            }
        };
        if input.enforce {
            // Do not lock the administrator out: they must be able to sign in through this
            // provider, or be an owner with a second factor (break-glass).
            let linked = store::identities_of_user(&self.identity.db, session.user)
                .await?
                .iter()
                .any(|(iss, _)| iss == issuer.as_str());
            let owner_with_factor = matches!(session.tenant, Some((_, Role::Owner)))
                && self.identity.has_second_factor(session.user).await?;
            if !linked && !owner_with_factor {
                return Err(SsoError::Invalid {
                    field: "enforce",
                    code: "enforce_would_lock_out",
                    message: "Sign in with this provider once before you enforce single sign-on, so that you are not locked out.".to_owned(),
                });
            }
        }
        if let Err(e) = self.oidc.discover(&issuer).await {
            tracing::warn!(code = e.code(), detail = %e.detail(), "SSO settings: discovery failed");
            return Err(SsoError::Invalid {
                field: "issuer",
                code: "issuer_discovery_failed",
                message: format!(
                    "Attest could not read the provider's discovery document at {}/.well-known/openid-configuration ({}). Check the issuer URL and that the provider is reachable from the Attest server.",
                    issuer.as_str(),
                    match e {
                        ProviderFailure::DiscoveryUnavailable(_) =>
                            "it did not answer, or answered with an error",
                        _ =>
                            "its answer is not a valid OpenID Connect discovery document for this issuer",
                    }
                ),
            });
        }
        let sealed = match &secret {
            Some(s) => self
                .identity
                .keys
                .seal(
                    tenant,
                    Classification::Critical,
                    &secret_aad(tenant),
                    s.expose().as_bytes(),
                )
                .await
                .map_err(internal)?,
            None => Vec::new(),
        };
        let row = ProviderRow {
            tenant_id: tenant.as_uuid(),
            display_name,
            issuer: issuer.as_str().to_owned(),
            client_id,
            client_secret: sealed,
            allowed_domains: domains.join(" "),
            jit: input.jit,
            jit_role: jit_role.as_str().to_owned(),
            enforce: input.enforce,
        };
        let now = self.identity.clock.now();
        // Read before the transaction: it must not wait for a second pooled connection.
        let members = identity::members_of(&self.identity.db, tenant).await?;
        let mut tx = self.identity.db.begin().await?;
        if secret.is_some() || existing.is_none() {
            // A new provider whose secret the operator gives is stored without one.
            store::upsert_provider(&mut tx, &row, now).await?;
        } else if !store::update_provider_keeping_secret(&mut tx, &row, now).await? {
            return Err(SsoError::Invalid {
                field: "client_secret",
                code: "client_secret_required",
                message: "Enter the client secret the provider gave you.".to_owned(),
            });
        }
        // Turning enforcement on ends the members' sessions (all but this one), so sessions
        // begun with a password do not outlive the rule (SEC-19): everyone comes back
        // through the provider, or, for owners with a second factor, break-glass.
        let mut sessions_ended = 0;
        if row.enforce && !existing.as_ref().is_some_and(|e| e.enforce) {
            for member in &members {
                sessions_ended += identity::end_sessions_of_user(
                    &mut tx,
                    UserId::from_uuid(member.id),
                    Some(session.id.as_uuid()),
                    "sso_enforced",
                    now,
                )
                .await?;
            }
        }
        self.identity
            .audit
            .record_in(
                &mut tx,
                self.identity
                    .user_record(session, "tenant.sso_config", Outcome::Success, origin)
                    .object("tenant", tenant)
                    .details(serde_json::json!({
                        "created": existing.is_none(),
                        "display_name": row.display_name,
                        "issuer": row.issuer,
                        "client_id": row.client_id,
                        "client_secret_changed": secret.is_some(),
                        "allowed_domains": domains,
                        "jit": row.jit,
                        "jit_role": row.jit_role,
                        "enforce": row.enforce,
                        "sessions_ended": sessions_ended,
                    })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        let mut view = settings_of(&row);
        view.client_secret_set = true;
        view.client_secret_from_operator = from_operator;
        Ok(view)
    }

    /// Removes the tenant's provider (SEC-29 step-up). Members sign in with passwords again.
    ///
    /// # Errors
    /// [`SsoError::Forbidden`], [`SsoError::ReauthRequired`], [`SsoError::NotConfigured`].
    pub async fn remove_settings(
        &self,
        session: &VerifiedSession,
        origin: Origin,
    ) -> Result<(), SsoError> {
        let (tenant, _) = Self::manager(session)?;
        self.identity.require_recent_proof(session)?;
        let mut tx = self.identity.db.begin().await?;
        if !store::delete_provider(&mut tx, tenant).await? {
            return Err(SsoError::NotConfigured);
        }
        self.identity
            .audit
            .record_in(
                &mut tx,
                self.identity
                    .user_record(session, "tenant.sso_config", Outcome::Success, origin)
                    .object("tenant", tenant)
                    .details(serde_json::json!({ "removed": true })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parameters_are_read_once_and_bounded() {
        let p = |v: &[(&str, &str)]| {
            CallbackParams::parse(v.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        };
        assert!(p(&[("state", "a"), ("code", "b"), ("iss", "x")]).is_ok());
        assert!(p(&[("state", "a"), ("state", "b")]).is_err());
        assert!(p(&[("code", "a"), ("code", "a")]).is_err());
        assert!(p(&[("state", "")]).is_err());
        assert!(p(&[("state", &"x".repeat(MAX_PARAM_LEN + 1))]).is_err());
        let e = p(&[("error", "access_denied<script>")]).unwrap_or_default();
        assert_eq!(e.error.as_deref(), Some("access_deniedscript"));
    }

    #[test]
    fn derived_secrets_differ_by_browser_and_state() {
        let a = flow_secrets("browser-a", "state-1");
        let b = flow_secrets("browser-b", "state-1");
        let c = flow_secrets("browser-a", "state-2");
        assert_ne!(*a.nonce, *b.nonce);
        assert_ne!(*a.pkce_verifier, *c.pkce_verifier);
        assert_ne!(*a.nonce, *a.pkce_verifier);
        assert_eq!(a.pkce_verifier.len(), 43);
    }

    #[test]
    fn domains_are_checked_and_normalised() {
        assert_eq!(
            parse_domains("Example.com, @acme.test\nexample.com").ok(),
            Some(vec!["example.com".to_owned(), "acme.test".to_owned()])
        );
        assert!(parse_domains("").is_err());
        assert!(parse_domains("localhost").is_err());
        assert!(parse_domains("a..b").is_err());
        assert!(parse_domains("exa mple.com<").is_err());
    }
}
