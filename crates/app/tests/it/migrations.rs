//! Migrations: pending ones stop a start, a failing one changes nothing and is named.

use attest_config::{Config, Overrides};
use attest_db::migrate::{self, MigrationSpec};
use attest_db::{ConnectOptions, Db};
use attest_test_support::{Backend, TestDb, both_backends};

async fn owner_db(db: &TestDb) -> Db {
    Db::connect(
        &db.owner_url,
        ConnectOptions {
            max_connections: 2,
            create_if_missing: true,
        },
    )
    .await
    .unwrap()
}

fn config_for(db: &TestDb, data_dir: &std::path::Path) -> Config {
    Config::load(
        None,
        vec![
            ("ATTEST_DATABASE__URL".to_owned(), db.url.clone()),
            (
                "ATTEST_DATABASE__MIGRATION_URL".to_owned(),
                db.owner_url.clone(),
            ),
        ],
        &Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            listen: None,
        },
    )
    .unwrap()
}

both_backends!(
    pending_migrations_refuse_a_start_unless_asked,
    |backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::create(backend, dir.path()).await;
        // An existing, non-empty database whose schema is behind the binary.
        exec_owner(&db, "CREATE TABLE legacy (id INTEGER)").await;
        let cfg = config_for(&db, dir.path());
        let opened = attest_app::prepare::open_db(&cfg, &db.url).await.unwrap();
        assert!(!opened.fresh);
        let refused = attest_app::prepare::migrations(&cfg, &opened, false).await;
        let msg = refused.unwrap_err().to_string();
        assert!(msg.contains("0001_foundation"), "{msg}");
        assert!(msg.contains("attest migrate"), "{msg}");
        let shipped = migrate::shipped(opened.db.engine());
        assert_eq!(
            attest_domain::health::readiness(&opened.db).await,
            Err(attest_domain::health::NotReady::MigrationsPending(
                shipped.len()
            ))
        );
        let applied = attest_app::prepare::migrations(&cfg, &opened, true)
            .await
            .unwrap();
        assert_eq!(
            applied,
            shipped.iter().map(MigrationSpec::label).collect::<Vec<_>>()
        );
        assert!(migrate::pending(&opened.db).await.unwrap().is_empty());
        assert_eq!(attest_domain::health::readiness(&opened.db).await, Ok(()));
        opened.db.close().await;
    }
);

both_backends!(
    a_failing_migration_changes_nothing_and_is_named,
    |backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::create(backend, dir.path()).await;
        let owner = owner_db(&db).await;
        let mut set = migrate::shipped(owner.engine());
        set.push(MigrationSpec {
            version: 9001,
            name: "broken",
            sql: "CREATE TABLE half_done (id INTEGER); INSERT INTO no_such_table VALUES (1);",
        });
        let err = migrate::run_set(&owner, &set)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("9001_broken"), "{err}");
        assert!(err.contains("rolled back"), "{err}");
        // The good migration before it is applied; the broken one left no trace.
        let pending: Vec<_> = migrate::pending(&owner)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.label())
            .collect();
        assert!(pending.is_empty(), "{pending:?}");
        let still = migrate::run_set(&owner, &set)
            .await
            .unwrap_err()
            .to_string();
        assert!(still.contains("9001_broken"));
        assert!(
            !table_exists(&db, "half_done").await,
            "the failed migration's table was rolled back"
        );
        owner.close().await;
    }
);

async fn table_exists(db: &TestDb, table: &str) -> bool {
    use sqlx::Connection as _;
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = $1")
                .bind(table)
                .fetch_one(&mut c)
                .await
                .unwrap();
            n > 0
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(table)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    }
}

async fn exec_owner(db: &TestDb, sql: &'static str) {
    use sqlx::{Connection as _, Executor as _};
    match db.backend {
        Backend::Sqlite => {
            let opts: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
            let mut c = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true))
                .await
                .unwrap();
            c.execute(sql).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
            c.execute(sql).await.unwrap();
        }
    }
}
