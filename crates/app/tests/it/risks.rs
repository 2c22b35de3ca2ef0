//! The risk register (issue 7), over TLS on both databases: acceptance is never decided by its
//! requester (SEC-42, API, pages and database); scores on the tenant's scales, the heat maps,
//! the register's filters, orders and pages; every change in the history; stale edits refused;
//! reassessment reminders by mail; the CSV export escapes formulas.

use attest_test_support::{Browser, SmtpSink, TestApp, both_backends};
use attest_types::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::activities::{execute, user_id};
use crate::controls::new_control;
use crate::documents::person;
use crate::evidence::{TENANT, count};
use crate::mfa::{audit_count, error_code};

/// Adds a risk; returns its id.
pub(crate) async fn new_risk(b: &Browser, body: Value) -> String {
    let r = b.api(Method::POST, "/api/v1/risks", Some(body)).await;
    let s = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

fn risk(title: &str, inherent: (i64, i64), residual: (i64, i64)) -> Value {
    json!({
        "title": title, "category": "Supplier",
        "inherent_likelihood": inherent.0, "inherent_impact": inherent.1,
        "residual_likelihood": residual.0, "residual_impact": residual.1,
    })
}

async fn get(b: &Browser, id: &str) -> Value {
    b.get_json(&format!("/api/v1/risks/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn put(b: &Browser, id: &str, body: Value) -> reqwest::Response {
    b.api(Method::PUT, &format!("/api/v1/risks/{id}"), Some(body))
        .await
}

async fn decide(b: &Browser, id: &str, decision: &str, remarks: &str) -> reqwest::Response {
    b.api(
        Method::POST,
        &format!("/api/v1/risks/{id}/decision"),
        Some(json!({ "decision": decision, "remarks": remarks })),
    )
    .await
}

both_backends!(
    sec_42_a_risk_acceptance_is_never_decided_by_its_requester,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let maya = person(&app, TENANT, "maya@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let id = new_risk(&carl, risk("Payroll supplier fails", (4, 5), (3, 4))).await;
        // Only a risk treated by acceptance can be accepted.
        let r = carl
            .api(
                Method::POST,
                &format!("/api/v1/risks/{id}/acceptance"),
                Some(json!({ "reason": "Cheap" })),
            )
            .await;
        assert_eq!(error_code(r).await, "treatment_not_accept");
        let mut body = risk("Payroll supplier fails", (4, 5), (3, 4));
        body["treatment"] = "accept".into();
        body["version"] = 1.into();
        assert_eq!(
            put(&carl, &id, body.clone()).await.status(),
            StatusCode::NO_CONTENT
        );
        // A stale version is refused and changes nothing.
        assert_eq!(
            put(&carl, &id, body.clone()).await.status(),
            StatusCode::CONFLICT
        );
        // The owner asks; a reason is needed.
        let path = format!("/api/v1/risks/{id}/acceptance");
        let r = carl
            .api(Method::POST, &path, Some(json!({ "reason": "" })))
            .await;
        assert_eq!(error_code(r).await, "invalid");
        let r = carl
            .api(
                Method::POST,
                &path,
                Some(json!({ "reason": "Insured; a second supplier costs more than the loss." })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // A contributor cannot decide at all.
        assert_eq!(
            decide(&carl, &id, "approve", "").await.status(),
            StatusCode::FORBIDDEN
        );
        // A manager who asked cannot decide her own request, through the API or the page.
        let own = new_risk(&mona, json!({ "title": "Office flood", "category": "Facilities", "treatment": "accept",
            "inherent_likelihood": 2, "inherent_impact": 4, "residual_likelihood": 2, "residual_impact": 3 })).await;
        let r = mona
            .api(
                Method::POST,
                &format!("/api/v1/risks/{own}/acceptance"),
                Some(json!({ "reason": "Ground floor is storage only." })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = decide(&mona, &own, "approve", "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "four_eyes");
        let r = mona
            .post_form(
                &format!("/risks/{own}/decision"),
                &[("decision", "approve"), ("remarks", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = mona
            .get(&format!("/risks/{own}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("another compliance manager must decide it"),
            "{page}"
        );
        assert!(!page.contains("Accept the risk"));
        assert_eq!(get(&mona, &own).await["acceptance"]["state"], "requested");
        // Another manager rejects (with remarks) and approves.
        let r = decide(&maya, &own, "reject", "").await;
        assert_eq!(error_code(r).await, "remarks_required");
        let page = maya
            .get(&format!("/risks/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Accept the risk"));
        let r = maya
            .post_form(
                &format!("/risks/{id}/decision"),
                &[("decision", "approve"), ("remarks", "Within appetite.")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let v = get(&mona, &id).await;
        assert_eq!(v["acceptance"]["state"], "approved");
        assert_eq!(v["acceptance"]["decided_by"], "maya");
        assert_eq!(
            decide(&maya, &id, "approve", "").await.status(),
            StatusCode::CONFLICT
        );
        // A higher residual score withdraws the acceptance: it must be asked for again.
        let mut body = risk("Payroll supplier fails", (4, 5), (4, 4));
        body["treatment"] = "accept".into();
        body["version"] = v["version"].clone();
        assert_eq!(put(&carl, &id, body).await.status(), StatusCode::NO_CONTENT);
        let v = get(&carl, &id).await;
        assert_eq!(v["acceptance"]["state"], "none");
        // The history has every step, newest first.
        let actions: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "updated",
                "accepted",
                "acceptance_requested",
                "updated",
                "created"
            ]
        );
        let last = &v["history"][0]["changes"];
        assert!(
            last.as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == "residual" && c["before"] == "3x4" && c["after"] == "4x4"),
            "{last}"
        );
        assert!(
            last.as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == "acceptance" && c["before"] == "approved"),
            "{last}"
        );
        assert_eq!(audit_count(&app, "risk.accept", "success").await, 1);
        assert!(audit_count(&app, "access.denied", "denied").await >= 2);
        // The database refuses it too: no acceptance decided by its requester.
        assert!(
            execute(
                &app,
                "UPDATE risk SET decided_by = acceptance_by WHERE acceptance_by IS NOT NULL"
            )
            .await
            .is_err()
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_44_scores_scales_heat_maps_and_the_register,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let ctl = new_control(&mona, json!({ "reference": "CTL-7", "title": "Backups" })).await;
        let mut a = risk("Ransomware", (4, 5), (2, 5));
        a["controls"] = json!(["CTL-7"]);
        let a = new_risk(&mona, a).await;
        new_risk(&mona, risk("alpha supplier", (2, 2), (1, 2))).await;
        new_risk(&carl, risk("Data centre fire", (1, 5), (1, 4))).await;
        new_risk(&carl, risk("Insider leak", (3, 4), (3, 3))).await;
        let v = get(&mona, &a).await;
        assert_eq!(v["inherent"]["score"], 20);
        assert_eq!(v["inherent"]["band"], "critical");
        assert_eq!(v["residual"]["score"], 10);
        assert_eq!(v["controls"][0]["id"], ctl.as_str());
        // Highest residual first, then by title; pages of two give each once.
        let titles = |v: &Value| {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let v: Value = mona.get_json("/api/v1/risks").await.json().await.unwrap();
        assert_eq!(
            titles(&v),
            [
                "Ransomware",
                "Insider leak",
                "Data centre fire",
                "alpha supplier"
            ]
        );
        let mut seen = Vec::new();
        let mut url = "/api/v1/risks?sort=title&limit=2".to_owned();
        loop {
            let v: Value = mona.get_json(&url).await.json().await.unwrap();
            seen.extend(titles(&v));
            match v["next"].as_str() {
                Some(n) => url = format!("/api/v1/risks?sort=title&limit=2&after={n}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "alpha supplier",
                "Data centre fire",
                "Insider leak",
                "Ransomware"
            ]
        );
        let v: Value = mona
            .get_json("/api/v1/risks?q=SUPPLIER")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(titles(&v), ["alpha supplier"]);
        // SEC-44: orders and filters outside the allowlist are refused.
        for bad in [
            "sort=residual_score desc",
            "treatment=all",
            "acceptance=maybe",
            "owner=x",
            "review=soon",
            "limit=500",
        ] {
            assert_eq!(
                mona.get_json(&format!("/api/v1/risks?{bad}"))
                    .await
                    .status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
        // Scores outside the scales, unknown controls and bad fields are refused; nothing stored.
        for (body, code) in [
            (risk("x", (6, 1), (1, 1)), "invalid_level"),
            (risk("x", (0, 1), (1, 1)), "invalid_level"),
            (json!({ "title": "x", "category": "y" }), "invalid_level"),
            (
                {
                    let mut b = risk("x", (1, 1), (1, 1));
                    b["controls"] = json!(["CTL-404"]);
                    b
                },
                "unknown_control",
            ),
            (
                {
                    let mut b = risk("x", (1, 1), (1, 1));
                    b["treatment"] = json!("ignore");
                    b
                },
                "invalid_treatment",
            ),
            (
                {
                    let mut b = risk("x", (1, 1), (1, 1));
                    b["reassess_days"] = json!(1);
                    b
                },
                "invalid_reassessment",
            ),
            (
                {
                    let mut b = risk("x", (1, 1), (1, 1));
                    b["treatment_due"] = json!("2026-13-01");
                    b
                },
                "invalid_date",
            ),
        ] {
            let r = mona
                .api(Method::POST, "/api/v1/risks", Some(body.clone()))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(error_code(r).await, code, "{body}");
        }
        assert_eq!(count(&app, "risk").await, 4);
        // The heat maps count the risks in each cell, drawn on the server as SVG.
        let page = mona.get("/risks").await.text().await.unwrap();
        assert!(
            page.contains("<svg") && page.contains("Inherent risk: 4 risks"),
            "{page}"
        );
        assert!(page.contains("Almost certain") && page.contains("Severe"));
        assert!(!page.contains("<script src"));
        // Scales: not below a level in use; longer ones admit higher levels.
        let r = mona
            .api(
                Method::PUT,
                "/api/v1/risk-scales",
                Some(json!({ "likelihood": ["L", "M", "H"], "impact": ["l", "m", "h"] })),
            )
            .await;
        assert_eq!(error_code(r).await, "levels_in_use");
        let r = carl
            .api(
                Method::PUT,
                "/api/v1/risk-scales",
                Some(json!({ "likelihood": ["1", "2", "3"], "impact": ["1", "2", "3"] })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let six = json!({ "likelihood": ["Rare", "Unlikely", "Possible", "Likely", "Very likely", "Certain"], "impact": ["Negligible", "Minor", "Moderate", "Major", "Severe"] });
        assert_eq!(
            mona.api(Method::PUT, "/api/v1/risk-scales", Some(six))
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        new_risk(&mona, risk("Certain thing", (6, 5), (6, 1))).await;
        let v: Value = mona
            .get_json("/api/v1/risk-scales")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["likelihood"].as_array().unwrap().len(), 6);
        // Contributors edit only their own risks; only managers delete.
        assert_eq!(
            put(&carl, &a, risk("Mine now", (1, 1), (1, 1)))
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            carl.api(Method::DELETE, &format!("/api/v1/risks/{a}"), None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            mona.api(Method::DELETE, &format!("/api/v1/risks/{a}"), None)
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(count(&app, "risk_control").await, 0);
        // Another tenant sees none of it.
        let max = person(
            &app,
            crate::documents::OTHER_TENANT,
            "max@contoso.test",
            Role::Manager,
        )
        .await;
        let v: Value = max.get_json("/api/v1/risks").await.json().await.unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 0);
        let first = mona
            .get_json("/api/v1/risks")
            .await
            .json::<Value>()
            .await
            .unwrap()["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            max.get_json(&format!("/api/v1/risks/{first}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_48_the_risk_export_neutralises_formulas,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let mut body = risk("=HYPERLINK(\"https://evil.test\",\"x\")", (2, 2), (1, 1));
        body["category"] = "@cmd".into();
        new_risk(&mona, body).await;
        let csv = mona.get("/risks.csv").await.text().await.unwrap();
        assert!(
            csv.contains("\"'=HYPERLINK(\"\"https://evil.test\"\",\"\"x\"\")\",\"'@cmd\""),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 2);
        assert_eq!(audit_count(&app, "risk.export", "success").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    reassessment_reminders_go_to_the_owner_once_per_due_date,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let mut body = risk("Key person leaves", (3, 3), (2, 3));
        body["reassess_days"] = 30.into();
        body["owner"] = user_id(&carl).await.into();
        let id = new_risk(&mona, body).await;
        let risks = &app.state().risks;
        // Due in 30 days: nothing yet.
        assert_eq!(risks.remind_reassessments(&app.base).await.unwrap(), 0);
        app.clock.advance(time::Duration::days(17));
        assert_eq!(risks.remind_reassessments(&app.base).await.unwrap(), 1);
        assert_eq!(risks.remind_reassessments(&app.base).await.unwrap(), 0);
        let mut mail = None;
        for _ in 0..150 {
            mail = sink
                .messages()
                .into_iter()
                .find(|m| m.subject.starts_with("Reassess by"));
            if mail.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mail = mail.expect("a reminder");
        assert!(mail.to.contains("carl@northwind.test"));
        assert!(mail.body.contains(&format!("/risks/{id}")));
        // Reassessed: the next one is due in 30 days from now, and reminded of in its turn.
        let carl = crate::activities::again(&app, "carl@northwind.test").await;
        let r = carl
            .api(Method::POST, &format!("/api/v1/risks/{id}/reassess"), None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(risks.remind_reassessments(&app.base).await.unwrap(), 0);
        app.clock.advance(time::Duration::days(20));
        assert_eq!(risks.remind_reassessments(&app.base).await.unwrap(), 1);
        assert_eq!(
            audit_count(&app, "risk.reassessment_reminder", "success").await,
            2
        );
        // The register lists risks due for reassessment.
        app.clock.advance(time::Duration::days(20));
        let mona = crate::activities::again(&app, "mona@northwind.test").await;
        let v: Value = mona
            .get_json("/api/v1/risks?review=due")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["items"][0]["review_overdue"], true);
        app.shutdown().await;
    }
);
