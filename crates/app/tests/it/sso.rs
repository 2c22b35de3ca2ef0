//! OpenID Connect single sign-on (issue 4, SEC-18, SEC-19), black-box over TLS on both
//! databases against a real OpenID provider process (npm `oidc-provider`, with test modes that
//! make it misbehave), plus grey-box checks of the database, the audit trail and the log.
//!
//! The provider stamps ID tokens with the real time, so each test first sets the server's
//! manual clock to the wall clock.

use attest_crypto::Zeroizing;
use attest_test_support::{
    Backend, Browser, OidcProvider, OidcUser, SmtpSink, SoftPasskey, TestApp, both_backends,
};
use attest_types::{Actor, Clock as _, Role, SystemClock};
use reqwest::{Method, StatusCode};
use time::Duration;

use crate::identity::{OWNER_EMAIL, OWNER_PASSWORD, Owner, bootstrap, login_2fa};
use crate::mfa::{audit_count, rows};

const MEMBER_EMAIL: &str = "mia.member@example.org";
const MEMBER_PASSWORD: &str = "copper walrus meadow tune";
const SESSION: &str = "__Host-attest-session";

fn users() -> Vec<OidcUser> {
    vec![
        OidcUser::verified("alice-sub", "alice@acme.test", "Alice Acme"),
        OidcUser::verified("bob-sub", "bob@acme.test", "Bob Acme"),
        OidcUser::verified("eve-sub", "eve@elsewhere.test", "Eve Elsewhere"),
        OidcUser {
            email_verified: false,
            ..OidcUser::verified("una-sub", "una@acme.test", "Una Unverified")
        },
        OidcUser::verified("mia-sub", MEMBER_EMAIL, "Mia Member"),
    ]
}

/// A server whose clock is the wall clock, its bootstrapped owner (with TOTP) and a provider.
struct World {
    app: TestApp,
    owner: Owner,
    idp: OidcProvider,
    tenant: String,
}

async fn world(backend: Backend) -> World {
    world_with(TestApp::builder(backend).wall_clock().start().await).await
}

/// `app` must run on the wall clock (`TestAppBuilder::wall_clock`): the provider signs its
/// tokens at real time.
async fn world_with(app: TestApp) -> World {
    let owner = bootstrap(&app).await;
    let idp = OidcProvider::start(&app.url("/sso/callback"), &users()).await;
    let mut w = World {
        app,
        owner,
        idp,
        tenant: String::new(),
    };
    let v = configure(&w, true, "contributor", false).await;
    w.tenant = v["sign_in_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("/sso/")
        .to_owned();
    w
}

fn settings(idp: &OidcProvider, jit: bool, role: &str, enforce: bool) -> serde_json::Value {
    serde_json::json!({
        "display_name": "Acme Login",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "allowed_domains": ["acme.test", "example.org"],
        "jit": jit,
        "jit_role": role,
        "enforce": enforce,
    })
}

/// Saves the tenant's SSO settings as the owner (proving presence first when needed).
async fn configure(w: &World, jit: bool, role: &str, enforce: bool) -> serde_json::Value {
    put_settings(w, settings(&w.idp, jit, role, enforce)).await
}

async fn put_settings(w: &World, body: serde_json::Value) -> serde_json::Value {
    let r = w
        .owner
        .api(Method::PUT, "/api/v1/tenant/sso", Some(body.clone()))
        .await;
    if r.status() == StatusCode::UNAUTHORIZED {
        reauth(w).await;
        return Box::pin(put_settings(w, body)).await;
    }
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn reauth(w: &World) {
    w.app.clock.advance(Duration::seconds(30));
    let code = w.owner.app.code_at(w.app.clock.now());
    let r = w
        .owner
        .api(
            Method::POST,
            "/api/v1/reauth",
            Some(serde_json::json!({ "method": "totp", "value": code })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Presses "Sign in with …": the provider's authorization URL.
async fn start(w: &World, b: &Browser, hint: &str) -> String {
    let r = b
        .post_form(
            "/sso/start",
            &[("tenant", w.tenant.as_str()), ("login_hint", hint)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let to = location(&r);
    assert!(to.starts_with(&w.idp.issuer), "{to}");
    to
}

/// The provider's redirect back to Attest, as a path with its query.
async fn through_provider(w: &World, authorize: &str) -> String {
    let back = w
        .idp
        .authorize(authorize, &w.app.url("/sso/callback"))
        .await;
    back.strip_prefix(&w.app.base).unwrap().to_owned()
}

/// A whole sign-in: start, the provider's login, and the callback's response.
async fn sso_login(w: &World, b: &Browser, hint: &str) -> reqwest::Response {
    let url = start(w, b, hint).await;
    let callback = through_provider(w, &url).await;
    b.get(&callback).await
}

async fn body_of(r: reqwest::Response) -> String {
    r.text().await.unwrap_or_default()
}

async fn count(app: &TestApp, sql: &str, binds: &[&str]) -> i64 {
    rows::<i64>(app, sql, binds).await[0]
}

async fn users_with_email(app: &TestApp, email: &str) -> i64 {
    count(
        app,
        "SELECT count(*) FROM app_user WHERE email = $1",
        &[email],
    )
    .await
}

async fn links(app: &TestApp, issuer: &str) -> i64 {
    count(
        app,
        "SELECT count(*) FROM sso_identity WHERE issuer = $1",
        &[issuer],
    )
    .await
}

/// The audit details of SSO sign-in failures, oldest first.
async fn failure_reasons(app: &TestApp) -> Vec<String> {
    app.state().audit.flush().await;
    rows::<String>(
        app,
        "SELECT details FROM audit_event WHERE action = 'auth.sso_login' AND outcome <> 'success' ORDER BY occurred_at, seq",
        &[],
    )
    .await
}

/// Checks a refusal: status, stable code on the page, no session, and an audit record.
async fn refused(w: &World, b: &Browser, r: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    assert!(b.cookie(SESSION).is_none(), "a refusal must not sign in");
    let body = body_of(r).await;
    assert!(body.contains(code), "{code} not in: {body}");
    assert!(
        !body.contains("panicked") && !body.contains("sqlx"),
        "{body}"
    );
    let reasons = failure_reasons(&w.app).await;
    assert!(
        reasons.iter().any(|d| d.contains(code)),
        "no audited failure {code}: {reasons:?}"
    );
}

async fn add_member(app: &TestApp) {
    app.state()
        .identity
        .create_member(
            "Northwind Trading",
            MEMBER_EMAIL,
            "Mia Member",
            Role::Contributor,
            Zeroizing::new(MEMBER_PASSWORD.to_owned()),
            Actor::Operator,
        )
        .await
        .unwrap();
}

both_backends!(
    sec_18_code_flow_with_pkce_signs_in_and_links_by_issuer_and_subject,
    |backend| async move {
        let w = world(backend).await;
        let b = w.app.browser();
        let url = start(&w, &b, "alice-sub").await;
        // Code flow with PKCE S256, state and nonce; the verifier never leaves the server.
        for part in [
            "response_type=code",
            "code_challenge_method=S256",
            "code_challenge=",
            "state=",
            "nonce=",
            "scope=openid",
        ] {
            assert!(url.contains(part), "{part} missing in {url}");
        }
        assert!(!url.contains("code_verifier"));
        let binding = b
            .cookie("__Host-attest-sso")
            .expect("browser-binding cookie");
        assert!(!url.contains(&binding));
        let callback = through_provider(&w, &url).await;
        let r = b.get(&callback).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/");
        let me: serde_json::Value = b.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(me["email"], "alice@acme.test", "{me}");
        // Keyed by (issuer, subject); a just-in-time member with the configured role.
        assert_eq!(
            count(
                &w.app,
                "SELECT count(*) FROM sso_identity WHERE issuer = $1 AND subject = $2",
                &[&w.idp.issuer, "alice-sub"],
            )
            .await,
            1
        );
        assert_eq!(
            rows::<String>(
                &w.app,
                "SELECT m.role FROM membership m JOIN app_user u ON u.id = m.user_id WHERE u.email = $1",
                &["alice@acme.test"],
            )
            .await,
            vec!["contributor".to_owned()]
        );
        assert_eq!(audit_count(&w.app, "auth.sso_login", "success").await, 1);
        // A JIT user has no password: password sign-in is impossible.
        assert_eq!(
            rows::<Option<String>>(
                &w.app,
                "SELECT password_hash FROM app_user WHERE email = $1",
                &["alice@acme.test"],
            )
            .await,
            vec![None]
        );

        // The same (issuer, subject) with another email claim is the same user: a new
        // provider process on the same port has the same issuer.
        let port = w.idp.port;
        let World {
            app,
            owner,
            idp,
            tenant,
        } = w;
        idp.stop().await;
        let mut renamed = users();
        renamed[0].email = "alice.renamed@acme.test".to_owned();
        let idp = OidcProvider::start_with(
            &app.url("/sso/callback"),
            "attest-test",
            "provider-secret-1b7c",
            &renamed,
            port,
        )
        .await;
        let w = World {
            app,
            owner,
            idp,
            tenant,
        };
        let b2 = w.app.browser();
        let r = sso_login(&w, &b2, "alice-sub").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let me: serde_json::Value = b2.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(
            me["email"], "alice@acme.test",
            "linked by (iss, sub), not email"
        );
        assert_eq!(users_with_email(&w.app, "alice.renamed@acme.test").await, 0);
        assert_eq!(links(&w.app, &w.idp.issuer).await, 1);

        // The "Sign in with SSO" form routes by email domain and passes the address as a hint;
        // an unknown domain is told plainly, with no redirect.
        let b3 = w.app.browser();
        let r = b3
            .post_form("/sso/start", &[("email", "Bob@Acme.test")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(location(&r).contains("login_hint=Bob%40Acme.test"));
        let r = b3
            .post_form("/sso/start", &[("email", "x@nowhere.test")])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(body_of(r).await.contains("not set up for this email"));
        // The organisation's sign-in page shows its button.
        let page = body_of(w.app.browser().get(&format!("/sso/{}", w.tenant)).await).await;
        assert!(page.contains("Sign in with Acme Login"), "{page}");
        w.app.shutdown().await;
    }
);

both_backends!(sec_18_wrong_state_is_400, |backend| async move {
    let w = world(backend).await;
    let a = w.app.browser();
    let url = start(&w, &a, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    let (path, query) = callback.split_once('?').unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let code = &params.iter().find(|(k, _)| k == "code").unwrap().1;
    let state = &params.iter().find(|(k, _)| k == "state").unwrap().1;
    let with = |state: &str| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("code", code)
            .append_pair("state", state)
            .finish();
        format!("{path}?{q}")
    };
    // An unknown state.
    let r = a.get(&with("forged-state-value")).await;
    refused(&w, &a, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    // No state at all.
    let r = a.get(&format!("{path}?code=abc")).await;
    refused(&w, &a, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    // The right state from another browser (no binding cookie, or another one).
    let other = w.app.browser();
    let r = other.get(&callback).await;
    refused(&w, &other, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    let third = w.app.browser();
    let _ = start(&w, &third, "bob-sub").await;
    let r = third.get(&callback).await;
    refused(&w, &third, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    // The attempt is untouched by those: its own browser still completes it.
    let r = a.get(&with(state)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(a.cookie(SESSION).is_some());
    assert_eq!(users_with_email(&w.app, "bob@acme.test").await, 0);
    w.app.shutdown().await;
});

both_backends!(sec_18_replayed_callback_is_400, |backend| async move {
    let w = world(backend).await;
    let b = w.app.browser();
    let url = start(&w, &b, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    assert_eq!(b.get(&callback).await.status(), StatusCode::SEE_OTHER);
    let first = b.cookie(SESSION).unwrap();
    // The same callback again, in the same browser: the attempt was used.
    b.set_cookie(SESSION, None);
    let r = b.get(&callback).await;
    refused(&w, &b, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    // An attempt that expired (10 minutes) is refused the same way.
    let b2 = w.app.browser();
    let url = start(&w, &b2, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    w.app.clock.advance(Duration::minutes(11));
    let r = b2.get(&callback).await;
    refused(&w, &b2, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
    w.app.clock.advance(Duration::minutes(-11));
    // The first session is still the only one.
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM session s JOIN app_user u ON u.id = s.user_id WHERE u.email = $1",
            &["alice@acme.test"],
        )
        .await,
        1
    );
    assert!(!first.is_empty());
    w.app.shutdown().await;
});

/// One token mode, one refusal: 401 with the specific code, nothing created.
async fn token_refused(w: &World, mode: &str, code: &str, hint: &str, email: &str) -> String {
    let b = w.app.browser();
    let url = start(w, &b, hint).await;
    let callback = through_provider(w, &url).await;
    w.idp.set_mode(mode).await;
    let users_before = users_with_email(&w.app, email).await;
    let r = b.get(&callback).await;
    let page = r.text().await.unwrap_or_default();
    assert!(page.contains(code), "{mode}: {page}");
    assert!(b.cookie(SESSION).is_none(), "{mode} signed in");
    assert_eq!(
        users_with_email(&w.app, email).await,
        users_before,
        "{mode}"
    );
    let reasons = failure_reasons(&w.app).await;
    assert!(reasons.iter().any(|d| d.contains(code)), "{reasons:?}");
    page
}

both_backends!(sec_18_alg_none_is_401, |backend| async move {
    let w = world(backend).await;
    let b = w.app.browser();
    let url = start(&w, &b, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    w.idp.set_mode("alg_none").await;
    let r = b.get(&callback).await;
    refused(&w, &b, r, StatusCode::UNAUTHORIZED, "sso_token_unsigned").await;
    assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 0);
    assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
    w.app.shutdown().await;
});

both_backends!(sec_18_wrong_audience_is_401, |backend| async move {
    let w = world(backend).await;
    let b = w.app.browser();
    let url = start(&w, &b, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    w.idp.set_mode("wrong_audience").await;
    let r = b.get(&callback).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = body_of(r).await;
    assert!(page.contains("meant for another application"), "{page}");
    assert!(page.contains("sso_token_wrong_audience"));
    assert!(b.cookie(SESSION).is_none());
    assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 0);
    assert_eq!(audit_count(&w.app, "auth.sso_login", "failure").await, 1);
    w.app.shutdown().await;
});

both_backends!(sec_18_replayed_nonce_is_401, |backend| async move {
    let w = world(backend).await;
    // A first sign-in gives the provider a token to replay.
    let first = w.app.browser();
    assert_eq!(
        sso_login(&w, &first, "alice-sub").await.status(),
        StatusCode::SEE_OTHER
    );
    // The next flow (another browser) gets that old token: its nonce is not this attempt's.
    let b = w.app.browser();
    let url = start(&w, &b, "alice-sub").await;
    let callback = through_provider(&w, &url).await;
    w.idp.set_mode("replay_nonce").await;
    let r = b.get(&callback).await;
    refused(&w, &b, r, StatusCode::UNAUTHORIZED, "sso_token_replayed").await;
    assert_eq!(audit_count(&w.app, "auth.sso_login", "success").await, 1);
    w.app.shutdown().await;
});

both_backends!(
    sec_18_wrong_issuer_expired_bad_signature_are_401,
    |backend| async move {
        let w = world(backend).await;
        for (mode, code) in [
            ("wrong_issuer", "sso_token_wrong_issuer"),
            ("expired", "sso_token_expired"),
            ("bad_signature", "sso_token_bad_signature"),
        ] {
            let page = token_refused(&w, mode, code, "alice-sub", "alice@acme.test").await;
            assert!(page.contains("Error 401"), "{mode}: {page}");
        }
        assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_18_provider_errors_give_clear_pages,
    |backend| async move {
        let w = world(backend).await;
        // The token endpoint refuses the code.
        let page = token_refused(
            &w,
            "token_error",
            "sso_token_refused",
            "alice-sub",
            "alice@acme.test",
        )
        .await;
        assert!(
            page.contains("Error 401") && page.contains("Start again"),
            "{page}"
        );
        // The token endpoint fails (500, plain text): the provider's fault, said so, no 500 of ours.
        let b = w.app.browser();
        let url = start(&w, &b, "alice-sub").await;
        let callback = through_provider(&w, &url).await;
        w.idp.set_mode("server_error").await;
        let r = b.get(&callback).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let page = body_of(r).await;
        assert!(page.contains("sso_token_"), "{page}");
        assert!(page.contains("identity provider"));
        assert!(b.cookie(SESSION).is_none());
        // Discovery down: the start says so and stores nothing.
        w.idp.set_mode("discovery_down").await;
        let before = count(&w.app, "SELECT count(*) FROM sso_attempt", &[]).await;
        let b = w.app.browser();
        let r = b
            .post_form("/sso/start", &[("tenant", w.tenant.as_str())])
            .await;
        refused(
            &w,
            &b,
            r,
            StatusCode::BAD_GATEWAY,
            "sso_discovery_unavailable",
        )
        .await;
        assert_eq!(
            count(&w.app, "SELECT count(*) FROM sso_attempt", &[]).await,
            before
        );
        // The same as JSON, with a stable code.
        let r = b
            .send(
                w.app
                    .client
                    .post(w.app.url("/sso/start"))
                    .header("origin", &w.app.base)
                    .header("accept", "application/json")
                    .form(&[("tenant", w.tenant.as_str()), ("csrf_token", &b.csrf())]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "sso_discovery_unavailable");
        w.idp.set_mode("normal").await;
        // Discovery going down between start and callback.
        let b = w.app.browser();
        let url = start(&w, &b, "alice-sub").await;
        let callback = through_provider(&w, &url).await;
        w.idp.set_mode("discovery_down").await;
        let r = b.get(&callback).await;
        refused(
            &w,
            &b,
            r,
            StatusCode::BAD_GATEWAY,
            "sso_discovery_unavailable",
        )
        .await;
        w.idp.set_mode("normal").await;
        // The provider sends the user back with an error (unknown user at the provider).
        let b = w.app.browser();
        let r = sso_login(&w, &b, "nobody-at-the-provider").await;
        refused(&w, &b, r, StatusCode::UNAUTHORIZED, "sso_provider_error").await;
        // Malformed callbacks: repeated or oversized parameters, no parameters.
        let b = w.app.browser();
        let url = start(&w, &b, "alice-sub").await;
        let callback = through_provider(&w, &url).await;
        let r = b.get(&format!("{callback}&state=again")).await;
        refused(&w, &b, r, StatusCode::BAD_REQUEST, "sso_callback_invalid").await;
        let r = b
            .get(&format!("/sso/callback?state={}&code=x", "s".repeat(5000)))
            .await;
        refused(&w, &b, r, StatusCode::BAD_REQUEST, "sso_callback_invalid").await;
        let r = b.get("/sso/callback").await;
        refused(&w, &b, r, StatusCode::BAD_REQUEST, "sso_state_invalid").await;
        // Nothing was created by any of it, and the real callback still works.
        assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 0);
        assert_eq!(b.get(&callback).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 1);
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_18_same_email_other_issuer_is_not_linked,
    |backend| async move {
        let w = world(backend).await;
        let b = w.app.browser();
        assert_eq!(
            sso_login(&w, &b, "alice-sub").await.status(),
            StatusCode::SEE_OTHER
        );
        let first_issuer = w.idp.issuer.clone();
        // The tenant switches to another provider (another issuer) that asserts the same,
        // verified email for another subject.
        let World {
            app,
            owner,
            idp,
            tenant,
        } = w;
        drop(idp);
        let other = OidcProvider::start(
            &app.url("/sso/callback"),
            &[OidcUser::verified(
                "someone-else",
                "alice@acme.test",
                "Not Alice",
            )],
        )
        .await;
        let w = World {
            app,
            owner,
            idp: other,
            tenant,
        };
        configure(&w, true, "contributor", false).await;
        let b = w.app.browser();
        let r = sso_login(&w, &b, "someone-else").await;
        // Not signed in, not linked: the account's owner would have to confirm.
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/sso/link");
        assert!(b.cookie(SESSION).is_none());
        assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
        assert_eq!(links(&w.app, &first_issuer).await, 1);
        assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 1);
        // Alice (no password: created by SSO) cannot be confirmed by anyone.
        let r = b
            .post_form("/sso/link", &[("password", "guess guess guess")])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(b.cookie(SESSION).is_none());
        assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
        w.app.shutdown().await;
    }
);

both_backends!(
    sso_existing_account_is_linked_only_after_its_password_confirms,
    |backend| async move {
        let w = world(backend).await;
        add_member(&w.app).await;
        let b = w.app.browser();
        let r = sso_login(&w, &b, "mia-sub").await;
        assert_eq!(location(&r), "/sso/link");
        let page = body_of(b.get("/sso/link").await).await;
        assert!(
            page.contains(MEMBER_EMAIL) && page.contains("Acme Login"),
            "{page}"
        );
        // Another browser has no offer.
        assert_eq!(
            w.app.browser().get("/sso/link").await.status(),
            StatusCode::BAD_REQUEST
        );
        // A wrong password links nothing.
        let r = b
            .post_form("/sso/link", &[("password", "not her password at all")])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
        assert_eq!(audit_count(&w.app, "auth.sso_link", "failure").await, 1);
        // The right one links and signs in (after the account's failure delay, SEC-06).
        let r = b
            .post_form("/sso/link", &[("password", MEMBER_PASSWORD)])
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(links(&w.app, &w.idp.issuer).await, 0);
        w.app.clock.advance(Duration::seconds(5));
        let r = b
            .post_form("/sso/link", &[("password", MEMBER_PASSWORD)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(b.cookie(SESSION).is_some());
        assert_eq!(links(&w.app, &w.idp.issuer).await, 1);
        assert_eq!(audit_count(&w.app, "auth.sso_link", "success").await, 1);
        // The offer works once.
        let again = b
            .post_form("/sso/link", &[("password", MEMBER_PASSWORD)])
            .await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        // From now on the provider signs Mia in directly.
        let b2 = w.app.browser();
        let r = sso_login(&w, &b2, "mia-sub").await;
        assert_eq!(location(&r), "/");
        let me: serde_json::Value = b2.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(me["email"], MEMBER_EMAIL);
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_19_enforced_sso_refuses_password_login_with_403_sso_required,
    |backend| async move {
        let w = world(backend).await;
        add_member(&w.app).await;
        // Before enforcement the member signs in with a password.
        let b = w.app.browser();
        assert_eq!(
            crate::identity::login(&b, MEMBER_EMAIL, MEMBER_PASSWORD)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        configure(&w, true, "contributor", true).await;
        // Turning enforcement on ended the session the password began; the owner's stays.
        assert_eq!(
            b.get_json("/api/v1/account").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            w.owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        // A correct password: 403 sso_required, as a page with the button, and as JSON.
        let b = w.app.browser();
        let r = crate::identity::login(&b, MEMBER_EMAIL, MEMBER_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(b.cookie(SESSION).is_none());
        let page = body_of(r).await;
        assert!(page.contains("Sign in with Acme Login"), "{page}");
        let (status, v) =
            crate::identity::password_step(&w.app, &b, MEMBER_EMAIL, MEMBER_PASSWORD).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(v["error"], "sso_required", "{v}");
        let r = b
            .send(
                w.app
                    .client
                    .post(w.app.url("/api/v1/login"))
                    .header("origin", &w.app.base)
                    .form(&[
                        ("email", MEMBER_EMAIL),
                        ("password", MEMBER_PASSWORD),
                        ("csrf_token", &b.csrf()),
                    ]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "sso_required");
        assert!(b.cookie(SESSION).is_none());
        // A wrong password learns nothing: the usual 401.
        let (status, v) =
            crate::identity::password_step(&w.app, &b, MEMBER_EMAIL, "wrong wrong wrong wrong")
                .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"], "invalid_credentials");
        assert!(audit_count(&w.app, "auth.login", "denied").await >= 3);
        // SSO works, and counts as the second factor under enforcement.
        let b = w.app.browser();
        let r = sso_login(&w, &b, "alice-sub").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            rows::<bool>(
                &w.app,
                "SELECT s.second_factor FROM session s JOIN app_user u ON u.id = s.user_id WHERE u.email = $1",
                &["alice@acme.test"],
            )
            .await,
            vec![true]
        );
        // Break-glass: the owner (second factor) still signs in with password and code, audited.
        let o = w.app.browser();
        let r = login_2fa(&w.app, &o, OWNER_EMAIL, OWNER_PASSWORD, &w.owner.app).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(o.cookie(SESSION).is_some());
        assert_eq!(
            audit_count(&w.app, "auth.sso_break_glass", "success").await,
            1
        );
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_19_enforced_sso_sends_no_reset_mail,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend)
            .wall_clock()
            .mail_to(&sink)
            .start()
            .await;
        let w = world_with(app).await;
        add_member(&w.app).await;
        sink.forget(1).await; // the owner's "authenticator added" notice
        let guest = w.app.browser();
        // Before enforcement a reset mail goes out (the sink works).
        assert_eq!(
            guest
                .post_form("/forgot", &[("email", MEMBER_EMAIL)])
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        let got = sink.wait_for(1).await;
        assert_eq!(got.len(), 1);
        assert!(got[0].subject.contains("Reset"));
        let reset_link = got[0].link_path("/reset/").unwrap();
        sink.forget(1).await;
        configure(&w, true, "contributor", true).await;
        // Enforced: the same answer as for an unknown address, and no mail.
        let known = guest.post_form("/forgot", &[("email", MEMBER_EMAIL)]).await;
        let unknown = guest
            .post_form("/forgot", &[("email", "nobody@example.org")])
            .await;
        assert_eq!(known.status(), unknown.status());
        assert_eq!(body_of(known).await, body_of(unknown).await);
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        assert!(sink.messages().is_empty(), "{:?}", sink.messages());
        assert!(audit_count(&w.app, "auth.reset_request", "denied").await >= 1);
        // A link mailed before enforcement no longer sets a password.
        let reset = reset_link
            .split_once("/reset/")
            .map(|(_, t)| format!("/reset/{t}"))
            .unwrap();
        let r = guest
            .post_form(&reset, &[("password", "a brand new long passphrase")])
            .await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let (status, v) =
            crate::identity::password_step(&w.app, &guest, MEMBER_EMAIL, MEMBER_PASSWORD).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "the old password is unchanged: {v}"
        );
        w.app.shutdown().await;
    }
);

both_backends!(
    sso_settings_need_step_up_and_an_admin,
    |backend| async move {
        let w = world(backend).await;
        add_member(&w.app).await;
        let m = w.app.browser();
        assert_eq!(
            crate::identity::login(&m, MEMBER_EMAIL, MEMBER_PASSWORD)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        // Members neither see nor change the settings.
        assert_eq!(
            m.get_json("/api/v1/tenant/sso").await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(m.get("/tenant/sso").await.status(), StatusCode::FORBIDDEN);
        let r = m
            .api(
                Method::PUT,
                "/api/v1/tenant/sso",
                Some(settings(&w.idp, true, "admin", false)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The owner, 11 minutes after the last proof: 401 reauth_required, nothing changes.
        w.app.clock.advance(Duration::minutes(11));
        let r = w
            .owner
            .api(
                Method::PUT,
                "/api/v1/tenant/sso",
                Some(settings(&w.idp, false, "admin", false)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "reauth_required");
        let v: serde_json::Value = w
            .owner
            .get_json("/api/v1/tenant/sso")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["jit"], true);
        // A browser form gets the inline step-up page, which never echoes the secret.
        let r = w
            .owner
            .post_form(
                "/tenant/sso",
                &[
                    ("display_name", "Acme Login"),
                    ("issuer", &w.idp.issuer),
                    ("client_id", &w.idp.client_id),
                    ("client_secret", "typed-secret-never-echoed"),
                    ("allowed_domains", "acme.test"),
                    ("jit_role", "contributor"),
                ],
            )
            .await;
        let page = body_of(r).await;
        assert!(page.contains("Confirm it is you"), "{page}");
        assert!(!page.contains("typed-secret-never-echoed"));
        // After a proof: 200, audited.
        reauth(&w).await;
        let r = w
            .owner
            .api(
                Method::PUT,
                "/api/v1/tenant/sso",
                Some(settings(&w.idp, false, "admin", false)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = w
            .owner
            .get_json("/api/v1/tenant/sso")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["jit"], false);
        assert_eq!(v["jit_role"], "admin");
        assert_eq!(audit_count(&w.app, "tenant.sso_config", "success").await, 2);
        // Bad input: a clear field error, nothing changed.
        for (field, value, code) in [
            (
                "issuer",
                serde_json::json!("http://idp.example.com"),
                "invalid_issuer",
            ),
            ("jit_role", serde_json::json!("owner"), "invalid_role"),
            (
                "allowed_domains",
                serde_json::json!(["not a domain"]),
                "invalid_domains",
            ),
            (
                "issuer",
                serde_json::json!("https://127.0.0.1:1"),
                "issuer_discovery_failed",
            ),
        ] {
            let mut body = settings(&w.idp, true, "contributor", false);
            body[field] = value;
            let r = w
                .owner
                .api(Method::PUT, "/api/v1/tenant/sso", Some(body))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"], code, "{v}");
            assert_eq!(v["field"], field);
        }
        assert_eq!(audit_count(&w.app, "tenant.sso_config", "success").await, 2);
        // Enforcing needs a way back in for the one who enforces: an admin who never signed in
        // through the provider is refused.
        w.app.clock.set(SystemClock.now());
        w.app
            .state()
            .identity
            .create_member(
                "Northwind Trading",
                "ada.admin@example.org",
                "Ada Admin",
                Role::Admin,
                Zeroizing::new("amber lantern quiet river".to_owned()),
                Actor::Operator,
            )
            .await
            .unwrap();
        let ada = w.app.browser();
        assert_eq!(
            crate::identity::login(&ada, "ada.admin@example.org", "amber lantern quiet river")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let r = ada
            .api(
                Method::PUT,
                "/api/v1/tenant/sso",
                Some(settings(&w.idp, true, "contributor", true)),
            )
            .await;
        // Admins must enrol a second factor first (SEC-12); with one, enforcing is refused.
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        crate::identity::enrol_totp(&w.app, &ada).await;
        let r = ada
            .api(
                Method::PUT,
                "/api/v1/tenant/sso",
                Some(settings(&w.idp, true, "contributor", true)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "enforce_would_lock_out");
        w.app.shutdown().await;
    }
);

both_backends!(
    sso_client_secret_is_write_only_and_never_logged,
    |backend| async move {
        let logs = attest_test_support::logs::capture();
        const CANARY: &str = "Canary-SSO-5ec7e7-never-shown";
        let app = TestApp::builder(backend).wall_clock().start().await;
        let owner = bootstrap(&app).await;
        let idp = OidcProvider::start_with(
            &app.url("/sso/callback"),
            "attest-canary",
            CANARY,
            &users(),
            0,
        )
        .await;
        let mut w = World {
            app,
            owner,
            idp,
            tenant: String::new(),
        };
        let v = configure(&w, true, "contributor", false).await;
        w.tenant = v["sign_in_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("/sso/")
            .to_owned();
        assert!(!v.to_string().contains(CANARY));
        assert_eq!(v["client_secret_set"], true);
        // Never shown back: JSON, the settings page.
        let got = body_of(w.owner.get_json("/api/v1/tenant/sso").await).await;
        assert!(
            !got.contains(CANARY) && got.contains("client_secret_set"),
            "{got}"
        );
        let page = body_of(w.owner.get("/tenant/sso").await).await;
        assert!(page.contains("A secret is stored") && !page.contains(CANARY));
        // Saving without a secret keeps the stored one; the sign-in still authenticates to
        // the provider with it (the provider checks it).
        let mut keep = settings(&w.idp, true, "contributor", false);
        keep["client_secret"] = serde_json::json!("");
        put_settings(&w, keep).await;
        let b = w.app.browser();
        assert_eq!(
            sso_login(&w, &b, "alice-sub").await.status(),
            StatusCode::SEE_OTHER
        );
        // Sealed at rest, absent from the audit trail.
        let stored = rows::<Vec<u8>>(&w.app, "SELECT client_secret FROM sso_provider", &[]).await;
        assert_eq!(stored.len(), 1);
        assert!(
            !stored[0]
                .windows(CANARY.len())
                .any(|win| win == CANARY.as_bytes())
        );
        let details = rows::<String>(&w.app, "SELECT details FROM audit_event", &[]).await;
        assert!(details.iter().all(|d| !d.contains(CANARY)));
        assert!(details.iter().any(|d| d.contains("client_secret_changed")));
        // A refused sign-in logs its details (here the foreign audience) but no secret.
        let _ = token_refused(
            &w,
            "wrong_audience",
            "sso_token_wrong_audience",
            "bob-sub",
            "bob@acme.test",
        )
        .await;
        let logged = logs.text();
        assert!(
            logged.contains("single sign-on refused"),
            "nothing captured"
        );
        assert!(
            logged.contains("someone-else"),
            "the log names the audience"
        );
        assert!(
            !logged.contains(CANARY),
            "the client secret reached the log"
        );
        w.app.shutdown().await;
    }
);

both_backends!(
    sso_just_in_time_membership_and_allowed_domains,
    |backend| async move {
        let w = world(backend).await;
        // JIT on: a verified address outside the allowed domains, or an unverified one, is refused.
        for (hint, email) in [
            ("eve-sub", "eve@elsewhere.test"),
            ("una-sub", "una@acme.test"),
        ] {
            let b = w.app.browser();
            let r = sso_login(&w, &b, hint).await;
            refused(&w, &b, r, StatusCode::FORBIDDEN, "sso_email_not_allowed").await;
            assert_eq!(users_with_email(&w.app, email).await, 0);
        }
        // JIT off: no account, no access; a clear page, nothing created.
        configure(&w, false, "contributor", false).await;
        let b = w.app.browser();
        let r = sso_login(&w, &b, "alice-sub").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = body_of(r).await;
        assert!(page.contains("has not given you access"), "{page}");
        assert!(b.cookie(SESSION).is_none());
        assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 0);
        assert!(audit_count(&w.app, "auth.sso_login", "denied").await >= 3);
        // JIT on with the admin role: Bob becomes an admin, who must enrol a second factor
        // (SEC-12) because the tenant does not enforce SSO.
        configure(&w, true, "admin", false).await;
        let b = w.app.browser();
        assert_eq!(
            sso_login(&w, &b, "bob-sub").await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(
        rows::<String>(
            &w.app,
            "SELECT m.role FROM membership m JOIN app_user u ON u.id = m.user_id WHERE u.email = $1",
            &["bob@acme.test"],
        )
        .await,
        vec!["admin".to_owned()]
    );
        let r = b.get_json("/api/v1/account").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "mfa_enrollment_required");
        w.app.shutdown().await;
    }
);

/// A passwordless passkey sign-in from a fresh browser: status and JSON body.
async fn passkey_sign_in(
    app: &TestApp,
    device: &mut SoftPasskey,
) -> (StatusCode, serde_json::Value) {
    use crate::passkeys::{public_post, visitor};
    let b = visitor(app).await;
    let r = public_post(app, &b, "/api/v1/login/passkey/begin", &[]).await;
    let v: serde_json::Value = r.json().await.unwrap();
    let credential = device.authenticate(&v["options"]).unwrap().to_string();
    let r = public_post(
        app,
        &b,
        "/api/v1/login/passkey",
        &[
            ("ceremony", v["ceremony"].as_str().unwrap()),
            ("credential", &credential),
        ],
    )
    .await;
    (r.status(), r.json().await.unwrap_or_default())
}

both_backends!(
    sec_19_enforced_sso_also_refuses_passwordless_passkey_sign_in,
    |backend| async move {
        let w = world(backend).await;
        add_member(&w.app).await;
        // The member adds a passkey while passwords still work.
        let b = w.app.browser();
        assert_eq!(
            crate::identity::login(&b, MEMBER_EMAIL, MEMBER_PASSWORD)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let mut member_key = SoftPasskey::new(&w.app.base);
        crate::passkeys::add_passkey(&b, &mut member_key, "Laptop").await;
        let mut owner_key = SoftPasskey::new(&w.app.base);
        reauth(&w).await;
        crate::passkeys::add_passkey(&w.owner, &mut owner_key, "Owner key").await;
        assert_eq!(
            passkey_sign_in(&w.app, &mut member_key).await.0,
            StatusCode::OK
        );
        configure(&w, true, "contributor", true).await;
        // Under enforcement the organisation's provider decides who gets in: a passkey
        // sign-in is refused like a password one, with no session.
        let (status, v) = passkey_sign_in(&w.app, &mut member_key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(v["error"], "sso_required", "{v}");
        // The owner keeps the break-glass way in (a passkey is a second factor).
        let (status, v) = passkey_sign_in(&w.app, &mut owner_key).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "signed_in");
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_49_sso_discovery_goes_only_to_public_addresses,
    |backend| async move {
        let w = world(backend).await;
        reauth(&w).await;
        for issuer in [
            "http://169.254.169.254/",
            "https://169.254.169.254/latest",
            "https://10.1.2.3/realms/acme",
            "https://[fd00::1]/",
        ] {
            let mut body = settings(&w.idp, true, "contributor", false);
            body["issuer"] = serde_json::json!(issuer);
            let r = w
                .owner
                .api(Method::PUT, "/api/v1/tenant/sso", Some(body))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{issuer}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"], "invalid_issuer", "{issuer}: {v}");
        }
        // The provider configured before is untouched.
        let r = w.owner.get_json("/api/v1/tenant/sso").await;
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            v["issuer"].as_str(),
            Some(w.idp.issuer.trim_end_matches('/')),
            "{v}"
        );
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_19_an_invitation_into_an_enforcing_tenant_is_accepted_through_the_provider,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend)
            .wall_clock()
            .mail_to(&sink)
            .start()
            .await;
        let w = world_with(app).await;
        sink.forget(1).await; // the owner's "authenticator added" notice
        // No just-in-time membership: only invited people get in.
        configure(&w, false, "contributor", true).await;
        let r = w
            .owner
            .post_form(
                "/members/invite",
                &[("email", "bob@acme.test"), ("role", "admin")],
            )
            .await;
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{}",
            r.status()
        );
        let mail = sink.wait_for(1).await.remove(0);
        let link = mail.link_path("/invitations/").expect("an invitation link");
        // The invitation page offers the provider, not a password form.
        let b = w.app.browser();
        let r = b.get(&link).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = body_of(r).await;
        assert!(page.contains("Sign in with Acme Login"), "{page}");
        assert!(!page.contains("type=\"password\""), "{page}");
        // A password is never set to join: 403 sso_required, no account, link still live.
        let r = b
            .post_form(
                &link,
                &[
                    ("name", "Bob"),
                    ("password", "a long enough passphrase here"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(users_with_email(&w.app, "bob@acme.test").await, 0);
        assert!(b.cookie(SESSION).is_none());
        // Someone the provider knows but nobody invited stays out (no JIT).
        let e = w.app.browser();
        let r = sso_login(&w, &e, "alice-sub").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(users_with_email(&w.app, "alice@acme.test").await, 0);
        // Signing in through the provider accepts the invitation, with its role.
        let r = sso_login(&w, &b, "bob-sub").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body_of(r).await);
        assert!(b.cookie(SESSION).is_some());
        assert_eq!(
            rows::<String>(
                &w.app,
                "SELECT m.role FROM membership m JOIN app_user u ON u.id = m.user_id WHERE u.email = $1",
                &["bob@acme.test"],
            )
            .await,
            vec!["admin".to_owned()]
        );
        // The invitation is used up.
        assert_eq!(w.app.browser().get(&link).await.status(), StatusCode::GONE);
        w.app.shutdown().await;
    }
);

both_backends!(
    sec_29_an_account_made_by_sso_steps_up_by_signing_in_through_the_provider,
    |backend| async move {
        let w = world(backend).await;
        // Alice joins just in time: she has no password and no second factor in Attest.
        let b = w.app.browser();
        assert_eq!(
            sso_login(&w, &b, "alice-sub").await.status(),
            StatusCode::SEE_OTHER
        );
        w.app.clock.advance(Duration::minutes(11));
        let r = b
            .api(Method::POST, "/api/v1/account/passkeys/begin", None)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // The step-up page does not ask for a password she does not have: it sends her
        // through the provider again.
        let page = body_of(b.get("/reauth?next=/account/security").await).await;
        assert!(page.contains("Sign in with Acme Login"), "{page}");
        assert!(!page.contains("type=\"password\""), "{page}");
        assert_eq!(
            sso_login(&w, &b, "alice-sub").await.status(),
            StatusCode::SEE_OTHER
        );
        let r = b
            .api(Method::POST, "/api/v1/account/passkeys/begin", None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        w.app.shutdown().await;
    }
);

both_backends!(
    an_sso_sign_in_that_needs_the_attest_code_lands_in_the_providers_tenant,
    |backend| async move {
        let w = world(backend).await;
        add_member(&w.app).await;
        // Mia is also a member of a tenant that sorts first, so it is her default one.
        let identity = &w.app.state().identity;
        identity
            .create_tenant("Aardvark Ltd", Actor::Operator)
            .await
            .unwrap();
        identity
            .create_member(
                "Aardvark Ltd",
                MEMBER_EMAIL,
                "Mia Member",
                Role::Contributor,
                Zeroizing::new(MEMBER_PASSWORD.to_owned()),
                Actor::Operator,
            )
            .await
            .unwrap();
        let b = w.app.browser();
        let r = crate::identity::login(&b, MEMBER_EMAIL, MEMBER_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (authenticator, _) = crate::identity::enrol_totp(&w.app, &b).await;
        // She links her provider identity once (password and code) …
        let r = sso_login(&w, &b, "mia-sub").await;
        assert_eq!(location(&r), "/sso/link");
        let code = crate::identity::fresh_code(&w.app, &authenticator);
        let r = b
            .post_form(
                "/sso/link",
                &[("password", MEMBER_PASSWORD), ("code", code.as_str())],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body_of(r).await);
        // … and from then on the provider signs her in; Attest still asks for its code
        // (the tenant does not enforce SSO), and she lands in the provider's tenant.
        let c = w.app.browser();
        let r = sso_login(&w, &c, "mia-sub").await;
        assert!(
            location(&r).starts_with("/login/second-factor"),
            "{}",
            location(&r)
        );
        let code = crate::identity::fresh_code(&w.app, &authenticator);
        let r = c
            .post_form(
                "/login/second-factor",
                &[("method", "totp"), ("code", code.as_str()), ("next", "/")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let me: serde_json::Value = c.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(me["tenant"], "Northwind Trading", "{me}");
        // A password sign-in still starts in her default tenant.
        let d = w.app.browser();
        crate::identity::login(&d, MEMBER_EMAIL, MEMBER_PASSWORD).await;
        let code = crate::identity::fresh_code(&w.app, &authenticator);
        d.post_form(
            "/login/second-factor",
            &[("method", "totp"), ("code", code.as_str()), ("next", "/")],
        )
        .await;
        let me: serde_json::Value = d.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(me["tenant"], "Aardvark Ltd", "{me}");
        w.app.shutdown().await;
    }
);

both_backends!(
    sso_client_secret_can_come_from_an_operator_secret_file,
    |backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let app = TestApp::builder(backend)
            .env(
                "ATTEST_SSO__CLIENT_SECRET_DIR",
                dir.path().to_str().unwrap(),
            )
            .wall_clock()
            .start()
            .await;
        let w = world_with(app).await;
        // A wrong secret typed on the page: the provider refuses the code exchange.
        let mut body = settings(&w.idp, true, "contributor", false);
        body["client_secret"] = serde_json::json!("not the secret the provider issued");
        let v = put_settings(&w, body).await;
        assert_eq!(v["client_secret_from_operator"], false, "{v}");
        let b = w.app.browser();
        let r = sso_login(&w, &b, "alice-sub").await;
        assert_ne!(r.status(), StatusCode::SEE_OTHER);
        assert!(b.cookie(SESSION).is_none());
        // The operator's file for this tenant wins, and is read at each use (rotation
        // needs no restart).
        std::fs::write(
            dir.path().join(&w.tenant),
            format!("{}\n", w.idp.client_secret),
        )
        .unwrap();
        let b = w.app.browser();
        let r = sso_login(&w, &b, "alice-sub").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body_of(r).await);
        let v: serde_json::Value = w
            .owner
            .get_json("/api/v1/tenant/sso")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["client_secret_from_operator"], true, "{v}");
        // The secret never shows in the answer.
        assert!(!v.to_string().contains(&w.idp.client_secret));
        w.app.shutdown().await;
    }
);
