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

both_backends!(
    dev_seed_fills_a_new_organisation_and_refuses_an_existing_one,
    |backend| async move {
        use attest_test_support::binary::{run_with_stdin, text};
        let app = TestApp::start(backend).await;
        let data = app.data_dir.path().to_str().unwrap().to_owned();
        let seed = |tenant: &str| {
            run_with_stdin(
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
                    "40",
                    "--runs-per-control",
                    "4",
                    "--audit-events",
                    "300",
                    "--risks",
                    "7",
                    "--password-stdin",
                ],
                &[("ATTEST_DATABASE__URL", &app.db.url)],
                &format!("{}\n", crate::documents::PASSWORD),
            )
        };
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
