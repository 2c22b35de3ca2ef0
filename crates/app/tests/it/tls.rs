//! Transport security, black-box with `openssl s_client` (SEC-59), the redirect-only HTTP
//! listener, and certificate reloading without a restart.

use std::process::Command;
use std::time::Duration;

use attest_test_support::{Backend, TestApp};
use reqwest::StatusCode;

/// Runs `openssl s_client` against the server and returns (handshake ok, output).
async fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    let mut argv: Vec<String> = vec![
        "s_client".into(),
        "-connect".into(),
        format!("127.0.0.1:{port}"),
        "-servername".into(),
        "localhost".into(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || {
        let out = Command::new("openssl")
            .args(&argv)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl is installed (Debian package openssl)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let negotiated = text
            .lines()
            .any(|l| l.contains("Cipher is ") && !l.contains("(NONE)") && !l.contains("0000"));
        (out.status.success() && negotiated, text)
    })
    .await
    .unwrap()
}

/// SEC-59: only TLS 1.3 and TLS 1.2 with ECDHE key exchange and AEAD ciphers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_59_only_tls12_ecdhe_aead_and_tls13() {
    let app = TestApp::start(Backend::Sqlite).await;
    let port = app.launched().https_addr().port();
    let seclevel0 = "DEFAULT:@SECLEVEL=0";
    let (ok, out) = s_client(port, &["-tls1_1", "-cipher", seclevel0]).await;
    assert!(!ok, "TLS 1.1 must be refused:\n{out}");
    let (ok, out) = s_client(port, &["-tls1", "-cipher", seclevel0]).await;
    assert!(!ok, "TLS 1.0 must be refused:\n{out}");
    for cbc in [
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "AES128-SHA",
        "AES256-GCM-SHA384",
    ] {
        let (ok, out) =
            s_client(port, &["-tls1_2", "-cipher", &format!("{cbc}:@SECLEVEL=0")]).await;
        assert!(!ok, "TLS 1.2 {cbc} must be refused:\n{out}");
    }
    for aead in [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ] {
        let (ok, out) = s_client(port, &["-tls1_2", "-cipher", aead]).await;
        assert!(ok, "TLS 1.2 {aead} must be accepted:\n{out}");
        assert!(out.contains(aead), "{out}");
    }
    let (ok, out) = s_client(port, &["-tls1_3"]).await;
    assert!(ok, "TLS 1.3 must be accepted:\n{out}");
    assert!(out.contains("TLSv1.3"), "{out}");
    let (ok, out) = s_client(port, &["-tls1_3", "-alpn", "h2"]).await;
    assert!(ok && out.contains("ALPN protocol: h2"), "{out}");
    // A client that speaks plain HTTP to the TLS port gets nothing useful and breaks nothing.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("Attest"));
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await;
}

/// SEC-59: the plain-HTTP listener only redirects safe requests and refuses credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_59_plain_http_only_redirects_and_never_accepts_credentials() {
    let app = TestApp::builder(Backend::Sqlite)
        .env("ATTEST_SERVER__REDIRECT_LISTEN", "127.0.0.1:0")
        .start()
        .await;
    let addr = app.launched().redirect_addr().unwrap();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!("http://{addr}/controls?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("{}/controls?page=2", app.base));
    let r = plain
        .post(format!("http://{addr}/api/login"))
        .form(&[
            ("email", "a@example.com"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.headers().get("location").is_none());
    app.shutdown().await;
}

fn presented_cert(port: u16) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = text.find("-----END CERTIFICATE-----").unwrap();
    text[start..end].to_owned()
}

/// Certificates are re-read when the files change (and on SIGHUP) without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_are_reloaded_without_restart() {
    let app = TestApp::start(Backend::Sqlite).await;
    let port = app.launched().https_addr().port();
    let before = tokio::task::spawn_blocking(move || presented_cert(port))
        .await
        .unwrap();
    assert!(app.cert_pem.contains(before.trim_end()));
    let pair = attest_crypto::tls::self_signed_localhost(attest_types::Clock::now(
        &attest_types::SystemClock,
    ))
    .unwrap();
    let tls = app.data_dir.path().join("tls");
    std::fs::write(tls.join("self-signed.key"), pair.key_pem.as_bytes()).unwrap();
    std::fs::write(tls.join("self-signed.crt"), pair.cert_pem.as_bytes()).unwrap();
    let mut after = before.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = tokio::task::spawn_blocking(move || presented_cert(port))
            .await
            .unwrap();
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "the new certificate is served");
    assert!(pair.cert_pem.contains(after.trim_end()));
    // A broken file keeps the previous certificate in service.
    std::fs::write(tls.join("self-signed.crt"), b"not a certificate").unwrap();
    app.launched().reload();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = tokio::task::spawn_blocking(move || presented_cert(port))
        .await
        .unwrap();
    assert_eq!(still, after);
    app.shutdown().await;
}

/// Malformed HTTP inside a valid TLS session gets a clear 400 and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_over_tls_gets_400() {
    let app = TestApp::start(Backend::Sqlite).await;
    let port = app.launched().https_addr().port();
    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: localhost\r\nBad Header Without Colon\r\n\r\n",
    ] {
        let out = tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut child = Command::new("openssl")
                .args([
                    "s_client",
                    "-quiet",
                    "-alpn",
                    "http/1.1",
                    "-connect",
                    &format!("127.0.0.1:{port}"),
                    "-servername",
                    "localhost",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(garbage.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .await
        .unwrap();
        assert!(out.starts_with("HTTP/1.1 400 "), "{garbage:?} → {out}");
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await;
}
