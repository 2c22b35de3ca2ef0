//! Server-side sessions (SEC-20…28). The cookie holds only a 256-bit random token; the
//! database holds SHA-256 of it. A session ends on logout, on a newer login of the same user
//! (one browser at a time, SEC-23), after 60 minutes without user activity (SEC-24; requests
//! marked as background polling do not count) and 12 hours after it began (SEC-25).

use crate::access::Visibility;
use attest_crypto::Zeroizing;
use attest_crypto::random;
use attest_db::identity::{self, NewSession, SessionRow};
use attest_db::{Db, DbError, Tx};
use attest_types::{Role, SessionId, TenantId, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long an ended or expired session row is kept (to say why a browser was signed out).
const KEEP_ENDED: Duration = Duration::days(30);

/// How stale `last_seen_at` may get before a request refreshes it.
const TOUCH_EVERY: Duration = Duration::seconds(30);

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends after this long without user activity.
    pub idle: Duration,
    /// Ends this long after sign-in, whatever the activity.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(60),
            absolute: Duration::hours(12),
        }
    }
}

/// The cookie value of a new session. Never logged, never stored.
pub struct SessionToken(pub Zeroizing<String>);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// A session that was checked against the database just now. Only [`authenticate`] and
/// [`start`] make one, so holding one proves the request is signed in.
#[derive(Debug, Clone)]
pub struct VerifiedSession {
    /// The session.
    pub id: SessionId,
    /// Its user.
    pub user: UserId,
    /// The tenant the user works in, with the user's role there.
    pub tenant: Option<(TenantId, Role)>,
    /// The CSRF token bound to this session (SEC-50).
    pub csrf_token: String,
    /// Whether a second factor was proven at sign-in or since.
    pub second_factor: bool,
    /// The last proof of presence: sign-in or step-up (SEC-29).
    pub reauth_at: OffsetDateTime,
    /// What the session may do.
    pub standing: Standing,
    /// `Some` when the request came with an API token instead of a browser session: what
    /// the token may do (SEC-77).
    pub token_scope: Option<super::api_tokens::TokenScope>,
    /// Which objects of the tenant the member sees (SEC-36).
    pub visibility: Visibility,
}

/// What a session may do (SEC-12). A session that must first enrol a second factor reaches
/// only the enrolment pages and sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Everything its role allows.
    Full,
    /// Nothing but enrolling a second factor: the user's role or tenant requires one and
    /// the user has none yet.
    MustEnrolSecondFactor,
}

/// Who must use a second factor: owners and admins always, everyone in a tenant that
/// requires it (SEC-12).
#[must_use]
pub const fn second_factor_required(role: Role, tenant_requires: bool) -> bool {
    tenant_requires || matches!(role, Role::Owner | Role::Admin)
}

/// How long a proof of presence lets sensitive actions through (SEC-29).
pub const REAUTH_WINDOW: Duration = Duration::minutes(10);

impl VerifiedSession {
    /// Whether the last proof of presence is recent enough for a sensitive action (SEC-29).
    #[must_use]
    pub fn recently_proven(&self, now: OffsetDateTime) -> bool {
        now - self.reauth_at <= REAUTH_WINDOW
    }
}

/// Why a cookie does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFailure {
    /// No such session (or a forged token).
    Unknown,
    /// Ended by a newer sign-in elsewhere.
    Superseded,
    /// Idle or absolute timeout.
    Expired,
    /// Signed out, revoked, or ended by a password change or an administrator.
    Ended,
    /// The database could not be reached in time (every pooled connection busy): the
    /// session may well be valid, so the client is asked to retry rather than to sign in.
    Unavailable,
}

impl SessionFailure {
    /// Stable code for API errors.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unknown | Self::Ended => "unauthenticated",
            Self::Superseded => "session_superseded",
            Self::Expired => "session_expired",
            Self::Unavailable => "unavailable",
        }
    }
}

/// SHA-256 of a cookie token: the key of the session table.
#[must_use]
pub fn token_hash(token: &str) -> [u8; 32] {
    let mut input = b"attest/session/v1\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    random::sha256(&input)
}

/// The CSRF token bound to a session token: derivable only by someone holding the cookie.
#[must_use]
pub fn csrf_for(token: &str) -> String {
    let mut input = b"attest/csrf/v1\0".to_vec();
    input.extend_from_slice(token.as_bytes());
    URL_SAFE_NO_PAD.encode(random::sha256(&input))
}

/// Facts about the browser starting a session.
#[derive(Debug, Clone, Default)]
pub struct ClientFacts {
    /// Its address.
    pub ip: Option<String>,
    /// Its user agent (truncated).
    pub user_agent: Option<String>,
}

/// Starts a session for a user in `tx`, ending every other session of theirs (one browser
/// at a time). The caller audits and commits.
///
/// # Errors
/// On database or random-generator failure.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    tx: &mut Tx,
    user: UserId,
    tenant: Option<(TenantId, Role)>,
    client: &ClientFacts,
    policy: SessionPolicy,
    now: OffsetDateTime,
    second_factor: bool,
    standing: Standing,
) -> Result<(SessionToken, VerifiedSession), DbError> {
    identity::end_sessions_of_user(tx, user, None, "superseded", now).await?;
    identity::purge_old_sessions(tx, user, now - KEEP_ENDED).await?;
    let token = random::token().map_err(|_| DbError::Corrupt("random generator"))?;
    let id = Uuid::new_v4();
    let ua = client
        .user_agent
        .as_deref()
        .map(|u| u.chars().take(200).collect::<String>());
    identity::insert_session(
        tx,
        &NewSession {
            id,
            token_hash: &token_hash(&token),
            user,
            tenant: tenant.map(|t| t.0),
            now,
            expires_at: now + policy.absolute,
            source_ip: client.ip.clone(),
            user_agent: ua,
            second_factor,
        },
    )
    .await?;
    let visibility = match tenant {
        Some((t, _)) if !identity::shared_only_in(tx, t, user).await? => Visibility::Tenant,
        _ => Visibility::SharedOnly,
    };
    let verified = VerifiedSession {
        id: SessionId::from_uuid(id),
        user,
        tenant,
        csrf_token: csrf_for(&token),
        second_factor,
        reauth_at: now,
        standing,
        token_scope: None,
        visibility,
    };
    Ok((SessionToken(Zeroizing::new(token)), verified))
}

fn check(
    row: &SessionRow,
    policy: SessionPolicy,
    now: OffsetDateTime,
) -> Result<(), SessionFailure> {
    if let Some(reason) = &row.end_reason {
        return Err(if reason == "superseded" {
            SessionFailure::Superseded
        } else {
            SessionFailure::Ended
        });
    }
    if row.ended_at.is_some() {
        return Err(SessionFailure::Ended);
    }
    if now >= row.expires_at || now - row.last_seen_at >= policy.idle {
        return Err(SessionFailure::Expired);
    }
    Ok(())
}

/// A failed session lookup: unavailable when the database is busy or down, else unknown.
fn lookup_failure(e: DbError) -> SessionFailure {
    if e.is_unavailable() {
        SessionFailure::Unavailable
    } else {
        SessionFailure::Unknown
    }
}

/// Checks a cookie token. User activity (`background == false`) moves the idle deadline;
/// background polling does not (SEC-24). Refreshes are coalesced to one per 30 seconds.
///
/// # Errors
/// The reason the token does not authenticate. A database that cannot serve now is
/// [`SessionFailure::Unavailable`]; other database failures count as unknown.
pub async fn authenticate(
    db: &Db,
    token: &str,
    background: bool,
    policy: SessionPolicy,
    now: OffsetDateTime,
) -> Result<VerifiedSession, SessionFailure> {
    if token.len() != 43 {
        return Err(SessionFailure::Unknown);
    }
    let row = identity::session_by_token_hash(db, &token_hash(token))
        .await
        .map_err(lookup_failure)?
        .ok_or(SessionFailure::Unknown)?;
    check(&row, policy, now)?;
    let user = UserId::from_uuid(row.user_id);
    let active = identity::user_by_id(db, user)
        .await
        .map_err(lookup_failure)?
        .is_some_and(|u| u.status == "active");
    if !active {
        return Err(SessionFailure::Ended);
    }
    let mut tenant = None;
    let mut tenant_requires = false;
    let mut visibility = Visibility::SharedOnly;
    if let Some(t) = row.tenant_id
        && let Some(m) = identity::membership_in(db, user, t, now)
            .await
            .map_err(lookup_failure)?
    {
        tenant = m.role.parse().ok().map(|r| (TenantId::from_uuid(t), r));
        tenant_requires = m.mfa_required;
        if !m.shared_only {
            visibility = Visibility::Tenant;
        }
    }
    // Activity is recorded at most every 30 s: idle expiry stays within 30 s of exact, and a
    // busy user's reads do not each cost a database write.
    if !background && now - row.last_seen_at >= TOUCH_EVERY {
        identity::touch_session(db, row.id, now)
            .await
            .map_err(lookup_failure)?;
    }
    let standing = match tenant {
        Some((_, role)) if !row.second_factor && second_factor_required(role, tenant_requires) => {
            Standing::MustEnrolSecondFactor
        }
        _ => Standing::Full,
    };
    Ok(VerifiedSession {
        id: SessionId::from_uuid(row.id),
        user,
        tenant,
        csrf_token: csrf_for(token),
        second_factor: row.second_factor,
        reauth_at: row.reauth_at.unwrap_or(row.created_at),
        standing,
        token_scope: None,
        visibility,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_distinct_hashes_and_csrf_tokens() {
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert_eq!(csrf_for("a").len(), 43);
    }
}
