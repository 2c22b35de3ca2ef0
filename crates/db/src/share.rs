//! Storage of object shares: one object of any kind shared with one member until a date
//! (SEC-36). Tenant-filtered like every tenant table, and under row-level security on
//! PostgreSQL.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A share as listed.
#[derive(Debug, Clone, FromRow)]
pub struct ShareRow {
    /// Id.
    pub id: Uuid,
    /// With whom.
    pub user_id: Uuid,
    /// Their name.
    pub user_name: String,
    /// Their address.
    pub user_email: String,
    /// Until when.
    pub until: OffsetDateTime,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A new share.
#[derive(Debug, Clone, Copy)]
pub struct NewShare<'a> {
    /// Id.
    pub id: Uuid,
    /// Object kind (`document`).
    pub kind: &'a str,
    /// Object.
    pub object: Uuid,
    /// With whom.
    pub user: UserId,
    /// Until when.
    pub until: OffsetDateTime,
    /// Who shared it.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

/// Stores a share.
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, tenant: TenantId, s: &NewShare<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO object_share (id, tenant_id, object_kind, object_id, user_id, until, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id)
        .bind(tenant.as_uuid())
        .bind(s.kind)
        .bind(s.object)
        .bind(s.user.as_uuid())
        .bind(s.until)
        .bind(s.by.as_uuid())
        .bind(s.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Whether `user` holds a live share of the object at `now`.
///
/// # Errors
/// On database failure.
pub async fn is_shared_with(
    tx: &mut Tx,
    tenant: TenantId,
    kind: &str,
    object: Uuid,
    user: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let n: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT count(*) FROM object_share WHERE tenant_id = $1 AND object_kind = $2 \
             AND object_id = $3 AND user_id = $4 AND revoked_at IS NULL AND until > $5",
        )
        .bind(tenant.as_uuid())
        .bind(kind)
        .bind(object)
        .bind(user.as_uuid())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(n > 0)
}

/// An object's shares, newest first.
///
/// # Errors
/// On database failure.
pub async fn of_object(
    tx: &mut Tx,
    tenant: TenantId,
    kind: &str,
    object: Uuid,
) -> Result<Vec<ShareRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT s.id, s.user_id, u.display_name AS user_name, u.email AS user_email, s.until, \
             s.created_at, s.revoked_at FROM object_share s JOIN app_user u ON u.id = s.user_id \
             WHERE s.tenant_id = $1 AND s.object_kind = $2 AND s.object_id = $3 \
             ORDER BY s.created_at DESC, s.id",
        )
        .bind(tenant.as_uuid())
        .bind(kind)
        .bind(object)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Revokes a live share of the object. Returns whether one was revoked.
///
/// # Errors
/// On database failure.
pub async fn revoke(
    tx: &mut Tx,
    tenant: TenantId,
    kind: &str,
    object: Uuid,
    share: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE object_share SET revoked_at = $5 WHERE tenant_id = $1 AND object_kind = $2 \
             AND object_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(tenant.as_uuid())
        .bind(kind)
        .bind(object)
        .bind(share)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Deletes every share of an object (it is being deleted).
///
/// # Errors
/// On database failure.
pub async fn delete_all_of(
    tx: &mut Tx,
    tenant: TenantId,
    kind: &str,
    object: Uuid,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "DELETE FROM object_share WHERE tenant_id = $1 AND object_kind = $2 AND object_id = $3",
        )
        .bind(tenant.as_uuid())
        .bind(kind)
        .bind(object)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Members of the tenant who see only what is shared with them, and whose membership is
/// live: who an object can be shared with. `(user id, name, email)`.
///
/// # Errors
/// On database failure.
pub async fn recipients(
    tx: &mut Tx,
    tenant: TenantId,
    now: OffsetDateTime,
) -> Result<Vec<(Uuid, String, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT u.id, u.display_name, u.email FROM membership m JOIN app_user u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.shared_only AND u.status = 'active' \
             AND (m.access_until IS NULL OR m.access_until > $2) ORDER BY u.display_name",
        )
        .bind(tenant.as_uuid())
        .bind(now)
        .fetch_all(&mut *conn)
        .await?
    }))
}
