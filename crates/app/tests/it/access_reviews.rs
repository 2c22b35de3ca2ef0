//! Access recertification (issue 5, SEC-38), black-box over TLS on both databases, with a
//! real SMTP server process for the escalation mail.

use attest_crypto::Zeroizing;
use attest_test_support::{SmtpSink, TestApp, both_backends};
use attest_types::{Actor, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::documents::{OTHER_TENANT, PASSWORD, person};
use crate::identity::{bootstrap, login};
use crate::mfa::audit_count;

async fn bearer(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.client
        .get(app.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .status()
}

async fn decide(
    review: &str,
    who: &attest_test_support::Browser,
    item: String,
    decision: &str,
) -> StatusCode {
    who.api(
        Method::POST,
        &format!("/api/v1/access-reviews/{review}/items/{item}"),
        Some(json!({ "decision": decision })),
    )
    .await
    .status()
}

both_backends!(
    sec_38_42_48_owners_recertify_access_and_a_revocation_ends_it_at_once,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        let tenant = "Northwind Trading";
        let admin = person(&app, tenant, "ada@northwind.test", Role::Admin).await;
        let carl = person(&app, tenant, "carl@northwind.test", Role::Contributor).await;
        // A member whose name would be a formula in a spreadsheet (SEC-48).
        app.state()
            .identity
            .create_member(
                tenant,
                "aude@audit.test",
                "=HYPERLINK(\"http://evil.test\",\"x\")",
                Role::Auditor,
                Zeroizing::new(PASSWORD.to_owned()),
                Actor::Operator,
            )
            .await
            .unwrap();
        // Carl also has an API token.
        let r = carl
            .api(
                Method::POST,
                "/api/v1/account/tokens",
                Some(json!({ "name": "ci", "scope": "read", "expires_in_days": 30 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            bearer(&app, &token, "/api/v1/account").await,
            StatusCode::OK
        );

        // An admin starts a review; bad input changes nothing.
        for bad in [
            json!({ "name": "", "due_in_days": 7 }),
            json!({ "name": "Q4", "due_in_days": 0 }),
            json!({ "name": "Q4", "due_in_days": -3 }),
            json!({ "name": "Q4", "due_in_days": 365 }),
        ] {
            let r = admin
                .api(Method::POST, "/api/v1/access-reviews", Some(bad))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
        let r = admin
            .api(
                Method::POST,
                "/api/v1/access-reviews",
                Some(json!({ "name": "Q4 access review", "due_in_days": 7 })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, listed) = (
            (),
            admin
                .get_json("/api/v1/access-reviews")
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );
        assert_eq!(listed["reviews"].as_array().unwrap().len(), 1);
        let review: Value = owner
            .get_json(&format!("/api/v1/access-reviews/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let items = review["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "one item per membership");
        let item_of = |email: &str| {
            items.iter().find(|i| i["email"] == email).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        // The owners are the reviewers: an admin cannot decide, nobody decides on themselves.
        assert_eq!(
            decide(&id, &admin, item_of("carl@northwind.test"), "revoke").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            decide(
                &id,
                &owner,
                item_of(crate::identity::OWNER_EMAIL),
                "confirm"
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            decide(&id, &owner, item_of("carl@northwind.test"), "maybe").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // Another tenant's owner sees nothing of it.
        let stranger = person(&app, OTHER_TENANT, "olga@contoso.test", Role::Owner).await;
        assert_eq!(
            stranger
                .get_json(&format!("/api/v1/access-reviews/{id}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            decide(&id, &stranger, item_of("carl@northwind.test"), "revoke").await,
            StatusCode::NOT_FOUND
        );

        // Revoking Carl ends his session and his token on their next request.
        assert_eq!(
            decide(&id, &owner, item_of("carl@northwind.test"), "revoke").await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            carl.get_json("/api/v1/account").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            bearer(&app, &token, "/api/v1/account").await,
            StatusCode::UNAUTHORIZED
        );
        // Signing in again gives him no way into the organisation.
        let again = app.browser();
        login(&again, "carl@northwind.test", PASSWORD).await;
        let me: Value = again
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap_or_default();
        assert!(me["tenant_id"].is_null(), "{me}");
        assert_eq!(
            decide(&id, &owner, item_of("carl@northwind.test"), "confirm").await,
            StatusCode::CONFLICT,
            "decided once"
        );
        assert_eq!(
            decide(&id, &owner, item_of("ada@northwind.test"), "confirm").await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            audit_count(&app, "access_review.revoked", "success").await,
            1
        );
        assert_eq!(
            audit_count(&app, "access_review.confirmed", "success").await,
            1
        );

        // The report: CSV, every membership, formulas neutralised (SEC-48).
        let r = owner
            .get(&format!("/tenant/access-reviews/{id}/report.csv"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = r.text().await.unwrap();
        assert_eq!(csv.lines().count(), 5, "{csv}");
        assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
        assert!(
            csv.contains("\"carl@northwind.test\",\"contributor\",\"revoked\""),
            "{csv}"
        );
        let page = owner.get(&format!("/tenant/access-reviews/{id}")).await;
        assert_eq!(page.status(), StatusCode::OK);

        // Past the due date, the open items escalate to the owners by mail, once.
        app.clock.advance(Duration::days(8));
        let base = app.base.clone();
        assert_eq!(
            app.state()
                .identity
                .escalate_overdue_reviews(&base)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            app.state()
                .identity
                .escalate_overdue_reviews(&base)
                .await
                .unwrap(),
            0
        );
        let mut escalation = None;
        for _ in 0..150 {
            escalation = sink
                .messages()
                .into_iter()
                .find(|m| m.subject.contains("Access review overdue"));
            if escalation.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mail = escalation.expect("an escalation mail");
        assert!(mail.to.contains(crate::identity::OWNER_EMAIL));
        assert!(mail.body.contains("2 of its 4"), "{}", mail.body);
        assert_eq!(
            audit_count(&app, "access_review.escalate", "success").await,
            1
        );
        app.shutdown().await;
    }
);
