//! Evidence upload and download through the real server (issue 6).
//!
//! `cargo bench -p attest-app --bench evidence` starts the release `attest` executable on the
//! embedded default (SQLite, local folder, self-signed TLS) and prints:
//! - throughput of `POST /api/v1/evidence` (multipart, streamed) and of the download for
//!   10 MiB, 100 MiB and 1 GiB files: TLS, authorization, type check, encryption, SHA-256,
//!   fsync and the audit trail included (sizes with `ATTEST_BENCH_SIZES=10,100,1024`, MiB);
//! - the server's peak resident memory during a 2 GiB upload, above its idle size (read from
//!   `/proc/<pid>/status` of a fresh server process; `ATTEST_BENCH_RSS_MIB=2048`).
//!
//! Before that, the same server in-process (SQLite, local folder) compares the evidence path
//! with the same path without encryption: two benchmark-only routes (added through the test
//! harness, as every test route is; the binary has none) take the same multipart upload over
//! the same TLS, middleware and session, and stream the file into and out of the same local
//! store without the evidence layer (no encryption, type check, record or audit). Medians of
//! `ATTEST_BENCH_REPS` (3) runs, order alternating. The store alone is measured by
//! `cargo bench -p attest-storage --features bench --bench throughput`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::path::Path;
use std::time::{Duration, Instant};

use attest_crypto::Zeroizing;
use attest_storage::{BlobKey, BlobStore};
use attest_test_support::binary::{ServerProcess, run, run_with_stdin, spawn_serve, text};
use attest_test_support::{Backend, Browser, Multipart, TestApp, server_client};
use attest_types::{Actor, Role, TenantId};
use attest_web::AppState;
use axum::extract::Path as UrlPath;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt as _;

const MIB: u64 = 1024 * 1024;
const EMAIL: &str = "bench@northwind.test";
const PASSWORD: &str = "copper walrus meadow tune";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attest"))
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ATTEST_STORAGE__MAX_FILE_BYTES", "3221225472"),
        ("ATTEST_STORAGE__TENANT_QUOTA_BYTES", "21474836480"),
        ("ATTEST_LOG__LEVEL", "warn"),
    ]
}

/// A fresh installation with one compliance manager.
fn install(data: &Path) {
    let d = data.to_str().unwrap();
    let env = env();
    for args in [
        vec!["--data-dir", d, "migrate"],
        vec![
            "--data-dir",
            d,
            "admin",
            "create-tenant",
            "Northwind Trading",
        ],
    ] {
        let out = run(bin(), &args, &env);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = run_with_stdin(
        bin(),
        &[
            "--data-dir",
            d,
            "admin",
            "create-user",
            "--tenant",
            "Northwind Trading",
            "--email",
            EMAIL,
            "--role",
            "manager",
            "--password-stdin",
        ],
        &env,
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
}

fn serve(data: &Path, log: &Path) -> ServerProcess {
    spawn_serve(bin(), &["--data-dir", data.to_str().unwrap()], &env(), log)
}

async fn sign_in(server: &ServerProcess, data: &Path) -> Browser {
    let cert = std::fs::read_to_string(data.join("tls/self-signed.crt")).unwrap();
    let b = Browser::new(server_client(&cert), &server.base);
    b.get("/login").await;
    let r = b
        .post_form("/login", &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status().as_u16(), 303, "sign-in");
    b
}

/// `total` bytes of a PDF-looking, incompressible file, generated on the fly (1 MiB pieces).
fn file(total: u64) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut block: Vec<u8> = (0..MIB)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    block[..9].copy_from_slice(b"%PDF-1.7\n");
    let first = Bytes::from(block.clone());
    block[..9].copy_from_slice(b"123456789");
    let rest = Bytes::from(block);
    futures_util::stream::iter(
        (0..total / MIB).map(move |i| Ok(if i == 0 { first.clone() } else { rest.clone() })),
    )
}

/// Uploads `total` bytes to `path` (the evidence API, or the plain route); returns the answer
/// and MiB/s.
async fn upload_to(b: &Browser, path: &str, total: u64) -> (serde_json::Value, f64) {
    let m = Multipart::new()
        .text("title", &format!("Export of {} MiB", total / MIB))
        .file_head("export.pdf", "application/pdf");
    let head = Bytes::from(m.body.clone());
    let tail = Bytes::from(m.closing());
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
        .chain(file(total))
        .chain(futures_util::stream::iter([Ok(tail)]));
    let (client, base) = b.client();
    let started = Instant::now();
    let r = b
        .send(
            client
                .post(format!("{base}{path}"))
                .header("origin", base)
                .header("accept", "application/json")
                .header("x-csrf-token", b.csrf())
                .header("content-type", m.content_type())
                .body(reqwest::Body::wrap_stream(body)),
        )
        .await;
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status} {v}");
    (
        v,
        total as f64 / MIB as f64 / started.elapsed().as_secs_f64(),
    )
}

/// Uploads `total` bytes as evidence; returns the record id and MiB/s.
async fn upload(b: &Browser, total: u64) -> (String, f64) {
    let (v, rate) = upload_to(b, "/api/v1/evidence", total).await;
    (v["id"].as_str().unwrap().to_owned(), rate)
}

/// Downloads `path`, which must hold `total` bytes; returns MiB/s.
async fn download_from(b: &Browser, path: &str, total: u64) -> f64 {
    let started = Instant::now();
    let r = b.get_json(path).await;
    assert_eq!(r.status().as_u16(), 200);
    let mut body = r.bytes_stream();
    let mut n = 0u64;
    while let Some(piece) = body.next().await {
        n += piece.unwrap().len() as u64;
    }
    assert_eq!(n, total);
    total as f64 / MIB as f64 / started.elapsed().as_secs_f64()
}

/// The benchmark-only routes: the same multipart upload and a download, through the same
/// middleware, into and out of a store on the same folder without encryption.
fn plain_routes(store: BlobStore) -> Router<AppState> {
    let put = store.clone();
    Router::new()
        .route(
            "/__bench/plain",
            post(move |request: axum::extract::Request| {
                let store = put.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let form = attest_web::multipart::read(
                        &parts.headers,
                        body,
                        &["title"],
                        Duration::from_secs(60),
                    )
                    .await
                    .unwrap();
                    let file = form.file.unwrap();
                    let key = BlobKey::new(TenantId::new_random());
                    store
                        .upload_unencrypted_for_benchmark(&key, file.body, u64::MAX)
                        .await
                        .unwrap();
                    Json(serde_json::json!({ "key": key.as_str() }))
                }
            }),
        )
        .route(
            "/__bench/plain/{*key}",
            get(move |UrlPath(key): UrlPath<String>| {
                let store = store.clone();
                async move {
                    let body = store
                        .download_unencrypted_for_benchmark(&BlobKey::from_stored(&key))
                        .await
                        .unwrap()
                        .map(|p| p.map_err(std::io::Error::other));
                    axum::body::Body::from_stream(body)
                }
            }),
        )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Encrypted (the evidence path) against plain (the same path without it), in-process.
async fn compare(sizes: &[u64], reps: usize) {
    let probe = tempfile::tempdir().unwrap();
    let app = TestApp::builder(Backend::Sqlite)
        .env("ATTEST_STORAGE__MAX_FILE_BYTES", "3221225472")
        .env("ATTEST_STORAGE__TENANT_QUOTA_BYTES", "21474836480")
        .env("ATTEST_SERVER__MAX_BODY_BYTES", "3221225472")
        .env("ATTEST_SERVER__REQUEST_TIMEOUT_SECS", "3600")
        .env("ATTEST_LOG__LEVEL", "warn")
        .routes(plain_routes(
            BlobStore::open(attest_storage::Backend::Local {
                dir: probe.path().to_path_buf(),
            })
            .unwrap(),
        ))
        .start()
        .await;
    app.state()
        .identity
        .create_tenant("Northwind Trading", Actor::Operator)
        .await
        .unwrap();
    app.state()
        .identity
        .create_member(
            "Northwind Trading",
            EMAIL,
            "Bench",
            Role::Manager,
            Zeroizing::new(PASSWORD.to_owned()),
            Actor::Operator,
        )
        .await
        .unwrap();
    let b = app.browser();
    b.get("/login").await;
    let r = b
        .post_form("/login", &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status().as_u16(), 303, "sign-in");
    upload(&b, MIB).await;
    println!("in-process, median of {reps}: size_mib,operation,encrypted_mib_s,plain_mib_s,ratio");
    for mib in sizes {
        let total = mib * MIB;
        let mut runs: [Vec<f64>; 4] = Default::default();
        for rep in 0..reps {
            let order = if rep % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for encrypted in order {
                if encrypted {
                    let (id, up) = upload(&b, total).await;
                    let path = format!("/api/v1/evidence/{id}/versions/1/download");
                    runs[0].push(up);
                    runs[1].push(download_from(&b, &path, total).await);
                    let r = b
                        .api(
                            reqwest::Method::DELETE,
                            &format!("/api/v1/evidence/{id}"),
                            None,
                        )
                        .await;
                    assert!(r.status().is_success());
                } else {
                    let (v, up) = upload_to(&b, "/__bench/plain", total).await;
                    let path = format!("/__bench/plain/{}", v["key"].as_str().unwrap());
                    runs[2].push(up);
                    runs[3].push(download_from(&b, &path, total).await);
                }
            }
        }
        let [up_enc, down_enc, up_plain, down_plain] = runs.map(median);
        println!(
            "{mib},upload,{up_enc:.0},{up_plain:.0},{:.2}",
            up_enc / up_plain
        );
        println!(
            "{mib},download,{down_enc:.0},{down_plain:.0},{:.2}",
            down_enc / down_plain
        );
    }
    app.shutdown().await;
}

/// `VmRSS` and `VmHWM` of a process, KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sizes: Vec<u64> = std::env::var("ATTEST_BENCH_SIZES")
        .unwrap_or_else(|_| "10,100,1024".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rss_mib: u64 = std::env::var("ATTEST_BENCH_RSS_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2048);
    let base = std::env::var("ATTEST_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);

    let reps: usize = std::env::var("ATTEST_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    compare(&sizes, reps).await;

    // Peak memory of a fresh server during one large upload.
    let dir = tempfile::tempdir_in(&base).unwrap();
    let data = dir.path().join("data");
    install(&data);
    let server = serve(&data, &dir.path().join("server.log"));
    let pid = server.child.id();
    let b = sign_in(&server, &data).await;
    upload(&b, MIB).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = memory(pid);
    let (_, rate) = upload(&b, rss_mib * MIB).await;
    let (_, peak) = memory(pid);
    println!(
        "rss_during_{rss_mib}_mib_upload: idle {} MiB, peak {} MiB, peak above idle {} MiB ({rate:.0} MiB/s)",
        idle / 1024,
        peak / 1024,
        peak.saturating_sub(idle) / 1024
    );
    assert!(server.terminate().success());
}
