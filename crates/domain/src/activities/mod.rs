//! Control activities (issue 7): the recurring work that proves a control operates. Each
//! activity belongs to a control and recurs on a [`schedule::Schedule`]; the scheduler creates
//! its runs ahead of time; the performer records a result, a comment and evidence and submits
//! the run; a reviewer who is never the performer approves it or returns it with remarks
//! (four eyes, SEC-42); mail reminds people before and after the due date. A control's
//! effectiveness is computed from the runs ([`status::assess`]) after every change and again
//! when time alone could change it. Every step is audited.

pub mod schedule;
pub mod status;

mod service;
mod sweep;

pub use service::{
    Activities, ActivityDetail, ActivityError, ActivityInput, ActivityView, PerformInput,
    RunDetail, RunListRequest, RunPage, RunView, Summary, Tasks,
};
pub use sweep::SweepReport;

/// The object kinds' names in the audit trail.
pub const KIND: &str = "activity";
/// A run's kind in the audit trail.
pub const RUN_KIND: &str = "activity_run";
/// How far ahead runs are created, in days.
pub const HORIZON_DAYS: i64 = 92;
/// How far back the effectiveness computation looks, in days (a yearly activity's last run).
pub const LOOKBACK_DAYS: i64 = 800;
