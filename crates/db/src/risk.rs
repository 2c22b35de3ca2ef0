//! Storage of the risk register: each tenant's scales, risks with their scores, treatment and
//! acceptance, linked controls and history; the heat map's counts and the reassessment
//! reminders. Tenant-filtered, under row-level security on PostgreSQL. Lists sort by one of a
//! fixed set of orders, each its own literal statement (SEC-44).

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{DbError, Tx};

/// A tenant's scales as stored: JSON arrays of level names.
///
/// # Errors
/// On database failure.
pub async fn scale(tx: &mut Tx, tenant: TenantId) -> Result<Option<(String, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as("SELECT likelihood, impact FROM risk_scale WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// Keeps a tenant's scales.
///
/// # Errors
/// On database failure.
pub async fn set_scale(
    tx: &mut Tx,
    tenant: TenantId,
    likelihood: &str,
    impact: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO risk_scale (tenant_id, likelihood, impact, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id) DO UPDATE SET likelihood = $2, impact = $3, updated_by = $4, updated_at = $5",
        )
        .bind(tenant.as_uuid())
        .bind(likelihood)
        .bind(impact)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The highest likelihood and impact levels any risk of the tenant uses.
///
/// # Errors
/// On database failure.
pub async fn levels_used(tx: &mut Tx, tenant: TenantId) -> Result<(i32, i32), DbError> {
    let (l, i): (Option<i32>, Option<i32>) = on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT MAX(CASE WHEN inherent_likelihood > residual_likelihood THEN inherent_likelihood ELSE residual_likelihood END), \
             MAX(CASE WHEN inherent_impact > residual_impact THEN inherent_impact ELSE residual_impact END) \
             FROM risk WHERE tenant_id = $1",
        )
        .bind(tenant.as_uuid())
        .fetch_one(&mut *conn)
        .await?
    });
    Ok((l.unwrap_or(0), i.unwrap_or(0)))
}

/// A risk, with the names of the people on it.
#[derive(Debug, Clone, FromRow)]
pub struct RiskRow {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Sealed description.
    pub description: Vec<u8>,
    /// Category.
    pub category: String,
    /// Classification name.
    pub classification: String,
    /// Owner.
    pub owner_id: Option<Uuid>,
    /// Owner's name.
    pub owner_name: Option<String>,
    /// Inherent likelihood level (1-based).
    pub inherent_likelihood: i32,
    /// Inherent impact level.
    pub inherent_impact: i32,
    /// Residual likelihood level.
    pub residual_likelihood: i32,
    /// Residual impact level.
    pub residual_impact: i32,
    /// `reduce`, `accept`, `transfer` or `avoid`.
    pub treatment: String,
    /// The plan.
    pub treatment_plan: String,
    /// When the plan is due.
    pub treatment_due: Option<Date>,
    /// Who carries out the plan.
    pub treatment_owner_id: Option<Uuid>,
    /// Their name.
    pub treatment_owner_name: Option<String>,
    /// `none`, `requested`, `approved` or `rejected`.
    pub acceptance: String,
    /// Why the risk should be accepted.
    pub acceptance_reason: String,
    /// Who asked.
    pub acceptance_by: Option<Uuid>,
    /// Their name.
    pub acceptance_by_name: Option<String>,
    /// When.
    pub acceptance_at: Option<OffsetDateTime>,
    /// Who decided.
    pub decided_by: Option<Uuid>,
    /// Their name.
    pub decided_by_name: Option<String>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
    /// The decider's remarks.
    pub decision_remarks: String,
    /// Days between reassessments.
    pub reassess_days: i32,
    /// When it is next due for reassessment.
    pub next_review_on: Date,
    /// Version (each change adds one).
    pub version: i32,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

macro_rules! select_risk {
    () => {
        "SELECT r.id, r.title, r.description, r.category, r.classification, r.owner_id, o.display_name AS owner_name, \
         r.inherent_likelihood, r.inherent_impact, r.residual_likelihood, r.residual_impact, r.treatment, \
         r.treatment_plan, r.treatment_due, r.treatment_owner_id, t.display_name AS treatment_owner_name, \
         r.acceptance, r.acceptance_reason, r.acceptance_by, a.display_name AS acceptance_by_name, r.acceptance_at, \
         r.decided_by, d.display_name AS decided_by_name, r.decided_at, r.decision_remarks, r.reassess_days, \
         r.next_review_on, r.version, r.created_at, r.updated_at \
         FROM risk r LEFT JOIN app_user o ON o.id = r.owner_id LEFT JOIN app_user t ON t.id = r.treatment_owner_id \
         LEFT JOIN app_user a ON a.id = r.acceptance_by LEFT JOIN app_user d ON d.id = r.decided_by "
    };
}

/// A risk's facts to store (acceptance apart).
#[derive(Debug, Clone)]
pub struct RiskData<'a> {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: &'a str,
    /// Sealed description.
    pub description: &'a [u8],
    /// Category.
    pub category: &'a str,
    /// Classification name.
    pub classification: &'a str,
    /// Owner.
    pub owner: Option<UserId>,
    /// Inherent (likelihood, impact).
    pub inherent: (i32, i32),
    /// Residual (likelihood, impact).
    pub residual: (i32, i32),
    /// Treatment name.
    pub treatment: &'a str,
    /// Plan.
    pub treatment_plan: &'a str,
    /// Plan due.
    pub treatment_due: Option<Date>,
    /// Plan owner.
    pub treatment_owner: Option<UserId>,
    /// Days between reassessments.
    pub reassess_days: i32,
    /// Next reassessment.
    pub next_review_on: Date,
    /// Who.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

/// Stores a new risk (version 1, no acceptance).
///
/// # Errors
/// On database failure.
pub async fn insert(tx: &mut Tx, tenant: TenantId, r: &RiskData<'_>) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO risk (id, tenant_id, title, description, category, classification, owner_id, \
             inherent_likelihood, inherent_impact, residual_likelihood, residual_impact, inherent_score, residual_score, \
             treatment, treatment_plan, treatment_due, treatment_owner_id, acceptance, acceptance_reason, decision_remarks, \
             reassess_days, next_review_on, version, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'none', '', '', \
             $18, $19, 1, $20, $21, $21)",
        )
        .bind(r.id)
        .bind(tenant.as_uuid())
        .bind(r.title)
        .bind(r.description)
        .bind(r.category)
        .bind(r.classification)
        .bind(r.owner.map(|o| o.as_uuid()))
        .bind(r.inherent.0)
        .bind(r.inherent.1)
        .bind(r.residual.0)
        .bind(r.residual.1)
        .bind(r.inherent.0 * r.inherent.1)
        .bind(r.residual.0 * r.residual.1)
        .bind(r.treatment)
        .bind(r.treatment_plan)
        .bind(r.treatment_due)
        .bind(r.treatment_owner.map(|o| o.as_uuid()))
        .bind(r.reassess_days)
        .bind(r.next_review_on)
        .bind(r.by.as_uuid())
        .bind(r.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Rewrites a risk's facts if it is still at `version`, adding one; `reset_acceptance` clears
/// a requested or decided acceptance. Returns whether it was at that version.
///
/// # Errors
/// On database failure.
pub async fn update(
    tx: &mut Tx,
    tenant: TenantId,
    r: &RiskData<'_>,
    version: i32,
    reset_acceptance: bool,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE risk SET title = $4, description = $5, category = $6, classification = $7, owner_id = $8, \
             inherent_likelihood = $9, inherent_impact = $10, residual_likelihood = $11, residual_impact = $12, \
             inherent_score = $13, residual_score = $14, treatment = $15, treatment_plan = $16, treatment_due = $17, \
             treatment_owner_id = $18, reassess_days = $19, next_review_on = $20, updated_at = $21, version = version + 1, \
             acceptance = CASE WHEN $22 THEN 'none' ELSE acceptance END, \
             acceptance_reason = CASE WHEN $22 THEN '' ELSE acceptance_reason END, \
             acceptance_by = CASE WHEN $22 THEN NULL ELSE acceptance_by END, \
             acceptance_at = CASE WHEN $22 THEN NULL ELSE acceptance_at END, \
             decided_by = CASE WHEN $22 THEN NULL ELSE decided_by END, \
             decided_at = CASE WHEN $22 THEN NULL ELSE decided_at END, \
             decision_remarks = CASE WHEN $22 THEN '' ELSE decision_remarks END \
             WHERE tenant_id = $1 AND id = $2 AND version = $3",
        )
        .bind(tenant.as_uuid())
        .bind(r.id)
        .bind(version)
        .bind(r.title)
        .bind(r.description)
        .bind(r.category)
        .bind(r.classification)
        .bind(r.owner.map(|o| o.as_uuid()))
        .bind(r.inherent.0)
        .bind(r.inherent.1)
        .bind(r.residual.0)
        .bind(r.residual.1)
        .bind(r.inherent.0 * r.inherent.1)
        .bind(r.residual.0 * r.residual.1)
        .bind(r.treatment)
        .bind(r.treatment_plan)
        .bind(r.treatment_due)
        .bind(r.treatment_owner.map(|o| o.as_uuid()))
        .bind(r.reassess_days)
        .bind(r.next_review_on)
        .bind(r.now)
        .bind(reset_acceptance)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// One risk.
///
/// # Errors
/// On database failure.
pub async fn get(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<RiskRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_risk!(),
            "WHERE r.tenant_id = $1 AND r.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// Deletes a risk with its links and history. Returns whether it existed.
///
/// # Errors
/// On database failure.
pub async fn delete(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM risk WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1
    }))
}

/// Asks for a risk to be accepted (at `version`); returns whether it was at that version with
/// the treatment `accept` and no request pending or approved.
///
/// # Errors
/// On database failure.
pub async fn request_acceptance(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    version: i32,
    reason: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE risk SET acceptance = 'requested', acceptance_reason = $4, acceptance_by = $5, acceptance_at = $6, \
             decided_by = NULL, decided_at = NULL, decision_remarks = '', version = version + 1, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 AND treatment = 'accept' \
             AND acceptance IN ('none', 'rejected')",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(version)
        .bind(reason)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Approves or rejects a requested acceptance; only by someone other than the requester
/// (SEC-42). Returns whether it changed.
///
/// # Errors
/// On database failure.
pub async fn decide_acceptance(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    approve: bool,
    remarks: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let state = if approve { "approved" } else { "rejected" };
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE risk SET acceptance = $3, decided_by = $4, decided_at = $5, decision_remarks = $6, \
             version = version + 1, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND acceptance = 'requested' \
             AND acceptance_by IS NOT NULL AND acceptance_by <> $4",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(state)
        .bind(by.as_uuid())
        .bind(now)
        .bind(remarks)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Records a reassessment that changed nothing: the next one is due on `next`.
///
/// # Errors
/// On database failure.
pub async fn reassessed(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    next: Date,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE risk SET next_review_on = $3, version = version + 1, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(next)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Replaces the controls linked to a risk.
///
/// # Errors
/// On database failure.
pub async fn set_controls(
    tx: &mut Tx,
    tenant: TenantId,
    risk: Uuid,
    controls: &[Uuid],
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM risk_control WHERE tenant_id = $1 AND risk_id = $2")
            .bind(tenant.as_uuid())
            .bind(risk)
            .execute(&mut *conn)
            .await?;
    });
    for c in controls {
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO risk_control (tenant_id, risk_id, control_id) VALUES ($1, $2, $3)",
            )
            .bind(tenant.as_uuid())
            .bind(risk)
            .bind(*c)
            .execute(&mut *conn)
            .await?;
        });
    }
    Ok(())
}

/// The controls linked to a risk: `(id, ref, title, effectiveness)`, by reference.
///
/// # Errors
/// On database failure.
pub async fn controls_of(
    tx: &mut Tx,
    tenant: TenantId,
    risk: Uuid,
) -> Result<Vec<(Uuid, String, String, String)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT c.id, c.ref, c.title, c.effectiveness FROM risk_control l JOIN control c ON c.id = l.control_id \
             WHERE l.tenant_id = $1 AND l.risk_id = $2 ORDER BY c.ref",
        )
        .bind(tenant.as_uuid())
        .bind(risk)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// The ids of the tenant's controls among `ids`.
///
/// # Errors
/// On database failure.
pub async fn existing_controls(
    tx: &mut Tx,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, DbError> {
    let mut found = Vec::new();
    for id in ids {
        let hit: Option<Uuid> = on_tx!(tx, |conn| {
            sqlx::query_scalar("SELECT id FROM control WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_uuid())
                .bind(*id)
                .fetch_optional(&mut *conn)
                .await?
        });
        found.extend(hit);
    }
    Ok(found)
}

/// A change in a risk's history.
#[derive(Debug, Clone, FromRow)]
pub struct HistoryRow {
    /// The version it made.
    pub version: i32,
    /// What happened.
    pub action: String,
    /// JSON `{field: [before, after]}`.
    pub changes: String,
    /// Who (the name).
    pub actor: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// Adds a change to a risk's history.
///
/// # Errors
/// On database failure.
#[allow(clippy::too_many_arguments)]
pub async fn add_history(
    tx: &mut Tx,
    tenant: TenantId,
    risk: Uuid,
    version: i32,
    action: &str,
    changes: &str,
    actor: UserId,
    at: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO risk_history (tenant_id, risk_id, version, action, changes, actor_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.as_uuid())
        .bind(risk)
        .bind(version)
        .bind(action)
        .bind(changes)
        .bind(actor.as_uuid())
        .bind(at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A risk's history, newest first.
///
/// # Errors
/// On database failure.
pub async fn history(
    tx: &mut Tx,
    tenant: TenantId,
    risk: Uuid,
) -> Result<Vec<HistoryRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT h.version, h.action, h.changes, u.display_name AS actor, h.at FROM risk_history h \
             LEFT JOIN app_user u ON u.id = h.actor_id WHERE h.tenant_id = $1 AND h.risk_id = $2 ORDER BY h.seq DESC",
        )
        .bind(tenant.as_uuid())
        .bind(risk)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// How a risk list is ordered (each a literal statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskOrder {
    /// Highest residual score first.
    Residual,
    /// Highest inherent score first.
    Inherent,
    /// By title, ignoring case.
    Title,
    /// Soonest reassessment first.
    Review,
}

/// A keyset cursor: the last row of the previous page.
#[derive(Debug, Clone)]
pub enum RiskCursor {
    /// `(residual_score, id)`.
    Residual(i32, Uuid),
    /// `(inherent_score, id)`.
    Inherent(i32, Uuid),
    /// `(lower(title), id)`.
    Title(String, Uuid),
    /// `(next_review_on, id)`.
    Review(Date, Uuid),
}

/// What a risk list shows.
#[derive(Debug, Clone)]
pub struct RiskQuery<'a> {
    /// Only this treatment.
    pub treatment: Option<&'a str>,
    /// Only this acceptance state.
    pub acceptance: Option<&'a str>,
    /// Only this owner.
    pub owner: Option<Uuid>,
    /// Only this category (exact).
    pub category: Option<&'a str>,
    /// Title containing (a `LIKE` pattern, compared case-insensitively).
    pub search: Option<String>,
    /// Only risks due for reassessment on or before this day.
    pub review_by: Option<Date>,
    /// The order.
    pub order: RiskOrder,
    /// Where the previous page ended.
    pub after: Option<RiskCursor>,
    /// Rows wanted.
    pub limit: i64,
}

/// The filters every order shares: `$1` tenant, `$2` treatment, `$3` acceptance, `$4` owner,
/// `$5` category, `$6` search, `$7` review by; `$8`, `$9` the cursor, `$10` the limit.
macro_rules! risk_filters {
    () => {
        "WHERE r.tenant_id = $1 AND ($2 IS NULL OR r.treatment = $2) AND ($3 IS NULL OR r.acceptance = $3) \
         AND ($4 IS NULL OR r.owner_id = $4) AND ($5 IS NULL OR r.category = $5) \
         AND ($6 IS NULL OR LOWER(r.title) LIKE LOWER($6) ESCAPE '\\') AND ($7 IS NULL OR r.next_review_on <= $7) "
    };
}

macro_rules! risk_list {
    ($conn:ident, $q:ident, $tenant:ident, $order:literal, $a:expr, $i:expr) => {
        sqlx::query_as(concat!(select_risk!(), risk_filters!(), $order))
            .bind($tenant)
            .bind($q.treatment)
            .bind($q.acceptance)
            .bind($q.owner)
            .bind($q.category)
            .bind($q.search.as_deref())
            .bind($q.review_by)
            .bind($a)
            .bind($i)
            .bind($q.limit)
            .fetch_all(&mut *$conn)
            .await?
    };
}

/// A page of risks.
///
/// # Errors
/// On database failure.
pub async fn list(
    tx: &mut Tx,
    tenant: TenantId,
    q: &RiskQuery<'_>,
) -> Result<Vec<RiskRow>, DbError> {
    let tenant = tenant.as_uuid();
    Ok(on_tx!(tx, |conn| {
        match q.order {
            RiskOrder::Residual => {
                let (a, i) = match &q.after {
                    Some(RiskCursor::Residual(a, i)) => (Some(*a), Some(*i)),
                    _ => (None, None),
                };
                risk_list!(
                    conn,
                    q,
                    tenant,
                    "AND ($8 IS NULL OR r.residual_score < $8 OR (r.residual_score = $8 AND r.id > $9)) \
                     ORDER BY r.residual_score DESC, r.id LIMIT $10",
                    a,
                    i
                )
            }
            RiskOrder::Inherent => {
                let (a, i) = match &q.after {
                    Some(RiskCursor::Inherent(a, i)) => (Some(*a), Some(*i)),
                    _ => (None, None),
                };
                risk_list!(
                    conn,
                    q,
                    tenant,
                    "AND ($8 IS NULL OR r.inherent_score < $8 OR (r.inherent_score = $8 AND r.id > $9)) \
                     ORDER BY r.inherent_score DESC, r.id LIMIT $10",
                    a,
                    i
                )
            }
            RiskOrder::Title => {
                let (a, i) = match &q.after {
                    Some(RiskCursor::Title(a, i)) => (Some(a.clone()), Some(*i)),
                    _ => (None, None),
                };
                risk_list!(
                    conn,
                    q,
                    tenant,
                    "AND ($8 IS NULL OR LOWER(r.title) > $8 OR (LOWER(r.title) = $8 AND r.id > $9)) \
                     ORDER BY LOWER(r.title), r.id LIMIT $10",
                    a,
                    i
                )
            }
            RiskOrder::Review => {
                let (a, i) = match &q.after {
                    Some(RiskCursor::Review(a, i)) => (Some(*a), Some(*i)),
                    _ => (None, None),
                };
                risk_list!(
                    conn,
                    q,
                    tenant,
                    "AND ($8 IS NULL OR r.next_review_on > $8 OR (r.next_review_on = $8 AND r.id > $9)) \
                     ORDER BY r.next_review_on, r.id LIMIT $10",
                    a,
                    i
                )
            }
        }
    }))
}

/// The title as the title order compares it.
///
/// # Errors
/// On database failure.
pub async fn title_key(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<String>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar("SELECT LOWER(title) FROM risk WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// How many risks sit in each cell of the heat map: `(likelihood, impact, count)`, inherent
/// or residual.
///
/// # Errors
/// On database failure.
pub async fn heat(
    tx: &mut Tx,
    tenant: TenantId,
    residual: bool,
) -> Result<Vec<(i32, i32, i64)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        if residual {
            sqlx::query_as(
                "SELECT residual_likelihood, residual_impact, count(*) FROM risk WHERE tenant_id = $1 \
                 GROUP BY residual_likelihood, residual_impact",
            )
        } else {
            sqlx::query_as(
                "SELECT inherent_likelihood, inherent_impact, count(*) FROM risk WHERE tenant_id = $1 \
                 GROUP BY inherent_likelihood, inherent_impact",
            )
        }
        .bind(tenant.as_uuid())
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A risk due for reassessment.
#[derive(Debug, Clone, FromRow)]
pub struct ReviewDueRow {
    /// The risk.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its owner.
    pub owner_id: Option<Uuid>,
    /// When.
    pub next_review_on: Date,
}

/// Risks due for reassessment on or before `until` whose owner was not yet reminded of that
/// date.
///
/// # Errors
/// On database failure.
pub async fn reviews_due(
    tx: &mut Tx,
    tenant: TenantId,
    until: Date,
) -> Result<Vec<ReviewDueRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT id, title, owner_id, next_review_on FROM risk WHERE tenant_id = $1 AND next_review_on <= $2 \
             AND (reminded_for IS NULL OR reminded_for <> next_review_on) ORDER BY next_review_on, id",
        )
        .bind(tenant.as_uuid())
        .bind(until)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Marks the reminder of a review date sent; false when another sweep took it first.
///
/// # Errors
/// On database failure.
pub async fn take_review_reminder(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    date: Date,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE risk SET reminded_for = $3 WHERE tenant_id = $1 AND id = $2 AND next_review_on = $3 \
             AND (reminded_for IS NULL OR reminded_for <> $3)",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(date)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}
