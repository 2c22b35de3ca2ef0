//! Second factors and step-up (SEC-12…17, SEC-29): TOTP enrolment and checks, recovery
//! codes, the half-signed-in login between password and second factor, proofs of presence
//! for sensitive actions, and the tenant's MFA policy. SMS and voice do not exist here
//! (SEC-13): a request naming them is refused like any unknown method.

use attest_crypto::Zeroizing;
use attest_crypto::password::{StoredPassword, Verification};
use attest_crypto::random;
use attest_crypto::totp::{self, RecoveryCode, TotpSecret};
use attest_db::identity;
use attest_db::mfa::{self, NewRecoveryCode, PendingRow};
use attest_db::passkey;
use attest_types::{Actor, Classification, Role, TenantId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::passkeys::{Binding, Kind, PasskeyResponse};
use super::sessions::{self, ClientFacts, SessionToken, Standing, VerifiedSession};
use super::throttle;
use crate::audit::{AuditRecord, Outcome};
use crate::identity::{Identity, IdentityError, Origin, internal};

/// How long the second-factor prompt waits after a correct password.
pub const PENDING_VALIDITY: Duration = Duration::minutes(5);
/// Wrong second factors that void a login (SEC-15).
pub const MAX_SECOND_FACTOR_FAILURES: i64 = 5;
/// Wrong TOTP codes that lock TOTP until the step ends (SEC-15).
pub const TOTP_FAILURES_PER_STEP: i64 = 3;
/// Recovery codes in a set (SEC-16).
pub const RECOVERY_CODES: usize = 10;

/// The factor methods Attest offers. SMS and voice are never among them (SEC-13).
pub const OFFERED_METHODS: &[&str] = &["totp", "passkey", "recovery_code"];

/// What proves presence.
pub enum Proof {
    /// The account password (step-up only, and only for users without a second factor).
    Password(Zeroizing<String>),
    /// A six-digit TOTP code.
    Totp(String),
    /// A recovery code.
    RecoveryCode(Zeroizing<String>),
    /// A passkey's answer to a ceremony begun for this login or session.
    Passkey(PasskeyResponse),
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Proof::Password",
            Self::Totp(_) => "Proof::Totp",
            Self::RecoveryCode(_) => "Proof::RecoveryCode",
            Self::Passkey(_) => "Proof::Passkey",
        })
    }
}

impl Proof {
    /// A proof from a method name and what the user typed.
    ///
    /// # Errors
    /// [`IdentityError::UnsupportedMethod`] for anything else, `sms` and `voice` included.
    pub fn parse(method: &str, value: Zeroizing<String>) -> Result<Self, IdentityError> {
        match method {
            "password" => Ok(Self::Password(value)),
            "totp" => Ok(Self::Totp(value.trim().replace([' ', '-'], ""))),
            "recovery_code" => Ok(Self::RecoveryCode(value)),
            _ => Err(IdentityError::UnsupportedMethod),
        }
    }

    /// The method's name, for the audit trail.
    #[must_use]
    pub const fn method(&self) -> &'static str {
        match self {
            Self::Password(_) => "password",
            Self::Totp(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey(_) => "passkey",
        }
    }
}

/// The cookie value of a half-signed-in login. Never logged.
pub struct PendingToken(pub Zeroizing<String>);

impl std::fmt::Debug for PendingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingToken([redacted])")
    }
}

/// A freshly started TOTP enrolment: shown once, then only the sealed secret remains.
pub struct TotpEnrolment {
    /// For manual entry.
    pub secret_base32: Zeroizing<String>,
    /// For the QR code.
    pub otpauth_uri: Zeroizing<String>,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// A new set of recovery codes, shown once.
pub struct RecoveryCodes(pub Vec<Zeroizing<String>>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} [redacted])", self.0.len())
    }
}

/// A user's second factors, as the account page shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Factors {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// The user's role or tenant requires a second factor.
    pub required: bool,
}

impl Factors {
    /// Whether the user has a second factor (recovery codes back one up; they are not one).
    #[must_use]
    pub const fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// The result of checking a second factor.
#[derive(Debug)]
enum Check {
    Accepted,
    Rejected,
    TotpLocked(Duration),
}

/// What the password step of a login led to.
#[derive(Debug)]
pub enum LoginStep {
    /// Signed in.
    SignedIn(SessionToken, VerifiedSession),
    /// The user has a second factor: ask for it, holding this token.
    SecondFactor(PendingToken),
}

/// Why the second step of a login failed.
#[derive(Debug)]
pub enum SecondFactorFailure {
    /// Wrong code; the login is still live.
    Invalid,
    /// Too many TOTP failures in this step; wait this long.
    TotpLocked(Duration),
    /// The login is over (too many failures, expired, or unknown): start again (SEC-15).
    Restart,
    /// Something broke.
    Internal(IdentityError),
}

impl From<IdentityError> for SecondFactorFailure {
    fn from(e: IdentityError) -> Self {
        Self::Internal(e)
    }
}

impl From<attest_db::DbError> for SecondFactorFailure {
    fn from(e: attest_db::DbError) -> Self {
        Self::Internal(e.into())
    }
}

fn pending_hash(token: &str) -> [u8; 32] {
    let mut input = b"attest/pending-login/v1\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    random::sha256(&input)
}

fn unix(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp()).unwrap_or(0)
}

fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// Installation-level secrets (not owned by a tenant) are sealed under the nil scope.
fn system_scope() -> TenantId {
    TenantId::from_uuid(Uuid::nil())
}

pub(crate) fn notice(name: &str, what: &str) -> String {
    format!(
        "Hello {name},\n\n{what}\n\nIf this was you, there is nothing to do. If it was not, sign in, review your security settings and tell your administrator at once.\n"
    )
}

impl Identity {
    /// A user's second factors.
    ///
    /// # Errors
    /// On database failure.
    pub async fn factors(&self, session: &VerifiedSession) -> Result<Factors, IdentityError> {
        let totp = mfa::totp_of(&self.db, session.user)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let required = match session.tenant {
            Some((t, role)) => {
                sessions::second_factor_required(role, mfa::tenant_requires_mfa(&self.db, t).await?)
            }
            None => false,
        };
        Ok(Factors {
            totp,
            passkeys: passkey::count_of_user(&self.db, session.user).await?,
            recovery_codes_left: mfa::recovery_remaining(&self.db, session.user).await?,
            required,
        })
    }

    /// Whether a user has a confirmed second factor.
    pub(crate) async fn has_second_factor(&self, user: UserId) -> Result<bool, IdentityError> {
        let (totp, passkey) = self.factor_methods(user).await?;
        Ok(totp || passkey)
    }

    /// The second factors a user can answer the prompt with: (TOTP, passkey).
    async fn factor_methods(&self, user: UserId) -> Result<(bool, bool), IdentityError> {
        Ok(mfa::second_factors(&self.db, user).await?)
    }

    /// The standing of a new session of a user without a second factor proof, read through
    /// the transaction that starts the session (a transaction never waits for a second
    /// pooled connection: a pool full of such transactions would wait on itself).
    pub(crate) async fn standing_without_second_factor(
        tx: &mut attest_db::Tx,
        tenant: Option<(TenantId, Role)>,
    ) -> Result<Standing, IdentityError> {
        Ok(match tenant {
            Some((t, role))
                if sessions::second_factor_required(
                    role,
                    mfa::tenant_requires_mfa_tx(tx, t).await?,
                ) =>
            {
                Standing::MustEnrolSecondFactor
            }
            _ => Standing::Full,
        })
    }

    /// Refuses a sensitive action unless the session proved presence in the last ten
    /// minutes (SEC-29).
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`].
    pub fn require_recent_proof(&self, session: &VerifiedSession) -> Result<(), IdentityError> {
        if session.recently_proven(self.clock.now()) {
            Ok(())
        } else {
            Err(IdentityError::ReauthRequired)
        }
    }

    /// Starts (or restarts) a TOTP enrolment. Its secret is shown once; it becomes a factor
    /// only when a code confirms it.
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`], [`IdentityError::Taken`] when a confirmed
    /// authenticator exists (remove it first), or internal failures.
    pub async fn start_totp_enrolment(
        &self,
        session: &VerifiedSession,
        origin: Origin,
    ) -> Result<TotpEnrolment, IdentityError> {
        self.require_recent_proof(session)?;
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let secret = TotpSecret::generate().map_err(internal)?;
        let issuer = match session.tenant {
            Some((t, _)) => identity::tenant_name(&self.db, t)
                .await?
                .map_or_else(|| "Attest".to_owned(), |n| format!("Attest ({n})")),
            None => "Attest".to_owned(),
        };
        let enrolment = TotpEnrolment {
            secret_base32: secret.to_base32(),
            otpauth_uri: secret.otpauth_uri(&user.email, &issuer).map_err(internal)?,
        };
        let sealed = self
            .keys
            .seal(
                system_scope(),
                Classification::Critical,
                session.user.as_uuid().as_bytes(),
                secret.as_bytes(),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        if !mfa::totp_put_pending(&mut tx, session.user, &sealed, self.clock.now()).await? {
            return Err(IdentityError::Taken("authenticator app"));
        }
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.totp_enrol_start", Outcome::Success, origin),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(enrolment)
    }

    /// Confirms a TOTP enrolment with a code from the app. The first factor of a user comes
    /// with a set of recovery codes (returned once). The session counts as second-factor
    /// proven from now on. The user is told by mail (SEC-17).
    ///
    /// # Errors
    /// [`IdentityError::InvalidCode`] (nothing changes), [`IdentityError::ReauthRequired`],
    /// [`IdentityError::NotFound`] without a pending enrolment.
    pub async fn confirm_totp(
        &self,
        session: &VerifiedSession,
        code: &str,
        origin: Origin,
    ) -> Result<Option<RecoveryCodes>, IdentityError> {
        self.require_recent_proof(session)?;
        let row = mfa::totp_of(&self.db, session.user)
            .await?
            .filter(|r| r.confirmed_at.is_none())
            .ok_or(IdentityError::NotFound)?;
        let secret = self.open_totp(session.user, &row.secret).await?;
        let now = self.clock.now();
        let code = code.trim().replace([' ', '-'], "");
        let Some(step) = secret.matching_step(&code, unix(now)) else {
            let _ = self
                .audit
                .record(self.user_record(
                    session,
                    "mfa.totp_enrol_confirm",
                    Outcome::Failure,
                    origin,
                ))
                .await;
            return Err(IdentityError::InvalidCode);
        };
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let first = mfa::recovery_remaining(&self.db, session.user).await? == 0;
        let codes = if first {
            Some(self.new_recovery_codes().await?)
        } else {
            None
        };
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "An authenticator app was added to your Attest account",
                &notice(
                    &user.display_name,
                    "An authenticator app was just added to your Attest account as a second factor.",
                ),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        if !mfa::totp_confirm(&mut tx, session.user, step_i64(step), now).await? {
            return Err(IdentityError::NotFound);
        }
        if let Some((_, stored)) = &codes {
            mfa::recovery_replace(&mut tx, session.user, stored, now).await?;
        }
        mfa::session_proven(&mut tx, session.id.as_uuid(), now, true).await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.totp_enrol_confirm", Outcome::Success, origin)
                    .details(serde_json::json!({ "recovery_codes_issued": first })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(codes.map(|(shown, _)| shown))
    }

    /// Removes the user's authenticator app. Refused while the user's role or tenant requires
    /// a second factor and it is the only one.
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`], [`IdentityError::SecondFactorRequired`],
    /// [`IdentityError::NotFound`].
    pub async fn remove_totp(
        &self,
        session: &VerifiedSession,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        self.require_recent_proof(session)?;
        let factors = self.factors(session).await?;
        if !factors.totp {
            return Err(IdentityError::NotFound);
        }
        let last = factors.passkeys == 0;
        if last && factors.required {
            return Err(IdentityError::SecondFactorRequired);
        }
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let what = if last {
            "The authenticator app of your Attest account was just removed, together with your recovery codes. Your account is now protected by its password only."
        } else {
            "The authenticator app of your Attest account was just removed. Your passkeys still protect it."
        };
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "An authenticator app was removed from your Attest account",
                &notice(&user.display_name, what),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        mfa::totp_delete(&mut tx, session.user).await?;
        if last {
            mfa::recovery_delete_all(&mut tx, session.user).await?;
        }
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.totp_remove", Outcome::Success, origin),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Replaces the user's recovery codes with a new set (the old ones stop working).
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`]; [`IdentityError::NotFound`] without a second factor.
    pub async fn regenerate_recovery_codes(
        &self,
        session: &VerifiedSession,
        origin: Origin,
    ) -> Result<RecoveryCodes, IdentityError> {
        self.require_recent_proof(session)?;
        if !self.has_second_factor(session.user).await? {
            return Err(IdentityError::NotFound);
        }
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let (shown, stored) = self.new_recovery_codes().await?;
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "New recovery codes for your Attest account",
                &notice(
                    &user.display_name,
                    "A new set of recovery codes was just created for your Attest account; the previous codes no longer work.",
                ),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        mfa::recovery_replace(&mut tx, session.user, &stored, self.clock.now()).await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.recovery_regenerate", Outcome::Success, origin),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(shown)
    }

    pub(crate) async fn new_recovery_codes(
        &self,
    ) -> Result<(RecoveryCodes, Vec<NewRecoveryCode>), IdentityError> {
        let mut shown = Vec::with_capacity(RECOVERY_CODES);
        let mut stored = Vec::with_capacity(RECOVERY_CODES);
        let mut selectors = std::collections::HashSet::new();
        while shown.len() < RECOVERY_CODES {
            let code = RecoveryCode::generate().map_err(internal)?;
            let Some((selector, rest)) = RecoveryCode::parse(&code.full) else {
                return Err(internal("recovery code shape"));
            };
            if !selectors.insert(selector.clone()) {
                continue; // a repeated selector (1 in 10^5 per pair) would hide a code
            }
            let hash = self.hashing.hash(rest).await.map_err(internal)?;
            stored.push(NewRecoveryCode {
                selector,
                code_hash: hash.phc,
                pepper_version: hash.pepper_version,
            });
            shown.push(code.display());
        }
        Ok((RecoveryCodes(shown), stored))
    }

    async fn open_totp(&self, user: UserId, sealed: &[u8]) -> Result<TotpSecret, IdentityError> {
        let bytes = Zeroizing::new(
            self.keys
                .open(
                    system_scope(),
                    Classification::Critical,
                    user.as_uuid().as_bytes(),
                    sealed,
                )
                .await
                .map_err(internal)?,
        );
        TotpSecret::from_bytes(&bytes).map_err(internal)
    }

    /// Checks a second factor of a user. An accepted TOTP code is used up (SEC-14); an
    /// accepted recovery code is used up and the user is told (SEC-16, SEC-17).
    async fn check_factor(
        &self,
        user: UserId,
        proof: &Proof,
        binding: Binding,
        origin: Origin,
    ) -> Result<Check, IdentityError> {
        let now = self.clock.now();
        match proof {
            Proof::Password(_) => Ok(Check::Rejected),
            Proof::Passkey(response) => {
                Ok(match self.verify_passkey(user, binding, response).await? {
                    Ok(()) => Check::Accepted,
                    Err(reason) => {
                        tracing::info!(%reason, "passkey assertion refused");
                        Check::Rejected
                    }
                })
            }
            Proof::Totp(code) => {
                let Some(row) = mfa::totp_of(&self.db, user)
                    .await?
                    .filter(|r| r.confirmed_at.is_some())
                else {
                    return Ok(Check::Rejected);
                };
                let step_now = totp::step_of(unix(now));
                if row.fail_step == step_i64(step_now) && row.fail_count >= TOTP_FAILURES_PER_STEP {
                    let next =
                        i64::try_from((step_now + 1) * totp::STEP_SECONDS).unwrap_or(i64::MAX);
                    return Ok(Check::TotpLocked(Duration::seconds(
                        (next - now.unix_timestamp()).max(1),
                    )));
                }
                let secret = self.open_totp(user, &row.secret).await?;
                let mut tx = self.db.begin().await?;
                let accepted = match secret.matching_step(code, unix(now)) {
                    Some(step) => mfa::totp_accept_step(&mut tx, user, step_i64(step)).await?,
                    None => false,
                };
                if !accepted {
                    mfa::totp_record_failure(&mut tx, user, step_i64(step_now)).await?;
                }
                tx.commit().await?;
                Ok(if accepted {
                    Check::Accepted
                } else {
                    Check::Rejected
                })
            }
            Proof::RecoveryCode(input) => {
                let parsed = RecoveryCode::parse(input);
                let row = match &parsed {
                    Some((selector, _)) => {
                        mfa::recovery_by_selector(&self.db, user, selector).await?
                    }
                    None => None,
                };
                let stored = row.as_ref().and_then(|r| {
                    Some(StoredPassword {
                        phc: r.code_hash.clone(),
                        pepper_version: u32::try_from(r.pepper_version).ok()?,
                    })
                });
                let secret = parsed.map_or_else(|| Zeroizing::new(String::new()), |(_, rest)| rest);
                // The same Argon2 work whether or not the selector exists.
                let verified = self
                    .hashing
                    .verify(secret, stored)
                    .await
                    .map_err(internal)?;
                let (Verification::Match(_), Some(row)) = (verified, row) else {
                    return Ok(Check::Rejected);
                };
                if row.used_at.is_some() {
                    return Ok(Check::Rejected);
                }
                let account = identity::user_by_id(&self.db, user)
                    .await?
                    .ok_or(IdentityError::NotFound)?;
                let mail = self
                    .mailer
                    .prepare(
                        &account.email,
                        "A recovery code of your Attest account was used",
                        &notice(
                            &account.display_name,
                            "One of your recovery codes was just used to sign in to your Attest account. Each code works once; create a new set on your account page when you run low.",
                        ),
                    )
                    .await
                    .map_err(internal)?;
                let mut tx = self.db.begin().await?;
                let left = mfa::recovery_remaining_tx(&mut tx, user).await?;
                if !mfa::recovery_use(&mut tx, row.id, now).await? {
                    return Ok(Check::Rejected);
                }
                self.mailer.enqueue(&mut tx, mail).await?;
                self.audit
                    .record_in(
                        &mut tx,
                        AuditRecord::system(
                            Actor::User(user),
                            "mfa.recovery_code_used",
                            Outcome::Success,
                        )
                        .request(origin.ip, origin.request_id)
                        .details(serde_json::json!({ "left_before": left })),
                    )
                    .await
                    .map_err(internal)?;
                tx.commit().await?;
                self.mailer.wake();
                Ok(Check::Accepted)
            }
        }
    }

    /// After a correct password: either a session (no second factor) or a pending login.
    pub(crate) async fn after_password(
        &self,
        tx: &mut attest_db::Tx,
        user: UserId,
        tenant: Option<(TenantId, Role)>,
        client: &ClientFacts,
        now: OffsetDateTime,
    ) -> Result<LoginStep, IdentityError> {
        // Read through `tx`, like the standing below.
        let (totp, passkey) = mfa::second_factors_tx(tx, user).await?;
        if totp || passkey {
            let token = Zeroizing::new(random::token().map_err(internal)?);
            mfa::pending_insert(
                tx,
                Uuid::new_v4(),
                &pending_hash(&token),
                user,
                tenant.map(|(t, _)| t),
                now,
                now + PENDING_VALIDITY,
            )
            .await?;
            return Ok(LoginStep::SecondFactor(PendingToken(token)));
        }
        let standing = Self::standing_without_second_factor(tx, tenant).await?;
        let (token, session) =
            sessions::start(tx, user, tenant, client, self.policy, now, false, standing).await?;
        Ok(LoginStep::SignedIn(token, session))
    }

    /// The pending login of a cookie, while it is live.
    pub(crate) async fn live_pending(
        &self,
        token: &str,
    ) -> Result<Option<PendingRow>, IdentityError> {
        let now = self.clock.now();
        Ok(mfa::pending_by_token(&self.db, &pending_hash(token))
            .await?
            .filter(|p| p.ended_at.is_none() && p.expires_at > now))
    }

    /// The methods a live pending login can be completed with: `(totp, passkey)`; `None`
    /// when the login is over.
    ///
    /// # Errors
    /// On database failure.
    pub async fn pending_login_methods(
        &self,
        token: &str,
    ) -> Result<Option<(bool, bool)>, IdentityError> {
        match self.live_pending(token).await? {
            Some(row) => Ok(Some(
                self.factor_methods(UserId::from_uuid(row.user_id)).await?,
            )),
            None => Ok(None),
        }
    }

    /// Whether a pending-login cookie is live (to show the second-factor prompt).
    ///
    /// # Errors
    /// On database failure.
    pub async fn pending_login_live(&self, token: &str) -> Result<bool, IdentityError> {
        let now = self.clock.now();
        Ok(mfa::pending_by_token(&self.db, &pending_hash(token))
            .await?
            .is_some_and(|p| p.ended_at.is_none() && p.expires_at > now))
    }

    /// The second step of a login: a TOTP or recovery code for the pending login. Five wrong
    /// answers end the login (SEC-15); success starts the session.
    ///
    /// # Errors
    /// [`SecondFactorFailure`]; every attempt is audited.
    pub async fn complete_second_factor(
        &self,
        pending: &str,
        proof: Proof,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<(SessionToken, VerifiedSession), SecondFactorFailure> {
        let now = self.clock.now();
        let audit = |user: UserId, outcome: Outcome, reason: &str| {
            AuditRecord::system(Actor::User(user), "auth.second_factor", outcome)
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "method": proof.method(), "reason": reason }))
        };
        let Some(row) = mfa::pending_by_token(&self.db, &pending_hash(pending)).await? else {
            return Err(SecondFactorFailure::Restart);
        };
        let user = UserId::from_uuid(row.user_id);
        if row.ended_at.is_some() || row.expires_at <= now {
            let _ = self
                .audit
                .record(audit(user, Outcome::Denied, "login_restart"))
                .await;
            return Err(SecondFactorFailure::Restart);
        }
        if matches!(proof, Proof::Password(_)) {
            return Err(SecondFactorFailure::Internal(
                IdentityError::UnsupportedMethod,
            ));
        }
        let binding = Binding {
            kind: Kind::SecondFactor,
            bound_to: row.id,
        };
        match self.check_factor(user, &proof, binding, origin).await? {
            Check::Accepted => {}
            Check::TotpLocked(wait) => {
                let _ = self
                    .audit
                    .record(audit(user, Outcome::Denied, "totp_locked"))
                    .await;
                return Err(SecondFactorFailure::TotpLocked(wait));
            }
            Check::Rejected => {
                let mut tx = self.db.begin().await?;
                let failures = mfa::pending_fail(&mut tx, row.id).await?;
                let over = failures == 0 || failures >= MAX_SECOND_FACTOR_FAILURES;
                if over {
                    mfa::pending_end(&mut tx, row.id, now).await?;
                }
                self.audit
                    .record_in(
                        &mut tx,
                        audit(
                            user,
                            Outcome::Failure,
                            if over {
                                "invalid_code_login_voided"
                            } else {
                                "invalid_code"
                            },
                        ),
                    )
                    .await
                    .map_err(internal)?;
                tx.commit().await?;
                return Err(if over {
                    SecondFactorFailure::Restart
                } else {
                    SecondFactorFailure::Invalid
                });
            }
        }
        let active = identity::user_by_id(&self.db, user)
            .await?
            .is_some_and(|u| u.status == "active");
        if !active {
            return Err(SecondFactorFailure::Restart);
        }
        // The tenant the sign-in was for (an SSO sign-in names its provider's), if the user
        // is still a member; otherwise the user's first.
        let chosen = match row.tenant_id.map(TenantId::from_uuid) {
            Some(t) => identity::role_in(&self.db, t, user)
                .await?
                .and_then(|r| r.parse::<Role>().ok())
                .map(|r| (t, r)),
            None => None,
        };
        let tenant = match chosen {
            Some(c) => Some(c),
            None => self.default_tenant(user).await?,
        };
        let mut tx = self.db.begin().await?;
        if !mfa::pending_end(&mut tx, row.id, now).await? {
            return Err(SecondFactorFailure::Restart);
        }
        let started = self
            .start_proven_session(
                &mut tx,
                user,
                tenant,
                client,
                origin,
                serde_json::json!({ "second_factor": proof.method() }),
            )
            .await?;
        tx.commit().await?;
        Ok(started)
    }

    /// Starts a fully signed-in session whose second factor is proven, inside `tx`, and
    /// audits the sign-in with `details`.
    pub(crate) async fn start_proven_session(
        &self,
        tx: &mut attest_db::Tx,
        user: UserId,
        tenant: Option<(TenantId, Role)>,
        client: &ClientFacts,
        origin: Origin,
        details: serde_json::Value,
    ) -> Result<(SessionToken, VerifiedSession), IdentityError> {
        let now = self.clock.now();
        identity::touch_login(tx, user, now).await?;
        let (token, session) = sessions::start(
            tx,
            user,
            tenant,
            client,
            self.policy,
            now,
            true,
            Standing::Full,
        )
        .await?;
        let record = match tenant {
            Some((t, _)) => {
                AuditRecord::tenant(t, Actor::User(user), "auth.login", Outcome::Success)
            }
            None => AuditRecord::system(Actor::User(user), "auth.login", Outcome::Success),
        };
        self.audit
            .record_in(
                tx,
                record
                    .request(origin.ip, origin.request_id)
                    .object("session", session.id)
                    .details(details),
            )
            .await
            .map_err(internal)?;
        Ok((token, session))
    }

    /// Step-up (SEC-29): proves presence again. Users with a second factor must use it (a
    /// TOTP or recovery code); others give their password, which counts against the same
    /// throttle as sign-in.
    ///
    /// # Errors
    /// [`IdentityError::InvalidCode`], [`IdentityError::WrongPassword`],
    /// [`IdentityError::TotpLocked`], [`IdentityError::Throttled`],
    /// [`IdentityError::UnsupportedMethod`] (e.g. a password from a user with a second factor).
    pub async fn reauthenticate(
        &self,
        session: &VerifiedSession,
        proof: Proof,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let now = self.clock.now();
        let has_factor = self.has_second_factor(session.user).await?;
        let record = |outcome, reason: &str| {
            self.user_record(session, "auth.reauth", outcome, origin)
                .details(serde_json::json!({ "method": proof.method(), "reason": reason }))
        };
        let ok = match (&proof, has_factor) {
            (Proof::Password(password), false) => {
                let user = identity::user_by_id(&self.db, session.user)
                    .await?
                    .ok_or(IdentityError::NotFound)?;
                let key = throttle::account_key(&user.email);
                let state = identity::throttle_peek(&self.db, &key).await?;
                if let Some(wait) = throttle::wait(state, now) {
                    let _ = self
                        .audit
                        .record(record(Outcome::Denied, "throttled"))
                        .await;
                    return Err(IdentityError::Throttled(wait));
                }
                let stored = match (&user.password_hash, user.pepper_version) {
                    (Some(phc), Some(v)) => Some(StoredPassword {
                        phc: phc.clone(),
                        pepper_version: u32::try_from(v).map_err(internal)?,
                    }),
                    _ => None,
                };
                let verified = self
                    .hashing
                    .verify(password.clone(), stored)
                    .await
                    .map_err(internal)?;
                if verified == Verification::Mismatch {
                    let mut tx = self.db.begin().await?;
                    let previous = identity::throttle_get(&mut tx, &key).await?;
                    identity::throttle_put(&mut tx, &key, throttle::after_failure(previous, now))
                        .await?;
                    tx.commit().await?;
                    let _ = self
                        .audit
                        .record(record(Outcome::Failure, "wrong_password"))
                        .await;
                    return Err(IdentityError::WrongPassword);
                }
                true
            }
            (Proof::Password(_), true) => {
                let _ = self
                    .audit
                    .record(record(Outcome::Failure, "second_factor_needed"))
                    .await;
                return Err(IdentityError::UnsupportedMethod);
            }
            (_, _) => match self
                .check_factor(
                    session.user,
                    &proof,
                    Binding {
                        kind: Kind::Reauth,
                        bound_to: session.id.as_uuid(),
                    },
                    origin,
                )
                .await?
            {
                Check::Accepted => true,
                Check::Rejected => false,
                Check::TotpLocked(wait) => {
                    let _ = self
                        .audit
                        .record(record(Outcome::Denied, "totp_locked"))
                        .await;
                    return Err(IdentityError::TotpLocked(wait));
                }
            },
        };
        if !ok {
            let _ = self
                .audit
                .record(record(Outcome::Failure, "invalid_code"))
                .await;
            return Err(IdentityError::InvalidCode);
        }
        let mut tx = self.db.begin().await?;
        mfa::session_proven(&mut tx, session.id.as_uuid(), now, has_factor).await?;
        self.audit
            .record_in(&mut tx, record(Outcome::Success, "ok"))
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks the second factor a password reset needs when the user has one (SEC-09).
    pub(crate) async fn reset_second_factor(
        &self,
        user: UserId,
        code: Option<&str>,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        if !self.has_second_factor(user).await? {
            return Ok(());
        }
        let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(IdentityError::Invalid {
                field: "code",
                code: "second_factor_required",
                message: "Enter a code from your authenticator app, or one of your recovery codes."
                    .to_owned(),
            });
        };
        let proof = if code.len() <= 7 {
            Proof::Totp(code.replace([' ', '-'], ""))
        } else {
            Proof::RecoveryCode(Zeroizing::new(code.to_owned()))
        };
        let record = |outcome, reason: &str| {
            AuditRecord::system(Actor::User(user), "auth.reset_second_factor", outcome)
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "method": proof.method(), "reason": reason }))
        };
        // A reset link is answered with a code; no passkey ceremony is ever bound to it.
        let binding = Binding {
            kind: Kind::SecondFactor,
            bound_to: Uuid::nil(),
        };
        match self.check_factor(user, &proof, binding, origin).await? {
            Check::Accepted => Ok(()),
            Check::Rejected => {
                let _ = self
                    .audit
                    .record(record(Outcome::Failure, "invalid_code"))
                    .await;
                Err(IdentityError::Invalid {
                    field: "code",
                    code: "invalid_code",
                    message: "That code is not correct. Codes from the app change every 30 seconds and work once.".to_owned(),
                })
            }
            Check::TotpLocked(wait) => {
                let _ = self
                    .audit
                    .record(record(Outcome::Denied, "totp_locked"))
                    .await;
                Err(IdentityError::TotpLocked(wait))
            }
        }
    }

    /// Sets whether every member of the session's tenant needs a second factor (owners and
    /// admins, SEC-12).
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`], [`IdentityError::ReauthRequired`].
    pub async fn set_tenant_mfa_required(
        &self,
        session: &VerifiedSession,
        required: bool,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let Some((tenant, role)) = session.tenant else {
            return Err(IdentityError::NotFound);
        };
        if !matches!(role, Role::Owner | Role::Admin) {
            return Err(IdentityError::Forbidden);
        }
        self.require_recent_proof(session)?;
        let mut tx = self.db.begin().await?;
        mfa::set_tenant_requires_mfa(&mut tx, tenant, required).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "tenant.mfa_policy", Outcome::Success, origin)
                    .object("tenant", tenant)
                    .details(serde_json::json!({ "mfa_required": required })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the session's tenant requires a second factor of every member.
    ///
    /// # Errors
    /// On database failure.
    pub async fn tenant_mfa_required(&self, tenant: TenantId) -> Result<bool, IdentityError> {
        Ok(mfa::tenant_requires_mfa(&self.db, tenant).await?)
    }
}
