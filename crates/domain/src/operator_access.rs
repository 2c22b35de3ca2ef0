//! Operator access to a tenant's records (SEC-39). The web has no operator level and no back
//! door; an operator works through the `attest` CLI on the server, and reading a tenant's
//! records there needs a live grant that one of the tenant's owners or admins gave: at most
//! 24 hours, revocable, with a reason. Every attempt, allowed or refused, is audited in the
//! tenant's chain.

use attest_db::document::{self as documents, ListQuery};
use attest_db::identity;
use attest_db::operator_grant::{self as store, GrantRow};
use attest_types::{Actor, TenantId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::access::{Caller, Granted, Permission};
use crate::audit::{AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::{Identity, IdentityError, Origin, internal};

/// The longest grant.
pub const MAX_HOURS: i64 = 24;

/// A document's metadata as the operator sees it (never its body).
#[derive(Debug, Clone)]
pub struct OperatorDocument {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Classification.
    pub classification: String,
    /// Current version.
    pub version: i64,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// Why the operator was refused.
#[derive(Debug, thiserror::Error)]
pub enum OperatorRefusal {
    /// No tenant of that name.
    #[error("no tenant is called that")]
    UnknownTenant,
    /// The tenant has no live grant.
    #[error("the tenant's owners or admins have not granted operator access (or it expired)")]
    NoGrant,
    /// Storage or audit failure.
    #[error(transparent)]
    Failed(#[from] IdentityError),
}

impl Identity {
    /// Grants the operator access to the tenant's records for `hours` (1 to 24).
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`] below admin, [`IdentityError::ReauthRequired`] without a
    /// recent proof, [`IdentityError::Invalid`] for bad input.
    pub async fn grant_operator_access(
        &self,
        session: &VerifiedSession,
        hours: i64,
        reason: &str,
        origin: Origin,
    ) -> Result<Uuid, IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(IdentityError::Invalid {
                field: "hours",
                code: "invalid_hours",
                message: "A grant lasts 1 to 24 hours.".to_owned(),
            });
        }
        let reason = crate::identity::validate_name("reason", reason, 500)?;
        // SEC-29: letting the operator in is a sensitive action.
        self.require_recent_proof(session)?;
        let now = self.clock.now();
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_for(c.tenant).await?;
        store::insert(
            &mut tx,
            c.tenant,
            id,
            c.user,
            &reason,
            now,
            now + Duration::hours(hours),
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "operator_grant.create", Outcome::Success, origin)
                    .object("operator_grant", id)
                    .details(serde_json::json!({ "hours": hours })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(id)
    }

    /// The tenant's grants.
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`] below admin.
    pub async fn operator_grants(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<Vec<GrantRow>>, IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let mut tx = self.db.read_for(c.tenant).await?;
        let rows = store::list(&mut tx, c.tenant).await?;
        tx.commit().await?;
        Ok(Granted::new(rows))
    }

    /// Ends a grant now.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] or [`IdentityError::Forbidden`].
    pub async fn revoke_operator_grant(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let id = Uuid::parse_str(id.trim()).map_err(|_| IdentityError::NotFound)?;
        let mut tx = self.db.begin_for(c.tenant).await?;
        if !store::revoke(&mut tx, c.tenant, id, self.clock.now()).await? {
            return Err(IdentityError::NotFound);
        }
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "operator_grant.revoke", Outcome::Success, origin)
                    .object("operator_grant", id),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// The operator's view of a tenant's documents (metadata only), allowed only under a live
    /// grant; the attempt is audited either way.
    ///
    /// # Errors
    /// [`OperatorRefusal::NoGrant`] without a live grant.
    pub async fn operator_documents(
        &self,
        tenant_name: &str,
    ) -> Result<Vec<OperatorDocument>, OperatorRefusal> {
        let tenant: TenantId = identity::tenant_by_name(&self.db, tenant_name.trim())
            .await
            .map_err(IdentityError::from)?
            .ok_or(OperatorRefusal::UnknownTenant)?;
        let now = self.clock.now();
        let mut tx = self
            .db
            .read_for(tenant)
            .await
            .map_err(IdentityError::from)?;
        let grant = store::live(&mut tx, tenant, now)
            .await
            .map_err(IdentityError::from)?;
        let rows = match grant {
            Some(_) => documents::list(
                &mut tx,
                tenant,
                ListQuery {
                    shared_with: None,
                    now,
                    classification: None,
                    after: None,
                    limit: 10_000,
                },
            )
            .await
            .map_err(IdentityError::from)?,
            None => Vec::new(),
        };
        tx.commit().await.map_err(IdentityError::from)?;
        let record = match grant {
            Some(g) => {
                AuditRecord::tenant(tenant, Actor::Operator, "operator.access", Outcome::Success)
                    .object("operator_grant", g)
                    .details(serde_json::json!({ "read": "documents", "count": rows.len() }))
            }
            None => {
                AuditRecord::tenant(tenant, Actor::Operator, "operator.access", Outcome::Denied)
                    .details(serde_json::json!({ "read": "documents" }))
            }
        };
        self.audit.record(record).await.map_err(internal)?;
        if grant.is_none() {
            return Err(OperatorRefusal::NoGrant);
        }
        Ok(rows
            .into_iter()
            .map(|r| OperatorDocument {
                id: r.id,
                title: r.title,
                classification: r.classification,
                version: r.version,
                updated_at: r.updated_at,
            })
            .collect())
    }
}
