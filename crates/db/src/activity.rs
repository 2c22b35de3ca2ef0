//! Storage of control activities, their runs, the evidence linked to runs and each run's
//! history; the facts a control's effectiveness is computed from and where it is kept; the
//! queries behind reminders, "my tasks" and the dashboard. Tenant-filtered, under row-level
//! security on PostgreSQL.

use attest_types::{TenantId, UserId};
use sqlx::FromRow;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{DbError, Tx};

/// An activity, with the names of the people on it and its control.
#[derive(Debug, Clone, FromRow)]
pub struct ActivityRow {
    /// Id.
    pub id: Uuid,
    /// Its control.
    pub control_id: Uuid,
    /// The control's reference.
    pub control_ref: String,
    /// The control's title.
    pub control_title: String,
    /// The control's owner.
    pub control_owner: Option<Uuid>,
    /// Title.
    pub title: String,
    /// What to do.
    pub instructions: String,
    /// `weekly`, `monthly`, `quarterly`, `yearly` or `custom`.
    pub frequency: String,
    /// Custom interval.
    pub interval_days: Option<i32>,
    /// The first period's first day.
    pub starts_on: Date,
    /// `keep`, `before` or `after`.
    pub weekend_rule: String,
    /// Performer.
    pub performer_id: Option<Uuid>,
    /// Performer's name.
    pub performer_name: Option<String>,
    /// Reviewer.
    pub reviewer_id: Option<Uuid>,
    /// Reviewer's name.
    pub reviewer_name: Option<String>,
    /// Days before the due date to remind.
    pub remind_days: i32,
    /// Still scheduled.
    pub active: bool,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// An activity's facts to store.
#[derive(Debug, Clone)]
pub struct ActivityData<'a> {
    /// Id.
    pub id: Uuid,
    /// Its control.
    pub control: Uuid,
    /// Title.
    pub title: &'a str,
    /// What to do.
    pub instructions: &'a str,
    /// Frequency name.
    pub frequency: &'a str,
    /// Custom interval.
    pub interval_days: Option<i32>,
    /// First day.
    pub starts_on: Date,
    /// Weekend rule name.
    pub weekend_rule: &'a str,
    /// Performer.
    pub performer: UserId,
    /// Reviewer.
    pub reviewer: UserId,
    /// Days before the due date to remind.
    pub remind_days: i32,
    /// Still scheduled.
    pub active: bool,
    /// Who.
    pub by: UserId,
    /// Now.
    pub now: OffsetDateTime,
}

macro_rules! select_activity {
    () => {
        "SELECT a.id, a.control_id, c.ref AS control_ref, c.title AS control_title, c.owner_id AS control_owner, \
         a.title, a.instructions, a.frequency, a.interval_days, a.starts_on, a.weekend_rule, \
         a.performer_id, p.display_name AS performer_name, a.reviewer_id, r.display_name AS reviewer_name, \
         a.remind_days, a.active, a.created_at, a.updated_at \
         FROM activity a JOIN control c ON c.id = a.control_id \
         LEFT JOIN app_user p ON p.id = a.performer_id LEFT JOIN app_user r ON r.id = a.reviewer_id "
    };
}

/// Stores an activity.
///
/// # Errors
/// On database failure.
pub async fn insert_activity(
    tx: &mut Tx,
    tenant: TenantId,
    a: &ActivityData<'_>,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO activity (id, tenant_id, control_id, title, instructions, frequency, interval_days, \
             starts_on, weekend_rule, performer_id, reviewer_id, remind_days, active, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .bind(a.id)
        .bind(tenant.as_uuid())
        .bind(a.control)
        .bind(a.title)
        .bind(a.instructions)
        .bind(a.frequency)
        .bind(a.interval_days)
        .bind(a.starts_on)
        .bind(a.weekend_rule)
        .bind(a.performer.as_uuid())
        .bind(a.reviewer.as_uuid())
        .bind(a.remind_days)
        .bind(a.active)
        .bind(a.by.as_uuid())
        .bind(a.now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Rewrites an activity's facts (not its control).
///
/// # Errors
/// On database failure.
pub async fn update_activity(
    tx: &mut Tx,
    tenant: TenantId,
    a: &ActivityData<'_>,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE activity SET title = $3, instructions = $4, frequency = $5, interval_days = $6, starts_on = $7, \
             weekend_rule = $8, performer_id = $9, reviewer_id = $10, remind_days = $11, active = $12, updated_at = $13, \
             schedule_after = NULL WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(a.id)
        .bind(a.title)
        .bind(a.instructions)
        .bind(a.frequency)
        .bind(a.interval_days)
        .bind(a.starts_on)
        .bind(a.weekend_rule)
        .bind(a.performer.as_uuid())
        .bind(a.reviewer.as_uuid())
        .bind(a.remind_days)
        .bind(a.active)
        .bind(a.now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// One activity.
///
/// # Errors
/// On database failure.
pub async fn activity(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<ActivityRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_activity!(),
            "WHERE a.tenant_id = $1 AND a.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// A control's activities, by title.
///
/// # Errors
/// On database failure.
pub async fn activities_of(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
) -> Result<Vec<ActivityRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_activity!(),
            "WHERE a.tenant_id = $1 AND a.control_id = $2 ORDER BY a.title, a.id"
        ))
        .bind(tenant.as_uuid())
        .bind(control)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// An active activity as the scheduler needs it.
#[derive(Debug, Clone, FromRow)]
pub struct ScheduleRow {
    /// Id.
    pub id: Uuid,
    /// Its control.
    pub control_id: Uuid,
    /// Frequency name.
    pub frequency: String,
    /// Custom interval.
    pub interval_days: Option<i32>,
    /// First day.
    pub starts_on: Date,
    /// Weekend rule name.
    pub weekend_rule: String,
    /// The first day of its latest run.
    pub last_start: Option<Date>,
}

/// The tenant's active activities that may need runs created on `today` (never visited by
/// the scheduler, edited since, or whose next run's day has come), `limit` at a time after
/// `after` (by id), each with the first day of its latest run.
///
/// # Errors
/// On database failure.
pub async fn to_schedule(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ScheduleRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT a.id, a.control_id, a.frequency, a.interval_days, a.starts_on, a.weekend_rule, \
             (SELECT MAX(r.period_start) FROM activity_run r WHERE r.activity_id = a.id) AS last_start \
             FROM activity a WHERE a.tenant_id = $1 AND a.active \
             AND (a.schedule_after IS NULL OR a.schedule_after <= $2) \
             AND ($3 IS NULL OR a.id > $3) ORDER BY a.id LIMIT $4",
        )
        .bind(tenant.as_uuid())
        .bind(today)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Records the first day on which an activity can need a new run (`None`: visit it at the
/// next sweep).
///
/// # Errors
/// On database failure.
pub async fn set_schedule_after(
    tx: &mut Tx,
    tenant: TenantId,
    activity: Uuid,
    day: Option<Date>,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE activity SET schedule_after = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(activity)
            .bind(day)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A run's period to create.
#[derive(Debug, Clone, Copy)]
pub struct NewRun {
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Due.
    pub due: Date,
}

/// Creates the runs an activity lacks (one per period; existing periods are left alone).
/// Returns how many were created.
///
/// # Errors
/// On database failure.
pub async fn insert_runs(
    tx: &mut Tx,
    tenant: TenantId,
    activity: Uuid,
    control: Uuid,
    runs: &[NewRun],
    now: OffsetDateTime,
) -> Result<u64, DbError> {
    let mut made = 0;
    for r in runs {
        made += on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO activity_run (id, tenant_id, activity_id, control_id, period_start, period_end, due_on, \
                 state, comment, remarks, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', '', '', $8, $8) \
                 ON CONFLICT (activity_id, period_start) DO NOTHING",
            )
            .bind(Uuid::new_v4())
            .bind(tenant.as_uuid())
            .bind(activity)
            .bind(control)
            .bind(r.start)
            .bind(r.end)
            .bind(r.due)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
    }
    Ok(made)
}

/// Removes an activity's runs that were never worked on and are due on or after `from`
/// (before its schedule is rebuilt). Returns how many.
///
/// # Errors
/// On database failure.
pub async fn drop_untouched_runs(
    tx: &mut Tx,
    tenant: TenantId,
    activity: Uuid,
    from: Date,
) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "DELETE FROM activity_run WHERE tenant_id = $1 AND activity_id = $2 AND state = 'scheduled' \
             AND due_on >= $3 AND NOT EXISTS (SELECT 1 FROM run_evidence e WHERE e.run_id = activity_run.id)",
        )
        .bind(tenant.as_uuid())
        .bind(activity)
        .bind(from)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// A run, with its activity's people and titles.
#[derive(Debug, Clone, FromRow)]
pub struct RunRow {
    /// Id.
    pub id: Uuid,
    /// Its activity.
    pub activity_id: Uuid,
    /// The activity's title.
    pub activity_title: String,
    /// Its control.
    pub control_id: Uuid,
    /// The control's reference.
    pub control_ref: String,
    /// The control's title.
    pub control_title: String,
    /// The control's owner.
    pub control_owner: Option<Uuid>,
    /// The activity's performer.
    pub performer_id: Option<Uuid>,
    /// The activity's reviewer.
    pub reviewer_id: Option<Uuid>,
    /// First day.
    pub period_start: Date,
    /// Last day.
    pub period_end: Date,
    /// Due.
    pub due_on: Date,
    /// `scheduled`, `submitted`, `returned` or `approved`.
    pub state: String,
    /// `effective`, `deficient` or `not_performed`.
    pub result: Option<String>,
    /// The performer's comment.
    pub comment: String,
    /// Who performed it.
    pub performed_by: Option<Uuid>,
    /// Their name.
    pub performed_by_name: Option<String>,
    /// When.
    pub performed_at: Option<OffsetDateTime>,
    /// Who reviewed it.
    pub reviewed_by: Option<Uuid>,
    /// Their name.
    pub reviewed_by_name: Option<String>,
    /// When.
    pub reviewed_at: Option<OffsetDateTime>,
    /// The reviewer's remarks.
    pub remarks: String,
}

macro_rules! run_columns {
    () => {
        "SELECT r.id, r.activity_id, a.title AS activity_title, r.control_id, c.ref AS control_ref, \
         c.title AS control_title, c.owner_id AS control_owner, a.performer_id, a.reviewer_id, \
         r.period_start, r.period_end, r.due_on, r.state, r.result, r.comment, r.performed_by, \
         pu.display_name AS performed_by_name, r.performed_at, r.reviewed_by, ru.display_name AS reviewed_by_name, \
         r.reviewed_at, r.remarks "
    };
}

macro_rules! select_run {
    () => {
        concat!(
            run_columns!(),
            "FROM activity_run r JOIN activity a ON a.id = r.activity_id JOIN control c ON c.id = r.control_id \
             LEFT JOIN app_user pu ON pu.id = r.performed_by LEFT JOIN app_user ru ON ru.id = r.reviewed_by "
        )
    };
}

/// [`select_run!`] starting from the activities (a person's runs): `CROSS JOIN` keeps SQLite
/// from walking every run in due-date order to find the few of one person's activities
/// (PostgreSQL reads it as an inner join and plans it freely). The WHERE clause joins them.
macro_rules! select_run_from_activities {
    () => {
        concat!(
            run_columns!(),
            "FROM activity a CROSS JOIN activity_run r JOIN control c ON c.id = r.control_id \
             LEFT JOIN app_user pu ON pu.id = r.performed_by LEFT JOIN app_user ru ON ru.id = r.reviewed_by "
        )
    };
}

/// One run.
///
/// # Errors
/// On database failure.
pub async fn run(tx: &mut Tx, tenant: TenantId, id: Uuid) -> Result<Option<RunRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_run!(),
            "WHERE r.tenant_id = $1 AND r.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    }))
}

/// An activity's runs, latest period first, up to `limit`.
///
/// # Errors
/// On database failure.
pub async fn runs_of(
    tx: &mut Tx,
    tenant: TenantId,
    activity: Uuid,
    limit: i64,
) -> Result<Vec<RunRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_run!(),
            "WHERE r.tenant_id = $1 AND r.activity_id = $2 ORDER BY r.period_start DESC LIMIT $3"
        ))
        .bind(tenant.as_uuid())
        .bind(activity)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Records a performance: the result and comment, the run submitted for review. Only a run
/// waiting for its performer (scheduled or returned) changes; returns whether it did.
///
/// # Errors
/// On database failure.
pub async fn perform(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    result: &str,
    comment: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE activity_run SET state = 'submitted', result = $3, comment = $4, performed_by = $5, \
             performed_at = $6, reviewed_by = NULL, reviewed_at = NULL, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 AND state IN ('scheduled', 'returned')",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(result)
        .bind(comment)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Records a review: approved, or returned to the performer. Only a submitted run whose
/// performer is not `by` changes (four eyes, SEC-42); returns whether it did.
///
/// # Errors
/// On database failure.
pub async fn review(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    approve: bool,
    remarks: &str,
    by: UserId,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    let state = if approve { "approved" } else { "returned" };
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE activity_run SET state = $3, remarks = $4, reviewed_by = $5, reviewed_at = $6, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'submitted' \
             AND performed_by IS NOT NULL AND performed_by <> $5",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(state)
        .bind(remarks)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Evidence linked to a run.
#[derive(Debug, Clone, FromRow)]
pub struct RunEvidenceRow {
    /// The evidence record.
    pub evidence_id: Uuid,
    /// Its title.
    pub title: String,
    /// The version linked.
    pub version: i32,
    /// That version's date or period start.
    pub effective_from: Date,
    /// Its period end.
    pub effective_to: Option<Date>,
}

/// Links a version of an evidence record to a run (again: the newer version replaces the
/// older link).
///
/// # Errors
/// On database failure.
#[allow(clippy::too_many_arguments)]
pub async fn link_evidence(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    evidence: Uuid,
    version: i32,
    effective: (Date, Option<Date>),
    by: UserId,
    now: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO run_evidence (tenant_id, run_id, evidence_id, version, effective_from, effective_to, \
             linked_by, linked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (run_id, evidence_id) DO UPDATE SET version = $4, effective_from = $5, \
             effective_to = $6, linked_by = $7, linked_at = $8",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(evidence)
        .bind(version)
        .bind(effective.0)
        .bind(effective.1)
        .bind(by.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Removes a link; returns whether there was one.
///
/// # Errors
/// On database failure.
pub async fn unlink_evidence(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    evidence: Uuid,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "DELETE FROM run_evidence WHERE tenant_id = $1 AND run_id = $2 AND evidence_id = $3",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(evidence)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// A run's evidence.
///
/// # Errors
/// On database failure.
pub async fn evidence_of(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
) -> Result<Vec<RunEvidenceRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT l.evidence_id, e.title, l.version, l.effective_from, l.effective_to \
             FROM run_evidence l JOIN evidence e ON e.id = l.evidence_id \
             WHERE l.tenant_id = $1 AND l.run_id = $2 ORDER BY e.title, l.evidence_id",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A step in a run's history.
#[derive(Debug, Clone, FromRow)]
pub struct RunEventRow {
    /// Who (the name).
    pub actor: Option<String>,
    /// `submitted`, `approved`, `returned`, `evidence_linked` or `evidence_unlinked`.
    pub action: String,
    /// Remarks or what was linked.
    pub note: String,
    /// When.
    pub at: OffsetDateTime,
}

/// Adds a step to a run's history.
///
/// # Errors
/// On database failure.
pub async fn add_event(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    actor: UserId,
    action: &str,
    note: &str,
    at: OffsetDateTime,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO run_event (tenant_id, run_id, actor_id, action, note, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(actor.as_uuid())
        .bind(action)
        .bind(note)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A run's history, oldest first.
///
/// # Errors
/// On database failure.
pub async fn events_of(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
) -> Result<Vec<RunEventRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT u.display_name AS actor, v.action, v.note, v.at FROM run_event v \
             LEFT JOIN app_user u ON u.id = v.actor_id WHERE v.tenant_id = $1 AND v.run_id = $2 ORDER BY v.seq",
        )
        .bind(tenant.as_uuid())
        .bind(run)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A run as the effectiveness computation needs it.
#[derive(Debug, Clone, FromRow)]
pub struct RunFactRow {
    /// The run.
    pub id: Uuid,
    /// Its activity.
    pub activity_id: Uuid,
    /// First day.
    pub period_start: Date,
    /// Last day.
    pub period_end: Date,
    /// Due.
    pub due_on: Date,
    /// State.
    pub state: String,
    /// Result.
    pub result: Option<String>,
    /// When it was last submitted.
    pub performed_at: Option<OffsetDateTime>,
}

/// The runs of a control's active activities due on or after `since`, by activity and period.
///
/// # Errors
/// On database failure.
pub async fn facts_of(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
    since: Date,
) -> Result<Vec<RunFactRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT r.id, r.activity_id, r.period_start, r.period_end, r.due_on, r.state, r.result, r.performed_at \
             FROM activity_run r JOIN activity a ON a.id = r.activity_id \
             WHERE r.tenant_id = $1 AND r.control_id = $2 AND a.active AND r.due_on >= $3 \
             ORDER BY r.activity_id, r.period_start",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .bind(since)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// The evidence spans of those runs: `(run, from, to)`.
///
/// # Errors
/// On database failure.
pub async fn evidence_facts_of(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
    since: Date,
) -> Result<Vec<(Uuid, Date, Option<Date>)>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(
            "SELECT l.run_id, l.effective_from, l.effective_to FROM run_evidence l \
             JOIN activity_run r ON r.id = l.run_id \
             WHERE l.tenant_id = $1 AND r.tenant_id = $1 AND r.control_id = $2 AND r.due_on >= $3",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .bind(since)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Keeps a control's computed effectiveness.
///
/// # Errors
/// On database failure.
pub async fn set_effectiveness(
    tx: &mut Tx,
    tenant: TenantId,
    control: Uuid,
    state: &str,
    reason: &str,
    recheck_on: Option<Date>,
) -> Result<(), DbError> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE control SET effectiveness = $3, effectiveness_reason = $4, recheck_on = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(control)
        .bind(state)
        .bind(reason)
        .bind(recheck_on)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Controls whose effectiveness the passing of time may have changed by `today`.
///
/// # Errors
/// On database failure.
pub async fn controls_to_recheck(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
    limit: i64,
) -> Result<Vec<Uuid>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_scalar(
            "SELECT id FROM control WHERE tenant_id = $1 AND recheck_on IS NOT NULL AND recheck_on <= $2 \
             ORDER BY recheck_on, id LIMIT $3",
        )
        .bind(tenant.as_uuid())
        .bind(today)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// A run someone should be told about.
#[derive(Debug, Clone, FromRow)]
pub struct ReminderRow {
    /// The run.
    pub id: Uuid,
    /// The activity's title.
    pub activity_title: String,
    /// The control's reference.
    pub control_ref: String,
    /// Due.
    pub due_on: Date,
    /// State.
    pub state: String,
    /// Days before the due date to remind.
    pub remind_days: i32,
    /// The performer.
    pub performer_id: Option<Uuid>,
    /// The reviewer.
    pub reviewer_id: Option<Uuid>,
    /// The control's owner.
    pub control_owner: Option<Uuid>,
}

macro_rules! select_reminder {
    () => {
        "SELECT r.id, a.title AS activity_title, c.ref AS control_ref, r.due_on, r.state, a.remind_days, \
         a.performer_id, a.reviewer_id, c.owner_id AS control_owner \
         FROM activity_run r JOIN activity a ON a.id = r.activity_id JOIN control c ON c.id = r.control_id "
    };
}

/// Runs waiting for their performer, due between `from` and `until`, not yet reminded.
///
/// # Errors
/// On database failure.
pub async fn due_soon_unreminded(
    tx: &mut Tx,
    tenant: TenantId,
    from: Date,
    until: Date,
) -> Result<Vec<ReminderRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_reminder!(),
            "WHERE r.tenant_id = $1 AND a.active AND r.state IN ('scheduled', 'returned') \
             AND r.due_on >= $2 AND r.due_on <= $3 AND r.reminded_before_at IS NULL ORDER BY r.due_on, r.id"
        ))
        .bind(tenant.as_uuid())
        .bind(from)
        .bind(until)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Runs past their due date, not approved, not yet reported overdue.
///
/// # Errors
/// On database failure.
pub async fn overdue_unreminded(
    tx: &mut Tx,
    tenant: TenantId,
    today: Date,
) -> Result<Vec<ReminderRow>, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(concat!(
            select_reminder!(),
            "WHERE r.tenant_id = $1 AND a.active AND r.state <> 'approved' AND r.due_on < $2 \
             AND r.reminded_overdue_at IS NULL ORDER BY r.due_on, r.id"
        ))
        .bind(tenant.as_uuid())
        .bind(today)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Marks a reminder sent (`overdue`: the one after the due date). Returns false when another
/// sweep took it first.
///
/// # Errors
/// On database failure.
pub async fn take_reminder(
    tx: &mut Tx,
    tenant: TenantId,
    run: Uuid,
    overdue: bool,
    now: OffsetDateTime,
) -> Result<bool, DbError> {
    Ok(on_tx!(tx, |conn| {
        if overdue {
            sqlx::query(
                "UPDATE activity_run SET reminded_overdue_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND reminded_overdue_at IS NULL",
            )
        } else {
            sqlx::query(
                "UPDATE activity_run SET reminded_before_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 AND reminded_before_at IS NULL",
            )
        }
        .bind(tenant.as_uuid())
        .bind(run)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1
    }))
}

/// Which runs a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFilter {
    /// Not yet approved.
    Open,
    /// Not approved and past due on the given day.
    Overdue(Date),
    /// Submitted, waiting for review.
    AwaitingReview,
    /// Approved.
    Approved,
    /// All.
    All,
}

/// A runs list request: filters, keyset cursor `(due_on, id)` and size. Ordered by due date.
#[derive(Debug, Clone)]
pub struct RunQuery {
    /// Which runs.
    pub filter: RunFilter,
    /// Only runs the user performs (as the activity's performer).
    pub performer: Option<Uuid>,
    /// Only runs the user reviews (as the activity's reviewer).
    pub reviewer: Option<Uuid>,
    /// Only runs of this control.
    pub control: Option<Uuid>,
    /// Only runs due on or before this day.
    pub due_until: Option<Date>,
    /// Where the previous page ended.
    pub after: Option<(Date, Uuid)>,
    /// Rows wanted.
    pub limit: i64,
}

/// A page of runs, by due date then id.
///
/// # Errors
/// On database failure.
pub async fn list_runs(
    tx: &mut Tx,
    tenant: TenantId,
    q: &RunQuery,
) -> Result<Vec<RunRow>, DbError> {
    // One literal statement per state filter, person filter and page kind, so the planner
    // sees each condition itself: `state <> 'approved'` and `state = 'submitted'` are the
    // predicates of the partial indexes `activity_run_open` and `activity_run_submitted`; a
    // person's runs start from their activities (`activity_by_performer`/`_by_reviewer`);
    // the rest walk `activity_run_by_due` in (due date, id) order; a later page starts at the
    // cursor's row value instead of filtering its way there.
    macro_rules! runs_where {
        ($select:ident, $state:literal, $person:literal, $after:literal) => {
            concat!(
                $select!(),
                "WHERE r.tenant_id = $1 AND ",
                $state,
                " AND ",
                $person,
                " AND ($2 IS NULL OR r.due_on < $2) AND ($5 IS NULL OR r.control_id = $5) \
                 AND ($6 IS NULL OR r.due_on <= $6) ",
                $after,
                " ORDER BY r.due_on, r.id LIMIT $9"
            )
        };
        ($select:ident, $state:literal, $person:literal) => {
            if q.after.is_some() {
                runs_where!($select, $state, $person, "AND (r.due_on, r.id) > ($7, $8)")
            } else {
                runs_where!($select, $state, $person, "AND $7 IS NULL AND $8 IS NULL")
            }
        };
        ($state:literal) => {
            match (q.performer.is_some(), q.reviewer.is_some()) {
                (false, false) => runs_where!(select_run, $state, "$3 IS NULL AND $4 IS NULL"),
                (true, false) => runs_where!(
                    select_run_from_activities,
                    $state,
                    "r.activity_id = a.id AND a.tenant_id = $1 AND a.performer_id = $3 AND $4 IS NULL"
                ),
                (false, true) => runs_where!(
                    select_run_from_activities,
                    $state,
                    "r.activity_id = a.id AND a.tenant_id = $1 AND $3 IS NULL AND a.reviewer_id = $4"
                ),
                (true, true) => runs_where!(
                    select_run_from_activities,
                    $state,
                    "r.activity_id = a.id AND a.tenant_id = $1 AND a.performer_id = $3 AND a.reviewer_id = $4"
                ),
            }
        };
    }
    let (sql, overdue_on): (&'static str, Option<Date>) = match q.filter {
        RunFilter::Open => (runs_where!("r.state <> 'approved'"), None),
        RunFilter::Overdue(d) => (runs_where!("r.state <> 'approved'"), Some(d)),
        RunFilter::AwaitingReview => (runs_where!("r.state = 'submitted'"), None),
        RunFilter::Approved => (runs_where!("r.state = 'approved'"), None),
        RunFilter::All => (runs_where!("r.state IS NOT NULL"), None),
    };
    let (after_due, after_id) = q.after.map_or((None, None), |(d, i)| (Some(d), Some(i)));
    Ok(on_tx!(tx, |conn| {
        sqlx::query_as(sql)
            .bind(tenant.as_uuid())
            .bind(overdue_on)
            .bind(q.performer)
            .bind(q.reviewer)
            .bind(q.control)
            .bind(q.due_until)
            .bind(after_due)
            .bind(after_id)
            .bind(q.limit)
            .fetch_all(&mut *conn)
            .await?
    }))
}

/// Seed only (`attest dev seed`): performs and approves, at `at`, every run of the period
/// starting on `period_start`, except those of controls whose reference ends in `0`, which are
/// left overdue; the reminders of the period's runs are marked sent. Returns how many were
/// approved.
///
/// # Errors
/// On database failure.
pub async fn seed_approve_period(
    tx: &mut Tx,
    tenant: TenantId,
    period_start: Date,
    performer: UserId,
    reviewer: UserId,
    at: OffsetDateTime,
) -> Result<u64, DbError> {
    let approved = on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE activity_run SET state = 'approved', result = 'effective', comment = 'Done.', \
             performed_by = $3, performed_at = $5, reviewed_by = $4, reviewed_at = $5, updated_at = $5 \
             WHERE tenant_id = $1 AND period_start = $2 AND control_id NOT IN \
             (SELECT id FROM control WHERE tenant_id = $1 AND ref LIKE '%0')",
        )
        .bind(tenant.as_uuid())
        .bind(period_start)
        .bind(performer.as_uuid())
        .bind(reviewer.as_uuid())
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE activity_run SET reminded_before_at = $3, reminded_overdue_at = $3 \
             WHERE tenant_id = $1 AND period_start = $2",
        )
        .bind(tenant.as_uuid())
        .bind(period_start)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(approved)
}

/// Seed only: links an evidence version to every approved run starting on or after `since`.
/// Returns how many links.
///
/// # Errors
/// On database failure.
pub async fn seed_link_recent(
    tx: &mut Tx,
    tenant: TenantId,
    evidence: Uuid,
    effective: (Date, Option<Date>),
    since: Date,
    by: UserId,
    now: OffsetDateTime,
) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO run_evidence (tenant_id, run_id, evidence_id, version, effective_from, effective_to, \
             linked_by, linked_at) SELECT tenant_id, id, $2, 1, $3, $4, $5, $6 FROM activity_run \
             WHERE tenant_id = $1 AND state = 'approved' AND period_start >= $7",
        )
        .bind(tenant.as_uuid())
        .bind(evidence)
        .bind(effective.0)
        .bind(effective.1)
        .bind(by.as_uuid())
        .bind(now)
        .bind(since)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// Seed only: marks every control of the tenant for a recheck of its effectiveness on `today`.
///
/// # Errors
/// On database failure.
pub async fn seed_recheck_all(tx: &mut Tx, tenant: TenantId, today: Date) -> Result<u64, DbError> {
    Ok(on_tx!(tx, |conn| {
        sqlx::query("UPDATE control SET recheck_on = $2 WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .bind(today)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }))
}
