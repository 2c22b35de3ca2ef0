//! Does a login flood hurt everyone else? (issue 3)
//!
//! `cargo bench -p attest-app --bench login_flood` starts the real server over TLS (SQLite),
//! signs one user in, and measures the latency of an authenticated request
//! (`GET /api/v1/account`: TLS, session lookup, membership check) from 8 concurrent clients,
//! first on a quiet server, then while 32 other clients flood `POST /login` with unknown
//! addresses (each costs a full Argon2id verification against the dummy hash). The flood
//! comes through a trusted proxy with a different `X-Forwarded-For` per request, so the
//! per-address limit does not absorb it. Goal: p99 under flood ≤ 2 × p99 quiet.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use attest_crypto::Zeroizing;
use attest_test_support::{Backend, TestApp};
use attest_types::{Actor, Role};

const PASSWORD: &str = "violet kettle ramp orbit";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn readers(app: &TestApp, browser: &attest_test_support::Browser, seconds: u64) -> Vec<f64> {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let b = browser.clone();
        let url = app.url("/api/v1/account");
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < stop {
                let t = Instant::now();
                let r = b
                    .send(client.get(&url).header("accept", "application/json"))
                    .await;
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    all
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = TestApp::builder(Backend::Sqlite)
            .env("ATTEST_SERVER__TRUSTED_PROXIES", "127.0.0.1")
            .start()
            .await;
        let identity = &app.state().identity;
        identity.create_tenant("Bench", Actor::Operator).await.unwrap();
        identity
            .create_member("Bench", "reader@example.org", "Reader", Role::Contributor, Zeroizing::new(PASSWORD.to_owned()), Actor::Operator)
            .await
            .unwrap();
        let reader = app.browser();
        let r = reader.post_form("/login", &[("email", "reader@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.status(), 303);

        let quiet = readers(&app, &reader, 8).await;
        let (q50, q99) = (percentile(&quiet, 0.5), percentile(&quiet, 0.99));

        let flooding = Arc::new(AtomicBool::new(true));
        let attempts = Arc::new(AtomicU64::new(0));
        let mut flood = Vec::new();
        for f in 0..32u32 {
            let b = app.browser();
            let client = app.client.clone();
            let url = app.url("/login");
            let base = app.base.clone();
            let on = Arc::clone(&flooding);
            let n = Arc::clone(&attempts);
            flood.push(tokio::spawn(async move {
                let mut i = 0u32;
                while on.load(Ordering::Relaxed) {
                    i += 1;
                    let email = format!("nobody-{f}-{i}@example.org");
                    let ip = format!("198.18.{}.{}", f % 250, i % 250);
                    let csrf = b.csrf();
                    let r = b
                        .send(
                            client
                                .post(&url)
                                .header("origin", &base)
                                .header("x-forwarded-for", ip)
                                .form(&[("email", email.as_str()), ("password", "wrong wrong wrong wrong"), ("csrf_token", csrf.as_str())]),
                        )
                        .await;
                    assert!(r.status() == 401 || r.status() == 429, "{}", r.status());
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = attempts.load(Ordering::Relaxed);
        let started = Instant::now();
        let loaded = readers(&app, &reader, 8).await;
        let flood_rate = (attempts.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
        flooding.store(false, Ordering::Relaxed);
        for t in flood {
            t.await.unwrap();
        }
        let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
        println!("quiet:       {} requests, p50 {q50:.2} ms, p99 {q99:.2} ms", quiet.len());
        println!("login flood: {} requests, p50 {l50:.2} ms, p99 {l99:.2} ms, flood {flood_rate:.1} failed logins/s", loaded.len());
        println!("p99 under flood / p99 quiet = {:.2} (goal <= 2)", l99 / q99);
        app.shutdown().await;
    });
}
