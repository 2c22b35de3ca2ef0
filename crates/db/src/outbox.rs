//! The mail outbox: messages are stored (body sealed) in the same transaction as the action
//! that causes them, then delivered by a background task with retries, so an SMTP outage
//! loses nothing and never blocks a request.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A message waiting for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    /// Id (also the associated data of the sealed body).
    pub id: Uuid,
    /// Address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Sealed body.
    pub body: Vec<u8>,
    /// Delivery attempts so far.
    pub attempts: i64,
}

/// Queues a message.
///
/// # Errors
/// On database failure.
pub async fn insert(
    tx: &mut Tx,
    id: Uuid,
    recipient: &str,
    subject: &str,
    sealed_body: &[u8],
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(recipient)
        .bind(subject)
        .bind(sealed_body)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Messages due for an attempt, oldest first.
///
/// # Errors
/// On database failure.
pub async fn due(db: &Db, now: OffsetDateTime, limit: i64) -> Result<Vec<OutboxRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, recipient, subject, body, attempts FROM mail_outbox \
             WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Records a delivery; the sealed body is dropped (it may hold a one-time link).
///
/// # Errors
/// On database failure.
pub async fn mark_sent(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), DbError> {
    on_pool!(db, |pool| {
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $2, body = $3, last_error = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(Vec::<u8>::new())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Records a failed attempt and when to try again.
///
/// # Errors
/// On database failure.
pub async fn mark_failed(
    db: &Db,
    id: Uuid,
    attempts: i64,
    next_attempt_at: OffsetDateTime,
    error: &str,
) -> Result<(), DbError> {
    on_pool!(db, |pool| {
        sqlx::query("UPDATE mail_outbox SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1")
            .bind(id)
            .bind(attempts)
            .bind(next_attempt_at)
            .bind(error)
            .execute(pool)
            .await?;
    });
    Ok(())
}
