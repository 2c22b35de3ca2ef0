//! Storage of API tokens: only the SHA-256 of a token is kept. No rules here: the domain's
//! `authn::api_tokens` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A stored token.
#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The tenant it acts in.
    pub tenant_id: Uuid,
    /// The user's label.
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Its end.
    pub expires_at: OffsetDateTime,
    /// Last request made with it.
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A new token.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user: UserId,
    /// Tenant.
    pub tenant: TenantId,
    /// Label.
    pub name: &'a str,
    /// `read` or `write`.
    pub scope: &'a str,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Its end.
    pub expires_at: OffsetDateTime,
}

/// Stores a token.
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, t: &NewToken<'_>, now: OffsetDateTime) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO api_token (id, user_id, tenant_id, name, scope, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id)
        .bind(t.user.as_uuid())
        .bind(t.tenant.as_uuid())
        .bind(t.name)
        .bind(t.scope)
        .bind(t.token_hash)
        .bind(now)
        .bind(t.expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A user's tokens, newest first.
///
/// # Errors
/// On database failure.
pub async fn of_user(db: &Db, user: UserId) -> Result<Vec<TokenRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, user_id, tenant_id, name, scope, created_at, expires_at, last_used_at, revoked_at \
             FROM api_token WHERE user_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(user.as_uuid())
        .fetch_all(pool)
        .await?
    }))
}

/// The token with this hash.
///
/// # Errors
/// On database failure.
pub async fn by_hash(db: &Db, token_hash: &[u8]) -> Result<Option<TokenRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, user_id, tenant_id, name, scope, created_at, expires_at, last_used_at, revoked_at \
             FROM api_token WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Revokes a user's token. Returns whether a live one was revoked.
///
/// # Errors
/// On database failure.
pub async fn revoke(
    tx: &mut Tx,
    user: UserId,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE api_token SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Records a use (callers write at most about once a minute per token).
///
/// # Errors
/// On database failure.
pub async fn touch(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), DbError> {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE api_token SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}
