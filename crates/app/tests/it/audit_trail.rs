//! The tamper-evident audit trail (SEC-73, SEC-71 core).

use attest_domain::audit::{self, AuditRecord, BreakKind, Outcome};
use attest_test_support::binary::{run, text};
use attest_test_support::{Backend, TestApp, both_backends};
use attest_types::{Actor, TenantId, UserId};
use sqlx::Connection as _;

use crate::attest_bin;

async fn record_some(app: &TestApp, tenant: TenantId, n: usize) {
    for i in 0..n {
        app.state()
            .audit
            .record(
                AuditRecord::tenant(
                    tenant,
                    Actor::User(UserId::new_random()),
                    "risk.update",
                    Outcome::Success,
                )
                .object("risk", format!("r{i}"))
                .request(
                    Some("203.0.113.7".parse().unwrap()),
                    Some(attest_types::RequestId::new_random()),
                )
                .details(serde_json::json!({ "fields": ["title"], "n": i })),
            )
            .await
            .unwrap();
    }
}

/// Runs SQL as the database owner (or directly on the SQLite file), bypassing the app.
async fn tamper(app: &TestApp, sql: &str) -> Result<u64, String> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match app.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.owner_url)
                .await
                .unwrap();
            sqlx::raw_sql(sql)
                .execute(&mut c)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
    }
}

fn verify_cli(app: &TestApp, tenant: Option<TenantId>) -> std::process::Output {
    let data = app.data_dir.path().to_str().unwrap().to_owned();
    let mut args = vec![
        "--data-dir".to_owned(),
        data,
        "audit".to_owned(),
        "verify".to_owned(),
    ];
    if let Some(t) = tenant {
        args.push("--tenant".to_owned());
        args.push(t.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(
        &attest_bin(),
        &args,
        &[("ATTEST_DATABASE__URL", &app.db.url)],
    )
}

both_backends!(sec_73_intact_chains_verify, |backend| async move {
    let app = TestApp::start(backend).await;
    let tenant = TenantId::new_random();
    record_some(&app, tenant, 5).await;
    let report = audit::verify(&app.state().db, None).await.unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
    assert_eq!(report.chains, 2, "the tenant's chain and the system chain");
    let out = verify_cli(&app, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit trail intact"), "{}", text(&out));
    app.shutdown().await;
});

both_backends!(sec_73_a_changed_entry_is_named, |backend| async move {
    let app = TestApp::start(backend).await;
    let tenant = TenantId::new_random();
    record_some(&app, tenant, 5).await;
    assert_eq!(
        tamper_chain(
            &app,
            tenant,
            "UPDATE audit_event SET outcome = 'failure' WHERE chain_id = {chain} AND seq = 3"
        )
        .await,
        Ok(1)
    );
    assert_eq!(first_break(&app, tenant).await, (3, BreakKind::Changed));
    let out = verify_cli(&app, Some(tenant));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("entry 3 was changed"), "{}", text(&out));
    app.shutdown().await;
});

both_backends!(sec_73_a_removed_entry_is_named, |backend| async move {
    let app = TestApp::start(backend).await;
    let tenant = TenantId::new_random();
    record_some(&app, tenant, 5).await;
    assert_eq!(
        tamper_chain(
            &app,
            tenant,
            "DELETE FROM audit_event WHERE chain_id = {chain} AND seq = 2"
        )
        .await,
        Ok(1)
    );
    assert_eq!(first_break(&app, tenant).await, (3, BreakKind::Removed));
    // Removing the newest entries is caught by the chain head.
    assert_eq!(
        tamper_chain(
            &app,
            tenant,
            "DELETE FROM audit_event WHERE chain_id = {chain} AND seq >= 4"
        )
        .await,
        Ok(2)
    );
    tamper_chain(
        &app,
        tenant,
        "DELETE FROM audit_event WHERE chain_id = {chain} AND seq >= 2",
    )
    .await
    .unwrap();
    assert_eq!(first_break(&app, tenant).await, (2, BreakKind::Truncated));
    let out = verify_cli(&app, Some(tenant));
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("entry 2 is missing"), "{}", text(&out));
    app.shutdown().await;
});

both_backends!(sec_73_swapped_entries_are_named, |backend| async move {
    let app = TestApp::start(backend).await;
    let tenant = TenantId::new_random();
    record_some(&app, tenant, 5).await;
    // Swap the positions of entries 2 and 4 (every column travels with its row).
    tamper_chain(
        &app,
        tenant,
        "UPDATE audit_event SET seq = -2 WHERE chain_id = {chain} AND seq = 2; \
         UPDATE audit_event SET seq = 2 WHERE chain_id = {chain} AND seq = 4; \
         UPDATE audit_event SET seq = 4 WHERE chain_id = {chain} AND seq = -2;",
    )
    .await
    .unwrap();
    let report = audit::verify(&app.state().db, Some(Some(tenant)))
        .await
        .unwrap();
    assert_eq!(report.breaks.len(), 1);
    assert_eq!(report.breaks[0].seq, 2);
    let out = verify_cli(&app, Some(tenant));
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("entry 2"), "{}", text(&out));
    app.shutdown().await;
});

/// Tampers with one tenant's chain as an attacker with database access would (`{chain}` in
/// the statements stands for the chain id); on SQLite the append-only triggers are dropped
/// first. Returns the rows affected by the last statement.
async fn tamper_chain(app: &TestApp, tenant: TenantId, statements: &str) -> Result<u64, String> {
    let (guards, chain) = match app.db.backend {
        Backend::Sqlite => (
            "DROP TRIGGER IF EXISTS audit_event_no_update; DROP TRIGGER IF EXISTS audit_event_no_delete;",
            format!("X'{}'", tenant.as_uuid().simple()),
        ),
        Backend::Postgres => ("", format!("'{tenant}'::uuid")),
    };
    tamper(
        app,
        &format!("{guards} {}", statements.replace("{chain}", &chain)),
    )
    .await
}

/// The first break `verify` finds in a tenant's chain.
async fn first_break(app: &TestApp, tenant: TenantId) -> (i64, BreakKind) {
    let report = audit::verify(&app.state().db, Some(Some(tenant)))
        .await
        .unwrap();
    let b = report
        .breaks
        .first()
        .unwrap_or_else(|| panic!("no break found: {report:?}"));
    (b.seq, b.problem)
}

// SEC-73: the application itself cannot rewrite history: SQLite triggers, and on
// PostgreSQL the app role has only SELECT and INSERT (and no DDL at all, SEC-34).
both_backends!(
    sec_73_the_app_cannot_update_or_delete_audit_events,
    |backend| async move {
        let app = TestApp::start(backend).await;
        record_some(&app, TenantId::new_random(), 1).await;
        let attempts = [
            "UPDATE audit_event SET action = 'nothing.happened'",
            "DELETE FROM audit_event",
        ];
        for sql in attempts {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            let err = match backend {
                Backend::Sqlite => {
                    let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
                    sqlx::raw_sql(sql)
                        .execute(&mut c)
                        .await
                        .unwrap_err()
                        .to_string()
                }
                Backend::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
                    sqlx::raw_sql(sql)
                        .execute(&mut c)
                        .await
                        .unwrap_err()
                        .to_string()
                }
            };
            let expected = match backend {
                Backend::Sqlite => "append-only",
                Backend::Postgres => "permission denied",
            };
            assert!(err.contains(expected), "{err}");
        }
        if backend == Backend::Postgres {
            let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            for ddl in [
                "DROP TABLE audit_event",
                "TRUNCATE audit_event",
                "CREATE TABLE sneaky (id int)",
                "ALTER TABLE audit_event DISABLE TRIGGER ALL",
            ] {
                let err = sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.to_owned()))
                    .execute(&mut c)
                    .await
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.contains("permission denied") || err.contains("must be owner"),
                    "{ddl}: {err}"
                );
            }
            let bypass: bool = sqlx::query_scalar(
                "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            assert!(!bypass, "the app role has no BYPASSRLS and is no superuser");
        }
        assert!(
            audit::verify(&app.state().db, None)
                .await
                .unwrap()
                .breaks
                .is_empty()
        );
        app.shutdown().await;
    }
);

both_backends!(
    concurrent_appends_never_fork_a_chain,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let tenant = TenantId::new_random();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let log = app.state().audit.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let r = AuditRecord::tenant(
                        tenant,
                        Actor::System,
                        "control.update",
                        Outcome::Success,
                    )
                    .object("control", format!("{w}-{i}"));
                    if i % 2 == 0 {
                        log.record(r).await.unwrap();
                    } else {
                        log.record_read(r).await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        app.state().audit.flush().await;
        let rows = attest_db::audit::recent(&app.state().db, tenant.as_uuid(), 1000)
            .await
            .unwrap();
        assert_eq!(rows.len(), 200);
        let mut seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        let report = audit::verify(&app.state().db, Some(Some(tenant)))
            .await
            .unwrap();
        assert!(report.breaks.is_empty(), "{report:?}");
        assert_eq!(report.entries, 200);
        app.shutdown().await;
    }
);

both_backends!(
    queued_read_events_are_flushed_on_shutdown,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let tenant = TenantId::new_random();
        for i in 0..100 {
            app.state()
                .audit
                .record_read(
                    AuditRecord::tenant(
                        tenant,
                        Actor::Anonymous,
                        "evidence.read",
                        Outcome::Success,
                    )
                    .object("evidence", i),
                )
                .await
                .unwrap();
        }
        // Shut down: the queue is flushed before the database closes.
        let TestApp {
            launched,
            db: test_db,
            data_dir: _dir,
            ..
        } = app;
        launched.unwrap().shutdown().await;
        let owner = test_db.url.clone();
        let count: i64 = match test_db.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&owner).await.unwrap();
                sqlx::query_scalar(
                    "SELECT count(*) FROM audit_event WHERE action = 'evidence.read'",
                )
                .fetch_one(&mut c)
                .await
                .unwrap()
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&owner).await.unwrap();
                sqlx::query_scalar(
                    "SELECT count(*) FROM audit_event WHERE action = 'evidence.read'",
                )
                .fetch_one(&mut c)
                .await
                .unwrap()
            }
        };
        assert_eq!(count, 100);
        drop(test_db);
    }
);
