//! Audit-trail append throughput on SQLite and PostgreSQL (issue 2).
//!
//! `cargo bench -p attest-app --bench audit_append` prints, for each engine:
//! - synchronous appends (one transaction per event, as a change is audited), from 1 and
//!   from 16 concurrent writers on one tenant chain;
//! - batched read events (`record_read`, appended by the writer task), until flushed.
//!
//! PostgreSQL is the one at `ATTEST_TEST_DATABASE_URL` (default the local server).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Instant;

use attest_db::{ConnectOptions, Db, migrate};
use attest_domain::audit::{AuditLog, AuditRecord, Outcome};
use attest_test_support::{Backend, TestDb};
use attest_types::{Actor, SystemClock, TenantId, UserId};

fn record(tenant: TenantId, i: usize) -> AuditRecord {
    AuditRecord::tenant(
        tenant,
        Actor::User(UserId::new_random()),
        "control.read",
        Outcome::Success,
    )
    .object("control", i)
    .request(Some("192.0.2.10".parse().unwrap()), None)
    .details(serde_json::json!({ "fields": ["title", "owner"] }))
}

async fn bench(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let tdb = TestDb::create(backend, dir.path()).await;
    let owner = Db::connect(
        &tdb.owner_url,
        ConnectOptions {
            create_if_missing: true,
            ..ConnectOptions::sized(1)
        },
    )
    .await
    .unwrap();
    migrate::run(&owner).await.unwrap();
    owner.close().await;
    let db = Db::connect(&tdb.url, ConnectOptions::sized(16))
        .await
        .unwrap();
    let log = AuditLog::start(db.clone(), Arc::new(SystemClock), 4096);
    let tenant = TenantId::new_random();

    let n = 2_000;
    let t = Instant::now();
    for i in 0..n {
        log.record(record(tenant, i)).await.unwrap();
    }
    let one = n as f64 / t.elapsed().as_secs_f64();

    let writers = 16;
    let per = 250;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                log.record(record(tenant, w * per + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let many = (writers * per) as f64 / t.elapsed().as_secs_f64();

    let reads = 50_000;
    let t = Instant::now();
    for i in 0..reads {
        log.record_read(record(tenant, i)).await.unwrap();
    }
    log.flush().await;
    let batched = reads as f64 / t.elapsed().as_secs_f64();

    let report = attest_domain::audit::verify(&db, Some(Some(tenant)))
        .await
        .unwrap();
    assert!(report.breaks.is_empty());
    assert_eq!(report.entries as usize, n + writers * per + reads);
    log.shutdown().await;
    db.close().await;
    println!(
        "{:<10} sync 1 writer: {:>8.0} appends/s | sync 16 writers: {:>8.0} appends/s | batched reads: {:>8.0} appends/s | chain of {} verified",
        format!("{backend:?}"),
        one,
        many,
        batched,
        report.entries
    );
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        bench(Backend::Sqlite).await;
        bench(Backend::Postgres).await;
    });
}
