//! Storage of operator grants (SEC-39): a tenant's permission for the operator to read its
//! records, until a time. Tenant-filtered and under row-level security on PostgreSQL.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A grant as listed.
#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    /// Id.
    pub id: Uuid,
    /// Who gave it.
    pub granted_by_name: Option<String>,
    /// Why.
    pub reason: String,
    /// Given.
    pub created_at: OffsetDateTime,
    /// Ends.
    pub expires_at: OffsetDateTime,
    /// Revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// Stores a grant.
///
/// # Errors
/// On database failure.
pub async fn insert(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    by: UserId,
    reason: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO operator_grant (id, tenant_id, granted_by, reason, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant.as_uuid())
        .bind(by.as_uuid())
        .bind(reason)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The tenant's grants, newest first.
///
/// # Errors
/// On database failure.
pub async fn list(tx: &mut Tx, tenant: TenantId) -> Result<Vec<GrantRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT g.id, u.display_name AS granted_by_name, g.reason, g.created_at, g.expires_at, \
             g.revoked_at FROM operator_grant g LEFT JOIN app_user u ON u.id = g.granted_by \
             WHERE g.tenant_id = $1 ORDER BY g.created_at DESC, g.id",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// The live grant of the tenant at `now`, if any.
///
/// # Errors
/// On database failure.
pub async fn live(
    tx: &mut Tx,
    tenant: TenantId,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT id FROM operator_grant WHERE tenant_id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY expires_at DESC LIMIT 1",
        )
        .bind(tenant.as_uuid())
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Revokes a live grant. Returns whether one was revoked.
///
/// # Errors
/// On database failure.
pub async fn revoke(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE operator_grant SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 \
             AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}
