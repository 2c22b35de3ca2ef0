//! What every response looks like: security headers, uniform errors, limits, health.

use std::time::Duration;

use attest_test_support::{Backend, TestApp, both_backends};
use attest_types::Role;
use attest_web::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use reqwest::StatusCode;

use crate::documents::person;
use crate::evidence::TENANT;

/// Test-only routes. They exist in the test binary alone and pass through the full stack.
fn test_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/__test/panic",
            get(|| async {
                #[allow(clippy::panic)]
                {
                    panic!("boom: secret detail /etc/passwd SELECT * FROM users");
                }
                #[allow(unreachable_code)]
                ""
            }),
        )
        .route(
            "/__test/write",
            post(
                |State(state): State<AppState>, body: axum::body::Bytes| async move {
                    use attest_domain::audit::{AuditRecord, Outcome};
                    let _ = state
                        .audit
                        .record(
                            AuditRecord::system(
                                attest_types::Actor::Anonymous,
                                "test.write",
                                Outcome::Success,
                            )
                            .details(serde_json::json!({ "bytes": body.len() })),
                        )
                        .await;
                    "stored"
                },
            ),
        )
        .route(
            "/__test/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: header {name} missing"))
            .to_owned()
    };
    assert_eq!(
        get("strict-transport-security"),
        "max-age=31536000; includeSubDomains",
        "{what}"
    );
    let csp = get("content-security-policy");
    for part in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "script-src 'self' 'nonce-",
    ] {
        assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    assert_eq!(get("cross-origin-resource-policy"), "same-origin", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    assert!(get("x-request-id").len() == 36, "{what}");
    assert!(
        h.get("server").is_none(),
        "{what}: a Server header leaks the software"
    );
    assert!(
        h.get("access-control-allow-origin").is_none(),
        "{what}: no CORS"
    );
}

fn test_app(backend: Backend) -> attest_test_support::TestAppBuilder {
    TestApp::builder(backend)
        .routes(test_routes())
        .env("ATTEST_SERVER__MAX_BODY_BYTES", "4096")
        .env("ATTEST_SERVER__REQUEST_TIMEOUT_SECS", "1")
        .env("ATTEST_METRICS__TOKEN", "metrics-token-0123456789")
}

both_backends!(
    sec_51_52_53_headers_on_page_json_404_405_and_500,
    |backend| async move {
        let app = test_app(backend).start().await;
        let page = app
            .client
            .get(app.url("/"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert_security_headers(&page, "page");
        // A fresh nonce per response.
        let again = app.get("/").await;
        assert_ne!(
            page.headers()["content-security-policy"],
            again.headers()["content-security-policy"]
        );

        let json = app.get("/healthz").await;
        assert_eq!(json.status(), StatusCode::OK);
        assert_security_headers(&json, "json");

        let missing = app.get("/no/such/page").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_security_headers(&missing, "404");

        let wrong_method = app.get("/logout").await;
        assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_security_headers(&wrong_method, "405");

        let boom = app.get("/__test/panic").await;
        assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_security_headers(&boom, "500");

        let css = app.get("/static/attest.css").await;
        assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
        assert_security_headers(&css, "static");
        app.shutdown().await;
    }
);

both_backends!(
    sec_76_panic_gives_generic_500_and_server_keeps_serving,
    |backend| async move {
        let app = test_app(backend).start().await;
        for accept in ["application/json", "text/html"] {
            let r = app
                .client
                .get(app.url("/__test/panic"))
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
            let body = r.text().await.unwrap();
            assert!(
                body.contains(&id),
                "the body carries the correlation id: {body}"
            );
            for leak in [
                "boom",
                "passwd",
                "SELECT",
                "panicked",
                ".rs",
                "attest-web",
                "0.1.0",
            ] {
                assert!(!body.contains(leak), "500 body leaks {leak:?}: {body}");
            }
            if accept == "application/json" {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"], "internal");
                assert_eq!(v["id"], id);
            }
        }
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(
    sec_79_trace_git_listing_and_metrics_are_not_public,
    |backend| async move {
        let app = test_app(backend).start().await;
        for path in ["/", "/healthz", "/no/such"] {
            let r = app
                .client
                .request(reqwest::Method::TRACE, app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "TRACE {path}");
            assert_security_headers(&r, "TRACE");
        }
        for path in [
            "/.git/HEAD",
            "/.git/config",
            "/static/",
            "/static",
            "/__test/clock",
            "/.env",
            "/static/../Cargo.toml",
        ] {
            assert_eq!(
                app.get(path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let no_token = app.get("/metrics").await;
        assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
        let wrong = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("metrics-token-wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let ok = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("metrics-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let text = ok.text().await.unwrap();
        for metric in [
            "attest_http_requests_total",
            "attest_http_request_duration_seconds_bucket",
            "attest_db_pool_connections",
            "attest_audit_appends_total",
        ] {
            assert!(text.contains(metric), "{metric} missing from /metrics");
        }
        app.shutdown().await;
    }
);

both_backends!(
    metrics_without_a_token_configured_do_not_exist,
    |backend| async move {
        let app = TestApp::start(backend).await;
        assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
        app.shutdown().await;
    }
);

async fn audit_count(app: &TestApp, action: &str) -> usize {
    app.state().audit.flush().await;
    let rows = attest_db::audit::recent(&app.state().db, uuid::Uuid::nil(), 10_000)
        .await
        .unwrap();
    rows.iter().filter(|r| r.action == action).count()
}

both_backends!(
    oversized_body_is_413_and_nothing_is_written,
    |backend| async move {
        let app = test_app(backend).start().await;
        let browser = app.browser();
        let post = || {
            app.client
                .post(app.url("/__test/write"))
                .header("origin", &app.base)
                .header("x-csrf-token", browser.csrf())
        };
        let ok = browser.send(post().body(vec![b'a'; 100])).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(audit_count(&app, "test.write").await, 1);
        // With a Content-Length over the limit…
        let big = browser.send(post().body(vec![b'a'; 5000])).await;
        assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_security_headers(&big, "413");
        let v: serde_json::Value = big.json().await.unwrap();
        assert_eq!(v["error"], "payload_too_large");
        // …and streamed without one.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..10).map(|_| Ok(vec![b'b'; 1000])).collect();
        let streamed = browser
            .send(
                post().body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                ))),
            )
            .await;
        assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            audit_count(&app, "test.write").await,
            1,
            "nothing more was written"
        );
        app.shutdown().await;
    }
);

both_backends!(
    slow_requests_time_out_and_huge_headers_are_refused,
    |backend| async move {
        let app = test_app(backend).start().await;
        let slow = app.get("/__test/slow").await;
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
        assert_security_headers(&slow, "408");
        let huge = app
            .client
            .get(app.url("/healthz"))
            .header("x-filler", "a".repeat(64 * 1024))
            .send()
            .await;
        // Either a 4xx or a connection refused outright; never a served request.
        if let Ok(r) = huge {
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(health_and_readiness, |backend| async move {
    let app = TestApp::start(backend).await;
    let h: serde_json::Value = app.get("/healthz").await.json().await.unwrap();
    assert_eq!(h["status"], "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    // HTTP/2 is negotiated by ALPN.
    assert_eq!(
        app.get("/healthz").await.version(),
        reqwest::Version::HTTP_2
    );
    app.shutdown().await;
});

both_backends!(malformed_requests_get_clear_4xx, |backend| async move {
    let app = test_app(backend).start().await;
    // Invalid percent-encoding, absurd paths, bad methods: 4xx, never 5xx.
    for path in [
        "/%ff%fe",
        "/..%2f..%2fetc%2fpasswd",
        "/a/../../b",
        &format!("/{}", "x".repeat(4000)),
    ] {
        let r = app.get(path).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = app
        .client
        .request(reqwest::Method::from_bytes(b"BREW").unwrap(), app.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await;
});

both_backends!(
    graceful_shutdown_finishes_in_flight_requests,
    |backend| async move {
        let app = TestApp::builder(backend)
            .routes(Router::new().route(
                "/__test/wait",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    "finished"
                }),
            ))
            .start()
            .await;
        let client = app.client.clone();
        let url = app.url("/__test/wait");
        let in_flight = tokio::spawn(async move { client.get(url).send().await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.shutdown().await;
        let r = in_flight.await.unwrap().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "finished");
    }
);

both_backends!(
    over_the_concurrency_limit_requests_get_503,
    |backend| async move {
        let app = TestApp::builder(backend)
            .env("ATTEST_SERVER__MAX_CONCURRENT_REQUESTS", "1")
            .routes(Router::new().route(
                "/__test/hold",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    "held"
                }),
            ))
            .start()
            .await;
        let client = app.client.clone();
        let url = app.url("/__test/hold");
        let holder = tokio::spawn(async move { client.get(url).send().await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let shed = app.get("/healthz").await;
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()["retry-after"], "1");
        assert_security_headers(&shed, "503");
        assert_eq!(holder.await.unwrap().unwrap().status(), StatusCode::OK);
        assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(
    sec_76_a_busy_database_answers_503_with_retry_after_not_500_nor_sign_in,
    |backend| async move {
        // One pooled connection, which a test route holds for three seconds: every request
        // that needs the database waits a second for it and is then refused.
        let app = TestApp::builder(backend)
            .env("ATTEST_DATABASE__MAX_CONNECTIONS", "1")
            .env("ATTEST_DATABASE__ACQUIRE_TIMEOUT_MS", "1000")
            .routes(Router::new().route(
                "/__test/hold-db",
                get(|State(state): State<AppState>| async move {
                    let tx = state.db.begin().await.map_err(|_| StatusCode::CONFLICT)?;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    drop(tx);
                    Ok::<_, StatusCode>("released")
                }),
            ))
            .start()
            .await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        assert_eq!(
            mona.get_json("/api/v1/controls").await.status(),
            StatusCode::OK
        );
        let client = app.client.clone();
        let url = app.url("/__test/hold-db");
        let holder = tokio::spawn(async move { client.get(url).send().await });
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The API: 503 with a retry hint and the generic body, never the pool's message.
        let r = mona.get_json("/api/v1/controls").await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        assert_security_headers(&r, "503 from a busy pool");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unavailable");
        assert!(body["id"].is_string());
        let text = body.to_string().to_lowercase();
        assert!(!text.contains("pool") && !text.contains("sqlx"), "{text}");
        // A page: the same, not a redirect to the sign-in form (the session is fine).
        let r = mona.try_get("/dashboard").await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.headers().get("location").is_none());

        // Once the connection is free again, the same session carries on.
        let held = holder.await.unwrap().unwrap();
        assert_eq!(held.status(), StatusCode::OK);
        assert_eq!(
            mona.get_json("/api/v1/controls").await.status(),
            StatusCode::OK
        );
        assert_eq!(mona.get("/dashboard").await.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

/// SEC-76: a handler whose database call timed out waiting for the pool answers 503 with
/// `Retry-After`, however deeply the domain wrapped the driver's error; any other failure
/// stays a generic 500.
#[test]
fn sec_76_a_pool_timeout_inside_a_domain_error_is_503_and_other_failures_500() {
    use attest_db::DbError;
    use attest_domain::controls::ControlError;
    use attest_web::error::AppError;
    use axum::response::IntoResponse as _;

    let busy = ControlError::Db(DbError::Sqlx(sqlx::Error::PoolTimedOut));
    let r = AppError::internal(&busy).into_response();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let gone = ControlError::Db(DbError::Sqlx(sqlx::Error::PoolClosed));
    assert_eq!(
        AppError::internal(&gone).into_response().status().as_u16(),
        503
    );

    let broken = ControlError::Db(DbError::Corrupt("control.status"));
    let r = AppError::internal(&broken).into_response();
    assert_eq!(r.status().as_u16(), 500);
    assert!(r.headers().get("retry-after").is_none());
    let missing = ControlError::Db(DbError::Sqlx(sqlx::Error::RowNotFound));
    assert_eq!(
        AppError::internal(&missing)
            .into_response()
            .status()
            .as_u16(),
        500
    );
}

both_backends!(
    metrics_on_a_separate_listener_need_no_token,
    |backend| async move {
        let app = TestApp::builder(backend)
            .env("ATTEST_METRICS__LISTEN", "127.0.0.1:0")
            .start()
            .await;
        let _ = app.get("/healthz").await;
        let addr = app.launched().metrics_addr().unwrap();
        let r = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("attest_http_requests_total")
        );
        // The main listener still does not expose them without a token.
        assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
        app.shutdown().await;
    }
);
