//! Storage of controls, their mappings to requirements, the statement of applicability and
//! the coverage it yields. Tenant-filtered, under row-level security on PostgreSQL. Lists sort
//! by one of a fixed set of orders, each its own literal statement (SEC-44).

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A control.
#[derive(Debug, Clone, FromRow)]
pub struct ControlRow {
    /// Id.
    pub id: Uuid,
    /// The organisation's reference (column `ref`).
    pub reference: String,
    /// Title.
    pub title: String,
    /// The title as the title order compares it (`LOWER(title)` in the database's own terms).
    pub title_key: String,
    /// Sealed description.
    pub description: Vec<u8>,
    /// Classification name.
    pub classification: String,
    /// Owner.
    pub owner_id: Option<Uuid>,
    /// Owner's name.
    pub owner_name: Option<String>,
    /// `draft`, `implemented` or `not_applicable`.
    pub status: String,
    /// Why not applicable.
    pub justification: String,
    /// Computed from the activities' runs.
    pub effectiveness: String,
    /// Why, as last computed.
    pub effectiveness_reason: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A control's facts to store.
#[derive(Debug, Clone)]
pub struct ControlData<'a> {
    /// Id.
    pub id: Uuid,
    /// Reference.
    pub reference: &'a str,
    /// Title.
    pub title: &'a str,
    /// Sealed description.
    pub description: &'a [u8],
    /// Classification name.
    pub classification: &'a str,
    /// Owner.
    pub owner: Option<UserId>,
    /// Status.
    pub status: &'a str,
    /// Justification.
    pub justification: &'a str,
    /// Who.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

macro_rules! select_control {
    () => {
        "SELECT c.id, c.ref AS reference, c.title, LOWER(c.title) AS title_key, c.description, c.classification, c.owner_id, \
         u.display_name AS owner_name, c.status, c.justification, c.effectiveness, c.effectiveness_reason, \
         c.created_at, c.updated_at \
         FROM control c LEFT JOIN app_user u ON u.id = c.owner_id "
    };
}

/// The filters every list order shares; `$1` tenant, `$2` status, `$3` owner, `$4` framework,
/// `$5` a `LIKE` pattern, compared case-insensitively, `$9` an effectiveness.
macro_rules! control_filters {
    () => {
        "WHERE c.tenant_id = $1 AND ($2 IS NULL OR c.status = $2) AND ($3 IS NULL OR c.owner_id = $3) \
         AND ($4 IS NULL OR EXISTS (SELECT 1 FROM control_mapping m JOIN requirement r ON r.id = m.requirement_id \
              WHERE m.tenant_id = c.tenant_id AND m.control_id = c.id AND r.framework_id = $4)) \
         AND ($5 IS NULL OR LOWER(c.title) LIKE LOWER($5) ESCAPE '\\' OR LOWER(c.ref) LIKE LOWER($5) ESCAPE '\\') \
         AND ($9 IS NULL OR c.effectiveness = $9) "
    };
}

/// Stores a control.
///
/// # Errors
/// On database failure ([`DbError::is_unique_violation`] when the reference is taken).
pub async fn insert(tx: &mut Tx, tenant: TenantId, c: &ControlData<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO control (id, tenant_id, ref, title, description, classification, owner_id, status, \
             justification, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(c.id)
        .bind(tenant.as_uuid())
        .bind(c.reference)
        .bind(c.title)
        .bind(c.description)
        .bind(c.classification)
        .bind(c.owner.map(|o| o.as_uuid()))
        .bind(c.status)
        .bind(c.justification)
        .bind(c.by.as_uuid())
        .bind(c.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Rewrites a control's facts.
///
/// # Errors
/// On database failure ([`DbError::is_unique_violation`] when the reference is taken).
pub async fn update(tx: &mut Tx, tenant: TenantId, c: &ControlData<'_>) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE control SET ref = $3, title = $4, description = $5, classification = $6, owner_id = $7, \
             status = $8, justification = $9, updated_at = $10 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(c.id)
        .bind(c.reference)
        .bind(c.title)
        .bind(c.description)
        .bind(c.classification)
        .bind(c.owner.map(|o| o.as_uuid()))
        .bind(c.status)
        .bind(c.justification)
        .bind(c.now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// One control.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<ControlRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_control!(),
            "WHERE c.tenant_id = $1 AND c.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// The id of the control with this reference.
///
/// # Errors
/// On database failure.
pub async fn by_reference(
    tx: &mut Tx,
    tenant: TenantId,
    reference: &str,
) -> Result<Option<Uuid>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar("SELECT id FROM control WHERE tenant_id = $1 AND ref = $2")
            .bind(tenant.as_uuid())
            .bind(reference)
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// How a list is ordered (each a literal statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlOrder {
    /// By reference, A to Z.
    Reference,
    /// By title, A to Z, ignoring case.
    Title,
    /// Most recently changed first.
    Updated,
}

/// A keyset cursor: the last row of the previous page.
#[derive(Debug, Clone)]
pub enum ControlCursor {
    /// `(ref, id)`.
    Reference(String, Uuid),
    /// `(title_key, id)`.
    Title(String, Uuid),
    /// `(updated_at, id)`.
    Updated(OffsetDateTime, Uuid),
}

/// What a list shows.
#[derive(Debug, Clone)]
pub struct ControlQuery<'a> {
    /// Only this status.
    pub status: Option<&'a str>,
    /// Only this owner.
    pub owner: Option<Uuid>,
    /// Only controls mapped to a requirement of this framework.
    pub framework: Option<Uuid>,
    /// Only controls with this computed effectiveness.
    pub effectiveness: Option<&'a str>,
    /// A `LIKE` pattern on title or reference, compared case-insensitively (`%` and `_`
    /// escaped with `\`).
    pub search: Option<String>,
    /// The order.
    pub order: ControlOrder,
    /// Where the previous page ended.
    pub after: Option<ControlCursor>,
    /// Rows wanted.
    pub limit: i64,
}

/// A page of controls.
///
/// # Errors
/// On database failure.
pub async fn list(
    tx: &mut Tx,
    tenant: TenantId,
    q: &ControlQuery<'_>,
) -> Result<Vec<ControlRow>, DbError> {
    // Keyset pages: the first page names no cursor; later ones compare the row value
    // (key, id) with the cursor's, which both engines answer from the order's index.
    macro_rules! page {
        ($after:literal, $order:literal) => {
            concat!(
                select_control!(),
                control_filters!(),
                $after,
                " ORDER BY ",
                $order,
                " LIMIT $8"
            )
        };
    }
    let tenant = tenant.as_uuid();
    let (sql, key, id): (&'static str, Key, Option<Uuid>) = match (q.order, &q.after) {
        (ControlOrder::Reference, Some(ControlCursor::Reference(a, i))) => (
            page!("AND (c.ref, c.id) > ($6, $7)", "c.ref, c.id"),
            Key::Text(Some(a.clone())),
            Some(*i),
        ),
        (ControlOrder::Reference, _) => (
            page!("AND $6 IS NULL AND $7 IS NULL", "c.ref, c.id"),
            Key::Text(None),
            None,
        ),
        (ControlOrder::Title, Some(ControlCursor::Title(a, i))) => (
            page!(
                "AND (LOWER(c.title), c.id) > ($6, $7)",
                "LOWER(c.title), c.id"
            ),
            Key::Text(Some(a.clone())),
            Some(*i),
        ),
        (ControlOrder::Title, _) => (
            page!("AND $6 IS NULL AND $7 IS NULL", "LOWER(c.title), c.id"),
            Key::Text(None),
            None,
        ),
        (ControlOrder::Updated, Some(ControlCursor::Updated(a, i))) => (
            page!(
                "AND (c.updated_at, c.id) < ($6, $7)",
                "c.updated_at DESC, c.id DESC"
            ),
            Key::Time(Some(*a)),
            Some(*i),
        ),
        (ControlOrder::Updated, _) => (
            page!(
                "AND $6 IS NULL AND $7 IS NULL",
                "c.updated_at DESC, c.id DESC"
            ),
            Key::Time(None),
            None,
        ),
    };
    Ok(on_tx!(tx, |conn| {
        let query = sqlx::query_as(sql)
            .bind(tenant)
            .bind(q.status)
            .bind(q.owner)
            .bind(q.framework)
            .bind(q.search.as_deref());
        let query = match &key {
            Key::Text(a) => query.bind(a.clone()),
            Key::Time(t) => query.bind(*t),
        };
        query
            .bind(id)
            .bind(q.limit)
            .bind(q.effectiveness)
            .fetch_all(&mut *conn)
            .await?
    }))
}

/// The sort key of a keyset cursor, as bound.
enum Key {
    Text(Option<String>),
    Time(Option<OffsetDateTime>),
}

/// Deletes a control with its mappings. Returns whether it existed.
///
/// # Errors
/// On database failure.
pub async fn delete(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM control_mapping WHERE tenant_id = $1 AND control_id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM control WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// A mapping as listed.
#[derive(Debug, Clone, FromRow)]
pub struct MappingRow {
    /// Requirement.
    pub requirement_id: Uuid,
    /// Its framework.
    pub framework_id: Uuid,
    /// The framework's title.
    pub framework_title: String,
    /// The requirement's label.
    pub label: String,
    /// Its title.
    pub title: String,
    /// Withdrawn from the framework.
    pub withdrawn_at: Option<OffsetDateTime>,
}

/// A control's mappings, by framework and requirement order.
///
/// # Errors
/// On database failure.
pub async fn mappings(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
) -> Result<Vec<MappingRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.id AS requirement_id, r.framework_id, f.title AS framework_title, r.label, r.title, \
             r.withdrawn_at FROM control_mapping m JOIN requirement r ON r.id = m.requirement_id \
             JOIN framework f ON f.id = r.framework_id \
             WHERE m.tenant_id = $1 AND m.control_id = $2 ORDER BY f.title, r.position",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Maps a control to a requirement; returns false when it already was.
///
/// # Errors
/// On database failure.
pub async fn map(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
    requirement: Uuid,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO control_mapping (tenant_id, control_id, requirement_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (control_id, requirement_id) DO NOTHING",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .bind(requirement)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Removes a mapping; returns whether there was one.
///
/// # Errors
/// On database failure.
pub async fn unmap(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
    requirement: Uuid,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "DELETE FROM control_mapping WHERE tenant_id = $1 AND control_id = $2 AND requirement_id = $3",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .bind(requirement)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// The controls mapped to a requirement: `(id, ref, title, status)`.
///
/// # Errors
/// On database failure.
pub async fn covering(
    tx: &mut Tx,
    tenant: TenantId,
    requirement: Uuid,
) -> Result<Vec<(Uuid, String, String, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT c.id, c.ref, c.title, c.status FROM control_mapping m JOIN control c ON c.id = m.control_id \
             WHERE m.tenant_id = $1 AND m.requirement_id = $2 ORDER BY c.ref",
        )
        .bind(tenant.as_uuid())
        .bind(requirement)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A requirement in the statement of applicability.
#[derive(Debug, Clone, FromRow)]
pub struct SoaRow {
    /// Requirement.
    pub id: Uuid,
    /// Label.
    pub label: String,
    /// Title.
    pub title: String,
    /// Kind.
    pub kind: String,
    /// Depth.
    pub depth: i64,
    /// `None`: never decided (applicable).
    pub applicable: Option<bool>,
    /// Why.
    pub reason: Option<String>,
    /// Controls mapped.
    pub mapped: i64,
    /// Of which implemented.
    pub implemented: i64,
}

/// Every current requirement of a framework with its applicability and how many controls
/// (implemented ones apart) cover it, in document order.
///
/// # Errors
/// On database failure.
pub async fn soa(tx: &mut Tx, tenant: TenantId, framework: Uuid) -> Result<Vec<SoaRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.id, r.label, r.title, r.kind, r.depth, a.applicable, a.reason, \
             (SELECT count(*) FROM control_mapping m WHERE m.tenant_id = r.tenant_id AND m.requirement_id = r.id) AS mapped, \
             (SELECT count(*) FROM control_mapping m JOIN control c ON c.id = m.control_id \
              WHERE m.tenant_id = r.tenant_id AND m.requirement_id = r.id AND c.status = 'implemented') AS implemented \
             FROM requirement r LEFT JOIN applicability a ON a.requirement_id = r.id \
             WHERE r.tenant_id = $1 AND r.framework_id = $2 AND r.withdrawn_at IS NULL ORDER BY r.position",
        )
        .bind(tenant.as_uuid())
        .bind(framework)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Every mapping of a framework's requirements: `(requirement, control reference)`, by
/// reference.
///
/// # Errors
/// On database failure.
pub async fn mapped_refs(
    tx: &mut Tx,
    tenant: TenantId,
    framework: Uuid,
) -> Result<Vec<(Uuid, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT m.requirement_id, c.ref FROM control_mapping m JOIN control c ON c.id = m.control_id \
             JOIN requirement r ON r.id = m.requirement_id \
             WHERE m.tenant_id = $1 AND r.framework_id = $2 ORDER BY c.ref",
        )
        .bind(tenant.as_uuid())
        .bind(framework)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Records whether a requirement applies, and why.
///
/// # Errors
/// On database failure.
pub async fn set_applicability(
    tx: &mut Tx,
    tenant: TenantId,
    requirement: Uuid,
    applicable: bool,
    reason: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO applicability (tenant_id, requirement_id, applicable, reason, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (requirement_id) DO UPDATE SET applicable = $3, \
             reason = $4, updated_by = $5, updated_at = $6",
        )
        .bind(tenant.as_uuid())
        .bind(requirement)
        .bind(applicable)
        .bind(reason)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Coverage of one framework: applicable requirements, of which mapped to a control, of
/// which mapped to an implemented control.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct CoverageRow {
    /// Framework.
    pub framework_id: Uuid,
    /// Applicable current requirements.
    pub applicable: i64,
    /// Of those, mapped to at least one control.
    pub mapped: i64,
    /// Of those, mapped to at least one implemented control.
    pub implemented: i64,
}

/// Coverage of every framework of the tenant.
///
/// # Errors
/// On database failure.
pub async fn coverage(tx: &mut Tx, tenant: TenantId) -> Result<Vec<CoverageRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.framework_id, \
             COALESCE(SUM(CASE WHEN a.applicable IS NULL OR a.applicable THEN 1 ELSE 0 END), 0) AS applicable, \
             COALESCE(SUM(CASE WHEN (a.applicable IS NULL OR a.applicable) AND EXISTS (SELECT 1 FROM control_mapping m \
                 WHERE m.tenant_id = r.tenant_id AND m.requirement_id = r.id) THEN 1 ELSE 0 END), 0) AS mapped, \
             COALESCE(SUM(CASE WHEN (a.applicable IS NULL OR a.applicable) AND EXISTS (SELECT 1 FROM control_mapping m \
                 JOIN control c ON c.id = m.control_id WHERE m.tenant_id = r.tenant_id AND m.requirement_id = r.id \
                 AND c.status = 'implemented') THEN 1 ELSE 0 END), 0) AS implemented \
             FROM requirement r LEFT JOIN applicability a ON a.requirement_id = r.id \
             WHERE r.tenant_id = $1 AND r.kind <> 'group' AND r.withdrawn_at IS NULL GROUP BY r.framework_id",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}
