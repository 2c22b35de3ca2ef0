//! Which object store holds the blobs: a local folder (the embedded default, inside the data
//! directory), Amazon S3 (or an S3-compatible service) or Azure Blob Storage. The binary
//! builds a [`Backend`] from its configuration; secrets arrive as [`StoreSecret`], which never
//! prints.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::local::LocalFileSystem;
use zeroize::Zeroizing;

use crate::StorageError;

/// A credential for an object store. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct StoreSecret(Zeroizing<String>);

impl StoreSecret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSecret([redacted])")
    }
}

/// An object store and how to reach it.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A folder on this machine (created if missing, mode 0700).
    Local {
        /// The folder.
        dir: PathBuf,
    },
    /// Amazon S3 or an S3-compatible service.
    S3 {
        /// The bucket.
        bucket: String,
        /// The region, e.g. `eu-central-1`.
        region: String,
        /// Another endpoint than AWS's (an S3-compatible service), e.g. `https://s3.example.com`.
        endpoint: Option<String>,
        /// The access key id; with neither key, the instance's role is used.
        access_key_id: Option<String>,
        /// The secret access key.
        secret_access_key: Option<StoreSecret>,
        /// Allow `http://` endpoints (development and tests only; production refuses it).
        allow_http: bool,
    },
    /// Azure Blob Storage.
    Azure {
        /// The storage account.
        account: String,
        /// The container.
        container: String,
        /// Another endpoint than Azure's (an emulator), e.g. `http://127.0.0.1:10000/acct`.
        endpoint: Option<String>,
        /// The account's shared key.
        access_key: Option<StoreSecret>,
        /// Allow `http://` endpoints (development and tests only; production refuses it).
        allow_http: bool,
    },
}

impl Backend {
    /// `local`, `s3` or `azure`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::S3 { .. } => "s3",
            Self::Azure { .. } => "azure",
        }
    }

    pub(crate) fn build(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        let config = |e: object_store::Error| StorageError::Config(e.to_string());
        Ok(match self {
            Self::Local { dir } => {
                create_private_dir(dir)?;
                // fsync on every publish: a blob the database points to survives a crash.
                Arc::new(
                    LocalFileSystem::new_with_prefix(dir)
                        .map_err(config)?
                        .with_fsync(true),
                )
            }
            Self::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http);
                if let Some(e) = endpoint {
                    // S3-compatible services are addressed by path, not by virtual host.
                    b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
                }
                if let (Some(id), Some(secret)) = (access_key_id, secret_access_key) {
                    b = b
                        .with_access_key_id(id)
                        .with_secret_access_key(secret.reveal());
                }
                Arc::new(b.build().map_err(config)?)
            }
            Self::Azure {
                account,
                container,
                endpoint,
                access_key,
                allow_http,
            } => {
                let mut b = MicrosoftAzureBuilder::new()
                    .with_account(account)
                    .with_container_name(container)
                    .with_allow_http(*allow_http);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e.clone());
                }
                if let Some(k) = access_key {
                    b = b.with_access_key(k.reveal());
                }
                Arc::new(b.build().map_err(config)?)
            }
        })
    }

    pub(crate) async fn sweep_staging(
        &self,
        now: SystemTime,
        older_than: Duration,
    ) -> Result<usize, StorageError> {
        let Self::Local { dir } = self else {
            return Ok(0);
        };
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || sweep_dir(&dir, now, older_than))
            .await
            .map_err(|e| StorageError::Config(e.to_string()))?
    }
}

fn create_private_dir(dir: &FsPath) -> Result<(), StorageError> {
    let fail = |e: std::io::Error| StorageError::Config(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}

/// `object_store`'s local folder writes an upload to `<key>#<n>` and renames it when the
/// upload completes; a process killed in between leaves that file behind.
fn sweep_dir(dir: &FsPath, now: SystemTime, older_than: Duration) -> Result<usize, StorageError> {
    let mut removed = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::Config(format!("{}: {e}", d.display()))),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(path);
                continue;
            }
            let staged = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains('#'));
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= older_than);
            if staged && old && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}
