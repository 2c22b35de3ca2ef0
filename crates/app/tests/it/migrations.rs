//! Migrations: pending ones stop a start, a failing one changes nothing and is named.

use attest_config::{Config, Overrides};
use attest_db::migrate::{self, MigrationSpec};
use attest_db::{ConnectOptions, Db};
use attest_test_support::{Backend, TestDb, both_backends};

async fn owner_db(db: &TestDb) -> Db {
    Db::connect(
        &db.owner_url,
        ConnectOptions {
            create_if_missing: true,
            ..ConnectOptions::sized(2)
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

both_backends!(
    widening_the_framework_source_keeps_frameworks_and_their_requirements,
    |backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::create(backend, dir.path()).await;
        let owner = owner_db(&db).await;
        let all = migrate::shipped(owner.engine());
        let before: Vec<MigrationSpec> = all.iter().filter(|m| m.version < 15).cloned().collect();
        migrate::run_set(&owner, &before).await.unwrap();
        // A framework and its requirement imported before YAML existed.
        let (t, f, r) = match backend {
            Backend::Sqlite => (
                "x'00000000000000000000000000000001'",
                "x'00000000000000000000000000000002'",
                "x'00000000000000000000000000000003'",
            ),
            Backend::Postgres => (
                "'00000000-0000-0000-0000-000000000001'",
                "'00000000-0000-0000-0000-000000000002'",
                "'00000000-0000-0000-0000-000000000003'",
            ),
        };
        let now = match backend {
            Backend::Sqlite => "'2026-12-01T00:00:00Z'",
            Backend::Postgres => "now()",
        };
        // PostgreSQL's row-level security applies to the owner too: name the tenant.
        let scope = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => "SET app.tenant_id = '00000000-0000-0000-0000-000000000001'; ",
        };
        let leak = |sql: String| -> &'static str { Box::leak(sql.into_boxed_str()) };
        let seed = format!(
            "{scope}INSERT INTO tenant (id, name, created_at) VALUES ({t}, 'Northwind', {now}); \
             INSERT INTO framework (id, tenant_id, title, version, source, provenance, requirement_count, created_at, updated_at) \
             VALUES ({f}, {t}, 'ISMS', '1', 'csv', '{{}}', 1, {now}, {now}); \
             INSERT INTO requirement (id, tenant_id, framework_id, ref, kind, label, title, statement, guidance, position, depth) \
             VALUES ({r}, {t}, {f}, 'A.1', 'requirement', 'A.1', 'Accounts', 'x', '', 0, 0);"
        );
        exec_owner(&db, leak(seed)).await;
        let applied = migrate::run(&owner).await.unwrap();
        assert!(applied.iter().any(|m| m.label() == "0015_yaml_frameworks"));
        assert!(table_exists(&db, "requirement").await);
        let rows: Vec<(String, i64)> = match backend {
            Backend::Sqlite => {
                use sqlx::Connection as _;
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query_as("SELECT f.source, (SELECT count(*) FROM requirement r WHERE r.framework_id = f.id) FROM framework f")
                    .fetch_all(&mut c)
                    .await
                    .unwrap()
            }
            Backend::Postgres => {
                use sqlx::Connection as _;
                use sqlx::Executor as _;
                let mut c = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
                c.execute(scope).await.unwrap();
                sqlx::query_as("SELECT f.source, (SELECT count(*) FROM requirement r WHERE r.framework_id = f.id) FROM framework f")
                    .fetch_all(&mut c)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(rows, [("csv".to_owned(), 1)], "nothing cascaded away");
        // The wider check takes YAML and still refuses what is not a source.
        exec_owner(
            &db,
            leak(format!("{scope}UPDATE framework SET source = 'yaml'")),
        )
        .await;
        assert!(
            try_exec_owner(
                &db,
                leak(format!("{scope}UPDATE framework SET source = 'xml'"))
            )
            .await
            .is_err()
        );
        owner.close().await;
    }
);

async fn try_exec_owner(db: &TestDb, sql: &'static str) -> Result<(), sqlx::Error> {
    use sqlx::{Connection as _, Executor as _};
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await?;
            c.execute(sql).await.map(|_| ())
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.owner_url).await?;
            c.execute(sql).await.map(|_| ())
        }
    }
}

both_backends!(
    the_dashboard_tallies_start_from_the_counts_of_a_populated_database,
    |backend| async move {
        use attest_test_support::TestApp;
        use attest_test_support::binary::text;
        // A populated database (the seed: controls of every status, runs approved and not),
        // taken back to before migration 0017.
        let app = TestApp::start(backend).await;
        let out = crate::dashboard::dev_seed(&app, "Seeded Org", [60, 5, 10, 1]);
        assert!(out.status.success(), "{}", text(&out));
        let undo = match backend {
            Backend::Sqlite => {
                "DROP TABLE control_tally; DROP TABLE open_run_tally; \
                 DROP TRIGGER control_tally_insert; DROP TRIGGER control_tally_update; \
                 DROP TRIGGER control_tally_delete; DROP TRIGGER open_run_tally_insert; \
                 DROP TRIGGER open_run_tally_update; DROP TRIGGER open_run_tally_delete; \
                 DELETE FROM _sqlx_migrations WHERE version = 17;"
            }
            Backend::Postgres => {
                "DROP TABLE control_tally; DROP TABLE open_run_tally; \
                 DROP FUNCTION control_tally_delta() CASCADE; \
                 DROP FUNCTION open_run_tally_delta() CASCADE; \
                 DELETE FROM _sqlx_migrations WHERE version = 17;"
            }
        };
        exec_owner(&app.db, undo).await;
        assert!(!table_exists(&app.db, "control_tally").await);
        let owner = owner_db(&app.db).await;
        let applied = migrate::run(&owner).await.unwrap();
        assert_eq!(
            applied.iter().map(MigrationSpec::label).collect::<Vec<_>>(),
            ["0017_dashboard_tallies"]
        );
        owner.close().await;
        // The tallies hold what the tables hold, key by key.
        let by_key = crate::evidence::scalars(
            &app,
            "SELECT count(*) FROM (SELECT effectiveness, status, count(*) AS n FROM control \
             GROUP BY effectiveness, status) AS c WHERE n = (SELECT SUM(t.n) FROM control_tally t \
             WHERE t.effectiveness = c.effectiveness AND t.status = c.status)",
        )
        .await[0];
        let keys = crate::evidence::scalars(
            &app,
            "SELECT count(*) FROM (SELECT effectiveness, status FROM control GROUP BY effectiveness, status) AS c",
        )
        .await[0];
        assert!(keys >= 3, "the seed has several statuses and states");
        assert_eq!(by_key, keys);
        let open = crate::evidence::scalars(
            &app,
            "SELECT count(*) FROM activity_run WHERE state <> 'approved'",
        )
        .await[0];
        let tallied = crate::evidence::scalars(
            &app,
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM open_run_tally",
        )
        .await[0];
        assert!(open > 0);
        assert_eq!(tallied, open);
        app.shutdown().await;
    }
);
