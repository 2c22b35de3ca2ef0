//! The `Risks` service: the scales, the register (filters, orders, keyset pages, CSV), a risk's
//! life (create, change with its history, reassess, delete), acceptance with four eyes, the
//! heat maps and the reassessment reminders.

use std::sync::Arc;

use attest_db::risk::{self as store, RiskCursor, RiskData, RiskOrder, RiskQuery, RiskRow};
use attest_db::{Db, DbError, Tx};
use attest_types::{Actor, Classification, Clock, ControlId, RiskId, TenantId, UserId};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::KIND;
use super::scales::{Band, HeatMap, Scales, check_levels};
use crate::access::{Caller, Denied, Granted, Permission, Visibility};
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::Origin;
use crate::keys::{KeyError, KeyService};
use crate::mail::Mailer;
use crate::ownership::{OwnerRefusal, contributor, new_owner};

/// Largest page.
pub const MAX_PAGE: i64 = 100;
/// Most controls linked to one risk.
const MAX_CONTROLS: usize = 100;
/// Days before a reassessment is due that its owner is reminded.
const REMIND_DAYS: i64 = 14;

/// A failed risk operation.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    /// Missing, in another tenant, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The caller asked for this acceptance and so may not decide it (SEC-42).
    #[error("the requester of an acceptance cannot decide it")]
    FourEyes,
    /// Someone changed the risk since the caller read it.
    #[error("the risk changed since it was read")]
    Conflict,
    /// The risk is not at the step this action belongs to.
    #[error("{0}")]
    WrongState(&'static str),
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Stable code.
        code: &'static str,
        /// What to do.
        message: String,
    },
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Key failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<Denied> for RiskError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: &str) -> RiskError {
    RiskError::Invalid {
        field,
        code,
        message: message.to_owned(),
    }
}

fn corrupt(what: &'static str) -> RiskError {
    RiskError::Db(DbError::Corrupt(what))
}

fn parse_id(text: &str) -> Result<Uuid, RiskError> {
    Uuid::parse_str(text.trim()).map_err(|_| RiskError::NotFound)
}

pub(crate) fn aad(id: Uuid) -> Vec<u8> {
    let mut a = b"risk:".to_vec();
    a.extend_from_slice(id.as_bytes());
    a
}

fn reader(session: &VerifiedSession) -> Result<Caller, RiskError> {
    let caller = Caller::of(session)?;
    if caller.visibility != Visibility::Tenant {
        return Err(RiskError::NotFound);
    }
    Ok(caller)
}

fn text(
    field: &'static str,
    value: &str,
    max: usize,
    one_line: bool,
    required: bool,
) -> Result<String, RiskError> {
    let t = value.trim();
    let bad = |c: char| c.is_control() && (one_line || !matches!(c, '\n' | '\r' | '\t'));
    if (required && t.is_empty()) || t.chars().count() > max || t.chars().any(bad) {
        return Err(invalid(
            field,
            "invalid",
            &match (required, one_line) {
                (true, true) => format!("Enter 1 to {max} characters, on one line."),
                (true, false) => format!("Enter 1 to {max} characters."),
                (false, _) => format!("Plain text of at most {max} characters."),
            },
        ));
    }
    Ok(t.replace("\r\n", "\n"))
}

/// How a risk is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Reduce it with controls.
    Reduce,
    /// Accept it (needs approval).
    Accept,
    /// Transfer it (insurance, a contract).
    Transfer,
    /// Avoid it (stop the activity).
    Avoid,
}

impl Treatment {
    /// All of them.
    pub const ALL: [Self; 4] = [Self::Reduce, Self::Accept, Self::Transfer, Self::Avoid];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reduce => "reduce",
            Self::Accept => "accept",
            Self::Transfer => "transfer",
            Self::Avoid => "avoid",
        }
    }

    /// From the stored or submitted name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s.trim())
    }
}

/// Where a risk's acceptance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Not asked for.
    None,
    /// Asked for, waiting for a decision.
    Requested,
    /// Approved by someone other than the requester.
    Approved,
    /// Rejected.
    Rejected,
}

impl Acceptance {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "requested" => Self::Requested,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// A risk's fields. Only these exist (SEC-37).
#[derive(Debug, Clone, Default)]
pub struct RiskInput {
    /// Title.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Category, e.g. "Supplier".
    pub category: String,
    /// Classification name (default `high`).
    pub classification: Option<String>,
    /// Owner (compliance managers and above name another member).
    pub owner: Option<String>,
    /// Inherent likelihood level (1-based).
    pub inherent_likelihood: Option<i64>,
    /// Inherent impact level.
    pub inherent_impact: Option<i64>,
    /// Residual likelihood level.
    pub residual_likelihood: Option<i64>,
    /// Residual impact level.
    pub residual_impact: Option<i64>,
    /// `reduce` (default), `accept`, `transfer` or `avoid`.
    pub treatment: Option<String>,
    /// The plan.
    pub treatment_plan: String,
    /// When the plan is due, `YYYY-MM-DD`.
    pub treatment_due: Option<String>,
    /// Who carries out the plan (a user id).
    pub treatment_owner: Option<String>,
    /// The controls that reduce it, by id or reference.
    pub controls: Vec<String>,
    /// Days between reassessments (7 to 730, default 365).
    pub reassess_days: Option<i64>,
}

struct Valid {
    title: String,
    description: String,
    category: String,
    class: Classification,
    owner: Option<UserId>,
    inherent: (i32, i32),
    residual: (i32, i32),
    treatment: Treatment,
    plan: String,
    due: Option<Date>,
    treatment_owner: Option<UserId>,
    controls: Vec<Uuid>,
    reassess_days: i32,
}

/// A score: likelihood, impact and their product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Likelihood level (1-based).
    pub likelihood: i32,
    /// Impact level (1-based).
    pub impact: i32,
}

impl Score {
    /// Likelihood × impact.
    #[must_use]
    pub const fn value(self) -> i32 {
        self.likelihood * self.impact
    }
}

/// A risk as listed.
#[derive(Debug, Clone)]
pub struct RiskView {
    /// Id.
    pub id: RiskId,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Classification.
    pub classification: Classification,
    /// Owner.
    pub owner: Option<(UserId, String)>,
    /// Before controls.
    pub inherent: Score,
    /// After controls.
    pub residual: Score,
    /// The band of the inherent score.
    pub inherent_band: Band,
    /// The band of the residual score.
    pub residual_band: Band,
    /// Treatment.
    pub treatment: Treatment,
    /// Plan.
    pub treatment_plan: String,
    /// Plan due.
    pub treatment_due: Option<Date>,
    /// Plan owner.
    pub treatment_owner: Option<(UserId, String)>,
    /// Acceptance.
    pub acceptance: Acceptance,
    /// Why it should be accepted.
    pub acceptance_reason: String,
    /// Who asked.
    pub acceptance_by: Option<(UserId, String)>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
    /// The decider's remarks.
    pub decision_remarks: String,
    /// Days between reassessments.
    pub reassess_days: i32,
    /// Next reassessment.
    pub next_review_on: Date,
    /// Past its reassessment date.
    pub review_overdue: bool,
    /// Version.
    pub version: i32,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A change in a risk's history.
#[derive(Debug, Clone)]
pub struct Change {
    /// The version it made.
    pub version: i32,
    /// What happened.
    pub action: String,
    /// `(field, before, after)`.
    pub fields: Vec<(String, String, String)>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: OffsetDateTime,
}

/// A risk with its description, controls, history and what the caller may do.
#[derive(Debug, Clone)]
pub struct RiskDetail {
    /// The risk.
    pub risk: RiskView,
    /// Description.
    pub description: String,
    /// The scales it is scored on.
    pub scales: Scales,
    /// Linked controls: `(id, reference, title, effectiveness)`.
    pub controls: Vec<(ControlId, String, String, String)>,
    /// History, newest first.
    pub history: Vec<Change>,
    /// May edit it, reassess it and ask for its acceptance.
    pub can_edit: bool,
    /// May delete it.
    pub can_delete: bool,
    /// May decide its pending acceptance.
    pub can_decide: bool,
    /// Asked for its pending acceptance (and so may not decide it).
    pub requested_it: bool,
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct RiskListRequest {
    /// Only this treatment.
    pub treatment: Option<String>,
    /// Only this acceptance state.
    pub acceptance: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Title containing.
    pub q: Option<String>,
    /// `due`: only risks due for reassessment.
    pub review: Option<String>,
    /// `residual` (default), `inherent`, `title` or `review`.
    pub sort: Option<String>,
    /// The id of the last risk of the previous page.
    pub after: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// A page of risks.
#[derive(Debug, Clone)]
pub struct RiskPage {
    /// The risks.
    pub items: Vec<RiskView>,
    /// The cursor of the next page.
    pub next: Option<RiskId>,
}

/// The risks service.
#[derive(Clone)]
pub struct Risks {
    db: Db,
    keys: Arc<KeyService>,
    audit: AuditLog,
    mailer: Mailer,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Risks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Risks").finish_non_exhaustive()
    }
}

fn person(id: Option<Uuid>, name: Option<String>) -> Option<(UserId, String)> {
    id.map(|u| (UserId::from_uuid(u), name.unwrap_or_default()))
}

fn view(row: RiskRow, scales: &Scales, today: Date) -> Result<RiskView, RiskError> {
    let inherent = Score {
        likelihood: row.inherent_likelihood,
        impact: row.inherent_impact,
    };
    let residual = Score {
        likelihood: row.residual_likelihood,
        impact: row.residual_impact,
    };
    Ok(RiskView {
        id: RiskId::from_uuid(row.id),
        classification: row
            .classification
            .parse()
            .map_err(|_| corrupt("risk.classification"))?,
        owner: person(row.owner_id, row.owner_name),
        inherent_band: scales.band(inherent.value()),
        residual_band: scales.band(residual.value()),
        inherent,
        residual,
        treatment: Treatment::parse(&row.treatment).ok_or_else(|| corrupt("risk.treatment"))?,
        treatment_plan: row.treatment_plan,
        treatment_due: row.treatment_due,
        treatment_owner: person(row.treatment_owner_id, row.treatment_owner_name),
        acceptance: Acceptance::parse(&row.acceptance).ok_or_else(|| corrupt("risk.acceptance"))?,
        acceptance_reason: row.acceptance_reason,
        acceptance_by: person(row.acceptance_by, row.acceptance_by_name),
        decided_by: row.decided_by_name,
        decided_at: row.decided_at,
        decision_remarks: row.decision_remarks,
        reassess_days: row.reassess_days,
        review_overdue: row.next_review_on < today,
        next_review_on: row.next_review_on,
        version: row.version,
        updated_at: row.updated_at,
        title: row.title,
        category: row.category,
    })
}

/// What changed between a stored risk and its new facts, for the history.
fn changes(
    old: &RiskRow,
    new: &Valid,
    old_controls: &[String],
    new_controls: &[String],
    description_changed: bool,
) -> Value {
    let mut c = serde_json::Map::new();
    let mut put = |k: &str, a: String, b: String| {
        if a != b {
            c.insert(k.to_owned(), json!([a, b]));
        }
    };
    let opt = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    put("title", old.title.clone(), new.title.clone());
    put("category", old.category.clone(), new.category.clone());
    put(
        "classification",
        old.classification.clone(),
        new.class.as_str().to_owned(),
    );
    put(
        "owner",
        opt(old.owner_id),
        opt(new.owner.map(|o| o.as_uuid())),
    );
    put(
        "inherent",
        format!("{}x{}", old.inherent_likelihood, old.inherent_impact),
        format!("{}x{}", new.inherent.0, new.inherent.1),
    );
    put(
        "residual",
        format!("{}x{}", old.residual_likelihood, old.residual_impact),
        format!("{}x{}", new.residual.0, new.residual.1),
    );
    put(
        "treatment",
        old.treatment.clone(),
        new.treatment.as_str().to_owned(),
    );
    put(
        "treatment_plan",
        old.treatment_plan.clone(),
        new.plan.clone(),
    );
    put(
        "treatment_due",
        old.treatment_due.map(|d| d.to_string()).unwrap_or_default(),
        new.due.map(|d| d.to_string()).unwrap_or_default(),
    );
    put(
        "treatment_owner",
        opt(old.treatment_owner_id),
        opt(new.treatment_owner.map(|o| o.as_uuid())),
    );
    put(
        "reassess_days",
        old.reassess_days.to_string(),
        new.reassess_days.to_string(),
    );
    put("controls", old_controls.join(", "), new_controls.join(", "));
    if description_changed {
        c.insert("description".to_owned(), json!(["…", "changed"]));
    }
    Value::Object(c)
}

impl Risks {
    /// The service.
    #[must_use]
    pub fn new(
        db: Db,
        keys: Arc<KeyService>,
        audit: AuditLog,
        mailer: Mailer,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            keys,
            audit,
            mailer,
            clock,
        }
    }

    fn today(&self) -> Date {
        self.clock.now().date()
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

    async fn denied(
        &self,
        caller: &Caller,
        requested: &str,
        action: &str,
        err: RiskError,
        origin: Origin,
    ) -> RiskError {
        if matches!(
            err,
            RiskError::NotFound | RiskError::Forbidden | RiskError::FourEyes
        ) && let Err(e) = caller
            .audit_denial(&self.audit, KIND, requested, action, origin)
            .await
        {
            return e.into();
        }
        err
    }

    fn may_edit(caller: &Caller, row: &RiskRow) -> bool {
        caller.may(Permission::ManageContent)
            || (caller.may(Permission::Contribute) && row.owner_id == Some(caller.user.as_uuid()))
    }

    async fn scales_in(tx: &mut Tx, tenant: TenantId) -> Result<Scales, RiskError> {
        match store::scale(tx, tenant).await? {
            None => Ok(Scales::default()),
            Some((l, i)) => Ok(Scales {
                likelihood: serde_json::from_str(&l)
                    .map_err(|_| corrupt("risk_scale.likelihood"))?,
                impact: serde_json::from_str(&i).map_err(|_| corrupt("risk_scale.impact"))?,
            }),
        }
    }

    /// The tenant's scales.
    ///
    /// # Errors
    /// [`RiskError::NotFound`] for members who see only shared items.
    pub async fn scales(&self, session: &VerifiedSession) -> Result<Granted<Scales>, RiskError> {
        let caller = reader(session)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let s = Self::scales_in(&mut tx, caller.tenant).await?;
        tx.commit().await?;
        Ok(Granted::new(s))
    }

    /// Sets the tenant's scales (compliance managers and above). A scale cannot shrink below a
    /// level a risk uses.
    ///
    /// # Errors
    /// [`RiskError::Forbidden`] or [`RiskError::Invalid`].
    pub async fn set_scales(
        &self,
        session: &VerifiedSession,
        likelihood: &[String],
        impact: &[String],
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        if let Err(d) = caller.require(Permission::ManageContent) {
            return Err(self
                .denied(&caller, "scales", "set_scales", d.into(), origin)
                .await);
        }
        let l = check_levels(likelihood).map_err(|m| invalid("likelihood", "invalid_scale", &m))?;
        let i = check_levels(impact).map_err(|m| invalid("impact", "invalid_scale", &m))?;
        let mut tx = self.db.begin_for(caller.tenant).await?;
        let (used_l, used_i) = store::levels_used(&mut tx, caller.tenant).await?;
        if usize::try_from(used_l).unwrap_or(0) > l.len() {
            return Err(invalid(
                "likelihood",
                "levels_in_use",
                &format!(
                    "A risk is scored at likelihood level {used_l}; keep at least {used_l} levels."
                ),
            ));
        }
        if usize::try_from(used_i).unwrap_or(0) > i.len() {
            return Err(invalid(
                "impact",
                "levels_in_use",
                &format!(
                    "A risk is scored at impact level {used_i}; keep at least {used_i} levels."
                ),
            ));
        }
        let (lj, ij) = (json!(l).to_string(), json!(i).to_string());
        store::set_scale(
            &mut tx,
            caller.tenant,
            &lj,
            &ij,
            caller.user,
            self.clock.now(),
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                Self::record(&caller, "risk.scales", origin)
                    .details(json!({ "likelihood": l, "impact": i })),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn member(
        &self,
        tenant: TenantId,
        field: &'static str,
        user: &str,
    ) -> Result<UserId, RiskError> {
        match contributor(&self.db, tenant, user, self.clock.now()).await {
            Ok(u) => Ok(u),
            Err(OwnerRefusal::Db(e)) => Err(e.into()),
            Err(_) => Err(invalid(
                field,
                "invalid_member",
                "Choose a member who can contribute.",
            )),
        }
    }

    async fn validated(
        &self,
        caller: &Caller,
        input: &RiskInput,
        current_owner: Option<UserId>,
        scales: &Scales,
    ) -> Result<Valid, RiskError> {
        let title = text("title", &input.title, 200, true, true)?;
        let description = text("description", &input.description, 20_000, false, false)?;
        let category = text("category", &input.category, 80, true, true)?;
        let class = match input.classification.as_deref().map(str::trim) {
            None | Some("") => Classification::High,
            Some(c) => c.parse().map_err(|_| {
                invalid(
                    "classification",
                    "invalid_classification",
                    "Choose critical, high, moderate, low or public.",
                )
            })?,
        };
        let level = |v: Option<i64>, field: &'static str, max: usize| -> Result<i32, RiskError> {
            let max = i64::try_from(max).unwrap_or(0);
            match v {
                Some(n) if (1..=max).contains(&n) => Ok(i32::try_from(n).unwrap_or(1)),
                _ => Err(invalid(
                    field,
                    "invalid_level",
                    &format!("Choose a level from 1 to {max}."),
                )),
            }
        };
        let (nl, ni) = (scales.likelihood.len(), scales.impact.len());
        let inherent = (
            level(input.inherent_likelihood, "inherent_likelihood", nl)?,
            level(input.inherent_impact, "inherent_impact", ni)?,
        );
        let residual = (
            level(input.residual_likelihood, "residual_likelihood", nl)?,
            level(input.residual_impact, "residual_impact", ni)?,
        );
        let treatment = match input.treatment.as_deref().map(str::trim) {
            None | Some("") => Treatment::Reduce,
            Some(t) => Treatment::parse(t).ok_or_else(|| {
                invalid(
                    "treatment",
                    "invalid_treatment",
                    "The treatment is reduce, accept, transfer or avoid.",
                )
            })?,
        };
        let plan = text("treatment_plan", &input.treatment_plan, 5_000, false, false)?;
        let due = match input.treatment_due.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => Some(
                crate::activities::schedule::parse_day(d)
                    .filter(|d| {
                        (crate::activities::schedule::EARLIEST
                            ..=crate::activities::schedule::LATEST)
                            .contains(d)
                    })
                    .ok_or_else(|| {
                        invalid(
                            "treatment_due",
                            "invalid_date",
                            "Give the due date as YYYY-MM-DD, between 2000 and 2099.",
                        )
                    })?,
            ),
        };
        let treatment_owner = match input.treatment_owner.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(self.member(caller.tenant, "treatment_owner", u).await?),
        };
        let reassess_days = input.reassess_days.unwrap_or(365);
        if !(7..=730).contains(&reassess_days) {
            return Err(invalid(
                "reassess_days",
                "invalid_reassessment",
                "Reassess every 7 to 730 days.",
            ));
        }
        let named: Vec<&str> = input
            .controls
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        if named.len() > MAX_CONTROLS {
            return Err(invalid(
                "controls",
                "too_many_controls",
                "Link at most 100 controls.",
            ));
        }
        // Each control by its id or by its reference.
        let mut controls = Vec::new();
        if !named.is_empty() {
            let mut tx = self.db.read_for(caller.tenant).await?;
            for c in named {
                let id = match Uuid::parse_str(c) {
                    Ok(id) => Some(id),
                    Err(_) => attest_db::control::by_reference(&mut tx, caller.tenant, c).await?,
                }
                .ok_or_else(|| {
                    invalid(
                        "controls",
                        "unknown_control",
                        &format!(
                            "There is no control \"{}\".",
                            c.chars().take(40).collect::<String>()
                        ),
                    )
                })?;
                if !controls.contains(&id) {
                    controls.push(id);
                }
            }
            tx.commit().await?;
        }
        let owner = match input.owner.as_deref().map(str::trim) {
            None | Some("") => current_owner.or(Some(caller.user)),
            Some(o) if current_owner.is_some_and(|c| c.to_string() == o) => current_owner,
            Some(o) => Some(
                match new_owner(&self.db, caller, o, self.clock.now()).await {
                    Ok(u) => u,
                    Err(OwnerRefusal::NotAllowed) => {
                        return Err(invalid(
                            "owner",
                            "field_not_allowed",
                            "Your role cannot change a risk's owner.",
                        ));
                    }
                    Err(OwnerRefusal::NotEligible) => {
                        return Err(invalid(
                            "owner",
                            "invalid_owner",
                            "The owner must be a member who can edit.",
                        ));
                    }
                    Err(OwnerRefusal::Db(e)) => return Err(e.into()),
                },
            ),
        };
        Ok(Valid {
            title,
            description,
            category,
            class,
            owner,
            inherent,
            residual,
            treatment,
            plan,
            due,
            treatment_owner,
            controls,
            reassess_days: i32::try_from(reassess_days).unwrap_or(365),
        })
    }

    fn data<'a>(
        &self,
        id: Uuid,
        v: &'a Valid,
        sealed: &'a [u8],
        next_review_on: Date,
        by: UserId,
    ) -> RiskData<'a> {
        RiskData {
            id,
            title: &v.title,
            description: sealed,
            category: &v.category,
            classification: v.class.as_str(),
            owner: v.owner,
            inherent: v.inherent,
            residual: v.residual,
            treatment: v.treatment.as_str(),
            treatment_plan: &v.plan,
            treatment_due: v.due,
            treatment_owner: v.treatment_owner,
            reassess_days: v.reassess_days,
            next_review_on,
            by,
            now: self.clock.now(),
        }
    }

    async fn control_refs(
        tx: &mut Tx,
        tenant: TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<String>, RiskError> {
        let found = store::existing_controls(tx, tenant, ids).await?;
        if found.len() != ids.len() {
            return Err(invalid(
                "controls",
                "unknown_control",
                "One of the controls does not exist.",
            ));
        }
        let mut refs = Vec::new();
        for id in ids {
            if let Some(c) = attest_db::control::get(tx, tenant, *id).await? {
                refs.push(c.reference);
            }
        }
        refs.sort();
        Ok(refs)
    }

    /// Adds a risk to the register (contributors and above; compliance managers name its owner).
    ///
    /// # Errors
    /// [`RiskError::Forbidden`] or [`RiskError::Invalid`].
    pub async fn create(
        &self,
        session: &VerifiedSession,
        input: &RiskInput,
        origin: Origin,
    ) -> Result<RiskId, RiskError> {
        let caller = reader(session)?;
        if let Err(d) = caller.require(Permission::Contribute) {
            return Err(self
                .denied(&caller, "new", "create", d.into(), origin)
                .await);
        }
        let scales = {
            let mut tx = self.db.read_for(caller.tenant).await?;
            let s = Self::scales_in(&mut tx, caller.tenant).await?;
            tx.commit().await?;
            s
        };
        let v = self.validated(&caller, input, None, &scales).await?;
        let id = Uuid::new_v4();
        let sealed = self
            .keys
            .seal(caller.tenant, v.class, &aad(id), v.description.as_bytes())
            .await?;
        let next = self
            .today()
            .checked_add(Duration::days(i64::from(v.reassess_days)))
            .unwrap_or_else(|| self.today());
        let mut tx = self.db.begin_for(caller.tenant).await?;
        let refs = Self::control_refs(&mut tx, caller.tenant, &v.controls).await?;
        store::insert(
            &mut tx,
            caller.tenant,
            &self.data(id, &v, &sealed, next, caller.user),
        )
        .await?;
        store::set_controls(&mut tx, caller.tenant, id, &v.controls).await?;
        let summary = json!({
            "title": v.title, "inherent": format!("{}x{}", v.inherent.0, v.inherent.1),
            "residual": format!("{}x{}", v.residual.0, v.residual.1), "treatment": v.treatment.as_str(),
            "controls": refs.join(", "),
        });
        store::add_history(
            &mut tx,
            caller.tenant,
            id,
            1,
            "created",
            &summary.to_string(),
            caller.user,
            self.clock.now(),
        )
        .await?;
        self.audit
            .record_in(
                &mut tx,
                Self::record(&caller, "risk.create", origin)
                    .object(KIND, id)
                    .details(summary),
            )
            .await?;
        tx.commit().await?;
        Ok(RiskId::from_uuid(id))
    }

    /// Changes a risk (compliance managers and above, or its owner) if it is still at
    /// `version`. A change of treatment or residual score withdraws a pending or decided
    /// acceptance; a change of any score counts as a reassessment.
    ///
    /// # Errors
    /// [`RiskError::NotFound`], [`RiskError::Forbidden`], [`RiskError::Conflict`] or
    /// [`RiskError::Invalid`].
    pub async fn update(
        &self,
        session: &VerifiedSession,
        id: &str,
        input: &RiskInput,
        version: Option<i64>,
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let (current, scales) = {
                let mut tx = self.db.read_for(caller.tenant).await?;
                let row = store::get(&mut tx, caller.tenant, rid)
                    .await?
                    .ok_or(RiskError::NotFound)?;
                let s = Self::scales_in(&mut tx, caller.tenant).await?;
                tx.commit().await?;
                (row, s)
            };
            if !Self::may_edit(&caller, &current) {
                return Err(RiskError::Forbidden);
            }
            let version = version.and_then(|v| i32::try_from(v).ok()).ok_or_else(|| {
                invalid(
                    "version",
                    "version_required",
                    "Send the version you edited.",
                )
            })?;
            let v = self
                .validated(
                    &caller,
                    input,
                    current.owner_id.map(UserId::from_uuid),
                    &scales,
                )
                .await?;
            let old_class: Classification = current
                .classification
                .parse()
                .map_err(|_| corrupt("risk.classification"))?;
            let old_description = self
                .keys
                .open(caller.tenant, old_class, &aad(rid), &current.description)
                .await?;
            let description_changed = old_description.as_slice() != v.description.as_bytes();
            let sealed = self
                .keys
                .seal(caller.tenant, v.class, &aad(rid), v.description.as_bytes())
                .await?;
            let rescored = (current.inherent_likelihood, current.inherent_impact) != v.inherent
                || (current.residual_likelihood, current.residual_impact) != v.residual;
            let next = if rescored || v.reassess_days != current.reassess_days {
                self.today()
                    .checked_add(Duration::days(i64::from(v.reassess_days)))
                    .unwrap_or(current.next_review_on)
            } else {
                current.next_review_on
            };
            let reset = current.acceptance != "none"
                && (current.treatment != v.treatment.as_str()
                    || (current.residual_likelihood, current.residual_impact) != v.residual);
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let before_refs: Vec<String> = store::controls_of(&mut tx, caller.tenant, rid)
                .await?
                .into_iter()
                .map(|c| c.1)
                .collect();
            let refs = Self::control_refs(&mut tx, caller.tenant, &v.controls).await?;
            if !store::update(
                &mut tx,
                caller.tenant,
                &self.data(rid, &v, &sealed, next, caller.user),
                version,
                reset,
            )
            .await?
            {
                return Err(RiskError::Conflict);
            }
            store::set_controls(&mut tx, caller.tenant, rid, &v.controls).await?;
            let mut diff = changes(&current, &v, &before_refs, &refs, description_changed);
            if reset {
                diff["acceptance"] = json!([current.acceptance, "none"]);
            }
            if next != current.next_review_on {
                diff["next_review_on"] =
                    json!([current.next_review_on.to_string(), next.to_string()]);
            }
            store::add_history(
                &mut tx,
                caller.tenant,
                rid,
                version + 1,
                "updated",
                &diff.to_string(),
                caller.user,
                self.clock.now(),
            )
            .await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "risk.update", origin)
                        .object(KIND, rid)
                        .details(json!({ "version": version + 1, "changes": diff })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "update", e, origin).await),
        }
    }

    /// A risk with its description, controls and history. Audited as a read.
    ///
    /// # Errors
    /// [`RiskError::NotFound`].
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<RiskDetail>, RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = store::get(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(RiskError::NotFound)?;
            let scales = Self::scales_in(&mut tx, caller.tenant).await?;
            let controls = store::controls_of(&mut tx, caller.tenant, rid).await?;
            let history = store::history(&mut tx, caller.tenant, rid).await?;
            tx.commit().await?;
            let class: Classification = row
                .classification
                .parse()
                .map_err(|_| corrupt("risk.classification"))?;
            let description = self
                .keys
                .open(caller.tenant, class, &aad(rid), &row.description)
                .await?;
            let can_edit = Self::may_edit(&caller, &row);
            let requested_it =
                row.acceptance == "requested" && row.acceptance_by == Some(caller.user.as_uuid());
            let can_decide = row.acceptance == "requested"
                && !requested_it
                && caller.may(Permission::ManageContent);
            Ok(RiskDetail {
                risk: view(row, &scales, self.today())?,
                description: String::from_utf8_lossy(&description).into_owned(),
                scales,
                controls: controls
                    .into_iter()
                    .map(|(i, r, t, e)| (ControlId::from_uuid(i), r, t, e))
                    .collect(),
                history: history
                    .into_iter()
                    .map(|h| {
                        let parsed: Value = serde_json::from_str(&h.changes).unwrap_or(Value::Null);
                        let fields = parsed
                            .as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| match v.as_array() {
                                        Some(pair) if pair.len() == 2 => (
                                            k.clone(),
                                            pair[0]
                                                .as_str()
                                                .map_or_else(|| pair[0].to_string(), str::to_owned),
                                            pair[1]
                                                .as_str()
                                                .map_or_else(|| pair[1].to_string(), str::to_owned),
                                        ),
                                        _ => (
                                            k.clone(),
                                            String::new(),
                                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                                        ),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Change {
                            version: h.version,
                            action: h.action,
                            fields,
                            actor: h.actor.unwrap_or_default(),
                            at: h.at,
                        }
                    })
                    .collect(),
                can_edit,
                can_delete: caller.may(Permission::ManageContent),
                can_decide,
                requested_it,
            })
        }
        .await;
        match result {
            Ok(d) => {
                self.audit
                    .record_read(Self::record(&caller, "risk.read", origin).object(KIND, d.risk.id))
                    .await?;
                Ok(Granted::new(d))
            }
            Err(e) => Err(self.denied(&caller, id, "read", e, origin).await),
        }
    }

    /// Deletes a risk (compliance managers and above).
    ///
    /// # Errors
    /// [`RiskError::NotFound`] or [`RiskError::Forbidden`].
    pub async fn delete(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::get(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(RiskError::NotFound)?;
            caller.require(Permission::ManageContent)?;
            store::delete(&mut tx, caller.tenant, rid).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "risk.delete", origin)
                        .object(KIND, rid)
                        .details(json!({ "title": row.title, "version": row.version })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "delete", e, origin).await),
        }
    }

    /// Asks for a risk treated by acceptance to be accepted (its owner or a compliance
    /// manager), with the reason.
    ///
    /// # Errors
    /// [`RiskError::NotFound`], [`RiskError::Forbidden`], [`RiskError::Conflict`],
    /// [`RiskError::WrongState`] or [`RiskError::Invalid`].
    pub async fn request_acceptance(
        &self,
        session: &VerifiedSession,
        id: &str,
        reason: &str,
        version: Option<i64>,
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::get(&mut tx, caller.tenant, rid).await?.ok_or(RiskError::NotFound)?;
            if !Self::may_edit(&caller, &row) {
                return Err(RiskError::Forbidden);
            }
            if row.treatment != "accept" {
                return Err(invalid("treatment", "treatment_not_accept", "Only a risk treated by acceptance can be accepted; change its treatment first."));
            }
            if matches!(row.acceptance.as_str(), "requested" | "approved") {
                return Err(RiskError::WrongState(if row.acceptance == "approved" { "The risk is already accepted." } else { "Its acceptance is already waiting for a decision." }));
            }
            let reason = text("reason", reason, 5_000, false, true)?;
            let version = version.and_then(|v| i32::try_from(v).ok()).unwrap_or(row.version);
            if !store::request_acceptance(&mut tx, caller.tenant, rid, version, &reason, caller.user, self.clock.now()).await? {
                return Err(RiskError::Conflict);
            }
            let diff = json!({ "acceptance": [row.acceptance, "requested"] });
            store::add_history(&mut tx, caller.tenant, rid, version + 1, "acceptance_requested", &diff.to_string(), caller.user, self.clock.now()).await?;
            self.audit
                .record_in(&mut tx, Self::record(&caller, "risk.acceptance_request", origin).object(KIND, rid).details(json!({ "residual": format!("{}x{}", row.residual_likelihood, row.residual_impact) })))
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .denied(&caller, id, "request_acceptance", e, origin)
                .await),
        }
    }

    /// Approves or rejects a requested acceptance: compliance managers and above other than the
    /// requester (SEC-42). Rejecting needs remarks.
    ///
    /// # Errors
    /// [`RiskError::NotFound`], [`RiskError::Forbidden`], [`RiskError::FourEyes`],
    /// [`RiskError::WrongState`] or [`RiskError::Invalid`].
    pub async fn decide(
        &self,
        session: &VerifiedSession,
        id: &str,
        approve: Option<bool>,
        remarks: &str,
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::get(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(RiskError::NotFound)?;
            if row.acceptance_by == Some(caller.user.as_uuid()) && row.acceptance == "requested" {
                return Err(RiskError::FourEyes);
            }
            caller.require(Permission::ManageContent)?;
            if row.acceptance != "requested" {
                return Err(RiskError::WrongState(
                    "No acceptance of this risk is waiting for a decision.",
                ));
            }
            let approve = approve.ok_or_else(|| {
                invalid(
                    "decision",
                    "decision_required",
                    "Approve or reject the acceptance.",
                )
            })?;
            let remarks = text("remarks", remarks, 5_000, false, false)?;
            if !approve && remarks.is_empty() {
                return Err(invalid(
                    "remarks",
                    "remarks_required",
                    "Say why the risk cannot be accepted.",
                ));
            }
            if !store::decide_acceptance(
                &mut tx,
                caller.tenant,
                rid,
                approve,
                &remarks,
                caller.user,
                self.clock.now(),
            )
            .await?
            {
                return Err(RiskError::WrongState(
                    "No acceptance of this risk is waiting for a decision.",
                ));
            }
            let after = if approve { "approved" } else { "rejected" };
            let diff = json!({ "acceptance": ["requested", after] });
            store::add_history(
                &mut tx,
                caller.tenant,
                rid,
                row.version + 1,
                if approve {
                    "accepted"
                } else {
                    "acceptance_rejected"
                },
                &diff.to_string(),
                caller.user,
                self.clock.now(),
            )
            .await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(
                        &caller,
                        if approve {
                            "risk.accept"
                        } else {
                            "risk.reject_acceptance"
                        },
                        origin,
                    )
                    .object(KIND, rid)
                    .details(json!({ "requested_by": row.acceptance_by })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .denied(&caller, id, "decide_acceptance", e, origin)
                .await),
        }
    }

    /// Records that a risk was reassessed and nothing changed: the next reassessment is due
    /// after its cycle.
    ///
    /// # Errors
    /// [`RiskError::NotFound`] or [`RiskError::Forbidden`].
    pub async fn reassess(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<(), RiskError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::get(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(RiskError::NotFound)?;
            if !Self::may_edit(&caller, &row) {
                return Err(RiskError::Forbidden);
            }
            let next = self
                .today()
                .checked_add(Duration::days(i64::from(row.reassess_days)))
                .unwrap_or(row.next_review_on);
            store::reassessed(&mut tx, caller.tenant, rid, next, self.clock.now()).await?;
            let diff =
                json!({ "next_review_on": [row.next_review_on.to_string(), next.to_string()] });
            store::add_history(
                &mut tx,
                caller.tenant,
                rid,
                row.version + 1,
                "reassessed",
                &diff.to_string(),
                caller.user,
                self.clock.now(),
            )
            .await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "risk.reassess", origin)
                        .object(KIND, rid)
                        .details(diff),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, id, "reassess", e, origin).await),
        }
    }

    /// A page of risks.
    ///
    /// # Errors
    /// [`RiskError::Invalid`] for a bad filter, order, cursor or page size.
    pub async fn list(
        &self,
        session: &VerifiedSession,
        req: &RiskListRequest,
    ) -> Result<RiskPage, RiskError> {
        let caller = reader(session)?;
        let limit = req.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid(
                "limit",
                "invalid_limit",
                "The page size must be between 1 and 100.",
            ));
        }
        let order = match req.sort.as_deref().map(str::trim) {
            None | Some("" | "residual") => RiskOrder::Residual,
            Some("inherent") => RiskOrder::Inherent,
            Some("title") => RiskOrder::Title,
            Some("review") => RiskOrder::Review,
            Some(_) => {
                return Err(invalid(
                    "sort",
                    "invalid_sort",
                    "Sort by residual, inherent, title or review.",
                ));
            }
        };
        let pick = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let treatment = match pick(&req.treatment) {
            None => None,
            Some(t) => Some(
                Treatment::parse(&t)
                    .ok_or_else(|| {
                        invalid(
                            "treatment",
                            "invalid_treatment",
                            "The treatment is reduce, accept, transfer or avoid.",
                        )
                    })?
                    .as_str(),
            ),
        };
        let acceptance = match pick(&req.acceptance) {
            None => None,
            Some(a) => Some(
                Acceptance::parse(&a)
                    .ok_or_else(|| {
                        invalid(
                            "acceptance",
                            "invalid_acceptance",
                            "Acceptance is none, requested, approved or rejected.",
                        )
                    })?
                    .as_str(),
            ),
        };
        let owner = match pick(&req.owner) {
            None => None,
            Some(o) => Some(Uuid::parse_str(&o).map_err(|_| {
                invalid(
                    "owner",
                    "invalid_owner",
                    "The owner filter is not a member.",
                )
            })?),
        };
        let category = pick(&req.category);
        if category.as_ref().is_some_and(|c| c.chars().count() > 80) {
            return Err(invalid(
                "category",
                "invalid_category",
                "A category has at most 80 characters.",
            ));
        }
        let search = match pick(&req.q) {
            None => None,
            Some(q) if q.chars().count() > 100 => {
                return Err(invalid(
                    "q",
                    "invalid_search",
                    "Search for at most 100 characters.",
                ));
            }
            Some(q) => {
                let mut p = String::from("%");
                for c in q.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        p.push('\\');
                    }
                    p.push(c);
                }
                p.push('%');
                Some(p)
            }
        };
        let review_by = match pick(&req.review).as_deref() {
            None => None,
            Some("due") => Some(self.today()),
            Some(_) => {
                return Err(invalid(
                    "review",
                    "invalid_filter",
                    "Review is due or empty.",
                ));
            }
        };
        let mut tx = self.db.read_for(caller.tenant).await?;
        let after = match pick(&req.after) {
            None => None,
            Some(a) => {
                let bad = || invalid("after", "invalid_cursor", "The page cursor is not valid.");
                let id = Uuid::parse_str(&a).map_err(|_| bad())?;
                let r = store::get(&mut tx, caller.tenant, id)
                    .await?
                    .ok_or_else(bad)?;
                Some(match order {
                    RiskOrder::Residual => {
                        RiskCursor::Residual(r.residual_likelihood * r.residual_impact, r.id)
                    }
                    RiskOrder::Inherent => {
                        RiskCursor::Inherent(r.inherent_likelihood * r.inherent_impact, r.id)
                    }
                    RiskOrder::Title => RiskCursor::Title(
                        store::title_key(&mut tx, caller.tenant, id)
                            .await?
                            .ok_or_else(bad)?,
                        r.id,
                    ),
                    RiskOrder::Review => RiskCursor::Review(r.next_review_on, r.id),
                })
            }
        };
        let scales = Self::scales_in(&mut tx, caller.tenant).await?;
        let rows = store::list(
            &mut tx,
            caller.tenant,
            &RiskQuery {
                treatment,
                acceptance,
                owner,
                category: category.as_deref(),
                search,
                review_by,
                order,
                after,
                limit: limit + 1,
            },
        )
        .await?;
        tx.commit().await?;
        let keep = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > keep;
        let today = self.today();
        let items: Vec<RiskView> = rows
            .into_iter()
            .take(keep)
            .map(|r| view(r, &scales, today))
            .collect::<Result<_, _>>()?;
        let next = more.then(|| items.last().map(|r| r.id)).flatten();
        Ok(RiskPage { items, next })
    }

    /// The register as CSV, every page, formula cells escaped (SEC-48). Audited.
    ///
    /// # Errors
    /// [`RiskError::Forbidden`] or [`RiskError::Invalid`].
    pub async fn export_csv(
        &self,
        session: &VerifiedSession,
        req: &RiskListRequest,
        origin: Origin,
    ) -> Result<Granted<String>, RiskError> {
        let caller = reader(session)?;
        caller.require(Permission::Export)?;
        let mut table = crate::csv_out::Table::new(&[
            "title",
            "category",
            "owner",
            "inherent likelihood",
            "inherent impact",
            "inherent score",
            "residual likelihood",
            "residual impact",
            "residual score",
            "treatment",
            "plan due",
            "acceptance",
            "next reassessment",
        ]);
        table
            .all_pages(
                |after| {
                    let page = RiskListRequest {
                        limit: Some(MAX_PAGE),
                        after,
                        ..req.clone()
                    };
                    async move {
                        let p = self.list(session, &page).await?;
                        Ok::<_, RiskError>((p.items, p.next.map(|n| n.to_string())))
                    }
                },
                |r| {
                    let n = |v: i32| v.to_string();
                    vec![
                        r.title.clone(),
                        r.category.clone(),
                        r.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                        n(r.inherent.likelihood),
                        n(r.inherent.impact),
                        n(r.inherent.value()),
                        n(r.residual.likelihood),
                        n(r.residual.impact),
                        n(r.residual.value()),
                        r.treatment.as_str().to_owned(),
                        r.treatment_due.map(|d| d.to_string()).unwrap_or_default(),
                        r.acceptance.as_str().to_owned(),
                        r.next_review_on.to_string(),
                    ]
                },
            )
            .await?;
        self.audit
            .record_read(
                AuditRecord::tenant(
                    caller.tenant,
                    Actor::User(caller.user),
                    "risk.export",
                    Outcome::Success,
                )
                .request(origin.ip, origin.request_id)
                .details(json!({ "rows": table.rows() })),
            )
            .await?;
        Ok(Granted::new(table.finish()))
    }

    /// The inherent and residual heat maps.
    ///
    /// # Errors
    /// [`RiskError::NotFound`] for members who see only shared items.
    pub async fn heat_maps(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<(HeatMap, HeatMap)>, RiskError> {
        let caller = reader(session)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let scales = Self::scales_in(&mut tx, caller.tenant).await?;
        let inherent = store::heat(&mut tx, caller.tenant, false).await?;
        let residual = store::heat(&mut tx, caller.tenant, true).await?;
        tx.commit().await?;
        Ok(Granted::new((
            HeatMap::new(scales.clone(), &inherent),
            HeatMap::new(scales, &residual),
        )))
    }

    /// Reminds risk owners of reassessments due within two weeks (or overdue), once per due
    /// date, by mail; audited. Run by the hourly sweep. Returns how many risks.
    ///
    /// # Errors
    /// On storage or mail-sealing failure.
    pub async fn remind_reassessments(&self, base_url: &str) -> Result<usize, RiskError> {
        let today = self.today();
        let until = today
            .checked_add(Duration::days(REMIND_DAYS))
            .unwrap_or(today);
        let mut sent = 0;
        for tenant in attest_db::identity::all_tenants(&self.db).await? {
            let tenant = TenantId::from_uuid(tenant);
            let due = {
                let mut tx = self.db.read_for(tenant).await?;
                let rows = store::reviews_due(&mut tx, tenant, until).await?;
                tx.commit().await?;
                rows
            };
            for r in due {
                let to = match r.owner_id {
                    Some(o) => attest_db::identity::user_by_id(&self.db, UserId::from_uuid(o))
                        .await?
                        .filter(|u| u.status == "active")
                        .map(|u| u.email),
                    None => None,
                };
                let mail = match &to {
                    Some(address) => Some(
                        self.mailer
                            .prepare(
                                address,
                                &format!("Reassess by {}: {}", r.next_review_on, r.title),
                                &format!(
                                    "Hello,\n\nThe risk \"{}\" is due for reassessment on {}. Review its scores, treatment and controls, and save it (or confirm that nothing changed):\n{base_url}/risks/{}\n",
                                    r.title, r.next_review_on, r.id
                                ),
                            )
                            .await?,
                    ),
                    None => None,
                };
                let mut tx = self.db.begin_for(tenant).await?;
                if !store::take_review_reminder(&mut tx, tenant, r.id, r.next_review_on).await? {
                    continue;
                }
                if let Some(m) = mail {
                    self.mailer.enqueue(&mut tx, m).await?;
                }
                self.audit
                    .record_in(
                        &mut tx,
                        AuditRecord::tenant(tenant, Actor::System, "risk.reassessment_reminder", Outcome::Success)
                            .object(KIND, r.id)
                            .details(json!({ "due_on": r.next_review_on.to_string(), "mailed": usize::from(to.is_some()) })),
                    )
                    .await?;
                tx.commit().await?;
                sent += 1;
            }
        }
        if sent > 0 {
            self.mailer.wake();
        }
        Ok(sent)
    }
}
