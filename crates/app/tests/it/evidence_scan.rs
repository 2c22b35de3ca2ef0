//! Malware scanning (SEC-58) with a real ClamAV daemon started by the test (only the EICAR
//! test signature loaded): a file is released only after a clean scan; EICAR is quarantined
//! and never served; a file uploaded while clamd is down waits, unreachable, until the
//! sweeper's rescan gives a verdict. Scanning is off unless configured (the other evidence
//! tests run without it).

use attest_test_support::peers::{Clamd, eicar};
use attest_test_support::{TestApp, both_backends};
use attest_types::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::documents::person;
use crate::evidence::{TENANT, download, upload};
use crate::mfa::audit_count;

async fn status_of(b: &attest_test_support::Browser, id: &str) -> Value {
    let v: Value = b
        .get_json(&format!("/api/v1/evidence/{id}"))
        .await
        .json()
        .await
        .unwrap();
    v["versions"][0].clone()
}

both_backends!(
    sec_58_eicar_is_quarantined_and_never_downloaded,
    |backend| async move {
        let clamd = Clamd::start().await;
        let app = TestApp::builder(backend).clamd(&clamd).start().await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let clean = upload(&alice, "Clean log", "clean.txt", b"2026-09-30 backup ok\n").await;
        assert_eq!(status_of(&alice, &clean).await["status"], "released");
        assert_eq!(download(&alice, &clean, 1).await.status(), StatusCode::OK);
        let bad = upload(&alice, "Test file", "eicar.txt", &eicar()).await;
        let v = status_of(&alice, &bad).await;
        assert_eq!(v["status"], "quarantined");
        assert!(
            v["scan_result"]
                .as_str()
                .unwrap_or_default()
                .contains("Eicar"),
            "{v}"
        );
        assert_eq!(
            download(&alice, &bad, 1).await.status(),
            StatusCode::NOT_FOUND
        );
        let page = alice
            .get(&format!("/evidence/{bad}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("quarantined"));
        assert!(!page.contains(&format!("/evidence/{bad}/versions/1/download")));
        assert_eq!(
            audit_count(&app, "evidence.quarantined", "failure").await,
            1
        );
        app.shutdown().await;
    }
);

both_backends!(
    sec_58_a_file_waits_unreachable_until_the_scanner_gives_a_verdict,
    |backend| async move {
        let port = Clamd::free_port();
        let app = TestApp::builder(backend)
            .env("ATTEST_STORAGE__CLAMD", &format!("127.0.0.1:{port}"))
            .env("ATTEST_STORAGE__CLAMD_TIMEOUT_SECS", "2")
            .start()
            .await;
        let alice = person(&app, TENANT, "mona@northwind.test", Role::Manager).await;
        let id = upload(&alice, "While clamd is down", "log.txt", b"all good\n").await;
        assert_eq!(status_of(&alice, &id).await["status"], "pending");
        assert_eq!(
            download(&alice, &id, 1).await.status(),
            StatusCode::NOT_FOUND
        );
        let _clamd = Clamd::start_on(port).await;
        let report = app.state().evidence.sweep().await.unwrap();
        assert_eq!(report.rescanned, 1);
        assert_eq!(status_of(&alice, &id).await["status"], "released");
        let r = download(&alice, &id, 1).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"all good\n");
        assert_eq!(audit_count(&app, "evidence.scanned", "success").await, 1);
        app.shutdown().await;
    }
);
