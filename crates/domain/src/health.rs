//! Readiness: the database answers and no migration is pending.

use attest_db::{Db, migrate};

/// Why the service is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The database did not answer.
    DatabaseUnreachable,
    /// The schema is behind the binary (run `attest migrate`).
    MigrationsPending(usize),
}

/// Checks readiness.
///
/// # Errors
/// The reason the service should not receive traffic.
pub async fn readiness(db: &Db) -> Result<(), NotReady> {
    db.ping().await.map_err(|_| NotReady::DatabaseUnreachable)?;
    match migrate::pending(db).await {
        Ok(p) if p.is_empty() => Ok(()),
        Ok(p) => Err(NotReady::MigrationsPending(p.len())),
        Err(_) => Err(NotReady::DatabaseUnreachable),
    }
}
