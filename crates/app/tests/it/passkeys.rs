//! Passkeys (WebAuthn), black-box over TLS on both databases (issue 4): registering named
//! authenticators, a passkey as the second step of a sign-in, passwordless sign-in with a
//! discoverable passkey, step-up with a passkey, removal, and every malformed or replayed
//! answer refused with nothing changed. The authenticator is `SoftPasskey`, a software
//! authenticator that speaks the browser's JSON and signs with real P-256 keys.

use attest_test_support::{Browser, SmtpSink, SoftPasskey, TestApp, both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::identity::{OWNER_EMAIL, OWNER_PASSWORD, bootstrap, bootstrap_without_factor};
use crate::mfa::{audit_count, error_code, rows};

/// Begins a registration and returns `(ceremony, options)`.
async fn begin_registration(b: &Browser) -> (String, Value) {
    let r = b
        .api(Method::POST, "/api/v1/account/passkeys/begin", None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    (
        v["ceremony"].as_str().unwrap().to_owned(),
        v["options"].clone(),
    )
}

async fn finish_registration(
    b: &Browser,
    name: &str,
    ceremony: &str,
    credential: Value,
) -> reqwest::Response {
    b.api(
        Method::POST,
        "/api/v1/account/passkeys",
        Some(json!({ "name": name, "ceremony": ceremony, "credential": credential })),
    )
    .await
}

/// Registers a passkey on `device` for a signed-in browser with a recent proof; returns the
/// response body.
pub(crate) async fn add_passkey(b: &Browser, device: &mut SoftPasskey, name: &str) -> Value {
    let (ceremony, options) = begin_registration(b).await;
    let credential = device.register(&options).unwrap();
    let r = finish_registration(b, name, &ceremony, credential).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn passkey_list(b: &Browser) -> Vec<Value> {
    let r = b.get_json("/api/v1/account/passkeys").await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["passkeys"].as_array().unwrap().clone()
}

/// A public JSON call from a browser without a session (pre-session CSRF token).
pub(crate) async fn public_post(
    app: &TestApp,
    b: &Browser,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = b.csrf();
    let mut all = form.to_vec();
    all.push(("csrf_token", &csrf));
    b.send(
        app.client
            .post(app.url(path))
            .header("origin", &app.base)
            .header("accept", "application/json")
            .form(&all),
    )
    .await
}

/// A fresh browser holding a pre-session (as after loading the sign-in page).
pub(crate) async fn visitor(app: &TestApp) -> Browser {
    let b = app.browser();
    assert_eq!(b.get("/login").await.status(), StatusCode::OK);
    b
}

/// The password step for the owner, leaving `b` at the second-factor prompt.
async fn password_step(app: &TestApp, b: &Browser) {
    let (status, v) = crate::identity::password_step(app, b, OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "second_factor_required");
}

/// Begins the second-factor passkey ceremony of a pending login: `(ceremony, options)`.
async fn begin_second_factor(app: &TestApp, b: &Browser) -> (String, Value) {
    let r = public_post(app, b, "/api/v1/login/second-factor/passkey/begin", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    (
        v["ceremony"].as_str().unwrap().to_owned(),
        v["options"].clone(),
    )
}

/// Answers the second-factor prompt with a passkey response: status and code.
async fn second_step(
    app: &TestApp,
    b: &Browser,
    ceremony: &str,
    credential: &str,
) -> (StatusCode, String) {
    let r = public_post(
        app,
        b,
        "/api/v1/login/second-factor",
        &[
            ("method", "passkey"),
            ("ceremony", ceremony),
            ("credential", credential),
        ],
    )
    .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    let code = v["error"]
        .as_str()
        .or(v["status"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

both_backends!(
    sec_12_17_a_named_passkey_is_registered_listed_and_completes_the_sign_in,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap_without_factor(&app).await;
        // Offered next to the app, never SMS (SEC-13).
        let r = owner.get_json("/api/v1/account/mfa/methods").await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["offered"], json!(["totp", "passkey", "recovery_code"]));
        let mut device = SoftPasskey::new(&app.base);
        let (ceremony, options) = begin_registration(&owner).await;
        // The options name this installation and ask for user verification; the user handle
        // is random, not the user's id.
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(
            options["publicKey"]["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(
            options["publicKey"]["authenticatorSelection"]["residentKey"],
            "preferred"
        );
        let credential = device.register(&options).unwrap();
        let r = finish_registration(&owner, "Work laptop", &ceremony, credential).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        // The first factor comes with ten recovery codes.
        assert_eq!(v["recovery_codes"].as_array().unwrap().len(), 10);
        // The owner now stands fully signed in.
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK
        );
        let list = passkey_list(&owner).await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["name"], "Work laptop");
        assert_eq!(list[0]["discoverable"], true);
        assert!(list[0]["last_used_at"].is_null());
        // Only public data is stored: no private key material.
        let stored: Vec<String> = rows(&app, "SELECT credential FROM passkey", &[]).await;
        assert!(stored[0].contains("\"counter\""), "{}", stored[0]);
        assert!(!stored[0].to_lowercase().contains("private"));
        // The user is told (SEC-17).
        let mails = sink.wait_for(1).await;
        assert_eq!(mails.len(), 1);
        assert!(
            mails[0].subject.contains("passkey was added"),
            "{}",
            mails[0].subject
        );
        assert!(mails[0].body.contains("Work laptop"));
        assert_eq!(
            audit_count(&app, "mfa.passkey_register", "success").await,
            1
        );
        let handles: Vec<i64> = rows(
            &app,
            "SELECT count(*) FROM app_user WHERE webauthn_handle IS NOT NULL AND webauthn_handle <> id",
            &[],
        )
        .await;
        assert_eq!(handles[0], 1);

        // Signing in: the password, then the passkey.
        let b = visitor(&app).await;
        password_step(&app, &b).await;
        // The prompt offers the passkey first.
        let page = b.get("/login/second-factor").await.text().await.unwrap();
        assert!(page.contains("data-passkey=\"get\""));
        assert!(page.contains("/static/passkey.js"));
        let (ceremony, options) = begin_second_factor(&app, &b).await;
        assert_eq!(
            options["publicKey"]["allowCredentials"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let credential = device.authenticate(&options).unwrap().to_string();
        assert_eq!(
            second_step(&app, &b, &ceremony, &credential).await,
            (StatusCode::OK, "signed_in".to_owned())
        );
        assert_eq!(b.get_json("/api/v1/account").await.status(), StatusCode::OK);
        let list = passkey_list(&b).await;
        assert!(!list[0]["last_used_at"].is_null());
        // The same answer again is refused: the ceremony is gone (and the counter moved on).
        let c = visitor(&app).await;
        password_step(&app, &c).await;
        assert_eq!(
            second_step(&app, &c, &ceremony, &credential).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_12_a_discoverable_passkey_signs_in_without_a_password,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        let mut device = SoftPasskey::new(&app.base);
        add_passkey(&owner, &mut device, "Phone").await;

        let b = visitor(&app).await;
        let page = b.get("/login").await.text().await.unwrap();
        assert!(page.contains("Sign in with a passkey"));
        let r = public_post(&app, &b, "/api/v1/login/passkey/begin", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let ceremony = v["ceremony"].as_str().unwrap().to_owned();
        // No account is named: the authenticator picks the credential.
        assert_eq!(v["options"]["publicKey"]["allowCredentials"], json!([]));
        let credential = device.authenticate(&v["options"]).unwrap().to_string();
        let r = public_post(
            &app,
            &b,
            "/api/v1/login/passkey",
            &[("ceremony", &ceremony), ("credential", &credential)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "signed_in");
        // A passkey verifies the user, so the session is fully signed in, even for an owner.
        let r = b.get_json("/api/v1/account").await;
        assert_eq!(r.status(), StatusCode::OK);
        let me: Value = r.json().await.unwrap();
        assert_eq!(me["email"], OWNER_EMAIL);
        // The browser form does the same and lands where it was going.
        let c = visitor(&app).await;
        let r = public_post(&app, &c, "/login/passkey/begin", &[]).await;
        let v: Value = r.json().await.unwrap();
        let credential = device.authenticate(&v["options"]).unwrap().to_string();
        let r = c
            .post_form(
                "/login/passkey",
                &[
                    ("ceremony", v["ceremony"].as_str().unwrap()),
                    ("credential", &credential),
                    ("next", "/account"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/account");
        // Replaying the answer gets the one refusal for every failure (SEC-08).
        let d = visitor(&app).await;
        let r = public_post(
            &app,
            &d,
            "/api/v1/login/passkey",
            &[
                ("ceremony", v["ceremony"].as_str().unwrap()),
                ("credential", &credential),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "passkey_rejected");
        assert!(d.get_json("/api/v1/account").await.status() == StatusCode::UNAUTHORIZED);
        assert_eq!(audit_count(&app, "auth.login", "failure").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    passkey_answers_that_are_malformed_forged_or_misdirected_change_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        let mut device = SoftPasskey::new(&app.base);
        let refused = |r: reqwest::Response| async move {
            let status = r.status();
            let v: Value = r.json().await.unwrap_or_default();
            (status, v["error"].as_str().unwrap_or_default().to_owned())
        };
        // Malformed JSON, a missing credential, an unknown ceremony: 422 with a code.
        let (ceremony, options) = begin_registration(&owner).await;
        let good = device.register(&options).unwrap();
        let r = finish_registration(&owner, "x", &ceremony, json!("{not json")).await;
        assert_eq!(
            refused(r).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_rejected".to_owned()
            )
        );
        // That attempt used the ceremony up: the good answer to it no longer counts.
        let r = finish_registration(&owner, "x", &ceremony, good.clone()).await;
        assert_eq!(
            refused(r).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "ceremony_expired".to_owned()
            )
        );
        let r = finish_registration(&owner, "x", "not-a-uuid", good).await;
        assert_eq!(
            refused(r).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "ceremony_expired".to_owned()
            )
        );
        // Unknown fields are refused outright.
        let r = owner
            .api(
                Method::POST,
                "/api/v1/account/passkeys",
                Some(json!({ "ceremony": "x", "credential": {}, "admin": true })),
            )
            .await;
        assert!(r.status().is_client_error(), "{}", r.status());
        // An answer for another site (a phishing origin) is refused.
        let mut phished = SoftPasskey::new("https://attest.example.net");
        let (ceremony, options) = begin_registration(&owner).await;
        let credential = phished.register(&options).unwrap();
        let r = finish_registration(&owner, "x", &ceremony, credential).await;
        assert_eq!(
            refused(r).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_rejected".to_owned()
            )
        );
        // An authenticator that did not verify the user is refused.
        let mut careless = SoftPasskey::new(&app.base);
        careless.user_verified = false;
        let (ceremony, options) = begin_registration(&owner).await;
        let credential = careless.register(&options).unwrap();
        let r = finish_registration(&owner, "x", &ceremony, credential).await;
        assert_eq!(
            refused(r).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_rejected".to_owned()
            )
        );
        // A byte flipped in the signed data is refused.
        let (ceremony, options) = begin_registration(&owner).await;
        let mut credential = device.register(&options).unwrap();
        let client_data = credential["response"]["clientDataJSON"].as_str().unwrap();
        let mut flipped = client_data.to_owned();
        flipped.replace_range(
            10..11,
            if &client_data[10..11] == "A" {
                "B"
            } else {
                "A"
            },
        );
        credential["response"]["clientDataJSON"] = json!(flipped);
        let r = finish_registration(&owner, "x", &ceremony, credential).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // A name with a line break is refused before anything is verified.
        let (ceremony, options) = begin_registration(&owner).await;
        let credential = device.register(&options).unwrap();
        let r = finish_registration(&owner, "a\nb", &ceremony, credential).await;
        assert_eq!(
            refused(r).await,
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_name".to_owned())
        );
        // Nothing was added, no recovery code made; every refusal is audited.
        assert!(passkey_list(&owner).await.is_empty());
        let codes: Vec<i64> = rows(&app, "SELECT count(*) FROM recovery_code", &[]).await;
        assert_eq!(codes[0], 0);
        assert_eq!(
            audit_count(&app, "mfa.passkey_register", "failure").await,
            6
        );
        assert_eq!(
            audit_count(&app, "mfa.passkey_register", "success").await,
            0
        );
        // No page of these answers is a 500, and the HTML form says what went wrong.
        let r = owner
            .post_form(
                "/account/security/passkeys",
                &[
                    ("name", "Laptop"),
                    ("ceremony", "nope"),
                    ("credential", "[]"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("expired or was used already")
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_15_wrong_passkey_answers_void_the_login_and_cannot_cross_accounts,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        let mut device = SoftPasskey::new(&app.base);
        add_passkey(&owner, &mut device, "Laptop").await;
        // Another authenticator's signature over this login's challenge is refused (it is
        // not a credential of this account).
        let mut stranger = SoftPasskey::new(&app.base);
        let b = visitor(&app).await;
        password_step(&app, &b).await;
        let (ceremony, options) = begin_second_factor(&app, &b).await;
        let mut foreign = options.clone();
        foreign["publicKey"]["allowCredentials"] = json!([]);
        stranger
            .register(&json!({ "publicKey": {
                "rp": { "id": "localhost", "name": "Attest" },
                "user": { "id": "AAAAAAAAAAAAAAAAAAAAAA", "name": "x", "displayName": "x" },
                "challenge": "AAAA",
                "pubKeyCredParams": [{ "type": "public-key", "alg": -7 }],
            }}))
            .unwrap();
        let forged = stranger.authenticate(&foreign).unwrap().to_string();
        assert_eq!(
            second_step(&app, &b, &ceremony, &forged).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        // A sign-in ceremony cannot answer a second-factor prompt.
        let r = public_post(&app, &b, "/api/v1/login/passkey/begin", &[]).await;
        let v: Value = r.json().await.unwrap();
        let answer = device.authenticate(&v["options"]).unwrap().to_string();
        assert_eq!(
            second_step(&app, &b, v["ceremony"].as_str().unwrap(), &answer).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        // Garbage counts too; the fifth wrong answer ends the login (SEC-15) …
        assert_eq!(second_step(&app, &b, "x", "{}").await.1, "invalid_code");
        assert_eq!(second_step(&app, &b, "x", "[").await.1, "invalid_code");
        assert_eq!(
            second_step(&app, &b, "x", "").await,
            (StatusCode::UNAUTHORIZED, "login_restart".to_owned())
        );
        // … so even a correct passkey can no longer complete it.
        let r = public_post(&app, &b, "/api/v1/login/second-factor/passkey/begin", &[]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "login_restart");
        assert_eq!(audit_count(&app, "auth.second_factor", "failure").await, 5);
        app.shutdown().await;
    }
);

both_backends!(
    a_cloned_authenticator_is_refused_by_its_signature_counter,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap_without_factor(&app).await;
        let mut device = SoftPasskey::new(&app.base);
        add_passkey(&owner, &mut device, "Key").await;
        let b = visitor(&app).await;
        password_step(&app, &b).await;
        let (ceremony, options) = begin_second_factor(&app, &b).await;
        let credential = device.authenticate(&options).unwrap().to_string();
        assert_eq!(
            second_step(&app, &b, &ceremony, &credential).await.0,
            StatusCode::OK
        );
        // A copy of the key still at the old count signs the next login.
        device.set_counter(0);
        let c = visitor(&app).await;
        password_step(&app, &c).await;
        let (ceremony, options) = begin_second_factor(&app, &c).await;
        let credential = device.authenticate(&options).unwrap().to_string();
        assert_eq!(
            second_step(&app, &c, &ceremony, &credential).await,
            (StatusCode::UNAUTHORIZED, "invalid_code".to_owned())
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_29_a_passkey_is_the_step_up_proof_and_removal_needs_it,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap_without_factor(&app).await;
        let mut laptop = SoftPasskey::new(&app.base);
        add_passkey(&owner, &mut laptop, "Laptop").await;
        sink.forget(1).await;
        let id = passkey_list(&owner).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The owner needs a second factor, so the only one cannot go.
        let r = owner
            .api(
                Method::DELETE,
                &format!("/api/v1/account/passkeys/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(error_code(r).await, "second_factor_required");
        // Eleven minutes on, adding or removing one needs a fresh proof.
        app.clock.advance(Duration::minutes(11));
        let r = owner
            .api(Method::POST, "/api/v1/account/passkeys/begin", None)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "reauth_required");
        // A password is not enough for a user with a second factor; the passkey is.
        let r = owner
            .api(
                Method::POST,
                "/api/v1/reauth",
                Some(json!({ "method": "password", "value": OWNER_PASSWORD })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = owner
            .api(Method::POST, "/api/v1/reauth/passkey/begin", None)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let credential = laptop.authenticate(&v["options"]).unwrap();
        let r = owner
            .api(
                Method::POST,
                "/api/v1/reauth",
                Some(json!({ "method": "passkey", "ceremony": v["ceremony"], "credential": credential })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // Now a second authenticator can be added, and then the first removed.
        let mut key = SoftPasskey::new(&app.base);
        let v = add_passkey(&owner, &mut key, "Security key").await;
        assert!(
            v["recovery_codes"].is_null(),
            "codes come with the first factor only"
        );
        let r = owner
            .api(
                Method::DELETE,
                &format!("/api/v1/account/passkeys/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let left = passkey_list(&owner).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["name"], "Security key");
        // Removing it again, or an id that is not the user's, is a plain 404.
        let r = owner
            .api(
                Method::DELETE,
                &format!("/api/v1/account/passkeys/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = owner
            .api(Method::DELETE, "/api/v1/account/passkeys/not-an-id", None)
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Both changes were mailed (SEC-17) and audited.
        let mails = sink.wait_for(2).await;
        assert_eq!(mails.len(), 2);
        assert!(
            mails[1].subject.contains("passkey was removed"),
            "{}",
            mails[1].subject
        );
        assert!(mails[1].body.contains("Laptop"));
        assert_eq!(audit_count(&app, "mfa.passkey_remove", "success").await, 1);
        assert_eq!(audit_count(&app, "auth.reauth", "success").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    passkeys_and_an_authenticator_app_live_side_by_side,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let owner = bootstrap(&app).await;
        let mut device = SoftPasskey::new(&app.base);
        let v = add_passkey(&owner, &mut device, "Laptop").await;
        assert!(v["recovery_codes"].is_null());
        // The security page lists it with a remove button; the app can now be removed
        // because a passkey remains.
        let page = owner.get("/account/security").await.text().await.unwrap();
        assert!(page.contains("Laptop"));
        assert!(page.contains("Remove passkey Laptop"));
        assert!(page.contains("Remove authenticator app"));
        let r = owner
            .api(Method::DELETE, "/api/v1/account/mfa/totp", None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        // The recovery codes stay with the remaining passkey.
        let codes: Vec<i64> = rows(&app, "SELECT count(*) FROM recovery_code", &[]).await;
        assert_eq!(codes[0], 10);
        // The sign-in prompt now offers the passkey and recovery codes, not the app.
        let b = visitor(&app).await;
        password_step(&app, &b).await;
        let page = b
            .get("/login/second-factor?method=totp")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("data-passkey=\"get\""));
        assert!(!page.contains("Use your authenticator app instead"));
        assert!(page.contains("Use a recovery code instead"));
        app.shutdown().await;
    }
);
