//! A real SMTP server process for tests: Python's `aiosmtpd` with its Maildir handler. Tests
//! point Attest at it and read what arrives.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A running `aiosmtpd` that stores every message in a Maildir.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    /// Messages a test has set aside with [`SmtpSink::forget`].
    skip: std::sync::atomic::AtomicUsize,
}

/// One received message: recipient and decoded text.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `To:` header.
    pub to: String,
    /// The `Subject:` header.
    pub subject: String,
    /// The body, transfer-decoded.
    pub body: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl SmtpSink {
    /// Starts the server and waits until it accepts connections.
    #[allow(clippy::disallowed_methods)] // a short wait before the test's server exists
    pub fn start() -> Self {
        for attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let maildir = dir.path().join("mail");
            let port = free_port();
            let child = Command::new("python3")
                .args([
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    &format!("127.0.0.1:{port}"),
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                ])
                .arg(&maildir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start aiosmtpd (pip install aiosmtpd): {e}"));
            let mut sink = Self {
                child,
                port,
                dir,
                skip: std::sync::atomic::AtomicUsize::new(0),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return sink;
                }
                if let Ok(Some(_)) = sink.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(sink);
            assert!(
                attempt < 4,
                "aiosmtpd did not start (is the Python package aiosmtpd installed?)"
            );
        }
        unreachable!()
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) {
                out.extend(entries.flatten().map(|e| e.path()));
            }
        }
        // Arrival order: Maildir names do not sort by time within a second.
        out.sort_by_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.clone(),
            )
        });
        out
    }

    /// Every message received so far (after those set aside).
    #[must_use]
    pub fn messages(&self) -> Vec<Received> {
        let skip = self.skip.load(std::sync::atomic::Ordering::SeqCst);
        self.files()
            .iter()
            .skip(skip)
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|raw| parse(&raw))
            .collect()
    }

    /// Waits for `n` more messages and sets them aside (e.g. the notice that a second factor
    /// was added, which every owner's bootstrap sends); returns them.
    pub async fn forget(&self, n: usize) -> Vec<Received> {
        let seen = self.wait_for(n).await;
        assert!(
            seen.len() >= n,
            "expected {n} message(s), got {}",
            seen.len()
        );
        self.skip
            .fetch_add(seen.len(), std::sync::atomic::Ordering::SeqCst);
        seen
    }

    /// Waits until at least `n` messages have arrived (or 15 s passed) and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(head: &str, name: &str) -> String {
    let mut value = String::new();
    let mut in_header = false;
    for line in head.lines() {
        if in_header && (line.starts_with(' ') || line.starts_with('\t')) {
            value.push_str(line.trim());
            continue;
        }
        in_header = false;
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = v.trim().to_owned();
            in_header = true;
        }
    }
    value
}

fn parse(raw: &str) -> Received {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let encoding = header(head, "Content-Transfer-Encoding").to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        "quoted-printable" => decode_qp(body),
        _ => body.to_owned(),
    };
    Received {
        to: header(head, "To"),
        subject: header(head, "Subject"),
        body,
    }
}

fn decode_qp(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Received {
    /// The first `https://…/prefix/<token>` link in the body, as a path.
    #[must_use]
    pub fn link_path(&self, prefix: &str) -> Option<String> {
        let start = self.body.find(prefix)?;
        let rest = &self.body[start..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}
