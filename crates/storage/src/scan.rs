//! A client for the ClamAV daemon's INSTREAM protocol (SEC-58): `zINSTREAM\0`, then the file
//! as chunks each prefixed with its length (u32, big-endian), then a zero length; clamd
//! answers `stream: OK` or `stream: <signature> FOUND`, NUL-terminated. Used while an upload
//! streams, so the file is scanned without being written to disk in clear anywhere.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerAddr {
    /// `host:port` (clamd's `TCPSocket`).
    Tcp(String),
    /// A Unix socket path (clamd's `LocalSocket`).
    Unix(PathBuf),
}

impl ScannerAddr {
    /// `unix:/path` or `/path` for a Unix socket, else `host:port`.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("unix:") {
            Some(p) => Self::Unix(PathBuf::from(p)),
            None if text.starts_with('/') => Self::Unix(PathBuf::from(text)),
            None => Self::Tcp(text.to_owned()),
        }
    }
}

/// A scan failed to give a verdict (the file is then held back, never released).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// clamd could not be reached or the connection failed.
    #[error("the malware scanner is unreachable: {0}")]
    Unreachable(String),
    /// clamd did not answer in time.
    #[error("the malware scanner did not answer in time")]
    Timeout,
    /// clamd answered with an error (e.g. the file exceeds its `StreamMaxLength`).
    #[error("the malware scanner refused the file: {0}")]
    Refused(String),
}

/// What clamd found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Clean,
    /// A signature matched; its name (printable ASCII, at most 100 characters).
    Infected(String),
}

/// A clamd client.
#[derive(Debug, Clone)]
pub struct Scanner {
    addr: ScannerAddr,
    timeout: Duration,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// Largest piece sent in one INSTREAM chunk.
const PIECE: usize = 256 * 1024;

impl Scanner {
    /// A client for clamd at `addr`; every network step must finish within `timeout`.
    #[must_use]
    pub const fn new(addr: ScannerAddr, timeout: Duration) -> Self {
        Self { addr, timeout }
    }

    async fn connect(&self) -> Result<Box<dyn Conn>, ScanError> {
        let fut = async {
            Ok::<Box<dyn Conn>, std::io::Error>(match &self.addr {
                ScannerAddr::Tcp(a) => Box::new(tokio::net::TcpStream::connect(a).await?),
                #[cfg(unix)]
                ScannerAddr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
                #[cfg(not(unix))]
                ScannerAddr::Unix(_) => {
                    return Err(std::io::Error::other("unix sockets are not supported"));
                }
            })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| ScanError::Timeout)?
            .map_err(|e| ScanError::Unreachable(e.kind().to_string()))
    }

    /// `zPING` → `PONG`: whether clamd answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let mut conn = self.connect().await?;
        let reply = tokio::time::timeout(self.timeout, async {
            conn.write_all(b"zPING\0").await?;
            read_reply(&mut conn).await
        })
        .await
        .map_err(|_| ScanError::Timeout)?
        .map_err(|e| ScanError::Unreachable(e.kind().to_string()))?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(ScanError::Refused(printable(&reply)))
        }
    }

    /// Opens an INSTREAM session.
    ///
    /// # Errors
    /// When clamd is unreachable.
    pub async fn start(&self) -> Result<ScanSession, ScanError> {
        let mut conn = self.connect().await?;
        self.step(conn.write_all(b"zINSTREAM\0")).await?;
        Ok(ScanSession {
            conn,
            timeout: self.timeout,
        })
    }

    async fn step<T>(
        &self,
        fut: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ScanError> {
        step(self.timeout, fut).await
    }
}

async fn step<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, ScanError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ScanError::Timeout)?
        .map_err(|e| ScanError::Unreachable(e.kind().to_string()))
}

/// One file being scanned.
pub struct ScanSession {
    conn: Box<dyn Conn>,
    timeout: Duration,
}

impl std::fmt::Debug for ScanSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanSession").finish_non_exhaustive()
    }
}

impl ScanSession {
    /// Sends the next bytes of the file.
    ///
    /// # Errors
    /// When the connection fails (clamd closes it when the file exceeds its limit).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ScanError> {
        for piece in data.chunks(PIECE) {
            let len = u32::try_from(piece.len()).map_err(|_| ScanError::Refused("chunk".into()))?;
            let conn = &mut self.conn;
            let sent = step(self.timeout, async {
                conn.write_all(&len.to_be_bytes()).await?;
                conn.write_all(piece).await
            })
            .await;
            if let Err(e) = sent {
                // clamd answers a refusal (e.g. "INSTREAM size limit exceeded") and closes
                // the connection; read why, if it said.
                let reason = step(self.timeout, read_reply(&mut self.conn)).await;
                return Err(match reason {
                    Ok(r) if !r.is_empty() => ScanError::Refused(printable(&r)),
                    _ => e,
                });
            }
        }
        Ok(())
    }

    /// Ends the file and reads the verdict.
    ///
    /// # Errors
    /// When clamd fails or answers anything but a verdict.
    pub async fn finish(mut self) -> Result<Verdict, ScanError> {
        let conn = &mut self.conn;
        let reply = step(self.timeout, async {
            conn.write_all(&0u32.to_be_bytes()).await?;
            conn.flush().await?;
            read_reply(conn).await
        })
        .await?;
        parse_verdict(&reply)
    }
}

/// Reads up to the NUL that ends a `z`-command reply (at most 4 KiB).
async fn read_reply(conn: &mut Box<dyn Conn>) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while out.len() < 4096 {
        if conn.read(&mut byte).await? == 0 || byte[0] == 0 {
            break;
        }
        out.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(100)
        .collect()
}

fn parse_verdict(reply: &str) -> Result<Verdict, ScanError> {
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Ok(Verdict::Clean),
        Some(found) if found.ends_with(" FOUND") => Ok(Verdict::Infected(printable(
            found.trim_end_matches(" FOUND").trim(),
        ))),
        _ => Err(ScanError::Refused(printable(reply))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_and_anything_else_is_an_error() {
        assert!(matches!(parse_verdict("stream: OK"), Ok(Verdict::Clean)));
        assert!(matches!(
            parse_verdict("stream: Eicar-Test-Signature FOUND"),
            Ok(Verdict::Infected(name)) if name == "Eicar-Test-Signature"
        ));
        assert!(matches!(
            parse_verdict("INSTREAM size limit exceeded. ERROR"),
            Err(ScanError::Refused(_))
        ));
        assert!(matches!(parse_verdict(""), Err(ScanError::Refused(_))));
        assert!(matches!(
            parse_verdict("stream: \u{1b}[31mEvil\r\n FOUND"),
            Ok(Verdict::Infected(name)) if name == "[31mEvil"
        ));
        assert_eq!(
            ScannerAddr::parse("127.0.0.1:3310"),
            ScannerAddr::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            ScannerAddr::parse("unix:/run/clamd.ctl"),
            ScannerAddr::Unix("/run/clamd.ctl".into())
        );
    }
}
