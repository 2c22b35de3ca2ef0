//! Invitations, password reset and notification mail, with a real SMTP server process
//! (aiosmtpd) receiving the messages (issue 3).

use attest_test_support::{SmtpSink, TestApp, both_backends};
use attest_types::Clock as _;
use reqwest::StatusCode;
use time::Duration;

use crate::identity::{OWNER_EMAIL, OWNER_PASSWORD, bootstrap, login};

async fn invite(
    owner: &attest_test_support::Browser,
    email: &str,
    role: &str,
) -> reqwest::Response {
    owner
        .post_form("/members/invite", &[("email", email), ("role", role)])
        .await
}

both_backends!(
    sec_10_invitations_are_single_use_72h_and_carry_no_password,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await; // "an authenticator app was added"
        assert_eq!(
            invite(&owner, "mia.member@example.org", "contributor")
                .await
                .status(),
            StatusCode::OK
        );
        let mails = sink.wait_for(1).await;
        assert_eq!(mails.len(), 1, "one invitation mail");
        let mail = &mails[0];
        assert!(mail.to.contains("mia.member@example.org"));
        assert!(mail.subject.contains("Northwind Trading"));
        assert!(
            !mail.body.to_lowercase().contains("password:"),
            "no password in the mail"
        );
        assert!(!mail.body.contains(OWNER_PASSWORD));
        let path = mail.link_path("/invitations/").expect("an invitation link");
        assert_eq!(path.len(), "/invitations/".len() + 43, "a 256-bit token");

        let mia = app.browser();
        assert_eq!(mia.get(&path).await.status(), StatusCode::OK);
        let r = mia
            .post_form(
                &path,
                &[
                    ("name", "Mia Member"),
                    ("password", "copper walrus meadow tune"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let who: serde_json::Value = mia.get_json("/api/v1/account").await.json().await.unwrap();
        assert_eq!(who["role"], "contributor");
        assert_eq!(who["tenant"], "Northwind Trading");
        // Second use → 410.
        let again = app.browser();
        assert_eq!(again.get(&path).await.status(), StatusCode::GONE);
        let r = again
            .post_form(
                &path,
                &[
                    ("name", "Eve"),
                    ("password", "copper walrus meadow tune two"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::GONE);

        // A member may not invite; an admin may not grant owner.
        assert_eq!(
            invite(&mia, "x@example.org", "contributor").await.status(),
            StatusCode::FORBIDDEN
        );

        // 72 hours later an unused invitation is gone.
        assert_eq!(
            invite(&owner, "late@example.org", "contributor")
                .await
                .status(),
            StatusCode::OK
        );
        let mails = sink.wait_for(2).await;
        let late = mails
            .iter()
            .find(|m| m.to.contains("late@example.org"))
            .unwrap()
            .link_path("/invitations/")
            .unwrap();
        app.clock.advance(Duration::hours(73));
        assert_eq!(app.browser().get(&late).await.status(), StatusCode::GONE);
        app.shutdown().await;
    }
);

both_backends!(
    sec_07_08_reset_requests_are_throttled_and_never_tell,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let _owner = bootstrap(&app).await;
        sink.forget(1).await; // "an authenticator app was added"
        let guest = app.browser();
        for _ in 0..5 {
            let r = guest.post_form("/forgot", &[("email", OWNER_EMAIL)]).await;
            assert_eq!(r.status(), StatusCode::ACCEPTED);
        }
        // Unknown addresses get exactly the same answer, and no mail.
        let known = guest.post_form("/forgot", &[("email", OWNER_EMAIL)]).await;
        let unknown = guest
            .post_form("/forgot", &[("email", "nobody@example.org")])
            .await;
        assert_eq!(known.status(), unknown.status());
        assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let mails = sink.wait_for(3).await;
        assert_eq!(
            mails.len(),
            3,
            "at most three reset mails per account per hour"
        );
        // Per address: more than 20 requests an hour → 429.
        let mut limited = false;
        for i in 0..20 {
            let r = guest
                .post_form("/forgot", &[("email", &format!("someone{i}@example.org"))])
                .await;
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                limited = true;
                assert!(r.headers().get("retry-after").is_some());
            }
        }
        assert!(limited, "the 21st request within an hour is refused");
        app.shutdown().await;
    }
);

both_backends!(
    sec_09_17_reset_links_are_single_use_short_lived_and_notify,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await; // "an authenticator app was added"
        let guest = app.browser();
        assert_eq!(
            guest
                .post_form("/forgot", &[("email", OWNER_EMAIL)])
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        let first = sink.wait_for(1).await[0].link_path("/reset/").unwrap();
        assert_eq!(
            guest
                .post_form("/forgot", &[("email", OWNER_EMAIL)])
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        let mails = sink.wait_for(2).await;
        let second = mails
            .iter()
            .filter_map(|m| m.link_path("/reset/"))
            .find(|p| *p != first)
            .unwrap();
        // A newer link voids the older one.
        assert_eq!(guest.get(&first).await.status(), StatusCode::BAD_REQUEST);
        // A refused password keeps the link usable.
        let r = guest
            .post_form(&second, &[("password", "Password123456")])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // SEC-09: the owner has an authenticator app, so the reset form asks for a code and
        // a reset without one (or with a wrong one) changes nothing.
        let page = guest.get(&second).await.text().await.unwrap();
        assert!(
            page.contains("name=\"code\""),
            "the form asks for the second factor"
        );
        let r = guest
            .post_form(&second, &[("password", "saffron tundra pickle quartz")])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let wrong = if owner.app.code_at(app.clock.now()) == "000000" {
            "111111"
        } else {
            "000000"
        };
        let r = guest
            .post_form(
                &second,
                &[
                    ("password", "saffron tundra pickle quartz"),
                    ("code", wrong),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            owner.get_json("/api/v1/account").await.status(),
            StatusCode::OK,
            "nothing changed yet"
        );
        let code = crate::identity::fresh_code(&app, &owner.app);
        let r = guest
            .post_form(
                &second,
                &[
                    ("password", "saffron tundra pickle quartz"),
                    ("code", &code),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // The owner's session ended; the new password works; the link is spent.
        let me = owner.get_json("/api/v1/account").await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            guest
                .post_form(&second, &[("password", "another fresh passphrase")])
                .await
                .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            login(&app.browser(), OWNER_EMAIL, "saffron tundra pickle quartz")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        // A notice went to the account's address.
        let mails = sink.wait_for(3).await;
        assert!(
            mails
                .iter()
                .any(|m| m.subject.contains("password was changed") && m.to.contains(OWNER_EMAIL))
        );
        // Links expire after 15 minutes.
        assert_eq!(
            guest
                .post_form("/forgot", &[("email", OWNER_EMAIL)])
                .await
                .status(),
            StatusCode::ACCEPTED
        );
        let mails = sink.wait_for(4).await;
        let third = mails
            .iter()
            .filter_map(|m| m.link_path("/reset/"))
            .find(|p| *p != first && *p != second)
            .unwrap();
        app.clock.advance(Duration::minutes(16));
        assert_eq!(guest.get(&third).await.status(), StatusCode::BAD_REQUEST);
        app.shutdown().await;
    }
);

both_backends!(
    sec_17_a_password_change_is_notified_by_mail,
    |backend| async move {
        let sink = SmtpSink::start();
        let app = TestApp::builder(backend).mail_to(&sink).start().await;
        let owner = bootstrap(&app).await;
        sink.forget(1).await; // "an authenticator app was added"
        let r = owner
            .post_form(
                "/account/password",
                &[
                    ("current_password", OWNER_PASSWORD),
                    ("new_password", "orchid lantern gravel sonnet"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let mails = sink.wait_for(1).await;
        assert_eq!(mails.len(), 1);
        assert!(mails[0].to.contains(OWNER_EMAIL));
        assert!(mails[0].subject.contains("password was changed"));
        assert!(
            !mails[0].body.contains("orchid lantern"),
            "never the password"
        );
        app.shutdown().await;
    }
);
