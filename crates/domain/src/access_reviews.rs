//! Access recertification (SEC-38): an owner or admin starts a review of the tenant's
//! memberships; each membership is an item that the tenant's owners (the default reviewers)
//! confirm or revoke. Revoking removes the membership at once, which ends the member's
//! sessions and stops their API tokens (both check the membership on every request). Nobody
//! decides on their own membership (SEC-42), and the last owner cannot be revoked. Items still
//! open after the due date are escalated once by mail to the owners. The report is a CSV
//! with formula-injection escaping (SEC-48).

use attest_db::access_review::{self as store, ItemRow, ReviewRow};

/// A review as listed (the store's row: id, name, dates, counts).
pub type Review = ReviewRow;
use attest_db::identity;
use attest_types::{Actor, Role, TenantId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::access::{Caller, Granted, Permission};
use crate::audit::{AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::{Identity, IdentityError, Origin, internal, validate_name};

/// The longest a review may run before it is due.
pub const MAX_DAYS: i64 = 90;

/// A review with its items, as the policy lets its caller see it.
#[derive(Debug, Clone)]
pub struct ReviewDetail {
    /// The review.
    pub review: ReviewRow,
    /// Its items.
    pub items: Vec<ItemRow>,
    /// Whether the caller may decide items (owners, the default reviewers).
    pub can_decide: bool,
}

/// A reviewer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The access stays.
    Confirm,
    /// The access ends now.
    Revoke,
}

impl Decision {
    /// Reads `confirm` or `revoke`.
    ///
    /// # Errors
    /// [`IdentityError::Invalid`] otherwise.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        match text.trim() {
            "confirm" => Ok(Self::Confirm),
            "revoke" => Ok(Self::Revoke),
            _ => Err(IdentityError::Invalid {
                field: "decision",
                code: "invalid_decision",
                message: "Choose confirm or revoke.".to_owned(),
            }),
        }
    }
}

fn parse_id(text: &str) -> Result<Uuid, IdentityError> {
    Uuid::parse_str(text.trim()).map_err(|_| IdentityError::NotFound)
}

pub use crate::csv_out::cell as csv_cell;

impl Identity {
    /// Starts a review of every current membership, due in `due_in_days` (1 to 90).
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`] below admin; [`IdentityError::Invalid`] for bad input.
    pub async fn start_access_review(
        &self,
        session: &VerifiedSession,
        name: &str,
        due_in_days: i64,
        origin: Origin,
    ) -> Result<Uuid, IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let name = validate_name("name", name, 120)?;
        if !(1..=MAX_DAYS).contains(&due_in_days) {
            return Err(IdentityError::Invalid {
                field: "due_in_days",
                code: "invalid_days",
                message: "A review is due in 1 to 90 days.".to_owned(),
            });
        }
        let now = self.clock.now();
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_for(c.tenant).await?;
        let items = store::start(
            &mut tx,
            c.tenant,
            id,
            &name,
            c.user,
            now,
            now + Duration::days(due_in_days),
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(session, "access_review.start", Outcome::Success, origin)
                    .object("access_review", id)
                    .details(serde_json::json!({ "items": items, "due_in_days": due_in_days })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(id)
    }

    /// The tenant's reviews.
    ///
    /// # Errors
    /// [`IdentityError::Forbidden`] below admin.
    pub async fn access_reviews(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<Vec<ReviewRow>>, IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let mut tx = self.db.read_for(c.tenant).await?;
        let rows = store::list(&mut tx, c.tenant).await?;
        tx.commit().await?;
        Ok(Granted::new(rows))
    }

    /// A review and its items.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] or [`IdentityError::Forbidden`].
    pub async fn access_review(
        &self,
        session: &VerifiedSession,
        id: &str,
    ) -> Result<Granted<ReviewDetail>, IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let id = parse_id(id)?;
        let mut tx = self.db.read_for(c.tenant).await?;
        let review = store::get(&mut tx, c.tenant, id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let items = store::items(&mut tx, c.tenant, id).await?;
        tx.commit().await?;
        Ok(Granted::new(ReviewDetail {
            review,
            items,
            can_decide: c.role == Role::Owner,
        }))
    }

    /// Confirms or revokes one membership under review. The reviewers are the tenant's
    /// owners; nobody decides on their own access (SEC-42); revoking the last owner is
    /// refused. A revocation removes the membership in the same transaction: the member's
    /// sessions end and their tokens stop at once.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`], [`IdentityError::Forbidden`], [`IdentityError::Taken`]
    /// (already decided) or [`IdentityError::LastOwner`].
    pub async fn decide_access(
        &self,
        session: &VerifiedSession,
        review: &str,
        item: &str,
        decision: Decision,
        origin: Origin,
    ) -> Result<(), IdentityError> {
        let c = Caller::with(session, Permission::ManageTenant)?;
        let review = parse_id(review)?;
        let item = parse_id(item)?;
        let now = self.clock.now();
        let mut tx = self.db.begin_for(c.tenant).await?;
        let found = store::items(&mut tx, c.tenant, review)
            .await?
            .into_iter()
            .find(|i| i.id == item)
            .ok_or(IdentityError::NotFound)?;
        // Only the reviewers (owners) decide, and never on their own access.
        if c.role != Role::Owner || found.user_id == c.user.as_uuid() {
            return Err(IdentityError::Forbidden);
        }
        let member = UserId::from_uuid(found.user_id);
        let mut sessions_ended = 0;
        if decision == Decision::Revoke {
            let role = identity::role_in_tx(&mut tx, c.tenant, member).await?;
            if role.as_deref() == Some("owner")
                && identity::owners_of(&mut tx, c.tenant).await?.len() <= 1
            {
                return Err(IdentityError::LastOwner);
            }
            if role.is_some() {
                identity::delete_membership(&mut tx, c.tenant, member).await?;
                sessions_ended =
                    identity::end_sessions_of_user(&mut tx, member, None, "access_revoked", now)
                        .await?;
            }
        }
        let label = match decision {
            Decision::Confirm => "confirmed",
            Decision::Revoke => "revoked",
        };
        if !store::decide(&mut tx, c.tenant, review, item, label, c.user, now).await? {
            return Err(IdentityError::Taken("decision"));
        }
        let closed = store::close_if_done(&mut tx, c.tenant, review, now).await?;
        self.audit
            .record_in(
                &mut tx,
                self.user_record(
                    session,
                    &format!("access_review.{label}"),
                    Outcome::Success,
                    origin,
                )
                .object("user", member)
                .details(serde_json::json!({
                    "review": review,
                    "role": found.role,
                    "sessions_ended": sessions_ended,
                    "review_closed": closed,
                })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// The review as CSV: one line per membership with the decision, who made it and when.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] or [`IdentityError::Forbidden`].
    pub async fn access_review_csv(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(String, String), IdentityError> {
        let detail = self.access_review(session, id).await?.into_inner();
        let mut out = String::from("member,email,role,decision,decided_by,decided_at\r\n");
        for i in &detail.items {
            let when = i
                .decided_at
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let line = [
                i.user_name.as_str(),
                i.user_email.as_str(),
                i.role.as_str(),
                i.decision.as_str(),
                i.decided_by_name.as_deref().unwrap_or(""),
                when.as_str(),
            ]
            .map(csv_cell)
            .join(",");
            out.push_str(&line);
            out.push_str("\r\n");
        }
        self.audit
            .record_read(
                self.user_record(session, "access_review.export", Outcome::Success, origin)
                    .object("access_review", detail.review.id),
            )
            .await
            .map_err(internal)?;
        Ok((detail.review.name, out))
    }

    /// Escalates reviews past their due date with items still open: one mail to each owner
    /// of the tenant, once per review, audited. Run by the hourly sweep.
    ///
    /// # Errors
    /// On database or mail-sealing failure.
    pub async fn escalate_overdue_reviews(&self, base_url: &str) -> Result<usize, IdentityError> {
        let now = self.clock.now();
        let mut escalated = 0;
        for tenant in identity::all_tenants(&self.db).await? {
            let tenant = TenantId::from_uuid(tenant);
            let overdue: Vec<ReviewRow> = {
                let mut tx = self.db.read_for(tenant).await?;
                let rows = store::list(&mut tx, tenant).await?;
                tx.commit().await?;
                rows.into_iter()
                    .filter(|r| due(r, now) && r.pending > 0)
                    .collect()
            };
            for review in overdue {
                self.escalate(tenant, &review, base_url, now).await?;
                escalated += 1;
            }
        }
        Ok(escalated)
    }

    async fn escalate(
        &self,
        tenant: TenantId,
        review: &ReviewRow,
        base_url: &str,
        now: OffsetDateTime,
    ) -> Result<(), IdentityError> {
        let mut owners = Vec::new();
        let ids = {
            let mut tx = self.db.begin_for(tenant).await?;
            identity::active_owners_of(&mut tx, tenant).await?
        };
        for id in ids {
            if let Some(u) = identity::user_by_id(&self.db, UserId::from_uuid(id)).await? {
                owners.push(u.email);
            }
        }
        let text = format!(
            "Hello,\n\nThe access review \"{}\" was due and {} of its {} memberships are still unanswered.\n\nConfirm or revoke them here:\n{base_url}/tenant/access-reviews/{}\n",
            review.name, review.pending, review.items, review.id
        );
        let mut mails = Vec::new();
        for to in &owners {
            mails.push(
                self.mailer
                    .prepare(to, "Access review overdue", &text)
                    .await
                    .map_err(internal)?,
            );
        }
        let mut tx = self.db.begin_for(tenant).await?;
        if !store::take_overdue(&mut tx, tenant, review.id, now).await? {
            return Ok(());
        }
        for m in mails {
            self.mailer.enqueue(&mut tx, m).await?;
        }
        self.audit
            .record_in(
                &mut tx,
                AuditRecord::tenant(
                    tenant,
                    Actor::System,
                    "access_review.escalate",
                    Outcome::Success,
                )
                .object("access_review", review.id)
                .details(serde_json::json!({ "pending": review.pending, "mailed": owners.len() })),
            )
            .await
            .map_err(internal)?;
        tx.commit().await?;
        Ok(())
    }
}

fn due(r: &ReviewRow, now: OffsetDateTime) -> bool {
    r.closed_at.is_none() && r.escalated_at.is_none() && r.due_at <= now
}
