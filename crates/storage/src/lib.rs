//! Evidence blobs in object storage, encrypted while streaming (issue 6).
//!
//! [`BlobStore`] sits on `object_store`: a local folder by default (S3 and Azure follow by
//! configuration). A blob's key is random (`t/<tenant>/<uuid>`), never derived from a file
//! name. [`BlobStore::upload`] encrypts the incoming stream chunk by chunk with a fresh
//! [`FileKey`] (`attest_crypto::stream`), hashes the plaintext with SHA-256 on the way, and
//! writes a multipart upload, so memory stays flat whatever the size; a size limit is enforced
//! while streaming and a failed or refused upload is aborted, leaving no blob.
//! [`BlobStore::download`] reads the header, lets the caller unwrap the file key, and streams
//! plaintext that is released only after its chunk authenticated.

use std::path::Path as FsPath;
use std::sync::Arc;

use attest_crypto::stream::{DEFAULT_CHUNK, FileKey, Header, Opener, Sealer, StreamError};
use attest_types::TenantId;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, WriteMultipart};
use sha2::{Digest as _, Sha256};

/// Bytes sent to the object store per multipart part.
const PART: usize = 5 * 1024 * 1024;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The upload exceeded its limit; nothing was kept.
    #[error("the file is larger than allowed")]
    TooLarge,
    /// The blob was altered or truncated.
    #[error("the stored file failed its integrity check")]
    Integrity,
    /// No such blob.
    #[error("not found")]
    NotFound,
    /// The client's stream failed (a disconnect, a bad body); nothing was kept.
    #[error("the upload was interrupted")]
    Interrupted,
    /// Encryption failed.
    #[error("encryption failure: {0}")]
    Crypto(StreamError),
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
}

/// Object storage for encrypted blobs.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    chunk: u32,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Blobs in a local folder (created if missing).
    ///
    /// # Errors
    /// If the folder cannot be created or opened.
    pub fn local(dir: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Store(object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            })
        })?;
        Ok(Self::over(Arc::new(LocalFileSystem::new_with_prefix(dir)?)))
    }

    /// Blobs in any object store.
    #[must_use]
    pub fn over(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            chunk: DEFAULT_CHUNK,
        }
    }

    /// Encrypts `body` into the blob `key` under `file_key`, recording `wrapped_key` (the file
    /// key sealed by the caller) in the header. Refuses more than `max_bytes` of plaintext
    /// while streaming. On any failure the upload is aborted: no blob remains.
    ///
    /// # Errors
    /// [`StorageError::TooLarge`], [`StorageError::Interrupted`] or a store failure.
    pub async fn upload<S, E>(
        &self,
        key: &BlobKey,
        file_key: &FileKey,
        wrapped_key: &[u8],
        body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let upload = self.store.put_multipart(&key.path()).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        match self
            .write_all(&mut writer, file_key, wrapped_key, body, max_bytes)
            .await
        {
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
        &self,
        writer: &mut WriteMultipart,
        file_key: &FileKey,
        wrapped_key: &[u8],
        mut body: S,
        max_bytes: u64,
    ) -> Result<Uploaded, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let (mut sealer, header) = Sealer::new(file_key, wrapped_key, self.chunk)?;
        writer.write(&header);
        let mut hash = Sha256::new();
        let mut size: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|_| StorageError::Interrupted)?;
            size += piece.len() as u64;
            if size > max_bytes {
                return Err(StorageError::TooLarge);
            }
            hash.update(&piece);
            let sealed = sealer.push(&piece)?;
            if !sealed.is_empty() {
                writer.write(&sealed);
                // Back-pressure: at most two parts in flight, so memory stays flat.
                writer.wait_for_capacity(2).await?;
            }
        }
        writer.write(&sealer.finish()?);
        Ok(Uploaded {
            size,
            sha256: hash.finalize().into(),
        })
    }

    /// Streams a blob's plaintext. `unwrap` turns the wrapped key from the header into the
    /// file key (the caller opens it with the tenant's DEK). The stream ends with
    /// [`StorageError::Integrity`] if the blob was altered or cut; callers must not treat what
    /// came before as complete.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::Integrity`] for a bad header, or a store
    /// failure.
    pub async fn download<F>(
        &self,
        key: &BlobKey,
        unwrap: F,
    ) -> Result<impl Stream<Item = Result<Bytes, StorageError>> + Send + use<F>, StorageError>
    where
        F: FnOnce(&[u8]) -> Result<FileKey, StorageError>,
    {
        let got = match self.store.get(&key.path()).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(StorageError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let mut source = got.into_stream();
        // Read until the header is complete.
        let mut head = Vec::new();
        let (header, used) = loop {
            if let Some(found) = Header::parse(&head)? {
                break found;
            }
            match source.next().await {
                Some(piece) => head.extend_from_slice(&piece?),
                None => return Err(StorageError::Integrity),
            }
        };
        let file_key = unwrap(&header.wrapped_key)?;
        let mut opener = Opener::new(&file_key, &header)?;
        let first = opener.push(&head[used..])?;
        let state = (Some(opener), source, Some(first));
        Ok(futures_util::stream::unfold(
            state,
            |(mut opener, mut source, mut first)| async move {
                if let Some(f) = first.take()
                    && !f.is_empty()
                {
                    return Some((Ok(Bytes::from(f)), (opener, source, None)));
                }
                let current = opener.as_mut()?;
                loop {
                    match source.next().await {
                        Some(Ok(piece)) => match current.push(&piece) {
                            Ok(plain) if plain.is_empty() => {}
                            Ok(plain) => {
                                return Some((Ok(Bytes::from(plain)), (opener, source, None)));
                            }
                            Err(e) => return Some((Err(e.into()), (None, source, None))),
                        },
                        Some(Err(e)) => return Some((Err(e.into()), (None, source, None))),
                        None => {
                            let last = opener.take()?.finish();
                            return Some((
                                last.map(Bytes::from).map_err(Into::into),
                                (None, source, None),
                            ));
                        }
                    }
                }
            },
        ))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        data: &[u8],
        piece: usize,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        let parts: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(piece.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(parts)
    }

    async fn read_all(
        store: &BlobStore,
        key: &BlobKey,
        file_key: &[u8; 32],
    ) -> Result<Vec<u8>, StorageError> {
        let k = *file_key;
        let mut s = Box::pin(
            store
                .download(key, move |w| {
                    assert_eq!(w, b"wrapped");
                    Ok(FileKey::from_bytes(&k)?)
                })
                .await?,
        );
        let mut out = Vec::new();
        while let Some(piece) = s.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    fn files(dir: &FsPath) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn sec_61_a_blob_round_trips_and_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let data: Vec<u8> = b"Quarterly access review evidence. ".repeat(20_000);
        let key = BlobKey::new(TenantId::new_random());
        let fk = FileKey::generate().unwrap();
        let done = store
            .upload(&key, &fk, b"wrapped", body(&data, 7_777), 10 << 20)
            .await
            .unwrap();
        assert_eq!(done.size, data.len() as u64);
        assert_eq!(done.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        let stored = files(dir.path());
        assert_eq!(stored.len(), 1);
        let raw = std::fs::read(&stored[0]).unwrap();
        assert!(
            !raw.windows(20).any(|w| w == &data[..20]),
            "plaintext on disk"
        );
        assert_eq!(read_all(&store, &key, fk.expose()).await.unwrap(), data);
    }

    #[tokio::test]
    async fn sec_62_a_flipped_byte_on_disk_fails_the_download() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let data = vec![7u8; 300_000];
        let key = BlobKey::new(TenantId::new_random());
        let fk = FileKey::generate().unwrap();
        store
            .upload(&key, &fk, b"wrapped", body(&data, 65_536), 1 << 20)
            .await
            .unwrap();
        let path = files(dir.path()).remove(0);
        let mut raw = std::fs::read(&path).unwrap();
        let at = raw.len() / 2;
        raw[at] ^= 0x80;
        std::fs::write(&path, &raw).unwrap();
        assert!(matches!(
            read_all(&store, &key, fk.expose()).await,
            Err(StorageError::Integrity)
        ));
        // Cut short: also refused.
        raw[at] ^= 0x80;
        std::fs::write(&path, &raw[..raw.len() - 100]).unwrap();
        assert!(matches!(
            read_all(&store, &key, fk.expose()).await,
            Err(StorageError::Integrity)
        ));
    }

    #[tokio::test]
    async fn sec_55_too_large_or_interrupted_uploads_leave_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let fk = FileKey::generate().unwrap();
        let key = BlobKey::new(TenantId::new_random());
        let big = vec![1u8; 200_000];
        let r = store
            .upload(&key, &fk, b"wrapped", body(&big, 10_000), 100_000)
            .await;
        assert!(matches!(r, Err(StorageError::TooLarge)));
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"first part")),
            Err(std::io::Error::other("client went away")),
        ]);
        let r = store.upload(&key, &fk, b"wrapped", broken, 1 << 20).await;
        assert!(matches!(r, Err(StorageError::Interrupted)));
        assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
        assert!(matches!(
            read_all(&store, &key, fk.expose()).await,
            Err(StorageError::NotFound)
        ));
        store.delete(&key).await.unwrap();
    }
}
