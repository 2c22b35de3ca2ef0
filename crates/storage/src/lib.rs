//! Evidence blobs in object storage, encrypted while streaming (issue 6).
//!
//! [`BlobStore`] sits on `object_store`: a local folder by default, S3 or Azure Blob by
//! configuration ([`backend`]). A blob's key is random (`t/<tenant>/<uuid>`), never derived
//! from a file name. [`BlobStore::upload`] encrypts the incoming stream chunk by chunk with a
//! fresh file key (`attest_crypto::stream`), hashes the plaintext with SHA-256 on the way, and
//! writes a multipart upload with at most two parts in flight, so memory stays flat whatever
//! the size; a size limit is enforced while streaming, and a failed or refused upload is
//! aborted, leaving no blob. [`BlobStore::download`] streams the plaintext of a byte range:
//! it reads only the chunks the range needs and releases each one only after it
//! authenticated at its own position. [`scan`] speaks clamd's INSTREAM protocol (SEC-58).
//! No SQL, no HTTP, no rules: the domain decides what may be stored and who may read it.

pub mod backend;
pub mod scan;

use std::sync::Arc;

use attest_crypto::stream::{DEFAULT_CHUNK, FileKey, Header, Layout, MAX_HEADER, Opener, Sealer};
use attest_crypto::stream::{StreamError, TAG};
use attest_types::TenantId;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt as _};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore, ObjectStoreExt as _,
    WriteMultipart,
};
use sha2::{Digest as _, Sha256};

pub use backend::{Backend, StoreSecret};

/// Bytes sent to the object store per multipart part (S3's minimum part size).
const PART: usize = 5 * 1024 * 1024;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The upload exceeded its limit; nothing was kept.
    #[error("the file is larger than allowed")]
    TooLarge,
    /// The blob was altered, truncated, or sealed for another scope.
    #[error("the stored file failed its integrity check")]
    Integrity,
    /// No such blob.
    #[error("not found")]
    NotFound,
    /// The client's stream failed (a disconnect, a bad body); nothing was kept.
    #[error("the upload was interrupted")]
    Interrupted,
    /// A range outside the file.
    #[error("the requested range is outside the file")]
    Range,
    /// Encryption failed.
    #[error("encryption failure: {0}")]
    Crypto(StreamError),
    /// The configuration names an unusable store.
    #[error("object store configuration: {0}")]
    Config(String),
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

impl From<StreamError> for StorageError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Integrity | StreamError::Malformed => Self::Integrity,
            StreamError::Random => Self::Crypto(e),
        }
    }
}

/// Where a blob lives. Random, so it tells nothing about the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// A new random key in a tenant's prefix.
    #[must_use]
    pub fn new(tenant: TenantId) -> Self {
        Self(format!("t/{tenant}/{}", uuid::Uuid::new_v4()))
    }

    /// A key read back from the database.
    #[must_use]
    pub fn from_stored(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn path(&self) -> Path {
        Path::from(self.0.as_str())
    }
}

/// How a blob is sealed: its file key, and that key wrapped by the caller together with the
/// id of the wrapping key (both recorded in the header).
#[derive(Debug)]
pub struct Sealing<'a> {
    /// The file's own key.
    pub file_key: &'a FileKey,
    /// Which key wrapped it (e.g. `dek/<tenant>/<classification>`).
    pub key_id: &'a str,
    /// The file key sealed by that key.
    pub wrapped_key: &'a [u8],
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
}

/// A plaintext byte range `[start, end)` of a stored file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Object storage for encrypted blobs.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    backend: Arc<Backend>,
    chunk: u32,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("backend", &self.backend.kind())
            .finish_non_exhaustive()
    }
}

/// The plaintext of a range, chunk by authenticated chunk.
pub type PlainStream = futures_util::stream::BoxStream<'static, Result<Bytes, StorageError>>;

impl BlobStore {
    /// Opens the store a [`Backend`] describes (a local folder is created if missing).
    ///
    /// # Errors
    /// [`StorageError::Config`] naming what is wrong.
    pub fn open(backend: Backend) -> Result<Self, StorageError> {
        let store = backend.build()?;
        Ok(Self {
            store,
            backend: Arc::new(backend),
            chunk: DEFAULT_CHUNK,
        })
    }

    /// Which kind of store this is (`local`, `s3`, `azure`), for logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// Checks at start that the store answers and accepts writes: writes, reads back and
    /// deletes a small probe object.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn check(&self) -> Result<(), StorageError> {
        let probe = Path::from(format!("probe/{}", uuid::Uuid::new_v4()));
        self.store
            .put(&probe, Bytes::from_static(b"attest").into())
            .await?;
        let back = self.store.get(&probe).await?.bytes().await?;
        self.store.delete(&probe).await?;
        if back.as_ref() == b"attest" {
            Ok(())
        } else {
            Err(StorageError::Config(
                "the object store returned other bytes than were written".to_owned(),
            ))
        }
    }

    /// Encrypts `body` into the blob `key`, recording the sealing's key id and wrapped key in
    /// the header. Refuses more than `max_bytes` of plaintext while streaming. On any failure
    /// the upload is aborted: no blob remains.
    ///
    /// # Errors
    /// [`StorageError::TooLarge`], [`StorageError::Interrupted`] or a store failure.
    pub async fn upload<S, E>(
        &self,
        key: &BlobKey,
        sealing: &Sealing<'_>,
        body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let (sealer, header) = Sealer::new(
            sealing.file_key,
            sealing.key_id,
            sealing.wrapped_key,
            self.chunk,
        )?;
        self.write(
            key,
            Transform::Seal(Box::new(sealer)),
            header,
            body,
            max_bytes,
        )
        .await
    }

    /// The same path as [`BlobStore::upload`] without encryption, so a benchmark can measure
    /// what encryption costs. Only built with the `bench` feature; the application never
    /// enables it.
    ///
    /// # Errors
    /// As [`BlobStore::upload`].
    #[cfg(feature = "bench")]
    pub async fn upload_unencrypted_for_benchmark<S, E>(
        &self,
        key: &BlobKey,
        body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        self.write(key, Transform::Plain, Vec::new(), body, max_bytes)
            .await
    }

    /// Streams a blob as stored, without decryption: the download counterpart of
    /// [`BlobStore::upload_unencrypted_for_benchmark`]. Only with the `bench` feature.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] or a store failure.
    #[cfg(feature = "bench")]
    pub async fn download_unencrypted_for_benchmark(
        &self,
        key: &BlobKey,
    ) -> Result<PlainStream, StorageError> {
        let got = self.store.get(&key.path()).await.map_err(not_found)?;
        Ok(body_of(got, READ)
            .map(|r| r.map_err(StorageError::from))
            .boxed())
    }

    async fn write<S, E>(
        &self,
        key: &BlobKey,
        transform: Transform,
        header: Vec<u8>,
        body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let upload = self.store.put_multipart(&key.path()).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        match Self::write_all(&mut writer, transform, &header, body, max_bytes).await {
            Ok(done) => {
                writer.finish().await?;
                Ok(done)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    async fn write_all<S, E>(
        writer: &mut WriteMultipart,
        mut transform: Transform,
        header: &[u8],
        mut body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        writer.write(header);
        let mut hash = Sha256::new();
        let mut size: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|_| StorageError::Interrupted)?;
            size += piece.len() as u64;
            if size > max_bytes {
                return Err(StorageError::TooLarge);
            }
            hash.update(&piece);
            transform.push(&piece, writer)?;
            // Back-pressure: at most two parts in flight, so memory stays flat.
            writer.wait_for_capacity(2).await?;
        }
        writer.write(&transform.finish()?);
        Ok(Uploaded {
            size,
            sha256: hash.finalize().into(),
        })
    }

    /// Reads a blob's header: which key wrapped its file key, and the wrapped key.
    async fn header(&self, key: &BlobKey) -> Result<Header, StorageError> {
        let mut want = 512u64;
        loop {
            let got = self
                .store
                .get_opts(
                    &key.path(),
                    GetOptions {
                        range: Some(GetRange::Bounded(0..want)),
                        ..GetOptions::default()
                    },
                )
                .await
                .map_err(not_found)?;
            let size = got.meta.size;
            let bytes = got.bytes().await?;
            match Header::parse(&bytes)? {
                Some((header, _)) => return Ok(header),
                None if want < size && want < MAX_HEADER as u64 => want = MAX_HEADER as u64,
                None => return Err(StorageError::Integrity),
            }
        }
    }

    /// Streams the plaintext of `range` (the whole file for `None`) of a blob whose plaintext
    /// is `plain_len` bytes long. `unwrap` receives the header (its key id and wrapped key)
    /// and returns the file key, or an error when the header names a key the caller does not
    /// expect. Every chunk read is authenticated at its position, with the last chunk flagged,
    /// and the stored object must have exactly the expected length, so a truncated, extended,
    /// reordered or altered blob fails with [`StorageError::Integrity`]. Errors found before
    /// the first byte are returned here; later ones end the stream with an error, and callers
    /// must not treat what came before as complete.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::Range`], [`StorageError::Integrity`] or a
    /// store failure.
    pub async fn download<F>(
        &self,
        key: &BlobKey,
        plain_len: u64,
        range: Option<ByteRange>,
        unwrap: F,
    ) -> Result<PlainStream, StorageError>
    where
        F: FnOnce(&Header) -> Result<FileKey, StorageError>,
    {
        let range = range.unwrap_or(ByteRange {
            start: 0,
            end: plain_len,
        });
        if range.start > range.end || range.end > plain_len {
            return Err(StorageError::Range);
        }
        let header = self.header(key).await?;
        let file_key = unwrap(&header)?;
        let opener = Opener::new(&file_key, &header)?;
        let layout = Layout {
            header: header.len() as u64,
            chunk: u64::from(header.chunk_size),
            plain: plain_len,
        };
        // The chunks that hold the range; an empty range still reads (and checks) one chunk.
        let first = range.start / layout.chunk;
        let last = if range.end > range.start {
            (range.end - 1) / layout.chunk
        } else {
            first
        }
        .min(layout.chunks() - 1);
        let (from, _) = layout.chunk_range(first);
        let (_, to) = layout.chunk_range(last);
        let got = self
            .store
            .get_opts(
                &key.path(),
                GetOptions {
                    range: Some(GetRange::Bounded(from..to)),
                    ..GetOptions::default()
                },
            )
            .await
            .map_err(not_found)?;
        if got.meta.size != layout.sealed_len() || got.range != (from..to) {
            return Err(StorageError::Integrity);
        }
        let sealed_chunk = usize::try_from(layout.chunk).unwrap_or(0) + TAG;
        let reader = RangeReader {
            source: body_of(got, sealed_chunk),
            opener,
            layout,
            range,
            index: first,
            last,
            pending: Vec::new(),
            carry: Bytes::new(),
            done: false,
        };
        Ok(futures_util::stream::unfold(reader, RangeReader::next).boxed())
    }

    /// Deletes a blob (a missing one is not an error).
    ///
    /// # Errors
    /// On a store failure.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        match self.store.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a blob exists.
    ///
    /// # Errors
    /// On a store failure.
    pub async fn exists(&self, key: &BlobKey) -> Result<bool, StorageError> {
        match self.store.head(&key.path()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the half-written staging files a killed process left in a local folder (last
    /// written `older_than` before `now`); returns how many. Object stores need no sweep here: S3 aborts
    /// incomplete multipart uploads by a lifecycle rule, Azure drops uncommitted blocks after
    /// seven days (docs/SECURITY.md).
    ///
    /// # Errors
    /// On a file-system failure.
    pub async fn sweep_staging(
        &self,
        now: std::time::SystemTime,
        older_than: std::time::Duration,
    ) -> Result<usize, StorageError> {
        self.backend.sweep_staging(now, older_than).await
    }
}

/// How much of a local file one blocking read takes, at most.
const READ: usize = 1024 * 1024;

/// The bytes of a read: a local file in pieces of `piece` bytes, several per thread hop
/// (object_store's own reader takes 8 KiB at a time, a hop each); an object store's stream
/// as it comes. Downloads ask for pieces of one sealed chunk, so each chunk arrives in a
/// buffer of its own and is opened where it lies.
fn body_of(got: GetResult, piece: usize) -> BoxStream<'static, object_store::Result<Bytes>> {
    match got.payload {
        GetResultPayload::File(file, path) => read_file(file, path, got.range, piece.max(1)),
        GetResultPayload::Stream(s) => s,
    }
}

fn read_file(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: std::ops::Range<u64>,
    piece: usize,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let failed = |e: std::io::Error| object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    };
    let per_hop = (READ / piece).max(1) as u64;
    let state = (Some(file), range.start, range.end);
    futures_util::stream::unfold(state, move |(file, at, end)| {
        let path = path.clone();
        async move {
            let mut file = file?;
            if at >= end {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || {
                file.seek(SeekFrom::Start(at))?;
                let mut pieces = Vec::new();
                let mut pos = at;
                while pos < end && (pieces.len() as u64) < per_hop {
                    let want = (end - pos).min(piece as u64);
                    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
                    (&mut file).take(want).read_to_end(&mut buf)?;
                    if buf.is_empty() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file ended early",
                        ));
                    }
                    pos += buf.len() as u64;
                    pieces.push(Ok(Bytes::from(buf)));
                }
                Ok::<_, std::io::Error>((file, pieces, pos))
            })
            .await;
            match read {
                Ok(Ok((file, pieces, next))) => {
                    Some((futures_util::stream::iter(pieces), (Some(file), next, end)))
                }
                Ok(Err(e)) => Some((
                    futures_util::stream::iter(vec![Err(failed(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    )))]),
                    (None, end, end),
                )),
                Err(e) => Some((
                    futures_util::stream::iter(vec![Err(failed(std::io::Error::other(e)))]),
                    (None, end, end),
                )),
            }
        }
    })
    .flatten()
    .boxed()
}

fn not_found(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        e => StorageError::Store(e),
    }
}

/// What happens to plaintext on the way to the store.
enum Transform {
    Seal(Box<Sealer>),
    #[cfg(feature = "bench")]
    Plain,
}

impl Transform {
    /// Writes what `piece` completes (sealed chunks are sealed in place and copied once, into
    /// the multipart buffer).
    fn push(&mut self, piece: &[u8], writer: &mut WriteMultipart) -> Result<(), StorageError> {
        match self {
            Self::Seal(s) => Ok(s.push_each(piece, |sealed| writer.write(sealed))?),
            #[cfg(feature = "bench")]
            Self::Plain => {
                writer.write(piece);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<Vec<u8>, StorageError> {
        match self {
            Self::Seal(s) => Ok(s.finish()?),
            #[cfg(feature = "bench")]
            Self::Plain => Ok(Vec::new()),
        }
    }
}

/// Opens the chunks of a range as they arrive and trims them to the range. Each sealed chunk
/// is gathered into its own buffer (the one copy), opened in place and handed on as a slice
/// of it.
struct RangeReader {
    source: BoxStream<'static, object_store::Result<Bytes>>,
    opener: Opener,
    layout: Layout,
    range: ByteRange,
    index: u64,
    last: u64,
    /// The sealed chunk being gathered.
    pending: Vec<u8>,
    /// What the store sent beyond it.
    carry: Bytes,
    done: bool,
}

impl RangeReader {
    async fn next(mut self) -> Option<(Result<Bytes, StorageError>, Self)> {
        if self.done {
            return None;
        }
        match self.next_chunk().await {
            Ok(Some(plain)) => Some((Ok(plain), self)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some((Err(e), self))
            }
        }
    }

    /// The next chunk's plaintext within the range; `None` after the last one.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        loop {
            if self.index > self.last {
                // The object store must have sent exactly the chunks asked for.
                return if self.carry.is_empty() && self.source.next().await.is_none() {
                    self.done = true;
                    Ok(None)
                } else {
                    Err(StorageError::Integrity)
                };
            }
            let (start, end) = self.layout.chunk_range(self.index);
            let want = usize::try_from(end - start).map_err(|_| StorageError::Integrity)?;
            if self.carry.is_empty() && self.pending.len() < want {
                match self.source.next().await {
                    Some(piece) => self.carry = piece?,
                    None => return Err(StorageError::Integrity),
                }
            }
            let mut chunk = if self.pending.is_empty() && self.carry.len() == want {
                // A piece that is exactly this chunk (the local store reads them so): opened
                // in its own buffer, no copy.
                Vec::from(std::mem::take(&mut self.carry))
            } else {
                let take = (want - self.pending.len()).min(self.carry.len());
                self.pending.extend_from_slice(&self.carry.split_to(take));
                if self.pending.len() < want {
                    continue;
                }
                std::mem::replace(&mut self.pending, Vec::with_capacity(want))
            };
            let is_last = self.index + 1 == self.layout.chunks();
            self.opener
                .open_chunk_in_place(self.index, is_last, &mut chunk)?;
            let offset = self.index * self.layout.chunk;
            self.index += 1;
            let from = usize::try_from(self.range.start.saturating_sub(offset))
                .map_err(|_| StorageError::Integrity)?
                .min(chunk.len());
            let to = usize::try_from(self.range.end.saturating_sub(offset))
                .map_err(|_| StorageError::Integrity)?
                .min(chunk.len());
            if from < to {
                return Ok(Some(Bytes::from(chunk).slice(from..to)));
            }
        }
    }
}

#[cfg(test)]
mod tests;
