//! API tokens (issue 5, SEC-77, SEC-78), black-box over TLS on both databases: made once
//! with a fresh proof, shown once, stored hashed, scoped, expiring, revocable, limited.

use attest_test_support::{TestApp, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::identity::bootstrap;
use crate::mfa::{audit_count, error_code, rows};

/// A request from a script: the token only, no cookies, no CSRF token.
async fn with_token(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json");
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

both_backends!(
    sec_77_tokens_are_shown_once_stored_hashed_scoped_expiring_and_revocable,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let make = |scope: &'static str, days: u32| {
            let owner = owner.browser.clone();
            async move {
                owner
                    .api(
                        Method::POST,
                        "/api/v1/account/tokens",
                        Some(json!({ "name": format!("{scope} script"), "scope": scope, "expires_in_days": days })),
                    )
                    .await
            }
        };
        let r = make("read", 30).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let read: Value = r.json().await.unwrap();
        let read_token = read["token"].as_str().unwrap().to_owned();
        assert!(read_token.starts_with("attest_pat_"));
        let r = make("write", 365).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let write: Value = r.json().await.unwrap();
        let write_token = write["token"].as_str().unwrap().to_owned();
        // More than a year, or no lifetime, is refused.
        assert_eq!(
            make("write", 366).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            make("write", 0).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // Shown once: the list never has it, and only its hash is stored.
        let list = owner
            .get_json("/api/v1/account/tokens")
            .await
            .text()
            .await
            .unwrap();
        assert!(!list.contains(&read_token) && !list.contains(&write_token));
        let stored: Vec<i64> = rows(&app, "SELECT count(*) FROM api_token", &[]).await;
        assert_eq!(stored[0], 2);
        for t in [&read_token, &write_token] {
            let plain: Vec<i64> = rows(
                &app,
                "SELECT count(*) FROM api_token WHERE name = $1 OR CAST(token_hash AS TEXT) = $1",
                &[t.as_str()],
            )
            .await;
            assert_eq!(plain[0], 0);
        }
        // A script uses it without cookies or CSRF token.
        let r = with_token(&app, &read_token, Method::GET, "/api/v1/account", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let me: Value = r.json().await.unwrap();
        assert_eq!(me["email"], crate::identity::OWNER_EMAIL);
        // A read token cannot write; a write token can, within the user's role.
        let r = with_token(
            &app,
            &read_token,
            Method::PUT,
            "/api/v1/tenant/mfa-policy",
            Some(json!({ "mfa_required": true })),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "insufficient_scope");
        let r = with_token(
            &app,
            &write_token,
            Method::DELETE,
            "/api/v1/account/tokens/not-an-id",
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // A token never proves presence: it cannot make tokens or change sign-in security.
        let r = with_token(
            &app,
            &write_token,
            Method::POST,
            "/api/v1/account/tokens",
            Some(json!({ "name": "x", "scope": "write" })),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "reauth_required");
        let r = with_token(
            &app,
            &write_token,
            Method::PUT,
            "/api/v1/tenant/mfa-policy",
            Some(json!({ "mfa_required": true })),
        )
        .await;
        assert_eq!(error_code(r).await, "reauth_required");
        // Pages are not for tokens: a browser route with only a token is not signed in.
        let r = app
            .client
            .get(app.url("/account"))
            .header("authorization", format!("Bearer {write_token}"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Unknown, tampered and missing tokens: 401 with a Bearer challenge.
        for bad in ["attest_pat_nope", &format!("{read_token}x"), "Basic abc"] {
            let r = with_token(&app, bad, Method::GET, "/api/v1/account", None).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        }
        let r = with_token(
            &app,
            "attest_pat_nope",
            Method::GET,
            "/api/v1/account",
            None,
        )
        .await;
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        // Revoked: stops at the next request.
        let id = read["id"].as_str().unwrap();
        let r = owner
            .api(
                Method::DELETE,
                &format!("/api/v1/account/tokens/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = with_token(&app, &read_token, Method::GET, "/api/v1/account", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Expired: a year and a day on, the write token is dead.
        app.clock.advance(Duration::days(366));
        let r = with_token(&app, &write_token, Method::GET, "/api/v1/account", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(audit_count(&app, "api_token.create", "success").await, 2);
        assert_eq!(audit_count(&app, "api_token.revoke", "success").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    sec_29_77_making_a_token_needs_a_fresh_proof_and_the_page_shows_it_once,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        app.clock.advance(Duration::minutes(11));
        let r = owner
            .api(
                Method::POST,
                "/api/v1/account/tokens",
                Some(json!({ "name": "x", "scope": "read" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "reauth_required");
        let code = crate::identity::fresh_code(&app, &owner.app);
        let r = owner
            .api(
                Method::POST,
                "/api/v1/reauth",
                Some(json!({ "method": "totp", "value": code })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = owner
            .post_form(
                "/account/tokens",
                &[
                    ("name", "Nightly export"),
                    ("scope", "read"),
                    ("expires_in_days", "30"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        let start = page.find("attest_pat_").expect("the token is shown");
        let token: String = page[start..].chars().take_while(|c| *c != '<').collect();
        assert!(token.len() > 40);
        // Once: the next view of the page no longer has it.
        let again = owner.get("/account/tokens").await.text().await.unwrap();
        assert!(!again.contains(&token));
        assert!(again.contains("Nightly export"));
        app.shutdown().await;
    }
);

both_backends!(
    sec_78_a_token_over_its_request_limit_gets_429_with_retry_after,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let r = owner
            .api(
                Method::POST,
                "/api/v1/account/tokens",
                Some(json!({ "name": "busy", "scope": "read" })),
            )
            .await;
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let limit = attest_domain::authn::api_tokens::PER_TOKEN_PER_MINUTE;
        for _ in 0..limit {
            let r = with_token(&app, &token, Method::GET, "/api/v1/account", None).await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        let r = with_token(&app, &token, Method::GET, "/api/v1/account", None).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: i64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        // The next minute it works again.
        app.clock.advance(Duration::seconds(61));
        let r = with_token(&app, &token, Method::GET, "/api/v1/account", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(
    sec_78_a_script_using_a_session_shares_the_users_api_limit,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let limit = attest_domain::authn::api_tokens::PER_USER_PER_MINUTE;
        let mut statuses = Vec::new();
        for _ in 0..=limit {
            statuses.push(owner.get_json("/api/v1/account/sessions").await.status());
        }
        // The bootstrap and enrolment already spent a few of this minute's requests.
        let first_refusal = statuses
            .iter()
            .position(|s| *s == StatusCode::TOO_MANY_REQUESTS)
            .expect("the user's limit is reached");
        assert!(
            statuses[..first_refusal]
                .iter()
                .all(|s| *s == StatusCode::OK)
        );
        assert!(first_refusal as u32 >= limit - 10, "{first_refusal}");
        let r = owner.get_json("/api/v1/account").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        // Pages are not counted, and the next minute the API answers again.
        assert_eq!(owner.get("/account").await.status(), StatusCode::OK);
        app.clock.advance(Duration::seconds(61));
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        app.shutdown().await;
    }
);
