//! Who may own an object of the programme: a live member of the tenant whose role may
//! contribute. Only compliance managers and above hand objects over (SEC-37).

use attest_db::{Db, DbError};
use attest_types::UserId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Caller, Permission};

/// Why an owner was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OwnerRefusal {
    /// The caller's role cannot change owners.
    #[error("Your role cannot change an owner.")]
    NotAllowed,
    /// Not a live member who may contribute.
    #[error("The owner must be a member who can edit.")]
    NotEligible,
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The new owner named by `owner` (a user id), if the caller may hand the object to them.
pub(crate) async fn new_owner(
    db: &Db,
    caller: &Caller,
    owner: &str,
    now: OffsetDateTime,
) -> Result<UserId, OwnerRefusal> {
    if !caller.may(Permission::ManageContent) {
        return Err(OwnerRefusal::NotAllowed);
    }
    contributor(db, caller.tenant, owner, now).await
}

/// The member named by `user` (a user id), if they are live in `tenant` and their role may
/// contribute: who may own an object, or perform or review an activity.
pub(crate) async fn contributor(
    db: &Db,
    tenant: attest_types::TenantId,
    user: &str,
    now: OffsetDateTime,
) -> Result<UserId, OwnerRefusal> {
    let user =
        UserId::from_uuid(Uuid::parse_str(user.trim()).map_err(|_| OwnerRefusal::NotEligible)?);
    let role = attest_db::identity::membership_in(db, user, tenant.as_uuid(), now)
        .await?
        .and_then(|m| m.role.parse().ok())
        .ok_or(OwnerRefusal::NotEligible)?;
    if !Permission::Contribute.granted_to(role) {
        return Err(OwnerRefusal::NotEligible);
    }
    Ok(user)
}
