//! Storage of tenants, users, memberships, sessions, login throttling and one-time tokens.
//! Every function takes the ids it scopes by; none decides anything (the rules live in the
//! domain's `authn` and `tenancy`).

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A user as stored.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    /// Id.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// PHC string, if a password is set.
    pub password_hash: Option<String>,
    /// Pepper version of the hash.
    pub pepper_version: Option<i64>,
    /// `active` or `disabled`.
    pub status: String,
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, pepper_version, status";

/// Counts users (bootstrap is offered only while there are none).
///
/// # Errors
/// On database failure.
pub async fn count_users(db: &Db) -> Result<i64, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT count(*) FROM app_user")
            .fetch_one(pool)
            .await?
    }))
}

/// A user by normalised email.
///
/// # Errors
/// On database failure.
pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM app_user WHERE email = $1"
        )))
        .bind(email)
        .fetch_optional(pool)
        .await?
    }))
}

/// A user by id.
///
/// # Errors
/// On database failure.
pub async fn user_by_id(db: &Db, id: UserId) -> Result<Option<UserRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM app_user WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?
    }))
}

/// Creates a user.
///
/// # Errors
/// On database failure; a duplicate email is a unique violation.
pub async fn insert_user(
    tx: &mut Tx,
    id: UserId,
    email: &str,
    display_name: &str,
    password: Option<(&str, u32)>,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO app_user (id, email, display_name, password_hash, pepper_version, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6)",
        )
        .bind(id.as_uuid())
        .bind(email)
        .bind(display_name)
        .bind(password.map(|p| p.0))
        .bind(password.map(|p| i64::from(p.1)))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Replaces a user's password hash.
///
/// # Errors
/// On database failure.
pub async fn set_password(
    tx: &mut Tx,
    id: UserId,
    phc: &str,
    pepper_version: u32,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE app_user SET password_hash = $2, pepper_version = $3 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(phc)
            .bind(i64::from(pepper_version))
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Records a successful login.
///
/// # Errors
/// On database failure.
pub async fn touch_login(tx: &mut Tx, id: UserId, now: OffsetDateTime) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE app_user SET last_login_at = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Creates a tenant.
///
/// # Errors
/// On database failure; a duplicate name is a unique violation.
pub async fn insert_tenant(
    tx: &mut Tx,
    id: TenantId,
    name: &str,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("INSERT INTO tenant (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_uuid())
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A tenant's id by name.
///
/// # Errors
/// On database failure.
pub async fn tenant_by_name(db: &Db, name: &str) -> Result<Option<TenantId>, DbError> {
    let id: Option<Uuid> = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT id FROM tenant WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    Ok(id.map(TenantId::from_uuid))
}

/// Adds a member with a role.
///
/// # Errors
/// On database failure.
pub async fn insert_membership(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    role: &str,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO membership (tenant_id, user_id, role, created_at, shared_only) VALUES ($1, $2, $3, $4, $3 = 'external')",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(role)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A membership as listed for a user: tenant id, tenant name, role.
pub type MembershipRow = (Uuid, String, String);

/// The tenants a user belongs to, by name.
///
/// # Errors
/// On database failure.
pub async fn memberships_of(db: &Db, user: UserId) -> Result<Vec<MembershipRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT t.id, t.name, m.role FROM membership m JOIN tenant t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 ORDER BY t.name",
        )
        .bind(user.as_uuid())
        .fetch_all(pool)
        .await?
    }))
}

/// A live membership as each request's session check needs it, in one query.
#[derive(Debug, Clone, FromRow)]
pub struct MembershipCheck {
    /// The role.
    pub role: String,
    /// Whether the tenant requires a second factor.
    pub mfa_required: bool,
    /// Whether the member sees only what is shared with them.
    pub shared_only: bool,
}

/// A user's live membership of one tenant: none when there is none or its end date
/// (`access_until`) has passed at `now`.
///
/// # Errors
/// On database failure.
pub async fn membership_in(
    db: &Db,
    user: UserId,
    tenant: Uuid,
    now: OffsetDateTime,
) -> Result<Option<MembershipCheck>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT m.role, t.mfa_required, m.shared_only FROM membership m \
             JOIN tenant t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 AND m.tenant_id = $2 \
             AND (m.access_until IS NULL OR m.access_until > $3)",
        )
        .bind(user.as_uuid())
        .bind(tenant)
        .bind(now)
        .fetch_optional(pool)
        .await?
    }))
}

/// Whether a member sees only what is shared with them.
///
/// # Errors
/// On database failure.
pub async fn shared_only_in(tx: &mut Tx, tenant: TenantId, user: UserId) -> Result<bool, DbError> {
    let found: Option<bool> = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT shared_only FROM membership WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *conn)
        .await?
    });
    Ok(found.unwrap_or(true))
}

/// A session as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    /// Id (shown in the session list; not the token).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The tenant the session is working in.
    pub tenant_id: Option<Uuid>,
    /// Start.
    pub created_at: OffsetDateTime,
    /// Last user activity.
    pub last_seen_at: OffsetDateTime,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
    /// Client address at login.
    pub source_ip: Option<String>,
    /// Browser at login (truncated).
    pub user_agent: Option<String>,
    /// When it ended, if it did.
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Whether a second factor was proven at sign-in or since.
    pub second_factor: bool,
    /// The last proof of presence (sign-in or step-up).
    pub reauth_at: Option<OffsetDateTime>,
}

const SESSION_COLUMNS: &str = "id, user_id, tenant_id, created_at, last_seen_at, expires_at, source_ip, user_agent, ended_at, end_reason, second_factor, reauth_at";

/// A new session's facts.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// Id.
    pub id: Uuid,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Owner.
    pub user: UserId,
    /// Working tenant.
    pub tenant: Option<TenantId>,
    /// Now.
    pub now: OffsetDateTime,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
    /// Client address.
    pub source_ip: Option<String>,
    /// Browser.
    pub user_agent: Option<String>,
    /// Whether a second factor was proven at sign-in.
    pub second_factor: bool,
}

/// Stores a session.
///
/// # Errors
/// On database failure.
pub async fn insert_session(tx: &mut Tx, s: &NewSession<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO session (id, token_hash, user_id, tenant_id, created_at, last_seen_at, expires_at, source_ip, user_agent, second_factor, reauth_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $5)",
        )
        .bind(s.id)
        .bind(s.token_hash)
        .bind(s.user.as_uuid())
        .bind(s.tenant.map(|t| t.as_uuid()))
        .bind(s.now)
        .bind(s.expires_at)
        .bind(&s.source_ip)
        .bind(&s.user_agent)
        .bind(s.second_factor)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A session by the hash of its token (ended ones too, so the caller can say why).
///
/// # Errors
/// On database failure.
pub async fn session_by_token_hash(
    db: &Db,
    token_hash: &[u8],
) -> Result<Option<SessionRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM session WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Records user activity on a session (not background polling).
///
/// # Errors
/// On database failure.
pub async fn touch_session(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), DbError> {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE session SET last_seen_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Switches a session's working tenant.
///
/// # Errors
/// On database failure.
pub async fn set_session_tenant(tx: &mut Tx, id: Uuid, tenant: TenantId) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE session SET tenant_id = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(tenant.as_uuid())
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Ends one session of a user. Returns whether one was ended.
///
/// # Errors
/// On database failure.
pub async fn end_session(
    tx: &mut Tx,
    user: UserId,
    id: Uuid,
    reason: &str,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let n = on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE session SET ended_at = $3, end_reason = $4 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(user.as_uuid())
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(n > 0)
}

/// Ends every live session of a user except `keep`. Returns how many ended.
///
/// # Errors
/// On database failure.
pub async fn end_sessions_of_user(
    tx: &mut Tx,
    user: UserId,
    keep: Option<Uuid>,
    reason: &str,
    now: OffsetDateTime,
) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE session SET ended_at = $3, end_reason = $4 \
             WHERE user_id = $1 AND ended_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user.as_uuid())
        .bind(keep)
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// A user's live sessions, newest first.
///
/// # Errors
/// On database failure.
pub async fn live_sessions_of_user(
    db: &Db,
    user: UserId,
    now: OffsetDateTime,
) -> Result<Vec<SessionRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM session WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC"
        )))
        .bind(user.as_uuid())
        .bind(now)
        .fetch_all(pool)
        .await?
    }))
}

/// The throttling state of an account key: failures, window start, next allowed attempt.
pub type ThrottleRow = (i64, OffsetDateTime, OffsetDateTime);

/// Reads an account's throttle row without locking it (the check before a password is
/// verified; failures re-read it under a lock with [`throttle_get`]).
///
/// # Errors
/// On database failure.
pub async fn throttle_peek(db: &Db, key: &[u8]) -> Result<Option<ThrottleRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT failures, window_start, next_allowed_at FROM login_throttle WHERE account_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
    }))
}

/// Reads (and on PostgreSQL locks) an account's throttle row.
///
/// # Errors
/// On database failure.
pub async fn throttle_get(tx: &mut Tx, key: &[u8]) -> Result<Option<ThrottleRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        // UPDATE … RETURNING locks the row on PostgreSQL, so nodes agree on the count.
        sqlx::query_as(
            "UPDATE login_throttle SET failures = failures WHERE account_key = $1 \
             RETURNING failures, window_start, next_allowed_at",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Writes an account's throttle row.
///
/// # Errors
/// On database failure.
pub async fn throttle_put(tx: &mut Tx, key: &[u8], row: ThrottleRow) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO login_throttle (account_key, failures, window_start, next_allowed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_key) DO UPDATE SET failures = $2, window_start = $3, next_allowed_at = $4",
        )
        .bind(key)
        .bind(row.0)
        .bind(row.1)
        .bind(row.2)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Forgets an account's failures (after a successful login).
///
/// # Errors
/// On database failure.
pub async fn throttle_clear(tx: &mut Tx, key: &[u8]) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM login_throttle WHERE account_key = $1")
            .bind(key)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A one-time token as stored.
#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    /// Id.
    pub id: Uuid,
    /// `bootstrap`, `invitation` or `password_reset`.
    pub purpose: String,
    /// Tenant it grants access to.
    pub tenant_id: Option<Uuid>,
    /// User it is for.
    pub user_id: Option<Uuid>,
    /// Address it was sent to.
    pub email: Option<String>,
    /// Role it grants.
    pub role: Option<String>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// When it was used.
    pub used_at: Option<OffsetDateTime>,
    /// An invitation's end date for the membership.
    pub access_until: Option<OffsetDateTime>,
    /// An invitation's audit-scope limit.
    pub shared_only: bool,
}

/// Limits on a membership beyond its role: an end date, and seeing only what is shared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MembershipLimits {
    /// The membership ends then.
    pub access_until: Option<OffsetDateTime>,
    /// The member sees only what is shared with them (always for externals).
    pub shared_only: bool,
}

/// Sets a membership's limits (externals always keep `shared_only`).
///
/// # Errors
/// On database failure.
pub async fn set_membership_limits(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    limits: MembershipLimits,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE membership SET access_until = $3, shared_only = ($4 OR role = 'external') \
             WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(limits.access_until)
        .bind(limits.shared_only)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Removes memberships whose end date has passed; returns `(tenant, user, role)` of each.
///
/// # Errors
/// On database failure.
pub async fn delete_ended_memberships(
    tx: &mut Tx,
    now: OffsetDateTime,
) -> Result<Vec<(Uuid, Uuid, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "DELETE FROM membership WHERE access_until IS NOT NULL AND access_until <= $1 \
             RETURNING tenant_id, user_id, role",
        )
        .bind(now)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A new one-time token.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// Purpose.
    pub purpose: &'a str,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Tenant.
    pub tenant: Option<TenantId>,
    /// User.
    pub user: Option<UserId>,
    /// Address.
    pub email: Option<&'a str>,
    /// Role.
    pub role: Option<&'a str>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Now.
    pub now: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// An invitation's membership limits.
    pub limits: MembershipLimits,
}

/// Stores a one-time token.
///
/// # Errors
/// On database failure.
pub async fn insert_token(tx: &mut Tx, t: &NewToken<'_>) -> Result<Uuid, DbError> {
    let id = Uuid::new_v4();
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO one_time_token (id, purpose, token_hash, tenant_id, user_id, email, role, created_by, created_at, expires_at, access_until, shared_only) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id)
        .bind(t.purpose)
        .bind(t.token_hash)
        .bind(t.tenant.map(|x| x.as_uuid()))
        .bind(t.user.map(|x| x.as_uuid()))
        .bind(t.email)
        .bind(t.role)
        .bind(t.created_by.map(|x| x.as_uuid()))
        .bind(t.now)
        .bind(t.expires_at)
        .bind(t.limits.access_until)
        .bind(t.limits.shared_only)
        .execute(&mut *conn)
        .await?;
    });
    Ok(id)
}

/// Voids every unused token of a purpose (a newer one replaces them).
///
/// # Errors
/// On database failure.
pub async fn void_tokens(tx: &mut Tx, purpose: &str, now: OffsetDateTime) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE one_time_token SET used_at = $2 WHERE purpose = $1 AND used_at IS NULL",
        )
        .bind(purpose)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Marks a token used, if it was unused; returns the row as it was. Used and unused tokens
/// are both returned so the caller can tell "gone" from "never existed".
///
/// # Errors
/// On database failure.
pub async fn take_token(
    tx: &mut Tx,
    purpose: &str,
    token_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<TokenRow>, DbError> {
    let row: Option<TokenRow> = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT id, purpose, tenant_id, user_id, email, role, expires_at, used_at, access_until, shared_only FROM one_time_token \
             WHERE purpose = $1 AND token_hash = $2",
        )
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?
    });
    if let Some(r) = &row
        && r.used_at.is_none()
    {
        on_tx!(tx, |conn| {
            sqlx::query("UPDATE one_time_token SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
                .bind(r.id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        });
    }
    Ok(row)
}

/// Reads a token without using it (to show the form behind a link).
///
/// # Errors
/// On database failure.
pub async fn peek_token(
    db: &Db,
    purpose: &str,
    token_hash: &[u8],
) -> Result<Option<TokenRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, purpose, tenant_id, user_id, email, role, expires_at, used_at, access_until, shared_only FROM one_time_token \
             WHERE purpose = $1 AND token_hash = $2",
        )
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Unused tokens of a purpose created for a user since an instant (reset throttling).
///
/// # Errors
/// On database failure.
pub async fn count_tokens_since(
    db: &Db,
    purpose: &str,
    user: UserId,
    since: OffsetDateTime,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT count(*) FROM one_time_token WHERE purpose = $1 AND user_id = $2 AND created_at >= $3")
            .bind(purpose)
            .bind(user.as_uuid())
            .bind(since)
            .fetch_one(pool)
            .await?
    }))
}

/// Voids a user's unused tokens of a purpose (a newer one replaces them).
///
/// # Errors
/// On database failure.
pub async fn void_tokens_of_user(
    tx: &mut Tx,
    purpose: &str,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE one_time_token SET used_at = $3 WHERE purpose = $1 AND user_id = $2 AND used_at IS NULL")
            .bind(purpose)
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A tenant's name.
///
/// # Errors
/// On database failure.
pub async fn tenant_name(db: &Db, tenant: TenantId) -> Result<Option<String>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT name FROM tenant WHERE id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(pool)
            .await?
    }))
}

/// A tenant's member as listed.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    /// User id.
    pub id: Uuid,
    /// Name.
    pub display_name: String,
    /// Address.
    pub email: String,
    /// Role.
    pub role: String,
    /// Account status.
    pub status: String,
    /// The membership ends then.
    pub access_until: Option<OffsetDateTime>,
    /// Sees only what is shared with them.
    pub shared_only: bool,
}

/// A tenant's members.
///
/// # Errors
/// On database failure.
pub async fn members_of(db: &Db, tenant: TenantId) -> Result<Vec<MemberRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT u.id, u.display_name, u.email, m.role, u.status, m.access_until, m.shared_only \
             FROM membership m JOIN app_user u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 ORDER BY u.display_name",
        )
        .bind(tenant.as_uuid())
        .fetch_all(pool)
        .await?
    }))
}

/// Changes a member's role. Returns whether the membership existed.
///
/// # Errors
/// On database failure.
pub async fn set_role(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    role: &str,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE membership SET role = $3, \
             shared_only = ($3 = 'external' OR ($3 = 'auditor' AND shared_only)) \
             WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(role)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }) > 0)
}

/// Removes a membership. Returns whether it existed.
///
/// # Errors
/// On database failure.
pub async fn delete_membership(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM membership WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }) > 0)
}

/// Owners of a tenant, locked for the transaction on PostgreSQL (last-owner checks).
///
/// # Errors
/// On database failure.
pub async fn owners_of(tx: &mut Tx, tenant: TenantId) -> Result<Vec<Uuid>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar("UPDATE membership SET role = role WHERE tenant_id = $1 AND role = 'owner' RETURNING user_id")
            .bind(tenant.as_uuid())
            .fetch_all(&mut *conn)
            .await?
    }))
}

const ROLE_IN: &str = "SELECT role FROM membership WHERE tenant_id = $1 AND user_id = $2";

/// A member's role in a tenant.
///
/// # Errors
/// On database failure.
pub async fn role_in(db: &Db, tenant: TenantId, user: UserId) -> Result<Option<String>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(ROLE_IN)
            .bind(tenant.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?
    }))
}

/// [`role_in`] inside a transaction.
///
/// # Errors
/// On database failure.
pub async fn role_in_tx(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<String>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(ROLE_IN)
            .bind(tenant.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// Sets a user's status (`active` or `disabled`).
///
/// # Errors
/// On database failure.
pub async fn set_user_status(tx: &mut Tx, user: UserId, status: &str) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("UPDATE app_user SET status = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(status)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }) > 0)
}

/// Deletes a user's sessions that ended (or expired) before `before`: the table keeps ended
/// sessions only long enough to tell a browser why it was signed out.
///
/// # Errors
/// On database failure.
pub async fn purge_old_sessions(
    tx: &mut Tx,
    user: UserId,
    before: OffsetDateTime,
) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "DELETE FROM session WHERE user_id = $1 AND ((ended_at IS NOT NULL AND ended_at < $2) OR expires_at < $2)",
        )
        .bind(user.as_uuid())
        .bind(before)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// Uses up the newest live invitation of `email` into `tenant`, if there is one, and returns
/// its role and limits (an invitation accepted through single sign-on).
///
/// # Errors
/// On database failure.
pub async fn take_invitation_for(
    tx: &mut Tx,
    tenant: TenantId,
    email: &str,
    now: OffsetDateTime,
) -> Result<Option<(String, MembershipLimits)>, DbError> {
    type Row = (Uuid, Option<String>, Option<OffsetDateTime>, bool);
    let row: Option<Row> = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT id, role, access_until, shared_only FROM one_time_token \
             WHERE purpose = 'invitation' AND tenant_id = $1 AND email = $2 \
             AND used_at IS NULL AND expires_at > $3 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(tenant.as_uuid())
        .bind(email)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    });
    let Some((id, role, access_until, shared_only)) = row else {
        return Ok(None);
    };
    let taken = on_tx!(tx, |conn| {
        sqlx::query("UPDATE one_time_token SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok((taken == 1).then(|| {
        (
            role.unwrap_or_else(|| "contributor".to_owned()),
            MembershipLimits {
                access_until,
                shared_only,
            },
        )
    }))
}

/// Whether `email` holds a live invitation into `tenant` (without using it).
///
/// # Errors
/// On database failure.
pub async fn has_live_invitation(
    db: &Db,
    tenant: TenantId,
    email: &str,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let n: i64 = on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT count(*) FROM one_time_token \
             WHERE purpose = 'invitation' AND tenant_id = $1 AND email = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(tenant.as_uuid())
        .bind(email)
        .bind(now)
        .fetch_one(pool)
        .await?
    });
    Ok(n > 0)
}

/// Active users with no sign-in and no session activity since `before` (access
/// recertification's inactivity rule).
///
/// # Errors
/// On database failure.
pub async fn inactive_users(db: &Db, before: OffsetDateTime) -> Result<Vec<Uuid>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT u.id FROM app_user u WHERE u.status = 'active' \
             AND COALESCE(u.last_login_at, u.created_at) < $1 \
             AND NOT EXISTS (SELECT 1 FROM session s WHERE s.user_id = u.id AND s.last_seen_at >= $1)",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
    }))
}

/// The active owners of a tenant, locking their membership rows for the transaction.
///
/// # Errors
/// On database failure.
pub async fn active_owners_of(tx: &mut Tx, tenant: TenantId) -> Result<Vec<Uuid>, DbError> {
    let owners = owners_of(tx, tenant).await?;
    let mut active = Vec::with_capacity(owners.len());
    for id in owners {
        let status: Option<String> = on_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT status FROM app_user WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if status.as_deref() == Some("active") {
            active.push(id);
        }
    }
    Ok(active)
}

/// Every tenant's id (background sweeps that then work tenant by tenant, under row-level
/// security).
///
/// # Errors
/// On database failure.
pub async fn all_tenants(db: &Db) -> Result<Vec<Uuid>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT id FROM tenant ORDER BY id")
            .fetch_all(pool)
            .await?
    }))
}
