//! Logs: JSON lines with request id, method, route, status, latency and actor; never a
//! cookie, Authorization header, body, query string, password, token or key (SEC-72).

use attest_test_support::binary::spawn_serve;
use attest_test_support::server_client;

use crate::attest_bin;

const CANARY: &str = "Canary-4b1d9e-SECRET";

/// SEC-72: a canary secret sent in a cookie, headers, a query string and a body never
/// reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_72_canary_secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let log = dir.path().join("stderr.log");
    let server = spawn_serve(
        &attest_bin(),
        &["--data-dir", data.to_str().unwrap()],
        &[
            ("ATTEST_METRICS__TOKEN", "metrics-token-abcdefghijkl"),
            ("ATTEST_LOG__LEVEL", "info"),
        ],
        &log,
    );
    let cert = std::fs::read_to_string(data.join("tls/self-signed.crt")).unwrap();
    let client = server_client(&cert);
    let base = server.base.clone();
    let requests = vec![
        client
            .get(format!("{base}/"))
            .header("cookie", format!("__Host-session={CANARY}")),
        client
            .get(format!("{base}/healthz"))
            .header("authorization", format!("Bearer {CANARY}")),
        client
            .get(format!("{base}/metrics"))
            .header("authorization", format!("Bearer {CANARY}")),
        client.get(format!("{base}/nowhere?token={CANARY}&password={CANARY}")),
        client
            .post(format!("{base}/login"))
            .header("x-api-key", CANARY)
            .body(format!("email=a@b.c&password={CANARY}")),
        client
            .post(format!("{base}/api/v1/things"))
            .json(&serde_json::json!({ "secret": CANARY })),
        client.get(format!("{base}/{CANARY}")),
    ];
    for r in requests {
        let _ = r.send().await.unwrap();
    }
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains(CANARY),
        "a canary reached the log:\n{logged}"
    );
    assert!(!logged.to_lowercase().contains("canary"), "{logged}");
    // Every line is JSON; request lines carry the agreed fields.
    let mut access = 0;
    for line in logged.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["message"] == "request" {
            access += 1;
            for field in [
                "request_id",
                "method",
                "route",
                "status",
                "latency_ms",
                "actor",
                "client_ip",
            ] {
                assert!(!v[field].is_null(), "{field} missing: {line}");
            }
        }
    }
    assert_eq!(access, 7, "{logged}");
    // A path that carried the canary is logged by its route, not its text.
    assert!(logged.contains("\"route\":\"unmatched\""));
}
