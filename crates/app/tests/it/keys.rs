//! The keyring in the running installation (grey-box: reads the database). SEC-61, SEC-62.

use attest_test_support::binary::{run, text};
use attest_test_support::{TestApp, both_backends};
use attest_types::{Classification, TenantId};

use crate::attest_bin;

async fn wrapped_keys(app: &TestApp) -> Vec<(uuid::Uuid, String, i64, Vec<u8>)> {
    use sqlx::Connection as _;
    let sql = "SELECT tenant_id, classification, kek_version, wrapped FROM data_key ORDER BY tenant_id, classification";
    match app.db.backend {
        attest_test_support::Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
        attest_test_support::Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

both_backends!(
    sec_61_62_deks_per_tenant_and_class_and_tamper_detection,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let keys = &app.state().keys;
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        let secret = b"incident report: the CFO's laptop was stolen";
        let sealed_a = keys
            .seal(a, Classification::Critical, b"incident:1:body", secret)
            .await
            .unwrap();
        assert!(!sealed_a.windows(6).any(|w| w == b"laptop"));
        assert_eq!(
            keys.open(a, Classification::Critical, b"incident:1:body", &sealed_a)
                .await
                .unwrap(),
            secret
        );
        // Tenant B's key, another class of A, or other associated data: nothing opens.
        assert!(
            keys.open(b, Classification::Critical, b"incident:1:body", &sealed_a)
                .await
                .is_err()
        );
        assert!(
            keys.open(a, Classification::High, b"incident:1:body", &sealed_a)
                .await
                .is_err()
        );
        assert!(
            keys.open(a, Classification::Critical, b"incident:2:body", &sealed_a)
                .await
                .is_err()
        );
        let mut flipped = sealed_a.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x80;
        assert!(
            keys.open(a, Classification::Critical, b"incident:1:body", &flipped)
                .await
                .is_err()
        );
        // One wrapped DEK per (tenant, class) in the database, never the raw key.
        let rows = wrapped_keys(&app).await;
        assert_eq!(rows.len(), 3, "A/critical, A/high, B/critical");
        for (_, _, version, wrapped) in &rows {
            assert_eq!(*version, 1);
            assert_eq!(wrapped.len(), 12 + 32 + 16, "nonce + key + tag");
        }
        app.shutdown().await;
    }
);

both_backends!(
    sec_62_keys_rotate_rewraps_every_dek_and_old_data_still_opens,
    |backend| async move {
        let app = TestApp::start(backend).await;
        let keys = &app.state().keys;
        let tenant = TenantId::new_random();
        let sealed = keys
            .seal(tenant, Classification::High, b"ad", b"before rotation")
            .await
            .unwrap();
        let other = keys
            .seal(TenantId::new_random(), Classification::Low, b"ad", b"x")
            .await
            .unwrap();
        drop(other);
        let before = wrapped_keys(&app).await;
        let data = app.data_dir.path().to_str().unwrap().to_owned();
        let out = run(
            &attest_bin(),
            &["--data-dir", &data, "keys", "rotate"],
            &[("ATTEST_DATABASE__URL", &app.db.url)],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("version 2 is now current; 2 data key(s) re-wrapped"),
            "{}",
            text(&out)
        );
        let after = wrapped_keys(&app).await;
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!((b.0, &b.1), (a.0, &a.1));
            assert_eq!(a.2, 2, "re-wrapped under KEK 2");
            assert_ne!(a.3, b.3, "the wrapped form changed");
        }
        // The running server (which cached its DEKs) still opens old data; a fresh service that
        // must unwrap the new form picks up KEK 2 from the keyring file on its own.
        assert_eq!(
            keys.open(tenant, Classification::High, b"ad", &sealed)
                .await
                .unwrap(),
            b"before rotation"
        );
        let keyring = std::sync::Arc::new(
            attest_crypto::Keyring::load(attest_crypto::KeyringSource::File(
                app.data_dir.path().join("keyring.json"),
            ))
            .unwrap(),
        );
        let fresh = attest_domain::keys::KeyService::new(
            app.state().db.clone(),
            keyring,
            app.state().clock.clone(),
        );
        assert_eq!(
            fresh
                .open(tenant, Classification::High, b"ad", &sealed)
                .await
                .unwrap(),
            b"before rotation"
        );
        // The rotation is in the system audit chain.
        let events = attest_db::audit::recent(&app.state().db, uuid::Uuid::nil(), 50)
            .await
            .unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.action == "keys.rotate" && e.actor_kind == "operator")
        );
        app.shutdown().await;
    }
);
