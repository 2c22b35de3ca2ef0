//! Control activities (issue 7), over TLS on both databases: runs are scheduled ahead; a
//! run's performer can never approve it (SEC-42, API and pages); a control's effectiveness is
//! computed from its runs as the injected clock moves (on time, overdue, returned, late,
//! evidence not covering the period); schedules that make no sense are refused; reminders go
//! out by mail before and after the due date; the runs list exports CSV safely.

use attest_test_support::{Browser, SmtpSink, TestApp, both_backends};
use attest_types::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::controls::new_control;
use crate::documents::person;
use crate::evidence::{TENANT, count};
use crate::mfa::{audit_count, error_code};

pub(crate) async fn user_id(b: &Browser) -> String {
    let v: Value = b.get_json("/api/v1/account").await.json().await.unwrap();
    v["user"].as_str().unwrap().to_owned()
}

/// Uploads evidence effective on a day or over a period; returns its id.
pub(crate) async fn evidence_on(b: &Browser, title: &str, from: &str, to: Option<&str>) -> String {
    let mut fields = vec![("title", title), ("effective_from", from)];
    if let Some(to) = to {
        fields.push(("effective_to", to));
    }
    let r = b
        .upload_api(
            "/api/v1/evidence",
            &fields,
            Some(("proof.pdf", &crate::evidence::pdf(2_000))),
        )
        .await;
    let s = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// Defines an activity; returns its id.
pub(crate) async fn new_activity(b: &Browser, control: &str, body: Value) -> String {
    let r = b
        .api(
            Method::POST,
            &format!("/api/v1/controls/{control}/activities"),
            Some(body),
        )
        .await;
    let s = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// Every run of a control, by due date.
pub(crate) async fn runs_of(b: &Browser, control: &str) -> Vec<Value> {
    let v: Value = b
        .get_json(&format!(
            "/api/v1/runs?control={control}&show=all&limit=100"
        ))
        .await
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

pub(crate) async fn perform(
    b: &Browser,
    run: &str,
    result: &str,
    evidence: &[&str],
) -> reqwest::Response {
    b.api(
        Method::POST,
        &format!("/api/v1/runs/{run}/perform"),
        Some(json!({ "result": result, "comment": "Checked.", "evidence": evidence })),
    )
    .await
}

pub(crate) async fn review(
    b: &Browser,
    run: &str,
    decision: &str,
    remarks: &str,
) -> reqwest::Response {
    b.api(
        Method::POST,
        &format!("/api/v1/runs/{run}/review"),
        Some(json!({ "decision": decision, "remarks": remarks })),
    )
    .await
}

async fn control_state(b: &Browser, control: &str) -> (String, Vec<String>) {
    let v: Value = b
        .get_json(&format!("/api/v1/controls/{control}"))
        .await
        .json()
        .await
        .unwrap();
    (
        v["effectiveness"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_owned(),
        v["effectiveness_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect(),
    )
}

/// Signs a member in again (after the clock moved past the session's idle timeout).
pub(crate) async fn again(app: &TestApp, email: &str) -> Browser {
    let b = app.browser();
    let r = crate::identity::login(&b, email, crate::documents::PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email} signs in again");
    b
}

/// Moves the clock and signs the three members of a test in again.
async fn advance(app: &TestApp, days: i64) -> (Browser, Browser, Browser) {
    app.clock.advance(Duration::days(days));
    (
        again(app, "mona@northwind.test").await,
        again(app, "carl@northwind.test").await,
        again(app, "dora@northwind.test").await,
    )
}

async fn sweep(app: &TestApp) -> attest_domain::activities::SweepReport {
    app.state().activities.sweep(&app.base).await.unwrap()
}

both_backends!(
    sec_42_a_runs_performer_can_never_review_it_in_the_api_or_the_pages,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let dora = person(&app, TENANT, "dora@northwind.test", Role::Contributor).await;
        let aude = person(&app, TENANT, "aude@northwind.test", Role::Auditor).await;
        let (carl_id, dora_id) = (user_id(&carl).await, user_id(&dora).await);
        let control = new_control(
            &mona,
            json!({ "reference": "CTL-1", "title": "Access", "owner": carl_id }),
        )
        .await;
        // The reviewer can never be the performer, even when defining the activity.
        let r = mona
            .api(
                Method::POST,
                &format!("/api/v1/controls/{control}/activities"),
                Some(json!({ "title": "Review access", "frequency": "monthly", "starts_on": "2026-11-01", "performer": carl_id, "reviewer": carl_id })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_code(r).await, "reviewer_is_performer");
        // The control's owner defines it himself.
        new_activity(
            &carl,
            &control,
            json!({ "title": "Review access", "frequency": "monthly", "starts_on": "2026-11-01", "performer": carl_id, "reviewer": dora_id }),
        )
        .await;
        let runs = runs_of(&mona, &control).await;
        // November (current) and up to three months ahead: Dec, Jan, Feb.
        let periods: Vec<&str> = runs
            .iter()
            .map(|r| r["period_start"].as_str().unwrap())
            .collect();
        assert_eq!(
            periods,
            ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]
        );
        assert_eq!(runs[0]["due_on"], "2026-11-30");
        let run = runs[0]["id"].as_str().unwrap().to_owned();
        // Only the performer (or a compliance manager standing in) performs.
        assert_eq!(
            perform(&dora, &run, "effective", &[]).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            perform(&aude, &run, "effective", &[]).await.status(),
            StatusCode::FORBIDDEN
        );
        let ev = evidence_on(&carl, "November access list", "2026-11-20", None).await;
        let r = perform(&carl, &run, "effective", &[&ev]).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // SEC-42: the performer cannot approve his own run, through the API...
        let r = review(&carl, &run, "approve", "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "four_eyes");
        // ...or the page, which offers him no review form and says why.
        let page = carl
            .get(&format!("/runs/{run}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("someone else must review it"), "{page}");
        assert!(!page.contains("/review\""));
        let r = carl
            .post_form(
                &format!("/runs/{run}/review"),
                &[("decision", "approve"), ("remarks", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Nor can a compliance manager who stood in and performed it.
        let run2 = runs[1]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            perform(&mona, &run2, "effective", &[&ev]).await.status(),
            StatusCode::NO_CONTENT
        );
        let r = review(&mona, &run2, "approve", "").await;
        assert_eq!(error_code(r).await, "four_eyes");
        // The auditor reads but does not review.
        assert_eq!(
            review(&aude, &run, "approve", "").await.status(),
            StatusCode::FORBIDDEN
        );
        // The reviewer returns it, which needs remarks...
        let r = review(&dora, &run, "return", "").await;
        assert_eq!(error_code(r).await, "remarks_required");
        let r = review(&dora, &run, "return", "Attach the export itself.").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // ...the performer resubmits, and the reviewer approves through the page.
        assert_eq!(
            review(&dora, &run, "approve", "").await.status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            perform(&carl, &run, "effective", &[&ev]).await.status(),
            StatusCode::NO_CONTENT
        );
        let page = dora
            .get(&format!("/runs/{run}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Approve") && page.contains("Attach the export itself."));
        let r = dora
            .post_form(
                &format!("/runs/{run}/review"),
                &[("decision", "approve"), ("remarks", "Fine.")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let v: Value = mona
            .get_json(&format!("/api/v1/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["state"], "approved");
        assert_eq!(v["evidence"][0]["covers_period"], true);
        let steps: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "evidence_linked",
                "submitted",
                "returned",
                "submitted",
                "approved"
            ]
        );
        // An approved run is final.
        assert_eq!(
            perform(&carl, &run, "deficient", &[]).await.status(),
            StatusCode::CONFLICT
        );
        // Every step audited, the refusals too.
        assert_eq!(audit_count(&app, "activity_run.submit", "success").await, 3);
        assert_eq!(audit_count(&app, "activity_run.return", "success").await, 1);
        assert_eq!(
            audit_count(&app, "activity_run.approve", "success").await,
            1
        );
        // Dora's attempt to perform and the three four-eyes refusals (the auditor's are
        // refused by role before any object is looked at).
        assert_eq!(audit_count(&app, "access.denied", "denied").await, 4);
        // The database refuses it too: no run's reviewer is its performer.
        let sql =
            "UPDATE activity_run SET reviewed_by = performed_by WHERE performed_by IS NOT NULL";
        assert!(crate::activities::execute(&app, sql).await.is_err());
        app.shutdown().await;
    }
);

/// Runs a statement straight against the test database (past row-level security).
pub(crate) async fn execute(app: &TestApp, sql: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match app.db.superuser_url() {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(&url).await?;
            Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
        }
        None => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await?;
            Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
        }
    }
}

both_backends!(
    effectiveness_is_computed_from_the_runs_as_the_clock_moves,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mut mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let mut carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let mut dora = person(&app, TENANT, "dora@northwind.test", Role::Contributor).await;
        let (carl_id, dora_id) = (user_id(&carl).await, user_id(&dora).await);
        let control = new_control(
            &mona,
            json!({ "reference": "CTL-1", "title": "Backups", "status": "implemented" }),
        )
        .await;
        assert_eq!(control_state(&mona, &control).await.0, "not_tested");
        // Monthly from 1 November 2026 (the test clock starts on Monday 23 November).
        new_activity(
            &mona,
            &control,
            json!({ "title": "Restore test", "frequency": "monthly", "starts_on": "2026-11-01", "weekend_rule": "keep", "performer": carl_id, "reviewer": dora_id }),
        )
        .await;
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "not_tested");
        assert!(why[0].contains("first run is due on 2026-11-30"), "{why:?}");
        let runs = runs_of(&mona, &control).await;
        let id = |n: usize| runs[n]["id"].as_str().unwrap().to_owned();

        // 1 December: November's run was due yesterday and nobody did it → overdue.
        mona = advance(&app, 8).await.0;
        let report = sweep(&app).await;
        assert!(report.rechecked >= 1, "{report:?}");
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "overdue");
        assert!(
            why[0].contains("was due on 2026-11-30 and has not been performed"),
            "{why:?}"
        );
        // The list shows the stored state the sweep computed, and filters by it.
        let v: Value = mona
            .get_json("/api/v1/controls?effectiveness=overdue")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 1);

        // Performed late (2 December), with covering evidence, approved → deficient: late.
        (mona, carl, dora) = advance(&app, 1).await;
        let nov = evidence_on(
            &carl,
            "November restore log",
            "2026-11-01",
            Some("2026-11-30"),
        )
        .await;
        assert_eq!(
            perform(&carl, &id(0), "effective", &[&nov]).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            review(&dora, &id(0), "approve", "").await.status(),
            StatusCode::NO_CONTENT
        );
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "deficient");
        assert!(
            why[0].contains("performed late, on 2026-12-02 (due 2026-11-30)"),
            "{why:?}"
        );

        // December's run performed on time with evidence from December, approved early →
        // effective before its due date.
        let dec = evidence_on(&carl, "December restore log", "2026-12-02", None).await;
        assert_eq!(
            perform(&carl, &id(1), "effective", &[&dec]).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            review(&dora, &id(1), "approve", "ok").await.status(),
            StatusCode::NO_CONTENT
        );
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "effective", "{why:?}");
        assert!(why.is_empty());

        // January's run: performed on time but returned by the reviewer; once its due date
        // passes the control is overdue, saying so.
        (mona, carl, dora) = advance(&app, 40).await; // 11 January 2027
        let jan = evidence_on(&carl, "January restore log", "2027-01-10", None).await;
        assert_eq!(
            perform(&carl, &id(2), "effective", &[&jan]).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            review(&dora, &id(2), "return", "Wrong system restored.")
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(control_state(&mona, &control).await.0, "effective"); // not yet due
        (mona, carl, dora) = advance(&app, 21).await; // 1 February 2027
        sweep(&app).await;
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "overdue");
        assert!(why[0].contains("was returned by its reviewer"), "{why:?}");

        // Resubmitted now, after its due date: approved, but late → deficient.
        assert_eq!(
            perform(&carl, &id(2), "effective", &[&jan]).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            review(&dora, &id(2), "approve", "").await.status(),
            StatusCode::NO_CONTENT
        );
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "deficient");
        assert!(why[0].contains("performed late"), "{why:?}");

        // February's run, done early with evidence that shows December and approved →
        // deficient: the evidence's date does not fall in the run's period.
        assert_eq!(
            perform(&carl, &id(3), "effective", &[&dec]).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            review(&dora, &id(3), "approve", "").await.status(),
            StatusCode::NO_CONTENT
        );
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "deficient");
        assert!(why[0].contains("covers that period"), "{why:?}");
        let v: Value = mona
            .get_json(&format!("/api/v1/runs/{}", id(3)))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["evidence"][0]["covers_period"], false);

        // March's run: a deficient finding is deficient whatever the evidence.
        let later = runs_of(&mona, &control).await;
        let march = later
            .iter()
            .find(|r| r["period_start"] == "2027-03-01")
            .expect("the scheduler created March's run ahead of time")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mar = evidence_on(&carl, "March restore log", "2027-03-01", None).await;
        let r = carl
            .api(
                Method::POST,
                &format!("/api/v1/runs/{march}/perform"),
                Some(json!({ "result": "deficient", "comment": "Restore failed.", "evidence": [mar] })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            review(&dora, &march, "approve", "Agreed").await.status(),
            StatusCode::NO_CONTENT
        );
        let (state, why) = control_state(&mona, &control).await;
        assert_eq!(state, "deficient");
        assert!(why[0].contains("found the control deficient"), "{why:?}");
        // The scheduler kept creating runs ahead as time passed.
        assert!(runs_of(&mona, &control).await.len() >= 6);
        // The page shows the state and the reasons.
        let page = mona
            .get(&format!("/controls/{control}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("found the control deficient"), "{page}");
        app.shutdown().await;
    }
);

both_backends!(
    schedules_that_make_no_sense_are_refused_naming_the_field_and_change_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let aude = person(&app, TENANT, "aude@northwind.test", Role::Auditor).await;
        let (mona_id, carl_id, aude_id) = (
            user_id(&mona).await,
            user_id(&carl).await,
            user_id(&aude).await,
        );
        let control = new_control(&mona, json!({ "reference": "CTL-1", "title": "Backups" })).await;
        let ok = json!({ "title": "Restore test", "frequency": "monthly", "starts_on": "2026-11-01", "performer": carl_id, "reviewer": mona_id });
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        let cases = [
            (
                with("frequency", json!("fortnightly")),
                "frequency",
                "invalid_frequency",
            ),
            (
                with("frequency", json!("custom")),
                "interval_days",
                "invalid_frequency",
            ),
            (
                json!({ "title": "x", "frequency": "custom", "interval_days": 0, "starts_on": "2026-11-01", "performer": carl_id, "reviewer": mona_id }),
                "interval_days",
                "invalid_frequency",
            ),
            (
                json!({ "title": "x", "frequency": "custom", "interval_days": 367, "starts_on": "2026-11-01", "performer": carl_id, "reviewer": mona_id }),
                "interval_days",
                "invalid_frequency",
            ),
            (
                with("interval_days", json!("often")),
                "interval_days",
                "invalid_number",
            ),
            (
                with("starts_on", json!("2026-02-30")),
                "starts_on",
                "invalid_date",
            ),
            (
                with("starts_on", json!("1999-12-31")),
                "starts_on",
                "invalid_date",
            ),
            (
                with("starts_on", json!("2100-01-01")),
                "starts_on",
                "invalid_date",
            ),
            (
                with("starts_on", json!("next monday")),
                "starts_on",
                "invalid_date",
            ),
            (
                with("weekend_rule", json!("sometimes")),
                "weekend_rule",
                "invalid_weekend_rule",
            ),
            (
                with("remind_days", json!(61)),
                "remind_days",
                "invalid_reminder",
            ),
            (
                with("remind_days", json!(-1)),
                "remind_days",
                "invalid_reminder",
            ),
            (with("performer", json!("")), "performer", "required"),
            (
                with("performer", json!(uuid::Uuid::new_v4().to_string())),
                "performer",
                "invalid_member",
            ),
            (
                with("reviewer", json!(aude_id)),
                "reviewer",
                "invalid_member",
            ),
            (
                with("reviewer", json!(carl_id)),
                "reviewer",
                "reviewer_is_performer",
            ),
            (with("title", json!("")), "title", "invalid"),
            (with("title", json!("a\u{0}b")), "title", "invalid"),
        ];
        for (body, field, code) in cases {
            let r = mona
                .api(
                    Method::POST,
                    &format!("/api/v1/controls/{control}/activities"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                (v["field"].as_str(), v["error"].as_str()),
                (Some(field), Some(code)),
                "{body}"
            );
        }
        // Unknown fields are refused (SEC-37).
        let r = mona
            .api(
                Method::POST,
                &format!("/api/v1/controls/{control}/activities"),
                Some(with("tenant_id", json!("x"))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(count(&app, "activity").await, 0);
        assert_eq!(count(&app, "activity_run").await, 0);
        // A bad perform changes nothing either.
        let activity = new_activity(&mona, &control, ok.clone()).await;
        let runs = runs_of(&mona, &control).await;
        let run = runs[0]["id"].as_str().unwrap();
        for (body, code) in [
            (json!({ "result": "fine" }), "invalid_result"),
            (
                json!({ "result": "deficient", "comment": "" }),
                "comment_required",
            ),
            (
                json!({ "result": "effective", "evidence": ["nope"] }),
                "unknown_evidence",
            ),
            (
                json!({ "result": "effective", "evidence": [uuid::Uuid::new_v4().to_string()] }),
                "unknown_evidence",
            ),
        ] {
            let r = carl
                .api(
                    Method::POST,
                    &format!("/api/v1/runs/{run}/perform"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(error_code(r).await, code);
        }
        let v: Value = mona
            .get_json(&format!("/api/v1/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["state"], "scheduled");
        assert_eq!(count(&app, "run_evidence").await, 0);
        // Changing the schedule replaces the runs not yet worked on; weekly from Monday.
        let r = mona
            .api(
                Method::PUT,
                &format!("/api/v1/activities/{activity}"),
                Some(with("frequency", json!("weekly"))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let runs = runs_of(&mona, &control).await;
        assert!(runs.len() >= 13, "{}", runs.len());
        assert!(runs.iter().all(|r| {
            let s = time::Date::parse(
                r["period_start"].as_str().unwrap(),
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap();
            s.weekday() == time::Weekday::Sunday
        }));
        app.shutdown().await;
    }
);

both_backends!(
    reminders_go_out_before_and_after_the_due_date_once_each,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let dora = person(&app, TENANT, "dora@northwind.test", Role::Contributor).await;
        let (mona_id, carl_id, dora_id) = (
            user_id(&mona).await,
            user_id(&carl).await,
            user_id(&dora).await,
        );
        let control = new_control(
            &mona,
            json!({ "reference": "CTL-9", "title": "Firewall", "owner": mona_id }),
        )
        .await;
        new_activity(
            &mona,
            &control,
            json!({ "title": "Rule review", "frequency": "monthly", "starts_on": "2026-11-01", "weekend_rule": "keep", "remind_days": 5, "performer": carl_id, "reviewer": dora_id }),
        )
        .await;
        // 23 November: due on 30 November, more than 5 days away: nothing yet.
        assert_eq!(sweep(&app).await.reminded, 0);
        // 25 November: within 5 days: Carl is reminded, once.
        app.clock.advance(Duration::days(2));
        assert_eq!(sweep(&app).await.reminded, 1);
        assert_eq!(sweep(&app).await.reminded, 0);
        // 1 December: overdue: Carl and the control's owner are told, once.
        app.clock.advance(Duration::days(6));
        assert_eq!(sweep(&app).await.reminded, 1);
        assert_eq!(sweep(&app).await.reminded, 0);
        let mut got = Vec::new();
        for _ in 0..150 {
            got = sink.messages();
            if got.len() >= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let before: Vec<_> = got
            .iter()
            .filter(|m| m.subject.starts_with("Due on 2026-11-30"))
            .collect();
        assert_eq!(before.len(), 1, "{got:?}");
        assert!(before[0].to.contains("carl@northwind.test"));
        assert!(before[0].body.contains("/runs/"));
        let overdue: Vec<_> = got
            .iter()
            .filter(|m| m.subject.starts_with("Overdue: Rule review"))
            .collect();
        let mut to: Vec<&str> = overdue.iter().map(|m| m.to.as_str()).collect();
        to.sort_unstable();
        assert_eq!(to.len(), 2, "{got:?}");
        assert!(to[0].contains("carl@") && to[1].contains("mona@"), "{to:?}");
        assert_eq!(audit_count(&app, "activity_run.remind", "success").await, 1);
        assert_eq!(
            audit_count(&app, "activity_run.overdue", "success").await,
            1
        );
        // My tasks: Carl has runs to perform, the overdue one first.
        let carl = again(&app, "carl@northwind.test").await;
        let t: Value = carl.get_json("/api/v1/tasks").await.json().await.unwrap();
        assert_eq!(t["to_perform"][0]["due_on"], "2026-11-30");
        assert_eq!(t["to_perform"][0]["overdue"], true);
        app.shutdown().await;
    }
);

both_backends!(
    sec_48_the_runs_export_neutralises_formulas,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let (mona_id, carl_id) = (user_id(&mona).await, user_id(&carl).await);
        let control = new_control(&mona, json!({ "reference": "+CTL", "title": "x" })).await;
        new_activity(
            &mona,
            &control,
            json!({ "title": "=HYPERLINK(\"https://evil.test\",\"x\")", "frequency": "quarterly", "starts_on": "2026-10-01", "performer": carl_id, "reviewer": mona_id }),
        )
        .await;
        let r = mona.get("/runs.csv?show=all").await;
        assert_eq!(r.status(), StatusCode::OK);
        let csv = r.text().await.unwrap();
        assert!(
            csv.contains("\"'+CTL\",\"'=HYPERLINK(\"\"https://evil.test\"\",\"\"x\"\")\""),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 3, "{csv}"); // the header, this quarter and the next
        let r = carl.get("/api/v1/runs.csv?mine=perform").await;
        assert_eq!(r.text().await.unwrap().lines().count(), 3);
        assert_eq!(audit_count(&app, "activity_run.export", "success").await, 2);
        // The list page shows them.
        let page = carl.get("/runs?mine=perform").await.text().await.unwrap();
        assert!(page.contains("+CTL"));
        app.shutdown().await;
    }
);
