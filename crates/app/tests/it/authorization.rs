//! Authorization (issue 5), black-box over TLS on both databases. SEC-31: every route of the
//! router is declared with a policy in `attest_web::router::ROUTES`, the router is built from
//! that table only, and this suite walks the whole table as an attacker would.

use attest_test_support::{Browser, TestApp, both_backends};
use attest_web::policy::Access;
use attest_web::router::ROUTES;
use reqwest::{Method, StatusCode};

use crate::identity::bootstrap;
use crate::mfa::member;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A concrete URL for a route pattern: every `{parameter}` becomes a random id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every method on every route of `access`: the statuses seen, as `(method path, status)`.
async fn sweep(b: &Browser, access: &[Access]) -> Vec<(String, StatusCode)> {
    let mut seen = Vec::new();
    for route in ROUTES.iter().filter(|r| access.contains(&r.access)) {
        let url = concrete(route.path);
        for method in METHODS {
            let body = (method != Method::GET).then(|| serde_json::json!({}));
            let r = b.api(method.clone(), &url, body).await;
            seen.push((format!("{method} {}", route.path), r.status()));
        }
    }
    seen
}

both_backends!(
    sec_31_every_route_without_a_session_is_refused_except_the_allowlist,
    |backend| async move {
        let app = TestApp::start(backend).await;
        // The allowlist is short and names only what a visitor needs.
        let public: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.access.is_public())
            .map(|r| r.path)
            .collect();
        for p in &public {
            assert!(
                ["/", "/healthz", "/readyz", "/metrics", "/favicon.ico"].contains(p)
                    || [
                        "/static/",
                        "/login",
                        "/logout",
                        "/api/v1/login",
                        "/api/v1/logout",
                        "/bootstrap/",
                        "/forgot",
                        "/reset/",
                        "/invitations/",
                        "/sso"
                    ]
                    .iter()
                    .any(|prefix| p.starts_with(prefix)),
                "{p} is public but not a sign-in, reset, invitation, SSO, health or static route"
            );
        }
        // A visitor with a pre-session (so CSRF is satisfied and the policy is what answers).
        let b = app.browser();
        assert_eq!(b.get("/login").await.status(), StatusCode::OK);
        let seen = sweep(
            &b,
            &[Access::Enrolling, Access::SignedIn, Access::TENANT_ADMIN],
        )
        .await;
        assert!(seen.len() > 200, "{} requests", seen.len());
        let wrong: Vec<_> = seen
            .iter()
            .filter(|(_, s)| {
                // 401 from the policy, or 405 for a method the route does not have.
                *s != StatusCode::UNAUTHORIZED && *s != StatusCode::METHOD_NOT_ALLOWED
            })
            .collect();
        assert!(wrong.is_empty(), "answered without a session: {wrong:?}");
        app.shutdown().await;
    }
);

both_backends!(
    sec_31_35_admin_routes_refuse_a_plain_member,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let _owner = bootstrap(&app).await;
        let b = member(&app).await;
        let seen = sweep(&b, &[Access::TENANT_ADMIN]).await;
        let wrong: Vec<_> = seen
            .iter()
            .filter(|(_, s)| *s != StatusCode::FORBIDDEN && *s != StatusCode::METHOD_NOT_ALLOWED)
            .collect();
        assert!(wrong.is_empty(), "a member reached admin routes: {wrong:?}");
        // Still signed in: the refusals ended nothing, and her own routes work.
        assert_eq!(b.get_json("/api/v1/account").await.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(
    sec_35_role_changes_cannot_escalate_or_orphan_a_tenant,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let me: serde_json::Value = owner
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap();
        let owner_id = me["user"].as_str().unwrap().to_owned();
        // The last owner cannot demote themselves: 409, still owner.
        let r = owner
            .post_form(
                &format!("/members/{owner_id}/role"),
                &[("role", "contributor")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let me: serde_json::Value = owner
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "owner");
        // A member cannot make herself owner, by form or by a crafted JSON field.
        let b = member(&app).await;
        let mine: serde_json::Value = b.get_json("/api/v1/account").await.json().await.unwrap();
        let mia = mine["user"].as_str().unwrap().to_owned();
        let r = b
            .post_form(&format!("/members/{mia}/role"), &[("role", "owner")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = b
            .api(
                Method::POST,
                "/api/v1/account/password",
                Some(serde_json::json!({ "role": "owner" })),
            )
            .await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let mine: serde_json::Value = b.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(mine["role"], "contributor");
        app.shutdown().await;
    }
);

both_backends!(
    sec_41_a_spoofed_forwarded_for_changes_neither_the_rate_limit_nor_the_audit_trail,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let b = app.browser();
        assert_eq!(b.get("/login").await.status(), StatusCode::OK);
        // The client is not a configured proxy, so each "different" address it claims is
        // its own: the per-address sign-in limit (30 a minute) still counts them together.
        let mut statuses = Vec::new();
        for n in 0..32 {
            let spoofed = format!("203.0.113.{n}");
            let email = format!("nobody{n}@example.org");
            let r = b
                .send(
                    app.client
                        .post(app.url("/api/v1/login"))
                        .header("origin", &app.base)
                        .header("accept", "application/json")
                        .header("x-forwarded-for", &spoofed)
                        .form(&[
                            ("email", email.as_str()),
                            ("password", "wrong wrong wrong wrong"),
                            ("csrf_token", &b.csrf()),
                        ]),
                )
                .await;
            statuses.push(r.status());
        }
        assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
        assert_eq!(statuses[31], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        // The audit trail records the real address, never the claimed ones.
        app.state().audit.flush().await;
        let ips: Vec<String> = crate::mfa::rows(
            &app,
            "SELECT DISTINCT source_ip FROM audit_event WHERE action = 'auth.login' AND source_ip IS NOT NULL",
            &[],
        )
        .await;
        assert_eq!(ips.len(), 1, "{ips:?}");
        assert!(
            ips[0].starts_with("127.0.0.1") || ips[0].starts_with("::1"),
            "{ips:?}"
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_32_33_tampered_foreign_or_wrong_kind_ids_are_404_and_change_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let mut device = attest_test_support::SoftPasskey::new(&app.base);
        crate::passkeys::add_passkey(&owner, &mut device, "Laptop").await;
        let v: serde_json::Value = owner
            .get_json("/api/v1/account/passkeys")
            .await
            .json()
            .await
            .unwrap();
        let passkey = v["passkeys"][0]["id"].as_str().unwrap().to_owned();
        let v: serde_json::Value = owner
            .get_json("/api/v1/account/sessions")
            .await
            .json()
            .await
            .unwrap();
        let session = v["sessions"][0]["id"].as_str().unwrap().to_owned();
        // Ids are random UUIDv4: no order, time or creator in them.
        for id in [&passkey, &session] {
            assert_eq!(
                uuid::Uuid::parse_str(id).unwrap().get_version_num(),
                4,
                "{id}"
            );
        }
        let tamper = |id: &str| {
            let mut chars: Vec<char> = id.chars().collect();
            chars[0] = if chars[0] == 'a' { 'b' } else { 'a' };
            chars.into_iter().collect::<String>()
        };
        // Another member's own passkey is not reachable either.
        let mia = member(&app).await;
        for (who, path) in [
            (
                &owner.browser,
                format!("/api/v1/account/passkeys/{}", tamper(&passkey)),
            ),
            (
                &owner.browser,
                format!("/api/v1/account/passkeys/{session}"),
            ),
            (&owner.browser, "/api/v1/account/passkeys/%00".to_owned()),
            (
                &owner.browser,
                format!("/api/v1/account/sessions/{}", tamper(&session)),
            ),
            (
                &owner.browser,
                format!("/api/v1/account/sessions/{passkey}"),
            ),
            (&mia, format!("/api/v1/account/passkeys/{passkey}")),
            (&mia, format!("/api/v1/account/sessions/{session}")),
        ] {
            let r = who.api(Method::DELETE, &path, None).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        // Nothing changed: the passkey and the owner's session are still there.
        let v: serde_json::Value = owner
            .get_json("/api/v1/account/passkeys")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["passkeys"].as_array().unwrap().len(), 1);
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_37_json_bodies_with_fields_the_caller_may_not_set_are_refused,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        // A field that is not part of the request (a role, a user id) is refused outright,
        // and nothing changes.
        for (method, path, body) in [
            (
                Method::PATCH,
                "/api/v1/account/email",
                serde_json::json!({ "email": "new@example.org", "role": "owner" }),
            ),
            (
                Method::POST,
                "/api/v1/reauth",
                serde_json::json!({ "method": "totp", "value": "123456", "user": "someone" }),
            ),
            (
                Method::POST,
                "/api/v1/account/passkeys",
                serde_json::json!({ "ceremony": "x", "credential": {}, "user_id": "someone" }),
            ),
            (
                Method::PUT,
                "/api/v1/tenant/mfa-policy",
                serde_json::json!({ "mfa_required": true, "tenant": "another" }),
            ),
            (
                Method::POST,
                "/api/v1/account/mfa/totp/confirm",
                serde_json::json!({ "code": "123456", "user": "someone" }),
            ),
        ] {
            let r = owner.api(method, path, Some(body)).await;
            assert!(r.status().is_client_error(), "{path}: {}", r.status());
            assert_ne!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let me: serde_json::Value = owner
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], crate::identity::OWNER_EMAIL);
        assert_eq!(me["role"], "owner");
        // Answers never carry secrets or hashes.
        for path in [
            "/api/v1/account",
            "/api/v1/account/passkeys",
            "/api/v1/account/sessions",
        ] {
            let text = owner.get_json(path).await.text().await.unwrap();
            for secret in ["password_hash", "argon2", "totp", "secret", "token_hash"] {
                assert!(
                    !text.to_lowercase().contains(secret),
                    "{path} shows {secret}: {text}"
                );
            }
        }
        app.shutdown().await;
    }
);

both_backends!(
    sec_38_users_inactive_for_90_days_are_disabled_and_audited,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let _owner = bootstrap(&app).await;
        let _mia = member(&app).await;
        let identity = &app.state().identity;
        // Eighty-nine days on, nobody is disabled.
        app.clock.advance(time::Duration::days(89));
        assert_eq!(
            identity
                .disable_inactive(time::Duration::days(90))
                .await
                .unwrap(),
            0
        );
        // Ninety-one days on: the member is disabled, her sessions ended, and it is audited;
        // the owner stays, because she is the tenant's only active owner.
        app.clock.advance(time::Duration::days(2));
        assert_eq!(
            identity
                .disable_inactive(time::Duration::days(90))
                .await
                .unwrap(),
            1
        );
        let b = app.browser();
        let r =
            crate::identity::login(&b, "mia.member@example.org", "copper walrus meadow tune").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(b.cookie("__Host-attest-session").is_none());
        assert_eq!(
            crate::mfa::audit_count(&app, "user.disabled_inactive", "success").await,
            1
        );
        let statuses: Vec<String> = crate::mfa::rows(
            &app,
            "SELECT status FROM app_user WHERE email = $1",
            &[crate::identity::OWNER_EMAIL],
        )
        .await;
        assert_eq!(statuses, vec!["active".to_owned()]);
        // Running again changes nothing more.
        assert_eq!(
            identity
                .disable_inactive(time::Duration::days(90))
                .await
                .unwrap(),
            0
        );
        app.shutdown().await;
    }
);
