//! Schema migrations, embedded at build time from `migrations/sqlite` and
//! `migrations/postgres` (the build script refuses folders that differ in names). Each
//! migration runs in its own transaction: one that fails changes nothing and is reported by
//! name. On PostgreSQL migrations run as the owner role; the app role only reads the
//! migration table to tell whether the schema is current.

use std::borrow::Cow;

use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use crate::pool::{DbInner, Engine};
use crate::{Db, DbError};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// One migration: its number and name (`0001_foundation` → 1, "foundation") and SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSpec {
    /// Ordering number.
    pub version: i64,
    /// Name after the number.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl MigrationSpec {
    /// `NNNN_name`, as the file is called.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

/// The migrations shipped for an engine, in order.
#[must_use]
pub fn shipped(engine: Engine) -> Vec<MigrationSpec> {
    let list = match engine {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => POSTGRES,
    };
    list.iter()
        .map(|&(version, name, sql)| MigrationSpec { version, name, sql })
        .collect()
}

async fn applied_versions(db: &Db) -> Result<Vec<i64>, DbError> {
    let exists: bool = match db.inner() {
        DbInner::Sqlite(p) => sqlx::query_scalar(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(p)
        .await?,
        DbInner::Pg(p) => {
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(p)
                .await?
        }
    };
    if !exists {
        return Ok(Vec::new());
    }
    let versions = on_pool!(db, |pool| {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
    });
    Ok(versions)
}

/// True when the database holds no table at all (a brand-new installation).
///
/// # Errors
/// If the database cannot be queried.
pub async fn schema_is_empty(db: &Db) -> Result<bool, DbError> {
    let tables: i64 = match db.inner() {
        DbInner::Sqlite(p) => {
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
                .fetch_one(p)
                .await?
        }
        DbInner::Pg(p) => {
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
                .fetch_one(p)
                .await?
        }
    };
    Ok(tables == 0)
}

/// Migrations shipped but not yet applied.
///
/// # Errors
/// If the database cannot be queried.
pub async fn pending(db: &Db) -> Result<Vec<MigrationSpec>, DbError> {
    pending_of(db, &shipped(db.engine())).await
}

async fn pending_of(db: &Db, set: &[MigrationSpec]) -> Result<Vec<MigrationSpec>, DbError> {
    let applied = applied_versions(db).await?;
    Ok(set
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .cloned()
        .collect())
}

/// Applies every pending shipped migration; returns the ones applied.
///
/// # Errors
/// [`DbError::Migration`] naming the migration that failed (it changed nothing).
pub async fn run(db: &Db) -> Result<Vec<MigrationSpec>, DbError> {
    run_set(db, &shipped(db.engine())).await
}

/// Applies a given set of migrations. [`run`] uses the shipped set; tests use this to prove
/// that a failing migration changes nothing.
///
/// # Errors
/// [`DbError::Migration`] naming the migration that failed.
pub async fn run_set(db: &Db, set: &[MigrationSpec]) -> Result<Vec<MigrationSpec>, DbError> {
    let todo = pending_of(db, set).await?;
    let migrator = Migrator::with_migrations(
        set.iter()
            .map(|m| {
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.name),
                    MigrationType::Simple,
                    m.sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    let name_of = |version: i64| {
        set.iter()
            .find(|m| m.version == version)
            .map_or_else(|| version.to_string(), MigrationSpec::label)
    };
    // A failed run leaves the migrator's session lock (PostgreSQL advisory lock) held on its
    // connection; that connection is closed rather than returned to the pool.
    let result = match db.inner() {
        DbInner::Sqlite(p) => {
            let mut conn = p.acquire().await?;
            let r = run_on(&migrator, &mut *conn).await;
            if r.is_err() {
                let _ = sqlx::Connection::close(conn.detach()).await;
            }
            r
        }
        DbInner::Pg(p) => {
            let mut conn = p.acquire().await?;
            let r = run_on(&migrator, &mut *conn).await;
            if r.is_err() {
                let _ = sqlx::Connection::close(conn.detach()).await;
            }
            r
        }
    };
    result.map_err(|e| match e {
        MigrateError::ExecuteMigration(err, version) => DbError::Migration(format!(
            "migration {} failed and was rolled back: {err}",
            name_of(version)
        )),
        MigrateError::VersionMismatch(version) => DbError::Migration(format!(
            "migration {} was applied but its file has changed since",
            name_of(version)
        )),
        other => DbError::Migration(format!("migrations failed: {other}")),
    })?;
    Ok(todo)
}

async fn run_on<C: Migrate>(migrator: &Migrator, conn: &mut C) -> Result<(), MigrateError> {
    migrator.run_direct(None, conn, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_ship_the_same_migration_names() {
        let names = |e| {
            shipped(e)
                .into_iter()
                .map(|m| m.label())
                .collect::<Vec<_>>()
        };
        assert!(!names(Engine::Sqlite).is_empty());
        assert_eq!(names(Engine::Sqlite), names(Engine::Postgres));
    }
}
