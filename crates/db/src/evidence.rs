//! Storage of the evidence library: records, their versions (files or links), tags, the
//! per-tenant usage counter for the quota, and the blobs awaiting removal. Every tenant
//! function takes the tenant and filters by it; on PostgreSQL the transaction also carries it
//! for row-level security (SEC-34). No rules here: `attest_domain::evidence` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// An evidence record's current state.
#[derive(Debug, Clone, FromRow)]
pub struct EvidenceRow {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Sealed description.
    pub description: Vec<u8>,
    /// Classification name.
    pub classification: String,
    /// Owner.
    pub owner_id: Option<Uuid>,
    /// Owner's display name.
    pub owner_name: Option<String>,
    /// The newest version.
    pub version: i64,
    /// The newest version's effective date (or period start).
    pub effective_from: Date,
    /// The newest version's period end.
    pub effective_to: Option<Date>,
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
    /// `file` or `link`.
    pub kind: String,
    /// Where the file's blob is.
    pub blob_key: Option<String>,
    /// The file's safe name.
    pub file_name: Option<String>,
    /// Its media type.
    pub media_type: Option<String>,
    /// Plaintext size.
    pub size_bytes: Option<i64>,
    /// SHA-256 of the plaintext.
    pub sha256: Option<Vec<u8>>,
    /// Sealed link.
    pub link: Option<Vec<u8>>,
    /// Whose DEK sealed it.
    pub classification: String,
    /// Effective date or period start.
    pub effective_from: Date,
    /// Period end.
    pub effective_to: Option<Date>,
    /// `released`, `pending` or `quarantined`.
    pub status: String,
    /// The signature a scan found.
    pub scan_result: Option<String>,
    /// Uploader.
    pub uploaded_by: Option<Uuid>,
    /// Uploader's display name.
    pub uploader_name: Option<String>,
    /// Uploaded.
    pub created_at: OffsetDateTime,
}

/// A new record (its first version is stored with [`insert_version`]).
#[derive(Debug, Clone)]
pub struct NewEvidence<'a> {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: &'a str,
    /// Sealed description.
    pub description: &'a [u8],
    /// Classification name.
    pub classification: &'a str,
    /// Owner.
    pub owner: Option<UserId>,
    /// Effective date of the first version.
    pub effective_from: Date,
    /// Period end of the first version.
    pub effective_to: Option<Date>,
    /// Creator.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

/// A new version.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// The record.
    pub evidence: Uuid,
    /// Number.
    pub version: i64,
    /// A file's blob key, name, media type, size and hash; `None` for a link.
    pub file: Option<StoredFile<'a>>,
    /// The sealed link, for a link.
    pub link: Option<&'a [u8]>,
    /// Whose DEK sealed it.
    pub classification: &'a str,
    /// Effective date or period start.
    pub effective_from: Date,
    /// Period end.
    pub effective_to: Option<Date>,
    /// `released`, `pending` or `quarantined`.
    pub status: &'a str,
    /// The signature a scan found.
    pub scan_result: Option<&'a str>,
    /// When the scan gave its verdict.
    pub scanned_at: Option<OffsetDateTime>,
    /// Uploader.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

/// A stored file's facts.
#[derive(Debug, Clone, Copy)]
pub struct StoredFile<'a> {
    /// Blob key.
    pub blob_key: &'a str,
    /// Safe name.
    pub file_name: &'a str,
    /// Media type.
    pub media_type: &'a str,
    /// Plaintext size.
    pub size: i64,
    /// SHA-256 of the plaintext.
    pub sha256: &'a [u8],
}

/// The columns of an [`EvidenceRow`], for `concat!` (statements stay literal, SEC-44).
macro_rules! select_evidence {
    () => {
        "SELECT e.id, e.title, e.description, e.classification, e.owner_id, \
         u.display_name AS owner_name, e.version, e.effective_from, e.effective_to, \
         e.created_at, e.updated_at FROM evidence e LEFT JOIN app_user u ON u.id = e.owner_id "
    };
}

/// The columns of a [`VersionRow`].
macro_rules! select_version {
    () => {
        "SELECT v.version, v.kind, v.blob_key, v.file_name, v.media_type, v.size_bytes, v.sha256, \
         v.link, v.classification, v.effective_from, v.effective_to, v.status, v.scan_result, \
         v.uploaded_by, u.display_name AS uploader_name, v.created_at FROM evidence_version v \
         LEFT JOIN app_user u ON u.id = v.uploaded_by "
    };
}

/// Creates a record (version 1 follows with [`insert_version`] in the same transaction).
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, tenant: TenantId, e: &NewEvidence<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO evidence (id, tenant_id, title, description, classification, owner_id, version, \
             effective_from, effective_to, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $10)",
        )
        .bind(e.id)
        .bind(tenant.as_uuid())
        .bind(e.title)
        .bind(e.description)
        .bind(e.classification)
        .bind(e.owner.map(|o| o.as_uuid()))
        .bind(e.effective_from)
        .bind(e.effective_to)
        .bind(e.by.as_uuid())
        .bind(e.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Moves a record to its next version number, which is returned (`None`: no such record).
/// Concurrent uploads get distinct numbers: the increment happens under the row's lock.
///
/// # Errors
/// On database failure.
pub async fn next_version(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    effective_from: Date,
    effective_to: Option<Date>,
    now: OffsetDateTime,
) -> Result<Option<i64>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "UPDATE evidence SET version = version + 1, effective_from = $3, effective_to = $4, \
             updated_at = $5 WHERE tenant_id = $1 AND id = $2 RETURNING version",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(effective_from)
        .bind(effective_to)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Stores a version.
///
/// # Errors
/// On database failure.
pub async fn insert_version(
    tx: &mut Tx,
    tenant: TenantId,
    v: &NewVersion<'_>,
) -> Result<(), DbError> {
    let f = v.file;
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO evidence_version (tenant_id, evidence_id, version, kind, blob_key, file_name, \
             media_type, size_bytes, sha256, link, classification, effective_from, effective_to, status, \
             scan_result, scanned_at, uploaded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(tenant.as_uuid())
        .bind(v.evidence)
        .bind(v.version)
        .bind(if f.is_some() { "file" } else { "link" })
        .bind(f.map(|f| f.blob_key))
        .bind(f.map(|f| f.file_name))
        .bind(f.map(|f| f.media_type))
        .bind(f.map(|f| f.size))
        .bind(f.map(|f| f.sha256))
        .bind(v.link)
        .bind(v.classification)
        .bind(v.effective_from)
        .bind(v.effective_to)
        .bind(v.status)
        .bind(v.scan_result)
        .bind(v.scanned_at)
        .bind(v.by.as_uuid())
        .bind(v.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// What an edit of the record changes.
#[derive(Debug, Clone)]
pub struct MetaUpdate<'a> {
    /// Title.
    pub title: &'a str,
    /// Sealed description.
    pub description: &'a [u8],
    /// Classification name.
    pub classification: &'a str,
    /// Owner.
    pub owner: Option<UserId>,
    /// Now.
    pub now: OffsetDateTime,
}

/// Changes a record's title, description, classification and owner.
///
/// # Errors
/// On database failure.
pub async fn update_meta(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    m: &MetaUpdate<'_>,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE evidence SET title = $3, description = $4, classification = $5, owner_id = $6, \
             updated_at = $7 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(m.title)
        .bind(m.description)
        .bind(m.classification)
        .bind(m.owner.map(|o| o.as_uuid()))
        .bind(m.now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Replaces a record's tags.
///
/// # Errors
/// On database failure.
pub async fn set_tags(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    tags: &[String],
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM evidence_tag WHERE tenant_id = $1 AND evidence_id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for tag in tags {
            sqlx::query(
                "INSERT INTO evidence_tag (tenant_id, evidence_id, tag) VALUES ($1, $2, $3)",
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
        }
    });
    Ok(())
}

/// A record's tags, sorted.
///
/// # Errors
/// On database failure.
pub async fn tags(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Vec<String>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT tag FROM evidence_tag WHERE tenant_id = $1 AND evidence_id = $2 ORDER BY tag",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// The tags of every record in a keyset window `[last, first]` of the list order, as
/// `(record, tag)`: one query for a whole page.
///
/// # Errors
/// On database failure.
pub async fn tags_between(
    tx: &mut Tx,
    tenant: TenantId,
    first: (OffsetDateTime, Uuid),
    last: (OffsetDateTime, Uuid),
) -> Result<Vec<(Uuid, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT t.evidence_id, t.tag FROM evidence_tag t JOIN evidence e ON e.id = t.evidence_id \
             WHERE t.tenant_id = $1 AND e.tenant_id = $1 \
             AND (e.updated_at < $2 OR (e.updated_at = $2 AND e.id <= $3)) \
             AND (e.updated_at > $4 OR (e.updated_at = $4 AND e.id >= $5)) ORDER BY t.tag",
        )
        .bind(tenant.as_uuid())
        .bind(first.0)
        .bind(first.1)
        .bind(last.0)
        .bind(last.1)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// One record of the tenant.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<EvidenceRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_evidence!(),
            "WHERE e.tenant_id = $1 AND e.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// What a list shows.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    /// Only records shared with this user (live shares at `now`); `None` for all.
    pub shared_with: Option<UserId>,
    /// Now, for share expiry.
    pub now: OffsetDateTime,
    /// Only this classification.
    pub classification: Option<&'static str>,
    /// Only records with this tag.
    pub tag: Option<&'a str>,
    /// Only records this user owns.
    pub owner: Option<Uuid>,
    /// Only records whose newest version was effective on this date (within its period).
    pub effective_on: Option<Date>,
    /// Keyset cursor: the `(updated_at, id)` of the last row of the previous page.
    pub after: Option<(OffsetDateTime, Uuid)>,
    /// Rows wanted.
    pub limit: i64,
}

/// A page of the tenant's evidence, most recently changed first (keyset pagination).
///
/// # Errors
/// On database failure.
pub async fn list(
    tx: &mut Tx,
    tenant: TenantId,
    q: ListQuery<'_>,
) -> Result<Vec<EvidenceRow>, DbError> {
    let (after_at, after_id) = q.after.map_or((None, None), |(t, i)| (Some(t), Some(i)));
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_evidence!(),
            "WHERE e.tenant_id = $1 \
             AND ($2 IS NULL OR EXISTS (SELECT 1 FROM object_share s WHERE s.tenant_id = e.tenant_id \
                  AND s.object_kind = 'evidence' AND s.object_id = e.id AND s.user_id = $2 \
                  AND s.revoked_at IS NULL AND s.until > $3)) \
             AND ($4 IS NULL OR e.classification = $4) \
             AND ($5 IS NULL OR EXISTS (SELECT 1 FROM evidence_tag t WHERE t.tenant_id = e.tenant_id \
                  AND t.evidence_id = e.id AND t.tag = $5)) \
             AND ($6 IS NULL OR e.owner_id = $6) \
             AND ($7 IS NULL OR (e.effective_from <= $7 AND COALESCE(e.effective_to, e.effective_from) >= $7)) \
             AND ($8 IS NULL OR e.updated_at < $8 OR (e.updated_at = $8 AND e.id < $9)) \
             ORDER BY e.updated_at DESC, e.id DESC LIMIT $10"
        ))
        .bind(tenant.as_uuid())
        .bind(q.shared_with.map(|u| u.as_uuid()))
        .bind(q.now)
        .bind(q.classification)
        .bind(q.tag)
        .bind(q.owner)
        .bind(q.effective_on)
        .bind(after_at)
        .bind(after_id)
        .bind(q.limit)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A record's versions, newest first.
///
/// # Errors
/// On database failure.
pub async fn versions(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Vec<VersionRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_version!(),
            "WHERE v.tenant_id = $1 AND v.evidence_id = $2 ORDER BY v.version DESC"
        ))
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
        sqlx::query_as(concat!(
            select_version!(),
            "WHERE v.tenant_id = $1 AND v.evidence_id = $2 AND v.version = $3"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Versions still waiting for a scan verdict, oldest first, as `(record, version row)`.
///
/// # Errors
/// On database failure.
pub async fn pending_scans(
    tx: &mut Tx,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<(Uuid, i64, String, i64, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT evidence_id, version, blob_key, size_bytes, classification FROM evidence_version \
             WHERE tenant_id = $1 AND status = 'pending' AND blob_key IS NOT NULL \
             ORDER BY created_at LIMIT $2",
        )
        .bind(tenant.as_uuid())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Records a scan verdict on a version still pending; returns whether it changed.
///
/// # Errors
/// On database failure.
pub async fn set_scanned(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    version: i64,
    status: &str,
    scan_result: Option<&str>,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE evidence_version SET status = $4, scan_result = $5, scanned_at = $6 \
             WHERE tenant_id = $1 AND evidence_id = $2 AND version = $3 AND status = 'pending'",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(version)
        .bind(status)
        .bind(scan_result)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Deletes a record with its versions, tags and shares; returns the blob keys and the bytes
/// its files took, so the caller can schedule the blobs' removal and free the quota.
///
/// # Errors
/// On database failure.
pub async fn delete(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<(Vec<String>, i64), DbError> {
    crate::share::delete_all_of(tx, tenant, "evidence", id).await?;
    Ok(on_tx!(tx, |conn| {
        let files: Vec<(String, i64)> = sqlx::query_as(
            "SELECT blob_key, size_bytes FROM evidence_version WHERE tenant_id = $1 AND evidence_id = $2 \
             AND blob_key IS NOT NULL AND size_bytes IS NOT NULL",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        for table in [
            "DELETE FROM evidence_tag WHERE tenant_id = $1 AND evidence_id = $2",
            "DELETE FROM evidence_version WHERE tenant_id = $1 AND evidence_id = $2",
            "DELETE FROM evidence WHERE tenant_id = $1 AND id = $2",
        ] {
            sqlx::query(table)
                .bind(tenant.as_uuid())
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        let bytes = files.iter().map(|f| f.1).sum();
        (files.into_iter().map(|f| f.0).collect(), bytes)
    }))
}

/// Adds `bytes` to the tenant's usage if it stays within `quota`; returns whether it did.
/// Atomic on both engines: two uploads cannot both take the last free bytes.
///
/// # Errors
/// On database failure.
pub async fn reserve(
    tx: &mut Tx,
    tenant: TenantId,
    bytes: i64,
    quota: i64,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO evidence_usage (tenant_id, bytes) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.as_uuid())
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE evidence_usage SET bytes = bytes + $2 WHERE tenant_id = $1 AND bytes + $2 <= $3",
        )
        .bind(tenant.as_uuid())
        .bind(bytes)
        .bind(quota)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Gives `bytes` back to the tenant's usage.
///
/// # Errors
/// On database failure.
pub async fn release(tx: &mut Tx, tenant: TenantId, bytes: i64) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE evidence_usage SET bytes = CASE WHEN bytes > $2 THEN bytes - $2 ELSE 0 END \
             WHERE tenant_id = $1",
        )
        .bind(tenant.as_uuid())
        .bind(bytes)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The tenant's stored bytes.
///
/// # Errors
/// On database failure.
pub async fn usage(tx: &mut Tx, tenant: TenantId) -> Result<i64, DbError> {
    let used: Option<i64> = on_tx!(tx, |conn| {
        sqlx::query_scalar("SELECT bytes FROM evidence_usage WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *conn)
            .await?
    });
    Ok(used.unwrap_or(0))
}

/// Notes a blob that must be removed unless a record claims it (an upload starting), or that
/// must be removed (a deletion). In its own transaction for uploads, so it survives a crash.
///
/// # Errors
/// On database failure.
pub async fn mark_pending_blob(
    tx: &mut Tx,
    tenant: TenantId,
    blob_key: &str,
    reason: &str,
    since: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO pending_blob (blob_key, tenant_id, reason, since) VALUES ($1, $2, $3, $4)",
        )
        .bind(blob_key)
        .bind(tenant.as_uuid())
        .bind(reason)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Forgets a pending blob (a record now claims it, or it was removed).
///
/// # Errors
/// On database failure.
pub async fn clear_pending_blob(tx: &mut Tx, blob_key: &str) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM pending_blob WHERE blob_key = $1")
            .bind(blob_key)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Blobs to remove: uploads marked before `before` that no record claimed, and every blob of
/// a deleted record, oldest first.
///
/// # Errors
/// On database failure.
pub async fn pending_blobs_before(
    db: &Db,
    before: OffsetDateTime,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar(
            "SELECT blob_key FROM pending_blob WHERE since < $1 OR reason = 'delete' ORDER BY since LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Every tenant's id: the rescan of pending versions walks them one by one, each in its own
/// tenant scope (row-level security hides the versions of every other tenant).
///
/// # Errors
/// On database failure.
pub async fn tenants(db: &Db) -> Result<Vec<TenantId>, DbError> {
    let ids: Vec<Uuid> = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT id FROM tenant ORDER BY id")
            .fetch_all(pool)
            .await?
    });
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}
