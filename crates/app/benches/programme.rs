//! The compliance programme at scale (issue 7), through the real server.
//!
//! `cargo bench -p attest-app --bench programme` seeds, on each engine, one organisation with
//! 100,000 controls, 1,000,000 activity runs and 1,000,000 audit events (`attest dev seed`) and a
//! small one with 1,000 controls and 1,000 runs; starts the release `attest` executable on it
//! (TLS, sessions, CSRF, authorization, audit of every read: the whole stack); and prints, for
//! the controls list page, a control's page and the dashboard, the requests per second and the
//! p50 and p99 latency at 1, 8 and 64 concurrent clients; then the first-page latency of the
//! controls list and the activity runs list in the small organisation against the large one.
//!
//! Environment: `ATTEST_BENCH_ENGINES` (`sqlite,postgres`), `ATTEST_BENCH_CONTROLS` (100000),
//! `ATTEST_BENCH_RUNS_PER_CONTROL` (10), `ATTEST_BENCH_AUDIT` (1000000), `ATTEST_BENCH_SECS`
//! (seconds per measurement, 8). PostgreSQL as for the tests (`ATTEST_TEST_DATABASE_URL`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::time::{Duration, Instant};

use attest_test_support::binary::{ServerProcess, run, run_with_stdin, spawn_serve, text};
use attest_test_support::{Backend, Browser, TestDb, server_client};

const PASSWORD: &str = "copper walrus meadow tune";
const LARGE: (&str, &str) = ("Bench Large", "large@bench.test");
const SMALL: (&str, &str) = ("Bench Small", "small@bench.test");

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attest"))
}

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn args(data: &Path, rest: &[&str]) -> Vec<String> {
    let mut a = vec!["--data-dir".to_owned(), data.to_str().unwrap().to_owned()];
    a.extend(rest.iter().map(|s| (*s).to_owned()));
    a
}

fn cli(data: &Path, env: &[(String, String)], rest: &[&str], stdin: Option<&str>) -> String {
    let a = args(data, rest);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = match stdin {
        Some(s) => run_with_stdin(bin(), &a, &e, s),
        None => run(bin(), &a, &e),
    };
    assert!(out.status.success(), "{rest:?}: {}", text(&out));
    text(&out)
}

async fn sign_in(server: &ServerProcess, data: &Path, email: &str) -> Browser {
    let cert = std::fs::read_to_string(data.join("tls/self-signed.crt")).unwrap();
    let b = Browser::new(server_client(&cert), &server.base);
    b.get("/login").await;
    let r = b
        .post_form("/login", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status().as_u16(), 303, "sign-in");
    b
}

/// Latencies of `GET path(i)` from `clients` concurrent clients for `secs` seconds:
/// (requests per second, p50 ms, p99 ms, answers other than 200 with their status).
async fn load(
    b: &Browser,
    paths: &[String],
    clients: usize,
    secs: u64,
) -> (f64, f64, f64, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let b = b.clone();
        let paths = paths.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = Vec::new();
            let mut i = c;
            while Instant::now() < deadline {
                let path = &paths[i % paths.len()];
                let t = Instant::now();
                match b.try_get(path).await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(r) => failed.push(r.status().as_u16().to_string()),
                    Err(e) => failed.push(format!("{e}")),
                }
                i += clients;
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failed.extend(f);
    }
    if all.is_empty() {
        return (0.0, 0.0, 0.0, failed);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99), failed)
}

/// The median latency of `n` sequential requests, in ms.
async fn median(b: &Browser, path: &str, n: usize) -> f64 {
    let mut lat = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r = b.get(path).await;
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        let _ = r.bytes().await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    lat[lat.len() / 2]
}

async fn control_ids(b: &Browser, n: usize) -> Vec<String> {
    let v: serde_json::Value = b
        .get_json(&format!("/api/v1/controls?limit={n}&sort=updated"))
        .await
        .json()
        .await
        .unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn engine(backend: Backend) {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let db = TestDb::create(backend, data).await;
    let mut env = vec![
        ("ATTEST_LOG__LEVEL".to_owned(), "warn".to_owned()),
        (
            "ATTEST_SERVER__MAX_CONCURRENT_REQUESTS".to_owned(),
            "512".to_owned(),
        ),
        (
            "ATTEST_DATABASE__MAX_CONNECTIONS".to_owned(),
            "16".to_owned(),
        ),
    ];
    if backend == Backend::Postgres {
        env.push(("ATTEST_DATABASE__URL".to_owned(), db.url.clone()));
        env.push((
            "ATTEST_DATABASE__MIGRATION_URL".to_owned(),
            db.owner_url.clone(),
        ));
    }
    cli(data, &env, &["migrate"], None);
    let controls = var("ATTEST_BENCH_CONTROLS", 100_000).to_string();
    let runs = var("ATTEST_BENCH_RUNS_PER_CONTROL", 10).to_string();
    let audit = var("ATTEST_BENCH_AUDIT", 1_000_000).to_string();
    for (tenant, email, c, r, a) in [
        (
            LARGE.0,
            LARGE.1,
            controls.as_str(),
            runs.as_str(),
            audit.as_str(),
        ),
        (SMALL.0, SMALL.1, "1000", "1", "10000"),
    ] {
        let t = Instant::now();
        let out = cli(
            data,
            &env,
            &[
                "dev",
                "seed",
                "--tenant",
                tenant,
                "--manager-email",
                email,
                "--controls",
                c,
                "--runs-per-control",
                r,
                "--audit-events",
                a,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
        println!(
            "{name}: {} ({:.0} s in all)",
            out.trim(),
            t.elapsed().as_secs_f64()
        );
    }
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = spawn_serve(
        bin(),
        &["--data-dir", data.to_str().unwrap()],
        &e,
        &data.join("server.log"),
    );
    let large = sign_in(&server, data, LARGE.1).await;
    let small = sign_in(&server, data, SMALL.1).await;
    let ids = control_ids(&large, 100).await;
    let secs = var("ATTEST_BENCH_SECS", 8);
    println!("\n{name}: requests per second, p50 and p99 (ms), {secs} s per cell");
    println!("| page | 1 client | 8 clients | 64 clients |");
    println!("|---|---|---|---|");
    let pages: [(&str, Vec<String>); 3] = [
        ("controls list `/controls`", vec!["/controls".to_owned()]),
        (
            "a control `/controls/{id}`",
            ids.iter().map(|i| format!("/controls/{i}")).collect(),
        ),
        ("dashboard `/dashboard`", vec!["/dashboard".to_owned()]),
    ];
    for (label, paths) in &pages {
        let mut cells = Vec::new();
        for clients in [1, 8, 64] {
            let (rps, p50, p99, failed) = load(&large, paths, clients, secs).await;
            let mut cell = format!("{rps:.0} /s, {p50:.1} / {p99:.1}");
            if !failed.is_empty() {
                cell.push_str(&format!(" ({} failed: {})", failed.len(), failed[0]));
            }
            cells.push(cell);
        }
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!("\n{name}: first-page latency (median of 50), small organisation against large");
    println!("| list | 1,000 rows | large | ratio |");
    println!("|---|---|---|---|");
    for (label, path) in [
        (
            "controls `/controls` (1,000 vs 100,000 controls)",
            "/controls",
        ),
        (
            "runs `/runs?show=all` (1,000 vs 1,000,000 runs)",
            "/runs?show=all",
        ),
        ("open runs `/runs` (by due date)", "/runs"),
        (
            "controls by title `/controls?sort=title`",
            "/controls?sort=title",
        ),
    ] {
        let s = median(&small, path, 50).await;
        let l = median(&large, path, 50).await;
        println!("| {label} | {s:.1} ms | {l:.1} ms | {:.2}× |", l / s);
    }
    server.terminate();
    // What the server said about failures, for the record.
    let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
    for line in log
        .lines()
        .filter(|l| l.contains("\"ERROR\"") || l.contains("\"status\":5"))
        .take(5)
    {
        println!("{name}: server: {}", &line[..line.len().min(600)]);
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engines =
        std::env::var("ATTEST_BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    for e in engines.split(',') {
        let backend = match e.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown engine {other}"),
        };
        rt.block_on(engine(backend));
    }
}
