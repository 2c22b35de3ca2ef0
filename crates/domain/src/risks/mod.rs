//! The risk register (issue 7). Risk owners keep their risks: an inherent and a residual score
//! on the tenant's scales, a treatment (reduce, accept, transfer, avoid) with a plan, a due
//! date and an owner, the controls that reduce it, and a reassessment cycle with reminders.
//! Accepting a risk needs approval by a compliance manager other than the one who asked
//! (SEC-42). Every change is kept in the risk's history and the audit trail.

pub mod scales;

mod service;
pub(crate) use service::aad;

pub use service::{
    Acceptance, RiskDetail, RiskError, RiskInput, RiskListRequest, RiskPage, RiskView, Risks,
    Treatment,
};

/// The object kind's name in the audit trail.
pub const KIND: &str = "risk";
