//! A real OpenID Connect provider process for the SSO tests: `oidc/provider.mjs` (npm
//! `oidc-provider`, see `oidc/README.md`). [`OidcProvider::start`] runs `npm ci` in that folder
//! once when `node_modules` is missing, writes the configuration, spawns `node provider.mjs`
//! with a piped standard input (the provider exits when it closes), and reads the one JSON
//! line `{"issuer", "port"}`. [`OidcProvider::set_mode`] switches the test modes
//! (`wrong_audience`, `alg_none`, `replay_nonce`, `discovery_down`, …), and
//! [`OidcProvider::authorize`] plays the browser through the provider's redirect-only login.
//! Dropping it kills the process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, ChildStdin, Command};

/// A user the provider knows (`login_hint=<sub>` picks it).
#[derive(Debug, Clone)]
pub struct OidcUser {
    /// Subject.
    pub sub: String,
    /// Email claim.
    pub email: String,
    /// `email_verified` claim.
    pub email_verified: bool,
    /// Name claim.
    pub name: String,
}

impl OidcUser {
    /// A user with a verified email.
    #[must_use]
    pub fn verified(sub: &str, email: &str, name: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            name: name.to_owned(),
        }
    }
}

/// The running provider.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    _stdin: ChildStdin,
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
    /// Its port.
    pub port: u16,
    /// The client id registered.
    pub client_id: String,
    /// The client secret registered.
    pub client_secret: String,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

static NPM: Mutex<()> = Mutex::new(());

/// The provider's folder in the source tree.
#[must_use]
pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Installs the provider's npm packages once (`npm ci`), serialised across tests.
pub fn ensure_installed() {
    let dir = provider_dir();
    let _guard = NPM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run npm ci in {} (install Node 20+ and npm): {e}",
                dir.display()
            )
        });
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

impl OidcProvider {
    /// Starts a provider with one confidential client (`client_secret_basic`) redirecting to
    /// `redirect_uri`, and these users.
    pub async fn start(redirect_uri: &str, users: &[OidcUser]) -> Self {
        Self::start_with(
            redirect_uri,
            "attest-test",
            "provider-secret-1b7c",
            users,
            0,
        )
        .await
    }

    /// Starts a provider with a given client id and secret, on `port` (0: any free port; the
    /// port of a stopped provider gives a new process with the same issuer).
    pub async fn start_with(
        redirect_uri: &str,
        client_id: &str,
        client_secret: &str,
        users: &[OidcUser],
        port: u16,
    ) -> Self {
        tokio::task::spawn_blocking(ensure_installed)
            .await
            .unwrap_or_else(|e| panic!("npm ci: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let config = serde_json::json!({
            "port": port,
            "clients": [{
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": [redirect_uri],
            }],
            "users": users.iter().map(|u| serde_json::json!({
                "sub": u.sub, "email": u.email, "email_verified": u.email_verified, "name": u.name,
            })).collect::<Vec<_>>(),
        });
        let path = dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).unwrap_or_else(|e| panic!("config: {e}"));
        let mut child = Command::new("node")
            .arg(provider_dir().join("provider.mjs"))
            .arg(&path)
            .current_dir(provider_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node (Node 20+ needed): {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the OpenID provider did not start within 30 s"))
            .unwrap_or_else(|e| panic!("provider stdout: {e}"))
            .unwrap_or_else(|| panic!("the OpenID provider exited before it was ready"));
        // Keep draining stdout (it prints nothing more, but never block it).
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let ready: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        let issuer = ready["issuer"].as_str().unwrap_or_default().to_owned();
        let port = u16::try_from(ready["port"].as_u64().unwrap_or_default()).unwrap_or_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self {
            child,
            _stdin: stdin,
            issuer,
            port,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            _dir: dir,
            http,
        }
    }

    /// Sets a test mode (`POST /__test/mode`); one-shot modes apply to the next token request.
    pub async fn set_mode(&self, mode: &str) {
        let r = self
            .http
            .post(format!("{}/__test/mode", self.issuer))
            .json(&serde_json::json!({ "mode": mode }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("set mode {mode}: {e}"));
        assert!(r.status().is_success(), "set mode {mode}: {}", r.status());
    }

    /// Plays the browser at the provider: follows its redirects (keeping its cookies) from
    /// the authorization URL until it redirects to a URL starting with `back_to`, and returns
    /// that URL.
    pub async fn authorize(&self, url: &str, back_to: &str) -> String {
        let mut jar: HashMap<String, String> = HashMap::new();
        let mut next = url.to_owned();
        for _ in 0..10 {
            if next.starts_with(back_to) {
                return next;
            }
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let r = self
                .http
                .get(&next)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {next}: {e}"));
            for v in r.headers().get_all("set-cookie") {
                let text = v.to_str().unwrap_or_default();
                let pair = text.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty() {
                        jar.remove(k.trim());
                    } else {
                        jar.insert(k.trim().to_owned(), v.trim().to_owned());
                    }
                }
            }
            let status = r.status();
            let Some(location) = r.headers().get("location").and_then(|l| l.to_str().ok()) else {
                panic!(
                    "the provider answered {status} without a redirect: {}",
                    r.text().await.unwrap_or_default()
                );
            };
            next = if location.starts_with('/') {
                format!("{}{location}", self.issuer)
            } else {
                location.to_owned()
            };
        }
        panic!("the provider did not redirect back within 10 hops");
    }
}

impl OidcProvider {
    /// Stops the process and waits until it has exited (its port is free again).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
