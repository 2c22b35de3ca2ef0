//! Operator access (issue 5, SEC-39): no web back door; the operator reads a tenant's records
//! only through the CLI, only under a live grant from the tenant's owners or admins, and every
//! attempt lands in the tenant's audit trail.

use attest_test_support::{Backend, TestApp, both_backends};
use reqwest::StatusCode;
use time::OffsetDateTime;

use crate::documents::new_document;
use crate::identity::bootstrap;
use crate::mfa::{audit_count, rows};

const TENANT: &str = "Northwind Trading";

/// Runs `attest admin tenant-documents` against the test server's database.
fn operator_reads(app: &TestApp) -> std::process::Output {
    std::process::Command::new(crate::attest_bin())
        .args([
            "--data-dir",
            app.data_dir.path().to_str().unwrap(),
            "admin",
            "tenant-documents",
            "--tenant",
            TENANT,
        ])
        .env("ATTEST_DATABASE__URL", &app.db.url)
        .output()
        .unwrap()
}

/// Moves every grant's window to `[from, until)` in real time: the CLI reads the system
/// clock, the test server a manual one (grey-box, as the database owner in the tenant's scope).
async fn set_window(
    app: &TestApp,
    tenant: &str,
    only_revoked: bool,
    from: OffsetDateTime,
    until: OffsetDateTime,
) {
    use sqlx::Connection as _;
    let sql = if only_revoked {
        "UPDATE operator_grant SET created_at = $1, expires_at = $2 WHERE revoked_at IS NOT NULL"
    } else {
        "UPDATE operator_grant SET created_at = $1, expires_at = $2"
    };
    match app.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(sql)
                .bind(from)
                .bind(until)
                .execute(&mut c)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.owner_url)
                .await
                .unwrap();
            let mut tx = c.begin().await.unwrap();
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(tenant)
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(from)
                .bind(until)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
}

both_backends!(
    sec_39_the_operator_reads_a_tenant_only_under_its_expiring_grant,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        new_document(&owner, "Vendor contract register", "<p>secret terms</p>").await;
        let me: serde_json::Value = owner
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap();
        let tenant = me["tenant_id"].as_str().unwrap().to_owned();

        // No grant → refused (exit 4), and the attempt is audited in the tenant's chain.
        let out = operator_reads(&app);
        let text = attest_test_support::binary::text(&out);
        assert_eq!(out.status.code(), Some(4), "{text}");
        assert!(!text.contains("Vendor contract register"));
        assert_eq!(audit_count(&app, "operator.access", "denied").await, 1);

        // The owner grants access: 1 to 24 hours, with a reason.
        for (hours, reason) in [("0", "help"), ("25", "help"), ("4", "")] {
            let r = owner
                .post_form(
                    "/tenant/operator-access",
                    &[("hours", hours), ("reason", reason)],
                )
                .await;
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{hours} {reason}"
            );
        }
        let r = owner
            .post_form(
                "/tenant/operator-access",
                &[("hours", "24"), ("reason", "Support ticket 1234")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let hours: Vec<String> = rows(&app, "SELECT reason FROM operator_grant", &[]).await;
        // (On PostgreSQL row-level security hides the grant from an unscoped query.)
        assert_eq!(hours.len(), usize::from(backend == Backend::Sqlite));
        assert_eq!(
            audit_count(&app, "operator_grant.create", "success").await,
            1
        );

        // Within the grant → the listing, metadata only, audited.
        // The CLI reads the system clock.
        let now = attest_types::Clock::now(&attest_types::SystemClock);
        set_window(
            &app,
            &tenant,
            false,
            now - time::Duration::minutes(5),
            now + time::Duration::hours(23),
        )
        .await;
        let out = operator_reads(&app);
        let text = attest_test_support::binary::text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Vendor contract register"), "{text}");
        assert!(!text.contains("secret terms"), "never the body: {text}");
        assert_eq!(audit_count(&app, "operator.access", "success").await, 1);

        // After expiry → refused again.
        set_window(
            &app,
            &tenant,
            false,
            now - time::Duration::hours(25),
            now - time::Duration::hours(1),
        )
        .await;
        let out = operator_reads(&app);
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(audit_count(&app, "operator.access", "denied").await, 2);

        // A revoked grant stops at once.
        let r = owner
            .post_form(
                "/tenant/operator-access",
                &[("hours", "2"), ("reason", "Ticket 1235")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = owner
            .get("/tenant/operator-access")
            .await
            .text()
            .await
            .unwrap();
        let revoke = page
            .split("action=\"")
            .filter_map(|s| s.split('"').next())
            .find(|a| a.ends_with("/revoke"))
            .expect("a live grant to end")
            .to_owned();
        assert_eq!(
            owner.post_form(&revoke, &[]).await.status(),
            StatusCode::SEE_OTHER
        );
        set_window(
            &app,
            &tenant,
            true,
            now - time::Duration::minutes(5),
            now + time::Duration::hours(1),
        )
        .await;
        let out = operator_reads(&app);
        assert_eq!(out.status.code(), Some(4), "revoked grants do not count");
        assert_eq!(
            audit_count(&app, "operator_grant.revoke", "success").await,
            1
        );
        app.shutdown().await;
    }
);
