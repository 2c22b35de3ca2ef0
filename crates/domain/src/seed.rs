//! Synthetic programme data for benchmarks and demonstrations (`attest dev seed`): into a tenant
//! that has no controls yet, a shipped NIST baseline, controls mapped to its requirements,
//! one monthly activity per control with its runs (most of the past ones performed and
//! approved, one control in ten left overdue), one evidence record linked to the recent runs,
//! risks, and audit events; then every control's effectiveness computed the way the hourly sweep
//! computes it. Everything is sealed with the tenant's keys and chained in its audit trail as
//! the services would; the bulk is written straight through the stores, in batches, because the
//! services' one-request-at-a-time paths would take hours for a million runs.

use std::sync::Arc;
use std::time::Instant;

use attest_db::{Db, DbError};
use attest_types::{Actor, Classification, Clock, TenantId, UserId};
use time::{Date, Duration, Month};
use uuid::Uuid;

use crate::activities::schedule::{Frequency, Schedule, WeekendRule};
use crate::audit::{AuditError, AuditLog, AuditRecord, Outcome};
use crate::catalog::Baseline;
use crate::frameworks::{FrameworkError, Frameworks, ImportSource};
use crate::keys::{KeyError, KeyService};

/// Rows per transaction.
const BATCH: usize = 1_000;

/// How much to make.
#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    /// Controls.
    pub controls: u32,
    /// Runs per control (monthly; the last three are ahead of today).
    pub runs_per_control: u32,
    /// Audit events.
    pub audit_events: u32,
    /// Risks.
    pub risks: u32,
}

/// What was made, and how long it took.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeedReport {
    /// Controls.
    pub controls: u64,
    /// Activities.
    pub activities: u64,
    /// Runs.
    pub runs: u64,
    /// Runs approved.
    pub approved: u64,
    /// Evidence links.
    pub evidence_links: u64,
    /// Risks.
    pub risks: u64,
    /// Audit events.
    pub audit_events: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// Why seeding stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The tenant already has controls: seeding is only for a fresh tenant.
    #[error("the tenant already has controls; seed a new tenant")]
    NotEmpty,
    /// Storage failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Key failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Audit failure.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The baseline did not import.
    #[error(transparent)]
    Framework(#[from] FrameworkError),
}

/// Who the seeded work belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SeedPeople {
    /// Owns the controls and risks.
    pub manager: UserId,
    /// Performs the runs.
    pub performer: UserId,
    /// Reviews them.
    pub reviewer: UserId,
}

/// Seeds a tenant. See the module documentation.
///
/// # Errors
/// [`SeedError::NotEmpty`] when the tenant has controls; storage, key or audit failures.
#[allow(clippy::too_many_lines)]
pub async fn seed(
    db: &Db,
    keys: &Arc<KeyService>,
    audit: &AuditLog,
    clock: &Arc<dyn Clock>,
    tenant: TenantId,
    people: SeedPeople,
    size: SeedSize,
) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    let mut report = SeedReport::default();
    {
        let mut tx = db.read_for(tenant).await?;
        let any = attest_db::control::list(
            &mut tx,
            tenant,
            &attest_db::control::ControlQuery {
                status: None,
                owner: None,
                framework: None,
                effectiveness: None,
                search: None,
                order: attest_db::control::ControlOrder::Reference,
                after: None,
                limit: 1,
            },
        )
        .await?;
        tx.commit().await?;
        if !any.is_empty() {
            return Err(SeedError::NotEmpty);
        }
    }
    let now = clock.now();
    let today = now.date();
    // The framework: the MODERATE baseline, its requirements to map to.
    let (framework, _) = Frameworks::new(db.clone(), audit.clone(), Arc::clone(clock))
        .import_as_operator(tenant, ImportSource::Baseline(Baseline::Moderate))
        .await?;
    let requirements: Vec<Uuid> = {
        let mut tx = db.read_for(tenant).await?;
        let rows = attest_db::framework::requirements(&mut tx, tenant, framework.as_uuid()).await?;
        tx.commit().await?;
        rows.into_iter()
            .filter(|r| r.kind != "group")
            .map(|r| r.id)
            .collect()
    };
    // Monthly from the first of the month `runs_per_control - 3` months back.
    let back = i32::try_from(size.runs_per_control.saturating_sub(3)).unwrap_or(0);
    let first = {
        let months = i32::from(u8::from(today.month())) - 1 - back;
        let year = today.year() + months.div_euclid(12);
        let month = Month::try_from(u8::try_from(months.rem_euclid(12) + 1).unwrap_or(1))
            .unwrap_or(Month::January);
        Date::from_calendar_date(year, month, 1).unwrap_or(today)
    };
    let schedule = Schedule::new(first, Frequency::Monthly, WeekendRule::Before)
        .map_err(|_| DbError::Corrupt("seed schedule"))?;
    let horizon = today
        .checked_add(Duration::days(crate::activities::HORIZON_DAYS))
        .unwrap_or(today);
    let periods: Vec<attest_db::activity::NewRun> = schedule
        .periods_between(
            first,
            horizon,
            usize::try_from(size.runs_per_control).unwrap_or(0),
        )
        .into_iter()
        .map(|p| attest_db::activity::NewRun {
            start: p.start,
            end: p.end,
            due: p.due,
        })
        .collect();
    // Controls, their mappings and activities with runs, a batch per transaction.
    let mut n = 0u32;
    while n < size.controls {
        let end = (n + u32::try_from(BATCH).unwrap_or(1000)).min(size.controls);
        let mut sealed = Vec::new();
        for i in n..end {
            let id = Uuid::new_v4();
            let text = format!(
                "Synthetic control {i}: what it does, who does it, and how it is evidenced."
            );
            let d = keys
                .seal(
                    tenant,
                    Classification::High,
                    &crate::controls::aad(id),
                    text.as_bytes(),
                )
                .await?;
            sealed.push((i, id, d));
        }
        let mut tx = db.begin_for(tenant).await?;
        for (i, id, description) in &sealed {
            let (status, justification) = match i % 20 {
                0 => ("draft", ""),
                1 => (
                    "not_applicable",
                    "Out of scope for the seeded organisation.",
                ),
                _ => ("implemented", ""),
            };
            attest_db::control::insert(
                &mut tx,
                tenant,
                &attest_db::control::ControlData {
                    id: *id,
                    reference: &format!("CTL-{i:06}"),
                    title: &format!(
                        "Control {i}: {}",
                        TITLES[usize::try_from(*i).unwrap_or(0) % TITLES.len()]
                    ),
                    description,
                    classification: Classification::High.as_str(),
                    owner: Some(people.manager),
                    status,
                    justification,
                    by: people.manager,
                    now,
                },
            )
            .await?;
            if !requirements.is_empty() {
                let k = usize::try_from(*i).unwrap_or(0);
                for j in 0..(1 + k % 3) {
                    let r = requirements[(k * 7 + j * 13) % requirements.len()];
                    attest_db::control::map(&mut tx, tenant, *id, r, people.manager, now).await?;
                }
            }
            let activity = Uuid::new_v4();
            attest_db::activity::insert_activity(
                &mut tx,
                tenant,
                &attest_db::activity::ActivityData {
                    id: activity,
                    control: *id,
                    title: "Monthly check",
                    instructions: "Check the control operated this month and attach the evidence.",
                    frequency: schedule.frequency.as_str(),
                    interval_days: None,
                    starts_on: first,
                    weekend_rule: schedule.weekends.as_str(),
                    performer: people.performer,
                    reviewer: people.reviewer,
                    remind_days: 0,
                    active: true,
                    by: people.manager,
                    now,
                },
            )
            .await?;
            report.runs +=
                attest_db::activity::insert_runs(&mut tx, tenant, activity, *id, &periods, now)
                    .await?;
            report.activities += 1;
        }
        tx.commit().await?;
        report.controls += u64::from(end - n);
        n = end;
    }
    // The past runs performed on their due date and approved, but for one control in ten
    // (references ending in 0), left overdue.
    for p in periods.iter().filter(|p| p.due < today) {
        let at = p.due.midnight().assume_utc() + Duration::hours(12);
        let mut tx = db.begin_for(tenant).await?;
        report.approved += attest_db::activity::seed_approve_period(
            &mut tx,
            tenant,
            p.start,
            people.performer,
            people.reviewer,
            at,
        )
        .await?;
        tx.commit().await?;
    }
    // One evidence record (a link), covering the whole period, linked to the last two months'
    // approved runs.
    {
        let id = Uuid::new_v4();
        let from = first;
        let to = horizon;
        let description = keys
            .seal(
                tenant,
                Classification::High,
                &crate::evidence::description_aad(id),
                b"Monthly operating evidence (synthetic).",
            )
            .await?;
        let link = keys
            .seal(
                tenant,
                Classification::High,
                &crate::evidence::link_aad(id, 1),
                b"https://evidence.example/monthly",
            )
            .await?;
        let mut tx = db.begin_for(tenant).await?;
        attest_db::evidence::insert(
            &mut tx,
            tenant,
            &attest_db::evidence::NewEvidence {
                id,
                title: "Monthly operating evidence",
                description: &description,
                classification: Classification::High.as_str(),
                owner: Some(people.performer),
                effective_from: from,
                effective_to: Some(to),
                by: people.performer,
                now,
            },
        )
        .await?;
        attest_db::evidence::insert_version(
            &mut tx,
            tenant,
            &attest_db::evidence::NewVersion {
                evidence: id,
                version: 1,
                file: None,
                link: Some(&link),
                classification: Classification::High.as_str(),
                effective_from: from,
                effective_to: Some(to),
                status: "released",
                scan_result: None,
                scanned_at: None,
                by: people.performer,
                now,
            },
        )
        .await?;
        let since = today.checked_sub(Duration::days(62)).unwrap_or(today);
        report.evidence_links = attest_db::activity::seed_link_recent(
            &mut tx,
            tenant,
            id,
            (from, Some(to)),
            since,
            people.performer,
            now,
        )
        .await?;
        tx.commit().await?;
    }
    // Risks.
    for i in 0..size.risks {
        let id = Uuid::new_v4();
        let l = i32::try_from(i % 5 + 1).unwrap_or(1);
        let m = i32::try_from((i / 5) % 5 + 1).unwrap_or(1);
        let description = keys
            .seal(
                tenant,
                Classification::High,
                &crate::risks::aad(id),
                b"Synthetic risk.",
            )
            .await?;
        let mut tx = db.begin_for(tenant).await?;
        attest_db::risk::insert(
            &mut tx,
            tenant,
            &attest_db::risk::RiskData {
                id,
                title: &format!("Risk {i}"),
                description: &description,
                category: CATEGORIES[usize::try_from(i).unwrap_or(0) % CATEGORIES.len()],
                classification: Classification::High.as_str(),
                owner: Some(people.manager),
                inherent: (l, m),
                residual: ((l - 1).max(1), m),
                treatment: "reduce",
                treatment_plan: "",
                treatment_due: None,
                treatment_owner: None,
                reassess_days: 365,
                next_review_on: today
                    .checked_add(Duration::days(i64::from(i % 365)))
                    .unwrap_or(today),
                by: people.manager,
                now,
            },
        )
        .await?;
        attest_db::risk::add_history(&mut tx, tenant, id, 1, "created", "{}", people.manager, now)
            .await?;
        tx.commit().await?;
        report.risks += 1;
    }
    // Audit events: reads of controls, in batches.
    let mut left = size.audit_events;
    while left > 0 {
        let k = left.min(5_000);
        let records = (0..k)
            .map(|j| {
                AuditRecord::tenant(
                    tenant,
                    Actor::User(people.performer),
                    "control.read",
                    Outcome::Success,
                )
                .details(serde_json::json!({ "seed": j }))
            })
            .collect();
        let mut tx = db.begin().await?;
        report.audit_events +=
            u64::try_from(audit.record_many_in(&mut tx, records).await?).unwrap_or(0);
        tx.commit().await?;
        left -= k;
    }
    // Every control's effectiveness, as the sweep computes it.
    {
        let mut tx = db.begin_for(tenant).await?;
        attest_db::activity::seed_recheck_all(&mut tx, tenant, today).await?;
        tx.commit().await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

const TITLES: [&str; 8] = [
    "access reviews",
    "backups",
    "change approval",
    "vulnerability scanning",
    "security awareness",
    "supplier review",
    "incident drills",
    "logging and monitoring",
];

const CATEGORIES: [&str; 5] = ["Technology", "People", "Supplier", "Legal", "Facilities"];
