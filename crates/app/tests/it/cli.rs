//! The `attest` executable: first run, configuration errors, the production self-check,
//! secret masking, signals.

use std::os::unix::fs::PermissionsExt as _;

use attest_test_support::binary::{run, spawn_serve, text};

use crate::attest_bin;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_run_creates_everything_and_a_second_run_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("attest-data");
    let data_s = data.to_str().unwrap();
    let server = spawn_serve(
        &attest_bin(),
        &["--data-dir", data_s],
        &[],
        &dir.path().join("log1"),
    );
    assert!(
        server.base.starts_with("https://localhost:"),
        "{}",
        server.base
    );
    let status = server.terminate();
    assert!(status.success(), "SIGTERM ends with exit 0: {status:?}");
    assert_eq!(mode(&data), 0o700);
    for f in ["pepper.json", "keyring.json", "tls/self-signed.key"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert!(data.join("attest.db").is_file());
    assert!(data.join("tls/self-signed.crt").is_file());
    // SQLite header bytes 18 and 19 are 2 when the database is in WAL mode.
    let header = std::fs::read(data.join("attest.db")).unwrap();
    assert_eq!(
        (header[18], header[19]),
        (2, 2),
        "the database runs in WAL mode"
    );
    let pepper = std::fs::read(data.join("pepper.json")).unwrap();
    let keyring = std::fs::read(data.join("keyring.json")).unwrap();
    let cert = std::fs::read(data.join("tls/self-signed.crt")).unwrap();
    let again = spawn_serve(
        &attest_bin(),
        &["--data-dir", data_s],
        &[],
        &dir.path().join("log2"),
    );
    assert!(again.terminate().success());
    assert_eq!(std::fs::read(data.join("pepper.json")).unwrap(), pepper);
    assert_eq!(std::fs::read(data.join("keyring.json")).unwrap(), keyring);
    assert_eq!(
        std::fs::read(data.join("tls/self-signed.crt")).unwrap(),
        cert
    );
    // The pepper and keyring never enter the database.
    let db = std::fs::read(data.join("attest.db")).unwrap();
    let pepper_json: serde_json::Value = serde_json::from_slice(&pepper).unwrap();
    let value = pepper_json["peppers"][0]["value"].as_str().unwrap();
    assert!(!db.windows(value.len()).any(|w| w == value.as_bytes()));
}

/// SEC-02: a pepper that disappears from an existing installation stops the start, naming it.
#[test]
fn sec_02_missing_pepper_on_an_existing_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let data_s = data.to_str().unwrap();
    let out = run(&attest_bin(), &["--data-dir", data_s, "migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("applied 0001_foundation"),
        "{}",
        text(&out)
    );
    let server = spawn_serve(
        &attest_bin(),
        &["--data-dir", data_s],
        &[],
        &dir.path().join("log"),
    );
    assert!(server.terminate().success());
    std::fs::remove_file(data.join("pepper.json")).unwrap();
    let out = run(
        &attest_bin(),
        &["--data-dir", data_s, "serve", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pepper.json"), "{}", text(&out));
    assert!(text(&out).contains("keys.pepper_file"), "{}", text(&out));
    assert!(
        !data.join("pepper.json").exists(),
        "no new pepper is made behind the operator's back"
    );
}

#[test]
fn invalid_configuration_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &attest_bin(),
        &["config", "check"],
        &[("ATTEST_SERVER__LISTEN", "nowhere")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("server.listen"), "{}", text(&out));

    let file = dir.path().join("attest.toml");
    std::fs::write(&file, "[server]\nmax_body_bytes = \"lots\"\n").unwrap();
    let out = run(
        &attest_bin(),
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("max_body_bytes"), "{}", text(&out));

    std::fs::write(&file, "[database]\nurl = \"mysql://x\"\n").unwrap();
    let out = run(
        &attest_bin(),
        &["--config", file.to_str().unwrap(), "serve"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("database.url"), "{}", text(&out));

    std::fs::write(&file, "[sever]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    let out = run(
        &attest_bin(),
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("sever"), "{}", text(&out));
}

/// SEC-82: production mode refuses unsafe settings and names each check.
#[test]
fn sec_82_production_mode_refuses_self_signed_and_keys_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = run(
        &attest_bin(),
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("ATTEST_MODE", "production"),
            ("ATTEST_LOG__LEVEL", "debug"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    for check in [
        "tls.self_signed",
        "keys.pepper_location",
        "keys.keyring_location",
        "log.debug",
        "server.public_url",
    ] {
        assert!(t.contains(check), "{check} not named:\n{t}");
    }
    assert!(!data.join("attest.db").exists(), "nothing was created");
    let out = run(
        &attest_bin(),
        &["--data-dir", data.to_str().unwrap(), "config", "check"],
        &[("ATTEST_MODE", "production")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("tls.self_signed"));
}

/// SEC-65, SEC-72: `config check` never prints a secret.
#[test]
fn sec_65_config_check_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attest.toml");
    std::fs::write(&file, "[metrics]\ntoken = \"file-canary-7f3a\"\n").unwrap();
    let out = run(
        &attest_bin(),
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[
            (
                "ATTEST_DATABASE__URL",
                "postgres://app:pw-canary-91c2@db.example/attest?sslmode=verify-full",
            ),
            ("ATTEST_KEYS__PEPPER", "pepper-canary-55de"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for canary in ["file-canary-7f3a", "pw-canary-91c2", "pepper-canary-55de"] {
        assert!(!t.contains(canary), "{canary} printed:\n{t}");
    }
    assert!(
        t.contains("postgres://app:********@db.example/attest"),
        "{t}"
    );
    assert!(t.contains("metrics.token holds a secret in clear"), "{t}");
}

#[test]
fn admin_db_roles_prints_least_privilege_roles() {
    let out = run(
        &attest_bin(),
        &["admin", "db-roles", "--database", "attest"],
        &[],
    );
    assert!(out.status.success());
    let t = text(&out);
    assert!(t.contains("CREATE ROLE attest_app"));
    assert!(t.contains("NOBYPASSRLS"));
    assert!(t.contains("OWNER attest_owner"));
}
