//! Getting people in and back in: invitations by email (SEC-10) and password reset (SEC-07,
//! SEC-09), with notification mails (SEC-17). Links carry a 256-bit token; only its SHA-256
//! is stored. Mails never contain a password.

use attest_crypto::Zeroizing;
use attest_crypto::random;
pub use attest_db::identity::MembershipLimits;
use attest_db::identity::{self, NewToken};
use attest_types::{Actor, Role, TenantId, UserId};
use time::Duration;

use crate::audit::{AuditRecord, Outcome};
use crate::authn::password_policy::{self, PasswordContext};
use crate::authn::sessions::{self, ClientFacts, SessionToken, VerifiedSession};
use crate::identity::{
    Identity, IdentityError, Origin, internal, link_hash, validate_email, validate_name,
};

/// How long an invitation stays valid.
pub const INVITATION_VALIDITY: Duration = Duration::hours(72);
/// How long a reset link stays valid.
pub const RESET_VALIDITY: Duration = Duration::minutes(15);
/// Reset mails per account per hour.
pub const RESETS_PER_ACCOUNT_PER_HOUR: i64 = 3;

/// The body of the password-changed notice.
#[must_use]
pub fn password_changed_text(name: &str) -> String {
    format!(
        "Hello {name},\n\nThe password of your Attest account was just changed, and every other session was signed out.\n\nIf this was you, there is nothing to do. If it was not, reset your password at once and tell your administrator.\n"
    )
}

/// What an invitation link shows before it is accepted.
#[derive(Debug, Clone)]
pub struct InvitationView {
    /// The inviting organisation.
    pub tenant: String,
    /// The invited address.
    pub email: String,
    /// The role offered.
    pub role: Role,
    /// The address already has an account (it only needs its password).
    pub existing_user: bool,
    /// The organisation enforces single sign-on: the invitation is accepted by signing in
    /// through its provider (SEC-19), never with a password. Its id and button text.
    pub sso: Option<(TenantId, String)>,
}

fn token() -> Result<Zeroizing<String>, IdentityError> {
    random::token().map(Zeroizing::new).map_err(internal)
}

/// The longest a time-limited membership may be set to last.
pub const MAX_ACCESS_PERIOD: Duration = Duration::days(2 * 366);

impl Identity {
    /// Checks a membership's limits for a role: an end date in the future and within two
    /// years; the audit-scope limit only for auditors (externals always have it).
    ///
    /// # Errors
    /// [`IdentityError::Invalid`] naming the field.
    pub fn check_limits(
        &self,
        role: Role,
        limits: MembershipLimits,
    ) -> Result<MembershipLimits, IdentityError> {
        let now = self.clock.now();
        if let Some(until) = limits.access_until
            && (until <= now || until > now + MAX_ACCESS_PERIOD)
        {
            return Err(IdentityError::Invalid {
                field: "access_until",
                code: "invalid_date",
                message: "The end of access must be a future date within two years.".to_owned(),
            });
        }
        if limits.shared_only && !matches!(role, Role::Auditor | Role::External) {
            return Err(IdentityError::Invalid {
                field: "shared_only",
                code: "invalid_scope",
                message: "Only auditors can be limited to what is shared with them.".to_owned(),
            });
        }
        Ok(MembershipLimits {
            shared_only: limits.shared_only || role == Role::External,
            ..limits
        })
    }

    /// Invites an address into the session's tenant with a role. Only owners and admins
    /// invite, and nobody grants a role above their own.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] for members without the right (a 403 at the edge),
    /// invalid input, or an address that is already a member.
    pub async fn invite(
        &self,
        session: &VerifiedSession,
        email: &str,
        role: Role,
        limits: MembershipLimits,
        base_url: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let Some((tenant, my_role)) = session.tenant else {
            return Err(IdentityError::NotFound);
        };
        if !role.grantable_by(my_role) {
            return Err(IdentityError::Forbidden);
        }
        let email = validate_email(email)?;
        let limits = self.check_limits(role, limits)?;
        if let Some(u) = identity::user_by_email(&self.db, &email).await?
            && identity::memberships_of(&self.db, UserId::from_uuid(u.id))
                .await?
                .iter()
                .any(|m| m.0 == tenant.as_uuid())
        {
            return Err(IdentityError::Taken("member"));
        }
        let tenant_name = identity::tenant_name(&self.db, tenant)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let link = token()?;
        let text = format!(
            "Hello,\n\nYou have been invited to join {tenant_name} on Attest as {role}.\n\nOpen this link within 72 hours to accept; it works once:\n{base_url}/invitations/{}\n\nYou will choose your own password. If you did not expect this invitation, ignore this message.\n",
            link.as_str()
        );
        let mail = self
            .mailer
            .prepare(
                &email,
                &format!("Invitation to {tenant_name} on Attest"),
                &text,
            )
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        identity::insert_token(
            &mut tx,
            &NewToken {
                purpose: "invitation",
                token_hash: &link_hash(&link),
                tenant: Some(tenant),
                user: None,
                email: Some(&email),
                role: Some(role.as_str()),
                created_by: Some(session.user),
                now,
                expires_at: now + INVITATION_VALIDITY,
                limits,
            },
        )
        .await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "invitation.create", Outcome::Success, origin)
                    .details(serde_json::json!({ "role": role.as_str() })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// What an invitation offers.
    ///
    /// # Errors
    /// [`IdentityError::LinkUnknown`] or [`IdentityError::LinkGone`] (used or expired).
    pub async fn check_invitation(&self, link: &str) -> Result<InvitationView, IdentityError> {
        let row = self.peek_link("invitation", link).await?;
        let tenant = TenantId::from_uuid(row.tenant_id.ok_or(IdentityError::LinkUnknown)?);
        let email = row.email.ok_or(IdentityError::LinkUnknown)?;
        let sso = attest_db::sso::provider_of(&self.db, tenant)
            .await?
            .filter(|p| p.enforce)
            .map(|p| (tenant, p.display_name));
        Ok(InvitationView {
            sso,
            tenant: identity::tenant_name(&self.db, tenant)
                .await?
                .ok_or(IdentityError::LinkUnknown)?,
            existing_user: identity::user_by_email(&self.db, &email).await?.is_some(),
            email,
            role: row
                .role
                .as_deref()
                .and_then(|r| r.parse().ok())
                .ok_or(IdentityError::LinkUnknown)?,
        })
    }

    /// Accepts an invitation: a new user chooses a name and password; an existing user
    /// proves it with their password. Either way the membership is created and the user is
    /// signed in. The link works once.
    ///
    /// # Errors
    /// Invalid input (the link stays usable), or a used, expired or unknown link.
    pub async fn accept_invitation(
        &self,
        link: &str,
        name: &str,
        password: Zeroizing<String>,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<(SessionToken, VerifiedSession), IdentityError> {
        let view = self.check_invitation(link).await?;
        if let Some((tenant, provider)) = view.sso {
            // No password is set or used to join an organisation that enforces SSO
            // (SEC-19): signing in through its provider uses this invitation instead.
            return Err(IdentityError::SsoRequired { tenant, provider });
        }
        let existing = identity::user_by_email(&self.db, &view.email).await?;
        let new_password = match &existing {
            Some(u) => {
                let stored = u
                    .password_hash
                    .clone()
                    .zip(u.pepper_version)
                    .and_then(|(phc, v)| {
                        Some(attest_crypto::password::StoredPassword {
                            phc,
                            pepper_version: u32::try_from(v).ok()?,
                        })
                    });
                let ok = self
                    .hashing
                    .verify(password, stored)
                    .await
                    .map_err(internal)?;
                if ok == attest_crypto::password::Verification::Mismatch {
                    return Err(IdentityError::WrongPassword);
                }
                None
            }
            None => {
                let name = validate_name("name", name, 100)?;
                password_policy::check(
                    &password,
                    &PasswordContext {
                        email: &view.email,
                        name: &name,
                        tenants: vec![&view.tenant],
                        has_mfa: false,
                    },
                )
                .map_err(|r| IdentityError::password(&r))?;
                Some((name, self.hashing.hash(password).await.map_err(internal)?))
            }
        };
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let row = self.take_link(&mut tx, "invitation", link, now).await?;
        let tenant = TenantId::from_uuid(row.tenant_id.ok_or(IdentityError::LinkUnknown)?);
        let user = match (&existing, &new_password) {
            (Some(u), _) => UserId::from_uuid(u.id),
            (None, Some((name, stored))) => {
                let id = UserId::new_random();
                identity::insert_user(
                    &mut tx,
                    id,
                    &view.email,
                    name,
                    Some((&stored.phc, stored.pepper_version)),
                    now,
                )
                .await?;
                id
            }
            (None, None) => return Err(internal("no password")),
        };
        identity::insert_membership(&mut tx, tenant, user, view.role.as_str(), now)
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    IdentityError::Taken("member")
                } else {
                    e.into()
                }
            })?;
        identity::set_membership_limits(
            &mut tx,
            tenant,
            user,
            identity::MembershipLimits {
                access_until: row.access_until,
                shared_only: row.shared_only,
            },
        )
        .await?;
        let standing =
            Self::standing_without_second_factor(&mut tx, Some((tenant, view.role))).await?;
        let (token, session) = sessions::start(
            &mut tx,
            user,
            Some((tenant, view.role)),
            client,
            self.policy,
            now,
            false,
            standing,
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::tenant(tenant, Actor::User(user), "invitation.accept", Outcome::Success)
                    .object("user", user)
                    .request(origin.ip, origin.request_id)
                    .details(serde_json::json!({ "role": view.role.as_str(), "new_user": existing.is_none() })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok((token, session))
    }

    /// Requests a reset link. The answer never says whether the address exists (SEC-08);
    /// at most three mails per account per hour and twenty requests per address per hour
    /// (SEC-07); a newer link voids older ones (SEC-09).
    ///
    /// # Errors
    /// `Err(retry_after)` only when the client address is over its limit.
    pub async fn request_reset(
        &self,
        email: &str,
        base_url: &str,
        origin: Origin,
    ) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Some(ip) = origin.ip {
            self.reset_ip_limiter.hit(ip, now)?;
        }
        let record = |outcome, reason: &str| {
            AuditRecord::system(Actor::Anonymous, "auth.reset_request", outcome)
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "reason": reason }))
        };
        let Ok(email) = validate_email(email) else {
            let _ = self
                .audit
                .record(record(Outcome::Failure, "invalid_email"))
                .await;
            return Ok(());
        };
        let user = match identity::user_by_email(&self.db, &email).await {
            Ok(Some(u)) if u.status == "active" => u,
            _ => {
                let _ = self
                    .audit
                    .record(record(Outcome::Failure, "no_such_account"))
                    .await;
                return Ok(());
            }
        };
        let user_id = UserId::from_uuid(user.id);
        // SEC-19: no reset mail for members of a tenant that enforces single sign-on; the
        // answer stays the same as for an unknown address.
        if self.reset_blocked_by_sso(user_id).await.unwrap_or(true) {
            let _ = self
                .audit
                .record(record(Outcome::Denied, "sso_required"))
                .await;
            return Ok(());
        }
        let recent = identity::count_tokens_since(
            &self.db,
            "password_reset",
            user_id,
            now - Duration::hours(1),
        )
        .await
        .unwrap_or(i64::MAX);
        if recent >= RESETS_PER_ACCOUNT_PER_HOUR {
            let _ = self
                .audit
                .record(record(Outcome::Denied, "account_rate"))
                .await;
            return Ok(());
        }
        if let Err(e) = self.issue_reset(&user, user_id, base_url, origin).await {
            tracing::error!(error = %e, "could not issue a password reset");
        }
        Ok(())
    }

    async fn issue_reset(
        &self,
        user: &identity::UserRow,
        user_id: UserId,
        base_url: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let link = token()?;
        let text = format!(
            "Hello {},\n\nSomeone (hopefully you) asked to reset the password of your Attest account.\n\nOpen this link within 15 minutes to choose a new password; it works once:\n{base_url}/reset/{}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n",
            user.display_name,
            link.as_str()
        );
        let mail = self
            .mailer
            .prepare(&user.email, "Reset your Attest password", &text)
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        identity::void_tokens_of_user(&mut tx, "password_reset", user_id, now).await?;
        identity::insert_token(
            &mut tx,
            &NewToken {
                purpose: "password_reset",
                token_hash: &link_hash(&link),
                tenant: None,
                user: Some(user_id),
                email: None,
                role: None,
                created_by: None,
                now,
                expires_at: now + RESET_VALIDITY,
                limits: identity::MembershipLimits::default(),
            },
        )
        .await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::system(Actor::User(user_id), "auth.reset_request", Outcome::Success)
                    .request(origin.ip, origin.request_id),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Whether a reset link is usable (to show its form); `true` when the account has a
    /// second factor, which the form must then ask for (SEC-09).
    ///
    /// # Errors
    /// [`IdentityError::LinkUnknown`] or [`IdentityError::LinkGone`].
    pub async fn check_reset(&self, link: &str) -> Result<bool, IdentityError> {
        let row = self.peek_link("password_reset", link).await?;
        let user = UserId::from_uuid(row.user_id.ok_or(IdentityError::LinkUnknown)?);
        self.has_second_factor(user).await
    }

    /// Sets a new password from a reset link: every session of the user ends, a notice is
    /// mailed, and the user signs in afresh.
    ///
    /// # Errors
    /// Invalid password (the link stays usable), or a used, expired or unknown link.
    pub async fn complete_reset(
        &self,
        link: &str,
        password: Zeroizing<String>,
        code: Option<&str>,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let row = self.peek_link("password_reset", link).await?;
        let user_id = UserId::from_uuid(row.user_id.ok_or(IdentityError::LinkUnknown)?);
        // SEC-19: a link mailed before the tenant enforced single sign-on no longer works.
        if self.reset_blocked_by_sso(user_id).await? {
            return Err(IdentityError::LinkGone);
        }
        // SEC-09: a reset never skips the second factor.
        self.reset_second_factor(user_id, code, origin).await?;
        let user = identity::user_by_id(&self.db, user_id)
            .await?
            .ok_or(IdentityError::LinkUnknown)?;
        let tenants = identity::memberships_of(&self.db, user_id).await?;
        password_policy::check(
            &password,
            &PasswordContext {
                email: &user.email,
                name: &user.display_name,
                tenants: tenants.iter().map(|t| t.1.as_str()).collect(),
                has_mfa: self.has_second_factor(user_id).await?,
            },
        )
        .map_err(|r| IdentityError::password(&r))?;
        let stored = self.hashing.hash(password).await.map_err(internal)?;
        let notice = self
            .mailer
            .prepare(
                &user.email,
                "Your Attest password was changed",
                &password_changed_text(&user.display_name),
            )
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        self.take_link(&mut tx, "password_reset", link, now).await?;
        identity::set_password(&mut tx, user_id, &stored.phc, stored.pepper_version).await?;
        let ended =
            identity::end_sessions_of_user(&mut tx, user_id, None, "password_reset", now).await?;
        identity::throttle_clear(&mut tx, &crate::authn::throttle::account_key(&user.email))
            .await?;
        self.mailer.enqueue(&mut tx, notice).await?;
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::system(
                    Actor::User(user_id),
                    "auth.reset_complete",
                    Outcome::Success,
                )
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "sessions_ended": ended })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }
}

impl Identity {
    /// The members of the session's tenant: name, email, role.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] without a tenant.
    pub async fn members(
        &self,
        session: &VerifiedSession,
    ) -> Result<(String, Vec<identity::MemberRow>), IdentityError> {
        let (tenant, role) = session.tenant.ok_or(IdentityError::NotFound)?;
        // SEC-36: externals cannot list members.
        if !crate::access::Permission::ListMembers.granted_to(role) {
            return Err(IdentityError::Forbidden);
        }
        let name = identity::tenant_name(&self.db, tenant)
            .await?
            .ok_or(IdentityError::NotFound)?;
        Ok((name, identity::members_of(&self.db, tenant).await?))
    }
}

impl Identity {
    /// The admin's tenant and the target's role there; refuses callers who may not manage
    /// members and targets above the caller (an admin cannot touch an owner).
    async fn manageable(
        &self,
        session: &VerifiedSession,
        target: UserId,
    ) -> Result<(TenantId, Role, Role), IdentityError> {
        let (tenant, my_role) = session.tenant.ok_or(IdentityError::NotFound)?;
        if !my_role.manages_members() {
            return Err(IdentityError::Forbidden);
        }
        let target_role: Role = identity::role_in(&self.db, tenant, target)
            .await?
            .and_then(|r| r.parse().ok())
            .ok_or(IdentityError::NotFound)?;
        if target_role < my_role {
            return Err(IdentityError::Forbidden);
        }
        Ok((tenant, my_role, target_role))
    }

    /// Changes a member's role: owners and admins only, never above one's own role, and the
    /// tenant always keeps an owner.
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`], [`IdentityError::NotFound`],
    /// [`IdentityError::LastOwner`] or [`IdentityError::ReauthRequired`].
    pub async fn change_role(
        &self,
        session: &VerifiedSession,
        target: UserId,
        role: Role,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let (tenant, my_role, target_role) = self.manageable(session, target).await?;
        if !role.grantable_by(my_role) {
            return Err(IdentityError::Forbidden);
        }
        // SEC-29: changing roles is a sensitive action.
        self.require_recent_proof(session)?;
        let mut tx = self.db.begin_for(tenant).await?;
        if target_role == Role::Owner
            && role != Role::Owner
            && identity::owners_of(&mut tx, tenant).await?.len() <= 1
        {
            return Err(IdentityError::LastOwner);
        }
        identity::set_role(&mut tx, tenant, target, role.as_str()).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "membership.role_change", Outcome::Success, origin)
                    .object("user", target)
                    .details(
                        serde_json::json!({ "from": target_role.as_str(), "to": role.as_str() }),
                    ),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member from the tenant; their sessions end at once (SEC-27).
    ///
    /// # Errors
    /// As [`Identity::change_role`].
    pub async fn remove_member(
        &self,
        session: &VerifiedSession,
        target: UserId,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let (tenant, _, target_role) = self.manageable(session, target).await?;
        let now = self.clock.now();
        let mut tx = self.db.begin_for(tenant).await?;
        if target_role == Role::Owner && identity::owners_of(&mut tx, tenant).await?.len() <= 1 {
            return Err(IdentityError::LastOwner);
        }
        identity::delete_membership(&mut tx, tenant, target).await?;
        let ended =
            identity::end_sessions_of_user(&mut tx, target, None, "membership_removed", now)
                .await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "membership.remove", Outcome::Success, origin)
                    .object("user", target)
                    .details(serde_json::json!({ "sessions_ended": ended })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of a member (SEC-28: admins revoke a user's sessions).
    ///
    /// # Errors
    /// As [`Identity::change_role`].
    pub async fn revoke_member_sessions(
        &self,
        session: &VerifiedSession,
        target: UserId,
        origin: Origin,
    ) -> Result<u64, IdentityError> {
        self.manageable(session, target).await?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let ended =
            identity::end_sessions_of_user(&mut tx, target, None, "revoked_by_admin", now).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "session.revoke_all", Outcome::Success, origin)
                    .object("user", target)
                    .details(serde_json::json!({ "sessions_ended": ended })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Disables (or re-enables) a user everywhere: the operator's tool (CLI). Disabling ends
    /// every session at once (SEC-27).
    ///
    /// # Errors
    /// Unknown address or database failure.
    pub async fn set_user_disabled(
        &self,
        email: &str,
        disabled: bool,
    ) -> Result<u64, IdentityError> {
        let email = validate_email(email)?;
        let user = identity::user_by_email(&self.db, &email)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let id = UserId::from_uuid(user.id);
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        identity::set_user_status(&mut tx, id, if disabled { "disabled" } else { "active" })
            .await?;
        let ended = if disabled {
            identity::end_sessions_of_user(&mut tx, id, None, "user_disabled", now).await?
        } else {
            0
        };
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::system(
                    Actor::Operator,
                    if disabled {
                        "user.disable"
                    } else {
                        "user.enable"
                    },
                    Outcome::Success,
                )
                .object("user", id)
                .details(serde_json::json!({ "sessions_ended": ended })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Disables every user who has neither signed in nor used a session for `period`
    /// (SEC-38), ending their sessions, each audited as `user.disabled_inactive`. A user who
    /// is the last active owner of a tenant stays: a tenant always keeps a way in. Returns
    /// how many were disabled.
    ///
    /// # Errors
    /// On database failure.
    pub async fn disable_inactive(&self, period: time::Duration) -> Result<usize, IdentityError> {
        let now = self.clock.now();
        let before = now - period;
        let mut disabled = 0;
        for id in identity::inactive_users(&self.db, before).await? {
            let user = UserId::from_uuid(id);
            let memberships = identity::memberships_of(&self.db, user).await?;
            let mut tx = self.db.begin().await?;
            let mut last_owner = false;
            for (tenant, _, role) in memberships {
                if role == "owner" {
                    let owners =
                        identity::active_owners_of(&mut tx, TenantId::from_uuid(tenant)).await?;
                    last_owner |= owners.iter().all(|o| *o == id);
                }
            }
            if last_owner {
                continue;
            }
            identity::set_user_status(&mut tx, user, "disabled").await?;
            let ended =
                identity::end_sessions_of_user(&mut tx, user, None, "user_inactive", now).await?;
            self.audit
                .record_in(
                    &mut tx,
                    AuditRecord::system(Actor::System, "user.disabled_inactive", Outcome::Success)
                        .object("user", user)
                        .details(serde_json::json!({
                            "inactive_days": period.whole_days(),
                            "sessions_ended": ended,
                        })),
                )
                .await
                .map_err(internal)?;
            tx.commit().await?;
            disabled += 1;
        }
        Ok(disabled)
    }

    /// Removes memberships whose end date has passed (auditors after an audit, externals
    /// after an engagement), each audited in its tenant. Access already stopped at the end
    /// date, because every request checks it; this keeps the member list true.
    ///
    /// # Errors
    /// On database failure.
    pub async fn end_expired_memberships(&self) -> Result<usize, IdentityError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let ended = identity::delete_ended_memberships(&mut tx, now).await?;
        for (tenant, user, role) in &ended {
            self.audit
                .record_in(
                    &mut tx,
                    AuditRecord::tenant(
                        TenantId::from_uuid(*tenant),
                        Actor::System,
                        "membership.expired",
                        Outcome::Success,
                    )
                    .object("user", user)
                    .details(serde_json::json!({ "role": role })),
                )
                .await
                .map_err(internal)?;
        }
        tx.commit().await?;
        Ok(ended.len())
    }

    /// Switches the session to another of the user's tenants.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] for a tenant the user is not a member of.
    pub async fn switch_tenant(
        &self,
        session: &VerifiedSession,
        tenant: TenantId,
    ) -> Result<(), IdentityError> {
        identity::role_in(&self.db, tenant, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let mut tx = self.db.begin().await?;
        identity::set_session_tenant(&mut tx, session.id.as_uuid(), tenant).await?;
        tx.commit().await?;
        Ok(())
    }
}
