//! Storage of single sign-on: each tenant's OpenID Connect provider, identities linked by
//! (issuer, subject), and sign-in attempts. No rules here: the domain's `authn::sso` decides.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Db, DbError, Tx};

/// A tenant's provider as stored (the client secret still sealed).
#[derive(Clone, FromRow)]
pub struct ProviderRow {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Button text.
    pub display_name: String,
    /// Issuer URL.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// The sealed client secret.
    pub client_secret: Vec<u8>,
    /// Space-separated email domains.
    pub allowed_domains: String,
    /// Just-in-time membership.
    pub jit: bool,
    /// Role of just-in-time members.
    pub jit_role: String,
    /// SEC-19 enforcement.
    pub enforce: bool,
}

impl std::fmt::Debug for ProviderRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRow")
            .field("tenant_id", &self.tenant_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[sealed]")
            .finish_non_exhaustive()
    }
}

const PROVIDER_COLUMNS: &str = "tenant_id, display_name, issuer, client_id, client_secret, \
     allowed_domains, jit, jit_role, enforce";

/// A tenant's provider.
///
/// # Errors
/// On database failure.
pub async fn provider_of(db: &Db, tenant: TenantId) -> Result<Option<ProviderRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM sso_provider WHERE tenant_id = $1"
        )))
        .bind(tenant.as_uuid())
        .fetch_optional(pool)
        .await?
    }))
}

/// Every provider (to route a sign-in by email domain; there is at most one per tenant).
///
/// # Errors
/// On database failure.
pub async fn all_providers(db: &Db) -> Result<Vec<ProviderRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM sso_provider ORDER BY tenant_id"
        )))
        .fetch_all(pool)
        .await?
    }))
}

/// Creates or replaces a tenant's provider, with a new sealed client secret.
///
/// # Errors
/// On database failure.
pub async fn upsert_provider(
    tx: &mut Tx,
    row: &ProviderRow,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO sso_provider (tenant_id, display_name, issuer, client_id, client_secret, \
             allowed_domains, jit, jit_role, enforce, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name, \
             issuer = excluded.issuer, client_id = excluded.client_id, \
             client_secret = excluded.client_secret, allowed_domains = excluded.allowed_domains, \
             jit = excluded.jit, jit_role = excluded.jit_role, enforce = excluded.enforce, \
             updated_at = excluded.updated_at",
        )
        .bind(row.tenant_id)
        .bind(&row.display_name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.client_secret)
        .bind(&row.allowed_domains)
        .bind(row.jit)
        .bind(&row.jit_role)
        .bind(row.enforce)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Updates a tenant's provider and keeps its stored client secret (`row.client_secret` is
/// ignored). False when the tenant has no provider.
///
/// # Errors
/// On database failure.
pub async fn update_provider_keeping_secret(
    tx: &mut Tx,
    row: &ProviderRow,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE sso_provider SET display_name = $2, issuer = $3, client_id = $4, \
             allowed_domains = $5, jit = $6, jit_role = $7, enforce = $8, updated_at = $9 \
             WHERE tenant_id = $1",
        )
        .bind(row.tenant_id)
        .bind(&row.display_name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.allowed_domains)
        .bind(row.jit)
        .bind(&row.jit_role)
        .bind(row.enforce)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Removes a tenant's provider (linked identities stay, unusable until a provider with the
/// same issuer is configured again).
///
/// # Errors
/// On database failure.
pub async fn delete_provider(tx: &mut Tx, tenant: TenantId) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM sso_provider WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// Tenants enforcing SSO in which the user is a member, with the user's role there.
///
/// # Errors
/// On database failure.
pub async fn enforcing_memberships(
    db: &Db,
    user: UserId,
) -> Result<Vec<(Uuid, String, String)>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT p.tenant_id, m.role, p.display_name FROM sso_provider p \
             JOIN membership m ON m.tenant_id = p.tenant_id \
             WHERE m.user_id = $1 AND p.enforce = $2 ORDER BY p.tenant_id",
        )
        .bind(user.as_uuid())
        .bind(true)
        .fetch_all(pool)
        .await?
    }))
}

/// A linked identity.
#[derive(Debug, Clone, FromRow)]
pub struct IdentityRow {
    /// The user.
    pub user_id: Uuid,
    /// The tenant whose provider linked it.
    pub tenant_id: Uuid,
}

/// The user linked to (issuer, subject).
///
/// # Errors
/// On database failure.
pub async fn identity_of(
    db: &Db,
    issuer: &str,
    subject: &str,
) -> Result<Option<IdentityRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(
            "SELECT user_id, tenant_id FROM sso_identity WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(pool)
        .await?
    }))
}

/// Links (issuer, subject) to a user.
///
/// # Errors
/// On database failure; an existing link is a unique violation.
pub async fn insert_identity(
    tx: &mut Tx,
    issuer: &str,
    subject: &str,
    user: UserId,
    tenant: TenantId,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO sso_identity (issuer, subject, user_id, tenant_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(user.as_uuid())
        .bind(tenant.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Records a sign-in through a linked identity.
///
/// # Errors
/// On database failure.
pub async fn touch_identity(
    tx: &mut Tx,
    issuer: &str,
    subject: &str,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE sso_identity SET last_login_at = $3 WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Identities linked to a user (issuer, subject).
///
/// # Errors
/// On database failure.
pub async fn identities_of_user(db: &Db, user: UserId) -> Result<Vec<(String, String)>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as("SELECT issuer, subject FROM sso_identity WHERE user_id = $1")
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
    }))
}

/// A new sign-in attempt.
#[derive(Debug)]
pub struct NewAttempt<'a> {
    /// Id.
    pub id: Uuid,
    /// SHA-256 of `state`.
    pub state_hash: &'a [u8],
    /// SHA-256 of the browser cookie.
    pub browser_hash: &'a [u8],
    /// The tenant whose provider is used.
    pub tenant: TenantId,
    /// Where to go afterwards.
    pub next_path: &'a str,
    /// Now.
    pub now: OffsetDateTime,
    /// Valid until.
    pub expires_at: OffsetDateTime,
}

/// Stores a new attempt.
///
/// # Errors
/// On database failure.
pub async fn insert_attempt(tx: &mut Tx, a: &NewAttempt<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO sso_attempt (id, state_hash, browser_hash, tenant_id, next_path, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.id)
        .bind(a.state_hash)
        .bind(a.browser_hash)
        .bind(a.tenant.as_uuid())
        .bind(a.next_path)
        .bind(a.now)
        .bind(a.expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// An attempt as stored.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    /// Id.
    pub id: Uuid,
    /// SHA-256 of the browser cookie it is bound to.
    pub browser_hash: Vec<u8>,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Where to go afterwards.
    pub next_path: String,
    /// Valid until.
    pub expires_at: OffsetDateTime,
    /// When it was used.
    pub used_at: Option<OffsetDateTime>,
    /// Account offered for linking.
    pub link_user_id: Option<Uuid>,
    /// Identity offered for linking.
    pub link_issuer: Option<String>,
    /// Identity offered for linking.
    pub link_subject: Option<String>,
    /// When the offer was taken.
    pub linked_at: Option<OffsetDateTime>,
    /// Created.
    pub created_at: OffsetDateTime,
}

const ATTEMPT_COLUMNS: &str = "id, browser_hash, tenant_id, next_path, expires_at, used_at, \
     link_user_id, link_issuer, link_subject, linked_at, created_at";

/// The attempt with this state hash.
///
/// # Errors
/// On database failure.
pub async fn attempt_by_state(db: &Db, state_hash: &[u8]) -> Result<Option<AttemptRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM sso_attempt WHERE state_hash = $1"
        )))
        .bind(state_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Uses an attempt up: true only for the first caller, while it is live (one atomic update,
/// so two callbacks with the same state cannot both proceed).
///
/// # Errors
/// On database failure.
pub async fn use_attempt(tx: &mut Tx, id: Uuid, now: OffsetDateTime) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE sso_attempt SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Offers an existing account for linking on a used attempt.
///
/// # Errors
/// On database failure.
pub async fn offer_link(
    tx: &mut Tx,
    id: Uuid,
    user: UserId,
    issuer: &str,
    subject: &str,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE sso_attempt SET link_user_id = $2, link_issuer = $3, link_subject = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(user.as_uuid())
        .bind(issuer)
        .bind(subject)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The newest attempt of a browser with a link offer not taken yet.
///
/// # Errors
/// On database failure.
pub async fn link_offer_of_browser(
    db: &Db,
    browser_hash: &[u8],
) -> Result<Option<AttemptRow>, DbError> {
    Ok(on_pool!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM sso_attempt WHERE browser_hash = $1 \
             AND link_user_id IS NOT NULL AND linked_at IS NULL ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(browser_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Takes a link offer: true only once.
///
/// # Errors
/// On database failure.
pub async fn take_link_offer(tx: &mut Tx, id: Uuid, now: OffsetDateTime) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("UPDATE sso_attempt SET linked_at = $2 WHERE id = $1 AND linked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// Deletes attempts that ended long ago (housekeeping at each new attempt).
///
/// # Errors
/// On database failure.
pub async fn purge_attempts(tx: &mut Tx, before: OffsetDateTime) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM sso_attempt WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }))
}
