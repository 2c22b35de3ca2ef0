//! Identity use cases: tenants, users, bootstrap of the first administrator (SEC-11), login
//! (see `authn::login`), sign-out, password change (SEC-05), session list and revocation
//! (SEC-28).

use std::net::IpAddr;
use std::sync::Arc;

use attest_crypto::Zeroizing;
use attest_crypto::password::{StoredPassword, Verification};
use attest_crypto::random;
use attest_db::identity::{self, NewToken};
use attest_db::{Db, DbError};
use attest_types::{Actor, Clock, RequestId, Role, SessionId, TenantId, UserId};
use time::Duration;

use crate::audit::{AuditLog, AuditRecord, Outcome};
use crate::authn::hashing::HashingPool;
use crate::authn::password_policy::{self, PasswordContext, PasswordRejection};
use crate::authn::sessions::{self, ClientFacts, SessionPolicy, SessionToken, VerifiedSession};
use crate::authn::throttle::IpLimiter;
use crate::keys::KeyService;
use crate::mail::Mailer;

/// How long a bootstrap link stays valid.
pub const BOOTSTRAP_VALIDITY: Duration = Duration::hours(24);

/// An identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Input is invalid; the message says what to change.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Stable code.
        code: &'static str,
        /// What to do.
        message: String,
    },
    /// A one-time link was used already or has expired.
    #[error("this link is no longer valid")]
    LinkGone,
    /// A one-time link does not exist.
    #[error("this link is not valid")]
    LinkUnknown,
    /// The current password is wrong.
    #[error("the current password is not correct")]
    WrongPassword,
    /// The name or address is taken.
    #[error("{0} is already in use")]
    Taken(&'static str),
    /// Bootstrap is over: users exist.
    #[error("the installation already has users; use an invitation instead")]
    AlreadyBootstrapped,
    /// Not found (or not visible).
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow this.
    #[error("not allowed")]
    Forbidden,
    /// The change would leave the tenant without an owner.
    #[error("a tenant must keep at least one owner")]
    LastOwner,
    /// A sensitive action needs a proof of presence from the last ten minutes (SEC-29).
    #[error("confirm it is you to continue")]
    ReauthRequired,
    /// A second-factor code is wrong, used or expired.
    #[error("the code is not correct")]
    InvalidCode,
    /// Too many wrong TOTP codes in this step (SEC-15).
    #[error("too many wrong codes; wait for the next code")]
    TotpLocked(Duration),
    /// Too many attempts; wait.
    #[error("too many attempts; wait a moment")]
    Throttled(Duration),
    /// A factor method Attest does not offer (SMS and voice included, SEC-13).
    #[error("this method is not supported")]
    UnsupportedMethod,
    /// The user's organisation signs its members in through its identity provider
    /// (SEC-19).
    #[error("sign in through your organisation's identity provider")]
    SsoRequired {
        /// The enforcing tenant.
        tenant: TenantId,
        /// Its provider's button text.
        provider: String,
    },
    /// A passkey sign-in was refused (one answer for every reason, SEC-08).
    #[error("the passkey could not be verified")]
    PasskeyRejected,
    /// The user's role or tenant requires a second factor; the only one cannot go.
    #[error("a second factor is required for your role or organisation")]
    SecondFactorRequired,
    /// Database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl IdentityError {
    pub(crate) fn password(rejection: &PasswordRejection) -> Self {
        Self::Invalid {
            field: "password",
            code: rejection.code(),
            message: rejection.message(),
        }
    }
}

/// The request behind an action, for the audit trail.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Correlation id.
    pub request_id: Option<RequestId>,
}

/// A session as listed to its user.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    /// Id.
    pub id: SessionId,
    /// Started.
    pub created_at: time::OffsetDateTime,
    /// Last activity.
    pub last_seen_at: time::OffsetDateTime,
    /// Address at sign-in.
    pub source_ip: Option<String>,
    /// Browser at sign-in.
    pub user_agent: Option<String>,
    /// Whether this is the session asking.
    pub current: bool,
}

/// The identity services of one installation.
#[derive(Debug, Clone)]
pub struct Identity {
    pub(crate) db: Db,
    pub(crate) audit: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hashing: HashingPool,
    pub(crate) policy: SessionPolicy,
    pub(crate) ip_limiter: Arc<IpLimiter>,
    pub(crate) reset_ip_limiter: Arc<IpLimiter>,
    pub(crate) mailer: Mailer,
    pub(crate) keys: Arc<KeyService>,
    /// The WebAuthn relying party; `None` when passkeys are off (an IP-address origin).
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Request limits of API tokens (SEC-78).
    pub(crate) api_limits: Arc<crate::authn::api_tokens::ApiLimits>,
}

pub(crate) fn validate_name(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, IdentityError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(IdentityError::Invalid {
            field,
            code: "invalid",
            message: format!("Enter 1 to {max} characters, without control characters."),
        });
    }
    Ok(v.to_owned())
}

/// Checks an email address's shape (one `@`, a dot in the domain, ≤ 254 characters).
///
/// # Errors
/// [`IdentityError::Invalid`] naming the field.
pub fn validate_email(value: &str) -> Result<String, IdentityError> {
    let email = crate::authn::login::normalise_email(value);
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
                && email.matches('@').count() == 1
        })
        && !email.chars().any(char::is_control);
    if !ok {
        return Err(IdentityError::Invalid {
            field: "email",
            code: "invalid_email",
            message: "Enter an email address such as name@example.com.".to_owned(),
        });
    }
    Ok(email)
}

impl Identity {
    /// The identity services.
    #[must_use]
    pub fn new(
        db: Db,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        hashing: HashingPool,
        policy: SessionPolicy,
        mailer: Mailer,
        keys: Arc<KeyService>,
    ) -> Self {
        Self {
            keys,
            db,
            audit,
            clock,
            hashing,
            policy,
            ip_limiter: Arc::new(IpLimiter::default()),
            // SEC-07: at most 20 reset requests per address per hour.
            reset_ip_limiter: Arc::new(IpLimiter::new(20, 3600)),
            mailer,
            webauthn: None,
            api_limits: crate::authn::api_tokens::limits(),
        }
    }

    /// The mailer (for the delivery task).
    #[must_use]
    pub const fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Session lifetimes in force.
    #[must_use]
    pub const fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Checks a session cookie.
    ///
    /// # Errors
    /// Why it does not authenticate.
    pub async fn authenticate(
        &self,
        token: &str,
        background: bool,
    ) -> Result<VerifiedSession, sessions::SessionFailure> {
        sessions::authenticate(&self.db, token, background, self.policy, self.clock.now()).await
    }

    /// Issues a bootstrap link token when the installation has no user yet, voiding older
    /// ones. `None` once users exist (SEC-11: no default accounts, one-time CLI bootstrap).
    ///
    /// # Errors
    /// On database failure.
    pub async fn issue_bootstrap(&self) -> Result<Option<Zeroizing<String>>, IdentityError> {
        if identity::count_users(&self.db).await? > 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let token = Zeroizing::new(random::token().map_err(internal)?);
        let mut tx = self.db.begin().await?;
        identity::void_tokens(&mut tx, "bootstrap", now).await?;
        identity::insert_token(
            &mut tx,
            &NewToken {
                purpose: "bootstrap",
                token_hash: &link_hash(&token),
                tenant: None,
                user: None,
                email: None,
                role: Some(Role::Owner.as_str()),
                created_by: None,
                now,
                expires_at: now + BOOTSTRAP_VALIDITY,
                limits: identity::MembershipLimits::default(),
            },
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::system(Actor::Operator, "bootstrap.issue", Outcome::Success),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// Whether a bootstrap link is usable (to show its form).
    ///
    /// # Errors
    /// [`IdentityError::LinkUnknown`] or [`IdentityError::LinkGone`].
    pub async fn check_bootstrap(&self, token: &str) -> Result<(), IdentityError> {
        self.peek_link("bootstrap", token).await.map(|_| ())
    }

    /// Creates the first tenant and its owner from a bootstrap link, and signs them in.
    ///
    /// # Errors
    /// Invalid input (nothing is used up), or a link that is unknown, used or expired.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_bootstrap(
        &self,
        token: &str,
        tenant_name: &str,
        name: &str,
        email: &str,
        password: Zeroizing<String>,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<(SessionToken, VerifiedSession), IdentityError> {
        self.check_bootstrap(token).await?;
        let tenant_name = validate_name("tenant", tenant_name, 100)?;
        let name = validate_name("name", name, 100)?;
        let email = validate_email(email)?;
        password_policy::check(
            &password,
            &PasswordContext {
                email: &email,
                name: &name,
                tenants: vec![&tenant_name],
                has_mfa: false,
            },
        )
        .map_err(|r| IdentityError::password(&r))?;
        let stored = self.hashing.hash(password).await.map_err(internal)?;
        let now = self.clock.now();
        if identity::count_users(&self.db).await? > 0 {
            return Err(IdentityError::AlreadyBootstrapped);
        }
        let mut tx = self.db.begin().await?;
        self.take_link(&mut tx, "bootstrap", token, now).await?;
        let tenant = TenantId::new_random();
        let user = UserId::new_random();
        identity::insert_tenant(&mut tx, tenant, &tenant_name, now).await?;
        identity::insert_user(
            &mut tx,
            user,
            &email,
            &name,
            Some((&stored.phc, stored.pepper_version)),
            now,
        )
        .await?;
        identity::insert_membership(&mut tx, tenant, user, Role::Owner.as_str(), now).await?;
        // SEC-12: an owner always needs a second factor; the first page asks for it.
        let (token, session) = sessions::start(
            &mut tx,
            user,
            Some((tenant, Role::Owner)),
            client,
            self.policy,
            now,
            false,
            sessions::Standing::MustEnrolSecondFactor,
        )
        .await?;
        for (action, kind, id) in [
            ("tenant.create", "tenant", tenant.to_string()),
            ("user.create", "user", user.to_string()),
            ("bootstrap.complete", "user", user.to_string()),
        ] {
            self.audit
                .record_in(
                    &mut tx,
                    AuditRecord::tenant(tenant, Actor::User(user), action, Outcome::Success)
                        .object(kind, id)
                        .request(origin.ip, origin.request_id),
                )
                .await
                .map_err(internal)?;
        }
        tx.commit().await?;
        Ok((token, session))
    }

    /// Ends the current session (sign-out).
    ///
    /// # Errors
    /// On database failure.
    pub async fn logout(
        &self,
        session: &VerifiedSession,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        self.end_session(session, session.id, "logout", origin)
            .await
            .map(|_| ())
    }

    /// Ends one of the user's own sessions. Returns false if it was not theirs or not live.
    ///
    /// # Errors
    /// On database failure.
    pub async fn end_session(
        &self,
        session: &VerifiedSession,
        target: SessionId,
        reason: &str,
        origin: Origin,
    ) -> Result<bool, IdentityError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let ended =
            identity::end_session(&mut tx, session.user, target.as_uuid(), reason, now).await?;
        if ended {
            self.audit
                .record_in(
                    &mut tx,
                    self.user_record(session, "session.end", Outcome::Success, origin)
                        .object("session", target)
                        .details(serde_json::json!({ "reason": reason })),
                )
                .await
                .map_err(internal)?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    pub(crate) fn user_record(
        &self,
        session: &VerifiedSession,
        action: &str,
        outcome: Outcome,
        origin: Origin,
    ) -> AuditRecord {
        match session.tenant {
            Some((t, _)) => AuditRecord::tenant(t, Actor::User(session.user), action, outcome),
            None => AuditRecord::system(Actor::User(session.user), action, outcome),
        }
        .request(origin.ip, origin.request_id)
    }

    /// The user's live sessions.
    ///
    /// # Errors
    /// On database failure.
    pub async fn sessions(
        &self,
        session: &VerifiedSession,
    ) -> Result<Vec<SessionSummary>, IdentityError> {
        let now = self.clock.now();
        Ok(identity::live_sessions_of_user(&self.db, session.user, now)
            .await?
            .into_iter()
            .filter(|s| now - s.last_seen_at < self.policy.idle)
            .map(|s| SessionSummary {
                id: SessionId::from_uuid(s.id),
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                source_ip: s.source_ip,
                user_agent: s.user_agent,
                current: s.id == session.id.as_uuid(),
            })
            .collect())
    }

    /// Changes the user's password: the current one is required, the new one must pass the
    /// policy, and every other session of the user ends (SEC-05).
    ///
    /// # Errors
    /// [`IdentityError::WrongPassword`] or an invalid new password; nothing changes then.
    pub async fn change_password(
        &self,
        session: &VerifiedSession,
        current: Zeroizing<String>,
        new: Zeroizing<String>,
        origin: Origin,
    ) -> Result<u64, IdentityError> {
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        // SEC-29: the current password proves presence only for users without a second
        // factor; others confirm with it first.
        let has_mfa = self.has_second_factor(session.user).await?;
        if has_mfa {
            self.require_recent_proof(session)?;
        }
        let stored = match (&user.password_hash, user.pepper_version) {
            (Some(phc), Some(v)) => Some(StoredPassword {
                phc: phc.clone(),
                pepper_version: u32::try_from(v)
                    .map_err(|_| IdentityError::Internal("pepper version".into()))?,
            }),
            _ => None,
        };
        let verified = self
            .hashing
            .verify(current, stored)
            .await
            .map_err(internal)?;
        if verified == Verification::Mismatch {
            let _ = self
                .audit
                .record(self.user_record(session, "user.password_change", Outcome::Failure, origin))
                .await;
            return Err(IdentityError::WrongPassword);
        }
        let tenants = identity::memberships_of(&self.db, session.user).await?;
        password_policy::check(
            &new,
            &PasswordContext {
                email: &user.email,
                name: &user.display_name,
                tenants: tenants.iter().map(|t| t.1.as_str()).collect(),
                has_mfa,
            },
        )
        .map_err(|r| IdentityError::password(&r))?;
        let stored = self.hashing.hash(new).await.map_err(internal)?;
        let notice = self
            .mailer
            .prepare(
                &user.email,
                "Your Attest password was changed",
                &crate::onboarding::password_changed_text(&user.display_name),
            )
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        identity::set_password(&mut tx, session.user, &stored.phc, stored.pepper_version).await?;
        self.mailer.enqueue(&mut tx, notice).await?;
        let ended = identity::end_sessions_of_user(
            &mut tx,
            session.user,
            Some(session.id.as_uuid()),
            "password_changed",
            now,
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "user.password_change", Outcome::Success, origin)
                    .object("user", session.user)
                    .details(serde_json::json!({ "other_sessions_ended": ended })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(ended)
    }

    /// The user's tenants: id, name, role.
    ///
    /// # Errors
    /// On database failure.
    pub async fn tenants_of(
        &self,
        user: UserId,
    ) -> Result<Vec<(TenantId, String, Role)>, IdentityError> {
        Ok(identity::memberships_of(&self.db, user)
            .await?
            .into_iter()
            .filter_map(|(id, name, role)| {
                Some((TenantId::from_uuid(id), name, role.parse().ok()?))
            })
            .collect())
    }
}

impl Identity {
    /// Creates a tenant (operator CLI).
    ///
    /// # Errors
    /// Invalid or taken name.
    pub async fn create_tenant(&self, name: &str, actor: Actor) -> Result<TenantId, IdentityError> {
        let name = validate_name("tenant", name, 100)?;
        if identity::tenant_by_name(&self.db, &name).await?.is_some() {
            return Err(IdentityError::Taken("tenant name"));
        }
        let id = TenantId::new_random();
        let mut tx = self.db.begin().await?;
        identity::insert_tenant(&mut tx, id, &name, self.clock.now())
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    IdentityError::Taken("tenant name")
                } else {
                    e.into()
                }
            })?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::tenant(id, actor, "tenant.create", Outcome::Success)
                    .object("tenant", id),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates a user with a password and a role in an existing tenant (operator CLI). An
    /// existing user (same email) only gains the membership; their password is not touched.
    ///
    /// # Errors
    /// Unknown tenant, invalid input or password, or an existing membership.
    pub async fn create_member(
        &self,
        tenant_name: &str,
        email: &str,
        name: &str,
        role: Role,
        password: Zeroizing<String>,
        actor: Actor,
    ) -> Result<UserId, IdentityError> {
        let tenant = identity::tenant_by_name(&self.db, tenant_name.trim())
            .await?
            .ok_or(IdentityError::NotFound)?;
        let email = validate_email(email)?;
        let name = validate_name("name", name, 100)?;
        let existing = identity::user_by_email(&self.db, &email).await?;
        let stored = if existing.is_none() {
            password_policy::check(
                &password,
                &PasswordContext {
                    email: &email,
                    name: &name,
                    tenants: vec![tenant_name],
                    has_mfa: false,
                },
            )
            .map_err(|r| IdentityError::password(&r))?;
            Some(self.hashing.hash(password).await.map_err(internal)?)
        } else {
            None
        };
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let user = match (&existing, &stored) {
            (Some(u), _) => UserId::from_uuid(u.id),
            (None, Some(p)) => {
                let id = UserId::new_random();
                identity::insert_user(
                    &mut tx,
                    id,
                    &email,
                    &name,
                    Some((&p.phc, p.pepper_version)),
                    now,
                )
                .await?;
                id
            }
            (None, None) => return Err(IdentityError::Internal("no password hash".into())),
        };
        identity::insert_membership(&mut tx, tenant, user, role.as_str(), now)
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    IdentityError::Taken("membership")
                } else {
                    e.into()
                }
            })?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::tenant(tenant, actor, "membership.create", Outcome::Success)
                    .object("user", user)
                    .details(serde_json::json!({ "role": role.as_str(), "new_user": existing.is_none() })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(user)
    }

    /// The signed-in user's email and the name of the tenant they work in.
    ///
    /// # Errors
    /// On database failure, or if the user vanished.
    pub async fn whoami(
        &self,
        session: &VerifiedSession,
    ) -> Result<(String, Option<String>), IdentityError> {
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let tenant = match session.tenant {
            Some((t, _)) => identity::memberships_of(&self.db, session.user)
                .await?
                .into_iter()
                .find(|m| m.0 == t.as_uuid())
                .map(|m| m.1),
            None => None,
        };
        Ok((user.email, tenant))
    }
}

/// The one rule for one-time links: unknown → [`IdentityError::LinkUnknown`]; used or
/// expired → [`IdentityError::LinkGone`].
pub(crate) fn live_link(
    row: Option<identity::TokenRow>,
    now: time::OffsetDateTime,
) -> Result<identity::TokenRow, IdentityError> {
    let row = row.ok_or(IdentityError::LinkUnknown)?;
    if row.used_at.is_some() || now >= row.expires_at {
        return Err(IdentityError::LinkGone);
    }
    Ok(row)
}

/// Wraps any failure that callers cannot act on.
pub(crate) fn internal(e: impl std::fmt::Display) -> IdentityError {
    IdentityError::Internal(e.to_string())
}

impl Identity {
    /// A usable link of a purpose, read without using it up.
    pub(crate) async fn peek_link(
        &self,
        purpose: &str,
        link: &str,
    ) -> Result<identity::TokenRow, IdentityError> {
        live_link(
            identity::peek_token(&self.db, purpose, &link_hash(link)).await?,
            self.clock.now(),
        )
    }

    /// Uses a link up inside `tx`; fails (and the caller rolls back) unless it was usable.
    pub(crate) async fn take_link(
        &self,
        tx: &mut attest_db::Tx,
        purpose: &str,
        link: &str,
        now: time::OffsetDateTime,
    ) -> Result<identity::TokenRow, IdentityError> {
        live_link(
            identity::take_token(tx, purpose, &link_hash(link), now).await?,
            now,
        )
    }
}

/// SHA-256 of a one-time link token: what the database keeps.
#[must_use]
pub fn link_hash(token: &str) -> [u8; 32] {
    let mut input = b"attest/one-time-link/v1\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    random::sha256(&input)
}
