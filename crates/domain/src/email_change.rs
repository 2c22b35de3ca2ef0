//! Changing a user's email address (SEC-17, SEC-29): a sensitive action that needs a recent
//! proof of presence; the new address confirms through a one-time link (≥ 256 bits, stored
//! hashed, 24 h, single use, a newer request voids older ones); the old address is told when
//! the change is requested and when it happens.

use attest_crypto::Zeroizing;
use attest_crypto::random;
use attest_db::identity::{self, NewToken};
use attest_db::mfa;
use attest_types::UserId;
use time::Duration;

use crate::audit::Outcome;
use crate::authn::sessions::VerifiedSession;
use crate::identity::{Identity, IdentityError, Origin, internal, link_hash, validate_email};

/// How long the confirmation link works.
pub const EMAIL_CHANGE_VALIDITY: Duration = Duration::hours(24);

impl Identity {
    /// Asks to change the session user's address to `new_email`: a link goes to the new
    /// address, a notice to the old one.
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`], an invalid or unchanged address, or one in use.
    pub async fn request_email_change(
        &self,
        session: &VerifiedSession,
        new_email: &str,
        base_url: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        self.require_recent_proof(session)?;
        let email = validate_email(new_email)?;
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if email == user.email {
            return Err(IdentityError::Invalid {
                field: "email",
                code: "unchanged",
                message: "This is already your address.".to_owned(),
            });
        }
        if identity::user_by_email(&self.db, &email).await?.is_some() {
            return Err(IdentityError::Taken("email address"));
        }
        let link = Zeroizing::new(random::token().map_err(internal)?);
        let confirm = self
            .mailer
            .prepare(
                &email,
                "Confirm your new Attest email address",
                &format!(
                    "Hello {},\n\nOpen this link within 24 hours, signed in to Attest, to make this your account's address; it works once:\n{base_url}/account/email/{}\n\nIf you did not ask for this, ignore this message.\n",
                    user.display_name,
                    link.as_str()
                ),
            )
            .await
            .map_err(internal)?;
        let notice = self
            .mailer
            .prepare(
                &user.email,
                "A change of your Attest email address was requested",
                &format!(
                    "Hello {},\n\nSomeone signed in to your Attest account asked to change its email address to {email}. The change happens only when that address confirms it.\n\nIf this was not you, sign in, change your password and tell your administrator at once.\n",
                    user.display_name
                ),
            )
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        identity::void_tokens_of_user(&mut tx, "email_change", session.user, now).await?;
        identity::insert_token(
            &mut tx,
            &NewToken {
                purpose: "email_change",
                token_hash: &link_hash(&link),
                tenant: None,
                user: Some(session.user),
                email: Some(&email),
                role: None,
                created_by: Some(session.user),
                now,
                expires_at: now + EMAIL_CHANGE_VALIDITY,
                limits: identity::MembershipLimits::default(),
            },
        )
        .await?;
        self.mailer.enqueue(&mut tx, confirm).await?;
        self.mailer.enqueue(&mut tx, notice).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(
                    session,
                    "user.email_change_request",
                    Outcome::Success,
                    origin,
                )
                .object("user", session.user),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// The new address a confirmation link would set, if it is live and the session user's.
    ///
    /// # Errors
    /// [`IdentityError::LinkUnknown`] / [`IdentityError::LinkGone`].
    pub async fn check_email_change(
        &self,
        session: &VerifiedSession,
        link: &str,
    ) -> Result<String, IdentityError> {
        let row = self.peek_link("email_change", link).await?;
        if row.user_id.map(UserId::from_uuid) != Some(session.user) {
            return Err(IdentityError::LinkUnknown);
        }
        row.email.ok_or(IdentityError::LinkUnknown)
    }

    /// Confirms a change of address from the link mailed to the new address. Both addresses
    /// are told.
    ///
    /// # Errors
    /// A link that is unknown, used, expired or another user's; an address taken meanwhile.
    pub async fn confirm_email_change(
        &self,
        session: &VerifiedSession,
        link: &str,
        origin: Origin,
    ) -> Result<String, IdentityError> {
        let new_email = self.check_email_change(session, link).await?;
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let text = format!(
            "Hello {},\n\nThe email address of your Attest account was changed from {} to {new_email}.\n\nIf this was not you, tell your administrator at once.\n",
            user.display_name, user.email
        );
        let to_old = self
            .mailer
            .prepare(&user.email, "Your Attest email address was changed", &text)
            .await
            .map_err(internal)?;
        let to_new = self
            .mailer
            .prepare(&new_email, "Your Attest email address was changed", &text)
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        self.take_link(&mut tx, "email_change", link, now).await?;
        mfa::set_email(&mut tx, session.user, &new_email)
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    IdentityError::Taken("email address")
                } else {
                    e.into()
                }
            })?;
        self.mailer.enqueue(&mut tx, to_old).await?;
        self.mailer.enqueue(&mut tx, to_new).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "user.email_change", Outcome::Success, origin)
                    .object("user", session.user),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(new_email)
    }
}
