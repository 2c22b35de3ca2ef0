//! Storage of second factors (TOTP, recovery codes), half-signed-in logins, step-up
//! freshness and the tenant's MFA policy. No rules here: the domain's `authn::mfa` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A user's TOTP factor.
#[derive(Debug, Clone, FromRow)]
pub struct TotpRow {
    /// The sealed secret.
    pub secret: Vec<u8>,
    /// When the enrolment was confirmed; `None` while pending.
    pub confirmed_at: Option<OffsetDateTime>,
    /// Highest step accepted so far.
    pub last_step: i64,
    /// Step of the latest failures.
    pub fail_step: i64,
    /// Failures within `fail_step`.
    pub fail_count: i64,
}

/// A user's TOTP factor, confirmed or pending.
///
/// # Errors
/// On database failure.
pub async fn totp_of(db: &Db, user: UserId) -> Result<Option<TotpRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT secret, confirmed_at, last_step, fail_step, fail_count FROM totp_factor WHERE user_id = $1",
        )
        .bind(user.as_uuid())
        .fetch_optional(pool)
        .await?
    }))
}

/// Stores a pending (unconfirmed) TOTP secret, replacing an earlier pending one. A confirmed
/// factor is left alone (returns false).
///
/// # Errors
/// On database failure.
pub async fn totp_put_pending(
    tx: &mut Tx,
    user: UserId,
    sealed: &[u8],
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM totp_factor WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO totp_factor (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.as_uuid())
        .bind(sealed)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Marks the pending factor confirmed by a code of `step`.
///
/// # Errors
/// On database failure.
pub async fn totp_confirm(
    tx: &mut Tx,
    user: UserId,
    step: i64,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE totp_factor SET confirmed_at = $2, last_step = $3, fail_count = 0 \
             WHERE user_id = $1 AND confirmed_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(now)
        .bind(step)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Accepts a code of `step` once: true only if no code of this or a later step was accepted
/// before (one atomic update, so two nodes cannot both accept it).
///
/// # Errors
/// On database failure.
pub async fn totp_accept_step(tx: &mut Tx, user: UserId, step: i64) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE totp_factor SET last_step = $2, fail_count = 0 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
        )
        .bind(user.as_uuid())
        .bind(step)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Counts a wrong code in `step` (the count restarts in a new step).
///
/// # Errors
/// On database failure.
pub async fn totp_record_failure(tx: &mut Tx, user: UserId, step: i64) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE totp_factor SET \
             fail_count = CASE WHEN fail_step = $2 THEN fail_count + 1 ELSE 1 END, fail_step = $2 \
             WHERE user_id = $1",
        )
        .bind(user.as_uuid())
        .bind(step)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Removes a user's TOTP factor. Returns whether there was one.
///
/// # Errors
/// On database failure.
pub async fn totp_delete(tx: &mut Tx, user: UserId) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM totp_factor WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0
    }))
}

/// A recovery code as stored.
#[derive(Debug, Clone, FromRow)]
pub struct RecoveryRow {
    /// Id.
    pub id: Uuid,
    /// PHC string of the secret part.
    pub code_hash: String,
    /// Pepper version of the hash.
    pub pepper_version: i64,
    /// When it was used.
    pub used_at: Option<OffsetDateTime>,
}

/// A new recovery code's stored form.
#[derive(Debug, Clone)]
pub struct NewRecoveryCode {
    /// First characters of the code.
    pub selector: String,
    /// PHC string of the rest.
    pub code_hash: String,
    /// Pepper version.
    pub pepper_version: u32,
}

/// Replaces a user's recovery codes with a new set.
///
/// # Errors
/// On database failure.
pub async fn recovery_replace(
    tx: &mut Tx,
    user: UserId,
    codes: &[NewRecoveryCode],
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM recovery_code WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?;
        for c in codes {
            sqlx::query(
                "INSERT INTO recovery_code (id, user_id, selector, code_hash, pepper_version, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::new_v4())
            .bind(user.as_uuid())
            .bind(&c.selector)
            .bind(&c.code_hash)
            .bind(i64::from(c.pepper_version))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    });
    Ok(())
}

/// Removes all of a user's recovery codes.
///
/// # Errors
/// On database failure.
pub async fn recovery_delete_all(tx: &mut Tx, user: UserId) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM recovery_code WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// The recovery code of a user with this selector.
///
/// # Errors
/// On database failure.
pub async fn recovery_by_selector(
    db: &Db,
    user: UserId,
    selector: &str,
) -> Result<Option<RecoveryRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, code_hash, pepper_version, used_at FROM recovery_code \
             WHERE user_id = $1 AND selector = $2",
        )
        .bind(user.as_uuid())
        .bind(selector)
        .fetch_optional(pool)
        .await?
    }))
}

/// Uses a recovery code up; true only the first time.
///
/// # Errors
/// On database failure.
pub async fn recovery_use(tx: &mut Tx, id: Uuid, now: OffsetDateTime) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("UPDATE recovery_code SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

const RECOVERY_REMAINING: &str =
    "SELECT count(*) FROM recovery_code WHERE user_id = $1 AND used_at IS NULL";

/// How many unused recovery codes a user has.
///
/// # Errors
/// On database failure.
pub async fn recovery_remaining(db: &Db, user: UserId) -> Result<i64, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(RECOVERY_REMAINING)
            .bind(user.as_uuid())
            .fetch_one(pool)
            .await?
    }))
}

/// [`recovery_remaining`] inside a transaction.
///
/// # Errors
/// On database failure.
pub async fn recovery_remaining_tx(tx: &mut Tx, user: UserId) -> Result<i64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(RECOVERY_REMAINING)
            .bind(user.as_uuid())
            .fetch_one(&mut *conn)
            .await?
    }))
}

/// A half-signed-in login (password proven, second factor not yet).
#[derive(Debug, Clone, FromRow)]
pub struct PendingRow {
    /// Id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// End of the window for the second factor.
    pub expires_at: OffsetDateTime,
    /// Wrong second-factor attempts.
    pub failures: i64,
    /// Set when it was completed, abandoned or voided.
    pub ended_at: Option<OffsetDateTime>,
    /// The tenant the sign-in continues into, when it was chosen (SSO).
    pub tenant_id: Option<Uuid>,
}

/// Stores a pending login, voiding the user's earlier ones.
///
/// # Errors
/// On database failure.
pub async fn pending_insert(
    tx: &mut Tx,
    id: Uuid,
    token_hash: &[u8],
    user: UserId,
    tenant: Option<TenantId>,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM pending_login WHERE user_id = $1 AND (ended_at IS NOT NULL OR expires_at < $2)")
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE pending_login SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO pending_login (id, token_hash, user_id, created_at, expires_at, tenant_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(token_hash)
        .bind(user.as_uuid())
        .bind(now)
        .bind(expires_at)
        .bind(tenant.map(|t| t.as_uuid()))
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A pending login by the hash of its cookie.
///
/// # Errors
/// On database failure.
pub async fn pending_by_token(db: &Db, token_hash: &[u8]) -> Result<Option<PendingRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, user_id, expires_at, failures, ended_at, tenant_id FROM pending_login WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Counts a wrong second factor; returns the new count (0 if the login is no longer live).
///
/// # Errors
/// On database failure.
pub async fn pending_fail(tx: &mut Tx, id: Uuid) -> Result<i64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "UPDATE pending_login SET failures = failures + 1 WHERE id = $1 AND ended_at IS NULL RETURNING failures",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0)
    }))
}

/// Ends a pending login; true only for the first caller (so it completes once).
///
/// # Errors
/// On database failure.
pub async fn pending_end(tx: &mut Tx, id: Uuid, now: OffsetDateTime) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("UPDATE pending_login SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// Records a proof of presence on a session (step-up, SEC-29); optionally also that a second
/// factor is now proven in it.
///
/// # Errors
/// On database failure.
pub async fn session_proven(
    tx: &mut Tx,
    session: Uuid,
    now: OffsetDateTime,
    second_factor: bool,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE session SET reauth_at = $2, second_factor = (second_factor OR $3) \
             WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(session)
        .bind(now)
        .bind(second_factor)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

const TENANT_REQUIRES_MFA: &str = "SELECT mfa_required FROM tenant WHERE id = $1";

/// Whether a tenant requires every member to use a second factor.
///
/// # Errors
/// On database failure.
pub async fn tenant_requires_mfa(db: &Db, tenant: TenantId) -> Result<bool, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar::<_, bool>(TENANT_REQUIRES_MFA)
            .bind(tenant.as_uuid())
            .fetch_optional(pool)
            .await?
            .unwrap_or(false)
    }))
}

/// [`tenant_requires_mfa`] inside a transaction (which must not wait for a second pooled
/// connection).
///
/// # Errors
/// On database failure.
pub async fn tenant_requires_mfa_tx(tx: &mut Tx, tenant: TenantId) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar::<_, bool>(TENANT_REQUIRES_MFA)
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(false)
    }))
}

/// Sets a tenant's MFA policy.
///
/// # Errors
/// On database failure.
pub async fn set_tenant_requires_mfa(
    tx: &mut Tx,
    tenant: TenantId,
    required: bool,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE tenant SET mfa_required = $2 WHERE id = $1")
            .bind(tenant.as_uuid())
            .bind(required)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Changes a user's email address.
///
/// # Errors
/// On database failure (a unique violation when the address is taken).
pub async fn set_email(tx: &mut Tx, user: UserId, email: &str) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE app_user SET email = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(email)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

const SECOND_FACTORS: &str = "SELECT \
     (SELECT count(*) FROM totp_factor WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
     (SELECT count(*) FROM passkey WHERE user_id = $1)";

/// Which second factors a user has, in one round trip: (a confirmed TOTP authenticator,
/// at least one passkey).
///
/// # Errors
/// On database failure.
pub async fn second_factors(db: &Db, user: UserId) -> Result<(bool, bool), DbError> {
    let (totp, passkeys): (i64, i64) = on_pool!(db, |pool| {
        sqlx::query_as(SECOND_FACTORS)
            .bind(user.as_uuid())
            .fetch_one(pool)
            .await?
    });
    Ok((totp > 0, passkeys > 0))
}

/// [`second_factors`] inside a transaction.
///
/// # Errors
/// On database failure.
pub async fn second_factors_tx(tx: &mut Tx, user: UserId) -> Result<(bool, bool), DbError> {
    let (totp, passkeys): (i64, i64) = on_tx!(tx, |conn| {
        sqlx::query_as(SECOND_FACTORS)
            .bind(user.as_uuid())
            .fetch_one(&mut *conn)
            .await?
    });
    Ok((totp > 0, passkeys > 0))
}
