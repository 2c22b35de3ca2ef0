//! Controls (issue 7), over TLS on both databases: a control is written once and mapped to
//! requirements of several frameworks; the register filters, sorts and pages by keyset and
//! exports CSV safely; the statement of applicability and the coverage follow the mappings;
//! owners edit their own controls and nothing else; bad input changes nothing.

use attest_test_support::{Backend, Browser, TestApp, both_backends};
use attest_types::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::documents::person;
use crate::evidence::{TENANT, count};
use crate::mfa::{audit_count, error_code};

/// A small framework from CSV: two groups, four requirements (`A.1`, `A.2`, `B.1`, `B.2`).
const CSV: &[u8] = b"id,title,text,parent\n\
A,Access,,\n\
A.1,Accounts,Manage accounts.,A\n\
A.2,Least privilege,Grant the least privilege.,A\n\
B,Backups,,\n\
B.1,Backup schedule,Back up every day.,B\n\
B.2,Restore tests,Test restores.,B\n";

/// Imports [`CSV`] under `title`; returns the framework's id.
pub(crate) async fn small_framework(b: &Browser, title: &str) -> String {
    let (s, v) = crate::frameworks::import(
        b,
        "/api/v1/frameworks",
        &[("title", title), ("version", "1")],
        Some(("small.csv", CSV)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// Creates a control through the API; returns its id.
pub(crate) async fn new_control(b: &Browser, body: Value) -> String {
    let r = b.api(Method::POST, "/api/v1/controls", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn json_of(b: &Browser, path: &str) -> (StatusCode, Value) {
    let r = b.get_json(path).await;
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

fn refs(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap().to_owned())
        .collect()
}

async fn map(b: &Browser, control: &str, framework: &str, label: &str) -> reqwest::Response {
    b.api(
        Method::POST,
        &format!("/api/v1/controls/{control}/mappings"),
        Some(json!({ "framework": framework, "requirement": label })),
    )
    .await
}

/// The sealed descriptions as stored, read past row-level security.
async fn raw_descriptions(app: &TestApp) -> Vec<Vec<u8>> {
    use sqlx::Connection as _;
    let sql = "SELECT description FROM control";
    match app.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let url = app.db.superuser_url().unwrap();
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

both_backends!(
    a_control_maps_to_several_frameworks_and_its_description_is_sealed_sec_61,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let iso = small_framework(&mona, "ISO-like").await;
        let soc = small_framework(&mona, "SOC-like").await;
        let secret = "Nightly encrypted backups to the Frankfurt vault";
        let id = new_control(
            &mona,
            json!({
                "reference": "CTL-001",
                "title": "Daily backups",
                "description": secret,
                "classification": "critical",
                "status": "implemented",
            }),
        )
        .await;
        // Written once, mapped to a requirement of each framework, by label.
        let r = map(&mona, &id, &iso, "B.1").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = map(&mona, &id, &soc, "B.1").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // Mapping twice is no error and adds nothing.
        let r = map(&mona, &id, &soc, "B.1").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let (s, d) = json_of(&mona, &format!("/api/v1/controls/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(d["description"], secret);
        assert_eq!(d["status"], "implemented");
        let mut fws: Vec<&str> = d["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["framework_title"].as_str().unwrap())
            .collect();
        fws.sort_unstable();
        assert_eq!(fws, ["ISO-like", "SOC-like"]);
        assert_eq!(count(&app, "control_mapping").await, 2);
        // The requirement's page lists the control that meets it.
        let req = d["mappings"][0]["requirement"].as_str().unwrap();
        let fw = d["mappings"][0]["framework"].as_str().unwrap();
        let page = mona
            .get(&format!("/frameworks/{fw}/requirements/{req}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("CTL-001"), "{page}");
        // SEC-61: the description is stored sealed, not in clear.
        let raw = raw_descriptions(&app).await;
        assert_eq!(raw.len(), 1);
        assert!(!raw[0].windows(20).any(|w| w == &secret.as_bytes()[..20]));
        // Audited: creation, mappings (the repeat is not a change) and the read.
        assert_eq!(audit_count(&app, "control.create", "success").await, 1);
        assert_eq!(audit_count(&app, "control.map", "success").await, 2);
        assert!(audit_count(&app, "control.read", "success").await >= 1);
        // Unmapping takes one away; unmapping it again is 404.
        let path = format!("/api/v1/controls/{id}/mappings/{req}");
        let r = mona.api(Method::DELETE, &path, None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = mona.api(Method::DELETE, &path, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(count(&app, "control_mapping").await, 1);
        // Deleting a framework takes its mappings, not the control.
        let r = mona
            .api(Method::DELETE, &format!("/api/v1/frameworks/{soc}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = mona
            .api(Method::DELETE, &format!("/api/v1/frameworks/{iso}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(count(&app, "control_mapping").await, 0);
        assert_eq!(count(&app, "control").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    sec_44_the_register_filters_sorts_and_pages_by_allowlisted_keys_only,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let (_, me) = json_of(&carl, "/api/v1/account").await;
        let carl_id = me["user"].as_str().unwrap().to_owned();
        let fw = small_framework(&mona, "ISO-like").await;
        // Seven controls; titles sort differently from references.
        let titles = ["Gamma", "alpha", "Delta", "beta", "Epsilon", "Zeta", "Eta"];
        let mut ids = Vec::new();
        for (n, t) in titles.iter().enumerate() {
            let mut body = json!({ "reference": format!("CTL-{n:03}"), "title": t });
            if n % 2 == 0 {
                body["status"] = "implemented".into();
            }
            if n == 3 {
                body["owner"] = carl_id.clone().into();
            }
            ids.push(new_control(&mona, body).await);
        }
        let r = map(&mona, &ids[1], &fw, "A.1").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        // Pages of two, following `next`, give every control once, in reference order.
        let mut seen = Vec::new();
        let mut url = "/api/v1/controls?limit=2".to_owned();
        loop {
            let (s, v) = json_of(&mona, &url).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert!(v["items"].as_array().unwrap().len() <= 2);
            seen.extend(refs(&v));
            match v["next"].as_str() {
                Some(n) => url = format!("/api/v1/controls?limit=2&after={n}"),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).map(|n| format!("CTL-{n:03}")).collect();
        assert_eq!(seen, expected);
        // By title, ignoring case, paged the same way.
        let mut seen = Vec::new();
        let mut url = "/api/v1/controls?sort=title&limit=3".to_owned();
        loop {
            let (_, v) = json_of(&mona, &url).await;
            seen.extend(
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["title"].as_str().unwrap().to_owned()),
            );
            match v["next"].as_str() {
                Some(n) => url = format!("/api/v1/controls?sort=title&limit=3&after={n}"),
                None => break,
            }
        }
        let mut sorted: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
        sorted.sort_by_key(|t| t.to_lowercase());
        assert_eq!(seen, sorted);
        // Filters: status, owner, framework, text (case-insensitive, wildcards literal).
        let (_, v) = json_of(&mona, "/api/v1/controls?status=implemented").await;
        assert_eq!(refs(&v), ["CTL-000", "CTL-002", "CTL-004", "CTL-006"]);
        let (_, v) = json_of(&mona, &format!("/api/v1/controls?owner={carl_id}")).await;
        assert_eq!(refs(&v), ["CTL-003"]);
        let (_, v) = json_of(&mona, &format!("/api/v1/controls?framework={fw}")).await;
        assert_eq!(refs(&v), ["CTL-001"]);
        let (_, v) = json_of(&mona, "/api/v1/controls?q=ETA").await;
        assert_eq!(refs(&v), ["CTL-003", "CTL-005", "CTL-006"]);
        let (_, v) = json_of(&mona, "/api/v1/controls?q=%25").await;
        assert_eq!(refs(&v), Vec::<String>::new());
        // SEC-44: an order or filter outside the allowlist is refused, never spliced in.
        for bad in [
            "sort=title;DROP TABLE control",
            "sort=created_by",
            "status=implemented' OR '1'='1",
            "owner=1 OR 1=1",
            "framework=x",
            "limit=0",
            "limit=101",
            "after=not-a-cursor",
        ] {
            let r = mona.get_json(&format!("/api/v1/controls?{bad}")).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        // SEC-37: unknown query parameters are refused too.
        let r = mona.get_json("/api/v1/controls?order_by=title").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(count(&app, "control").await, 7);
        // The page shows the same filters and a next link that keeps them.
        let page = mona
            .get("/controls?status=implemented&limit=2")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("CTL-000") && page.contains("CTL-002"));
        assert!(!page.contains("CTL-004"));
        assert!(
            page.contains("/controls?status=implemented&#38;after=")
                || page.contains("/controls?status=implemented&amp;after="),
            "{page}"
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_48_the_csv_export_neutralises_formulas_and_is_audited,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        new_control(
            &mona,
            json!({ "reference": "CTL-1", "title": "=HYPERLINK(\"https://evil.test\",\"Click\")" }),
        )
        .await;
        new_control(
            &mona,
            json!({ "reference": "@SUM(A1)", "title": "Plain \"quoted\" title" }),
        )
        .await;
        for path in ["/controls.csv", "/api/v1/controls.csv"] {
            let r = mona.get(path).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(
                r.headers()[reqwest::header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/csv")
            );
            assert!(
                r.headers()[reqwest::header::CONTENT_DISPOSITION]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment")
            );
            let csv = r.text().await.unwrap();
            let lines: Vec<&str> = csv.lines().collect();
            assert_eq!(lines.len(), 3, "{csv}");
            // Every cell that a spreadsheet would run starts with a quote mark (SEC-48).
            assert!(
                csv.contains("\"'=HYPERLINK(\"\"https://evil.test\"\",\"\"Click\"\")\""),
                "{csv}"
            );
            assert!(csv.contains("\"'@SUM(A1)\""), "{csv}");
            assert!(csv.contains("\"Plain \"\"quoted\"\" title\""), "{csv}");
            assert!(!lines.iter().any(|l| l.starts_with('=') || l.contains(",=")));
        }
        // Filters apply to the export as to the list.
        let csv = mona
            .get("/controls.csv?q=plain")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert_eq!(audit_count(&app, "control.export", "success").await, 3);
        app.shutdown().await;
    }
);

both_backends!(
    sec_32_35_37_owners_edit_their_own_controls_and_nothing_else,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let aude = person(&app, TENANT, "aude@northwind.test", Role::Auditor).await;
        let (_, me) = json_of(&carl, "/api/v1/account").await;
        let carl_id = me["user"].as_str().unwrap().to_owned();
        let fw = small_framework(&mona, "ISO-like").await;
        let his = new_control(
            &mona,
            json!({ "reference": "CTL-1", "title": "Carl's", "owner": carl_id }),
        )
        .await;
        let hers = new_control(&mona, json!({ "reference": "CTL-2", "title": "Mona's" })).await;
        // Carl edits and maps his own control...
        let r = carl
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{his}"),
                Some(json!({ "reference": "CTL-1", "title": "Carl's, revised", "status": "implemented" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            map(&carl, &his, &fw, "A.1").await.status(),
            StatusCode::CREATED
        );
        // ...but cannot hand it to someone else, touch Mona's, create or delete.
        let r = carl
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{his}"),
                Some(json!({ "reference": "CTL-1", "title": "x", "owner": uuid::Uuid::new_v4().to_string() })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_code(r).await, "field_not_allowed");
        let r = carl
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{hers}"),
                Some(json!({ "reference": "CTL-2", "title": "Taken over" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            map(&carl, &hers, &fw, "A.1").await.status(),
            StatusCode::FORBIDDEN
        );
        let r = carl
            .api(Method::DELETE, &format!("/api/v1/controls/{his}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = carl
            .api(
                Method::POST,
                "/api/v1/controls",
                Some(json!({ "reference": "CTL-9", "title": "Mine" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The auditor reads everything and changes nothing.
        let (s, _) = json_of(&aude, &format!("/api/v1/controls/{hers}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            map(&aude, &hers, &fw, "A.2").await.status(),
            StatusCode::FORBIDDEN
        );
        // Another tenant sees nothing: 404, not 403 (SEC-32).
        let other = person(
            &app,
            crate::documents::OTHER_TENANT,
            "max@contoso.test",
            Role::Manager,
        )
        .await;
        let (s, _) = json_of(&other, &format!("/api/v1/controls/{hers}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = json_of(&other, "/api/v1/controls").await;
        assert_eq!(refs(&v), Vec::<String>::new());
        // Refusals are audited; Mona's control is as she left it.
        assert!(audit_count(&app, "access.denied", "denied").await >= 5);
        let (_, d) = json_of(&mona, &format!("/api/v1/controls/{hers}")).await;
        assert_eq!(d["title"], "Mona's");
        assert_eq!(d["mappings"].as_array().unwrap().len(), 0);
        app.shutdown().await;
    }
);

both_backends!(
    sec_43_bad_control_input_gets_a_clear_error_and_changes_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let fw = small_framework(&mona, "ISO-like").await;
        let id = new_control(&mona, json!({ "reference": "CTL-1", "title": "Backups" })).await;
        let long = "x".repeat(201);
        let cases = [
            (
                json!({ "reference": "CTL-1", "title": "Again" }),
                "reference_taken",
            ),
            (
                json!({ "reference": "", "title": "No reference" }),
                "invalid",
            ),
            (json!({ "reference": "CTL-2", "title": long }), "invalid"),
            (
                json!({ "reference": "CTL-2", "title": "Bell\u{7}" }),
                "invalid",
            ),
            (
                json!({ "reference": "CTL-2", "title": "T", "status": "done" }),
                "invalid_status",
            ),
            (
                json!({ "reference": "CTL-2", "title": "T", "classification": "secret" }),
                "invalid_classification",
            ),
            (
                json!({ "reference": "CTL-2", "title": "T", "status": "not_applicable" }),
                "justification_required",
            ),
            (
                json!({ "reference": "CTL-2", "title": "T", "owner": "nobody" }),
                "invalid_owner",
            ),
        ];
        for (body, code) in cases {
            let r = mona
                .api(Method::POST, "/api/v1/controls", Some(body.clone()))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(error_code(r).await, code, "{body}");
        }
        // A field that does not exist is refused (SEC-37).
        let r = mona
            .api(
                Method::POST,
                "/api/v1/controls",
                Some(json!({ "reference": "CTL-2", "title": "T", "tenant_id": "x" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Renaming onto a taken reference is refused and changes nothing.
        let other = new_control(&mona, json!({ "reference": "CTL-2", "title": "Other" })).await;
        let r = mona
            .api(
                Method::PUT,
                &format!("/api/v1/controls/{other}"),
                Some(json!({ "reference": "CTL-1", "title": "Other, renamed" })),
            )
            .await;
        assert_eq!(error_code(r).await, "reference_taken");
        let (_, d) = json_of(&mona, &format!("/api/v1/controls/{other}")).await;
        assert_eq!(d["title"], "Other");
        // Mapping to something that is not a current requirement of the framework.
        for (framework, requirement, code) in [
            (fw.as_str(), "Z.9", "unknown_requirement"),
            (fw.as_str(), "A", "unknown_requirement"),
            ("not-an-id", "A.1", "invalid_framework"),
        ] {
            let r = map(&mona, &id, framework, requirement).await;
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{requirement}"
            );
            assert_eq!(error_code(r).await, code);
        }
        // A requirement of another tenant's framework is unknown here.
        let max = person(
            &app,
            crate::documents::OTHER_TENANT,
            "max@contoso.test",
            Role::Manager,
        )
        .await;
        let theirs = small_framework(&max, "Theirs").await;
        let r = map(&mona, &id, &theirs, "A.1").await;
        assert_eq!(error_code(r).await, "unknown_requirement");
        let (_, detail) = json_of(&max, &format!("/api/v1/frameworks/{theirs}")).await;
        let their_req = detail["requirements"][1]["id"].as_str().unwrap().to_owned();
        let r = mona
            .api(
                Method::POST,
                &format!("/api/v1/controls/{id}/mappings"),
                Some(json!({ "requirement": their_req })),
            )
            .await;
        assert_eq!(error_code(r).await, "unknown_requirement");
        assert_eq!(count(&app, "control").await, 2);
        assert_eq!(count(&app, "control_mapping").await, 0);
        app.shutdown().await;
    }
);

both_backends!(
    the_statement_of_applicability_and_coverage_follow_the_mappings,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let aude = person(&app, TENANT, "aude@northwind.test", Role::Auditor).await;
        let fw = small_framework(&mona, "ISO-like").await;
        let coverage = |v: &Value| {
            let c = &v["items"][0]["coverage"];
            (
                c["applicable"].as_i64().unwrap(),
                c["mapped"].as_i64().unwrap(),
                c["implemented"].as_i64().unwrap(),
            )
        };
        let (_, v) = json_of(&mona, "/api/v1/frameworks").await;
        assert_eq!(coverage(&v), (4, 0, 0));
        let draft = new_control(&mona, json!({ "reference": "CTL-1", "title": "Accounts" })).await;
        let live = new_control(
            &mona,
            json!({ "reference": "CTL-2", "title": "Backups", "status": "implemented" }),
        )
        .await;
        map(&mona, &draft, &fw, "A.1").await;
        map(&mona, &live, &fw, "B.1").await;
        map(&mona, &live, &fw, "B.2").await;
        let (_, v) = json_of(&mona, "/api/v1/frameworks").await;
        assert_eq!(coverage(&v), (4, 3, 2));
        // The statement of applicability: every requirement, applicable by default.
        let (_, soa) = json_of(&aude, &format!("/api/v1/frameworks/{fw}/soa")).await;
        let items = soa["items"].as_array().unwrap();
        assert_eq!(items.len(), 6);
        let a2 = items.iter().find(|i| i["label"] == "A.2").unwrap();
        assert_eq!(a2["applicable"], true);
        let a2 = a2["requirement"].as_str().unwrap().to_owned();
        let b1 = items.iter().find(|i| i["label"] == "B.1").unwrap();
        assert_eq!(
            (b1["controls"].as_i64(), b1["implemented_controls"].as_i64()),
            (Some(1), Some(1))
        );
        // Excluding a requirement needs a reason; the auditor may not.
        let path = format!("/api/v1/frameworks/{fw}/soa/{a2}");
        let r = mona
            .api(Method::PUT, &path, Some(json!({ "applicable": false })))
            .await;
        assert_eq!(error_code(r).await, "reason_required");
        let r = aude
            .api(
                Method::PUT,
                &path,
                Some(json!({ "applicable": false, "reason": "x" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = mona
            .api(
                Method::PUT,
                &path,
                Some(json!({ "applicable": false, "reason": "No privileged accounts exist." })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let (_, v) = json_of(&mona, "/api/v1/frameworks").await;
        assert_eq!(coverage(&v), (3, 3, 2));
        // Through the page form as well: back to applicable.
        let r = mona
            .post_form(
                &format!("/frameworks/{fw}/soa/{a2}"),
                &[("applicable", "yes"), ("reason", "")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, v) = json_of(&mona, "/api/v1/frameworks").await;
        assert_eq!(coverage(&v), (4, 3, 2));
        assert_eq!(
            audit_count(&app, "framework.applicability", "success").await,
            2
        );
        // A newer version that drops B.2 withdraws it: the mapping stays, marked, and the
        // coverage counts only current requirements.
        let newer = b"id,title,text,parent\nA,Access,,\nA.1,Accounts,Manage accounts.,A\nA.2,Least privilege,Grant the least privilege.,A\nB,Backups,,\nB.1,Backup schedule,Back up every day.,B\n";
        let (s, v) = crate::frameworks::import(
            &mona,
            &format!("/api/v1/frameworks/{fw}/versions"),
            &[("title", "ISO-like"), ("version", "2")],
            Some(("v2.csv", newer)),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (_, d) = json_of(&mona, &format!("/api/v1/controls/{live}")).await;
        let withdrawn: Vec<bool> = d["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["withdrawn"].as_bool().unwrap())
            .collect();
        assert_eq!(withdrawn, [false, true]);
        let (_, v) = json_of(&mona, "/api/v1/frameworks").await;
        assert_eq!(coverage(&v), (3, 2, 1));
        // The statement of applicability exports as CSV.
        let csv = aude
            .get(&format!("/frameworks/{fw}/soa.csv"))
            .await
            .text()
            .await
            .unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "\"requirement\",\"title\",\"applies\",\"reason\",\"controls\",\"implemented controls\""
        );
        assert_eq!(lines.len(), 4, "{csv}"); // three current requirements
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("\"A.1\",\"Accounts\",\"yes\",\"\",\"CTL-1\",\"0\"")),
            "{csv}"
        );
        assert_eq!(
            audit_count(&app, "framework.soa_export", "success").await,
            1
        );
        // The pages show it.
        let page = mona
            .get(&format!("/frameworks/{fw}/soa"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("3 requirements apply"), "{page}");
        let page = mona.get("/frameworks").await.text().await.unwrap();
        assert!(page.contains("66%"), "{page}");
        app.shutdown().await;
    }
);

both_backends!(
    controls_are_written_edited_mapped_and_deleted_through_the_pages,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let fw = small_framework(&mona, "ISO-like").await;
        let r = mona.get("/controls").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("Write your first control"));
        let r = mona
            .post_form(
                "/controls/new",
                &[
                    ("reference", "CTL-7"),
                    ("title", "<script>alert(1)</script>"),
                    ("description", "Line one\nLine two"),
                    ("classification", "high"),
                    ("status", "draft"),
                    ("justification", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let at = r.headers()["location"].to_str().unwrap().to_owned();
        let id = at.trim_start_matches("/controls/").to_owned();
        // Auto-escaped (SEC-45).
        let page = mona.get(&at).await.text().await.unwrap();
        assert!(
            page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
        );
        assert!(!page.contains("<script>alert(1)"));
        // A bad edit shows the form again with the error, the values kept.
        let r = mona
            .post_form(
                &format!("/controls/{id}/edit"),
                &[
                    ("reference", "CTL-7"),
                    ("title", "Renamed"),
                    ("status", "not_applicable"),
                    ("justification", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains("Say why the control does not apply") && page.contains("Renamed"));
        let r = mona
            .post_form(
                &format!("/controls/{id}/edit"),
                &[
                    ("reference", "CTL-7"),
                    ("title", "Renamed"),
                    ("status", "implemented"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // Map through the form, by label; an unknown label is shown as an error.
        let r = mona
            .post_form(
                &format!("/controls/{id}/mappings"),
                &[("framework", &fw), ("requirement", "Q.7")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("No current requirement"));
        let r = mona
            .post_form(
                &format!("/controls/{id}/mappings"),
                &[("framework", &fw), ("requirement", "A.2")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = mona.get(&at).await.text().await.unwrap();
        assert!(page.contains("Least privilege") && page.contains("implemented"));
        let listed = mona
            .get(&format!("/controls?framework={fw}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(listed.contains("CTL-7"));
        // Delete after confirming.
        assert_eq!(
            mona.get(&format!("/controls/{id}/delete")).await.status(),
            StatusCode::OK
        );
        let r = mona.post_form(&format!("/controls/{id}/delete"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(mona.get(&at).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(count(&app, "control").await, 0);
        assert_eq!(count(&app, "control_mapping").await, 0);
        assert_eq!(audit_count(&app, "control.delete", "success").await, 1);
        app.shutdown().await;
    }
);
