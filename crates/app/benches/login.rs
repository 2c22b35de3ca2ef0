//! Login throughput against the bare Argon2id hash rate (issue 3).
//!
//! `cargo bench -p attest-app --bench login` prints:
//! - the bare rate: Argon2id verifications per second with the production parameters
//!   (m=19456 KiB, t=2, p=1) and the pepper, one thread per core;
//! - login throughput of the real use case (`Identity::login`: throttle check, user lookup,
//!   verification on the bounded pool, session creation ending the previous one, audit) at
//!   2, 8 and 64 concurrent clients, on SQLite and PostgreSQL, and its ratio to the bare rate.
//!
//! Each simulated client comes from its own address so the per-address limit (30/min) does
//! not throttle the benchmark; the HTTP/TLS layer adds well under a millisecond per request
//! next to ~20 ms of Argon2 and is measured by the HTTP benchmarks instead.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use attest_crypto::Zeroizing;
use attest_crypto::password::{PasswordHasher, PasswordParams};
use attest_domain::authn::sessions::ClientFacts;
use attest_test_support::{Backend, TestApp};
use attest_types::{Actor, Role};

const PASSWORD: &str = "violet kettle ramp orbit";

fn bare_rate(hasher: &Arc<PasswordHasher>, seconds: f64) -> f64 {
    let stored = hasher.hash(PASSWORD.as_bytes()).unwrap();
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let h = Arc::clone(hasher);
            let s = stored.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed().as_secs_f64() < seconds {
                    h.verify(PASSWORD.as_bytes(), &s).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

async fn login_rate(app: &TestApp, concurrency: usize, total: usize) -> f64 {
    let start = Instant::now();
    let per = total / concurrency;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let identity = app.state().identity.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let ip: IpAddr = [10, 99, (c % 250) as u8, (i % 250) as u8].into();
                identity
                    .login(
                        "bench@example.org",
                        Zeroizing::new(PASSWORD.to_owned()),
                        &ClientFacts {
                            ip: Some(ip.to_string()),
                            user_agent: None,
                        },
                        Some(ip),
                        None,
                    )
                    .await
                    .unwrap_or_else(|_| panic!("login failed"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per * concurrency) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let app = TestApp::start(backend).await;
            let identity = &app.state().identity;
            identity.create_tenant("Bench", Actor::Operator).await.unwrap();
            identity
                .create_member("Bench", "bench@example.org", "Bench User", Role::Contributor, Zeroizing::new(PASSWORD.to_owned()), Actor::Operator)
                .await
                .unwrap();
            let hasher = Arc::new(PasswordHasher::new(PasswordParams::default(), Arc::clone(&app.launched().pepper)).unwrap());
            let bare = bare_rate(&hasher, 5.0);
            // The bounded pool alone (spawn_blocking behind a semaphore), no database: splits
            // the gap between pool overhead and the rest of the login.
            let pool = attest_domain::authn::hashing::HashingPool::new((*hasher).clone());
            let stored = hasher.hash(PASSWORD.as_bytes()).unwrap();
            let start = Instant::now();
            let mut jobs = Vec::new();
            for _ in 0..64 {
                let p = pool.clone();
                let s = stored.clone();
                jobs.push(tokio::spawn(async move {
                    for _ in 0..4 {
                        p.verify(Zeroizing::new(PASSWORD.to_owned()), Some(s.clone())).await.unwrap();
                    }
                }));
            }
            for j in jobs {
                j.await.unwrap();
            }
            let pooled = 256.0 / start.elapsed().as_secs_f64();
            println!("{backend:?}: bare Argon2id verify (m=19456 KiB, t=2, p=1, {} threads): {bare:.1}/s", std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
            println!("{backend:?}: through the hashing pool, 64 callers, no database: {pooled:.1}/s = {:.0}%", 100.0 * pooled / bare);
            for concurrency in [2, 8, 64] {
                let rate = login_rate(&app, concurrency, 256).await;
                println!(
                    "{backend:?}: login at concurrency {concurrency:>2}: {rate:.1}/s = {:.0}% of the bare hash rate",
                    100.0 * rate / bare
                );
            }
            app.shutdown().await;
        }
    });
}
