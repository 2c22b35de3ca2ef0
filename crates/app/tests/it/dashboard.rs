//! The dashboard (issue 7), over TLS on both databases: coverage, effectiveness, overdue runs,
//! heat maps and tasks follow what the programme holds, on the page (server-drawn SVG) and in
//! the API; members who see only shared items have none.

use attest_test_support::{TestApp, both_backends};
use attest_types::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::activities::{again, new_activity, runs_of, user_id};
use crate::controls::{new_control, small_framework};
use crate::documents::person;
use crate::evidence::TENANT;
use crate::risks::new_risk;

both_backends!(the_dashboard_follows_the_programme, |backend| async move {
    let app = TestApp::start(backend).await;
    let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
    let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
    let _eve = person(&app, TENANT, "eve@client.test", Role::External).await;
    let (mona_id, carl_id) = (user_id(&mona).await, user_id(&carl).await);
    let dash = |b: &attest_test_support::Browser| {
        let b = b.clone();
        async move {
            b.get_json("/api/v1/dashboard")
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = dash(&mona).await;
    assert_eq!(v["coverage"], json!([]));
    assert_eq!(v["effectiveness"]["effective"], 0);
    assert_eq!(v["overdue_runs"], 0);
    let fw = small_framework(&mona, "ISO-like").await;
    let ctl = new_control(
        &mona,
        json!({ "reference": "CTL-1", "title": "Backups", "status": "implemented" }),
    )
    .await;
    let r = mona
        .api(
            Method::POST,
            &format!("/api/v1/controls/{ctl}/mappings"),
            Some(json!({ "framework": fw, "requirement": "B.1" })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    new_control(&mona, json!({ "reference": "CTL-2", "title": "Not applicable here", "status": "not_applicable", "justification": "No office" })).await;
    new_activity(&mona, &ctl, json!({ "title": "Restore test", "frequency": "monthly", "starts_on": "2026-11-01", "performer": carl_id, "reviewer": mona_id })).await;
    new_risk(&carl, json!({ "title": "Ransomware", "category": "Technology", "inherent_likelihood": 4, "inherent_impact": 5, "residual_likelihood": 2, "residual_impact": 5 })).await;
    let v = dash(&mona).await;
    assert_eq!(v["coverage"][0]["mapped"], 1);
    assert_eq!(v["coverage"][0]["applicable"], 4);
    assert_eq!(v["coverage"][0]["mapped_percent"], 25);
    // The control that does not apply is left out.
    assert_eq!(v["effectiveness"]["not_tested"], 1);
    assert_eq!(v["heat_maps"]["inherent"]["counts"][3][4], 1);
    assert_eq!(v["heat_maps"]["residual"]["counts"][1][4], 1);
    // Carl's task: the run due on 30 November.
    let t = dash(&carl).await;
    assert_eq!(t["tasks"]["to_perform"][0]["due_on"], "2026-11-30");
    // After the due date, the run is overdue and the control too.
    app.clock.advance(time::Duration::days(8));
    let mona = again(&app, "mona@northwind.test").await;
    app.state().activities.sweep(&app.base).await.unwrap();
    let v = dash(&mona).await;
    assert_eq!(v["overdue_runs"], 1);
    assert_eq!(v["effectiveness"]["overdue"], 1);
    assert_eq!(v["most_overdue"][0]["control_reference"], "CTL-1");
    // The page draws it.
    let page = mona.get("/dashboard").await.text().await.unwrap();
    assert!(page.contains("Overdue activities: 1"), "{page}");
    assert!(
        page.contains("1 controls by effectiveness, effective: 0, not tested: 0, overdue: 1"),
        "{page}"
    );
    assert!(page.contains("Inherent risk: 1 risks"));
    assert!(page.contains("ISO-like"));
    let runs = runs_of(&mona, &ctl).await;
    assert!(!runs.is_empty());
    // Members who see only shared items have no dashboard.
    let eve = again(&app, "eve@client.test").await;
    assert_eq!(eve.get("/dashboard").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        eve.get_json("/api/v1/dashboard").await.status(),
        StatusCode::NOT_FOUND
    );
    app.shutdown().await;
});

/// Runs `attest dev seed` on a test server's database: a new organisation `tenant` with
/// `[controls, runs per control, audit events, risks]`, managed by seed@bench.test.
pub(crate) fn dev_seed(app: &TestApp, tenant: &str, size: [u32; 4]) -> std::process::Output {
    let data = app.data_dir.path().to_str().unwrap().to_owned();
    let [controls, runs, audit, risks] = size.map(|n| n.to_string());
    attest_test_support::binary::run_with_stdin(
        &crate::attest_bin(),
        &[
            "--data-dir",
            &data,
            "dev",
            "seed",
            "--tenant",
            tenant,
            "--manager-email",
            "seed@bench.test",
            "--controls",
            &controls,
            "--runs-per-control",
            &runs,
            "--audit-events",
            &audit,
            "--risks",
            &risks,
            "--password-stdin",
        ],
        &[("ATTEST_DATABASE__URL", &app.db.url)],
        &format!("{}\n", crate::documents::PASSWORD),
    )
}

both_backends!(
    dev_seed_fills_a_new_organisation_and_refuses_an_existing_one,
    |backend| async move {
        use attest_test_support::binary::text;
        let app = TestApp::start(backend).await;
        let seed = |tenant: &str| dev_seed(&app, tenant, [40, 4, 300, 7]);
        let out = seed("Seeded Org");
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("40 controls, 40 activities, 160 runs"),
            "{}",
            text(&out)
        );
        assert!(!text(&out).contains(crate::documents::PASSWORD));
        assert_eq!(crate::evidence::count(&app, "control").await, 40);
        assert_eq!(crate::evidence::count(&app, "activity_run").await, 160);
        assert_eq!(crate::evidence::count(&app, "risk").await, 7);
        // Never into an organisation that exists.
        let out = seed("Seeded Org");
        assert!(!out.status.success());
        assert!(text(&out).contains("exists"), "{}", text(&out));
        assert_eq!(crate::evidence::count(&app, "control").await, 40);
        // The seeded manager signs in and sees the programme.
        let b = app.browser();
        let r = crate::identity::login(&b, "seed@bench.test", crate::documents::PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let v: Value = b.get_json("/api/v1/dashboard").await.json().await.unwrap();
        let counted: i64 = v["effectiveness"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum();
        assert_eq!(counted, 38, "{v}"); // two of the forty do not apply
        // The audit trail is intact.
        let report = attest_domain::audit::verify(&app.state().db, None)
            .await
            .unwrap();
        assert!(report.breaks.is_empty(), "{report:?}");
        app.shutdown().await;
    }
);

/// The dashboard's counts equal a count over the tables (grey: the tables are read directly).
async fn counts_match_the_tables(app: &TestApp, b: &attest_test_support::Browser) {
    let v: Value = b.get_json("/api/v1/dashboard").await.json().await.unwrap();
    for state in ["effective", "not_tested", "overdue", "deficient"] {
        let direct = crate::evidence::scalars(
            app,
            &format!(
                "SELECT count(*) FROM control WHERE effectiveness = '{state}' AND status <> 'not_applicable'"
            ),
        )
        .await[0];
        assert_eq!(
            v["effectiveness"][state].as_i64(),
            Some(direct),
            "{state}: {v}"
        );
    }
    let today = attest_types::Clock::now(&app.clock).date();
    let overdue = crate::evidence::scalars(
        app,
        &format!(
            "SELECT count(*) FROM activity_run WHERE state <> 'approved' AND due_on < '{today}'"
        ),
    )
    .await[0];
    assert_eq!(v["overdue_runs"].as_i64(), Some(overdue), "{v}");
}

// The dashboard reads controls by effectiveness and overdue runs from tallies that database
// triggers keep in the same transaction as every change (migration 0017). Whatever changes a
// control or a run (creation, a status change, performing and approving, time passing,
// deletion), the tallies agree with the tables, and the sweep folds them to one row per key.
both_backends!(
    the_dashboard_tallies_follow_every_change_and_fold_to_one_row_per_key,
    |backend| async move {
        use crate::activities::{evidence_on, perform, review};
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let (mona_id, carl_id) = (user_id(&mona).await, user_id(&carl).await);
        let a = new_control(
            &mona,
            json!({ "reference": "CTL-A", "title": "Backups", "status": "implemented" }),
        )
        .await;
        let b = new_control(
            &mona,
            json!({ "reference": "CTL-B", "title": "Access", "status": "draft" }),
        )
        .await;
        let c = new_control(&mona, json!({ "reference": "CTL-C", "title": "Office", "status": "not_applicable", "justification": "No office" })).await;
        new_activity(&mona, &a, json!({ "title": "Restore test", "frequency": "weekly", "starts_on": "2026-10-05", "performer": carl_id, "reviewer": mona_id })).await;
        new_activity(&mona, &b, json!({ "title": "Access check", "frequency": "monthly", "starts_on": "2026-09-01", "performer": carl_id, "reviewer": mona_id })).await;
        counts_match_the_tables(&app, &mona).await;
        // A run performed with covering evidence, then approved.
        let runs = runs_of(&mona, &a).await;
        let run = runs[0]["id"].as_str().unwrap().to_owned();
        let proof = evidence_on(&carl, "Restore log", "2026-10-01", Some("2027-03-31")).await;
        assert_eq!(
            perform(&carl, &run, "effective", &[&proof]).await.status(),
            StatusCode::NO_CONTENT
        );
        counts_match_the_tables(&app, &mona).await;
        assert_eq!(
            review(&mona, &run, "approve", "").await.status(),
            StatusCode::NO_CONTENT
        );
        counts_match_the_tables(&app, &mona).await;

        // Status changes in and out of "not applicable", and a deletion.
        let r = mona
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{b}"),
                Some(json!({ "reference": "CTL-B", "title": "Access", "status": "not_applicable", "justification": "Outsourced" })),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
        counts_match_the_tables(&app, &mona).await;
        let r = mona
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{c}"),
                Some(json!({ "reference": "CTL-C", "title": "Office", "status": "implemented" })),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
        new_activity(&mona, &c, json!({ "title": "Office walk", "frequency": "monthly", "starts_on": "2026-11-01", "performer": carl_id, "reviewer": mona_id })).await;
        counts_match_the_tables(&app, &mona).await;
        let r = mona
            .api(Method::DELETE, &format!("/api/v1/controls/{a}"), None)
            .await;
        assert!(r.status().is_success(), "{}", r.status());
        counts_match_the_tables(&app, &mona).await;

        // Time passes: the sweep creates runs, marks controls overdue and folds the tallies.
        app.clock.advance(time::Duration::days(40));
        let mona = again(&app, "mona@northwind.test").await;
        app.state().activities.sweep(&app.base).await.unwrap();
        counts_match_the_tables(&app, &mona).await;
        let v: Value = mona
            .get_json("/api/v1/dashboard")
            .await
            .json()
            .await
            .unwrap();
        assert!(v["overdue_runs"].as_i64().unwrap() > 0, "{v}");
        assert!(v["effectiveness"]["overdue"].as_i64().unwrap() > 0, "{v}");
        let keys = crate::evidence::scalars(
            &app,
            "SELECT count(*) FROM (SELECT effectiveness, status FROM control_tally \
             GROUP BY effectiveness, status) AS k",
        )
        .await[0];
        assert_eq!(crate::evidence::count(&app, "control_tally").await, keys);
        let days = crate::evidence::scalars(
            &app,
            "SELECT count(*) FROM (SELECT due_on FROM open_run_tally GROUP BY due_on) AS k",
        )
        .await[0];
        assert_eq!(crate::evidence::count(&app, "open_run_tally").await, days);
        // The sweep recorded, for every active activity, the day it can next need a run, and
        // that day lies ahead: the next sweep passes them all by (migration 0018).
        let today = attest_types::Clock::now(&app.clock).date();
        let due = crate::evidence::scalars(
            &app,
            &format!(
                "SELECT count(*) FROM activity WHERE active AND (schedule_after IS NULL OR schedule_after <= '{today}')"
            ),
        )
        .await[0];
        assert_eq!(due, 0);
        let runs_before = crate::evidence::count(&app, "activity_run").await;
        // ...until time reaches that day: another 40 days on, runs are created again.
        app.clock.advance(time::Duration::days(40));
        let report = app.state().activities.sweep(&app.base).await.unwrap();
        assert!(report.scheduled > 0, "{report:?}");
        assert!(crate::evidence::count(&app, "activity_run").await > runs_before);
        let mona = again(&app, "mona@northwind.test").await;
        counts_match_the_tables(&app, &mona).await;
        app.shutdown().await;
    }
);
