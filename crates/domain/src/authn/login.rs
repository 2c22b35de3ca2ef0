//! Login by email and password, with throttling and no user enumeration (SEC-06, SEC-08):
//! unknown accounts, accounts without a password and disabled accounts take the same path
//! (a dummy Argon2 verification) and get the same answer as a wrong password.

use std::net::IpAddr;

use attest_crypto::Zeroizing;
use attest_crypto::password::{StoredPassword, Verification, Verified};
use attest_db::identity;
use attest_types::{Actor, Role, TenantId, UserId};
use time::Duration;

use super::mfa::LoginStep;
use super::sessions::ClientFacts;
use super::sso::PasswordGate;
use super::throttle;
use crate::audit::{AuditRecord, Outcome};
use crate::identity::{Identity, IdentityError};

/// Why a login failed. Both variants look the same to the client apart from the status.
#[derive(Debug)]
pub enum LoginFailure {
    /// Wrong email or password (or unknown, disabled, no password: indistinguishable).
    Invalid,
    /// Too many attempts; try again after this long.
    Throttled(Duration),
    /// The password is right, but a tenant of the user enforces single sign-on (SEC-19).
    SsoRequired {
        /// The tenant.
        tenant: TenantId,
        /// Its provider's button text.
        provider: String,
    },
    /// Something broke.
    Internal(IdentityError),
}

/// Normalises an email address for lookup: trimmed and lowercase.
#[must_use]
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Identity {
    /// The password step of a sign-in. Users without a second factor get a session (and the
    /// user's other sessions end: one browser at a time); users with one get a pending login
    /// that [`Identity::complete_second_factor`] finishes.
    ///
    /// # Errors
    /// [`LoginFailure`]; every attempt is audited, never with the password.
    pub async fn login(
        &self,
        email: &str,
        password: Zeroizing<String>,
        client: &ClientFacts,
        ip: Option<IpAddr>,
        request_id: Option<attest_types::RequestId>,
    ) -> Result<LoginStep, LoginFailure> {
        let now = self.clock.now();
        let email = normalise_email(email);
        let key = throttle::account_key(&email);
        let audit_attempt =
            |outcome: Outcome, user: Option<UserId>, throttled: bool, reason: &str| {
                AuditRecord::system(
                    user.map_or(Actor::Anonymous, Actor::User),
                    "auth.login",
                    outcome,
                )
                .request(ip, request_id)
                .details(serde_json::json!({ "throttled": throttled, "reason": reason }))
            };
        if let Some(ip) = ip
            && let Err(retry) = self.ip_limiter.hit(ip, now)
        {
            let _ = self
                .audit
                .record(audit_attempt(Outcome::Denied, None, true, "ip_rate"))
                .await;
            return Err(LoginFailure::Throttled(retry));
        }
        // Is the account waiting? Read without holding a lock across the hash.
        let state = identity::throttle_peek(&self.db, &key)
            .await
            .map_err(|e| LoginFailure::Internal(e.into()))?;
        if let Some(retry) = throttle::wait(state, now) {
            let _ = self
                .audit
                .record(audit_attempt(Outcome::Denied, None, true, "account_wait"))
                .await;
            return Err(LoginFailure::Throttled(retry));
        }

        let user = identity::user_by_email(&self.db, &email)
            .await
            .map_err(|e| LoginFailure::Internal(e.into()))?;
        let stored = user.as_ref().and_then(|u| {
            Some(StoredPassword {
                phc: u.password_hash.clone()?,
                pepper_version: u32::try_from(u.pepper_version?).ok()?,
            })
        });
        let active = user.as_ref().is_some_and(|u| u.status == "active");
        let verification = self
            .hashing
            .verify(password.clone(), stored)
            .await
            .map_err(|e| LoginFailure::Internal(crate::identity::internal(e)))?;

        let (Verification::Match(freshness), Some(user), true) = (verification, user, active)
        else {
            let mut tx = self
                .db
                .begin()
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
            let previous = identity::throttle_get(&mut tx, &key)
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
            identity::throttle_put(&mut tx, &key, throttle::after_failure(previous, now))
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
            self.audit
                .record_in(
                    &mut tx,
                    audit_attempt(Outcome::Failure, None, false, "invalid_credentials"),
                )
                .await
                .map_err(|e| LoginFailure::Internal(crate::identity::internal(e)))?;
            tx.commit()
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
            return Err(LoginFailure::Invalid);
        };

        let user_id = UserId::from_uuid(user.id);
        // SEC-19: decided only after a correct password, so the answer reveals nothing to
        // someone without it.
        let break_glass = match self
            .sso_password_gate(user_id)
            .await
            .map_err(LoginFailure::Internal)?
        {
            PasswordGate::Open => None,
            PasswordGate::BreakGlass(t) => Some(t),
            PasswordGate::SsoRequired { tenant, provider } => {
                let _ = self
                    .audit
                    .record(
                        AuditRecord::tenant(
                            tenant,
                            Actor::User(user_id),
                            "auth.login",
                            Outcome::Denied,
                        )
                        .request(ip, request_id)
                        .details(
                            serde_json::json!({ "throttled": false, "reason": "sso_required" }),
                        ),
                    )
                    .await;
                return Err(LoginFailure::SsoRequired { tenant, provider });
            }
        };
        let tenant = self
            .default_tenant(user_id)
            .await
            .map_err(LoginFailure::Internal)?;
        let rehash = if freshness == Verified::NeedsRehash {
            Some(
                self.hashing
                    .hash(password)
                    .await
                    .map_err(|e| LoginFailure::Internal(crate::identity::internal(e)))?,
            )
        } else {
            None
        };
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(|e| LoginFailure::Internal(e.into()))?;
        identity::throttle_clear(&mut tx, &key)
            .await
            .map_err(|e| LoginFailure::Internal(e.into()))?;
        if let Some(fresh) = &rehash {
            identity::set_password(&mut tx, user_id, &fresh.phc, fresh.pepper_version)
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
        }
        let step = self
            .after_password(&mut tx, user_id, tenant, client, now)
            .await
            .map_err(LoginFailure::Internal)?;
        let second_factor = matches!(step, LoginStep::SecondFactor(_));
        if !second_factor {
            identity::touch_login(&mut tx, user_id, now)
                .await
                .map_err(|e| LoginFailure::Internal(e.into()))?;
        }
        let details = serde_json::json!({
            "throttled": false,
            "rehashed": rehash.is_some(),
            "second_factor_required": second_factor,
        });
        let action = if second_factor {
            "auth.password"
        } else {
            "auth.login"
        };
        let mut record = match tenant {
            Some((t, _)) => AuditRecord::tenant(t, Actor::User(user_id), action, Outcome::Success),
            None => AuditRecord::system(Actor::User(user_id), action, Outcome::Success),
        }
        .request(ip, request_id)
        .details(details);
        if let LoginStep::SignedIn(_, session) = &step {
            record = record.object("session", session.id);
        }
        if let Some(t) = break_glass {
            self.audit
                .record_in(
                    &mut tx,
                    AuditRecord::tenant(
                        t,
                        Actor::User(user_id),
                        "auth.sso_break_glass",
                        Outcome::Success,
                    )
                    .request(ip, request_id),
                )
                .await
                .map_err(|e| LoginFailure::Internal(crate::identity::internal(e)))?;
        }
        self.audit
            .record_in(&mut tx, record)
            .await
            .map_err(|e| LoginFailure::Internal(crate::identity::internal(e)))?;
        tx.commit()
            .await
            .map_err(|e| LoginFailure::Internal(e.into()))?;
        Ok(step)
    }

    /// The tenant a user starts in: the first by name.
    pub(crate) async fn default_tenant(
        &self,
        user: UserId,
    ) -> Result<Option<(TenantId, Role)>, IdentityError> {
        Ok(identity::memberships_of(&self.db, user)
            .await?
            .into_iter()
            .find_map(|(id, _, role)| Some((TenantId::from_uuid(id), role.parse().ok()?))))
    }
}
