//! The evidence store against real object-storage servers (issue 6): moto's S3 and Microsoft's
//! Azurite, each started by the test. The same uploads, downloads, ranges, limits and
//! interruptions as on the local folder, and what lands in the bucket or container is read
//! back raw: random keys, no plaintext, about 8 bits of entropy per byte (SEC-57, SEC-61).

use std::sync::Arc;

use attest_test_support::peers::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite, S3Server};
use attest_test_support::{TestApp, both_backends};
use attest_types::Role;
use futures_util::StreamExt as _;
use object_store::{ObjectStore, ObjectStoreExt as _};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::documents::person;
use crate::evidence::{TENANT, count, download, entropy, pdf, upload};

/// Every object in the store, with its bytes.
async fn objects(store: &Arc<dyn ObjectStore>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut list = store.list(None);
    while let Some(meta) = list.next().await {
        let meta = meta.unwrap();
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location.to_string(), bytes.to_vec()));
    }
    out
}

async fn settled(store: &Arc<dyn ObjectStore>, want: usize) -> Vec<(String, Vec<u8>)> {
    for _ in 0..50 {
        let all = objects(store).await;
        if all.len() == want {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    objects(store).await
}

/// The same checks on any store: `raw` reads the bucket or container directly.
async fn round_trip(app: &TestApp, raw: &Arc<dyn ObjectStore>) {
    let alice = person(app, TENANT, "mona@northwind.test", Role::Manager).await;
    // 12 MB: three parts of a multipart upload.
    let big = pdf(12_000_000);
    let id = upload(&alice, "Firewall export", "firewall.pdf", &big).await;
    let small = pdf(3_000);
    let other = upload(&alice, "Small", "small.pdf", &small).await;
    let stored = settled(raw, 2).await;
    assert_eq!(stored.len(), 2, "one object per file");
    for (key, bytes) in &stored {
        assert!(key.starts_with("t/"), "{key}");
        assert!(!key.contains("firewall") && !key.contains("small"), "{key}");
        assert!(!bytes.starts_with(b"%PDF"));
        assert!(
            !bytes.windows(30).any(|w| w == &big[20..50]),
            "plaintext in {key}"
        );
    }
    let large = stored
        .iter()
        .map(|(_, b)| b)
        .max_by_key(|b| b.len())
        .unwrap();
    assert!(entropy(large) > 7.99);
    // Back whole, and a range across the first part's end.
    let r = download(&alice, &id, 1).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), big.as_slice());
    let (client, base) = alice.client();
    let r = alice
        .send(
            client
                .get(format!("{base}/api/v1/evidence/{id}/versions/1/download"))
                .header("range", "bytes=5242000-5243999"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &big[5_242_000..5_244_000]
    );
    // A new version; the first stays readable.
    let r = alice
        .upload_api(
            &format!("/api/v1/evidence/{other}/versions"),
            &[("effective_from", "2026-09-30")],
            Some(("small-v2.pdf", &pdf(4_000))),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        download(&alice, &other, 1)
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        small.as_slice()
    );
    assert_eq!(
        download(&alice, &other, 2)
            .await
            .bytes()
            .await
            .unwrap()
            .len(),
        4_000
    );
    // Too large, and a client that goes away: nothing lands in the store.
    let r = alice
        .upload_api(
            "/api/v1/evidence",
            &[("title", "Too big")],
            Some(("big.pdf", &pdf(51_000_000))),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let m = attest_test_support::Multipart::new()
        .text("title", "Gone")
        .file_head("gone.pdf", "application/pdf");
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(m.body.clone()),
        Ok(big[..6_000_000].to_vec()),
        Err(std::io::Error::other("the client went away")),
    ];
    let _ = alice
        .try_send(
            client
                .post(format!("{base}/api/v1/evidence"))
                .header("origin", base)
                .header("x-csrf-token", alice.csrf())
                .header("content-type", m.content_type())
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    pieces,
                ))),
        )
        .await;
    assert_eq!(
        settled(raw, 3).await.len(),
        3,
        "only the three files that were accepted"
    );
    for _ in 0..50 {
        if count(app, "pending_blob").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count(app, "pending_blob").await, 0);
    // Deleting the record removes its objects.
    let r = alice
        .api(Method::DELETE, &format!("/api/v1/evidence/{other}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(settled(raw, 1).await.len(), 1);
    let v: Value = alice
        .get_json("/api/v1/evidence")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
}

both_backends!(
    sec_61_s3_holds_only_encrypted_objects_under_random_keys,
    |backend| async move {
        let s3 = S3Server::start().await;
        let app = TestApp::builder(backend).s3(&s3).start().await;
        let raw: Arc<dyn ObjectStore> = Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&s3.bucket)
                .with_region("us-east-1")
                .with_endpoint(&s3.endpoint)
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false)
                .with_access_key_id("test")
                .with_secret_access_key("test-secret-key")
                .build()
                .unwrap(),
        );
        round_trip(&app, &raw).await;
        app.shutdown().await;
    }
);

both_backends!(
    sec_61_azure_blob_holds_only_encrypted_objects_under_random_keys,
    |backend| async move {
        let azurite = Azurite::start().await;
        let app = TestApp::builder(backend).azure(&azurite).start().await;
        let raw: Arc<dyn ObjectStore> = Arc::new(
            object_store::azure::MicrosoftAzureBuilder::new()
                .with_account(AZURITE_ACCOUNT)
                .with_access_key(AZURITE_KEY)
                .with_endpoint(azurite.endpoint.clone())
                .with_allow_http(true)
                .with_container_name(&azurite.container)
                .build()
                .unwrap(),
        );
        round_trip(&app, &raw).await;
        app.shutdown().await;
    }
);

#[tokio::test]
async fn a_wrong_bucket_stops_the_server_at_start_naming_the_store() {
    let s3 = S3Server::start().await;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config = attest_config::Config::load(
        None,
        vec![
            ("ATTEST_STORAGE__BACKEND".to_owned(), "s3".to_owned()),
            (
                "ATTEST_STORAGE__S3__BUCKET".to_owned(),
                "no-such-bucket-here".to_owned(),
            ),
            (
                "ATTEST_STORAGE__S3__ENDPOINT".to_owned(),
                s3.endpoint.clone(),
            ),
            (
                "ATTEST_STORAGE__S3__ACCESS_KEY_ID".to_owned(),
                "AKIAEXAMPLE".to_owned(),
            ),
            (
                "ATTEST_STORAGE__S3__SECRET_ACCESS_KEY".to_owned(),
                "s3cr3t-VALUE-9".to_owned(),
            ),
        ],
        &attest_config::Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            listen: Some("127.0.0.1:0".to_owned()),
        },
    )
    .unwrap();
    let r = attest_app::launch::launch(attest_app::launch::Launch {
        config,
        secrets_in_file: Vec::new(),
        clock: Arc::new(attest_types::SystemClock),
        extra_routes: None,
        migrate: true,
    })
    .await;
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("storage.backend = \"s3\""), "{e}");
    assert!(
        !e.contains("s3cr3t-VALUE-9"),
        "no credential in the message: {e}"
    );
}
