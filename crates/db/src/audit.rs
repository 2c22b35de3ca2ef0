//! Storage of the audit trail: `audit_event` rows (append-only: SQLite triggers and
//! PostgreSQL grants refuse UPDATE and DELETE) and `audit_chain`, the head of each hash chain.
//! The chain rules themselves (what is hashed, how it is verified) live in the domain.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRow {
    /// Entry id.
    pub id: Uuid,
    /// The chain: tenant id, or nil for the system chain.
    pub chain_id: Uuid,
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The tenant, if any.
    pub tenant_id: Option<Uuid>,
    /// When it happened (UTC, microsecond precision).
    pub occurred_at: OffsetDateTime,
    /// `system`, `operator`, `anonymous` or `user`.
    pub actor_kind: String,
    /// The user, for `user` actors.
    pub actor_id: Option<Uuid>,
    /// What was done, e.g. `server.start`.
    pub action: String,
    /// The kind of object acted on.
    pub object_kind: Option<String>,
    /// The object's id.
    pub object_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The client address.
    pub source_ip: Option<String>,
    /// The request's correlation id.
    pub request_id: Option<Uuid>,
    /// Further facts, JSON, never secrets.
    pub details: String,
    /// The previous entry's hash (zeros for the first).
    pub prev_hash: Vec<u8>,
    /// SHA-256 over this entry and `prev_hash`.
    pub hash: Vec<u8>,
}

/// The last entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Its sequence number (0 for an empty chain).
    pub last_seq: i64,
    /// Its hash.
    pub last_hash: Vec<u8>,
}

/// Locks a chain's head for the rest of the transaction (creating the chain if new) and
/// returns it. Concurrent appenders of the same chain wait here, so the chain never forks.
///
/// # Errors
/// On database failure.
pub async fn lock_head(tx: &mut Tx, chain_id: Uuid, genesis: &[u8]) -> Result<ChainHead, DbError> {
    let (last_seq, last_hash): (i64, Vec<u8>) = on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO audit_chain (chain_id, last_seq, last_hash) VALUES ($1, 0, $2) \
             ON CONFLICT (chain_id) DO NOTHING",
        )
        .bind(chain_id)
        .bind(genesis)
        .execute(&mut *conn)
        .await?;
        // An UPDATE takes the row lock on PostgreSQL; SQLite holds the database write lock
        // since BEGIN IMMEDIATE.
        sqlx::query_as(
            "UPDATE audit_chain SET last_seq = last_seq WHERE chain_id = $1 \
             RETURNING last_seq, last_hash",
        )
        .bind(chain_id)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(ChainHead {
        last_seq,
        last_hash,
    })
}

/// Appends entries and moves the chain head to the last one.
///
/// # Errors
/// On database failure (including a duplicate `(chain_id, seq)`, which would mean a fork).
pub async fn append(tx: &mut Tx, rows: &[AuditRow]) -> Result<(), DbError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    on_tx!(tx, |conn| {
        for r in rows {
            sqlx::query(
                "INSERT INTO audit_event (id, chain_id, seq, tenant_id, occurred_at, actor_kind, \
                 actor_id, action, object_kind, object_id, outcome, source_ip, request_id, details, \
                 prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(r.id)
            .bind(r.chain_id)
            .bind(r.seq)
            .bind(r.tenant_id)
            .bind(r.occurred_at)
            .bind(&r.actor_kind)
            .bind(r.actor_id)
            .bind(&r.action)
            .bind(&r.object_kind)
            .bind(&r.object_id)
            .bind(&r.outcome)
            .bind(&r.source_ip)
            .bind(r.request_id)
            .bind(&r.details)
            .bind(&r.prev_hash)
            .bind(&r.hash)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE audit_chain SET last_seq = $2, last_hash = $3 WHERE chain_id = $1")
            .bind(last.chain_id)
            .bind(last.seq)
            .bind(&last.hash)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Every chain and its head.
///
/// # Errors
/// On database failure.
pub async fn chains(db: &Db) -> Result<Vec<(Uuid, ChainHead)>, DbError> {
    let rows: Vec<(Uuid, i64, Vec<u8>)> = on_pool!(db, |pool| {
        sqlx::query_as("SELECT chain_id, last_seq, last_hash FROM audit_chain ORDER BY chain_id")
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, last_seq, last_hash)| {
            (
                id,
                ChainHead {
                    last_seq,
                    last_hash,
                },
            )
        })
        .collect())
}

/// Up to `limit` entries of a chain with `seq > after`, in order.
///
/// # Errors
/// On database failure.
pub async fn page(
    db: &Db,
    chain_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, DbError> {
    let rows = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, chain_id, seq, tenant_id, occurred_at, actor_kind, actor_id, action, \
             object_kind, object_id, outcome, source_ip, request_id, details, prev_hash, hash \
             FROM audit_event WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Entries of a chain whose action starts with `prefix`, newest first (for tests and the
/// audit search that comes with the tenant features).
///
/// # Errors
/// On database failure.
pub async fn recent(db: &Db, chain_id: Uuid, limit: i64) -> Result<Vec<AuditRow>, DbError> {
    let rows = on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, chain_id, seq, tenant_id, occurred_at, actor_kind, actor_id, action, \
             object_kind, object_id, outcome, source_ip, request_id, details, prev_hash, hash \
             FROM audit_event WHERE chain_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(chain_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}
