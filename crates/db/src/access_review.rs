//! Storage of access reviews (SEC-38) and their items. Tenant-filtered, and under row-level
//! security on PostgreSQL. No rules here: `attest_domain::access_reviews` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A review as listed.
#[derive(Debug, Clone, FromRow)]
pub struct ReviewRow {
    /// Id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Started.
    pub created_at: OffsetDateTime,
    /// Due.
    pub due_at: OffsetDateTime,
    /// When unanswered items were escalated.
    pub escalated_at: Option<OffsetDateTime>,
    /// When every item was answered.
    pub closed_at: Option<OffsetDateTime>,
    /// Items in all.
    pub items: i64,
    /// Items still pending.
    pub pending: i64,
}

/// One membership under review.
#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    /// Id.
    pub id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// Their name at the start.
    pub user_name: String,
    /// Their address at the start.
    pub user_email: String,
    /// Their role at the start.
    pub role: String,
    /// `pending`, `confirmed` or `revoked`.
    pub decision: String,
    /// Who decided.
    pub decided_by: Option<Uuid>,
    /// Their name.
    pub decided_by_name: Option<String>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
}

macro_rules! select_review {
    () => {
        "SELECT r.id, r.name, r.created_at, r.due_at, r.escalated_at, r.closed_at, \
         (SELECT count(*) FROM access_review_item i WHERE i.review_id = r.id) AS items, \
         (SELECT count(*) FROM access_review_item i WHERE i.review_id = r.id AND i.decision = 'pending') AS pending \
         FROM access_review r "
    };
}

/// Starts a review with one item per current member; returns the number of items.
///
/// # Errors
/// On database failure.
pub async fn start(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    name: &str,
    by: UserId,
    now: OffsetDateTime,
    due_at: OffsetDateTime,
) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO access_review (id, tenant_id, name, created_by, created_at, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant.as_uuid())
        .bind(name)
        .bind(by.as_uuid())
        .bind(now)
        .bind(due_at)
        .execute(&mut *conn)
        .await?;
        let members: Vec<(Uuid, String, String, String)> = sqlx::query_as(
            "SELECT u.id, u.display_name, u.email, m.role FROM membership m \
             JOIN app_user u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY u.display_name",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        let n = members.len() as u64;
        for (user, name, email, role) in members {
            sqlx::query(
                "INSERT INTO access_review_item (id, tenant_id, review_id, user_id, user_name, user_email, role) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Uuid::new_v4())
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(user)
            .bind(name)
            .bind(email)
            .bind(role)
            .execute(&mut *conn)
            .await?;
        }
        n
    }))
}

/// The tenant's reviews, newest first.
///
/// # Errors
/// On database failure.
pub async fn list(tx: &mut Tx, tenant: TenantId) -> Result<Vec<ReviewRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_review!(),
            "WHERE r.tenant_id = $1 ORDER BY r.created_at DESC, r.id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// One review.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<ReviewRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_review!(),
            "WHERE r.tenant_id = $1 AND r.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// A review's items, by member name.
///
/// # Errors
/// On database failure.
pub async fn items(tx: &mut Tx, tenant: TenantId, review: Uuid) -> Result<Vec<ItemRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT i.id, i.user_id, i.user_name, i.user_email, i.role, i.decision, i.decided_by, \
             d.display_name AS decided_by_name, i.decided_at FROM access_review_item i \
             LEFT JOIN app_user d ON d.id = i.decided_by \
             WHERE i.tenant_id = $1 AND i.review_id = $2 ORDER BY i.user_name, i.id",
        )
        .bind(tenant.as_uuid())
        .bind(review)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Records a decision on a pending item. Returns false when it was not pending (or not there).
///
/// # Errors
/// On database failure.
pub async fn decide(
    tx: &mut Tx,
    tenant: TenantId,
    review: Uuid,
    item: Uuid,
    decision: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE access_review_item SET decision = $4, decided_by = $5, decided_at = $6 \
             WHERE tenant_id = $1 AND review_id = $2 AND id = $3 AND decision = 'pending'",
        )
        .bind(tenant.as_uuid())
        .bind(review)
        .bind(item)
        .bind(decision)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Closes a review whose items are all answered. Returns whether it closed now.
///
/// # Errors
/// On database failure.
pub async fn close_if_done(
    tx: &mut Tx,
    tenant: TenantId,
    review: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE access_review SET closed_at = $3 WHERE tenant_id = $1 AND id = $2 \
             AND closed_at IS NULL AND NOT EXISTS (SELECT 1 FROM access_review_item i \
             WHERE i.review_id = $2 AND i.decision = 'pending')",
        )
        .bind(tenant.as_uuid())
        .bind(review)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Marks an overdue review of the tenant as escalated; returns its name and pending count
/// when it was due for escalation (open, past due, not yet escalated).
///
/// # Errors
/// On database failure.
pub async fn take_overdue(
    tx: &mut Tx,
    tenant: TenantId,
    review: Uuid,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE access_review SET escalated_at = $3 WHERE tenant_id = $1 AND id = $2 \
             AND closed_at IS NULL AND escalated_at IS NULL AND due_at <= $3",
        )
        .bind(tenant.as_uuid())
        .bind(review)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}
