//! API tokens (SEC-77, SEC-78): a user makes named tokens for scripts, each acting for the
//! user in one tenant with a scope (read or write) until it expires (at most a year). A token
//! is shown once; only its SHA-256 is stored. A request with `Authorization: Bearer` is
//! authenticated here into the same [`VerifiedSession`] a browser session gives, marked with
//! the token's scope, and counted against per-token, per-user and per-address limits.
//!
//! A token can never prove presence: its `reauth_at` is the epoch, so every sensitive action
//! (SEC-29), making tokens included, stays with a person at a browser.

use std::net::IpAddr;
use std::sync::Arc;

use attest_crypto::Zeroizing;
use attest_crypto::random;
use attest_db::api_token::{self as store, NewToken};
use attest_db::identity;
use attest_types::{SessionId, TenantId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::mfa::notice;
use super::sessions::{Standing, VerifiedSession};
use super::throttle::Limiter;
use crate::audit::Outcome;
use crate::identity::{Identity, IdentityError, Origin, internal, validate_name};

/// The prefix of every token, so secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "attest_pat_";
/// The longest a token may live.
pub const MAX_DAYS: u32 = 365;
/// Live tokens a user may hold.
pub const MAX_TOKENS: usize = 25;
/// Requests per minute per token, per user (all tokens) and per address.
pub const PER_TOKEN_PER_MINUTE: u32 = 120;
/// Requests per minute per user across all tokens.
pub const PER_USER_PER_MINUTE: u32 = 300;
/// Requests per minute per client address with tokens.
pub const PER_IP_PER_MINUTE: u32 = 600;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Reads only (GET).
    Read,
    /// Reads and writes, within the user's role.
    Write,
}

impl TokenScope {
    /// Stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    /// From its name.
    ///
    /// # Errors
    /// [`IdentityError::Invalid`] for anything else.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        match text {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            _ => Err(IdentityError::Invalid {
                field: "scope",
                code: "invalid_scope",
                message: "Choose read or write.".to_owned(),
            }),
        }
    }
}

/// The request limits of token use (SEC-78), in memory.
#[derive(Debug)]
pub struct ApiLimits {
    token: Limiter<Uuid>,
    user: Limiter<UserId>,
    ip: Limiter<IpAddr>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            token: Limiter::new(PER_TOKEN_PER_MINUTE, 60),
            user: Limiter::new(PER_USER_PER_MINUTE, 60),
            ip: Limiter::new(PER_IP_PER_MINUTE, 60),
        }
    }
}

/// A token just made: shown once.
pub struct NewApiToken {
    /// Its id.
    pub id: Uuid,
    /// The token itself.
    pub token: Zeroizing<String>,
    /// Its end.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewApiToken({}, [redacted])", self.id)
    }
}

/// A token as its owner sees it listed (never the token).
#[derive(Debug, Clone)]
pub struct ApiTokenSummary {
    /// Id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// Scope.
    pub scope: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Its end.
    pub expires_at: OffsetDateTime,
    /// Last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// Revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Neither revoked nor expired.
    pub live: bool,
}

/// Why a bearer token does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    /// Unknown, expired, revoked, or its user or membership is gone (one answer).
    Invalid,
    /// Over a request limit: wait this long.
    Throttled(Duration),
    /// The database could not be reached in time; the token may be valid, so retry.
    Unavailable,
}

/// A failed token lookup: unavailable when the database is busy or down, else invalid.
fn lookup_failure(e: attest_db::DbError) -> TokenFailure {
    if e.is_unavailable() {
        TokenFailure::Unavailable
    } else {
        TokenFailure::Invalid
    }
}

fn hash(token: &str) -> [u8; 32] {
    let mut input = b"attest/api-token/v1\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    random::sha256(&input)
}

impl Identity {
    /// Makes a token for the session's user in its tenant (SEC-29: needs a recent proof, so
    /// a token cannot make tokens). The user is told by mail.
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`], [`IdentityError::Invalid`] for a bad name, scope
    /// or lifetime or too many tokens, [`IdentityError::NotFound`] without a tenant.
    pub async fn create_api_token(
        &self,
        session: &VerifiedSession,
        name: &str,
        scope: TokenScope,
        days: u32,
        origin: Origin,
    ) -> Result<NewApiToken, IdentityError> {
        self.require_recent_proof(session)?;
        let Some((tenant, _)) = session.tenant else {
            return Err(IdentityError::NotFound);
        };
        let name = validate_name("name", name, 64)?;
        if days == 0 || days > MAX_DAYS {
            return Err(IdentityError::Invalid {
                field: "expires_in_days",
                code: "invalid_lifetime",
                message: format!("A token lives between 1 and {MAX_DAYS} days."),
            });
        }
        let now = self.clock.now();
        let live = store::of_user(&self.db, session.user)
            .await?
            .iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
            .count();
        if live >= MAX_TOKENS {
            return Err(IdentityError::Invalid {
                field: "name",
                code: "too_many_tokens",
                message: format!(
                    "You have {MAX_TOKENS} live tokens; revoke one you no longer use first."
                ),
            });
        }
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let token = Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}",
            random::token().map_err(internal)?.as_str()
        ));
        let id = Uuid::new_v4();
        let expires_at = now + Duration::days(i64::from(days));
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "An API token was created for your Attest account",
                &notice(
                    &user.display_name,
                    &format!(
                        "An API token named \"{name}\" ({} access) was just created for your Attest account. It works until {}.",
                        scope.as_str(),
                        expires_at.date()
                    ),
                ),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        store::insert(
            &mut tx,
            &NewToken {
                id,
                user: session.user,
                tenant,
                name: &name,
                scope: scope.as_str(),
                token_hash: &hash(&token),
                expires_at,
            },
            now,
        )
        .await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "api_token.create", Outcome::Success, origin)
                    .object("api_token", id)
                    .details(serde_json::json!({
                        "scope": scope.as_str(),
                        "expires_at": expires_at.unix_timestamp(),
                    })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(NewApiToken {
            id,
            token,
            expires_at,
        })
    }

    /// The session user's tokens, newest first.
    ///
    /// # Errors
    /// On database failure.
    pub async fn api_tokens(
        &self,
        session: &VerifiedSession,
    ) -> Result<Vec<ApiTokenSummary>, IdentityError> {
        let now = self.clock.now();
        Ok(store::of_user(&self.db, session.user)
            .await?
            .into_iter()
            .map(|t| ApiTokenSummary {
                live: t.revoked_at.is_none() && t.expires_at > now,
                id: t.id,
                name: t.name,
                scope: t.scope,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Revokes one of the session user's tokens; it stops working at the next request.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] for an unknown, foreign or already revoked token.
    pub async fn revoke_api_token(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let id = Uuid::parse_str(id).map_err(|_| IdentityError::NotFound)?;
        let mut tx = self.db.begin().await?;
        if !store::revoke(&mut tx, session.user, id, self.clock.now()).await? {
            return Err(IdentityError::NotFound);
        }
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "api_token.revoke", Outcome::Success, origin)
                    .object("api_token", id),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// Authenticates a bearer token into the session it stands for, counting the request
    /// against the token's, the user's and the address's limits (SEC-78).
    ///
    /// # Errors
    /// [`TokenFailure`].
    pub async fn authenticate_api_token(
        &self,
        token: &str,
        ip: Option<IpAddr>,
    ) -> Result<VerifiedSession, TokenFailure> {
        let now = self.clock.now();
        if let Some(ip) = ip {
            self.api_limits
                .ip
                .hit(ip, now)
                .map_err(TokenFailure::Throttled)?;
        }
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(TokenFailure::Invalid);
        }
        let row = store::by_hash(&self.db, &hash(token))
            .await
            .map_err(lookup_failure)?
            .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
            .ok_or(TokenFailure::Invalid)?;
        let user = UserId::from_uuid(row.user_id);
        self.api_limits
            .token
            .hit(row.id, now)
            .map_err(TokenFailure::Throttled)?;
        self.api_limits
            .user
            .hit(user, now)
            .map_err(TokenFailure::Throttled)?;
        let active = identity::user_by_id(&self.db, user)
            .await
            .map_err(lookup_failure)?
            .is_some_and(|u| u.status == "active");
        if !active {
            return Err(TokenFailure::Invalid);
        }
        let membership = identity::membership_in(&self.db, user, row.tenant_id, now)
            .await
            .map_err(lookup_failure)?
            .ok_or(TokenFailure::Invalid)?;
        let role = membership.role.parse().map_err(|_| TokenFailure::Invalid)?;
        let visibility = if membership.shared_only {
            crate::access::Visibility::SharedOnly
        } else {
            crate::access::Visibility::Tenant
        };
        if row
            .last_used_at
            .is_none_or(|t| now - t >= Duration::minutes(1))
        {
            let _ = store::touch(&self.db, row.id, now).await;
        }
        let scope = TokenScope::parse(&row.scope).map_err(|_| TokenFailure::Invalid)?;
        Ok(VerifiedSession {
            id: SessionId::from_uuid(row.id),
            user,
            tenant: Some((TenantId::from_uuid(row.tenant_id), role)),
            csrf_token: String::new(),
            second_factor: true,
            reauth_at: OffsetDateTime::UNIX_EPOCH,
            standing: Standing::Full,
            token_scope: Some(scope),
            visibility,
        })
    }
}

impl Identity {
    /// Counts an API request made with a browser session against the user's and the
    /// address's limits (SEC-78), the same budgets token requests use.
    ///
    /// # Errors
    /// The time to wait when over a limit.
    pub fn count_api_request(&self, user: UserId, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Some(ip) = ip {
            self.api_limits.ip.hit(ip, now)?;
        }
        self.api_limits.user.hit(user, now)
    }
}

/// The limits, shared by clones of the identity service.
pub(crate) fn limits() -> Arc<ApiLimits> {
    Arc::new(ApiLimits::default())
}
