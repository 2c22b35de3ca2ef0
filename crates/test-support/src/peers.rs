//! Real object-store and malware-scanner servers for the evidence tests, each a child process
//! on a loopback port (recipes in `peers/README.md`):
//!
//! - [`S3Server`]: moto's S3 (`python3 -m moto.server`, PyPI `moto[server]` pinned in
//!   `peers/moto/requirements.txt`), with a bucket made for the test.
//! - [`Azurite`]: Microsoft's Azure Storage emulator (npm `azurite`, pinned in
//!   `peers/azurite/package-lock.json`; `npm ci` runs there once when `node_modules` is
//!   missing), with a container made for the test.
//! - [`Clamd`]: the ClamAV daemon (Debian `clamav-daemon`) with only `peers/clamd/eicar.ndb`
//!   as its signature database, so it needs no download.
//!
//! Dropping one kills its process. A missing program fails the test with what to install.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known shared key (public: it is in Microsoft's documentation).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Reads lines of `reader` until one contains `marker`; returns the text after
/// `http://127.0.0.1:` on that line, the port.
async fn port_from<R: tokio::io::AsyncRead + Unpin>(reader: R, marker: &str, what: &str) -> u16 {
    let mut lines = tokio::io::BufReader::new(reader).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(marker)
                && let Some(rest) = line.split("http://127.0.0.1:").nth(1)
            {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse() {
                    return Some(p);
                }
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(p)) => p,
        _ => panic!("{what} did not start (no \"{marker}\" line)"),
    }
}

/// moto's S3 server with one bucket.
#[derive(Debug)]
pub struct S3Server {
    _child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The bucket made for the test.
    pub bucket: String,
}

impl S3Server {
    /// Starts the server and creates a bucket.
    pub async fn start() -> Self {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 -m moto.server: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("moto stderr"));
        let port = port_from(
            stderr,
            "Running on",
            "moto (pip install -r crates/test-support/peers/moto/requirements.txt)",
        )
        .await;
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = format!("evidence-{}", uuid::Uuid::new_v4().simple());
        let r = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket: {e}"));
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        Self {
            _child: child,
            endpoint,
            bucket,
        }
    }
}

static NPM: Mutex<()> = Mutex::new(());

fn ensure_azurite() {
    let dir = peers_dir().join("azurite");
    let _guard = NPM
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join("node_modules/azurite/package.json").exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run npm ci in {}: {e}", dir.display()));
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// Azurite's blob service with one container.
#[derive(Debug)]
pub struct Azurite {
    _child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`
    pub endpoint: String,
    /// The container made for the test.
    pub container: String,
}

impl Azurite {
    /// Starts the emulator (in memory) and creates a container.
    pub async fn start() -> Self {
        tokio::task::spawn_blocking(ensure_azurite)
            .await
            .unwrap_or_else(|e| panic!("npm ci: {e}"));
        let dir = peers_dir().join("azurite");
        let mut child = Command::new("node")
            .arg(dir.join("node_modules/azurite/dist/src/blob/main.js"))
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--extentMemoryLimit",
                "512",
                "--silent",
                "--loose",
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start azurite with node: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("azurite stdout"));
        let port = port_from(stdout, "successfully listens", "azurite").await;
        let endpoint = format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}");
        let container = format!("evidence-{}", uuid::Uuid::new_v4().simple());
        let status = Command::new("python3")
            .arg(dir.join("create_container.py"))
            .args([&endpoint, &container])
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap_or_else(|e| panic!("create_container.py: {e}"));
        assert!(status.success(), "creating the Azurite container failed");
        Self {
            _child: child,
            endpoint,
            container,
        }
    }
}

/// The ClamAV daemon, knowing only the EICAR test signature.
#[derive(Debug)]
pub struct Clamd {
    _child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Clamd {
    /// A loopback port free now (clamd cannot pick one itself).
    #[must_use]
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"))
    }

    /// Starts clamd (`StreamMaxLength` 100M) on a free port and waits until it answers.
    pub async fn start() -> Self {
        Self::start_on(Self::free_port()).await
    }

    /// Starts clamd on `port` and waits until it answers `PING`.
    pub async fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(peers_dir().join("clamd/eicar.ndb"), db.join("eicar.ndb"))
            .unwrap_or_else(|e| panic!("eicar.ndb: {e}"));
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nTCPAddr 127.0.0.1\nTCPSocket {port}\nDatabaseDirectory {}\n\
                 TemporaryDirectory {}\nPidFile {}\nStreamMaxLength 100M\nSelfCheck 0\n",
                db.display(),
                dir.path().display(),
                dir.path().join("clamd.pid").display()
            ),
        )
        .unwrap_or_else(|e| panic!("clamd.conf: {e}"));
        let clamd = ["/usr/sbin/clamd", "clamd"]
            .into_iter()
            .find(|p| !p.starts_with('/') || Path::new(p).exists())
            .unwrap_or("clamd");
        let child = Command::new(clamd)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start clamd (apt-get install clamav-daemon): {e}"));
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if ping(&addr).await {
                return Self {
                    _child: child,
                    addr,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clamd did not answer PING on {addr}");
    }
}

async fn ping(addr: &str) -> bool {
    let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    if conn.write_all(b"zPING\0").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 5];
    conn.read_exact(&mut reply).await.is_ok() && &reply == b"PONG\0"
}

/// The EICAR anti-virus test file, built from the signature's hex so that no copy of it sits
/// in the source tree.
#[must_use]
pub fn eicar() -> Vec<u8> {
    let text = std::fs::read_to_string(peers_dir().join("clamd/eicar.ndb"))
        .unwrap_or_else(|e| panic!("eicar.ndb: {e}"));
    let hex = text.trim().rsplit(':').next().unwrap_or_default();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default())
        .collect()
}
