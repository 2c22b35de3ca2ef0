//! Passkeys (WebAuthn, SEC-12): registering named authenticators, a passkey as the second
//! step of a sign-in or as a step-up proof, and passwordless sign-in with a discoverable
//! passkey.
//!
//! The protocol is webauthn-rs's. This module keeps its ceremony state on the server (one
//! row per ceremony: single use, five minutes, bound to the session or pending login that
//! began it; the browser only holds the row's random id) and decides what a verified
//! assertion is worth. Passkeys always require user verification, so one counts as a second
//! factor on its own.

use std::sync::Arc;

use attest_db::identity;
use attest_db::passkey::{self as store, NewCeremony, NewPasskey};
use attest_types::{Actor, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use super::mfa::{RecoveryCodes, notice};
use super::sessions::{ClientFacts, SessionToken, VerifiedSession};
use super::sso::PasswordGate;
use crate::audit::{AuditRecord, Outcome};
use crate::identity::{Identity, IdentityError, Origin, internal};

/// How long a ceremony may take (webauthn-rs asks the browser for the same).
pub const CEREMONY_VALIDITY: Duration = Duration::minutes(5);
/// The longest credential JSON accepted (a browser's is well under 4 KiB).
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;
/// The longest passkey name.
pub const MAX_NAME_CHARS: usize = 64;
/// Most passkeys per user.
pub const MAX_PASSKEYS: i64 = 20;

/// The relying party: this installation, as browsers and authenticators know it.
#[derive(Debug, Clone)]
pub struct RelyingParty(Arc<Webauthn>);

impl RelyingParty {
    /// The relying party of the public origin (`https://attest.example.com`). `None` when the
    /// origin's host is an IP address: WebAuthn needs a domain name, so passkeys are off.
    ///
    /// # Errors
    /// When the URL is not a valid origin.
    pub fn for_origin(public_url: &str) -> Result<Option<Self>, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("public URL: {e}"))?;
        let Some(rp_id) = origin.domain().map(str::to_owned) else {
            return Ok(None);
        };
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| {
                b.rp_name("Attest")
                    .timeout(std::time::Duration::from_secs(300))
                    .build()
            })
            .map_err(|e| format!("WebAuthn relying party: {e}"))?;
        Ok(Some(Self(Arc::new(webauthn))))
    }
}

/// What kind of ceremony a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Register,
    SecondFactor,
    Reauth,
    SignIn,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SecondFactor => "second_factor",
            Self::Reauth => "reauth",
            Self::SignIn => "sign_in",
        }
    }
}

/// Where a passkey assertion must come from: a ceremony of this kind, begun for this session
/// or pending login.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub(crate) kind: Kind,
    pub(crate) bound_to: Uuid,
}

/// A ceremony begun: the id to send back and the options for `navigator.credentials`.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    /// The ceremony's id.
    pub ceremony: Uuid,
    /// `{"publicKey": {...}}` (and `mediation` for a passwordless sign-in).
    pub options: serde_json::Value,
}

/// What the browser sent back: the ceremony id and the credential as JSON
/// (`PublicKeyCredential.toJSON()`).
#[derive(Clone)]
pub struct PasskeyResponse {
    /// The ceremony's id as text.
    pub ceremony: String,
    /// The credential JSON.
    pub credential: String,
}

impl std::fmt::Debug for PasskeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasskeyResponse({} bytes)", self.credential.len())
    }
}

/// A passkey as its owner sees it listed.
#[derive(Debug, Clone)]
pub struct PasskeySummary {
    /// Opaque id.
    pub id: Uuid,
    /// The user's label.
    pub name: String,
    /// Registered.
    pub created_at: OffsetDateTime,
    /// Last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// Signs in without a username.
    pub discoverable: bool,
}

/// Why a passkey response was refused (for the audit trail; users see one message).
#[derive(Debug)]
enum Refusal {
    Malformed,
    CeremonyGone,
    Rejected(String),
    UnknownCredential,
}

impl Refusal {
    fn reason(&self) -> String {
        match self {
            Self::Malformed => "malformed".to_owned(),
            Self::CeremonyGone => "ceremony_unknown_or_expired".to_owned(),
            Self::Rejected(why) => format!("rejected: {why}"),
            Self::UnknownCredential => "unknown_credential".to_owned(),
        }
    }
}

fn parse_ceremony(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id.trim()).ok()
}

fn parse_credential<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Refusal> {
    if json.len() > MAX_CREDENTIAL_BYTES {
        return Err(Refusal::Malformed);
    }
    serde_json::from_str(json).map_err(|_| Refusal::Malformed)
}

fn session_binding(session: &VerifiedSession) -> Uuid {
    session.id.as_uuid()
}

fn validate_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    let name = if name.is_empty() { "Passkey" } else { name };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(IdentityError::Invalid {
            field: "name",
            code: "invalid_name",
            message: format!(
                "Give the passkey a name of at most {MAX_NAME_CHARS} characters, without line breaks."
            ),
        });
    }
    Ok(name.to_owned())
}

fn rejected(reason: &Refusal) -> IdentityError {
    match reason {
        Refusal::CeremonyGone => IdentityError::Invalid {
            field: "ceremony",
            code: "ceremony_expired",
            message: "The passkey request expired or was used already. Start again.".to_owned(),
        },
        _ => IdentityError::Invalid {
            field: "credential",
            code: "passkey_rejected",
            message: "The passkey's answer could not be verified. Try again, or use another authenticator.".to_owned(),
        },
    }
}

impl Identity {
    /// Turns passkeys on for the public origin users reach (off when it is an IP address).
    #[must_use]
    pub fn with_relying_party(mut self, rp: Option<RelyingParty>) -> Self {
        self.webauthn = rp.map(|r| r.0);
        self
    }

    /// Whether passkeys can be used on this installation.
    #[must_use]
    pub const fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, IdentityError> {
        self.webauthn
            .as_deref()
            .ok_or(IdentityError::UnsupportedMethod)
    }

    /// The session user's passkeys.
    ///
    /// # Errors
    /// On database failure.
    pub async fn passkeys(
        &self,
        session: &VerifiedSession,
    ) -> Result<Vec<PasskeySummary>, IdentityError> {
        Ok(store::of_user(&self.db, session.user)
            .await?
            .into_iter()
            .map(|r| PasskeySummary {
                id: r.id,
                name: r.name,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                discoverable: r.discoverable,
            })
            .collect())
    }

    async fn stored_passkeys(&self, user: UserId) -> Result<Vec<Passkey>, IdentityError> {
        store::of_user(&self.db, user)
            .await?
            .iter()
            .map(|r| serde_json::from_str::<Passkey>(&r.credential).map_err(internal))
            .collect()
    }

    async fn begin(
        &self,
        kind: Kind,
        bound_to: Uuid,
        user: Option<UserId>,
        state: String,
        options: serde_json::Value,
    ) -> Result<PasskeyChallenge, IdentityError> {
        let now = self.clock.now();
        let ceremony = Uuid::new_v4();
        let mut tx = self.db.begin().await?;
        store::ceremony_insert(
            &mut tx,
            &NewCeremony {
                id: ceremony,
                kind: kind.as_str(),
                bound_to,
                user,
                state: &state,
                expires_at: now + CEREMONY_VALIDITY,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(PasskeyChallenge { ceremony, options })
    }

    /// Takes the ceremony named in a response, if it is live, of `kind`, and bound as
    /// expected. It is gone afterwards, whatever the outcome.
    async fn take(
        &self,
        response: &PasskeyResponse,
        kind: Kind,
        bound_to: Uuid,
    ) -> Result<Result<store::CeremonyRow, Refusal>, IdentityError> {
        let Some(id) = parse_ceremony(&response.ceremony) else {
            return Ok(Err(Refusal::CeremonyGone));
        };
        let mut tx = self.db.begin().await?;
        let row = store::ceremony_take(&mut tx, id).await?;
        tx.commit().await?;
        Ok(match row {
            Some(r)
                if r.kind == kind.as_str()
                    && r.bound_to == bound_to
                    && r.expires_at > self.clock.now() =>
            {
                Ok(r)
            }
            _ => Err(Refusal::CeremonyGone),
        })
    }

    /// Begins registering a passkey for the session's user (SEC-29: needs a recent proof).
    ///
    /// # Errors
    /// [`IdentityError::ReauthRequired`], [`IdentityError::UnsupportedMethod`] when passkeys
    /// are off, [`IdentityError::Invalid`] at the passkey limit.
    pub async fn begin_passkey_registration(
        &self,
        session: &VerifiedSession,
    ) -> Result<PasskeyChallenge, IdentityError> {
        self.require_recent_proof(session)?;
        let webauthn = self.webauthn()?;
        if store::count_of_user(&self.db, session.user).await? >= MAX_PASSKEYS {
            return Err(IdentityError::Invalid {
                field: "name",
                code: "too_many_passkeys",
                message: format!(
                    "An account holds at most {MAX_PASSKEYS} passkeys. Remove one you no longer use first."
                ),
            });
        }
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let handle = match store::user_handle(&self.db, session.user).await? {
            Some(h) => h,
            None => {
                let mut tx = self.db.begin().await?;
                let h = store::ensure_user_handle(&mut tx, session.user, Uuid::new_v4()).await?;
                tx.commit().await?;
                h
            }
        };
        let exclude = self
            .stored_passkeys(session.user)
            .await?
            .iter()
            .map(|p| p.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = webauthn
            .start_passkey_registration(handle, &user.email, &user.display_name, Some(exclude))
            .map_err(internal)?;
        let state: &PasskeyRegistration = &state;
        let state = serde_json::to_string(state).map_err(internal)?;
        let mut options = serde_json::to_value(&options).map_err(internal)?;
        // Ask for a discoverable credential where the authenticator can make one, so the
        // passkey can also sign in without a username; security keys may still decline.
        // (webauthn-rs ignores this field when it checks the registration.)
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".to_owned(), "preferred".into());
        }
        self.begin(
            Kind::Register,
            session_binding(session),
            Some(session.user),
            state,
            options,
        )
        .await
    }

    /// Finishes registering a passkey under `name`. A user's first second factor comes with
    /// recovery codes (returned once). The user is told by mail (SEC-17) and it is audited;
    /// a refused response adds nothing and is audited too.
    ///
    /// # Errors
    /// [`IdentityError::Invalid`] (`passkey_rejected`, `ceremony_expired`, `invalid_name`),
    /// [`IdentityError::Taken`] when the authenticator is registered already,
    /// [`IdentityError::ReauthRequired`].
    pub async fn finish_passkey_registration(
        &self,
        session: &VerifiedSession,
        name: &str,
        response: &PasskeyResponse,
        origin: Origin,
    ) -> Result<Option<RecoveryCodes>, IdentityError> {
        self.require_recent_proof(session)?;
        let webauthn = self.webauthn()?;
        let name = validate_name(name)?;
        let refuse = |reason: Refusal| async move {
            let _ = self
                .audit
                .record(
                    self.user_record(session, "mfa.passkey_register", Outcome::Failure, origin)
                        .details(serde_json::json!({ "reason": reason.reason() })),
                )
                .await;
            Err(rejected(&reason))
        };
        let row = match self
            .take(response, Kind::Register, session_binding(session))
            .await?
        {
            Ok(r) => r,
            Err(reason) => return refuse(reason).await,
        };
        let credential: RegisterPublicKeyCredential = match parse_credential(&response.credential) {
            Ok(c) => c,
            Err(reason) => return refuse(reason).await,
        };
        let state: PasskeyRegistration = serde_json::from_str(&row.state).map_err(internal)?;
        let passkey = match webauthn.finish_passkey_registration(&credential, &state) {
            Ok(p) => p,
            Err(e) => return refuse(Refusal::Rejected(e.to_string())).await,
        };
        let discoverable = credential
            .extensions
            .cred_props
            .as_ref()
            .and_then(|p| p.rk)
            .unwrap_or(false);
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        let stored = serde_json::to_string(&passkey).map_err(internal)?;
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let first = !self.has_second_factor(session.user).await?;
        let codes = if first {
            Some(self.new_recovery_codes().await?)
        } else {
            None
        };
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "A passkey was added to your Attest account",
                &notice(
                    &user.display_name,
                    &format!("A passkey named \"{name}\" was just added to your Attest account."),
                ),
            )
            .await
            .map_err(internal)?;
        let now = self.clock.now();
        let id = Uuid::new_v4();
        let mut tx = self.db.begin().await?;
        let inserted = store::insert(
            &mut tx,
            &NewPasskey {
                id,
                user: session.user,
                credential_id: &credential_id,
                name: &name,
                credential: &stored,
                discoverable,
            },
            now,
        )
        .await?;
        if !inserted {
            drop(tx);
            let _ = self
                .audit
                .record(
                    self.user_record(session, "mfa.passkey_register", Outcome::Failure, origin)
                        .details(serde_json::json!({ "reason": "credential_registered_already" })),
                )
                .await;
            return Err(IdentityError::Taken("this passkey"));
        }
        if let Some((_, hashed)) = &codes {
            attest_db::mfa::recovery_replace(&mut tx, session.user, hashed, now).await?;
        }
        attest_db::mfa::session_proven(&mut tx, session.id.as_uuid(), now, true).await?;
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.passkey_register", Outcome::Success, origin)
                    .object("passkey", id)
                    .details(serde_json::json!({
                        "discoverable": discoverable,
                        "recovery_codes_issued": first,
                    })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(codes.map(|(shown, _)| shown))
    }

    /// Removes one of the session user's passkeys (SEC-29: needs a recent proof). Refused
    /// when it is the last second factor and the user's role or tenant requires one. With
    /// no factor left, the recovery codes go too.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] (also for another user's passkey),
    /// [`IdentityError::SecondFactorRequired`], [`IdentityError::ReauthRequired`].
    pub async fn remove_passkey(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        self.require_recent_proof(session)?;
        let id = Uuid::parse_str(id).map_err(|_| IdentityError::NotFound)?;
        let mine = store::of_user(&self.db, session.user).await?;
        let Some(target) = mine.iter().find(|p| p.id == id) else {
            return Err(IdentityError::NotFound);
        };
        let factors = self.factors(session).await?;
        let last = !factors.totp && mine.len() == 1;
        if last && factors.required {
            return Err(IdentityError::SecondFactorRequired);
        }
        let user = identity::user_by_id(&self.db, session.user)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let what = if last {
            format!(
                "The passkey named \"{}\" was just removed from your Attest account, together with your recovery codes. Your account is now protected by its password only.",
                target.name
            )
        } else {
            format!(
                "The passkey named \"{}\" was just removed from your Attest account.",
                target.name
            )
        };
        let mail = self
            .mailer
            .prepare(
                &user.email,
                "A passkey was removed from your Attest account",
                &notice(&user.display_name, &what),
            )
            .await
            .map_err(internal)?;
        let mut tx = self.db.begin().await?;
        if !store::delete(&mut tx, session.user, id).await? {
            return Err(IdentityError::NotFound);
        }
        if last {
            attest_db::mfa::recovery_delete_all(&mut tx, session.user).await?;
        }
        self.mailer.enqueue(&mut tx, mail).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "mfa.passkey_remove", Outcome::Success, origin)
                    .object("passkey", id)
                    .details(serde_json::json!({ "last_factor": last })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    async fn begin_assertion(
        &self,
        user: UserId,
        kind: Kind,
        bound_to: Uuid,
    ) -> Result<PasskeyChallenge, IdentityError> {
        let webauthn = self.webauthn()?;
        let passkeys = self.stored_passkeys(user).await?;
        if passkeys.is_empty() {
            return Err(IdentityError::NotFound);
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(internal)?;
        let state: &PasskeyAuthentication = &state;
        let state = serde_json::to_string(state).map_err(internal)?;
        let options = serde_json::to_value(&options).map_err(internal)?;
        self.begin(kind, bound_to, Some(user), state, options).await
    }

    /// Begins a passkey answer to the second-factor prompt of a pending login.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] when the login is over or the user has no passkey.
    pub async fn begin_passkey_second_factor(
        &self,
        pending: &str,
    ) -> Result<PasskeyChallenge, IdentityError> {
        let row = self
            .live_pending(pending)
            .await?
            .ok_or(IdentityError::NotFound)?;
        self.begin_assertion(UserId::from_uuid(row.user_id), Kind::SecondFactor, row.id)
            .await
    }

    /// Begins a passkey step-up for the session (SEC-29).
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] when the user has no passkey.
    pub async fn begin_passkey_reauth(
        &self,
        session: &VerifiedSession,
    ) -> Result<PasskeyChallenge, IdentityError> {
        self.begin_assertion(session.user, Kind::Reauth, session_binding(session))
            .await
    }

    /// Checks a passkey assertion of `user` against a ceremony bound as `binding`. On
    /// success the stored counter and flags move on and the use is recorded.
    pub(crate) async fn verify_passkey(
        &self,
        user: UserId,
        binding: Binding,
        response: &PasskeyResponse,
    ) -> Result<Result<(), String>, IdentityError> {
        let webauthn = self.webauthn()?;
        let row = match self.take(response, binding.kind, binding.bound_to).await? {
            Ok(r) if r.user_id == Some(user.as_uuid()) => r,
            Ok(_) => return Ok(Err(Refusal::CeremonyGone.reason())),
            Err(reason) => return Ok(Err(reason.reason())),
        };
        let credential: PublicKeyCredential = match parse_credential(&response.credential) {
            Ok(c) => c,
            Err(reason) => return Ok(Err(reason.reason())),
        };
        let state: PasskeyAuthentication = serde_json::from_str(&row.state).map_err(internal)?;
        let result = match webauthn.finish_passkey_authentication(&credential, &state) {
            Ok(r) => r,
            Err(e) => return Ok(Err(Refusal::Rejected(e.to_string()).reason())),
        };
        let credential_id = URL_SAFE_NO_PAD.encode(result.cred_id());
        let Some(stored) = store::by_credential_id(&self.db, &credential_id)
            .await?
            .filter(|r| r.user_id == user.as_uuid())
        else {
            return Ok(Err(Refusal::UnknownCredential.reason()));
        };
        self.record_passkey_use(&stored, &result).await?;
        Ok(Ok(()))
    }

    async fn record_passkey_use(
        &self,
        stored: &store::PasskeyRow,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<(), IdentityError> {
        let mut passkey: Passkey = serde_json::from_str(&stored.credential).map_err(internal)?;
        let updated = match passkey.update_credential(result) {
            Some(true) => Some(serde_json::to_string(&passkey).map_err(internal)?),
            _ => None,
        };
        let mut tx = self.db.begin().await?;
        store::record_use(&mut tx, stored.id, updated.as_deref(), self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Begins a passwordless sign-in with a discoverable passkey. Counts against the same
    /// per-address limit as password sign-in.
    ///
    /// # Errors
    /// [`IdentityError::Throttled`], [`IdentityError::UnsupportedMethod`] when passkeys are off.
    pub async fn begin_passkey_sign_in(
        &self,
        origin: Origin,
    ) -> Result<PasskeyChallenge, IdentityError> {
        let webauthn = self.webauthn()?;
        if let Some(ip) = origin.ip
            && let Err(wait) = self.ip_limiter.hit(ip, self.clock.now())
        {
            return Err(IdentityError::Throttled(wait));
        }
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        let state: &DiscoverableAuthentication = &state;
        let state = serde_json::to_string(state).map_err(internal)?;
        let options = serde_json::to_value(&options).map_err(internal)?;
        self.begin(Kind::SignIn, Uuid::nil(), None, state, options)
            .await
    }

    /// Signs in with a discoverable passkey: the authenticator names the account (by its
    /// random user handle) and proves it holds the key with user verification, so the
    /// session counts as second-factor proven. Every attempt is audited.
    ///
    /// # Errors
    /// [`IdentityError::PasskeyRejected`] for anything wrong with the response (one answer
    /// for an unknown credential, a bad signature or an expired ceremony).
    pub async fn sign_in_with_passkey(
        &self,
        response: &PasskeyResponse,
        client: &ClientFacts,
        origin: Origin,
    ) -> Result<(SessionToken, VerifiedSession), IdentityError> {
        let webauthn = self.webauthn()?;
        let refuse = |user: Option<UserId>, reason: String| async move {
            let _ = self
                .audit
                .record(
                    AuditRecord::system(
                        user.map_or(Actor::Anonymous, Actor::User),
                        "auth.login",
                        Outcome::Failure,
                    )
                    .request(origin.ip, origin.request_id)
                    .details(serde_json::json!({ "method": "passkey", "reason": reason })),
                )
                .await;
            Err(IdentityError::PasskeyRejected)
        };
        let row = match self.take(response, Kind::SignIn, Uuid::nil()).await? {
            Ok(r) => r,
            Err(reason) => return refuse(None, reason.reason()).await,
        };
        let credential: PublicKeyCredential = match parse_credential(&response.credential) {
            Ok(c) => c,
            Err(reason) => return refuse(None, reason.reason()).await,
        };
        let Ok((handle, credential_id)) =
            webauthn.identify_discoverable_authentication(&credential)
        else {
            return refuse(None, "no_user_handle".to_owned()).await;
        };
        let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
        let owner = store::user_by_handle(&self.db, handle).await?;
        let stored = store::by_credential_id(&self.db, &credential_id).await?;
        let (Some(user), Some(stored)) = (owner, stored) else {
            return refuse(None, Refusal::UnknownCredential.reason()).await;
        };
        if stored.user_id != user.as_uuid() {
            return refuse(Some(user), "handle_does_not_own_credential".to_owned()).await;
        }
        let passkey: Passkey = serde_json::from_str(&stored.credential).map_err(internal)?;
        let state: DiscoverableAuthentication =
            serde_json::from_str(&row.state).map_err(internal)?;
        let result =
            match webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey) {
                Ok(r) => r,
                Err(e) => {
                    return refuse(Some(user), Refusal::Rejected(e.to_string()).reason()).await;
                }
            };
        let active = identity::user_by_id(&self.db, user)
            .await?
            .is_some_and(|u| u.status == "active");
        if !active {
            return refuse(Some(user), "account_disabled".to_owned()).await;
        }
        // A tenant that enforces SSO signs its members in through its provider (SEC-19);
        // an owner with a second factor keeps the break-glass way in, as with a password.
        let break_glass = match self.sso_password_gate(user).await? {
            PasswordGate::Open => false,
            PasswordGate::BreakGlass(_) => true,
            PasswordGate::SsoRequired { tenant, provider } => {
                let _ = self
                    .audit
                    .record(
                        AuditRecord::tenant(
                            tenant,
                            Actor::User(user),
                            "auth.login",
                            Outcome::Denied,
                        )
                        .request(origin.ip, origin.request_id)
                        .details(
                            serde_json::json!({ "method": "passkey", "reason": "sso_required" }),
                        ),
                    )
                    .await;
                return Err(IdentityError::SsoRequired { tenant, provider });
            }
        };
        self.record_passkey_use(&stored, &result).await?;
        let tenant = self.default_tenant(user).await?;
        let mut tx = self.db.begin().await?;
        let started = self
            .start_proven_session(
                &mut tx,
                user,
                tenant,
                client,
                origin,
                serde_json::json!({
                    "method": "passkey",
                    "passkey": stored.id,
                    "sso_break_glass": break_glass,
                }),
            )
            .await?;
        tx.commit().await?;
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use super::RelyingParty;

    #[test]
    fn passkeys_need_a_domain_name() {
        assert!(matches!(
            RelyingParty::for_origin("https://attest.example.com"),
            Ok(Some(_))
        ));
        assert!(matches!(
            RelyingParty::for_origin("https://localhost:8443"),
            Ok(Some(_))
        ));
        // WebAuthn has no relying-party id for an IP address: passkeys are off, not broken.
        assert!(matches!(
            RelyingParty::for_origin("https://10.0.0.5:8443"),
            Ok(None)
        ));
        assert!(matches!(
            RelyingParty::for_origin("https://[::1]:8443"),
            Ok(None)
        ));
        assert!(RelyingParty::for_origin("not a url").is_err());
    }
}
