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

/// Who asks, in the matrix's column order.
const PRINCIPALS: [&str; 8] = [
    "owner",
    "admin",
    "manager",
    "contributor",
    "auditor",
    "external",
    "anonymous",
    "other tenant",
];

/// The authorization matrix (issue 5): every method of every route, and what each principal
/// gets, in the column order of [`PRINCIPALS`]. `Y`: past the policy (anything but 403 and
/// the policy's 401); `F`: 403; `U`: 401; `N`: 404, the object of another tenant or one not
/// shared (SEC-32). `{id}` in a `/documents` path is a document of the owner's tenant shared
/// with the external member; other parameters are random ids. The "other tenant" principal is
/// a compliance manager of another organisation. Rows run in order: the ones that end a
/// session or remove a factor come last.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/", "YYYYYYYY"),
    ("GET", "/healthz", "YYYYYYYY"),
    ("GET", "/readyz", "YYYYYYYY"),
    ("GET", "/metrics", "YYYYYYYY"),
    ("GET", "/static/attest.css", "YYYYYYYY"),
    ("GET", "/static/passkey.js", "YYYYYYYY"),
    ("GET", "/static/continue.js", "YYYYYYYY"),
    ("GET", "/favicon.ico", "YYYYYYYY"),
    ("GET", "/login", "YYYYYYYY"),
    ("POST", "/login", "YYYYYYYY"),
    ("POST", "/api/v1/login", "YYYYYYYY"),
    ("GET", "/login/second-factor", "YYYYYYYY"),
    ("POST", "/login/second-factor", "YYYYYYYY"),
    ("POST", "/api/v1/login/second-factor", "YYYYYYYY"),
    ("POST", "/login/second-factor/passkey/begin", "YYYYYYYY"),
    (
        "POST",
        "/api/v1/login/second-factor/passkey/begin",
        "YYYYYYYY",
    ),
    ("POST", "/login/passkey/begin", "YYYYYYYY"),
    ("POST", "/api/v1/login/passkey/begin", "YYYYYYYY"),
    ("POST", "/login/passkey", "YYYYYYYY"),
    ("POST", "/api/v1/login/passkey", "YYYYYYYY"),
    ("GET", "/bootstrap/{token}", "YYYYYYYY"),
    ("POST", "/bootstrap/{token}", "YYYYYYYY"),
    ("GET", "/forgot", "YYYYYYYY"),
    ("POST", "/forgot", "YYYYYYYY"),
    ("GET", "/reset/{token}", "YYYYYYYY"),
    ("POST", "/reset/{token}", "YYYYYYYY"),
    ("GET", "/invitations/{token}", "YYYYYYYY"),
    ("POST", "/invitations/{token}", "YYYYYYYY"),
    ("GET", "/sso", "YYYYYYYY"),
    ("POST", "/sso/start", "YYYYYYYY"),
    ("GET", "/sso/callback", "YYYYYYYY"),
    ("GET", "/sso/link", "YYYYYYYY"),
    ("POST", "/sso/link", "YYYYYYYY"),
    ("GET", "/sso/{tenant}", "YYYYYYYY"),
    // The account: every signed-in person, in any role.
    ("GET", "/api/v1/openapi.json", "YYYYYYUY"),
    ("GET", "/reauth", "YYYYYYUY"),
    ("POST", "/reauth", "YYYYYYUY"),
    ("POST", "/api/v1/reauth", "YYYYYYUY"),
    ("POST", "/reauth/passkey/begin", "YYYYYYUY"),
    ("POST", "/api/v1/reauth/passkey/begin", "YYYYYYUY"),
    ("GET", "/account/security", "YYYYYYUY"),
    ("POST", "/account/security/totp", "YYYYYYUY"),
    ("POST", "/account/security/totp/confirm", "YYYYYYUY"),
    ("POST", "/account/security/recovery-codes", "YYYYYYUY"),
    ("GET", "/api/v1/account/mfa/methods", "YYYYYYUY"),
    ("POST", "/api/v1/account/mfa/totp/confirm", "YYYYYYUY"),
    ("POST", "/api/v1/account/mfa/totp", "YYYYYYUY"),
    ("POST", "/api/v1/account/mfa/recovery-codes", "YYYYYYUY"),
    ("POST", "/api/v1/account/mfa/{method}", "YYYYYYUY"),
    ("POST", "/account/security/passkeys/begin", "YYYYYYUY"),
    ("POST", "/account/security/passkeys", "YYYYYYUY"),
    ("POST", "/account/security/passkeys/{id}/remove", "YYYYYYUY"),
    ("POST", "/api/v1/account/passkeys/begin", "YYYYYYUY"),
    ("GET", "/api/v1/account/passkeys", "YYYYYYUY"),
    ("POST", "/api/v1/account/passkeys", "YYYYYYUY"),
    ("DELETE", "/api/v1/account/passkeys/{id}", "YYYYYYUY"),
    ("POST", "/account/email", "YYYYYYUY"),
    ("PATCH", "/api/v1/account/email", "YYYYYYUY"),
    ("GET", "/account/email/{token}", "YYYYYYUY"),
    ("POST", "/account/email/{token}", "YYYYYYUY"),
    ("POST", "/switch-tenant", "YYYYYYUY"),
    ("GET", "/account", "YYYYYYUY"),
    ("POST", "/account/password", "YYYYYYUY"),
    ("POST", "/account/sessions/{id}/end", "YYYYYYUY"),
    ("GET", "/api/v1/account", "YYYYYYUY"),
    ("POST", "/api/v1/account/password", "YYYYYYUY"),
    ("GET", "/api/v1/account/sessions", "YYYYYYUY"),
    ("DELETE", "/api/v1/account/sessions/{id}", "YYYYYYUY"),
    ("GET", "/account/tokens", "YYYYYYUY"),
    ("POST", "/account/tokens", "YYYYYYUY"),
    ("POST", "/account/tokens/{id}/revoke", "YYYYYYUY"),
    ("GET", "/api/v1/account/tokens", "YYYYYYUY"),
    ("POST", "/api/v1/account/tokens", "YYYYYYUY"),
    ("DELETE", "/api/v1/account/tokens/{id}", "YYYYYYUY"),
    // Members: listed by everyone but externals (SEC-36), managed by owners and admins.
    ("GET", "/members", "YYYYYFUY"),
    ("POST", "/members/invite", "YYFFFFUF"),
    ("POST", "/members/{id}/role", "YYFFFFUF"),
    ("POST", "/members/{id}/sessions/end", "YYFFFFUF"),
    ("GET", "/members/{id}/remove", "YYFFFFUF"),
    ("POST", "/members/{id}/remove", "YYFFFFUF"),
    // The tenant's security settings: owners and admins.
    ("POST", "/account/security/policy", "YYFFFFUF"),
    ("PUT", "/api/v1/tenant/mfa-policy", "YYFFFFUF"),
    ("GET", "/tenant/sso", "YYFFFFUF"),
    ("POST", "/tenant/sso", "YYFFFFUF"),
    ("GET", "/tenant/sso/remove", "YYFFFFUF"),
    ("POST", "/tenant/sso/remove", "YYFFFFUF"),
    ("GET", "/api/v1/tenant/sso", "YYFFFFUF"),
    ("PUT", "/api/v1/tenant/sso", "YYFFFFUF"),
    ("GET", "/tenant/operator-access", "YYFFFFUF"),
    ("POST", "/tenant/operator-access", "YYFFFFUF"),
    ("POST", "/tenant/operator-access/{id}/revoke", "YYFFFFUF"),
    // Access reviews: owners and admins.
    ("GET", "/tenant/access-reviews", "YYFFFFUF"),
    ("POST", "/tenant/access-reviews", "YYFFFFUF"),
    ("GET", "/tenant/access-reviews/{id}", "YYFFFFUF"),
    ("GET", "/tenant/access-reviews/{id}/report.csv", "YYFFFFUF"),
    (
        "POST",
        "/tenant/access-reviews/{id}/items/{item}",
        "YYFFFFUF",
    ),
    ("GET", "/api/v1/access-reviews", "YYFFFFUF"),
    ("POST", "/api/v1/access-reviews", "YYFFFFUF"),
    ("GET", "/api/v1/access-reviews/{id}", "YYFFFFUF"),
    (
        "POST",
        "/api/v1/access-reviews/{id}/items/{item}",
        "YYFFFFUF",
    ),
    // Documents: read by all (externals only what is shared), created by contributors and
    // up, edited by their owner or a compliance manager and up, shared by the latter.
    ("GET", "/documents", "YYYYYYUY"),
    ("GET", "/documents.csv", "YYYYYFUY"),
    ("GET", "/documents/new", "YYYYFFUY"),
    ("POST", "/documents/new", "YYYYFFUY"),
    ("GET", "/documents/{id}", "YYYYYYUN"),
    ("GET", "/documents/{id}/versions/{n}", "YYYYYNUN"),
    ("GET", "/documents/{id}/edit", "YYYFFFUN"),
    ("POST", "/documents/{id}/edit", "YYYFFFUN"),
    ("POST", "/documents/{id}/shares", "YYYFFFUN"),
    ("POST", "/documents/{id}/shares/{share}/revoke", "YYYFFFUN"),
    ("GET", "/api/v1/documents", "YYYYYYUY"),
    ("GET", "/api/v1/documents.csv", "YYYYYFUY"),
    ("POST", "/api/v1/documents", "YYYYFFUY"),
    ("GET", "/api/v1/documents/{id}", "YYYYYYUN"),
    ("PUT", "/api/v1/documents/{id}", "YYYFFFUN"),
    ("GET", "/api/v1/documents/{id}/versions", "YYYYYNUN"),
    ("GET", "/api/v1/documents/{id}/versions/{n}", "YYYYYNUN"),
    ("GET", "/api/v1/documents/{id}/shares", "YYYFFFUN"),
    ("POST", "/api/v1/documents/{id}/shares", "YYYFFFUN"),
    (
        "DELETE",
        "/api/v1/documents/{id}/shares/{share}",
        "YYYFFFUN",
    ),
    ("GET", "/documents/{id}/delete", "YYYFFFUN"),
    ("POST", "/documents/{id}/delete", "YYYFFFUN"),
    ("DELETE", "/api/v1/documents/{id}", "YYYFFFUN"),
    // The evidence library (issue 6). `{id}` is a record with one file, shared with the
    // external member. Uploads are checked before their body is read.
    ("GET", "/static/upload.js", "YYYYYYYY"),
    ("GET", "/evidence", "YYYYYYUY"),
    ("GET", "/evidence.csv", "YYYYYFUY"),
    ("GET", "/evidence/new", "YYYYFFUY"),
    ("POST", "/evidence/new", "YYYYFFUY"),
    ("GET", "/evidence/{id}", "YYYYYYUN"),
    ("GET", "/evidence/{id}/edit", "YYYFFFUN"),
    ("POST", "/evidence/{id}/edit", "YYYFFFUN"),
    ("POST", "/evidence/{id}/versions", "YYYFFFUN"),
    ("GET", "/evidence/{id}/versions/{n}/download", "YYYYYYUN"),
    ("POST", "/evidence/{id}/shares", "YYYFFFUN"),
    ("POST", "/evidence/{id}/shares/{share}/revoke", "YYYFFFUN"),
    ("GET", "/api/v1/evidence", "YYYYYYUY"),
    ("GET", "/api/v1/evidence.csv", "YYYYYFUY"),
    ("POST", "/api/v1/evidence", "YYYYFFUY"),
    ("GET", "/api/v1/evidence/{id}", "YYYYYYUN"),
    ("PUT", "/api/v1/evidence/{id}", "YYYFFFUN"),
    ("GET", "/api/v1/evidence/{id}/versions", "YYYYYYUN"),
    ("POST", "/api/v1/evidence/{id}/versions", "YYYFFFUN"),
    (
        "GET",
        "/api/v1/evidence/{id}/versions/{n}/download",
        "YYYYYYUN",
    ),
    ("GET", "/api/v1/evidence/{id}/shares", "YYYFFFUN"),
    ("POST", "/api/v1/evidence/{id}/shares", "YYYFFFUN"),
    ("DELETE", "/api/v1/evidence/{id}/shares/{share}", "YYYFFFUN"),
    ("GET", "/evidence/{id}/delete", "YYYFFFUN"),
    ("POST", "/evidence/{id}/delete", "YYYFFFUN"),
    ("DELETE", "/api/v1/evidence/{id}", "YYYFFFUN"),
    // Framework catalogues (issue 7). `{id}` is a framework of the owner's tenant; frameworks
    // are never shared, so externals see none.
    ("GET", "/frameworks", "YYYYYNUY"),
    ("GET", "/frameworks/new", "YYYFFFUY"),
    ("POST", "/frameworks/new", "YYYFFFUY"),
    ("GET", "/frameworks/{id}", "YYYYYNUN"),
    ("POST", "/frameworks/{id}/versions", "YYYFFFUN"),
    ("GET", "/frameworks/{id}/oscal.json", "YYYYYFUN"),
    ("GET", "/frameworks/{id}/requirements/{req}", "YYYYYNUN"),
    ("GET", "/api/v1/frameworks", "YYYYYNUY"),
    ("POST", "/api/v1/frameworks", "YYYFFNUY"),
    ("GET", "/api/v1/frameworks/{id}", "YYYYYNUN"),
    ("POST", "/api/v1/frameworks/{id}/versions", "YYYFFFUN"),
    ("GET", "/api/v1/frameworks/{id}/oscal.json", "YYYYYFUN"),
    (
        "GET",
        "/api/v1/frameworks/{id}/requirements/{req}",
        "YYYYYNUN",
    ),
    ("GET", "/frameworks/{id}/delete", "YYYFFFUN"),
    ("POST", "/frameworks/{id}/delete", "YYYFFFUN"),
    ("DELETE", "/api/v1/frameworks/{id}", "YYYFFNUN"),
    // Controls (issue 7). `{id}` is a control of the owner's tenant, owned by another owner,
    // so the contributor is not its owner; `{req}` names no mapping. Controls are never
    // shared: externals see none.
    ("GET", "/frameworks/{id}/soa", "YYYYYNUN"),
    ("GET", "/frameworks/{id}/soa.csv", "YYYYYFUN"),
    ("GET", "/api/v1/frameworks/{id}/soa.csv", "YYYYYFUN"),
    ("POST", "/frameworks/{id}/soa/{req}", "YYYFFFUN"),
    ("GET", "/api/v1/frameworks/{id}/soa", "YYYYYNUN"),
    ("PUT", "/api/v1/frameworks/{id}/soa/{req}", "YYYFFFUN"),
    ("GET", "/controls", "YYYYYNUY"),
    ("GET", "/controls.csv", "YYYYYFUY"),
    ("GET", "/controls/new", "YYYFFFUY"),
    ("POST", "/controls/new", "YYYFFFUY"),
    ("GET", "/controls/{id}", "YYYYYNUN"),
    ("GET", "/controls/{id}/edit", "YYYFFFUN"),
    ("POST", "/controls/{id}/edit", "YYYFFFUN"),
    ("POST", "/controls/{id}/mappings", "YYYFFFUN"),
    ("POST", "/controls/{id}/mappings/{req}/delete", "YYYFFFUN"),
    ("GET", "/api/v1/controls", "YYYYYNUY"),
    ("POST", "/api/v1/controls", "YYYFFNUY"),
    ("GET", "/api/v1/controls.csv", "YYYYYFUY"),
    ("GET", "/api/v1/controls/{id}", "YYYYYNUN"),
    ("PUT", "/api/v1/controls/{id}", "YYYFFNUN"),
    ("POST", "/api/v1/controls/{id}/mappings", "YYYFFFUN"),
    ("DELETE", "/api/v1/controls/{id}/mappings/{req}", "YYYFFFUN"),
    // Control activities and runs (issue 7). The activity's performer is the owner who
    // created it and its reviewer the compliance manager; the contributor is neither.
    ("GET", "/controls/{id}/activities/new", "YYYFFFUN"),
    ("POST", "/controls/{id}/activities/new", "YYYFFFUN"),
    ("GET", "/activities/{id}", "YYYYYNUN"),
    ("GET", "/activities/{id}/edit", "YYYFFFUN"),
    ("POST", "/activities/{id}/edit", "YYYFFFUN"),
    ("GET", "/runs", "YYYYYNUY"),
    ("GET", "/runs.csv", "YYYYYFUY"),
    ("GET", "/runs/{id}", "YYYYYNUN"),
    ("POST", "/runs/{id}/perform", "YYYFFFUN"),
    ("POST", "/runs/{id}/review", "YYYFFFUN"),
    ("GET", "/api/v1/controls/{id}/activities", "YYYYYNUN"),
    ("POST", "/api/v1/controls/{id}/activities", "YYYFFNUN"),
    ("GET", "/api/v1/activities/{id}", "YYYYYNUN"),
    ("PUT", "/api/v1/activities/{id}", "YYYFFNUN"),
    ("GET", "/api/v1/runs", "YYYYYNUY"),
    ("GET", "/api/v1/runs.csv", "YYYYYFUY"),
    ("GET", "/api/v1/runs/{id}", "YYYYYNUN"),
    ("POST", "/api/v1/runs/{id}/perform", "YYYFFFUN"),
    ("POST", "/api/v1/runs/{id}/review", "YYYFFFUN"),
    ("GET", "/api/v1/tasks", "YYYYYYUY"),
    // The dashboard (issue 7).
    ("GET", "/dashboard", "YYYYYNUY"),
    ("GET", "/api/v1/dashboard", "YYYYYNUY"),
    // The risk register (issue 7). `{id}` is a risk owned by the owner who created it.
    ("GET", "/risks", "YYYYYNUY"),
    ("GET", "/risks.csv", "YYYYYFUY"),
    ("GET", "/risks/new", "YYYYFFUY"),
    ("POST", "/risks/new", "YYYYFFUY"),
    ("GET", "/risks/{id}", "YYYYYNUN"),
    ("GET", "/risks/{id}/edit", "YYYFFFUN"),
    ("POST", "/risks/{id}/edit", "YYYFFFUN"),
    ("POST", "/risks/{id}/acceptance", "YYYFFFUN"),
    ("POST", "/risks/{id}/decision", "YYYFFFUN"),
    ("POST", "/risks/{id}/reassess", "YYYFFFUN"),
    ("GET", "/risk-scales", "YYYFFFUY"),
    ("POST", "/risk-scales", "YYYFFFUY"),
    ("GET", "/api/v1/risks", "YYYYYNUY"),
    ("POST", "/api/v1/risks", "YYYYFNUY"),
    ("GET", "/api/v1/risks.csv", "YYYYYFUY"),
    ("GET", "/api/v1/risks/{id}", "YYYYYNUN"),
    ("PUT", "/api/v1/risks/{id}", "YYYFFNUN"),
    ("POST", "/api/v1/risks/{id}/acceptance", "YYYFFFUN"),
    ("POST", "/api/v1/risks/{id}/decision", "YYYFFFUN"),
    ("POST", "/api/v1/risks/{id}/reassess", "YYYFFFUN"),
    ("GET", "/api/v1/risk-scales", "YYYYYNUY"),
    ("PUT", "/api/v1/risk-scales", "YYYFFNUY"),
    ("GET", "/risks/{id}/delete", "YYYFFFUN"),
    ("POST", "/risks/{id}/delete", "YYYFFFUN"),
    ("DELETE", "/api/v1/risks/{id}", "YYYFFNUN"),
    ("GET", "/controls/{id}/delete", "YYYFFFUN"),
    ("POST", "/controls/{id}/delete", "YYYFFFUN"),
    ("DELETE", "/api/v1/controls/{id}", "YYYFFNUN"),
    // Last: these remove a factor or end the session.
    ("POST", "/account/security/totp/remove", "YYYYYYUY"),
    ("DELETE", "/api/v1/account/mfa/totp", "YYYYYYUY"),
    ("POST", "/logout", "YYYYYYYY"),
    ("POST", "/api/v1/logout", "YYYYYYYY"),
];

/// The objects a principal's matrix rows name: `(document, evidence, framework, control,
/// activity, run, risk)`.
type Objects<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

/// The URL of a matrix row for one principal's fresh document, evidence record, framework
/// and control.
fn matrix_url(
    path: &str,
    (document, evidence, framework, control, activity, run, risk): Objects<'_>,
) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{id}" if path.starts_with("/documents") || path.starts_with("/api/v1/documents") => {
                document.to_owned()
            }
            "{id}" if path.starts_with("/evidence") || path.starts_with("/api/v1/evidence") => {
                evidence.to_owned()
            }
            "{id}" if path.starts_with("/frameworks") || path.starts_with("/api/v1/frameworks") => {
                framework.to_owned()
            }
            "{id}" if path.starts_with("/controls") || path.starts_with("/api/v1/controls") => {
                control.to_owned()
            }
            "{id}" if path.starts_with("/activities") || path.starts_with("/api/v1/activities") => {
                activity.to_owned()
            }
            "{id}" if path.starts_with("/runs") || path.starts_with("/api/v1/runs") => {
                run.to_owned()
            }
            "{id}" if path.starts_with("/risks") || path.starts_with("/api/v1/risks") => {
                risk.to_owned()
            }
            "{n}" => "1".to_owned(),
            "{method}" => "sms".to_owned(),
            s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

both_backends!(
    sec_31_32_35_36_the_authorization_matrix_holds_for_every_route_and_role,
    |backend| async move {
        use crate::documents::{OTHER_TENANT, new_document, person};
        use attest_types::Role;

        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        // The table covers exactly the router: every (method, route) the owner can reach
        // is a row, and every row is a real route and method.
        let mut reachable = Vec::new();
        for route in ROUTES {
            for method in METHODS {
                let r = owner
                    .api(
                        method.clone(),
                        &concrete(route.path),
                        (method != Method::GET).then(|| serde_json::json!({})),
                    )
                    .await;
                if r.status() != StatusCode::METHOD_NOT_ALLOWED
                    && !(route.path.ends_with("logout")
                        || route.path.ends_with("/remove") && route.path.contains("totp"))
                {
                    reachable.push(format!("{method} {}", route.path));
                }
            }
        }
        let mut rows: Vec<String> = MATRIX
            .iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .filter(|r| !r.ends_with("logout") && r != "POST /account/security/totp/remove")
            .collect();
        let mut reachable_sorted = reachable.clone();
        reachable_sorted.sort();
        rows.sort();
        // DELETE /api/v1/account/mfa/totp was probed above with the rest; keep it.
        assert_eq!(reachable_sorted, rows, "the matrix and the router differ");
        for (_, _, codes) in MATRIX {
            assert_eq!(codes.len(), PRINCIPALS.len());
        }
        // The probe may have cost the first owner her factor: fresh owners, one creating the
        // documents and one in the sweep (whose last rows sign it out).
        let creator = person(
            &app,
            "Northwind Trading",
            "otto@northwind.test",
            Role::Owner,
        )
        .await;
        let owner = person(
            &app,
            "Northwind Trading",
            "oscar@northwind.test",
            Role::Owner,
        )
        .await;
        let tenant = "Northwind Trading";
        let admin = person(&app, tenant, "ada@northwind.test", Role::Admin).await;
        let manager = person(&app, tenant, "mona@northwind.test", Role::Manager).await;
        let contributor = person(&app, tenant, "carl@northwind.test", Role::Contributor).await;
        let auditor = person(&app, tenant, "aude@northwind.test", Role::Auditor).await;
        let external = person(&app, tenant, "eve@client.test", Role::External).await;
        let anonymous = app.browser();
        assert_eq!(anonymous.get("/login").await.status(), StatusCode::OK);
        let other = person(&app, OTHER_TENANT, "max@contoso.test", Role::Manager).await;
        let ext: serde_json::Value = external
            .get_json("/api/v1/account")
            .await
            .json()
            .await
            .unwrap();
        let ext_id = ext["user"].as_str().unwrap().to_owned();
        let id_of = |v: serde_json::Value| v["user"].as_str().unwrap().to_owned();
        let creator_id = id_of(
            creator
                .get_json("/api/v1/account")
                .await
                .json()
                .await
                .unwrap(),
        );
        let manager_id = id_of(
            manager
                .get_json("/api/v1/account")
                .await
                .json()
                .await
                .unwrap(),
        );
        let until = (app.clock.now() + time::Duration::days(30))
            .date()
            .to_string();
        use attest_types::Clock as _;

        let principals = [
            &owner,
            &admin,
            &manager,
            &contributor,
            &auditor,
            &external,
            &anonymous,
            &other,
        ];
        let mut wrong = Vec::new();
        for (column, who) in principals.iter().enumerate() {
            // Each column in a fresh minute of the API's per-address limit (SEC-78): all
            // principals call from one address, and the sweep is longer than 600 calls.
            app.clock.advance(time::Duration::seconds(61));
            // A fresh document of the owner's tenant, shared with the external member.
            let doc = new_document(&creator, &format!("Matrix {column}"), "<p>m</p>").await;
            let r = creator
                .api(
                    Method::POST,
                    &format!("/api/v1/documents/{doc}/shares"),
                    Some(serde_json::json!({ "user": ext_id, "until": until })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            // A fresh evidence record with one file, shared the same way.
            let evidence = crate::evidence::upload(
                &creator,
                &format!("Matrix evidence {column}"),
                "m.pdf",
                &crate::evidence::pdf(1_000),
            )
            .await;
            let r = creator
                .api(
                    Method::POST,
                    &format!("/api/v1/evidence/{evidence}/shares"),
                    Some(serde_json::json!({ "user": ext_id, "until": until })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            // A fresh framework of the owner's tenant.
            let (status, v) = crate::frameworks::import(
                &creator,
                "/api/v1/frameworks",
                &[("title", "Matrix framework")],
                Some(("m.csv", b"id,title,text,parent\nm.1,One,Text,\n")),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            let framework = v["id"].as_str().unwrap().to_owned();
            // A fresh control of the owner's tenant, owned by its creator.
            let r = creator
                .api(
                    Method::POST,
                    "/api/v1/controls",
                    Some(serde_json::json!({ "reference": format!("MX-{column}"), "title": "Matrix control" })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let control = r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            // A fresh activity of that control: the creator performs, the manager reviews.
            let r = creator
                .api(
                    Method::POST,
                    &format!("/api/v1/controls/{control}/activities"),
                    Some(serde_json::json!({
                        "title": "Matrix activity", "frequency": "monthly", "starts_on": "2026-11-01",
                        "performer": creator_id, "reviewer": manager_id,
                    })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let activity = r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let runs: serde_json::Value = creator
                .get_json(&format!("/api/v1/runs?control={control}"))
                .await
                .json()
                .await
                .unwrap();
            let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
            // A fresh risk, owned by its creator.
            let r = creator
                .api(
                    Method::POST,
                    "/api/v1/risks",
                    Some(serde_json::json!({
                        "title": "Matrix risk", "category": "Matrix",
                        "inherent_likelihood": 3, "inherent_impact": 3,
                        "residual_likelihood": 2, "residual_impact": 2,
                    })),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let risk = r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            for (method, path, codes) in MATRIX {
                let expected = codes.as_bytes()[column];
                let url = matrix_url(
                    path,
                    (
                        &doc, &evidence, &framework, &control, &activity, &run, &risk,
                    ),
                );
                let method: Method = method.parse().unwrap();
                let r = if path.starts_with("/api/") || method != Method::POST {
                    let body = (method != Method::GET).then(|| serde_json::json!({}));
                    who.api(method.clone(), &url, body).await
                } else {
                    who.post_form(&url, &[]).await
                };
                let status = r.status();
                let code = r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let policy_401 = status == StatusCode::UNAUTHORIZED
                    && ["unauthenticated", "session_expired", "session_superseded"]
                        .contains(&code.as_str());
                let ok = match expected {
                    b'Y' => status != StatusCode::FORBIDDEN && !policy_401,
                    b'F' => status == StatusCode::FORBIDDEN,
                    b'U' => status == StatusCode::UNAUTHORIZED,
                    b'N' => status == StatusCode::NOT_FOUND,
                    _ => false,
                };
                if !ok {
                    wrong.push(format!(
                        "{} {method} {path}: expected {} got {status} {code}",
                        PRINCIPALS[column], expected as char
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} cells differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        app.shutdown().await;
    }
);

/// Every `$ref` in a JSON value.
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                }
                refs(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

both_backends!(
    sec_77_the_openapi_document_describes_exactly_the_api,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        // Not public (SEC-31): a session or a token.
        let visitor = app.browser();
        assert_eq!(
            visitor.get_json("/api/v1/openapi.json").await.status(),
            StatusCode::UNAUTHORIZED
        );
        let r = owner.get_json("/api/v1/openapi.json").await;
        assert_eq!(r.status(), StatusCode::OK);
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        // Exactly the router's API: every API row of the matrix, and nothing else.
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| format!("{} {path}", m.to_uppercase()))
            })
            .collect();
        let mut routed: Vec<String> = MATRIX
            .iter()
            .filter(|(_, p, _)| p.starts_with("/api/v1/"))
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        // Every operation has a summary and responses; every reference resolves.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{method} {path}"
                );
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in &all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a component reference");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} does not resolve"
            );
        }
        // Request bodies are the handlers' own structs: the document editor's fields, and
        // never the CSRF field or anything a caller may not set (SEC-37).
        let editor = &doc["components"]["schemas"]["DocumentForm"]["properties"];
        let mut fields: Vec<&str> = editor
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["body", "classification", "owner", "title", "version"]
        );
        assert_eq!(
            doc["paths"]["/api/v1/documents/{id}"]["put"]["requestBody"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/DocumentForm"
        );
        // Public operations say so; the rest need a token or a session.
        assert_eq!(
            doc["paths"]["/api/v1/login"]["post"]["security"],
            serde_json::json!([])
        );
        assert!(doc["paths"]["/api/v1/documents"]["get"]["responses"]["401"].is_object());
        app.shutdown().await;
    }
);
