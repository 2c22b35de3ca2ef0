//! Attest's shared vocabulary: typed identifiers, data classification, the actor of an action
//! and the clock. Every other crate depends on this one; it does no I/O and holds no secrets.

pub mod actor;
pub mod classification;
pub mod clock;
pub mod ids;
pub mod role;

pub use actor::Actor;
pub use classification::Classification;
pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{
    ActivityId, AuditEventId, ControlId, DocumentId, EvidenceId, FrameworkId, RequestId,
    RequirementId, RiskId, RunId, SessionId, ShareId, TenantId, UserId,
};
pub use role::Role;
