//! The activities' hourly sweep: create the runs each active activity wants ahead of time,
//! remind performers before a run is due and tell performers, reviewers and control owners
//! when it is overdue (once each, by mail, audited), and recompute the effectiveness of
//! controls that the passing of time may have changed.

use attest_db::activity::{self as store, ReminderRow, ScheduleRow};
use attest_db::identity;
use attest_types::{Actor, TenantId, UserId};
use time::Duration;
use uuid::Uuid;

use super::schedule::{Frequency, Schedule, WeekendRule};
use super::service::{Activities, ActivityError, wanted_runs};
use super::{HORIZON_DAYS, RUN_KIND};
use crate::audit::{AuditRecord, Outcome};

/// Activities scheduled, or controls rechecked, per transaction.
const BATCH: i64 = 500;

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Runs created.
    pub scheduled: u64,
    /// Reminders sent (runs, not mails).
    pub reminded: usize,
    /// Controls whose effectiveness was recomputed.
    pub rechecked: usize,
}

fn schedule_of(row: &ScheduleRow) -> Option<Schedule> {
    let frequency = Frequency::parse(&row.frequency, row.interval_days.map(i64::from)).ok()?;
    Schedule::new(
        row.starts_on,
        frequency,
        WeekendRule::parse(&row.weekend_rule)?,
    )
    .ok()
}

impl Activities {
    /// One sweep over every tenant. `base_url` starts the links in the mails.
    ///
    /// # Errors
    /// On storage or mail-sealing failure (what was done before stays done).
    pub async fn sweep(&self, base_url: &str) -> Result<SweepReport, ActivityError> {
        let mut report = SweepReport::default();
        for tenant in identity::all_tenants(&self.db).await? {
            let tenant = TenantId::from_uuid(tenant);
            report.scheduled += self.schedule_tenant(tenant).await?;
            report.reminded += self.remind_tenant(tenant, base_url).await?;
            report.rechecked += self.recheck_tenant(tenant).await?;
            self.compact_tallies(tenant).await?;
        }
        if report.reminded > 0 {
            self.mailer.wake();
        }
        Ok(report)
    }

    async fn schedule_tenant(&self, tenant: TenantId) -> Result<u64, ActivityError> {
        let today = self.today();
        let horizon = today
            .checked_add(Duration::days(HORIZON_DAYS))
            .unwrap_or(today);
        let now = self.clock.now();
        let mut made = 0;
        let mut after = None;
        loop {
            let mut tx = self.db.begin_for(tenant).await?;
            let batch = store::to_schedule(&mut tx, tenant, today, after, BATCH).await?;
            let Some(last) = batch.last() else {
                tx.commit().await?;
                break;
            };
            after = Some(last.id);
            for a in &batch {
                let Some(schedule) = schedule_of(a) else {
                    continue;
                };
                let wanted: Vec<_> = wanted_runs(&schedule, today)
                    .into_iter()
                    .filter(|r| a.last_start.is_none_or(|l| r.start > l))
                    .collect();
                if !wanted.is_empty() {
                    made += store::insert_runs(&mut tx, tenant, a.id, a.control_id, &wanted, now)
                        .await?;
                }
                // Runs now exist up to the horizon; the next one is wanted once the horizon
                // reaches its first day, and until then the sweep passes this activity by.
                let next_wanted = schedule
                    .first_start_after(horizon)
                    .and_then(|start| start.checked_sub(Duration::days(HORIZON_DAYS)));
                store::set_schedule_after(&mut tx, tenant, a.id, next_wanted).await?;
            }
            tx.commit().await?;
            if i64::try_from(batch.len()).unwrap_or(0) < BATCH {
                break;
            }
        }
        Ok(made)
    }

    /// Recomputes the effectiveness of a tenant's controls that time may have changed (what the
    /// sweep does for each tenant). Returns how many.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn recheck_tenant(&self, tenant: TenantId) -> Result<usize, ActivityError> {
        let today = self.today();
        let mut done = 0;
        loop {
            let mut tx = self.db.begin_for(tenant).await?;
            let controls = store::controls_to_recheck(&mut tx, tenant, today, BATCH).await?;
            for c in &controls {
                Self::refresh(&mut tx, tenant, *c, today).await?;
            }
            tx.commit().await?;
            done += controls.len();
            if i64::try_from(controls.len()).unwrap_or(0) < BATCH {
                break;
            }
        }
        Ok(done)
    }

    /// Folds a tenant's dashboard tallies into one row per key (the sweep does it hourly;
    /// `attest dev seed` after a bulk load), so reading them stays a handful of rows.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn compact_tallies(&self, tenant: TenantId) -> Result<(), ActivityError> {
        let mut tx = self.db.begin_for(tenant).await?;
        attest_db::tally::compact(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn email_of(&self, user: Option<Uuid>) -> Result<Option<String>, ActivityError> {
        let Some(u) = user else { return Ok(None) };
        Ok(identity::user_by_id(&self.db, UserId::from_uuid(u))
            .await?
            .filter(|u| u.status == "active")
            .map(|u| u.email))
    }

    async fn remind_tenant(
        &self,
        tenant: TenantId,
        base_url: &str,
    ) -> Result<usize, ActivityError> {
        let today = self.today();
        let (soon, overdue) = {
            let mut tx = self.db.read_for(tenant).await?;
            let until = today.checked_add(Duration::days(60)).unwrap_or(today);
            let soon = store::due_soon_unreminded(&mut tx, tenant, today, until).await?;
            let overdue = store::overdue_unreminded(&mut tx, tenant, today).await?;
            tx.commit().await?;
            (soon, overdue)
        };
        let mut sent = 0;
        for r in soon {
            let remind_from = r
                .due_on
                .checked_sub(Duration::days(i64::from(r.remind_days)))
                .unwrap_or(r.due_on);
            if r.remind_days == 0 || today < remind_from {
                continue;
            }
            let to: Vec<String> = self.email_of(r.performer_id).await?.into_iter().collect();
            let text = format!(
                "Hello,\n\n\"{}\" for control {} is due on {}.\n\nRecord the result and its evidence here:\n{base_url}/runs/{}\n",
                r.activity_title, r.control_ref, r.due_on, r.id
            );
            if self
                .send(
                    tenant,
                    &r,
                    false,
                    &to,
                    &format!("Due on {}: {}", r.due_on, r.activity_title),
                    &text,
                )
                .await?
            {
                sent += 1;
            }
        }
        for r in overdue {
            let mut people = vec![r.performer_id, r.control_owner];
            if r.state == "submitted" {
                people = vec![r.reviewer_id, r.control_owner];
            }
            let mut to = Vec::new();
            for p in people {
                if let Some(e) = self.email_of(p).await?
                    && !to.contains(&e)
                {
                    to.push(e);
                }
            }
            let what = if r.state == "submitted" {
                "is waiting for review and"
            } else {
                "has not been completed and"
            };
            let text = format!(
                "Hello,\n\n\"{}\" for control {} {what} was due on {}. Until it is approved the control does not count as effective.\n\n{base_url}/runs/{}\n",
                r.activity_title, r.control_ref, r.due_on, r.id
            );
            if self
                .send(
                    tenant,
                    &r,
                    true,
                    &to,
                    &format!("Overdue: {}", r.activity_title),
                    &text,
                )
                .await?
            {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Sends one reminder once: the mails and the mark in one transaction with its audit event.
    async fn send(
        &self,
        tenant: TenantId,
        r: &ReminderRow,
        overdue: bool,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<bool, ActivityError> {
        let mut mails = Vec::new();
        for address in to {
            mails.push(self.mailer.prepare(address, subject, text).await?);
        }
        let mut tx = self.db.begin_for(tenant).await?;
        if !store::take_reminder(&mut tx, tenant, r.id, overdue, self.clock.now()).await? {
            return Ok(false);
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
                    if overdue {
                        "activity_run.overdue"
                    } else {
                        "activity_run.remind"
                    },
                    Outcome::Success,
                )
                .object(RUN_KIND, r.id)
                .details(serde_json::json!({ "due_on": r.due_on.to_string(), "mailed": to.len() })),
            )
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
