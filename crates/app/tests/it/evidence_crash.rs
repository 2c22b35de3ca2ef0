//! A process killed during an upload (issue 6, item 7): the real `attest` executable on the
//! embedded default (SQLite, local folder), killed with SIGKILL while a file streams in. The
//! evidence stored before is intact after the restart, the half-written file never became a
//! record, and the sweeper removes what the upload left once its grace period has passed.

use std::path::Path;
use std::time::Duration;

use attest_test_support::binary::{run, run_with_stdin, spawn_serve, text};
use attest_test_support::{Browser, Multipart, server_client};
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::attest_bin;
use crate::evidence::{pdf, upload};
use crate::identity::login;

const EMAIL: &str = "mona@northwind.test";
const PASSWORD: &str = "copper walrus meadow tune";

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn signed_in(base: &str, data: &Path) -> Browser {
    let cert = std::fs::read_to_string(data.join("tls/self-signed.crt")).unwrap();
    let b = Browser::new(server_client(&cert), base);
    assert_eq!(b.get("/login").await.status(), StatusCode::OK);
    let r = login(&b, EMAIL, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    b
}

async fn pending_marks(data: &Path) -> i64 {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", data.join("attest.db").display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pending_blob")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upload_loses_no_earlier_evidence_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let d = data.to_str().unwrap();
    let env = [
        ("ATTEST_STORAGE__TRANSFER_TIMEOUT_SECS", "3"),
        ("ATTEST_STORAGE__ORPHAN_GRACE_SECS", "4"),
    ];
    // The operator makes the organisation and a compliance manager.
    let out = run(&attest_bin(), &["--data-dir", d, "migrate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &attest_bin(),
        &[
            "--data-dir",
            d,
            "admin",
            "create-tenant",
            "Northwind Trading",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run_with_stdin(
        &attest_bin(),
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

    let mut server = spawn_serve(
        &attest_bin(),
        &["--data-dir", d],
        &env,
        &dir.path().join("log1"),
    );
    let mona = signed_in(&server.base, &data).await;
    let kept = pdf(300_000);
    let id = upload(&mona, "Before the crash", "kept.pdf", &kept).await;
    // A second upload that stalls half-way; the process dies under it.
    let m = Multipart::new()
        .text("title", "Cut off")
        .file_head("cut.pdf", "application/pdf");
    let (client, base) = mona.client();
    let pieces = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(m.body.clone()),
        Ok(pdf(6_000_000)),
    ])
    .chain(futures_util::stream::pending());
    let request = client
        .post(format!("{base}/api/v1/evidence"))
        .header("origin", base)
        .header("x-csrf-token", mona.csrf())
        .header("content-type", m.content_type())
        .body(reqwest::Body::wrap_stream(pieces));
    let stalled = {
        let mona = mona.clone();
        tokio::spawn(async move { mona.try_send(request).await.map(|r| r.status()) })
    };
    let files = data.join("files");
    let mut half_written = false;
    for _ in 0..100 {
        half_written = files_under(&files).len() > 1 && pending_marks(&data).await == 1;
        if half_written {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        half_written,
        "the second upload is under way: {:?}",
        files_under(&files)
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stalled.abort();
    assert_eq!(
        pending_marks(&data).await,
        1,
        "the cut-off upload is still marked"
    );

    // After the grace period, a restart: the sweeper runs at start.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server = spawn_serve(
        &attest_bin(),
        &["--data-dir", d],
        &env,
        &dir.path().join("log2"),
    );
    let mona = signed_in(&server.base, &data).await;
    let r = mona
        .get_json(&format!("/api/v1/evidence/{id}/versions/1/download"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), kept.as_slice());
    let v: Value = mona
        .get_json("/api/v1/evidence")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{v}");
    let mut clean = false;
    for _ in 0..100 {
        clean = files_under(&files).len() == 1 && pending_marks(&data).await == 0;
        if clean {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clean, "left behind: {:?}", files_under(&files));
    assert!(server.terminate().success());
}
