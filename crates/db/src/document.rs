//! Storage of documents and their versions. Every function takes the tenant and filters by it;
//! on PostgreSQL the transaction also carries it for row-level security (SEC-34). No rules
//! here: `attest_domain::documents` decides who may do what.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, Tx};

/// A document's current state.
#[derive(Debug, Clone, FromRow)]
pub struct DocumentRow {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Classification name.
    pub classification: String,
    /// Owner.
    pub owner_id: Option<Uuid>,
    /// Owner's display name.
    pub owner_name: Option<String>,
    /// Current version.
    pub version: i64,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// One version as stored.
#[derive(Debug, Clone, FromRow)]
pub struct VersionRow {
    /// Number, from 1.
    pub version: i64,
    /// Title then.
    pub title: String,
    /// Classification then.
    pub classification: String,
    /// Sealed body.
    pub body: Vec<u8>,
    /// Author.
    pub author_id: Option<Uuid>,
    /// Author's display name.
    pub author_name: Option<String>,
    /// Written.
    pub created_at: OffsetDateTime,
}

/// A new version to store (the first creates the document).
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// Document.
    pub id: Uuid,
    /// Number.
    pub version: i64,
    /// Title.
    pub title: &'a str,
    /// Classification name.
    pub classification: &'a str,
    /// Owner after this version.
    pub owner: Option<UserId>,
    /// Sealed body.
    pub body: &'a [u8],
    /// Author.
    pub author: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

/// The columns of a [`DocumentRow`], for `concat!` (statements stay literal, SEC-44).
macro_rules! select_document {
    () => {
        "SELECT d.id, d.title, d.classification, d.owner_id, u.display_name AS owner_name, \
         d.version, d.created_at, d.updated_at FROM document d \
         LEFT JOIN app_user u ON u.id = d.owner_id "
    };
}

/// Creates a document with its first version.
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, tenant: TenantId, v: &NewVersion<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO document (id, tenant_id, title, classification, owner_id, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(v.id)
        .bind(tenant.as_uuid())
        .bind(v.title)
        .bind(v.classification)
        .bind(v.owner.map(|o| o.as_uuid()))
        .bind(v.version)
        .bind(v.now)
        .execute(&mut *conn)
        .await?;
    });
    insert_version(tx, tenant, v).await
}

/// Moves a document to a new version if its current version is still `expected`; returns
/// false when someone else saved first (the caller answers 409 and writes nothing).
///
/// # Errors
/// On database failure.
pub async fn update(
    tx: &mut Tx,
    tenant: TenantId,
    v: &NewVersion<'_>,
    expected: i64,
) -> Result<bool, DbError> {
    let moved = on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE document SET title = $3, classification = $4, owner_id = $5, version = $6, updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2 AND version = $8",
        )
        .bind(tenant.as_uuid())
        .bind(v.id)
        .bind(v.title)
        .bind(v.classification)
        .bind(v.owner.map(|o| o.as_uuid()))
        .bind(v.version)
        .bind(v.now)
        .bind(expected)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if moved != 1 {
        return Ok(false);
    }
    insert_version(tx, tenant, v).await?;
    Ok(true)
}

async fn insert_version(tx: &mut Tx, tenant: TenantId, v: &NewVersion<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO document_version (tenant_id, document_id, version, title, classification, body, author_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_uuid())
        .bind(v.id)
        .bind(v.version)
        .bind(v.title)
        .bind(v.classification)
        .bind(v.body)
        .bind(v.author.as_uuid())
        .bind(v.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// One document of the tenant.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<DocumentRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_document!(),
            "WHERE d.tenant_id = $1 AND d.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// What a list shows.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    /// Only documents shared with this user (live shares at `now`); `None` for all.
    pub shared_with: Option<UserId>,
    /// Now, for share expiry.
    pub now: OffsetDateTime,
    /// Only this classification.
    pub classification: Option<&'static str>,
    /// Keyset cursor: the `(updated_at, id)` of the last row of the previous page.
    pub after: Option<(OffsetDateTime, Uuid)>,
    /// Rows wanted.
    pub limit: i64,
}

/// A page of the tenant's documents, most recently changed first (keyset pagination).
///
/// # Errors
/// On database failure.
pub async fn list(
    tx: &mut Tx,
    tenant: TenantId,
    q: ListQuery,
) -> Result<Vec<DocumentRow>, DbError> {
    let (after_at, after_id) = q.after.map_or((None, None), |(t, i)| (Some(t), Some(i)));
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_document!(),
            "WHERE d.tenant_id = $1 \
             AND ($2 IS NULL OR EXISTS (SELECT 1 FROM object_share s WHERE s.tenant_id = d.tenant_id \
                  AND s.object_kind = 'document' AND s.object_id = d.id AND s.user_id = $2 \
                  AND s.revoked_at IS NULL AND s.until > $3)) \
             AND ($4 IS NULL OR d.classification = $4) \
             AND ($5 IS NULL OR d.updated_at < $5 OR (d.updated_at = $5 AND d.id < $6)) \
             ORDER BY d.updated_at DESC, d.id DESC LIMIT $7"
        ))
            .bind(tenant.as_uuid())
            .bind(q.shared_with.map(|u| u.as_uuid()))
            .bind(q.now)
            .bind(q.classification)
            .bind(after_at)
            .bind(after_id)
            .bind(q.limit)
            .fetch_all(&mut *conn)
            .await?
    }))
}

/// A document's versions, newest first (bodies included: callers open the one they show).
///
/// # Errors
/// On database failure.
pub async fn versions(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Vec<VersionRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT v.version, v.title, v.classification, v.body, v.author_id, \
             u.display_name AS author_name, v.created_at FROM document_version v \
             LEFT JOIN app_user u ON u.id = v.author_id \
             WHERE v.tenant_id = $1 AND v.document_id = $2 ORDER BY v.version DESC",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// One version.
///
/// # Errors
/// On database failure.
pub async fn version(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    number: i64,
) -> Result<Option<VersionRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT v.version, v.title, v.classification, v.body, v.author_id, \
             u.display_name AS author_name, v.created_at FROM document_version v \
             LEFT JOIN app_user u ON u.id = v.author_id \
             WHERE v.tenant_id = $1 AND v.document_id = $2 AND v.version = $3",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Deletes a document, its versions and its shares. Returns whether it existed.
///
/// # Errors
/// On database failure.
pub async fn delete(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    crate::share::delete_all_of(tx, tenant, "document", id).await?;
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM document_version WHERE tenant_id = $1 AND document_id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM document WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}
