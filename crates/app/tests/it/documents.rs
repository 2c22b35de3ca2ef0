//! Documents, roles and shares (issue 5), black-box over TLS on both databases: the first
//! object kind proves the per-object checks (SEC-32), the role model (SEC-35), shares with
//! external accounts (SEC-36), mass-assignment safety (SEC-37), sanitised rich text (SEC-46)
//! and, on PostgreSQL, row-level security behind a forgotten tenant filter (SEC-34).

use attest_crypto::Zeroizing;
use attest_test_support::{Backend, Browser, SmtpSink, TestApp, both_backends};
use attest_types::{Actor, Clock as _, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::identity::{bootstrap, enrol_totp, login};
use crate::mfa::audit_count;

pub(crate) const PASSWORD: &str = "copper walrus meadow tune";
pub(crate) const OTHER_TENANT: &str = "Contoso Audit";

/// Adds a person with a role to a tenant through the operator's path and signs them in
/// (owners and admins enrol an authenticator, as they must).
pub(crate) async fn person(app: &TestApp, tenant: &str, email: &str, role: Role) -> Browser {
    // The tenant may exist already; only the member is new.
    let _ = app
        .state()
        .identity
        .create_tenant(tenant, Actor::Operator)
        .await;
    app.state()
        .identity
        .create_member(
            tenant,
            email,
            email.split('@').next().unwrap_or("someone"),
            role,
            Zeroizing::new(PASSWORD.to_owned()),
            Actor::Operator,
        )
        .await
        .unwrap();
    let b = app.browser();
    let r = login(&b, email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email} signs in");
    if matches!(role, Role::Owner | Role::Admin) {
        enrol_totp(app, &b).await;
    }
    b
}

/// Creates a document through the API; returns its id.
pub(crate) async fn new_document(b: &Browser, title: &str, body: &str) -> String {
    let r = b
        .api(
            Method::POST,
            "/api/v1/documents",
            Some(json!({ "title": title, "body": body, "classification": "high" })),
        )
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn json_of(b: &Browser, path: &str) -> (StatusCode, Value) {
    let r = b.get_json(path).await;
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

fn titles(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| d["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Rows of a tenant table as the database owner sees them inside `tenant`'s scope (on
/// PostgreSQL, row-level security applies to the owner too).
async fn scoped_bodies(app: &TestApp, tenant: &str) -> Vec<Vec<u8>> {
    use sqlx::Connection as _;
    match app.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query_scalar("SELECT body FROM document_version")
                .fetch_all(&mut c)
                .await
                .unwrap()
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
            sqlx::query_scalar("SELECT body FROM document_version")
                .fetch_all(&mut *tx)
                .await
                .unwrap()
        }
    }
}

async fn tenant_of(b: &Browser) -> String {
    let (_, me) = json_of(b, "/api/v1/account").await;
    me["tenant_id"].as_str().unwrap_or_default().to_owned()
}

both_backends!(
    sec_37_46_documents_keep_versions_sanitise_text_and_seal_it,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let id = new_document(
            &owner,
            "Access control policy",
            r#"<h2>Scope</h2><p onclick="steal()">All staff.<script>alert(1)</script></p><a href="javascript:alert(1)">x</a><a href="https://example.org/iso">ISO</a>"#,
        )
        .await;
        // SEC-46: stored without the script, the handler or the javascript: href.
        let (s, d) = json_of(&owner, &format!("/api/v1/documents/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        let body = d["body"].as_str().unwrap();
        assert!(
            !body.contains("script") && !body.contains("onclick"),
            "{body}"
        );
        assert!(!body.contains("javascript"), "{body}");
        assert!(body.contains(r#"href="https://example.org/iso""#), "{body}");
        assert_eq!(d["version"], 1);
        assert_eq!(d["classification"], "high");
        // At rest the body is sealed with the tenant's key: no plaintext in the table.
        let tenant = tenant_of(&owner).await;
        let bodies = scoped_bodies(&app, &tenant).await;
        assert_eq!(bodies.len(), 1);
        assert!(!String::from_utf8_lossy(&bodies[0]).contains("All staff"));

        // A new version; the old one stays readable.
        let r = owner
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{id}"),
                Some(json!({ "title": "Access control policy v2", "body": "<p>Everyone.</p>", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let (_, v) = json_of(&owner, &format!("/api/v1/documents/{id}/versions")).await;
        assert_eq!(v["versions"].as_array().unwrap().len(), 2);
        let (s, old) = json_of(&owner, &format!("/api/v1/documents/{id}/versions/1")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(old["title"], "Access control policy");
        assert!(old["body"].as_str().unwrap().contains("All staff"));
        // A stale editor gets 409 and changes nothing.
        let r = owner
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{id}"),
                Some(json!({ "title": "Overwrite", "body": "", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        // SEC-37: fields that do not exist are refused, nothing changes.
        for extra in [
            json!({ "title": "x", "body": "", "version": 2, "tenant_id": "00000000-0000-0000-0000-000000000000" }),
            json!({ "title": "x", "body": "", "version": 2, "created_by": "me" }),
            json!({ "title": "x", "body": "", "version": 2, "id": id }),
        ] {
            let r = owner
                .api(Method::PUT, &format!("/api/v1/documents/{id}"), Some(extra))
                .await;
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        // Bad input: a clear 422 naming the field.
        let long = "t".repeat(201);
        for (bad, field) in [
            (json!({ "title": "", "body": "" }), "title"),
            (json!({ "title": long, "body": "" }), "title"),
            (
                json!({ "title": "ok", "body": "", "classification": "secret" }),
                "classification",
            ),
        ] {
            let r = owner
                .api(Method::POST, "/api/v1/documents", Some(bad))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["field"], field);
        }
        let (_, d) = json_of(&owner, &format!("/api/v1/documents/{id}")).await;
        assert_eq!(d["version"], 2);
        assert_eq!(d["title"], "Access control policy v2");
        // Pages: huge pages and negative limits are 4xx; keyset pagination walks the list.
        for q in [
            "limit=0",
            "limit=101",
            "limit=-5",
            "limit=99999999999999999999",
            "after=nope",
        ] {
            let r = owner.get_json(&format!("/api/v1/documents?{q}")).await;
            assert!(r.status().is_client_error(), "{q}: {}", r.status());
        }
        for i in 0..4 {
            app.clock.advance(Duration::seconds(1));
            new_document(&owner, &format!("Procedure {i}"), "<p>x</p>").await;
        }
        let (_, p1) = json_of(&owner, "/api/v1/documents?limit=2").await;
        assert_eq!(titles(&p1), ["Procedure 3", "Procedure 2"]);
        let next = p1["next"].as_str().unwrap();
        let (_, p2) = json_of(&owner, &format!("/api/v1/documents?limit=2&after={next}")).await;
        assert_eq!(titles(&p2), ["Procedure 1", "Procedure 0"]);
        let (_, p3) = json_of(
            &owner,
            &format!(
                "/api/v1/documents?limit=2&after={}",
                p2["next"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(titles(&p3), ["Access control policy v2"]);
        assert!(p3["next"].is_null());
        // Pages render, with the sanitised body and the history.
        let page = owner.get(&format!("/documents/{id}")).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Everyone.") && html.contains("Versions"));
        app.shutdown().await;
    }
);

both_backends!(
    sec_32_another_tenants_document_is_404_and_unchanged,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let id = new_document(&owner, "Incident response plan", "<p>Call Bob.</p>").await;
        // A compliance manager of another tenant: every permission, in the wrong tenant.
        let other = person(&app, OTHER_TENANT, "max@contoso.test", Role::Manager).await;
        let base = format!("/api/v1/documents/{id}");
        let denied_before = audit_count(&app, "access.denied", "denied").await;
        let attempts = [
            (Method::GET, base.clone(), None),
            (
                Method::PUT,
                base.clone(),
                Some(json!({ "title": "Pwned", "body": "", "version": 1 })),
            ),
            (Method::DELETE, base.clone(), None),
            (Method::GET, format!("{base}/versions"), None),
            (Method::GET, format!("{base}/versions/1"), None),
            (Method::GET, format!("{base}/shares"), None),
            (
                Method::POST,
                format!("{base}/shares"),
                Some(json!({ "user": uuid::Uuid::new_v4().to_string(), "until": "2099-01-01" })),
            ),
        ];
        for (method, path, body) in attempts.clone() {
            let r = other.api(method.clone(), &path, body).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        }
        for path in [format!("/documents/{id}"), format!("/documents/{id}/edit")] {
            assert_eq!(
                other.get(&path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        // The same answer as for a missing id, a malformed id and an id of another kind.
        let (_, me) = json_of(&owner, "/api/v1/account").await;
        let user_id = me["user"].as_str().unwrap().to_owned();
        let mut tampered = id.clone();
        tampered.replace_range(0..1, if id.starts_with('a') { "b" } else { "a" });
        for bad in [
            uuid::Uuid::new_v4().to_string(),
            "1 OR 1=1".to_owned(),
            user_id,
            tampered,
        ] {
            let r = owner.get_json(&format!("/api/v1/documents/{bad}")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        }
        // Nothing changed, and every refusal is in the audit trail.
        let (s, d) = json_of(&owner, &format!("/api/v1/documents/{id}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (d["title"].as_str(), d["version"].as_i64()),
            (Some("Incident response plan"), Some(1))
        );
        assert!(
            audit_count(&app, "access.denied", "denied").await
                >= denied_before + attempts.len() as i64
        );
        // The other tenant's list does not contain it.
        let (_, list) = json_of(&other, "/api/v1/documents").await;
        assert!(titles(&list).is_empty());
        // SEC-33: ids are random, in no order.
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(new_document(&owner, &format!("D{i}"), "").await);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_ne!(ids, sorted, "creation order is not id order");
        assert!(
            ids.iter()
                .all(|i| uuid::Uuid::parse_str(i).unwrap().get_version_num() == 4)
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_35_each_role_does_what_it_may_and_no_more,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let policy = new_document(&owner, "Owner's policy", "<p>v1</p>").await;
        let tenant = "Northwind Trading";
        let carla = person(&app, tenant, "carla@northwind.test", Role::Contributor).await;
        let aude = person(&app, tenant, "aude@northwind.test", Role::Auditor).await;
        let mona = person(&app, tenant, "mona@northwind.test", Role::Manager).await;

        // The auditor reads everything and changes nothing.
        let (s, list) = json_of(&aude, "/api/v1/documents").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(titles(&list), ["Owner's policy"]);
        let r = aude
            .api(
                Method::POST,
                "/api/v1/documents",
                Some(json!({ "title": "x", "body": "" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = aude
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{policy}"),
                Some(json!({ "title": "x", "body": "", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            aude.api(Method::DELETE, &format!("/api/v1/documents/{policy}"), None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            aude.get("/documents/new").await.status(),
            StatusCode::FORBIDDEN
        );

        // The contributor creates and edits her own, not the owner's, and cannot hand over.
        let hers = new_document(&carla, "Backup procedure", "<p>nightly</p>").await;
        let r = carla
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{hers}"),
                Some(json!({ "title": "Backup procedure", "body": "<p>hourly</p>", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = carla
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{policy}"),
                Some(json!({ "title": "Mine now", "body": "", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let (_, me) = json_of(&mona, "/api/v1/account").await;
        let mona_id = me["user"].as_str().unwrap().to_owned();
        let r = carla
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{hers}"),
                Some(json!({ "title": "Backup procedure", "body": "", "version": 2, "owner": mona_id })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "field_not_allowed");
        assert_eq!(
            carla
                .api(Method::DELETE, &format!("/api/v1/documents/{policy}"), None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        // Shares are for compliance managers and above.
        assert_eq!(
            carla
                .get_json(&format!("/api/v1/documents/{hers}/shares"))
                .await
                .status(),
            StatusCode::FORBIDDEN
        );

        // The compliance manager edits anyone's document and hands it over.
        let r = mona
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{hers}"),
                Some(json!({ "title": "Backup procedure", "body": "<p>hourly, tested</p>", "version": 2, "owner": mona_id })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let (_, d) = json_of(&mona, &format!("/api/v1/documents/{hers}")).await;
        assert_eq!(d["owner"]["id"], mona_id.as_str());
        // …but does not manage members.
        let r = mona
            .post_form(
                "/members/invite",
                &[("email", "x@northwind.test"), ("role", "auditor")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Nobody changes their own role by a crafted field (SEC-37).
        let r = mona
            .api(
                Method::PATCH,
                "/api/v1/account/email",
                Some(json!({ "email": "m@x.test", "role": "owner" })),
            )
            .await;
        assert!(r.status().is_client_error());
        let (_, me) = json_of(&mona, "/api/v1/account").await;
        assert_eq!(me["role"], "manager");
        app.shutdown().await;
    }
);

both_backends!(
    sec_36_externals_see_only_what_is_shared_until_it_ends,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let shared = new_document(&owner, "SOC 2 bridge letter", "<p>For clients.</p>").await;
        let _private = new_document(&owner, "Board minutes", "<p>Internal.</p>").await;
        let eve = person(&app, "Northwind Trading", "eve@client.test", Role::External).await;
        let (_, me) = json_of(&eve, "/api/v1/account").await;
        let eve_id = me["user"].as_str().unwrap().to_owned();

        // Nothing is shared yet: an empty list, and 404 for a known id.
        let (s, list) = json_of(&eve, "/api/v1/documents").await;
        assert_eq!(s, StatusCode::OK);
        assert!(titles(&list).is_empty());
        assert_eq!(
            eve.get_json(&format!("/api/v1/documents/{shared}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        // Externals cannot list members (page or nav) or create anything.
        assert_eq!(eve.get("/members").await.status(), StatusCode::FORBIDDEN);
        let home = eve.get("/documents").await.text().await.unwrap();
        assert!(!home.contains("href=\"/members\""));
        let r = eve
            .api(
                Method::POST,
                "/api/v1/documents",
                Some(json!({ "title": "x", "body": "" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // Shares go only to members who see shared items only, until a date within a year.
        let (_, owner_me) = json_of(&owner, "/api/v1/account").await;
        let owner_id = owner_me["user"].as_str().unwrap();
        let until = (app.clock.now() + Duration::days(30)).date().to_string();
        for (who, when) in [
            (owner_id, until.as_str()),
            (eve_id.as_str(), "2020-01-01"),
            (eve_id.as_str(), "2999-01-01"),
        ] {
            let r = owner
                .api(
                    Method::POST,
                    &format!("/api/v1/documents/{shared}/shares"),
                    Some(json!({ "user": who, "until": when })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{who} {when}");
        }
        let r = owner
            .api(
                Method::POST,
                &format!("/api/v1/documents/{shared}/shares"),
                Some(json!({ "user": eve_id, "until": until })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let share: Value = r.json().await.unwrap();
        let share_id = share["id"].as_str().unwrap().to_owned();

        // Now she sees that one document, without its owner or history.
        let (_, list) = json_of(&eve, "/api/v1/documents").await;
        assert_eq!(titles(&list), ["SOC 2 bridge letter"]);
        let (s, d) = json_of(&eve, &format!("/api/v1/documents/{shared}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(d["owner"].is_null(), "fields not shared stay hidden: {d}");
        assert_eq!(d["permissions"]["edit"], false);
        assert_eq!(
            eve.get_json(&format!("/api/v1/documents/{shared}/versions"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        let r = eve
            .api(
                Method::PUT,
                &format!("/api/v1/documents/{shared}"),
                Some(json!({ "title": "x", "body": "", "version": 1 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // Revoking takes effect on the next request.
        let r = owner
            .api(
                Method::DELETE,
                &format!("/api/v1/documents/{shared}/shares/{share_id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            eve.get_json(&format!("/api/v1/documents/{shared}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        // A share also ends by itself at its date.
        let r = owner
            .api(
                Method::POST,
                &format!("/api/v1/documents/{shared}/shares"),
                Some(json!({ "user": eve_id, "until": until })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            eve.get_json(&format!("/api/v1/documents/{shared}"))
                .await
                .status(),
            StatusCode::OK
        );
        let _ = eve.get_json("/api/v1/account").await;
        app.clock.advance(Duration::days(31));
        // (Her session idles out over 31 days; sign in again to ask.)
        let eve = app.browser();
        assert_eq!(
            login(&eve, "eve@client.test", PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            eve.get_json(&format!("/api/v1/documents/{shared}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert!(audit_count(&app, "share.create", "success").await >= 2);
        assert_eq!(audit_count(&app, "share.revoke", "success").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    sec_36_38_an_auditor_invited_for_an_audit_sees_its_scope_until_the_end_date,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await;
        let in_scope = new_document(&owner, "Change management", "<p>CAB weekly.</p>").await;
        new_document(&owner, "HR disciplinary notes", "<p>Private.</p>").await;
        let end = (app.clock.now() + Duration::days(14)).date().to_string();
        // Only auditors can be limited to shared items; the end date must be ahead.
        for (role, until, scope) in [
            ("contributor", end.as_str(), "on"),
            ("auditor", "2001-01-01", "on"),
            ("auditor", "14/02/2030", ""),
        ] {
            let r = owner
                .post_form(
                    "/members/invite",
                    &[
                        ("email", "ann@audit.test"),
                        ("role", role),
                        ("access_until", until),
                        ("shared_only", scope),
                    ],
                )
                .await;
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{role} {until} {scope}"
            );
        }
        let r = owner
            .post_form(
                "/members/invite",
                &[
                    ("email", "ann@audit.test"),
                    ("role", "auditor"),
                    ("access_until", &end),
                    ("shared_only", "on"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let mails = sink.wait_for(1).await;
        let path = mails[0].link_path("/invitations/").unwrap();
        let ann = app.browser();
        let r = ann
            .post_form(&path, &[("name", "Ann Auditor"), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, list) = json_of(&ann, "/api/v1/documents").await;
        assert!(
            titles(&list).is_empty(),
            "limited to her scope: nothing shared yet"
        );
        let members = owner.get("/members").await.text().await.unwrap();
        assert!(
            members.contains("shared items only"),
            "the member list shows the limit"
        );

        let (_, me) = json_of(&ann, "/api/v1/account").await;
        let ann_id = me["user"].as_str().unwrap().to_owned();
        let r = owner
            .api(
                Method::POST,
                &format!("/api/v1/documents/{in_scope}/shares"),
                Some(json!({ "user": ann_id, "until": end })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let (_, list) = json_of(&ann, "/api/v1/documents").await;
        assert_eq!(titles(&list), ["Change management"]);

        // At the end date her membership stops working at once, and the sweep removes it.
        app.clock.advance(Duration::days(15));
        let ann2 = app.browser();
        login(&ann2, "ann@audit.test", PASSWORD).await;
        assert_ne!(
            ann2.get_json("/api/v1/documents").await.status(),
            StatusCode::OK,
            "no access after the end date"
        );
        let ended = app
            .state()
            .identity
            .end_expired_memberships()
            .await
            .unwrap();
        assert_eq!(ended, 1);
        assert_eq!(audit_count(&app, "membership.expired", "success").await, 1);
        app.shutdown().await;
    }
);

/// SEC-34, PostgreSQL only (SQLite has no roles or row-level security; there the tenant filter
/// of every store function is the only wall, and the tests above prove it): a query that
/// forgets its tenant filter, run as the app role, still sees only the transaction's tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_34_row_level_security_hides_other_tenants_from_a_forgotten_filter() {
    use sqlx::Connection as _;
    let app = TestApp::start(Backend::Postgres).await;
    let owner = bootstrap(&app).await;
    new_document(&owner, "Northwind secret", "<p>a</p>").await;
    let other = person(&app, OTHER_TENANT, "olga@contoso.test", Role::Owner).await;
    new_document(&other, "Contoso secret", "<p>b</p>").await;
    let a = tenant_of(&owner).await;
    let b = tenant_of(&other).await;

    // The server's own role, as `attest serve` connects.
    let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let forgotten = "SELECT title FROM document ORDER BY title";
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(&a)
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: Vec<String> = sqlx::query_scalar(forgotten)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, ["Northwind secret"]);
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM document_version")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(versions, 1);
    // Writing a row into another tenant from A's transaction is refused (WITH CHECK).
    let insert = sqlx::query(
        "INSERT INTO document (id, tenant_id, title, classification, version, created_at, updated_at) \
         VALUES (gen_random_uuid(), $1::uuid, 'planted', 'low', 1, now(), now())",
    )
    .bind(&b)
    .execute(&mut *tx)
    .await;
    assert!(
        insert.is_err(),
        "a row of tenant B cannot be written in A's scope"
    );
    tx.rollback().await.unwrap();

    // Without a tenant in the transaction: nothing at all.
    let seen: Vec<String> = sqlx::query_scalar(forgotten)
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    // The app role has no DDL and cannot switch row-level security off.
    for ddl in [
        "DROP TABLE document",
        "ALTER TABLE document DISABLE ROW LEVEL SECURITY",
        "CREATE TABLE sneaky (id int)",
    ] {
        let r = sqlx::query(ddl).execute(&mut c).await;
        assert!(r.is_err(), "{ddl} was allowed");
    }
    let bypass: bool =
        sqlx::query_scalar("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(!bypass);
    app.shutdown().await;
}

both_backends!(
    sec_48_the_document_and_evidence_lists_export_as_csv_with_formulas_neutralised,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(
            &app,
            crate::evidence::TENANT,
            "mona@northwind.test",
            Role::Manager,
        )
        .await;
        new_document(
            &mona,
            "=HYPERLINK(\"https://evil.test\",\"Click\")",
            "<p>Body</p>",
        )
        .await;
        new_document(&mona, "Access policy", "<p>Secret body text</p>").await;
        crate::evidence::upload(
            &mona,
            "+cmd|' /C calc'!A0",
            "q3.pdf",
            &crate::evidence::pdf(2),
        )
        .await;
        for (path, action, rows) in [
            ("/documents.csv", "document.export", 3),
            ("/api/v1/documents.csv", "document.export", 3),
            ("/evidence.csv", "evidence.export", 2),
            ("/api/v1/evidence.csv", "evidence.export", 2),
        ] {
            let r = mona.get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
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
            assert_eq!(csv.lines().count(), rows, "{path}: {csv}");
            assert!(
                !csv.lines()
                    .any(|l| l.starts_with('=') || l.contains(",=") || l.contains(",+")),
                "{csv}"
            );
            if action == "document.export" {
                assert!(
                    csv.contains("\"'=HYPERLINK(\"\"https://evil.test\"\",\"\"Click\"\")\""),
                    "{csv}"
                );
                assert!(!csv.contains("Secret body text"), "bodies stay out: {csv}");
            } else {
                assert!(csv.contains("\"'+cmd|' /C calc'!A0\""), "{csv}");
                assert!(csv.contains("\"q3, soc2\""), "{csv}");
            }
        }
        assert_eq!(audit_count(&app, "document.export", "success").await, 2);
        assert_eq!(audit_count(&app, "evidence.export", "success").await, 2);
        // The list's filters apply, and a bad one is refused as on the list.
        let csv = mona
            .get("/documents.csv?classification=public")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(csv.lines().count(), 1, "the header alone: {csv}");
        let r = mona
            .get("/api/v1/evidence.csv?effective_on=yesterday")
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // The pages offer the export to those who may.
        let page = mona.get("/documents").await.text().await.unwrap();
        assert!(page.contains("href=\"/documents.csv\""), "{page}");
        let page = mona
            .get("/evidence?classification=high")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("href=\"/evidence.csv?classification=high\""),
            "{page}"
        );
        app.shutdown().await;
    }
);
