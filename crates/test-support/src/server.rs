//! The real server, in-process, on an ephemeral TLS port.

use std::sync::Arc;

use attest_app::launch::{Launch, Launched, launch};
use attest_config::{Config, Overrides};
use attest_types::ManualClock;
use attest_web::AppState;
use axum::Router;
use tempfile::TempDir;
use time::macros::datetime;

use crate::db::{Backend, TestDb};

/// Configures a [`TestApp`].
#[derive(Debug)]
pub struct TestAppBuilder {
    backend: Backend,
    env: Vec<(String, String)>,
    extra: Option<Router<AppState>>,
    wall_clock: bool,
}

/// A running server for one test.
#[derive(Debug)]
pub struct TestApp {
    /// The server (state: database, audit log, keys).
    pub launched: Option<Launched>,
    /// The clock the server reads; advance it to test expiry.
    pub clock: ManualClock,
    /// A client that trusts only this server's certificate, follows no redirects, keeps no
    /// cookies unless a test adds them.
    pub client: reqwest::Client,
    /// `https://localhost:PORT`
    pub base: String,
    /// The PEM certificate the server presents.
    pub cert_pem: String,
    /// The database.
    pub db: TestDb,
    /// The data directory (removed at the end).
    pub data_dir: TempDir,
}

impl TestAppBuilder {
    /// Sets a configuration value as an `ATTEST_…` environment entry would.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sends mail to an SMTP sink (plain SMTP on loopback, development mode).
    #[must_use]
    pub fn mail_to(self, sink: &crate::SmtpSink) -> Self {
        self.env("ATTEST_MAIL__SMTP_HOST", "127.0.0.1")
            .env("ATTEST_MAIL__SMTP_PORT", &sink.port.to_string())
            .env("ATTEST_MAIL__SECURITY", "none")
            .env("ATTEST_MAIL__FROM", "Attest <attest@example.org>")
    }

    /// Keeps evidence files in a real S3 server's bucket (plain HTTP on loopback: development
    /// mode only).
    #[must_use]
    pub fn s3(self, s3: &crate::peers::S3Server) -> Self {
        self.env("ATTEST_STORAGE__BACKEND", "s3")
            .env("ATTEST_STORAGE__S3__BUCKET", &s3.bucket)
            .env("ATTEST_STORAGE__S3__ENDPOINT", &s3.endpoint)
            .env("ATTEST_STORAGE__S3__ACCESS_KEY_ID", "test")
            .env("ATTEST_STORAGE__S3__SECRET_ACCESS_KEY", "test-secret-key")
    }

    /// Keeps evidence files in an Azurite container.
    #[must_use]
    pub fn azure(self, azurite: &crate::peers::Azurite) -> Self {
        self.env("ATTEST_STORAGE__BACKEND", "azure")
            .env(
                "ATTEST_STORAGE__AZURE__ACCOUNT",
                crate::peers::AZURITE_ACCOUNT,
            )
            .env("ATTEST_STORAGE__AZURE__CONTAINER", &azurite.container)
            .env("ATTEST_STORAGE__AZURE__ENDPOINT", &azurite.endpoint)
            .env(
                "ATTEST_STORAGE__AZURE__ACCESS_KEY",
                crate::peers::AZURITE_KEY,
            )
    }

    /// Scans uploads with a real clamd.
    #[must_use]
    pub fn clamd(self, clamd: &crate::peers::Clamd) -> Self {
        self.env("ATTEST_STORAGE__CLAMD", &clamd.addr)
    }

    /// Starts the manual clock at the wall clock's time instead of the fixed test date, for
    /// tests that talk to real peers checking times themselves (an OpenID provider's tokens);
    /// the bootstrap link is then issued at that time too.
    #[must_use]
    pub fn wall_clock(mut self) -> Self {
        self.wall_clock = true;
        self
    }

    /// Adds routes that pass through the full middleware stack (test builds only).
    #[must_use]
    pub fn routes(mut self, extra: Router<AppState>) -> Self {
        self.extra = Some(extra);
        self
    }

    /// Starts the server.
    pub async fn start(self) -> TestApp {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let db = TestDb::create(self.backend, data_dir.path()).await;
        let mut env = vec![
            ("ATTEST_DATABASE__URL".to_owned(), db.url.clone()),
            (
                "ATTEST_DATABASE__MIGRATION_URL".to_owned(),
                db.owner_url.clone(),
            ),
            ("ATTEST_DATABASE__MAX_CONNECTIONS".to_owned(), pool_size()),
        ];
        env.extend(self.env);
        let config = Config::load(
            None,
            env,
            &Overrides {
                data_dir: Some(data_dir.path().to_path_buf()),
                listen: Some("127.0.0.1:0".to_owned()),
            },
        )
        .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let clock = ManualClock::new(if self.wall_clock {
            attest_types::Clock::now(&attest_types::SystemClock)
        } else {
            datetime!(2026-11-23 09:00 UTC)
        });
        let launched = launch(Launch {
            config,
            secrets_in_file: Vec::new(),
            clock: Arc::new(clock.clone()),
            extra_routes: self.extra,
            migrate: true,
        })
        .await
        .unwrap_or_else(|e| panic!("the server did not start: {e}"));
        let cert_pem = std::fs::read_to_string(data_dir.path().join("tls/self-signed.crt"))
            .unwrap_or_else(|e| panic!("certificate: {e}"));
        let client = client_trusting(&cert_pem);
        let base = format!("https://localhost:{}", launched.https_addr().port());
        TestApp {
            launched: Some(launched),
            clock,
            client,
            base,
            cert_pem,
            db,
            data_dir,
        }
    }
}

/// The pool size of test servers: 8, or `ATTEST_TEST_POOL_SIZE`. Run the suite with 1 to
/// find code that holds a connection (a transaction) while it waits for another: with one
/// connection such code times out instead of passing, where in production a pool full of
/// such requests would wait on itself.
fn pool_size() -> String {
    std::env::var("ATTEST_TEST_POOL_SIZE")
        .ok()
        .filter(|v| v.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or_else(|| "8".to_owned())
}

/// An HTTP client that trusts exactly one certificate.
#[must_use]
pub fn client_trusting(cert_pem: &str) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes())
        .unwrap_or_else(|e| panic!("certificate: {e}"));
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

impl TestApp {
    /// A builder on a backend.
    #[must_use]
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            env: Vec::new(),
            extra: None,
            wall_clock: false,
        }
    }

    /// A server with the default test configuration.
    pub async fn start(backend: Backend) -> Self {
        Self::builder(backend).start().await
    }

    /// The server's state (database, audit log, keys).
    #[must_use]
    pub fn state(&self) -> &AppState {
        match &self.launched {
            Some(l) => &l.state,
            None => panic!("the server was shut down"),
        }
    }

    /// The running server.
    #[must_use]
    pub fn launched(&self) -> &Launched {
        match &self.launched {
            Some(l) => l,
            None => panic!("the server was shut down"),
        }
    }

    /// A fresh browser (empty cookie jar) pointed at this server.
    #[must_use]
    pub fn browser(&self) -> crate::Browser {
        crate::Browser::new(self.client.clone(), &self.base)
    }

    /// The bootstrap link printed at start (while no user exists), as a path.
    #[must_use]
    pub fn bootstrap_path(&self) -> Option<String> {
        self.launched().bootstrap_link.as_ref().and_then(|l| {
            l.strip_prefix(&self.launched().public_url)
                .map(str::to_owned)
        })
    }

    /// An absolute URL for a path.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
    }

    /// Stops the server gracefully.
    pub async fn shutdown(mut self) {
        if let Some(l) = self.launched.take() {
            l.shutdown().await;
        }
    }
}
