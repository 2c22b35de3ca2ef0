//! The evidence store (issue 6), black-box over TLS on both databases with the local folder:
//! encryption at rest (SEC-61), keys per tenant and classification (SEC-62), limits while
//! streaming (SEC-55), the type allowlist and archive checks (SEC-56), safe downloads
//! (SEC-57), and bad input that changes nothing. The same uploads against real S3 and Azure
//! servers are in `evidence_stores`, the malware scanner in `evidence_scan`.

use std::path::{Path, PathBuf};

use attest_test_support::{Browser, Multipart, TestApp, both_backends};
use attest_types::Role;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::documents::{OTHER_TENANT, person};
use crate::mfa::{audit_count, rows};

pub(crate) const TENANT: &str = "Northwind Trading";

/// A PDF-looking file of about `n` bytes whose text repeats (so plaintext is easy to spot).
pub(crate) fn pdf(n: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let line = b"Quarterly access review: all 42 accounts confirmed by their owners.\n";
    while out.len() < n {
        out.extend_from_slice(line);
    }
    out.truncate(n.max(9));
    out
}

/// Uploads a file through the API; returns the new record's id.
pub(crate) async fn upload(b: &Browser, title: &str, name: &str, data: &[u8]) -> String {
    let r = b
        .upload_api(
            "/api/v1/evidence",
            &[("title", title), ("tags", "soc2, q3")],
            Some((name, data)),
        )
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// Every file under the local store's folder (the start-up probe leaves none).
pub(crate) fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![app.data_dir.path().join("files")];
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

/// Shannon entropy in bits per byte.
pub(crate) fn entropy(data: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for b in data {
        counts[usize::from(*b)] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

pub(crate) async fn download(b: &Browser, id: &str, version: i64) -> reqwest::Response {
    b.get_json(&format!(
        "/api/v1/evidence/{id}/versions/{version}/download"
    ))
    .await
}

/// Rows of a table, seen past row-level security (as PostgreSQL's superuser): a grey-box
/// check that nothing was left behind in any tenant.
pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    scalars(app, &format!("SELECT count(*) FROM {table}")).await[0]
}

pub(crate) async fn scalars(app: &TestApp, sql: &str) -> Vec<i64> {
    use sqlx::Connection as _;
    match app.db.superuser_url() {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
        None => rows::<i64>(app, sql, &[]).await,
    }
}

/// Nothing of a refused upload remains: no record, no version, no blob, no pending mark.
pub(crate) async fn nothing_stored(app: &TestApp, blobs_before: usize) {
    // The server finishes its clean-up after it answered; give it a moment.
    for _ in 0..50 {
        if count(app, "pending_blob").await == 0 && stored_files(app).len() == blobs_before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count(app, "evidence").await, 0, "no record");
    assert_eq!(count(app, "evidence_version").await, 0, "no version");
    assert_eq!(count(app, "pending_blob").await, 0, "no pending blob");
    assert_eq!(
        stored_files(app).len(),
        blobs_before,
        "{:?}",
        stored_files(app)
    );
}

fn path_of(app: &TestApp, file: &Path) -> String {
    file.strip_prefix(app.data_dir.path())
        .unwrap_or(file)
        .display()
        .to_string()
}

both_backends!(
    sec_61_a_file_is_stored_encrypted_and_comes_back_whole,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let data = pdf(300_000);
        let id = upload(&alice, "Q3 access review", "review.pdf", &data).await;
        // On disk: one blob under a random key, no plaintext, about 8 bits of entropy per byte.
        let files = stored_files(&app);
        assert_eq!(files.len(), 1, "{files:?}");
        let name = path_of(&app, &files[0]);
        assert!(
            !name.contains("review"),
            "the key says nothing of the file: {name}"
        );
        let raw = std::fs::read(&files[0]).unwrap();
        assert!(!raw.starts_with(b"%PDF"), "no PDF magic at rest");
        assert!(
            !raw.windows(30).any(|w| w == &data[20..50]),
            "plaintext at rest"
        );
        let bits = entropy(&raw);
        assert!(bits > 7.99, "entropy {bits}");
        // Back whole, with its hash, as an attachment that cannot run.
        let r = download(&alice, &id, 1).await;
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "application/pdf");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
        assert_eq!(
            h["content-disposition"],
            "attachment; filename=\"review.pdf\"; filename*=UTF-8''review.pdf"
        );
        assert_eq!(h["content-length"], data.len().to_string().as_str());
        let sha = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&data))
        };
        assert_eq!(h["etag"].to_str().unwrap(), format!("\"sha256-{sha}\""));
        assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
        let v: Value = alice
            .get_json(&format!("/api/v1/evidence/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["versions"][0]["sha256"], sha.as_str());
        assert_eq!(v["versions"][0]["size"], data.len());
        assert_eq!(v["versions"][0]["status"], "released");
        assert_eq!(v["classification"], "high");
        assert_eq!(v["tags"], serde_json::json!(["q3", "soc2"]));
        // Every step is in the audit trail.
        assert_eq!(audit_count(&app, "evidence.create", "success").await, 1);
        assert_eq!(audit_count(&app, "evidence.download", "success").await, 1);
        app.shutdown().await;
    }
);

both_backends!(
    sec_62_a_flipped_byte_fails_with_an_integrity_error_and_an_audit_entry,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        // A small file (one chunk): the damage is found before the answer starts.
        let small = upload(&alice, "Small", "small.pdf", &pdf(5_000)).await;
        let file = stored_files(&app).remove(0);
        let mut raw = std::fs::read(&file).unwrap();
        let at = raw.len() - 100;
        raw[at] ^= 0x01;
        std::fs::write(&file, &raw).unwrap();
        let r = download(&alice, &small, 1).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "integrity_error");
        assert_eq!(
            audit_count(&app, "evidence.integrity_failure", "failure").await,
            1
        );
        // A large file damaged in its fourth chunk: the body breaks off there.
        let big_data = pdf(400_000);
        let big = upload(&alice, "Large", "large.pdf", &big_data).await;
        let file = stored_files(&app).into_iter().find(|f| f != &file).unwrap();
        let mut raw = std::fs::read(&file).unwrap();
        raw[4 * 65_552] ^= 0x80;
        std::fs::write(&file, &raw).unwrap();
        let (client, base) = alice.client();
        let r = alice
            .try_send(client.get(format!("{base}/api/v1/evidence/{big}/versions/1/download")))
            .await;
        // The answer began (200) before the damage was reached, so the stream is reset there:
        // the client sees the reset, before or while reading the body.
        let whole = match r {
            Ok(r) => {
                assert_eq!(r.status(), StatusCode::OK);
                r.bytes().await.is_ok_and(|b| b.len() == big_data.len())
            }
            Err(_) => false,
        };
        assert!(!whole, "a damaged file is never delivered whole");
        let mut logged = 0;
        for _ in 0..50 {
            logged = audit_count(&app, "evidence.integrity_failure", "failure").await;
            if logged == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(logged, 2);
        app.shutdown().await;
    }
);

both_backends!(
    sec_62_another_tenants_key_cannot_open_a_blob_and_rotation_keeps_files_readable,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let max = person(&app, OTHER_TENANT, "max@contoso.test", Role::Manager).await;
        let a = upload(&alice, "Northwind's", "a.pdf", &pdf(2_000)).await;
        let files = stored_files(&app);
        let b = upload(&max, "Contoso's", "b.pdf", &pdf(2_000)).await;
        let b_file = stored_files(&app)
            .into_iter()
            .find(|f| !files.contains(f))
            .unwrap();
        // A's blob put in B's place: B's tenant key does not open A's file key.
        std::fs::copy(&files[0], &b_file).unwrap();
        let r = download(&max, &b, 1).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // A new key-encryption key: files sealed before still open.
        let rotated = app
            .state()
            .keys
            .rewrap_all(&app.state().audit, attest_types::Actor::Operator)
            .await;
        assert!(rotated.is_ok());
        let r = download(&alice, &a, 1).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), pdf(2_000).as_slice());
        app.shutdown().await;
    }
);

both_backends!(
    sec_57_downloads_are_safe_attachments_ranges_work_and_other_tenants_see_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let max = person(&app, OTHER_TENANT, "max@contoso.test", Role::Manager).await;
        let data = pdf(200_000);
        let id = upload(&alice, "Tricky name", "../../secret/../a:b*?.pdf", &data).await;
        let r = download(&alice, &id, 1).await;
        assert_eq!(
            r.headers()["content-disposition"],
            "attachment; filename=\"ab.pdf\"; filename*=UTF-8''ab.pdf"
        );
        let id2 = upload(&alice, "Unicode", "Prüfbericht Q3.pdf", &data).await;
        let r = download(&alice, &id2, 1).await;
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .ends_with("filename*=UTF-8''Pr%C3%BCfbericht%20Q3.pdf")
        );
        // Ranges: one part, the last bytes, across chunks; outside the file is 416.
        let range = |spec: &'static str| {
            let (client, base) = alice.client();
            alice.send(
                client
                    .get(format!("{base}/api/v1/evidence/{id}/versions/1/download"))
                    .header("range", spec),
            )
        };
        let r = range("bytes=100-199").await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()["content-range"], "bytes 100-199/200000");
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[100..200]);
        let r = range("bytes=65000-140000").await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[65_000..=140_000]);
        let r = range("bytes=-10").await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), &data[data.len() - 10..]);
        let r = range("bytes=500000-").await;
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(r.headers()["content-range"], "bytes */200000");
        // Another tenant: the same 404 as for nothing at all, and the attempt is audited.
        let denied_before = audit_count(&app, "access.denied", "denied").await;
        for path in [
            format!("/api/v1/evidence/{id}/versions/1/download"),
            format!("/api/v1/evidence/{id}"),
            format!("/evidence/{id}"),
            format!("/evidence/{id}/versions/1/download"),
        ] {
            assert_eq!(
                max.get_json(&path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        assert_eq!(
            audit_count(&app, "access.denied", "denied").await,
            denied_before + 4
        );
        let v: Value = max.get_json("/api/v1/evidence").await.json().await.unwrap();
        assert_eq!(v["items"], serde_json::json!([]));
        // The page's own download link works the same way.
        let r = alice
            .get(&format!("/evidence/{id}/versions/1/download"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), data.len());
        app.shutdown().await;
    }
);

both_backends!(
    sec_55_an_oversized_file_or_a_full_quota_is_refused_while_streaming,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        // 51 MB against the 50 MB limit: 413, nothing stored.
        let big = pdf(51_000_000);
        let r = alice
            .upload_api(
                "/api/v1/evidence",
                &[("title", "Too big")],
                Some(("big.pdf", &big)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "file_too_large");
        assert_eq!(v["field"], "file");
        nothing_stored(&app, 0).await;
        app.shutdown().await;
        // A tenant quota of 1 MB: the second 600 kB file does not fit.
        let app = TestApp::builder(backend)
            .env("ATTEST_STORAGE__MAX_FILE_BYTES", "700000")
            .env("ATTEST_STORAGE__TENANT_QUOTA_BYTES", "1000000")
            .start()
            .await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        upload(&alice, "First", "first.pdf", &pdf(600_000)).await;
        let r = alice
            .upload_api(
                "/api/v1/evidence",
                &[("title", "Second")],
                Some(("second.pdf", &pdf(600_000))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "quota_exceeded");
        assert_eq!(count(&app, "evidence").await, 1);
        assert_eq!(stored_files(&app).len(), 1);
        assert_eq!(
            scalars(&app, "SELECT bytes FROM evidence_usage").await,
            vec![600_000]
        );
        // Deleting gives the space back.
        let first: Value = alice
            .get_json("/api/v1/evidence")
            .await
            .json()
            .await
            .unwrap();
        let first = first["items"][0]["id"].as_str().unwrap().to_owned();
        let r = alice
            .api(Method::DELETE, &format!("/api/v1/evidence/{first}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        upload(&alice, "Second", "second.pdf", &pdf(600_000)).await;
        app.shutdown().await;
    }
);

both_backends!(
    sec_56_only_allowlisted_types_whose_bytes_match_are_accepted,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        for (name, data, status, code) in [
            (
                "invoice.pdf",
                b"<html><script>alert(1)</script></html>".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_file_type",
            ),
            (
                "setup.exe",
                b"MZ\x90\x00".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_file_type",
            ),
            (
                "logo.png",
                b"<svg onload=alert(1)>".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_file_type",
            ),
        ] {
            let r = alice
                .upload_api("/api/v1/evidence", &[("title", "Bad")], Some((name, &data)))
                .await;
            assert_eq!(r.status(), status, "{name}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"], code, "{name}");
        }
        nothing_stored(&app, 0).await;
        // The accepted ones: the media type comes from the content, not from the client.
        for (name, data, media) in [
            ("shot.png", b"\x89PNG\r\n\x1a\n rest".to_vec(), "image/png"),
            ("users.csv", b"name,role\nada,admin\n".to_vec(), "text/csv"),
            (
                "export.json",
                b"{\"users\": []}".to_vec(),
                "application/json",
            ),
            (
                "notice.eml",
                b"From: a@example.org\r\nSubject: x\r\n\r\nbody".to_vec(),
                "message/rfc822",
            ),
        ] {
            let id = upload(&alice, name, name, &data).await;
            let r = download(&alice, &id, 1).await;
            assert_eq!(r.headers()["content-type"], media, "{name}");
        }
        app.shutdown().await;
    }
);

/// A ZIP archive built with the `zip` crate, entries deflated.
pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

both_backends!(
    sec_56_archives_are_checked_for_bombs_slips_and_nesting_without_extraction,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        // An ordinary archive and an Office file pass.
        let ok = zip_of(&[("report/q3.csv", b"a,b\n1,2\n"), ("readme.txt", b"notes")]);
        upload(&alice, "Archive", "bundle.zip", &ok).await;
        let docx = zip_of(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
        ]);
        let id = upload(&alice, "Policy", "policy.docx", &docx).await;
        let r = download(&alice, &id, 1).await;
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        let before = stored_files(&app).len();
        let records = count(&app, "evidence").await;
        // Zip slip, a flat bomb (100 MB of zeros in 100 kB), and 42.zip's nesting.
        let slip = zip_of(&[("../../etc/cron.d/evil", b"* * * * * root sh")]);
        let zeros = vec![0u8; 100_000_000];
        let bomb = zip_of(&[("zeros.bin", &zeros)]);
        let inner = zip_of(&[("0.bin", &zeros[..10_000_000])]);
        let layer: Vec<(String, Vec<u8>)> = (0..16)
            .map(|i| (format!("lib {i}.zip"), inner.clone()))
            .collect();
        let layer_refs: Vec<(&str, &[u8])> = layer
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let nested = zip_of(&layer_refs);
        for (name, data, what) in [
            ("slip.zip", slip, "unsafe path"),
            ("bomb.zip", bomb, "zip bomb"),
            ("42.zip", nested, "another archive"),
        ] {
            let r = alice
                .upload_api(
                    "/api/v1/evidence",
                    &[("title", "Archive")],
                    Some((name, &data)),
                )
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"], "archive_refused", "{name}");
            assert!(
                v["message"].as_str().unwrap().contains(what),
                "{name}: {}",
                v["message"]
            );
        }
        for _ in 0..50 {
            if stored_files(&app).len() == before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            stored_files(&app).len(),
            before,
            "refused archives leave no blob"
        );
        assert_eq!(count(&app, "evidence").await, records);
        assert_eq!(count(&app, "pending_blob").await, 0);
        app.shutdown().await;
    }
);

both_backends!(
    bad_uploads_get_a_clear_error_and_change_nothing,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let data = pdf(200_000);
        // A body that ends without its closing boundary.
        let m = Multipart::new()
            .text("title", "Cut")
            .file("cut.pdf", "application/pdf", &data);
        let ct = m.content_type();
        let r = alice
            .send_multipart("/api/v1/evidence", &ct, reqwest::Body::from(m.body))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "upload_incomplete"
        );
        // A field after the file.
        let m = Multipart::new()
            .text("title", "Late field")
            .file("late.pdf", "application/pdf", &data)
            .text("classification", "public");
        let ct = m.content_type();
        let r = alice
            .send_multipart("/api/v1/evidence", &ct, reqwest::Body::from(m.end()))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // A field that does not exist (mass assignment, SEC-37).
        let r = alice
            .upload_api(
                "/api/v1/evidence",
                &[
                    ("title", "x"),
                    ("tenant_id", "00000000-0000-0000-0000-000000000000"),
                ],
                Some(("a.pdf", &data)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<Value>().await.unwrap()["field"], "tenant_id");
        // No title; both a file and a link; a javascript: link; dates that make no sense.
        for (fields, field) in [
            (vec![("title", "")], "title"),
            (
                vec![("title", "t"), ("link", "https://example.org/x")],
                "link",
            ),
            (
                vec![("title", "t"), ("effective_from", "2026-02-30")],
                "effective_from",
            ),
            (
                vec![
                    ("title", "t"),
                    ("effective_from", "2026-03-31"),
                    ("effective_to", "2026-01-01"),
                ],
                "effective_to",
            ),
        ] {
            let r = alice
                .upload_api("/api/v1/evidence", &fields, Some(("a.pdf", &data)))
                .await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            assert_eq!(r.json::<Value>().await.unwrap()["field"], field);
        }
        let r = alice
            .upload_api(
                "/api/v1/evidence",
                &[("title", "t"), ("link", "javascript:alert(1)")],
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        // Not multipart at all.
        let r = alice
            .api(
                Method::POST,
                "/api/v1/evidence",
                Some(serde_json::json!({"title": "x"})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // A client that goes away mid-file, and one whose Content-Length lies.
        for lie in [false, true] {
            let m = Multipart::new()
                .text("title", "Interrupted")
                .file_head("gone.pdf", "application/pdf");
            let ct = m.content_type();
            let head = m.body.clone();
            let first = data[..100_000].to_vec();
            let pieces: Vec<Result<Vec<u8>, std::io::Error>> = if lie {
                vec![Ok(head), Ok(first)]
            } else {
                vec![
                    Ok(head),
                    Ok(first),
                    Err(std::io::Error::other("the client went away")),
                ]
            };
            let (client, base) = alice.client();
            let mut req = client
                .post(format!("{base}/api/v1/evidence"))
                .header("origin", base)
                .header("x-csrf-token", alice.csrf())
                .header("content-type", ct)
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    pieces,
                )));
            if lie {
                req = req.header("content-length", "5000000");
            }
            let r = alice.try_send(req).await;
            if let Ok(r) = r {
                assert!(r.status().is_client_error(), "{}", r.status());
            }
        }
        nothing_stored(&app, 0).await;
        // The server is unaffected.
        upload(&alice, "Afterwards", "fine.pdf", &data).await;
        app.shutdown().await;
    }
);

async fn titles(b: &Browser, query: &str) -> (StatusCode, Vec<String>, Option<String>) {
    let r = b.get_json(&format!("/api/v1/evidence{query}")).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or_default();
    let items = v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, items, v["next"].as_str().map(str::to_owned))
}

async fn user_id(b: &Browser) -> String {
    let v: Value = b.get_json("/api/v1/account").await.json().await.unwrap();
    v["user"].as_str().unwrap().to_owned()
}

both_backends!(
    the_library_filters_keeps_versions_and_shares_under_the_role_model,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let carl = person(&app, TENANT, "carl@northwind.test", Role::Contributor).await;
        let aude = person(&app, TENANT, "aude@northwind.test", Role::Auditor).await;
        let eve = person(&app, TENANT, "eve@client.test", Role::External).await;
        // A link with an observation period, by a contributor.
        let r = carl
            .upload_api(
                "/api/v1/evidence",
                &[
                    ("title", "Access review Q3"),
                    ("description", "Reviewed in the IdP.\nAll confirmed."),
                    ("tags", "soc2, access"),
                    ("effective_from", "2026-07-01"),
                    ("effective_to", "2026-09-30"),
                    ("link", "https://idp.example.org/reviews/q3"),
                ],
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let link_id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (title, class, tags) in [
            ("Firewall rules", "critical", "iso27001"),
            ("Backup log", "moderate", "soc2"),
            ("Pen test report", "critical", "soc2, pentest"),
        ] {
            let r = mona
                .upload_api(
                    "/api/v1/evidence",
                    &[("title", title), ("classification", class), ("tags", tags)],
                    Some(("file.pdf", &pdf(1_000))),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        // Filters: tag, classification, owner, effective date; keyset pages.
        let (_, t, _) = titles(&mona, "?tag=soc2").await;
        assert_eq!(t.len(), 3);
        let (_, mut t, _) = titles(&mona, "?classification=critical").await;
        t.sort();
        assert_eq!(t, ["Firewall rules", "Pen test report"]);
        let (_, t, _) = titles(&mona, &format!("?owner={}", user_id(&carl).await)).await;
        assert_eq!(t, ["Access review Q3"]);
        let (_, t, _) = titles(&mona, "?effective_on=2026-08-15").await;
        assert_eq!(t, ["Access review Q3"]);
        let (_, first, next) = titles(&mona, "?limit=3").await;
        let (_, second, none) = titles(&mona, &format!("?limit=3&after={}", next.unwrap())).await;
        assert_eq!(first.len() + second.len(), 4);
        assert!(none.is_none());
        for bad in [
            "?limit=0",
            "?effective_on=2026-13-01",
            "?after=not-an-id",
            "?tag=a,b",
        ] {
            assert_eq!(
                titles(&mona, bad).await.0,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
        let (status, _, _) = titles(&mona, "?sort=title").await;
        assert!(status.is_client_error());
        // A new version: a file replaces the link; the link stays listed as version 1.
        let r = carl
            .upload_api(
                &format!("/api/v1/evidence/{link_id}/versions"),
                &[("effective_from", "2026-10-01")],
                Some(("export.csv", b"user,decision\nada,keep\n")),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = mona
            .get_json(&format!("/api/v1/evidence/{link_id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["versions"][0]["kind"], "file");
        assert_eq!(v["versions"][1]["kind"], "link");
        assert_eq!(
            v["versions"][1]["link"],
            "https://idp.example.org/reviews/q3"
        );
        assert_eq!(v["versions"][1]["effective_to"], "2026-09-30");
        assert_eq!(v["description"], "Reviewed in the IdP.\nAll confirmed.");
        // A link version has nothing to download.
        assert_eq!(
            download(&mona, &link_id, 1).await.status(),
            StatusCode::NOT_FOUND
        );
        // Roles: a contributor edits only their own; an auditor reads but writes nothing.
        let firewall: Value = mona
            .get_json("/api/v1/evidence?tag=iso27001")
            .await
            .json()
            .await
            .unwrap();
        let firewall = firewall["items"][0]["id"].as_str().unwrap().to_owned();
        let r = carl
            .upload_api(
                &format!("/api/v1/evidence/{firewall}/versions"),
                &[],
                Some(("x.pdf", &pdf(500))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(download(&aude, &firewall, 1).await.status(), StatusCode::OK);
        let r = aude
            .upload_api(
                "/api/v1/evidence",
                &[("title", "x")],
                Some(("x.pdf", &pdf(500))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = carl
            .api(Method::DELETE, &format!("/api/v1/evidence/{link_id}"), None)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "only managers delete evidence"
        );
        // Editing the fields: a new classification re-seals the description.
        let r = carl
            .api(
                Method::PUT,
                &format!("/api/v1/evidence/{link_id}"),
                Some(serde_json::json!({
                    "title": "Access review Q3 2026",
                    "description": "Reviewed in the IdP.",
                    "classification": "critical",
                    "tags": "soc2",
                })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let v: Value = carl
            .get_json(&format!("/api/v1/evidence/{link_id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["classification"], "critical");
        assert_eq!(v["description"], "Reviewed in the IdP.");
        // Stored versions keep the key they were sealed with.
        assert_eq!(v["versions"][0]["classification"], "high");
        // An external member sees nothing until it is shared, then only that, until revoked.
        assert_eq!(titles(&eve, "").await.1.len(), 0);
        assert_eq!(
            download(&eve, &firewall, 1).await.status(),
            StatusCode::NOT_FOUND
        );
        let until = "2027-06-30";
        let r = mona
            .api(
                Method::POST,
                &format!("/api/v1/evidence/{firewall}/shares"),
                Some(serde_json::json!({ "user": user_id(&eve).await, "until": until })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let share = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(titles(&eve, "").await.1, ["Firewall rules"]);
        let v: Value = eve
            .get_json(&format!("/api/v1/evidence/{firewall}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(v["owner"].is_null(), "externals do not see who owns it");
        assert!(v["versions"][0]["uploaded_by"].is_null());
        assert_eq!(download(&eve, &firewall, 1).await.status(), StatusCode::OK);
        let r = mona
            .api(
                Method::DELETE,
                &format!("/api/v1/evidence/{firewall}/shares/{share}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            download(&eve, &firewall, 1).await.status(),
            StatusCode::NOT_FOUND
        );
        app.shutdown().await;
    }
);

both_backends!(
    the_pages_upload_list_and_show_evidence_without_javascript,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let mona = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        assert_eq!(mona.get("/evidence/new").await.status(), StatusCode::OK);
        // The browser's form: CSRF field first, file last; a redirect to the new record.
        let r = mona
            .upload(
                "/evidence/new",
                &[
                    ("title", "Board minutes <script>alert(1)</script>"),
                    ("description", "Approved the ISMS scope."),
                    ("classification", "critical"),
                    ("tags", "governance"),
                    ("effective_from", "2026-03-31"),
                    ("effective_to", ""),
                    ("link", ""),
                ],
                Some(("minutes.pdf", &pdf(20_000))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let page = mona.get(&to).await.text().await.unwrap();
        assert!(
            page.contains("Board minutes &#60;script&#62;")
                || page.contains("Board minutes &lt;script&gt;")
        );
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("minutes.pdf") && page.contains("2026-03-31"));
        assert!(page.contains("/versions/1/download"));
        let list = mona
            .get("/evidence?tag=governance")
            .await
            .text()
            .await
            .unwrap();
        assert!(list.contains("Board minutes"));
        // A new version through the page form.
        let r = mona
            .upload(
                &format!("{to}/versions"),
                &[
                    ("effective_from", "2026-06-30"),
                    ("effective_to", ""),
                    ("link", ""),
                ],
                Some(("minutes-q2.pdf", &pdf(30_000))),
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = mona.get(&to).await.text().await.unwrap();
        assert!(page.contains("minutes-q2.pdf") && page.contains("minutes.pdf"));
        // A refused file: the form again, with the message next to the file field.
        let r = mona
            .upload(
                "/evidence/new",
                &[
                    ("title", "Fake"),
                    ("effective_from", ""),
                    ("effective_to", ""),
                    ("link", ""),
                ],
                Some(("fake.pdf", b"<html>not a pdf</html>")),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let page = r.text().await.unwrap();
        assert!(page.contains("does not match its extension"), "{page}");
        assert!(page.contains("value=\"Fake\""), "the input is kept");
        // A form without its CSRF field first is refused before anything is read.
        let m = Multipart::new().text("title", "No token").file(
            "a.pdf",
            "application/pdf",
            &pdf(1_000),
        );
        let (client, base) = mona.client();
        let r = mona
            .send(
                client
                    .post(format!("{base}/evidence/new"))
                    .header("origin", base)
                    .header("content-type", m.content_type())
                    .body(m.end()),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(count(&app, "evidence").await, 1);
        // The upload script is served under the CSP.
        let r = mona.get("/static/upload.js").await;
        assert_eq!(r.status(), StatusCode::OK);
        app.shutdown().await;
    }
);

both_backends!(
    a_client_that_goes_quiet_mid_upload_is_cut_off_and_nothing_is_kept,
    |backend| async move {
        let app = TestApp::builder(backend)
            .env("ATTEST_STORAGE__UPLOAD_IDLE_SECS", "1")
            .start()
            .await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let m = Multipart::new()
            .text("title", "Stalled")
            .file_head("stalled.pdf", "application/pdf");
        let pieces = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(m.body.clone()),
            Ok(pdf(100_000)),
        ])
        .chain(futures_util::stream::pending());
        let (client, base) = alice.client();
        let started = std::time::Instant::now();
        let r = alice
            .try_send(
                client
                    .post(format!("{base}/api/v1/evidence"))
                    .header("origin", base)
                    .header("x-csrf-token", alice.csrf())
                    .header("content-type", m.content_type())
                    .body(reqwest::Body::wrap_stream(pieces)),
            )
            .await;
        // The server answers (or drops the stream) after the idle limit, not never.
        if let Ok(r) = r {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            assert_eq!(
                r.json::<Value>().await.unwrap()["error"],
                "upload_incomplete"
            );
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        nothing_stored(&app, 0).await;
        upload(&alice, "Afterwards", "fine.pdf", &pdf(1_000)).await;
        app.shutdown().await;
    }
);
