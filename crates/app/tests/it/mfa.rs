//! Second factors and step-up, black-box over TLS on both databases (issue 4): TOTP,
//! recovery codes, the login state machine, the tenant's MFA policy, step-up for sensitive
//! actions, and the mails that tell users about each change.

use attest_crypto::Zeroizing;
use attest_test_support::{Authenticator, Backend, Browser, SmtpSink, TestApp, both_backends};
use attest_types::{Actor, Clock as _, Role};
use reqwest::{Method, StatusCode};
use time::Duration;

use crate::identity::{
    OWNER_EMAIL, OWNER_PASSWORD, bootstrap, bootstrap_without_factor, enrol_totp, fresh_code,
    login, password_step,
};

const MEMBER_EMAIL: &str = "mia.member@example.org";
const MEMBER_PASSWORD: &str = "copper walrus meadow tune";

/// Adds a member (no second factor) through the operator's path and signs them in.
pub(crate) async fn member(app: &TestApp) -> Browser {
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
    let b = app.browser();
    let r = login(&b, MEMBER_EMAIL, MEMBER_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    b
}

/// The second step as a script does it: status and error code (or "signed_in").
async fn second_step(app: &TestApp, b: &Browser, method: &str, code: &str) -> (StatusCode, String) {
    let r = b
        .send(
            app.client
                .post(app.url("/api/v1/login/second-factor"))
                .header("origin", &app.base)
                .header("accept", "application/json")
                .form(&[
                    ("method", method),
                    ("code", code),
                    ("csrf_token", &b.csrf()),
                ]),
        )
        .await;
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    let code = v["error"]
        .as_str()
        .or(v["status"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

pub(crate) async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    v["error"].as_str().unwrap_or_default().to_owned()
}

/// A six-digit string that is not the authenticator's code now or one step before.
fn wrong_code(app: &TestApp, a: &Authenticator) -> String {
    let now = app.clock.now();
    let taken = [a.code_at(now), a.code_at(now - Duration::seconds(30))];
    (0..)
        .map(|n| format!("{:06}", 123_457 + n))
        .find(|c| !taken.contains(c))
        .unwrap()
}

/// Runs a query straight against the test database and returns its rows.
pub(crate) async fn rows<T>(app: &TestApp, sql: &str, binds: &[&str]) -> Vec<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + Send
        + Unpin,
{
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match app.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            let mut q = sqlx::query_scalar::<_, T>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.owner_url)
                .await
                .unwrap();
            let mut q = sqlx::query_scalar::<_, T>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_all(&mut c).await.unwrap()
        }
    }
}

pub(crate) async fn audit_count(app: &TestApp, action: &str, outcome: &str) -> i64 {
    app.state().audit.flush().await;
    rows::<i64>(
        app,
        "SELECT count(*) FROM audit_event WHERE action = $1 AND outcome = $2",
        &[action, outcome],
    )
    .await[0]
}

both_backends!(
    sec_12_owners_must_enrol_and_a_tenant_can_require_it_of_everyone,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        // An owner without a second factor reaches nothing but enrolment.
        let r = owner.get_json("/api/v1/account").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "mfa_enrollment_required");
        let r = owner.get("/members").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/account/security");
        assert_eq!(
            owner.get("/").await.headers()["location"],
            "/account/security"
        );
        assert_eq!(
            owner.get("/account/security").await.status(),
            StatusCode::OK
        );
        enrol_totp(&app, &owner).await;
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );

        // Members need none until the tenant says so.
        let m = member(&app).await;
        assert_eq!(m.get_json("/api/v1/account").await.status(), StatusCode::OK);
        let r = m
            .api(
                Method::PUT,
                "/api/v1/tenant/mfa-policy",
                Some(serde_json::json!({ "mfa_required": true })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "members set no policy");
        let r = owner
            .api(
                Method::PUT,
                "/api/v1/tenant/mfa-policy",
                Some(serde_json::json!({ "mfa_required": true })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // The member's next request is held at enrolment; so is a fresh sign-in.
        let r = m.get_json("/api/v1/account").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "mfa_enrollment_required");
        let m2 = app.browser();
        assert_eq!(
            login(&m2, MEMBER_EMAIL, MEMBER_PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        let r = m2.get_json("/api/v1/account").await;
        assert_eq!(error_code(r).await, "mfa_enrollment_required");
        enrol_totp(&app, &m2).await;
        assert_eq!(
            m2.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        // With a factor required, the only one cannot be removed.
        let r = m2
            .api(Method::DELETE, "/api/v1/account/mfa/totp", None)
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(r).await, "second_factor_required");
        app.shutdown().await;
    }
);

both_backends!(
    sec_13_sms_and_voice_are_never_offered,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let r = owner.get_json("/api/v1/account/mfa/methods").await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        let offered: Vec<&str> = v["offered"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
            .collect();
        assert!(offered.contains(&"totp"));
        for banned in ["sms", "voice", "phone", "email"] {
            assert!(!offered.contains(&banned), "{banned} is offered");
            let r = owner
                .api(Method::POST, &format!("/api/v1/account/mfa/{banned}"), None)
                .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{banned}");
            assert_eq!(error_code(r).await, "unsupported_method");
        }
        // Nor is an SMS code accepted at sign-in.
        let b = app.browser();
        let (status, _) = password_step(&app, &b, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let (status, code) = second_step(&app, &b, "sms", "123456").await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "unsupported_method")
        );
        let v: serde_json::Value = owner
            .get_json("/api/v1/account/mfa/methods")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["enrolled"]["totp"], true, "nothing added or removed");
        app.shutdown().await;
    }
);

both_backends!(
    sec_14_a_code_lives_at_most_60_seconds_and_works_once,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        app.clock.advance(Duration::seconds(95)); // into a step no code was used in
        // The code of the previous step (T-30 s) is accepted.
        let b = app.browser();
        let (status, v) = password_step(&app, &b, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (StatusCode::OK, Some("second_factor_required"))
        );
        let previous = owner.app.code_at(app.clock.now() - Duration::seconds(30));
        assert_eq!(
            second_step(&app, &b, "totp", &previous).await,
            (StatusCode::OK, "signed_in".to_owned())
        );
        // The same code again, on another sign-in, is refused (replay).
        let c = app.browser();
        password_step(&app, &c, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            second_step(&app, &c, "totp", &previous).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        // The code of T-60 s is too old, the code of T+30 s too new.
        let old = owner.app.code_at(app.clock.now() - Duration::seconds(60));
        assert_eq!(
            second_step(&app, &c, "totp", &old).await.0,
            StatusCode::UNAUTHORIZED
        );
        // (A third failure in this step would lock TOTP; move on first.)
        app.clock.advance(Duration::seconds(30));
        let future = owner.app.code_at(app.clock.now() + Duration::seconds(30));
        assert_eq!(
            second_step(&app, &c, "totp", &future).await.0,
            StatusCode::UNAUTHORIZED
        );
        // Across a step boundary the current code works.
        let now = owner.app.code_at(app.clock.now());
        assert_eq!(second_step(&app, &c, "totp", &now).await.0, StatusCode::OK);
        // Malformed codes are refused and change nothing.
        let d = app.browser();
        password_step(&app, &d, OWNER_EMAIL, OWNER_PASSWORD).await;
        app.clock.advance(Duration::seconds(30));
        for bad in ["", "12345", "1234567890", &"9".repeat(5000)] {
            let (status, _) = second_step(&app, &d, "totp", bad).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:.10}");
            app.clock.advance(Duration::seconds(30)); // stay clear of the per-step lock
        }
        assert!(audit_count(&app, "auth.second_factor", "failure").await >= 6);
        app.shutdown().await;
    }
);

both_backends!(
    sec_15_five_wrong_codes_void_the_login_and_three_lock_totp,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        app.clock.advance(Duration::seconds(30));
        let b = app.browser();
        password_step(&app, &b, OWNER_EMAIL, OWNER_PASSWORD).await;
        let wrong = wrong_code(&app, &owner.app);
        for _ in 0..3 {
            assert_eq!(
                second_step(&app, &b, "totp", &wrong).await,
                (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
            );
        }
        // Three failures in a step lock TOTP until the step ends, even for the right code.
        let right = owner.app.code_at(app.clock.now());
        assert_eq!(
            second_step(&app, &b, "totp", &right).await,
            (StatusCode::TOO_MANY_REQUESTS, "totp_locked".to_owned())
        );
        // Two more wrong answers (a recovery code this time) make five: the login is over.
        app.clock.advance(Duration::seconds(30));
        assert_eq!(
            second_step(&app, &b, "recovery_code", "AAAA-BBBB-CCCC-DDDD-EEEE").await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        let wrong = wrong_code(&app, &owner.app);
        assert_eq!(
            second_step(&app, &b, "totp", &wrong).await,
            (StatusCode::UNAUTHORIZED, "login_restart".to_owned())
        );
        // Even a correct sixth code is refused.
        let right = owner.app.code_at(app.clock.now());
        assert_eq!(
            second_step(&app, &b, "totp", &right).await,
            (StatusCode::UNAUTHORIZED, "login_restart".to_owned())
        );
        assert!(b.cookie("__Host-attest-session").is_none());
        // A new sign-in works.
        let c = app.browser();
        password_step(&app, &c, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            second_step(&app, &c, "totp", &right).await.0,
            StatusCode::OK
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_15_the_half_signed_in_state_grants_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let _owner = bootstrap(&app).await;
        let b = app.browser();
        let (status, _) = password_step(&app, &b, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let pending = b.cookie("__Host-attest-pending").expect("a pending cookie");
        assert!(b.cookie("__Host-attest-session").is_none());
        assert_eq!(
            b.get_json("/api/v1/account").await.status(),
            StatusCode::UNAUTHORIZED
        );
        // Used as a session cookie it is nothing.
        b.set_cookie("__Host-attest-session", Some(&pending));
        assert_eq!(
            b.get_json("/api/v1/account").await.status(),
            StatusCode::UNAUTHORIZED
        );
        // It expires after five minutes.
        let c = app.browser();
        password_step(&app, &c, OWNER_EMAIL, OWNER_PASSWORD).await;
        app.clock.advance(Duration::minutes(6));
        assert_eq!(
            second_step(&app, &c, "totp", "000000").await,
            (StatusCode::UNAUTHORIZED, "login_restart".to_owned())
        );
        // Without one, the prompt sends the browser back to sign in.
        let r = app.browser().get("/login/second-factor").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        app.shutdown().await;
    }
);

both_backends!(
    sec_16_17_recovery_codes_are_hashed_single_use_and_notified,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await;
        // Ten codes of ≥ 64 bits (16 secret characters of a 32-symbol alphabet), all different.
        assert_eq!(owner.recovery_codes.len(), 10);
        let mut unique = owner.recovery_codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for c in &owner.recovery_codes {
            assert_eq!(c.replace('-', "").len(), 20, "{c}");
        }
        // No plaintext is stored: only Argon2id hashes of the secret part.
        let hashes: Vec<String> = rows(&app, "SELECT code_hash FROM recovery_code", &[]).await;
        assert_eq!(hashes.len(), 10);
        for h in &hashes {
            assert!(h.starts_with("$argon2id$"), "{h}");
            for c in &owner.recovery_codes {
                assert!(!h.contains(&c.replace('-', "")[4..]));
            }
        }
        // A recovery code signs in once, in any case and spacing.
        let code = owner.recovery_codes[3].to_lowercase().replace('-', " ");
        let b = app.browser();
        password_step(&app, &b, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            second_step(&app, &b, "recovery_code", &code).await.0,
            StatusCode::OK
        );
        let mails = sink.wait_for(1).await;
        assert_eq!(mails.len(), 1);
        assert!(
            mails[0].subject.contains("recovery code"),
            "{}",
            mails[0].subject
        );
        assert!(mails[0].to.contains(OWNER_EMAIL));
        assert_eq!(
            audit_count(&app, "mfa.recovery_code_used", "success").await,
            1
        );
        let c = app.browser();
        password_step(&app, &c, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            second_step(&app, &c, "recovery_code", &code).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        // A new set voids the old one (needs a recent proof: the sign-in just now).
        let right = fresh_code(&app, &owner.app);
        assert_eq!(
            second_step(&app, &c, "totp", &right).await.0,
            StatusCode::OK
        );
        let r = c
            .api(Method::POST, "/api/v1/account/mfa/recovery-codes", None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        let new_codes: Vec<String> = v["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(new_codes.len(), 10);
        let mails = sink.wait_for(2).await;
        assert!(
            mails[1].subject.contains("New recovery codes"),
            "{}",
            mails[1].subject
        );
        let d = app.browser();
        password_step(&app, &d, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            second_step(&app, &d, "recovery_code", &owner.recovery_codes[4])
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "an old code no longer works"
        );
        assert_eq!(
            second_step(&app, &d, "recovery_code", &new_codes[0])
                .await
                .0,
            StatusCode::OK
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_17_factor_and_email_changes_are_mailed,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await;
        let m = member(&app).await;
        // Adding and removing an authenticator app: one mail each.
        enrol_totp(&app, &m).await;
        let mails = sink.wait_for(1).await;
        assert!(mails[0].subject.contains("authenticator app was added"));
        assert!(mails[0].to.contains(MEMBER_EMAIL));
        let r = m
            .api(Method::DELETE, "/api/v1/account/mfa/totp", None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let mails = sink.wait_for(2).await;
        assert!(mails[1].subject.contains("removed"), "{}", mails[1].subject);
        // Changing the email address: a link to the new address, a notice to the old one.
        let r = m
            .api(
                Method::PATCH,
                "/api/v1/account/email",
                Some(serde_json::json!({ "email": "mia@new.example.org" })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let mails = sink.wait_for(4).await;
        let link_mail = mails[2..]
            .iter()
            .find(|x| x.to.contains("mia@new.example.org"))
            .expect("a mail to the new address");
        assert!(
            mails[2..].iter().any(|x| x.to.contains(MEMBER_EMAIL)),
            "the old address is told"
        );
        let link = link_mail.link_path("/account/email/").unwrap();
        assert_eq!(m.get(&link).await.status(), StatusCode::OK);
        // Nothing changed yet.
        let v: serde_json::Value = m.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(v["email"], MEMBER_EMAIL);
        // Another user cannot use the link.
        let other = app.browser();
        crate::identity::login_2fa(&app, &other, OWNER_EMAIL, OWNER_PASSWORD, &owner.app).await;
        assert_eq!(
            other.post_form(&link, &[]).await.status(),
            StatusCode::BAD_REQUEST
        );
        let r = m.post_form(&link, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = m.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(v["email"], "mia@new.example.org");
        let mails = sink.wait_for(6).await;
        assert!(mails[4..].iter().any(|x| x.to.contains(MEMBER_EMAIL)));
        assert!(
            mails[4..]
                .iter()
                .any(|x| x.to.contains("mia@new.example.org"))
        );
        assert_eq!(
            m.post_form(&link, &[]).await.status(),
            StatusCode::BAD_REQUEST,
            "used once"
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_29_sensitive_actions_need_a_proof_from_the_last_ten_minutes,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        app.clock.advance(Duration::minutes(11));
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        let change = || {
            owner.api(
                Method::PATCH,
                "/api/v1/account/email",
                Some(serde_json::json!({ "email": "olivia@new.example.org" })),
            )
        };
        let r = change().await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "reauth_required");
        for (path, body) in [
            ("/api/v1/account/mfa/recovery-codes", None),
            ("/api/v1/account/mfa/totp", None),
        ] {
            let r = owner.api(Method::POST, path, body).await;
            assert_eq!(error_code(r).await, "reauth_required", "{path}");
        }
        // A user with a second factor must use it: the password is not enough.
        let reauth = |method: &'static str, value: String| {
            owner.api(
                Method::POST,
                "/api/v1/reauth",
                Some(serde_json::json!({ "method": method, "value": value })),
            )
        };
        let r = reauth("password", OWNER_PASSWORD.to_owned()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = reauth("totp", wrong_code(&app, &owner.app)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "invalid_code");
        assert_eq!(change().await.status(), StatusCode::UNAUTHORIZED);
        let r = reauth("totp", fresh_code(&app, &owner.app)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(change().await.status(), StatusCode::OK);
        // A browser form meets the step-up page inline; the proof then resumes the action
        // with the same fields, without filling the form in again.
        app.clock.advance(Duration::minutes(11));
        let m = member(&app).await;
        let v: serde_json::Value = m.get_json("/api/v1/account").await.json().await.unwrap();
        let member_id = v["user"].as_str().unwrap().to_owned();
        let action = format!("/members/{member_id}/role");
        let r = owner
            .send(
                app.client
                    .post(app.url(&action))
                    .header("origin", &app.base)
                    .header("referer", app.url("/members"))
                    .header("accept", "text/html")
                    .form(&[("role", "admin"), ("csrf_token", &owner.csrf())]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let page = r.text().await.unwrap();
        assert!(page.contains("Confirm it is you"));
        let continue_to = format!("/reauth?continue=%2Fmembers%2F{member_id}%2Frole");
        assert!(
            page.contains(&format!("action=\"{continue_to}\"")),
            "{page}"
        );
        assert!(
            page.contains("name=\"role\" value=\"admin\""),
            "the choice is carried"
        );
        let v: serde_json::Value = m.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(v["role"], "contributor", "nothing changed yet");
        // A wrong code keeps the carried form.
        let r = owner
            .post_form(
                &continue_to,
                &[
                    ("method", "totp"),
                    ("value", &wrong_code(&app, &owner.app)),
                    ("next", "/members"),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("name=\"role\" value=\"admin\"")
        );
        let code = fresh_code(&app, &owner.app);
        let fields = [
            ("method", "totp"),
            ("value", code.as_str()),
            ("next", "/members"),
            ("role", "admin"),
        ];
        let r = owner.post_form(&continue_to, &fields).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        // The next page sends the interrupted form on (a static script submits it at once),
        // with its own fields only: never the code just given.
        assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
        assert!(page.contains("name=\"role\" value=\"admin\""));
        assert!(page.contains("/static/continue.js"));
        assert!(!page.contains(code.as_str()), "the proof is not sent on");
        assert!(!page.contains("name=\"method\""));
        let r = owner.post_form(&action, &[("role", "admin")]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("The role was changed."));
        // Now an admin, the member must enrol a second factor first (SEC-12).
        let r = m.get_json("/api/v1/account").await;
        assert_eq!(error_code(r).await, "mfa_enrollment_required");
        // A form with a password is not carried: the page asks to enter it again.
        app.clock.advance(Duration::minutes(11));
        let r = owner
            .send(
                app.client
                    .post(app.url("/account/password"))
                    .header("origin", &app.base)
                    .header("referer", app.url("/account"))
                    .header("accept", "text/html")
                    .form(&[
                        ("current_password", OWNER_PASSWORD),
                        ("new_password", "an entirely new passphrase"),
                        ("csrf_token", &owner.csrf()),
                    ]),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let page = r.text().await.unwrap();
        assert!(page.contains("enter them again"));
        assert!(!page.contains(OWNER_PASSWORD), "passwords are never echoed");
        assert!(page.contains("action=\"/reauth\""));
        assert_eq!(
            owner.get("/reauth?next=%2Fmembers").await.status(),
            StatusCode::OK
        );
        // A user without a second factor confirms with the password; a wrong one is
        // refused and counts towards the sign-in throttle.
        app.clock.advance(Duration::minutes(11));
        let m2 = app.browser();
        login(&m2, MEMBER_EMAIL, MEMBER_PASSWORD).await; // now an admin: must enrol
        let r = m2
            .api(
                Method::POST,
                "/api/v1/reauth",
                Some(
                    serde_json::json!({ "method": "password", "value": "not the password at all" }),
                ),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "wrong_password");
        app.clock.advance(Duration::seconds(2));
        let r = m2
            .api(
                Method::POST,
                "/api/v1/reauth",
                Some(serde_json::json!({ "method": "password", "value": MEMBER_PASSWORD })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(audit_count(&app, "auth.reauth", "failure").await >= 3);
        assert!(audit_count(&app, "auth.reauth", "success").await >= 3);
        app.shutdown().await;
    }
);

both_backends!(
    totp_enrolment_shows_a_qr_code_and_refuses_bad_confirmations,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        let r = owner.post_form("/account/security/totp", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        assert!(page.contains("<svg"), "a server-drawn QR code");
        // No inline script: the only one is the passkey page's static file (CSP).
        assert_eq!(
            page.matches("<script").count(),
            page.matches("<script src=\"/static/passkey.js\" defer></script>")
                .count()
        );
        // Wrong, malformed and over-long codes: 401, the enrolment stays pending.
        for bad in ["000000", "abcdef", "", &"1".repeat(10_000)] {
            let r = owner
                .api(
                    Method::POST,
                    "/api/v1/account/mfa/totp/confirm",
                    Some(serde_json::json!({ "code": bad })),
                )
                .await;
            assert!(
                r.status() == StatusCode::UNAUTHORIZED,
                "{bad:.10}: {}",
                r.status()
            );
        }
        let r = owner
            .api(
                Method::POST,
                "/api/v1/account/mfa/totp/confirm",
                Some(serde_json::json!({ "code": 123456, "extra": true })),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "a number is not a code"
        );
        let r = owner.get_json("/api/v1/account").await;
        assert_eq!(error_code(r).await, "mfa_enrollment_required");
        // The secret is stored sealed, never in clear.
        let sealed: Vec<Vec<u8>> = rows(&app, "SELECT secret FROM totp_factor", &[]).await;
        assert_eq!(sealed.len(), 1);
        assert!(
            sealed[0].len() > 20 + 16,
            "nonce and tag around the 20-byte secret"
        );
        app.shutdown().await;
    }
);
