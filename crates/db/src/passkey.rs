//! Storage of passkeys (WebAuthn credentials), the user handle authenticators keep, and the
//! short-lived state of WebAuthn ceremonies. No rules here: the domain's `authn::passkeys`
//! decides.

use attest_types::UserId;
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A stored passkey.
#[derive(Debug, Clone, FromRow)]
pub struct PasskeyRow {
    /// Id (opaque, random).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// base64url credential id.
    pub credential_id: String,
    /// The user's label.
    pub name: String,
    /// webauthn-rs `Passkey` as JSON (public data only).
    pub credential: String,
    /// Whether it signs in without a username.
    pub discoverable: bool,
    /// Registered.
    pub created_at: OffsetDateTime,
    /// Last used to sign in or confirm.
    pub last_used_at: Option<OffsetDateTime>,
}

/// A new passkey.
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user: UserId,
    /// base64url credential id.
    pub credential_id: &'a str,
    /// Label.
    pub name: &'a str,
    /// Serialized credential.
    pub credential: &'a str,
    /// Discoverable.
    pub discoverable: bool,
}

/// The user's WebAuthn user handle, if one was made.
///
/// # Errors
/// On database failure.
pub async fn user_handle(db: &Db, user: UserId) -> Result<Option<Uuid>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar::<_, Option<Uuid>>("SELECT webauthn_handle FROM app_user WHERE id = $1")
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await?
            .flatten()
    }))
}

/// Gives the user `handle` unless they have one; returns the one in force.
///
/// # Errors
/// On database failure.
pub async fn ensure_user_handle(tx: &mut Tx, user: UserId, handle: Uuid) -> Result<Uuid, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE app_user SET webauthn_handle = $2 WHERE id = $1 AND webauthn_handle IS NULL",
        )
        .bind(user.as_uuid())
        .bind(handle)
        .execute(&mut *conn)
        .await?;
        sqlx::query_scalar::<_, Option<Uuid>>("SELECT webauthn_handle FROM app_user WHERE id = $1")
            .bind(user.as_uuid())
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(handle)
    }))
}

/// The user whose handle this is.
///
/// # Errors
/// On database failure.
pub async fn user_by_handle(db: &Db, handle: Uuid) -> Result<Option<UserId>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM app_user WHERE webauthn_handle = $1")
            .bind(handle)
            .fetch_optional(pool)
            .await?
            .map(UserId::from_uuid)
    }))
}

/// A user's passkeys, oldest first.
///
/// # Errors
/// On database failure.
pub async fn of_user(db: &Db, user: UserId) -> Result<Vec<PasskeyRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT id, user_id, credential_id, name, credential, discoverable, created_at, last_used_at FROM passkey WHERE user_id = $1 ORDER BY created_at, id",
        )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
    }))
}

/// How many passkeys a user has.
///
/// # Errors
/// On database failure.
pub async fn count_of_user(db: &Db, user: UserId) -> Result<i64, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM passkey WHERE user_id = $1")
            .bind(user.as_uuid())
            .fetch_one(pool)
            .await?
    }))
}

/// The passkey with this credential id, whoever owns it.
///
/// # Errors
/// On database failure.
pub async fn by_credential_id(db: &Db, credential_id: &str) -> Result<Option<PasskeyRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as("SELECT id, user_id, credential_id, name, credential, discoverable, created_at, last_used_at FROM passkey WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Stores a new passkey. False when the credential id is registered already (to anyone).
///
/// # Errors
/// On database failure.
pub async fn insert(
    tx: &mut Tx,
    new: &NewPasskey<'_>,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO passkey (id, user_id, credential_id, name, credential, discoverable, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(new.id)
        .bind(new.user.as_uuid())
        .bind(new.credential_id)
        .bind(new.name)
        .bind(new.credential)
        .bind(new.discoverable)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Records a use: the updated credential (counter, backup flags) and the time.
///
/// # Errors
/// On database failure.
pub async fn record_use(
    tx: &mut Tx,
    id: Uuid,
    credential: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE passkey SET credential = COALESCE($2, credential), last_used_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(credential)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Removes a user's passkey. Returns whether it existed (and was theirs).
///
/// # Errors
/// On database failure.
pub async fn delete(tx: &mut Tx, user: UserId, id: Uuid) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM passkey WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// A ceremony in flight.
#[derive(Debug, Clone, FromRow)]
pub struct CeremonyRow {
    /// `register`, `second_factor`, `reauth` or `sign_in`.
    pub kind: String,
    /// The session or pending login it belongs to.
    pub bound_to: Uuid,
    /// The user, when known at the start.
    pub user_id: Option<Uuid>,
    /// webauthn-rs state as JSON.
    pub state: String,
    /// Its end.
    pub expires_at: OffsetDateTime,
}

/// A new ceremony.
#[derive(Debug, Clone)]
pub struct NewCeremony<'a> {
    /// Id (random, handed to the browser).
    pub id: Uuid,
    /// Kind.
    pub kind: &'static str,
    /// Session or pending login (nil for sign-in).
    pub bound_to: Uuid,
    /// User, if known.
    pub user: Option<UserId>,
    /// State JSON.
    pub state: &'a str,
    /// Its end.
    pub expires_at: OffsetDateTime,
}

/// Stores a ceremony, and sweeps those that have expired.
///
/// # Errors
/// On database failure.
pub async fn ceremony_insert(
    tx: &mut Tx,
    new: &NewCeremony<'_>,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM webauthn_ceremony WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremony (id, kind, bound_to, user_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id)
        .bind(new.kind)
        .bind(new.bound_to)
        .bind(new.user.map(|u| u.as_uuid()))
        .bind(new.state)
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Takes a ceremony: returns and deletes it in one statement, so it is used at most once.
///
/// # Errors
/// On database failure.
pub async fn ceremony_take(tx: &mut Tx, id: Uuid) -> Result<Option<CeremonyRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "DELETE FROM webauthn_ceremony WHERE id = $1 \
             RETURNING kind, bound_to, user_id, state, expires_at",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}
