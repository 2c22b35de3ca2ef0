//! Identity, black-box over TLS on both databases: bootstrap, sign-in, throttling, sessions,
//! CSRF, sign-out, password change (issue 3).

use attest_test_support::{Authenticator, Browser, TestApp, both_backends};
use attest_types::Clock as _;
use reqwest::{Method, StatusCode};
use time::Duration;

pub const OWNER_EMAIL: &str = "olivia.owner@example.org";
pub const OWNER_PASSWORD: &str = "violet kettle ramp orbit";

/// The first owner: a signed-in browser with an authenticator app set up (owners always
/// need a second factor, SEC-12) and the recovery codes it came with.
#[derive(Debug, Clone)]
pub struct Owner {
    pub browser: Browser,
    pub app: Authenticator,
    pub recovery_codes: Vec<String>,
}

impl std::ops::Deref for Owner {
    type Target = Browser;
    fn deref(&self) -> &Browser {
        &self.browser
    }
}

/// Completes the bootstrap form, enrols an authenticator app, and returns the owner.
pub async fn bootstrap(app: &TestApp) -> Owner {
    let b = bootstrap_without_factor(app).await;
    let (authenticator, recovery_codes) = enrol_totp(app, &b).await;
    Owner {
        browser: b,
        app: authenticator,
        recovery_codes,
    }
}

/// Completes the bootstrap form: the owner is signed in but must enrol a second factor.
pub async fn bootstrap_without_factor(app: &TestApp) -> Browser {
    let path = app
        .bootstrap_path()
        .expect("a fresh installation prints a bootstrap link");
    let b = app.browser();
    assert_eq!(b.get(&path).await.status(), StatusCode::OK);
    let r = b
        .post_form(
            &path,
            &[
                ("tenant", "Northwind Trading"),
                ("name", "Olivia Owner"),
                ("email", OWNER_EMAIL),
                ("password", OWNER_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert!(b.cookie("__Host-attest-session").is_some());
    b
}

pub async fn login(b: &Browser, email: &str, password: &str) -> reqwest::Response {
    b.post_form("/login", &[("email", email), ("password", password)])
        .await
}

/// Enrols an authenticator app for a signed-in browser (with a recent proof): returns it and
/// the recovery codes shown once.
pub async fn enrol_totp(app: &TestApp, b: &Browser) -> (Authenticator, Vec<String>) {
    let r = b.api(Method::POST, "/api/v1/account/mfa/totp", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    let authenticator = Authenticator::new(v["secret"].as_str().unwrap());
    let code = authenticator.code_at(app.clock.now());
    let r = b
        .api(
            Method::POST,
            "/api/v1/account/mfa/totp/confirm",
            Some(serde_json::json!({ "code": code })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    let codes = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (authenticator, codes)
}

/// A code of the next step (so it was never used), moving the clock there.
pub fn fresh_code(app: &TestApp, authenticator: &Authenticator) -> String {
    app.clock.advance(Duration::seconds(30));
    authenticator.code_at(app.clock.now())
}

/// Signs in with password and, when asked, the authenticator's code: the final response.
pub async fn login_2fa(
    app: &TestApp,
    b: &Browser,
    email: &str,
    password: &str,
    authenticator: &Authenticator,
) -> reqwest::Response {
    let r = login(b, email, password).await;
    let to = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !to.starts_with("/login/second-factor") {
        return r;
    }
    let code = fresh_code(app, authenticator);
    b.post_form(
        "/login/second-factor",
        &[("method", "totp"), ("code", &code), ("next", "/")],
    )
    .await
}

async fn me(b: &Browser) -> reqwest::Response {
    b.get_json("/api/v1/account").await
}

/// The password step as a script does it (JSON interface, the browser's cookie jar): status
/// and body.
pub async fn password_step(
    app: &TestApp,
    b: &Browser,
    email: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let r = b
        .send(
            app.client
                .post(app.url("/login"))
                .header("origin", &app.base)
                .header("accept", "application/json")
                .form(&[
                    ("email", email),
                    ("password", password),
                    ("csrf_token", &b.csrf()),
                ]),
        )
        .await;
    (r.status(), r.json().await.unwrap())
}

/// A sign-in through the JSON interface: status and body without the correlation id.
async fn json_login(app: &TestApp, email: &str, password: &str) -> (StatusCode, serde_json::Value) {
    let (status, mut v) = password_step(app, &app.browser(), email, password).await;
    v["id"] = serde_json::Value::Null; // the correlation id differs per request
    (status, v)
}

async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.unwrap();
    v["error"].as_str().unwrap_or_default().to_owned()
}

both_backends!(
    sec_11_no_default_accounts_and_a_one_time_bootstrap_link,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let guest = app.browser();
        for (email, password) in [
            ("admin", "admin"),
            ("admin@localhost", "admin"),
            ("root", "root"),
        ] {
            assert_eq!(
                login(&guest, email, password).await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let path = app.bootstrap_path().unwrap();
        let owner = bootstrap(&app).await;
        let who: serde_json::Value = me(&owner).await.json().await.unwrap();
        assert_eq!(who["email"], OWNER_EMAIL);
        assert_eq!(who["role"], "owner");
        assert_eq!(who["tenant"], "Northwind Trading");
        // The link is used up: neither the page nor the form work again.
        let again = app.browser();
        assert_eq!(again.get(&path).await.status(), StatusCode::UNAUTHORIZED);
        let r = again
            .post_form(
                &path,
                &[
                    ("tenant", "Evil"),
                    ("name", "Mallory"),
                    ("email", "m@evil.example"),
                    ("password", "another strong passphrase"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.get("/bootstrap/not-a-real-token").await.status(),
            StatusCode::UNAUTHORIZED
        );
        // The token was stored hashed and its use audited.
        let events = attest_db::audit::recent(&app.state().db, uuid::Uuid::nil(), 100)
            .await
            .unwrap();
        assert!(events.iter().any(|e| e.action == "bootstrap.issue"));
        app.shutdown().await;
    }
);

both_backends!(
    sec_03_04_password_rules_at_bootstrap,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let path = app.bootstrap_path().unwrap();
        let b = app.browser();
        for (password, code) in [
            ("short pass!", "too_short"),
            ("Password123456", "breached"),
            ("olivia.owner rules the world", "contains_context"),
            ("northwind trading forever", "contains_context"),
        ] {
            let r = b
                .send(
                    app.client
                        .post(app.url(&path))
                        .header("origin", &app.base)
                        .header("accept", "application/json")
                        .form(&[
                            ("tenant", "Northwind Trading"),
                            ("name", "Olivia Owner"),
                            ("email", OWNER_EMAIL),
                            ("password", password),
                            ("csrf_token", &b.csrf()),
                        ]),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["error"], code, "{password}");
            assert!(!v["message"].as_str().unwrap_or_default().is_empty());
        }
        // The link survived the refusals; a 100-character password with spaces and emoji works.
        let long = "🔐 tea kettles sing at dawn while marmots audit the ledger ✓ nobody guesses this one 🦫 ok done!";
        assert!(long.chars().count() >= 90 && long.chars().count() <= 128);
        let r = b
            .post_form(
                &path,
                &[
                    ("tenant", "Northwind Trading"),
                    ("name", "Olivia Owner"),
                    ("email", OWNER_EMAIL),
                    ("password", long),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // No truncation: the same password minus its last character does not sign in.
        let other = app.browser();
        let prefix: String = long.chars().take(long.chars().count() - 1).collect();
        assert_eq!(
            login(&other, OWNER_EMAIL, &prefix).await.status(),
            StatusCode::UNAUTHORIZED
        );
        app.clock.advance(Duration::seconds(2)); // past the throttle's one-second delay
        assert_eq!(
            login(&other, OWNER_EMAIL, long).await.status(),
            StatusCode::SEE_OTHER
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_01_passwords_are_argon2id_with_distinct_salts,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let _owner = bootstrap(&app).await;
        let data = app.data_dir.path().to_str().unwrap().to_owned();
        let out = std::process::Command::new(crate::attest_bin())
            .args([
                "--data-dir",
                &data,
                "admin",
                "create-user",
                "--tenant",
                "Northwind Trading",
                "--email",
                "second@example.org",
                "--role",
                "contributor",
                "--password-stdin",
            ])
            .env("ATTEST_DATABASE__URL", &app.db.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{OWNER_PASSWORD}\n").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        let text = attest_test_support::binary::text(&out);
        assert!(out.status.success(), "{text}");
        assert!(!text.contains(OWNER_PASSWORD), "nothing secret is printed");
        let a = attest_db::identity::user_by_email(&app.state().db, OWNER_EMAIL)
            .await
            .unwrap()
            .unwrap();
        let b = attest_db::identity::user_by_email(&app.state().db, "second@example.org")
            .await
            .unwrap()
            .unwrap();
        let (ha, hb) = (a.password_hash.unwrap(), b.password_hash.unwrap());
        assert_ne!(ha, hb, "same password, different salt, different hash");
        for h in [&ha, &hb] {
            assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        }
        // The new member can sign in.
        assert_eq!(
            login(&app.browser(), "second@example.org", OWNER_PASSWORD)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        app.shutdown().await;
    }
);

both_backends!(sec_20_21_22_session_cookie, |backend| async move {
    let app = TestApp::start(backend).await;
    let owner = bootstrap(&app).await;
    // A cookie planted before sign-in is replaced and never becomes a session.
    let b = app.browser();
    let planted = "A".repeat(43);
    b.set_cookie("__Host-attest-session", Some(&planted));
    let r = login_2fa(&app, &b, OWNER_EMAIL, OWNER_PASSWORD, &owner.app).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("__Host-attest-session="))
        .unwrap();
    for attr in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(
        !session.contains("Domain="),
        "a __Host- cookie has no Domain"
    );
    let token = b.cookie("__Host-attest-session").unwrap();
    assert_ne!(token, planted);
    assert_eq!(me(&b).await.status(), StatusCode::OK);
    let attacker = app.browser();
    attacker.set_cookie("__Host-attest-session", Some(&planted));
    assert_eq!(me(&attacker).await.status(), StatusCode::UNAUTHORIZED);
    // Tokens are 256-bit URL-safe base64, unique across sign-ins.
    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        if i % 25 == 24 {
            app.clock.advance(Duration::minutes(1)); // stay under the per-address limit
        }
        let c = app.browser();
        assert_eq!(
            login_2fa(&app, &c, OWNER_EMAIL, OWNER_PASSWORD, &owner.app)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let t = c.cookie("__Host-attest-session").unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        );
        assert!(seen.insert(t));
    }
    // One character changed → 401.
    let last = app.browser();
    assert_eq!(
        login_2fa(&app, &last, OWNER_EMAIL, OWNER_PASSWORD, &owner.app)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let good = last.cookie("__Host-attest-session").unwrap();
    let mut bad = good.clone().into_bytes();
    bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
    let forged = app.browser();
    forged.set_cookie(
        "__Host-attest-session",
        Some(std::str::from_utf8(&bad).unwrap()),
    );
    assert_eq!(me(&forged).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me(&last).await.status(), StatusCode::OK);
    // Only the hash is stored.
    let hash = attest_domain::authn::sessions::token_hash(&good);
    assert!(
        attest_db::identity::session_by_token_hash(&app.state().db, &hash)
            .await
            .unwrap()
            .is_some()
    );
    app.shutdown().await;
});

both_backends!(sec_23_one_browser_at_a_time, |backend| async move {
    let app = TestApp::start(backend).await;
    let a = bootstrap(&app).await;
    assert_eq!(me(&a).await.status(), StatusCode::OK);
    let b = app.browser();
    assert_eq!(
        login_2fa(&app, &b, OWNER_EMAIL, OWNER_PASSWORD, &a.app)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let r = me(&a).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "session_superseded");
    // A page request from the old browser lands on the sign-in form that says why.
    let page = a.get("/account").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("reason=session_superseded"), "{location}");
    let html = a.get(&location).await.text().await.unwrap();
    assert!(html.contains("signed in on another browser"));
    assert_eq!(me(&b).await.status(), StatusCode::OK);
    app.shutdown().await;
});

both_backends!(sec_24_25_idle_and_absolute_timeouts, |backend| async move {
    let app = TestApp::start(backend).await;
    let b = bootstrap(&app).await;
    app.clock.advance(Duration::minutes(59));
    assert_eq!(me(&b).await.status(), StatusCode::OK);
    app.clock
        .advance(Duration::minutes(60) + Duration::seconds(1));
    let r = me(&b).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "session_expired");

    // Background polling does not keep a session alive.
    let p = app.browser();
    assert_eq!(
        login_2fa(&app, &p, OWNER_EMAIL, OWNER_PASSWORD, &b.app)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let mut last = StatusCode::OK;
    for _ in 0..61 {
        app.clock.advance(Duration::minutes(1));
        last = p
            .send(
                app.client
                    .get(app.url("/api/v1/account"))
                    .header("x-attest-background", "1"),
            )
            .await
            .status();
    }
    assert_eq!(last, StatusCode::UNAUTHORIZED);

    // Activity every 10 minutes keeps it alive until 12 hours, not a second more.
    let c = app.browser();
    assert_eq!(
        login_2fa(&app, &c, OWNER_EMAIL, OWNER_PASSWORD, &b.app)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    for _ in 0..71 {
        app.clock.advance(Duration::minutes(10));
        assert_eq!(me(&c).await.status(), StatusCode::OK);
    }
    app.clock
        .advance(Duration::minutes(9) + Duration::seconds(59));
    assert_eq!(me(&c).await.status(), StatusCode::OK, "11 h 59 min 59 s");
    app.clock.advance(Duration::seconds(2));
    let r = me(&c).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "12 h 0 min 1 s");
    assert_eq!(error_code(r).await, "session_expired");
    app.shutdown().await;
});

both_backends!(
    sec_06_08_throttling_and_no_enumeration,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let _owner = bootstrap(&app).await;
        // Known and unknown addresses get the same status and the same body.
        let known = json_login(&app, OWNER_EMAIL, "wrong password entirely").await;
        let unknown = json_login(&app, "nobody@example.org", "wrong password entirely").await;
        assert_eq!(known, unknown);
        assert_eq!(known.0, StatusCode::UNAUTHORIZED);

        // Fast repeated failures are throttled with Retry-After; the right password while
        // throttled gets the very same answer.
        app.clock.advance(Duration::minutes(1));
        let attacker = app.browser();
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let r = login(&attacker, OWNER_EMAIL, "guess guess guess guess").await;
            statuses.push(r.status());
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(r.headers().get("retry-after").is_some());
            }
        }
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        let right = login(&attacker, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(right.headers().get("retry-after").is_some());
        assert!(attacker.cookie("__Host-attest-session").is_none());
        // Waiting out the delays works, and it is never permanent: after the 24-hour
        // window the account signs in.
        app.clock
            .advance(Duration::hours(24) + Duration::seconds(1));
        assert_eq!(
            login(&attacker, OWNER_EMAIL, OWNER_PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );

        // Per address: more than 30 attempts a minute → 429, whatever the account.
        app.clock.advance(Duration::minutes(1));
        let flood = app.browser();
        let mut limited = false;
        for i in 0..32 {
            let email = format!("user{i}@example.org");
            let r = flood
                .post_form(
                    "/login",
                    &[("email", &email), ("password", "whatever whatever")],
                )
                .await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                limited = true;
                assert!(i >= 30, "limited too early at {i}");
            }
        }
        assert!(limited);
        // Every attempt is audited, never with the password.
        app.state().audit.flush().await;
        let events = attest_db::audit::recent(&app.state().db, uuid::Uuid::nil(), 1000)
            .await
            .unwrap();
        assert!(events.iter().filter(|e| e.action == "auth.login").count() >= 10);
        assert!(
            events
                .iter()
                .any(|e| e.details.contains("\"throttled\":true"))
        );
        assert!(!events.iter().any(|e| e.details.contains("guess guess")));
        app.shutdown().await;
    }
);

both_backends!(
    sec_26_logout_is_a_csrf_protected_post_that_ends_the_session,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let b = bootstrap(&app).await;
        let home = b.get("/").await.text().await.unwrap();
        assert!(
            home.contains("action=\"/logout\""),
            "sign-out is on every page"
        );
        let account = b.get("/account").await.text().await.unwrap();
        assert!(account.contains("action=\"/logout\""));
        let token = b.cookie("__Host-attest-session").unwrap();
        assert_eq!(
            b.get("/logout").await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Without the CSRF token: refused, still signed in.
        let r = b
            .send(
                app.client
                    .post(app.url("/logout"))
                    .header("origin", &app.base),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(me(&b).await.status(), StatusCode::OK);
        let r = b.post_form("/logout", &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(r.headers().get("clear-site-data").is_some());
        assert!(b.cookie("__Host-attest-session").is_none());
        let replay = app.browser();
        replay.set_cookie("__Host-attest-session", Some(&token));
        assert_eq!(me(&replay).await.status(), StatusCode::UNAUTHORIZED);
        app.shutdown().await;
    }
);

both_backends!(
    sec_05_28_password_change_and_session_list,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let b = bootstrap(&app).await;
        let list: serde_json::Value = b
            .get_json("/api/v1/account/sessions")
            .await
            .json()
            .await
            .unwrap();
        let sessions = list["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["current"], true);
        // Wrong current password → 403, nothing changes.
        let r = b.api(Method::POST, "/api/v1/account/password", None).await;
        assert!(r.status().is_client_error());
        let r = b
            .send(
                app.client
                    .post(app.url("/api/v1/account/password"))
                    .header("origin", &app.base)
                    .header("accept", "application/json")
                    .header("x-csrf-token", b.csrf())
                    .form(&[
                        ("current_password", "not my password at all"),
                        ("new_password", "orchid lantern gravel sonnet"),
                    ]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "wrong_password");
        let r = b
            .send(
                app.client
                    .post(app.url("/api/v1/account/password"))
                    .header("origin", &app.base)
                    .header("accept", "application/json")
                    .header("x-csrf-token", b.csrf())
                    .form(&[
                        ("current_password", OWNER_PASSWORD),
                        ("new_password", "orchid lantern gravel sonnet"),
                    ]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            login_2fa(&app, &app.browser(), OWNER_EMAIL, OWNER_PASSWORD, &b.app)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        app.clock.advance(Duration::seconds(2)); // past the throttle's one-second delay
        assert_eq!(
            me(&b).await.status(),
            StatusCode::OK,
            "the session that changed it goes on"
        );
        assert_eq!(
            login_2fa(
                &app,
                &app.browser(),
                OWNER_EMAIL,
                "orchid lantern gravel sonnet",
                &b.app
            )
            .await
            .status(),
            StatusCode::SEE_OTHER
        );
        // That sign-in (another browser) superseded ours; revoking the new one over the API
        // ends it at once.
        assert_eq!(me(&b).await.status(), StatusCode::UNAUTHORIZED);
        let c = app.browser();
        assert_eq!(
            login_2fa(
                &app,
                &c,
                OWNER_EMAIL,
                "orchid lantern gravel sonnet",
                &b.app
            )
            .await
            .status(),
            StatusCode::SEE_OTHER
        );
        let list: serde_json::Value = c
            .get_json("/api/v1/account/sessions")
            .await
            .json()
            .await
            .unwrap();
        let id = list["sessions"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            c.api(
                Method::DELETE,
                &format!("/api/v1/account/sessions/{id}"),
                None
            )
            .await
            .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(me(&c).await.status(), StatusCode::UNAUTHORIZED);
        app.shutdown().await;
    }
);

both_backends!(
    sec_50_csrf_tokens_and_origin_on_every_state_change,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let a = bootstrap(&app).await;
        let change = |b: &Browser, token: Option<String>, origin: Option<&str>| {
            let mut req = app
                .client
                .post(app.url("/api/v1/account/password"))
                .header("accept", "application/json")
                .form(&[
                    ("current_password", OWNER_PASSWORD),
                    ("new_password", "orchid lantern gravel sonnet"),
                ]);
            if let Some(t) = token {
                req = req.header("x-csrf-token", t);
            }
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            let b = b.clone();
            async move { b.send(req).await }
        };
        // No token.
        let r = change(&a, None, Some(&app.base)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "csrf_token");
        // Another session's token (from a second tenant's member).
        let other_token =
            attest_domain::authn::sessions::csrf_for("some-other-session-token-000000000000000000");
        let r = change(&a, Some(other_token), Some(&app.base)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The right token from a foreign origin.
        let r = change(&a, Some(a.csrf()), Some("https://evil.example")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "csrf_origin");
        // No Origin and no Sec-Fetch-Site: refused too.
        let r = change(&a, Some(a.csrf()), None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // Nothing changed: the old password still works.
        assert_eq!(me(&a).await.status(), StatusCode::OK);
        // A form post without the hidden field.
        let r = a
            .send(
                app.client
                    .post(app.url("/account/password"))
                    .header("origin", &app.base)
                    .form(&[("current_password", OWNER_PASSWORD), ("new_password", "x")]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // GET never changes state.
        assert_eq!(
            a.get("/account/password").await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let b2 = app.browser();
        assert_eq!(
            login_2fa(&app, &b2, OWNER_EMAIL, OWNER_PASSWORD, &a.app)
                .await
                .status(),
            StatusCode::SEE_OTHER,
            "the password is unchanged"
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_30_53_54_no_tokens_in_urls_no_store_and_safe_redirects,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let a = bootstrap(&app).await;
        let token = a.cookie("__Host-attest-session").unwrap();
        // A session token in the URL is ignored.
        for q in ["session", "token", "__Host-attest-session"] {
            let r = app
                .client
                .get(app.url(&format!("/api/v1/account?{q}={token}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{q}");
        }
        // No page links carry a token; authenticated responses are not stored.
        for path in ["/", "/account"] {
            let r = a.get(path).await;
            assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
            let html = r.text().await.unwrap();
            assert!(!html.contains(&token), "{path} shows the session token");
            assert!(
                !html.contains("?token=") && !html.contains("session="),
                "{path}"
            );
        }
        // `next` only follows same-origin paths.
        for (next, expected) in [
            ("https://evil.example/", "/"),
            ("//evil.example/x", "/"),
            ("/\\evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("/account?tab=sessions", "/account?tab=sessions"),
        ] {
            let b = app.browser();
            app.clock.advance(Duration::seconds(30));
            let r = b
                .post_form(
                    "/login",
                    &[
                        ("email", OWNER_EMAIL),
                        ("password", OWNER_PASSWORD),
                        ("next", next),
                    ],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
            // The password step carries `next` (re-validated) through the second factor.
            let prompt = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(prompt.starts_with("/login/second-factor?next="), "{prompt}");
            let carried = prompt.split_once("next=").unwrap().1;
            let carried: String = form_urlencoded::parse(format!("n={carried}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            let code = fresh_code(&app, &a.app);
            let r = b
                .post_form(
                    "/login/second-factor",
                    &[("method", "totp"), ("code", &code), ("next", &carried)],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
            assert_eq!(r.headers()["location"], expected, "{next}");
        }
        let page = app
            .browser()
            .get("/login?next=https://evil.example")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("name=\"next\" value=\"/\""));
        app.shutdown().await;
    }
);

both_backends!(
    sec_27_28_removing_disabling_or_revoking_ends_sessions_at_once,
    |backend| async move {
        let sink = attest_test_support::SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await; // "an authenticator app was added"
        // Two members join through invitations.
        for (i, email) in ["ann@example.org", "bob@example.org"].iter().enumerate() {
            let r = owner
                .post_form(
                    "/members/invite",
                    &[("email", email), ("role", "contributor")],
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            let mails = sink.wait_for(i + 1).await;
            let link = mails
                .iter()
                .find(|m| m.to.contains(email))
                .unwrap()
                .link_path("/invitations/")
                .unwrap();
            let b = app.browser();
            let r = b
                .post_form(
                    &link,
                    &[("name", email), ("password", "copper walrus meadow tune")],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
        let ann = app.browser();
        app.clock.advance(Duration::seconds(5));
        assert_eq!(
            login(&ann, "ann@example.org", "copper walrus meadow tune")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let bob = app.browser();
        assert_eq!(
            login(&bob, "bob@example.org", "copper walrus meadow tune")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let id_of = |email: &'static str| {
            let db = app.state().db.clone();
            async move {
                attest_db::identity::user_by_email(&db, email)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
        };
        let (ann_id, bob_id) = (
            id_of("ann@example.org").await,
            id_of("bob@example.org").await,
        );
        let owner_id = id_of(OWNER_EMAIL).await;
        // A member cannot manage others; the last owner cannot be demoted.
        let r = ann
            .post_form(&format!("/members/{bob_id}/sessions/end"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(me(&bob).await.status(), StatusCode::OK);
        let r = owner
            .post_form(
                &format!("/members/{owner_id}/role"),
                &[("role", "contributor")],
            )
            .await;
        assert!(
            r.status() == StatusCode::CONFLICT || r.status() == StatusCode::FORBIDDEN,
            "{}",
            r.status()
        );
        // The owner ends Ann's sessions: her next request is refused.
        let r = owner
            .post_form(&format!("/members/{ann_id}/sessions/end"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(me(&ann).await.status(), StatusCode::UNAUTHORIZED);
        // Removing Bob's membership signs him out at once.
        assert_eq!(
            owner
                .get(&format!("/members/{bob_id}/remove"))
                .await
                .status(),
            StatusCode::OK
        );
        let r = owner
            .post_form(&format!("/members/{bob_id}/remove"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(me(&bob).await.status(), StatusCode::UNAUTHORIZED);
        // Disabling a user (operator CLI) ends their session and refuses sign-in.
        app.clock.advance(Duration::seconds(5));
        assert_eq!(
            login(&ann, "ann@example.org", "copper walrus meadow tune")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let data = app.data_dir.path().to_str().unwrap().to_owned();
        let out = attest_test_support::binary::run(
            &crate::attest_bin(),
            &[
                "--data-dir",
                &data,
                "admin",
                "disable-user",
                "ann@example.org",
            ],
            &[("ATTEST_DATABASE__URL", &app.db.url)],
        );
        assert!(
            out.status.success(),
            "{}",
            attest_test_support::binary::text(&out)
        );
        assert_eq!(me(&ann).await.status(), StatusCode::UNAUTHORIZED);
        app.clock.advance(Duration::seconds(5));
        assert_eq!(
            login(&ann, "ann@example.org", "copper walrus meadow tune")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        // Promotion works and is audited.
        app.clock.advance(Duration::seconds(5));
        app.shutdown().await;
    }
);

both_backends!(the_json_api_signs_in_and_out, |backend| async move {
    let app = TestApp::start(backend).await;
    let owner = bootstrap(&app).await;
    let b = app.browser();
    let r = b
        .send(
            app.client
                .post(app.url("/api/v1/login"))
                .header("origin", &app.base)
                .header("accept", "application/json")
                .form(&[
                    ("email", OWNER_EMAIL),
                    ("password", OWNER_PASSWORD),
                    ("csrf_token", &b.csrf()),
                ]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "second_factor_required");
    assert!(v["methods"].as_array().unwrap().contains(&"totp".into()));
    assert!(
        b.cookie("__Host-attest-session").is_none(),
        "no session yet"
    );
    let code = fresh_code(&app, &owner.app);
    let r = b
        .send(
            app.client
                .post(app.url("/api/v1/login/second-factor"))
                .header("origin", &app.base)
                .header("accept", "application/json")
                .form(&[
                    ("method", "totp"),
                    ("code", code.as_str()),
                    ("csrf_token", &b.csrf()),
                ]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "signed_in");
    assert_eq!(
        v["csrf_token"].as_str().unwrap(),
        b.csrf(),
        "the token scripts send back"
    );
    assert_eq!(me(&b).await.status(), StatusCode::OK);
    let r = b.api(Method::POST, "/api/v1/logout", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&b).await.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await;
});

both_backends!(
    ended_sessions_are_purged_after_30_days,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let first = bootstrap(&app).await;
        let old = attest_domain::authn::sessions::token_hash(
            &first.cookie("__Host-attest-session").unwrap(),
        );
        let second = app.browser();
        assert_eq!(
            login_2fa(&app, &second, OWNER_EMAIL, OWNER_PASSWORD, &first.app)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        // The superseded row stays, so the first browser is told why.
        assert!(
            attest_db::identity::session_by_token_hash(&app.state().db, &old)
                .await
                .unwrap()
                .is_some()
        );
        app.clock.advance(Duration::days(31));
        let third = app.browser();
        assert_eq!(
            login_2fa(&app, &third, OWNER_EMAIL, OWNER_PASSWORD, &first.app)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        assert!(
            attest_db::identity::session_by_token_hash(&app.state().db, &old)
                .await
                .unwrap()
                .is_none()
        );
        app.shutdown().await;
    }
);
