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

/// Refreshes the planner's statistics after a bulk load (`attest dev seed`): PostgreSQL's
/// `ANALYZE`, run as the owner (other roles may not analyze the tables). Without it, a
/// freshly loaded million-row table is planned as if it were empty until autovacuum gets to
/// it. SQLite is left without statistics: its plans are chosen from the indexes alone, and
/// the lists' plans are checked that way.
///
/// # Errors
/// On database failure.
pub async fn analyze(owner: &Db) -> Result<(), DbError> {
    if let DbInner::Pg(p) = owner.inner() {
        sqlx::query("ANALYZE").execute(p).await?;
    }
    Ok(())
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

#[cfg(test)]
mod classification_tests {
    use super::*;

    const CLASSIFICATION: &str = include_str!("../../../docs/DATA-CLASSIFICATION.md");
    const CONSTRAINTS: &[&str] = &[
        "UNIQUE",
        "PRIMARY",
        "CHECK",
        "FOREIGN",
        "CONSTRAINT",
        "EXCLUDE",
    ];

    /// `table.column` for every column created by the migrations.
    fn columns(sql: &str) -> Vec<String> {
        let mut out = Vec::new();
        let upper = sql.to_ascii_uppercase();
        let mut from = 0;
        while let Some(pos) = upper[from..].find("CREATE TABLE ") {
            let start = from + pos + "CREATE TABLE ".len();
            let name_end = sql[start..].find('(').map_or(sql.len(), |e| start + e);
            let table = sql[start..name_end]
                .trim()
                .trim_start_matches("IF NOT EXISTS ")
                .to_owned();
            let mut depth = 0;
            let mut body_end = name_end;
            for (i, ch) in sql[name_end..].char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            body_end = name_end + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            for line in sql[name_end + 1..body_end].lines() {
                let line = line.split("--").next().unwrap_or_default().trim();
                let Some(first) = line.split_whitespace().next() else {
                    continue;
                };
                if CONSTRAINTS.contains(&first.to_ascii_uppercase().as_str()) {
                    continue;
                }
                out.push(format!("{table}.{first}"));
            }
            from = body_end;
        }
        for statement in sql.split(';') {
            let text = statement
                .lines()
                .map(|l| l.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ");
            let words: Vec<&str> = text.split_whitespace().collect();
            if let [alter, table_kw, table, add, column_kw, column, ..] = words.as_slice()
                && alter.eq_ignore_ascii_case("ALTER")
                && table_kw.eq_ignore_ascii_case("TABLE")
                && add.eq_ignore_ascii_case("ADD")
                && column_kw.eq_ignore_ascii_case("COLUMN")
            {
                out.push(format!("{table}.{column}"));
            }
        }
        out
    }

    /// SEC-63: CI fails on a column that has no classification.
    #[test]
    fn sec_63_every_column_is_classified() {
        let levels = ["Critical", "High", "Moderate", "Low", "Public"];
        for engine in [Engine::Sqlite, Engine::Postgres] {
            for m in shipped(engine) {
                let cols = columns(m.sql);
                assert!(!cols.is_empty() || !m.sql.contains("CREATE TABLE"));
                for col in cols {
                    let row = CLASSIFICATION
                        .lines()
                        .find(|l| l.starts_with(&format!("| `{col}` |")))
                        .unwrap_or_else(|| {
                            panic!(
                                "{col} ({}) has no classification in docs/DATA-CLASSIFICATION.md",
                                m.label()
                            )
                        });
                    assert!(
                        levels.iter().any(|lvl| row.contains(&format!("| {lvl} |"))),
                        "{col}: unknown level in {row}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_column_parser_sees_every_column() {
        let cols =
            columns("CREATE TABLE t (\n a INT, -- x\n b TEXT NOT NULL,\n UNIQUE (a, b)\n) STRICT;");
        assert_eq!(cols, vec!["t.a", "t.b"]);
        let added = columns("-- c\nALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0;\n");
        assert_eq!(added, vec!["t.c"]);
    }
}
