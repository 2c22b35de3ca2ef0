//! Use cases. No HTTP types here: callers pass the actor, the clock and the facts of the
//! request (source address, request id) as arguments.
//!
//! - [`access`]: the role model's permissions, the caller as the policy sees them, and the
//!   checked values only services hand out.
//! - [`audit`]: the tamper-evident audit trail (record, batch read events, verify).
//! - [`keys`]: data keys per (tenant, classification): get-or-create, seal/open, rotation.
//! - [`health`]: readiness of the database and schema.

pub mod access;
pub mod access_reviews;
pub mod activities;
pub mod audit;
pub mod authn;
pub mod catalog;
pub mod controls;
pub mod csv_out;
pub mod documents;
pub mod email_change;
pub mod evidence;
pub mod frameworks;
pub mod health;
pub mod identity;
pub mod keys;
pub mod mail;
pub mod onboarding;
pub mod operator_access;
mod ownership;
pub mod rich_text;
pub mod risks;
pub mod seed;
pub mod sharing;

/// The database handle, re-exported so the web layer can hold it without depending on the
/// database crate (it only passes it back to domain functions).
pub use attest_db::Db;

/// Whether a failure was caused by a database that cannot serve now (every pooled connection
/// stayed busy past the acquire timeout, or the connection is gone), looking through the
/// error's whole source chain. Such a request may be retried; the web layer answers it 503
/// with `Retry-After` rather than 500.
#[must_use]
pub fn database_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    attest_db::DbError::unavailable_in_chain(error)
}
