//! The `Activities` service: defining activities, reading them and their runs, performing and
//! reviewing runs, "my tasks", the runs list with its CSV export; and keeping each control's
//! computed effectiveness current after every change.

use std::sync::Arc;

use attest_db::activity::{
    self as store, ActivityData, ActivityRow, NewRun, RunFilter, RunQuery, RunRow,
};
use attest_db::{Db, DbError, Tx};
use attest_types::{ActivityId, Actor, Clock, ControlId, EvidenceId, RunId, TenantId, UserId};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::schedule::{Frequency, Period, Schedule, WeekendRule};
use super::status::{
    self, ActivityFacts, Assessment, Effectiveness, EvidenceSpan, RunFacts, RunResult, RunState,
};
use super::{HORIZON_DAYS, KIND, LOOKBACK_DAYS, RUN_KIND};
use crate::access::{Caller, Denied, Granted, Permission, Visibility};
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::authn::sessions::VerifiedSession;
use crate::identity::Origin;
use crate::mail::Mailer;
use crate::ownership::{OwnerRefusal, contributor};

/// Largest page of runs.
pub const MAX_PAGE: i64 = 100;
/// Runs shown on an activity's page.
const RECENT_RUNS: i64 = 24;
/// Most evidence records on one run.
const MAX_EVIDENCE: usize = 20;

/// A failed activity operation.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// Missing, in another tenant, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The caller performed this run and so may not review it (SEC-42).
    #[error("the performer of a run cannot review it")]
    FourEyes,
    /// The run is not at the step this action belongs to.
    #[error("the run is {0}")]
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
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A mail could not be sealed.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

impl From<Denied> for ActivityError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}

fn invalid(field: &'static str, code: &'static str, message: &str) -> ActivityError {
    ActivityError::Invalid {
        field,
        code,
        message: message.to_owned(),
    }
}

fn corrupt(what: &'static str) -> ActivityError {
    ActivityError::Db(DbError::Corrupt(what))
}

fn parse_id(text: &str) -> Result<Uuid, ActivityError> {
    Uuid::parse_str(text.trim()).map_err(|_| ActivityError::NotFound)
}

/// The caller, who must see the whole tenant.
fn reader(session: &VerifiedSession) -> Result<Caller, ActivityError> {
    let caller = Caller::of(session)?;
    if caller.visibility != Visibility::Tenant {
        return Err(ActivityError::NotFound);
    }
    Ok(caller)
}

fn text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, ActivityError> {
    let t = value.trim();
    let one_line = field == "title";
    let bad_char = |c: char| c.is_control() && (one_line || !matches!(c, '\n' | '\r' | '\t'));
    if (required && t.is_empty()) || t.chars().count() > max || t.chars().any(bad_char) {
        return Err(invalid(
            field,
            "invalid",
            &if required {
                format!(
                    "Enter 1 to {max} characters{}.",
                    if one_line { ", on one line" } else { "" }
                )
            } else {
                format!("Plain text of at most {max} characters.")
            },
        ));
    }
    Ok(t.replace("\r\n", "\n"))
}

/// An activity's fields. Only these exist (SEC-37).
#[derive(Debug, Clone, Default)]
pub struct ActivityInput {
    /// What it is called.
    pub title: String,
    /// What to do.
    pub instructions: String,
    /// `weekly`, `monthly`, `quarterly`, `yearly` or `custom`.
    pub frequency: String,
    /// For `custom`: every this many days.
    pub interval_days: Option<i64>,
    /// The first period's first day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// `keep` (default), `before` or `after`: due dates on a weekend.
    pub weekend_rule: Option<String>,
    /// Who performs the runs (a user id).
    pub performer: String,
    /// Who reviews them (a user id; never the performer).
    pub reviewer: String,
    /// Days before the due date to remind the performer (default 7).
    pub remind_days: Option<i64>,
    /// Still scheduled (default true).
    pub active: Option<bool>,
}

struct ValidActivity {
    title: String,
    instructions: String,
    schedule: Schedule,
    performer: UserId,
    reviewer: UserId,
    remind_days: i32,
    active: bool,
}

/// An activity as shown.
#[derive(Debug, Clone)]
pub struct ActivityView {
    /// Id.
    pub id: ActivityId,
    /// Its control.
    pub control: ControlId,
    /// The control's reference.
    pub control_ref: String,
    /// The control's title.
    pub control_title: String,
    /// Title.
    pub title: String,
    /// What to do.
    pub instructions: String,
    /// When.
    pub schedule: Schedule,
    /// Performer.
    pub performer: Option<(UserId, String)>,
    /// Reviewer.
    pub reviewer: Option<(UserId, String)>,
    /// Days before the due date to remind.
    pub remind_days: i32,
    /// Still scheduled.
    pub active: bool,
}

/// A run as shown.
#[derive(Debug, Clone)]
pub struct RunView {
    /// Id.
    pub id: RunId,
    /// Its activity.
    pub activity: ActivityId,
    /// The activity's title.
    pub activity_title: String,
    /// Its control.
    pub control: ControlId,
    /// The control's reference.
    pub control_ref: String,
    /// The control's title.
    pub control_title: String,
    /// Its period and due date.
    pub period: Period,
    /// Where it stands.
    pub state: RunState,
    /// What was found.
    pub result: Option<RunResult>,
    /// The performer's comment.
    pub comment: String,
    /// Who performed it.
    pub performed_by: Option<String>,
    /// When.
    pub performed_at: Option<OffsetDateTime>,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<OffsetDateTime>,
    /// The reviewer's remarks.
    pub remarks: String,
    /// Past its due date and not approved.
    pub overdue: bool,
}

/// Evidence on a run as shown.
#[derive(Debug, Clone)]
pub struct RunEvidence {
    /// The record.
    pub id: EvidenceId,
    /// Its title.
    pub title: String,
    /// The version linked.
    pub version: i32,
    /// Its date or period.
    pub span: EvidenceSpan,
    /// Whether it covers the run's period.
    pub covers: bool,
}

/// A step of a run's history.
#[derive(Debug, Clone)]
pub struct RunStep {
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Remarks or the evidence named.
    pub note: String,
    /// When.
    pub at: OffsetDateTime,
}

/// An activity with its recent runs and what the caller may do.
#[derive(Debug, Clone)]
pub struct ActivityDetail {
    /// The activity.
    pub activity: ActivityView,
    /// Its latest runs, newest first.
    pub runs: Vec<RunView>,
    /// May change it.
    pub can_edit: bool,
}

/// A run with its evidence, history and what the caller may do.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run.
    pub run: RunView,
    /// The activity's instructions.
    pub instructions: String,
    /// The activity's performer and reviewer.
    pub people: (Option<UserId>, Option<UserId>),
    /// Its evidence.
    pub evidence: Vec<RunEvidence>,
    /// Its history.
    pub steps: Vec<RunStep>,
    /// May perform (submit) it now.
    pub can_perform: bool,
    /// May review it now.
    pub can_review: bool,
    /// Would review it, but performed it (SEC-42).
    pub performed_it: bool,
}

/// What a performer submits.
#[derive(Debug, Clone, Default)]
pub struct PerformInput {
    /// `effective`, `deficient` or `not_performed`.
    pub result: String,
    /// Findings.
    pub comment: String,
    /// Evidence record ids (the newest released version of each is linked).
    pub evidence: Vec<String>,
}

/// The caller's open work.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    /// Runs to perform (theirs, open, due within 30 days or overdue).
    pub to_perform: Vec<RunView>,
    /// Runs to review (submitted by someone else).
    pub to_review: Vec<RunView>,
}

/// The programme's state for the dashboard.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Controls by effectiveness, best first.
    pub effectiveness: Vec<(Effectiveness, i64)>,
    /// Runs past their due date and not approved.
    pub overdue_runs: i64,
    /// The ten most overdue.
    pub overdue: Vec<RunView>,
}

/// A runs list request.
#[derive(Debug, Clone, Default)]
pub struct RunListRequest {
    /// `open` (default), `overdue`, `review`, `approved` or `all`.
    pub show: Option<String>,
    /// `perform` or `review`: only the caller's.
    pub mine: Option<String>,
    /// Only this control's.
    pub control: Option<String>,
    /// The id of the last run of the previous page.
    pub after: Option<String>,
    /// Page size (1 to 100).
    pub limit: Option<i64>,
}

/// A page of runs.
#[derive(Debug, Clone)]
pub struct RunPage {
    /// The runs.
    pub items: Vec<RunView>,
    /// The cursor of the next page.
    pub next: Option<RunId>,
}

/// The activities service.
#[derive(Clone)]
pub struct Activities {
    pub(super) db: Db,
    pub(super) audit: AuditLog,
    pub(super) mailer: Mailer,
    pub(super) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Activities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activities").finish_non_exhaustive()
    }
}

pub(super) fn schedule_of(row: &ActivityRow) -> Result<Schedule, ActivityError> {
    let frequency = Frequency::parse(&row.frequency, row.interval_days.map(i64::from))
        .map_err(|_| corrupt("activity.frequency"))?;
    let weekends =
        WeekendRule::parse(&row.weekend_rule).ok_or_else(|| corrupt("activity.weekend_rule"))?;
    Schedule::new(row.starts_on, frequency, weekends).map_err(|_| corrupt("activity.starts_on"))
}

fn activity_view(row: ActivityRow) -> Result<ActivityView, ActivityError> {
    Ok(ActivityView {
        schedule: schedule_of(&row)?,
        id: ActivityId::from_uuid(row.id),
        control: ControlId::from_uuid(row.control_id),
        control_ref: row.control_ref,
        control_title: row.control_title,
        title: row.title,
        instructions: row.instructions,
        performer: row
            .performer_id
            .map(|u| (UserId::from_uuid(u), row.performer_name.unwrap_or_default())),
        reviewer: row
            .reviewer_id
            .map(|u| (UserId::from_uuid(u), row.reviewer_name.unwrap_or_default())),
        remind_days: row.remind_days,
        active: row.active,
    })
}

fn run_view(row: RunRow, today: Date) -> Result<RunView, ActivityError> {
    let state = RunState::parse(&row.state).ok_or_else(|| corrupt("activity_run.state"))?;
    let result = match row.result.as_deref() {
        None => None,
        Some(r) => Some(RunResult::parse(r).ok_or_else(|| corrupt("activity_run.result"))?),
    };
    Ok(RunView {
        id: RunId::from_uuid(row.id),
        activity: ActivityId::from_uuid(row.activity_id),
        activity_title: row.activity_title,
        control: ControlId::from_uuid(row.control_id),
        control_ref: row.control_ref,
        control_title: row.control_title,
        period: Period {
            start: row.period_start,
            end: row.period_end,
            due: row.due_on,
        },
        overdue: state != RunState::Approved && row.due_on < today,
        state,
        result,
        comment: row.comment,
        performed_by: row.performed_by_name,
        performed_at: row.performed_at,
        reviewed_by: row.reviewed_by_name,
        reviewed_at: row.reviewed_at,
        remarks: row.remarks,
    })
}

/// The runs of `schedule` an activity wants from `today` on, for the store.
pub(super) fn wanted_runs(schedule: &Schedule, today: Date) -> Vec<NewRun> {
    let until = today
        .checked_add(Duration::days(HORIZON_DAYS))
        .unwrap_or(today);
    schedule
        .periods_between(today, until, 400)
        .into_iter()
        .map(|p| NewRun {
            start: p.start,
            end: p.end,
            due: p.due,
        })
        .collect()
}

impl Activities {
    /// The service.
    #[must_use]
    pub fn new(db: Db, audit: AuditLog, mailer: Mailer, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            audit,
            mailer,
            clock,
        }
    }

    pub(super) fn today(&self) -> Date {
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
        kind: &str,
        requested: &str,
        action: &str,
        err: ActivityError,
        origin: Origin,
    ) -> ActivityError {
        if matches!(
            err,
            ActivityError::NotFound | ActivityError::Forbidden | ActivityError::FourEyes
        ) && let Err(e) = caller
            .audit_denial(&self.audit, kind, requested, action, origin)
            .await
        {
            return e.into();
        }
        err
    }

    /// Whether the caller may define the activities of a control with this owner.
    fn may_define(caller: &Caller, control_owner: Option<Uuid>) -> bool {
        caller.may(Permission::ManageContent)
            || (caller.may(Permission::Contribute) && control_owner == Some(caller.user.as_uuid()))
    }

    async fn member(
        &self,
        tenant: TenantId,
        field: &'static str,
        user: &str,
    ) -> Result<UserId, ActivityError> {
        if user.trim().is_empty() {
            return Err(invalid(field, "required", "Choose a member."));
        }
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
        tenant: TenantId,
        input: &ActivityInput,
    ) -> Result<ValidActivity, ActivityError> {
        let title = text("title", &input.title, 200, true)?;
        let instructions = text("instructions", &input.instructions, 5_000, false)?;
        let frequency = Frequency::parse(&input.frequency, input.interval_days).map_err(|m| {
            invalid(
                if input.frequency.trim() == "custom" {
                    "interval_days"
                } else {
                    "frequency"
                },
                "invalid_frequency",
                m,
            )
        })?;
        let starts_on = super::schedule::parse_day(&input.starts_on).ok_or_else(|| {
            invalid(
                "starts_on",
                "invalid_date",
                "Give the first day as YYYY-MM-DD.",
            )
        })?;
        let weekends = WeekendRule::parse(input.weekend_rule.as_deref().unwrap_or_default())
            .ok_or_else(|| {
                invalid(
                    "weekend_rule",
                    "invalid_weekend_rule",
                    "Weekend due dates: keep, before or after.",
                )
            })?;
        let schedule = Schedule::new(starts_on, frequency, weekends)
            .map_err(|m| invalid("starts_on", "invalid_date", m))?;
        let remind_days = input.remind_days.unwrap_or(7);
        if !(0..=60).contains(&remind_days) {
            return Err(invalid(
                "remind_days",
                "invalid_reminder",
                "Remind 0 to 60 days before the due date.",
            ));
        }
        let performer = self.member(tenant, "performer", &input.performer).await?;
        let reviewer = self.member(tenant, "reviewer", &input.reviewer).await?;
        if performer == reviewer {
            return Err(invalid(
                "reviewer",
                "reviewer_is_performer",
                "The reviewer must be someone other than the performer (four eyes).",
            ));
        }
        Ok(ValidActivity {
            title,
            instructions,
            schedule,
            performer,
            reviewer,
            remind_days: i32::try_from(remind_days).unwrap_or(7),
            active: input.active.unwrap_or(true),
        })
    }

    /// Recomputes a control's effectiveness from its runs on `today` and keeps it.
    pub(super) async fn refresh(
        tx: &mut Tx,
        tenant: TenantId,
        control: Uuid,
        today: Date,
    ) -> Result<Assessment, ActivityError> {
        let assessment = Self::compute(tx, tenant, control, today).await?;
        store::set_effectiveness(
            tx,
            tenant,
            control,
            assessment.state.as_str(),
            &assessment.reasons.join("\n"),
            assessment.recheck_on,
        )
        .await?;
        Ok(assessment)
    }

    /// A control's effectiveness computed from its runs on `today`.
    async fn compute(
        tx: &mut Tx,
        tenant: TenantId,
        control: Uuid,
        today: Date,
    ) -> Result<Assessment, ActivityError> {
        let since = today
            .checked_sub(Duration::days(LOOKBACK_DAYS))
            .unwrap_or(today);
        let activities = store::activities_of(tx, tenant, control).await?;
        let runs = store::facts_of(tx, tenant, control, since).await?;
        let evidence = store::evidence_facts_of(tx, tenant, control, since).await?;
        let mut facts = Vec::new();
        for a in activities.iter().filter(|a| a.active) {
            let mut list = Vec::new();
            for r in runs.iter().filter(|r| r.activity_id == a.id) {
                list.push(RunFacts {
                    period: Period {
                        start: r.period_start,
                        end: r.period_end,
                        due: r.due_on,
                    },
                    state: RunState::parse(&r.state)
                        .ok_or_else(|| corrupt("activity_run.state"))?,
                    result: r.result.as_deref().and_then(RunResult::parse),
                    performed_on: r.performed_at.map(OffsetDateTime::date),
                    evidence: evidence
                        .iter()
                        .filter(|e| e.0 == r.id)
                        .map(|e| EvidenceSpan { from: e.1, to: e.2 })
                        .collect(),
                });
            }
            facts.push(ActivityFacts {
                title: a.title.clone(),
                runs: list,
            });
        }
        Ok(status::assess(today, &facts))
    }

    /// Defines a recurring activity for a control (compliance managers and above, or the
    /// control's owner) and schedules its runs.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`], [`ActivityError::Forbidden`] or [`ActivityError::Invalid`].
    pub async fn create(
        &self,
        session: &VerifiedSession,
        control: &str,
        input: &ActivityInput,
        origin: Origin,
    ) -> Result<ActivityId, ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let cid = parse_id(control)?;
            {
                let mut tx = self.db.read_for(caller.tenant).await?;
                let c = attest_db::control::get(&mut tx, caller.tenant, cid)
                    .await?
                    .ok_or(ActivityError::NotFound)?;
                tx.commit().await?;
                if !Self::may_define(&caller, c.owner_id) {
                    return Err(ActivityError::Forbidden);
                }
            }
            let v = self.validated(caller.tenant, input).await?;
            let id = Uuid::new_v4();
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            attest_db::control::get(&mut tx, caller.tenant, cid)
                .await?
                .ok_or(ActivityError::NotFound)?;
            store::insert_activity(&mut tx, caller.tenant, &data(id, cid, &v, caller.user, now))
                .await?;
            let made = if v.active {
                store::insert_runs(
                    &mut tx,
                    caller.tenant,
                    id,
                    cid,
                    &wanted_runs(&v.schedule, self.today()),
                    now,
                )
                .await?
            } else {
                0
            };
            Self::refresh(&mut tx, caller.tenant, cid, self.today()).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "activity.create", origin)
                        .object(KIND, id)
                        .details(serde_json::json!({
                            "control": cid,
                            "frequency": v.schedule.frequency.as_str(),
                            "interval_days": v.schedule.frequency.days(),
                            "starts_on": v.schedule.starts_on.to_string(),
                            "performer": v.performer,
                            "reviewer": v.reviewer,
                            "runs_scheduled": made,
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(ActivityId::from_uuid(id))
        }
        .await;
        match result {
            Ok(id) => Ok(id),
            Err(e) => Err(self
                .denied(
                    &caller,
                    crate::controls::KIND,
                    control,
                    "create_activity",
                    e,
                    origin,
                )
                .await),
        }
    }

    /// Changes an activity. A changed schedule replaces the runs not yet worked on that are
    /// not yet due; runs already performed stay as they are.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`], [`ActivityError::Forbidden`] or [`ActivityError::Invalid`].
    pub async fn update(
        &self,
        session: &VerifiedSession,
        id: &str,
        input: &ActivityInput,
        origin: Origin,
    ) -> Result<(), ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let aid = parse_id(id)?;
            let current = {
                let mut tx = self.db.read_for(caller.tenant).await?;
                let a = store::activity(&mut tx, caller.tenant, aid)
                    .await?
                    .ok_or(ActivityError::NotFound)?;
                tx.commit().await?;
                a
            };
            if !Self::may_define(&caller, current.control_owner) {
                return Err(ActivityError::Forbidden);
            }
            let v = self.validated(caller.tenant, input).await?;
            let before = schedule_of(&current)?;
            let now = self.clock.now();
            let today = self.today();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            if !store::update_activity(
                &mut tx,
                caller.tenant,
                &data(aid, current.control_id, &v, caller.user, now),
            )
            .await?
            {
                return Err(ActivityError::NotFound);
            }
            let mut dropped = 0;
            if before != v.schedule || !v.active {
                dropped = store::drop_untouched_runs(&mut tx, caller.tenant, aid, today).await?;
            }
            let made = if v.active {
                store::insert_runs(
                    &mut tx,
                    caller.tenant,
                    aid,
                    current.control_id,
                    &wanted_runs(&v.schedule, today),
                    now,
                )
                .await?
            } else {
                0
            };
            Self::refresh(&mut tx, caller.tenant, current.control_id, today).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "activity.update", origin)
                        .object(KIND, aid)
                        .details(serde_json::json!({
                            "schedule_changed": before != v.schedule,
                            "frequency": v.schedule.frequency.as_str(),
                            "starts_on": v.schedule.starts_on.to_string(),
                            "performer": v.performer,
                            "reviewer": v.reviewer,
                            "active": v.active,
                            "runs_dropped": dropped,
                            "runs_scheduled": made,
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.denied(&caller, KIND, id, "update", e, origin).await),
        }
    }

    /// A control's activities.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`].
    pub async fn of_control(
        &self,
        session: &VerifiedSession,
        control: &str,
    ) -> Result<Granted<Vec<ActivityView>>, ActivityError> {
        let caller = reader(session)?;
        let cid = parse_id(control)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        let rows = store::activities_of(&mut tx, caller.tenant, cid).await?;
        tx.commit().await?;
        Ok(Granted::new(
            rows.into_iter()
                .map(activity_view)
                .collect::<Result<_, _>>()?,
        ))
    }

    /// An activity with its latest runs.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`].
    pub async fn get(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<ActivityDetail>, ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let aid = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = store::activity(&mut tx, caller.tenant, aid)
                .await?
                .ok_or(ActivityError::NotFound)?;
            let runs = store::runs_of(&mut tx, caller.tenant, aid, RECENT_RUNS).await?;
            tx.commit().await?;
            let today = self.today();
            let can_edit = Self::may_define(&caller, row.control_owner);
            Ok(ActivityDetail {
                activity: activity_view(row)?,
                runs: runs
                    .into_iter()
                    .map(|r| run_view(r, today))
                    .collect::<Result<_, _>>()?,
                can_edit,
            })
        }
        .await;
        match result {
            Ok(d) => Ok(Granted::new(d)),
            Err(e) => Err(self.denied(&caller, KIND, id, "read", e, origin).await),
        }
    }

    fn may_perform(caller: &Caller, run: &RunRow) -> bool {
        caller.may(Permission::ManageContent)
            || (caller.may(Permission::Contribute)
                && run.performer_id == Some(caller.user.as_uuid()))
    }

    fn may_review(caller: &Caller, run: &RunRow) -> bool {
        caller.may(Permission::ManageContent)
            || (caller.may(Permission::Contribute)
                && run.reviewer_id == Some(caller.user.as_uuid()))
    }

    /// A run with its evidence and history. Audited as a read.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`].
    pub async fn run(
        &self,
        session: &VerifiedSession,
        id: &str,
        origin: Origin,
    ) -> Result<Granted<RunDetail>, ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let mut tx = self.db.read_for(caller.tenant).await?;
            let row = store::run(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(ActivityError::NotFound)?;
            let activity = store::activity(&mut tx, caller.tenant, row.activity_id)
                .await?
                .ok_or(ActivityError::NotFound)?;
            let evidence = store::evidence_of(&mut tx, caller.tenant, rid).await?;
            let steps = store::events_of(&mut tx, caller.tenant, rid).await?;
            tx.commit().await?;
            let open = matches!(row.state.as_str(), "scheduled" | "returned");
            let performed_it = row.performed_by == Some(caller.user.as_uuid());
            let can_perform = open && Self::may_perform(&caller, &row);
            let can_review =
                row.state == "submitted" && !performed_it && Self::may_review(&caller, &row);
            let people = (
                row.performer_id.map(UserId::from_uuid),
                row.reviewer_id.map(UserId::from_uuid),
            );
            let view = run_view(row, self.today())?;
            let period = view.period;
            Ok(RunDetail {
                evidence: evidence
                    .into_iter()
                    .map(|e| {
                        let span = EvidenceSpan {
                            from: e.effective_from,
                            to: e.effective_to,
                        };
                        RunEvidence {
                            id: EvidenceId::from_uuid(e.evidence_id),
                            title: e.title,
                            version: e.version,
                            covers: span.covers(&period),
                            span,
                        }
                    })
                    .collect(),
                steps: steps
                    .into_iter()
                    .map(|s| RunStep {
                        actor: s.actor.unwrap_or_default(),
                        action: s.action,
                        note: s.note,
                        at: s.at,
                    })
                    .collect(),
                can_perform,
                can_review,
                performed_it: performed_it && view.state == RunState::Submitted,
                instructions: activity.instructions,
                people,
                run: view,
            })
        }
        .await;
        match result {
            Ok(d) => {
                self.audit
                    .record_read(
                        Self::record(&caller, "activity_run.read", origin)
                            .object(RUN_KIND, d.run.id),
                    )
                    .await?;
                Ok(Granted::new(d))
            }
            Err(e) => Err(self.denied(&caller, RUN_KIND, id, "read", e, origin).await),
        }
    }

    /// Records a run's result, comment and evidence and submits it for review (its performer,
    /// or a compliance manager standing in). The evidence named replaces what was linked; the
    /// newest released version of each record is linked with its effective date.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`], [`ActivityError::Forbidden`],
    /// [`ActivityError::WrongState`] or [`ActivityError::Invalid`].
    pub async fn perform(
        &self,
        session: &VerifiedSession,
        id: &str,
        input: &PerformInput,
        origin: Origin,
    ) -> Result<(), ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::run(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(ActivityError::NotFound)?;
            if !Self::may_perform(&caller, &row) {
                return Err(ActivityError::Forbidden);
            }
            if !matches!(row.state.as_str(), "scheduled" | "returned") {
                return Err(ActivityError::WrongState(if row.state == "approved" {
                    "approved"
                } else {
                    "awaiting review"
                }));
            }
            // Only now the input: a caller who may not act learns nothing from validation.
            let result = RunResult::parse(&input.result).ok_or_else(|| {
                invalid(
                    "result",
                    "invalid_result",
                    "Choose effective, deficient or not performed.",
                )
            })?;
            let comment = text("comment", &input.comment, 5_000, false)?;
            if result != RunResult::Effective && comment.is_empty() {
                return Err(invalid(
                    "comment",
                    "comment_required",
                    "Say what was found or why it was not performed.",
                ));
            }
            let mut wanted = Vec::new();
            for e in &input.evidence {
                let e = e.trim();
                if e.is_empty() {
                    continue;
                }
                let u = Uuid::parse_str(e).map_err(|_| {
                    invalid(
                        "evidence",
                        "unknown_evidence",
                        "One of the evidence records does not exist.",
                    )
                })?;
                if !wanted.contains(&u) {
                    wanted.push(u);
                }
            }
            if wanted.len() > MAX_EVIDENCE {
                return Err(invalid(
                    "evidence",
                    "too_much_evidence",
                    "Link at most 20 evidence records to a run.",
                ));
            }
            // The evidence: each must be a record of the tenant with a released version.
            let mut linked = Vec::new();
            for u in &wanted {
                let unknown = || {
                    invalid(
                        "evidence",
                        "unknown_evidence",
                        "One of the evidence records does not exist or has no released file.",
                    )
                };
                let record = attest_db::evidence::get(&mut tx, caller.tenant, *u)
                    .await?
                    .ok_or_else(unknown)?;
                let version = attest_db::evidence::versions(&mut tx, caller.tenant, *u)
                    .await?
                    .into_iter()
                    .filter(|v| v.status == "released")
                    .max_by_key(|v| v.version)
                    .ok_or_else(unknown)?;
                linked.push((*u, record.title, version));
            }
            let before: Vec<Uuid> = store::evidence_of(&mut tx, caller.tenant, rid)
                .await?
                .into_iter()
                .map(|e| e.evidence_id)
                .collect();
            for old in before.iter().filter(|o| !wanted.contains(o)) {
                store::unlink_evidence(&mut tx, caller.tenant, rid, *old).await?;
                store::add_event(
                    &mut tx,
                    caller.tenant,
                    rid,
                    caller.user,
                    "evidence_unlinked",
                    &old.to_string(),
                    now,
                )
                .await?;
            }
            for (u, title, v) in &linked {
                let number =
                    i32::try_from(v.version).map_err(|_| corrupt("evidence_version.version"))?;
                store::link_evidence(
                    &mut tx,
                    caller.tenant,
                    rid,
                    *u,
                    number,
                    (v.effective_from, v.effective_to),
                    caller.user,
                    now,
                )
                .await?;
                if !before.contains(u) {
                    store::add_event(
                        &mut tx,
                        caller.tenant,
                        rid,
                        caller.user,
                        "evidence_linked",
                        &format!("{title} (version {number})"),
                        now,
                    )
                    .await?;
                }
            }
            if !store::perform(
                &mut tx,
                caller.tenant,
                rid,
                result.as_str(),
                &comment,
                caller.user,
                now,
            )
            .await?
            {
                return Err(ActivityError::WrongState("no longer open"));
            }
            store::add_event(
                &mut tx,
                caller.tenant,
                rid,
                caller.user,
                "submitted",
                result.label(),
                now,
            )
            .await?;
            Self::refresh(&mut tx, caller.tenant, row.control_id, now.date()).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(&caller, "activity_run.submit", origin)
                        .object(RUN_KIND, rid)
                        .details(serde_json::json!({
                            "activity": row.activity_id,
                            "control": row.control_id,
                            "result": result.as_str(),
                            "evidence": wanted,
                            "on_time": now.date() <= row.due_on,
                            "standing_in": row.performer_id != Some(caller.user.as_uuid()),
                        })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .denied(&caller, RUN_KIND, id, "perform", e, origin)
                .await),
        }
    }

    /// Approves a submitted run, or returns it to its performer with remarks (required). The
    /// reviewer is the activity's reviewer or a compliance manager, and never the run's
    /// performer (SEC-42).
    ///
    /// # Errors
    /// [`ActivityError::NotFound`], [`ActivityError::Forbidden`], [`ActivityError::FourEyes`],
    /// [`ActivityError::WrongState`] or [`ActivityError::Invalid`].
    pub async fn review(
        &self,
        session: &VerifiedSession,
        id: &str,
        approve: Option<bool>,
        remarks: &str,
        origin: Origin,
    ) -> Result<(), ActivityError> {
        let caller = reader(session)?;
        let result = async {
            let rid = parse_id(id)?;
            let now = self.clock.now();
            let mut tx = self.db.begin_for(caller.tenant).await?;
            let row = store::run(&mut tx, caller.tenant, rid)
                .await?
                .ok_or(ActivityError::NotFound)?;
            // Four eyes first: whoever performed the run is told why, whatever their role.
            if row.performed_by == Some(caller.user.as_uuid()) {
                return Err(ActivityError::FourEyes);
            }
            if !Self::may_review(&caller, &row) {
                return Err(ActivityError::Forbidden);
            }
            if row.state != "submitted" {
                return Err(ActivityError::WrongState(match row.state.as_str() {
                    "approved" => "approved",
                    "returned" => "returned",
                    _ => "not performed yet",
                }));
            }
            let approve = approve.ok_or_else(|| {
                invalid(
                    "decision",
                    "decision_required",
                    "Approve the run or return it.",
                )
            })?;
            let remarks = text("remarks", remarks, 5_000, false)?;
            if !approve && remarks.is_empty() {
                return Err(invalid(
                    "remarks",
                    "remarks_required",
                    "Say what the performer should do before resubmitting.",
                ));
            }
            if !store::review(
                &mut tx,
                caller.tenant,
                rid,
                approve,
                &remarks,
                caller.user,
                now,
            )
            .await?
            {
                return Err(ActivityError::WrongState("no longer awaiting review"));
            }
            let action = if approve { "approved" } else { "returned" };
            store::add_event(
                &mut tx,
                caller.tenant,
                rid,
                caller.user,
                action,
                &remarks,
                now,
            )
            .await?;
            Self::refresh(&mut tx, caller.tenant, row.control_id, now.date()).await?;
            self.audit
                .record_in(
                    &mut tx,
                    Self::record(
                        &caller,
                        if approve {
                            "activity_run.approve"
                        } else {
                            "activity_run.return"
                        },
                        origin,
                    )
                    .object(RUN_KIND, rid)
                    .details(serde_json::json!({
                        "activity": row.activity_id,
                        "control": row.control_id,
                        "performed_by": row.performed_by,
                    })),
                )
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .denied(&caller, RUN_KIND, id, "review", e, origin)
                .await),
        }
    }

    /// The caller's open work: runs to perform (open, due within 30 days or overdue) and runs
    /// to review.
    ///
    /// # Errors
    /// On storage failure; members who see only shared items have none.
    pub async fn tasks(&self, session: &VerifiedSession) -> Result<Granted<Tasks>, ActivityError> {
        let Ok(caller) = reader(session) else {
            return Ok(Granted::new(Tasks::default()));
        };
        let today = self.today();
        let me = Some(caller.user.as_uuid());
        let mut tx = self.db.read_for(caller.tenant).await?;
        let perform = store::list_runs(
            &mut tx,
            caller.tenant,
            &RunQuery {
                filter: RunFilter::Open,
                performer: me,
                reviewer: None,
                control: None,
                due_until: today.checked_add(Duration::days(30)),
                after: None,
                limit: 50,
            },
        )
        .await?;
        let review = store::list_runs(
            &mut tx,
            caller.tenant,
            &RunQuery {
                filter: RunFilter::AwaitingReview,
                performer: None,
                reviewer: me,
                control: None,
                due_until: None,
                after: None,
                limit: 50,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Granted::new(Tasks {
            to_perform: perform
                .into_iter()
                .filter(|r| r.state != "submitted")
                .map(|r| run_view(r, today))
                .collect::<Result<_, _>>()?,
            to_review: review
                .into_iter()
                .filter(|r| r.performed_by != me)
                .map(|r| run_view(r, today))
                .collect::<Result<_, _>>()?,
        }))
    }

    /// A page of runs, by due date.
    ///
    /// # Errors
    /// [`ActivityError::Invalid`] for a bad filter, cursor or page size.
    pub async fn list_runs(
        &self,
        session: &VerifiedSession,
        req: &RunListRequest,
    ) -> Result<RunPage, ActivityError> {
        let caller = reader(session)?;
        let today = self.today();
        let limit = req.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid(
                "limit",
                "invalid_limit",
                "The page size must be between 1 and 100.",
            ));
        }
        let filter = match req.show.as_deref().map(str::trim) {
            None | Some("" | "open") => RunFilter::Open,
            Some("overdue") => RunFilter::Overdue(today),
            Some("review") => RunFilter::AwaitingReview,
            Some("approved") => RunFilter::Approved,
            Some("all") => RunFilter::All,
            Some(_) => {
                return Err(invalid(
                    "show",
                    "invalid_filter",
                    "Show open, overdue, review, approved or all.",
                ));
            }
        };
        let me = Some(caller.user.as_uuid());
        let (performer, reviewer) = match req.mine.as_deref().map(str::trim) {
            None | Some("") => (None, None),
            Some("perform") => (me, None),
            Some("review") => (None, me),
            Some(_) => {
                return Err(invalid(
                    "mine",
                    "invalid_filter",
                    "Mine is perform or review.",
                ));
            }
        };
        let control = match req.control.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
                invalid(
                    "control",
                    "invalid_control",
                    "The control filter is not a control.",
                )
            })?),
        };
        let mut tx = self.db.read_for(caller.tenant).await?;
        let after = match req.after.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => {
                let bad = || invalid("after", "invalid_cursor", "The page cursor is not valid.");
                let id = Uuid::parse_str(a).map_err(|_| bad())?;
                let r = store::run(&mut tx, caller.tenant, id)
                    .await?
                    .ok_or_else(bad)?;
                Some((r.due_on, r.id))
            }
        };
        let rows = store::list_runs(
            &mut tx,
            caller.tenant,
            &RunQuery {
                filter,
                performer,
                reviewer,
                control,
                due_until: None,
                after,
                limit: limit + 1,
            },
        )
        .await?;
        tx.commit().await?;
        let keep = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > keep;
        let items: Vec<RunView> = rows
            .into_iter()
            .take(keep)
            .map(|r| run_view(r, today))
            .collect::<Result<_, _>>()?;
        let next = more.then(|| items.last().map(|r| r.id)).flatten();
        Ok(RunPage { items, next })
    }

    /// The runs of a list request as CSV (every page), formula cells escaped (SEC-48).
    /// Audited.
    ///
    /// # Errors
    /// [`ActivityError::Forbidden`] or [`ActivityError::Invalid`].
    pub async fn export_csv(
        &self,
        session: &VerifiedSession,
        req: &RunListRequest,
        origin: Origin,
    ) -> Result<Granted<String>, ActivityError> {
        let caller = reader(session)?;
        caller.require(Permission::Export)?;
        let mut table = crate::csv_out::Table::new(&[
            "control",
            "activity",
            "period start",
            "period end",
            "due",
            "state",
            "result",
            "performed by",
            "reviewed by",
            "overdue",
        ]);
        table
            .all_pages(
                |after| {
                    let page = RunListRequest {
                        limit: Some(MAX_PAGE),
                        after,
                        ..req.clone()
                    };
                    async move {
                        let p = self.list_runs(session, &page).await?;
                        Ok::<_, ActivityError>((p.items, p.next.map(|n| n.to_string())))
                    }
                },
                |r| {
                    vec![
                        r.control_ref.clone(),
                        r.activity_title.clone(),
                        r.period.start.to_string(),
                        r.period.end.to_string(),
                        r.period.due.to_string(),
                        r.state.label().to_owned(),
                        r.result
                            .map(RunResult::label)
                            .unwrap_or_default()
                            .to_owned(),
                        r.performed_by.clone().unwrap_or_default(),
                        r.reviewed_by.clone().unwrap_or_default(),
                        if r.overdue { "yes" } else { "no" }.to_owned(),
                    ]
                },
            )
            .await?;
        let rows = table.rows();
        self.audit
            .record_read(
                AuditRecord::tenant(
                    caller.tenant,
                    Actor::User(caller.user),
                    "activity_run.export",
                    Outcome::Success,
                )
                .request(origin.ip, origin.request_id)
                .details(serde_json::json!({ "rows": rows })),
            )
            .await?;
        Ok(Granted::new(table.finish()))
    }

    /// The programme's state for the dashboard: controls by effectiveness (those that do not
    /// apply left out), how many runs are overdue, and the ten most overdue.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`] for members who see only shared items.
    pub async fn summary(
        &self,
        session: &VerifiedSession,
    ) -> Result<Granted<Summary>, ActivityError> {
        let caller = reader(session)?;
        let today = self.today();
        let mut tx = self.db.read_for(caller.tenant).await?;
        // From the tallies the triggers keep (migration 0017), not a walk over every control.
        let counts = attest_db::tally::controls_by_effectiveness(&mut tx, caller.tenant).await?;
        let overdue_runs =
            attest_db::tally::open_runs_due_before(&mut tx, caller.tenant, today).await?;
        let overdue = store::list_runs(
            &mut tx,
            caller.tenant,
            &RunQuery {
                filter: RunFilter::Overdue(today),
                performer: None,
                reviewer: None,
                control: None,
                due_until: None,
                after: None,
                limit: 10,
            },
        )
        .await?;
        tx.commit().await?;
        let effectiveness = Effectiveness::ALL
            .iter()
            .map(|e| {
                (
                    *e,
                    counts
                        .iter()
                        .filter(|c| c.0 == e.as_str())
                        .map(|c| c.1)
                        .sum(),
                )
            })
            .collect();
        Ok(Granted::new(Summary {
            effectiveness,
            overdue_runs,
            overdue: overdue
                .into_iter()
                .map(|r| run_view(r, today))
                .collect::<Result<_, _>>()?,
        }))
    }

    /// A control's effectiveness computed now from its runs (for its page), without storing.
    ///
    /// # Errors
    /// [`ActivityError::NotFound`].
    pub async fn assess(
        &self,
        session: &VerifiedSession,
        control: &str,
    ) -> Result<Granted<Assessment>, ActivityError> {
        let caller = reader(session)?;
        let cid = parse_id(control)?;
        let mut tx = self.db.read_for(caller.tenant).await?;
        attest_db::control::get(&mut tx, caller.tenant, cid)
            .await?
            .ok_or(ActivityError::NotFound)?;
        let a = Self::compute(&mut tx, caller.tenant, cid, self.today()).await?;
        tx.commit().await?;
        Ok(Granted::new(a))
    }
}

fn data<'a>(
    id: Uuid,
    control: Uuid,
    v: &'a ValidActivity,
    by: UserId,
    now: OffsetDateTime,
) -> ActivityData<'a> {
    ActivityData {
        id,
        control,
        title: &v.title,
        instructions: &v.instructions,
        frequency: v.schedule.frequency.as_str(),
        interval_days: v.schedule.frequency.days().map(i32::from),
        starts_on: v.schedule.starts_on,
        weekend_rule: v.schedule.weekends.as_str(),
        performer: v.performer,
        reviewer: v.reviewer,
        remind_days: v.remind_days,
        active: v.active,
        by,
        now,
    }
}
