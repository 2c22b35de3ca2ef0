//! Storage of framework catalogues: frameworks, their requirements (a tree by `parent_id`, in
//! document order by `position`) and the history of their versions. Tenant-filtered, and under
//! row-level security on PostgreSQL. No rules here: `attest_domain::frameworks` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A framework.
#[derive(Debug, Clone, FromRow)]
pub struct FrameworkRow {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Version as the source states it.
    pub version: String,
    /// `oscal`, `csv` or `baseline`.
    pub source: String,
    /// The OSCAL catalog's UUID.
    pub oscal_uuid: Option<String>,
    /// JSON provenance.
    pub provenance: String,
    /// Requirements (not groups) in the current version.
    pub requirement_count: i64,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last imported.
    pub updated_at: OffsetDateTime,
}

/// A requirement (or group) of a framework.
#[derive(Debug, Clone, FromRow)]
pub struct RequirementRow {
    /// Id.
    pub id: Uuid,
    /// Framework.
    pub framework_id: Uuid,
    /// Id in the source (column `ref`).
    pub source_ref: String,
    /// Parent.
    pub parent_id: Option<Uuid>,
    /// `group`, `control`, `enhancement` or `requirement`.
    pub kind: String,
    /// Label.
    pub label: String,
    /// Title.
    pub title: String,
    /// Text.
    pub statement: String,
    /// Guidance.
    pub guidance: String,
    /// Document order.
    pub position: i64,
    /// Nesting depth.
    pub depth: i64,
    /// When it left the framework.
    pub withdrawn_at: Option<OffsetDateTime>,
}

/// A framework to store.
#[derive(Debug, Clone)]
pub struct NewFramework<'a> {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: &'a str,
    /// Version.
    pub version: &'a str,
    /// `oscal`, `csv` or `baseline`.
    pub source: &'a str,
    /// OSCAL UUID.
    pub oscal_uuid: Option<&'a str>,
    /// JSON provenance.
    pub provenance: &'a str,
    /// Requirements (not groups).
    pub requirement_count: i64,
    /// Who imported it.
    pub by: Option<UserId>,
    /// Now.
    pub now: OffsetDateTime,
}

/// A requirement to store or update (matched by `ref` within its framework).
#[derive(Debug, Clone)]
pub struct RequirementData<'a> {
    /// Id (for a new one).
    pub id: Uuid,
    /// Framework.
    pub framework_id: Uuid,
    /// Id in the source.
    pub source_ref: &'a str,
    /// Parent.
    pub parent_id: Option<Uuid>,
    /// Kind.
    pub kind: &'a str,
    /// Label.
    pub label: &'a str,
    /// Title.
    pub title: &'a str,
    /// Text.
    pub statement: &'a str,
    /// Guidance.
    pub guidance: &'a str,
    /// Document order.
    pub position: i64,
    /// Depth.
    pub depth: i64,
}

macro_rules! select_framework {
    () => {
        "SELECT id, title, version, source, oscal_uuid, provenance, requirement_count, created_at, \
         updated_at FROM framework "
    };
}

macro_rules! select_requirement {
    () => {
        "SELECT id, framework_id, ref AS source_ref, parent_id, kind, label, title, statement, guidance, position, \
         depth, withdrawn_at FROM requirement "
    };
}

/// Stores a framework.
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, tenant: TenantId, f: &NewFramework<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO framework (id, tenant_id, title, version, source, oscal_uuid, provenance, \
             requirement_count, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(f.id)
        .bind(tenant.as_uuid())
        .bind(f.title)
        .bind(f.version)
        .bind(f.source)
        .bind(f.oscal_uuid)
        .bind(f.provenance)
        .bind(f.requirement_count)
        .bind(f.by.map(|u| u.as_uuid()))
        .bind(f.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Changes a framework's facts after a new version was imported.
///
/// # Errors
/// On database failure.
pub async fn update(tx: &mut Tx, tenant: TenantId, f: &NewFramework<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE framework SET title = $3, version = $4, source = $5, oscal_uuid = $6, \
             provenance = $7, requirement_count = $8, updated_at = $9 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(f.id)
        .bind(f.title)
        .bind(f.version)
        .bind(f.source)
        .bind(f.oscal_uuid)
        .bind(f.provenance)
        .bind(f.requirement_count)
        .bind(f.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Stores a new requirement.
///
/// # Errors
/// On database failure.
pub async fn insert_requirement(
    tx: &mut Tx,
    tenant: TenantId,
    r: &RequirementData<'_>,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO requirement (id, tenant_id, framework_id, ref, parent_id, kind, label, title, \
             statement, guidance, position, depth) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(r.id)
        .bind(tenant.as_uuid())
        .bind(r.framework_id)
        .bind(r.source_ref)
        .bind(r.parent_id)
        .bind(r.kind)
        .bind(r.label)
        .bind(r.title)
        .bind(r.statement)
        .bind(r.guidance)
        .bind(r.position)
        .bind(r.depth)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Rewrites an existing requirement (`r.id`) with a new version's facts; it is current again.
///
/// # Errors
/// On database failure.
pub async fn update_requirement(
    tx: &mut Tx,
    tenant: TenantId,
    r: &RequirementData<'_>,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE requirement SET parent_id = $3, kind = $4, label = $5, title = $6, statement = $7, \
             guidance = $8, position = $9, depth = $10, withdrawn_at = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(r.id)
        .bind(r.parent_id)
        .bind(r.kind)
        .bind(r.label)
        .bind(r.title)
        .bind(r.statement)
        .bind(r.guidance)
        .bind(r.position)
        .bind(r.depth)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Marks a requirement as no longer in the framework.
///
/// # Errors
/// On database failure.
pub async fn withdraw(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE requirement SET withdrawn_at = $3 WHERE tenant_id = $1 AND id = $2 AND withdrawn_at IS NULL",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Records an imported version and what it changed.
///
/// # Errors
/// On database failure.
#[allow(clippy::too_many_arguments)]
pub async fn insert_version(
    tx: &mut Tx,
    tenant: TenantId,
    framework: Uuid,
    number: i64,
    version: &str,
    changes: &str,
    by: Option<UserId>,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO framework_version (tenant_id, framework_id, number, version, changes, imported_by, \
             imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_uuid())
        .bind(framework)
        .bind(number)
        .bind(version)
        .bind(changes)
        .bind(by.map(|u| u.as_uuid()))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A version as listed: number, version, changes JSON, importer's name, when.
pub type VersionRow = (i64, String, String, Option<String>, OffsetDateTime);

/// A framework's versions, newest first.
///
/// # Errors
/// On database failure.
pub async fn versions(
    tx: &mut Tx,
    tenant: TenantId,
    framework: Uuid,
) -> Result<Vec<VersionRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT v.number, v.version, v.changes, u.display_name, v.imported_at FROM framework_version v \
             LEFT JOIN app_user u ON u.id = v.imported_by \
             WHERE v.tenant_id = $1 AND v.framework_id = $2 ORDER BY v.number DESC",
        )
        .bind(tenant.as_uuid())
        .bind(framework)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// The tenant's frameworks, by title.
///
/// # Errors
/// On database failure.
pub async fn list(tx: &mut Tx, tenant: TenantId) -> Result<Vec<FrameworkRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_framework!(),
            "WHERE tenant_id = $1 ORDER BY title, id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// One framework.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<FrameworkRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_framework!(),
            "WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Every requirement of a framework (withdrawn ones too), in document order.
///
/// # Errors
/// On database failure.
pub async fn requirements(
    tx: &mut Tx,
    tenant: TenantId,
    framework: Uuid,
) -> Result<Vec<RequirementRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_requirement!(),
            "WHERE tenant_id = $1 AND framework_id = $2 ORDER BY withdrawn_at IS NOT NULL, position, id"
        ))
        .bind(tenant.as_uuid())
        .bind(framework)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// One requirement.
///
/// # Errors
/// On database failure.
pub async fn requirement(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RequirementRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_requirement!(),
            "WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Deletes a framework with its requirements and versions. Returns whether it existed.
///
/// # Errors
/// On database failure.
pub async fn delete(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM framework_version WHERE tenant_id = $1 AND framework_id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE requirement SET parent_id = NULL WHERE tenant_id = $1 AND framework_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM requirement WHERE tenant_id = $1 AND framework_id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM framework WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// A current requirement of a framework named by its label or source id (either, any case).
///
/// # Errors
/// On database failure.
pub async fn find_requirement(
    tx: &mut Tx,
    tenant: TenantId,
    framework: Uuid,
    name: &str,
) -> Result<Option<RequirementRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_requirement!(),
            "WHERE tenant_id = $1 AND framework_id = $2 AND withdrawn_at IS NULL AND kind <> 'group' \
             AND (LOWER(label) = LOWER($3) OR LOWER(ref) = LOWER($3)) ORDER BY position LIMIT 1"
        ))
        .bind(tenant.as_uuid())
        .bind(framework)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
    }))
}
