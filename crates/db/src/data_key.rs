//! Storage of wrapped data-encryption keys, one per (tenant, classification). Only the
//! wrapped form is ever stored; unwrapping happens in the crypto crate with the KEK.

use attest_types::{Classification, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A wrapped DEK as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDek {
    /// Owner tenant.
    pub tenant: TenantId,
    /// Classification it protects.
    pub class: Classification,
    /// KEK version that wraps it.
    pub kek_version: u32,
    /// nonce ‖ ciphertext ‖ tag.
    pub wrapped: Vec<u8>,
}

fn to_stored(
    tenant: Uuid,
    class: &str,
    kek_version: i64,
    wrapped: Vec<u8>,
) -> Result<StoredDek, DbError> {
    Ok(StoredDek {
        tenant: TenantId::from_uuid(tenant),
        class: class
            .parse()
            .map_err(|_| DbError::Corrupt("data_key.classification"))?,
        kek_version: u32::try_from(kek_version)
            .map_err(|_| DbError::Corrupt("data_key.kek_version"))?,
        wrapped,
    })
}

/// The wrapped DEK of a scope, if one exists.
///
/// # Errors
/// On database failure or corrupt rows.
pub async fn get(
    db: &Db,
    tenant: TenantId,
    class: Classification,
) -> Result<Option<StoredDek>, DbError> {
    let row: Option<(i64, Vec<u8>)> = on_pool!(db, |pool| {
        sqlx::query_as("SELECT kek_version, wrapped FROM data_key WHERE tenant_id = $1 AND classification = $2")
            .bind(tenant.as_uuid())
            .bind(class.as_str())
            .fetch_optional(pool)
            .await?
    });
    row.map(|(v, w)| to_stored(tenant.as_uuid(), class.as_str(), v, w))
        .transpose()
}

/// Stores a new wrapped DEK unless one exists already (a concurrent request may have created
/// it first); returns the one that is stored afterwards, which callers must use.
///
/// # Errors
/// On database failure.
pub async fn insert_or_get(
    tx: &mut Tx,
    dek: &StoredDek,
    now: OffsetDateTime,
) -> Result<StoredDek, DbError> {
    let (v, w): (i64, Vec<u8>) = on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO data_key (tenant_id, classification, kek_version, wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, classification) DO NOTHING",
        )
        .bind(dek.tenant.as_uuid())
        .bind(dek.class.as_str())
        .bind(i64::from(dek.kek_version))
        .bind(&dek.wrapped)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query_as("SELECT kek_version, wrapped FROM data_key WHERE tenant_id = $1 AND classification = $2")
            .bind(dek.tenant.as_uuid())
            .bind(dek.class.as_str())
            .fetch_one(&mut *conn)
            .await?
    });
    to_stored(dek.tenant.as_uuid(), dek.class.as_str(), v, w)
}

/// Every wrapped DEK (for rotation), locked for the transaction on PostgreSQL.
///
/// # Errors
/// On database failure or corrupt rows.
pub async fn all(tx: &mut Tx) -> Result<Vec<StoredDek>, DbError> {
    let rows: Vec<(Uuid, String, i64, Vec<u8>)> = on_tx!(tx, |conn| {
        sqlx::query_as("SELECT tenant_id, classification, kek_version, wrapped FROM data_key ORDER BY tenant_id, classification")
            .fetch_all(&mut *conn)
            .await?
    });
    rows.into_iter()
        .map(|(t, c, v, w)| to_stored(t, &c, v, w))
        .collect()
}

/// Replaces a DEK's wrapping (rotation); the key inside is unchanged.
///
/// # Errors
/// On database failure.
pub async fn rewrap(tx: &mut Tx, dek: &StoredDek, now: OffsetDateTime) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE data_key SET kek_version = $3, wrapped = $4, rewrapped_at = $5 \
             WHERE tenant_id = $1 AND classification = $2",
        )
        .bind(dek.tenant.as_uuid())
        .bind(dek.class.as_str())
        .bind(i64::from(dek.kek_version))
        .bind(&dek.wrapped)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
