//! The evidence store as the configuration describes it: the object store (a local folder,
//! S3 or Azure Blob, with credentials from files or the environment, never the file in
//! clear), the malware scanner and the limits. Checked at start, so a wrong bucket or key
//! stops the server with the key named instead of failing the first upload.

use std::path::Path;
use std::time::Duration;

use attest_config::{Config, SecretExt as _, StorageBackend};
use attest_domain::evidence::Limits;
use attest_storage::scan::{Scanner, ScannerAddr};
use attest_storage::{Backend, BlobStore, StoreSecret};

use crate::prepare::PrepareError;

fn secret_from(
    key: &str,
    inline: Option<&secrecy::SecretString>,
    file: Option<&Path>,
) -> Result<Option<StoreSecret>, PrepareError> {
    if let Some(s) = inline {
        return Ok(Some(StoreSecret::new(s.reveal().trim().to_owned())));
    }
    match file {
        None => Ok(None),
        Some(path) => {
            let text = attest_crypto::Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| PrepareError::Files(format!("{key} {}: {e}", path.display())))?,
            );
            Ok(Some(StoreSecret::new(text.trim().to_owned())))
        }
    }
}

/// The object store the configuration names. Plain `http://` endpoints are only accepted
/// outside production (the production self-check refuses them, SEC-60).
///
/// # Errors
/// A [`PrepareError`] naming the key.
pub fn backend(cfg: &Config) -> Result<Backend, PrepareError> {
    let s = &cfg.storage;
    let allow_http = s.endpoint_is_http() && cfg.mode == attest_config::Mode::Development;
    Ok(match s.backend {
        StorageBackend::Local => Backend::Local {
            dir: s.local_path(&cfg.data_dir),
        },
        StorageBackend::S3 => Backend::S3 {
            bucket: s.s3.bucket.clone().unwrap_or_default(),
            region: s.s3.region.clone(),
            endpoint: s.s3.endpoint.clone(),
            access_key_id: s.s3.access_key_id.clone(),
            secret_access_key: secret_from(
                "storage.s3.secret_access_key_file",
                s.s3.secret_access_key.as_ref(),
                s.s3.secret_access_key_file.as_deref(),
            )?,
            allow_http,
        },
        StorageBackend::Azure => Backend::Azure {
            account: s.azure.account.clone().unwrap_or_default(),
            container: s.azure.container.clone().unwrap_or_default(),
            endpoint: s.azure.endpoint.clone(),
            access_key: secret_from(
                "storage.azure.access_key_file",
                s.azure.access_key.as_ref(),
                s.azure.access_key_file.as_deref(),
            )?,
            allow_http,
        },
    })
}

/// Opens the object store and checks that it answers and accepts writes.
///
/// # Errors
/// A [`PrepareError`] naming the backend.
pub async fn open(cfg: &Config) -> Result<BlobStore, PrepareError> {
    let store = BlobStore::open(backend(cfg)?)
        .map_err(|e| PrepareError::Files(format!("storage.backend: {e}")))?;
    store.check().await.map_err(|e| {
        PrepareError::Files(format!(
            "storage.backend = \"{}\" does not accept writes: {e}",
            store.kind()
        ))
    })?;
    Ok(store)
}

/// The clamd client, when `storage.clamd` is set (SEC-58).
#[must_use]
pub fn scanner(cfg: &Config) -> Option<Scanner> {
    cfg.storage.clamd.as_deref().map(|a| {
        Scanner::new(
            ScannerAddr::parse(a.trim()),
            Duration::from_secs(cfg.storage.clamd_timeout_secs),
        )
    })
}

/// The upload limits and the sweeper's grace period.
#[must_use]
pub fn limits(cfg: &Config) -> Limits {
    Limits {
        max_file_bytes: cfg.storage.max_file_bytes,
        tenant_quota_bytes: cfg.storage.tenant_quota_bytes,
        orphan_grace: time::Duration::seconds(
            i64::try_from(cfg.storage.orphan_grace_secs).unwrap_or(i64::MAX),
        ),
    }
}
