//! The moving parts of uploads and downloads: the incoming file as a stream, the first bytes
//! held back for type detection, the last bytes kept for archive inspection, the copy sent to
//! the malware scanner, and byte ranges.

use std::sync::{Arc, Mutex, PoisonError};

use attest_storage::scan::{ScanError, Scanner, Verdict};
use attest_storage::{ByteRange, PlainStream};
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt as _};

use super::EvidenceError;

/// How many first bytes decide a file's type.
pub const SNIFF: usize = 512;

/// A file arriving from a client.
pub struct Upload<S> {
    /// The name the client gave (only shown, made safe; never a storage key).
    pub file_name: String,
    /// The file's bytes. An error item means the upload broke off: nothing is kept.
    pub body: S,
}

impl<S> std::fmt::Debug for Upload<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

/// A body broke off; the detail does not matter to the store.
#[derive(Debug, Clone, Copy)]
pub(super) struct BrokenBody;

pub(super) type Body = BoxStream<'static, Result<Bytes, BrokenBody>>;

/// Reads until at least [`SNIFF`] bytes (or the end) have arrived; returns them and the
/// whole stream again, starting with them.
pub(super) async fn sniff<S, E>(body: S) -> Result<(Bytes, Body), EvidenceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
{
    // Fused: a stream that has ended is never polled again (some panic if they are).
    let mut body = body.map(|r| r.map_err(|_| BrokenBody)).fuse().boxed();
    let mut head = BytesMut::new();
    while head.len() < SNIFF {
        match body.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            Some(Err(_)) => return Err(EvidenceError::Interrupted),
            None => break,
        }
    }
    let head = head.freeze();
    let whole = futures_util::stream::iter([Ok(head.clone())])
        .chain(body)
        .boxed();
    Ok((head, whole))
}

/// The last bytes of a stream (at most `keep`), kept while it passes.
#[derive(Debug, Clone, Default)]
pub(super) struct Tail(Arc<Mutex<BytesMut>>);

impl Tail {
    /// Passes `body` through, keeping its last `keep` bytes.
    pub(super) fn keep(&self, body: Body, keep: usize) -> Body {
        let tail = Arc::clone(&self.0);
        body.inspect(move |piece| {
            if let Ok(p) = piece {
                let mut t = tail.lock().unwrap_or_else(PoisonError::into_inner);
                t.extend_from_slice(p);
                if t.len() > 2 * keep {
                    let drop = t.len() - keep;
                    let _ = t.split_to(drop);
                }
            }
        })
        .boxed()
    }

    /// The kept bytes (the last `keep` of them).
    pub(super) fn bytes(&self, keep: usize) -> Bytes {
        let t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let from = t.len().saturating_sub(keep);
        Bytes::copy_from_slice(&t[from..])
    }
}

/// A scan running beside an upload.
pub(super) type ScanTask = tokio::task::JoinHandle<Result<Verdict, ScanError>>;

/// Sends a copy of every piece of `body` to clamd while it passes; the task yields the
/// verdict once the body has ended. Back-pressure: the upload waits for the scanner.
pub(super) fn tee_to_scanner(body: Body, scanner: &Scanner) -> (Body, ScanTask) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let scanner = scanner.clone();
    let task = tokio::spawn(async move {
        let mut session = scanner.start().await?;
        while let Some(piece) = rx.recv().await {
            session.send(&piece).await?;
        }
        session.finish().await
    });
    let body = body
        .then(move |piece| {
            let tx = tx.clone();
            async move {
                if let Ok(p) = &piece {
                    // A scanner that failed has dropped its end; the verdict will say so.
                    let _ = tx.send(p.clone()).await;
                }
                piece
            }
        })
        .boxed();
    (body, task)
}

/// Scans a stored file's plaintext again (a version whose first scan gave no verdict).
pub(super) async fn scan_stream(
    mut plain: PlainStream,
    scanner: &Scanner,
) -> Result<Result<Verdict, ScanError>, EvidenceError> {
    let mut session = match scanner.start().await {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    while let Some(piece) = plain.next().await {
        let piece = piece.map_err(EvidenceError::from)?;
        if let Err(e) = session.send(&piece).await {
            return Ok(Err(e));
        }
    }
    Ok(session.finish().await)
}

/// A `Range: bytes=…` request, before the file's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// `bytes=a-b` (inclusive, as in HTTP).
    FromTo(u64, u64),
    /// `bytes=a-`
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl RangeRequest {
    /// Parses one range of a `Range` header; `None` for anything else (several ranges, other
    /// units, nonsense), which is answered with the whole file as HTTP allows.
    #[must_use]
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        match (a.is_empty(), b.is_empty()) {
            (true, false) => b.parse().ok().map(Self::Suffix),
            (false, true) => a.parse().ok().map(Self::From),
            (false, false) => {
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some(Self::FromTo(a, b))
            }
            (true, true) => None,
        }
    }

    /// The half-open byte range within a file of `size` bytes (RFC 9110 §14.1.2).
    ///
    /// # Errors
    /// [`EvidenceError::RangeNotSatisfiable`] when it lies wholly outside.
    pub fn resolve(self, size: u64) -> Result<ByteRange, EvidenceError> {
        let unsatisfiable = EvidenceError::RangeNotSatisfiable { size };
        let (start, end) = match self {
            Self::FromTo(a, b) => (a, b.saturating_add(1).min(size)),
            Self::From(a) => (a, size),
            Self::Suffix(n) => (size.saturating_sub(n), size),
        };
        if start >= size || (matches!(self, Self::Suffix(0))) {
            return Err(unsatisfiable);
        }
        Ok(ByteRange { start, end })
    }
}

/// A range with its `If-Range` validator: the range applies only while the file's SHA-256
/// (hex) is still `if_sha256`; otherwise the whole file is sent (RFC 9110 §13.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeWanted {
    /// The range.
    pub range: RangeRequest,
    /// The hash the client's copy has.
    pub if_sha256: Option<String>,
}

/// A download: the facts for the response headers and the plaintext.
pub struct Download {
    /// The safe file name.
    pub file_name: String,
    /// The media type.
    pub media_type: String,
    /// The whole file's size.
    pub size: u64,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// The part sent, when a range was asked for.
    pub range: Option<ByteRange>,
    /// The bytes; an error item means the stored file failed its check part-way (audited).
    pub body: PlainStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("file_name", &self.file_name)
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve_as_http_says() {
        assert_eq!(
            RangeRequest::parse("bytes=0-99"),
            Some(RangeRequest::FromTo(0, 99))
        );
        assert_eq!(
            RangeRequest::parse("bytes=100-"),
            Some(RangeRequest::From(100))
        );
        assert_eq!(
            RangeRequest::parse("bytes=-5"),
            Some(RangeRequest::Suffix(5))
        );
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-1",
            "bytes=-",
            "bytes=a-b",
        ] {
            assert_eq!(RangeRequest::parse(ignored), None, "{ignored}");
        }
        let r = |s: &str, size| RangeRequest::parse(s).map(|r| r.resolve(size));
        assert!(matches!(
            r("bytes=0-99", 1000),
            Some(Ok(ByteRange { start: 0, end: 100 }))
        ));
        assert!(matches!(
            r("bytes=900-5000", 1000),
            Some(Ok(ByteRange {
                start: 900,
                end: 1000
            }))
        ));
        assert!(matches!(
            r("bytes=-10", 1000),
            Some(Ok(ByteRange {
                start: 990,
                end: 1000
            }))
        ));
        assert!(matches!(
            r("bytes=-5000", 1000),
            Some(Ok(ByteRange {
                start: 0,
                end: 1000
            }))
        ));
        assert!(matches!(
            r("bytes=1000-", 1000),
            Some(Err(EvidenceError::RangeNotSatisfiable { size: 1000 }))
        ));
        assert!(matches!(r("bytes=0-0", 0), Some(Err(_))));
    }

    #[tokio::test]
    async fn sniffing_holds_back_nothing() {
        let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"%PDF-")),
            Ok(Bytes::from(vec![b'x'; 600])),
            Ok(Bytes::from_static(b"end")),
        ];
        let (head, whole) = sniff(futures_util::stream::iter(pieces)).await.unwrap();
        assert!(head.starts_with(b"%PDF-") && head.len() >= SNIFF);
        let all: Vec<u8> = whole
            .map(|p| p.map(|b| b.to_vec()).unwrap_or_default())
            .concat()
            .await;
        assert_eq!(all.len(), 5 + 600 + 3);
        let tail = Tail::default();
        let kept = tail.keep(
            futures_util::stream::iter((0..100u8).map(|i| Ok(Bytes::from(vec![i; 10])))).boxed(),
            25,
        );
        let _ = kept.collect::<Vec<_>>().await;
        assert_eq!(tail.bytes(25).len(), 25);
        assert_eq!(tail.bytes(25)[24], 99);
    }
}
