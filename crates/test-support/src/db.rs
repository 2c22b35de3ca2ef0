//! A fresh database per test.

use std::path::Path;

use sqlx::{Connection as _, Executor as _, PgConnection};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// The PostgreSQL server of the machine.
    Postgres,
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The engine.
    pub backend: Backend,
    /// The URL the server uses (the app role on PostgreSQL).
    pub url: String,
    /// The owner role's URL (migrations, tampering in tests).
    pub owner_url: String,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("ATTEST_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str, user: Option<&str>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, _) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match user {
        Some(u) => format!("{scheme}://{u}@{host}/{db}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

async fn admin() -> PgConnection {
    let url = admin_url();
    match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url} ({e}). The PostgreSQL tests never skip: start the \
             server (`pg_ctlcluster 15 main start`) or point ATTEST_TEST_DATABASE_URL at one \
             (trust or password auth for a superuser)."
        ),
    }
}

async fn ensure_role(conn: &mut PgConnection, sql: &str) {
    if let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await {
        let msg = e.to_string();
        // Concurrent tests race to create the same role; either way it exists afterwards.
        assert!(
            msg.contains("already exists") || msg.contains("duplicate key"),
            "cannot create test role: {msg}"
        );
    }
}

impl TestDb {
    /// A fresh database. `data_dir` holds the SQLite file.
    pub async fn create(backend: Backend, data_dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", data_dir.join("attest.db").display());
                Self {
                    backend,
                    owner_url: url.clone(),
                    url,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let mut conn = admin().await;
                ensure_role(
                    &mut conn,
                    "CREATE ROLE attest_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
                )
                .await;
                ensure_role(
                    &mut conn,
                    "CREATE ROLE attest_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
                )
                .await;
                let name = format!("attest_t_{}", uuid::Uuid::new_v4().simple());
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} OWNER attest_owner"
                )))
                .await
                .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                let _ = conn.close().await;
                let base = admin_url();
                Self {
                    backend,
                    url: with_database(&base, &name, Some("attest_app")),
                    owner_url: with_database(&base, &name, Some("attest_owner")),
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The superuser URL of this test's PostgreSQL database (grey-box checks).
    #[must_use]
    pub fn superuser_url(&self) -> Option<String> {
        self.pg_name
            .as_ref()
            .map(|n| with_database(&admin_url(), n, None))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}
