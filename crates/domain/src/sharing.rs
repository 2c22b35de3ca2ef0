//! Shares of any object kind with a member who sees only what is shared with them (SEC-36):
//! listing, creating (until a date at most a year ahead) and revoking, each audited in the
//! caller's transaction. Services check the object itself (visible, and the caller may manage
//! content) before calling these.

use attest_db::share::{self, NewShare};
use attest_db::{DbError, Tx};
use attest_types::{Actor, ShareId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::access::Caller;
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::identity::Origin;

/// The longest a share may last.
pub const MAX_SHARE: Duration = Duration::days(366);

/// A share as listed.
#[derive(Debug, Clone)]
pub struct ShareView {
    /// Id.
    pub id: ShareId,
    /// With whom.
    pub user: UserId,
    /// Their name.
    pub name: String,
    /// Their address.
    pub email: String,
    /// Until.
    pub until: OffsetDateTime,
    /// Still in force.
    pub live: bool,
}

/// An object's shares, and who it can be shared with: `(user, name, email)`.
pub type SharesAndRecipients = (Vec<ShareView>, Vec<(UserId, String, String)>);

/// Why a share operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShareFailure {
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        message: &'static str,
    },
    /// No such live share of the object.
    #[error("not found")]
    NotFound,
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn record(caller: &Caller, action: &str, origin: Origin) -> AuditRecord {
    AuditRecord::tenant(
        caller.tenant,
        Actor::User(caller.user),
        action,
        Outcome::Success,
    )
    .request(origin.ip, origin.request_id)
}

/// The object's shares and the possible recipients.
pub(crate) async fn list(
    tx: &mut Tx,
    caller: &Caller,
    kind: &str,
    object: Uuid,
    now: OffsetDateTime,
) -> Result<SharesAndRecipients, DbError> {
    let rows = share::of_object(tx, caller.tenant, kind, object).await?;
    let recipients = share::recipients(tx, caller.tenant, now).await?;
    Ok((
        rows.into_iter()
            .map(|s| ShareView {
                id: ShareId::from_uuid(s.id),
                user: UserId::from_uuid(s.user_id),
                name: s.user_name,
                email: s.user_email,
                until: s.until,
                live: s.revoked_at.is_none() && s.until > now,
            })
            .collect(),
        recipients
            .into_iter()
            .map(|(u, n, e)| (UserId::from_uuid(u), n, e))
            .collect(),
    ))
}

/// The object a share operation is about, and who asks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The audit trail.
    pub audit: &'a AuditLog,
    /// The caller (already checked for the object).
    pub caller: &'a Caller,
    /// The request.
    pub origin: Origin,
    /// The object's kind.
    pub kind: &'static str,
    /// The object.
    pub object: Uuid,
}

/// Shares the object with `with` (a recipient's id) until `until`, audited as `share.create`.
pub(crate) async fn create(
    tx: &mut Tx,
    target: Target<'_>,
    with: &str,
    until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<ShareId, ShareFailure> {
    let Target {
        audit,
        caller,
        origin,
        kind,
        object,
    } = target;
    let until = until.filter(|u| *u > now && *u <= now + MAX_SHARE);
    let Some(until) = until else {
        return Err(ShareFailure::Invalid {
            field: "until",
            code: "invalid_date",
            message: "Enter the end of the share as a date (YYYY-MM-DD), in the future and within a year.",
        });
    };
    let bad = || ShareFailure::Invalid {
        field: "user",
        code: "invalid_recipient",
        message: "Choose an external member, or an auditor limited to shared items.",
    };
    let user = Uuid::parse_str(with.trim()).map_err(|_| bad())?;
    if !share::recipients(tx, caller.tenant, now)
        .await?
        .iter()
        .any(|r| r.0 == user)
    {
        return Err(bad());
    }
    let share_id = Uuid::new_v4();
    share::insert(
        tx,
        caller.tenant,
        &NewShare {
            id: share_id,
            kind,
            object,
            user: UserId::from_uuid(user),
            until,
            by: caller.user,
            now,
        },
    )
    .await?;
    audit
        .record_in(
            tx,
            record(caller, "share.create", origin)
                .object(kind, object)
                .details(serde_json::json!({
                    "share": share_id,
                    "user": user,
                    "until": until.unix_timestamp(),
                })),
        )
        .await?;
    Ok(ShareId::from_uuid(share_id))
}

/// Revokes a live share of the object, audited as `share.revoke`; it stops working on the
/// recipient's next request.
pub(crate) async fn revoke(
    tx: &mut Tx,
    target: Target<'_>,
    share_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), ShareFailure> {
    let Target {
        audit,
        caller,
        origin,
        kind,
        object,
    } = target;
    if !share::revoke(tx, caller.tenant, kind, object, share_id, now).await? {
        return Err(ShareFailure::NotFound);
    }
    audit
        .record_in(
            tx,
            record(caller, "share.revoke", origin)
                .object(kind, object)
                .details(serde_json::json!({ "share": share_id })),
        )
        .await?;
    Ok(())
}
