//! `[storage]`: where evidence files go (a local folder by default, S3 or Azure Blob), the
//! upload limits (SEC-55) and the optional malware scanner (SEC-58).

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::model::ConfigError;

/// Which object store holds evidence files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A folder on this machine (`storage.local_dir`, default `<data_dir>/files`).
    #[default]
    Local,
    /// Amazon S3 or an S3-compatible service (`[storage.s3]`).
    S3,
    /// Azure Blob Storage (`[storage.azure]`).
    Azure,
}

/// `[storage]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// `local`, `s3` or `azure`.
    pub backend: StorageBackend,
    /// The folder of the local backend. Unset: `<data_dir>/files`.
    pub local_dir: Option<PathBuf>,
    /// Largest evidence file, in bytes (SEC-55: 50 MB).
    pub max_file_bytes: u64,
    /// Total size of the files one tenant may store, in bytes (every version counts).
    pub tenant_quota_bytes: u64,
    /// An upload whose client sends nothing for this long is cut off, in seconds.
    pub upload_idle_secs: u64,
    /// The longest an upload or download request may take, in seconds.
    pub transfer_timeout_secs: u64,
    /// Blobs of uploads that never finished (a killed process) are removed after this many
    /// seconds; longer than `transfer_timeout_secs`, so no running upload is touched.
    pub orphan_grace_secs: u64,
    /// The ClamAV daemon (`host:port` or `unix:/path`). Unset: no scanning (SEC-58).
    pub clamd: Option<String>,
    /// How long a step of a scan may take, in seconds.
    pub clamd_timeout_secs: u64,
    /// `[storage.s3]`
    pub s3: S3,
    /// `[storage.azure]`
    pub azure: Azure,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            local_dir: None,
            max_file_bytes: 50_000_000,
            tenant_quota_bytes: 10 * 1024 * 1024 * 1024,
            upload_idle_secs: 60,
            transfer_timeout_secs: 3600,
            orphan_grace_secs: 7200,
            clamd: None,
            clamd_timeout_secs: 60,
            s3: S3::default(),
            azure: Azure::default(),
        }
    }
}

/// `[storage.s3]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3 {
    /// The bucket.
    pub bucket: Option<String>,
    /// The region.
    pub region: String,
    /// An S3-compatible service's endpoint (`https://…`). Unset: AWS.
    pub endpoint: Option<String>,
    /// The access key id. With no keys at all, the instance's role is used.
    pub access_key_id: Option<String>,
    /// A file holding the secret access key.
    pub secret_access_key_file: Option<PathBuf>,
    /// The secret access key (`ATTEST_STORAGE__S3__SECRET_ACCESS_KEY`); never in the file.
    pub secret_access_key: Option<SecretString>,
}

impl Default for S3 {
    fn default() -> Self {
        Self {
            bucket: None,
            region: "us-east-1".to_owned(),
            endpoint: None,
            access_key_id: None,
            secret_access_key_file: None,
            secret_access_key: None,
        }
    }
}

/// `[storage.azure]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Azure {
    /// The storage account.
    pub account: Option<String>,
    /// The container.
    pub container: Option<String>,
    /// Another endpoint (an emulator or a sovereign cloud), e.g. `https://…`.
    pub endpoint: Option<String>,
    /// A file holding the account's shared key.
    pub access_key_file: Option<PathBuf>,
    /// The shared key (`ATTEST_STORAGE__AZURE__ACCESS_KEY`); never in the file.
    pub access_key: Option<SecretString>,
}

fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

impl Storage {
    /// The local folder (the configured one, or `<data_dir>/files`).
    #[must_use]
    pub fn local_path(&self, data_dir: &Path) -> PathBuf {
        self.local_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("files"))
    }

    /// Whether the configured endpoint speaks plain HTTP (development and tests only).
    #[must_use]
    pub fn endpoint_is_http(&self) -> bool {
        let endpoint = match self.backend {
            StorageBackend::Local => None,
            StorageBackend::S3 => self.s3.endpoint.as_deref(),
            StorageBackend::Azure => self.azure.endpoint.as_deref(),
        };
        endpoint.is_some_and(|e| e.starts_with("http://"))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_file_bytes == 0 {
            return Err(invalid("storage.max_file_bytes", "must be greater than 0"));
        }
        if self.tenant_quota_bytes < self.max_file_bytes {
            return Err(invalid(
                "storage.tenant_quota_bytes",
                "must be at least storage.max_file_bytes",
            ));
        }
        for (key, v) in [
            ("storage.upload_idle_secs", self.upload_idle_secs),
            ("storage.transfer_timeout_secs", self.transfer_timeout_secs),
            ("storage.clamd_timeout_secs", self.clamd_timeout_secs),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        if self.orphan_grace_secs <= self.transfer_timeout_secs {
            return Err(invalid(
                "storage.orphan_grace_secs",
                "must be longer than storage.transfer_timeout_secs, so that the sweeper never removes a running upload",
            ));
        }
        if self.clamd.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(invalid(
                "storage.clamd",
                "give clamd's address as host:port or unix:/path, or leave it unset",
            ));
        }
        let url_ok = |e: &str| e.starts_with("https://") || e.starts_with("http://");
        match self.backend {
            StorageBackend::Local => {}
            StorageBackend::S3 => {
                if self.s3.bucket.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "storage.s3.bucket",
                        "name the bucket for storage.backend = \"s3\"",
                    ));
                }
                if self.s3.endpoint.as_deref().is_some_and(|e| !url_ok(e)) {
                    return Err(invalid("storage.s3.endpoint", "must start with https://"));
                }
                let secret =
                    self.s3.secret_access_key.is_some() || self.s3.secret_access_key_file.is_some();
                if self.s3.access_key_id.is_some() != secret {
                    return Err(invalid(
                        "storage.s3.access_key_id",
                        "set storage.s3.access_key_id together with storage.s3.secret_access_key_file (or ATTEST_STORAGE__S3__SECRET_ACCESS_KEY), or neither to use the instance's role",
                    ));
                }
                if self.s3.secret_access_key.is_some() && self.s3.secret_access_key_file.is_some() {
                    return Err(invalid(
                        "storage.s3.secret_access_key",
                        "set the secret or its file, not both",
                    ));
                }
            }
            StorageBackend::Azure => {
                if self.azure.account.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "storage.azure.account",
                        "name the storage account for storage.backend = \"azure\"",
                    ));
                }
                if self.azure.container.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "storage.azure.container",
                        "name the container for storage.backend = \"azure\"",
                    ));
                }
                if self.azure.endpoint.as_deref().is_some_and(|e| !url_ok(e)) {
                    return Err(invalid(
                        "storage.azure.endpoint",
                        "must start with https://",
                    ));
                }
                if self.azure.access_key.is_some() && self.azure.access_key_file.is_some() {
                    return Err(invalid(
                        "storage.azure.access_key",
                        "set the key or its file, not both",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `[storage]` table of `attest config check`, secrets masked.
    pub(crate) fn effective(&self, data_dir: &Path) -> toml::Table {
        let mut t = toml::Table::new();
        let text = |s: &str| toml::Value::String(s.to_owned());
        let int = |n: u64| toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| text(&p.display().to_string()));
        let masked = |s: &Option<SecretString>| s.as_ref().map(|_| text("********"));
        t.insert(
            "backend".into(),
            text(match self.backend {
                StorageBackend::Local => "local",
                StorageBackend::S3 => "s3",
                StorageBackend::Azure => "azure",
            }),
        );
        t.insert(
            "local_dir".into(),
            text(&self.local_path(data_dir).display().to_string()),
        );
        t.insert("max_file_bytes".into(), int(self.max_file_bytes));
        t.insert("tenant_quota_bytes".into(), int(self.tenant_quota_bytes));
        t.insert("upload_idle_secs".into(), int(self.upload_idle_secs));
        t.insert(
            "transfer_timeout_secs".into(),
            int(self.transfer_timeout_secs),
        );
        t.insert("orphan_grace_secs".into(), int(self.orphan_grace_secs));
        if let Some(c) = &self.clamd {
            t.insert("clamd".into(), text(c));
        }
        t.insert("clamd_timeout_secs".into(), int(self.clamd_timeout_secs));
        let mut s3 = toml::Table::new();
        for (k, v) in [
            ("bucket", self.s3.bucket.as_deref().map(text)),
            ("region", Some(text(&self.s3.region))),
            ("endpoint", self.s3.endpoint.as_deref().map(text)),
            ("access_key_id", self.s3.access_key_id.as_deref().map(text)),
            (
                "secret_access_key_file",
                path(&self.s3.secret_access_key_file),
            ),
            ("secret_access_key", masked(&self.s3.secret_access_key)),
        ] {
            if let Some(v) = v {
                s3.insert(k.into(), v);
            }
        }
        t.insert("s3".into(), s3.into());
        let mut azure = toml::Table::new();
        for (k, v) in [
            ("account", self.azure.account.as_deref().map(text)),
            ("container", self.azure.container.as_deref().map(text)),
            ("endpoint", self.azure.endpoint.as_deref().map(text)),
            ("access_key_file", path(&self.azure.access_key_file)),
            ("access_key", masked(&self.azure.access_key)),
        ] {
            if let Some(v) = v {
                azure.insert(k.into(), v);
            }
        }
        t.insert("azure".into(), azure.into());
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Config, Overrides};

    fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            &Overrides {
                data_dir: Some(PathBuf::from("/srv/attest")),
                listen: None,
            },
        )
    }

    #[test]
    fn the_default_is_a_local_folder_with_a_50_mb_limit() {
        let cfg = load(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.storage.backend, StorageBackend::Local);
        assert_eq!(cfg.storage.max_file_bytes, 50_000_000);
        assert_eq!(
            cfg.storage.local_path(&cfg.data_dir),
            PathBuf::from("/srv/attest/files")
        );
        assert!(cfg.storage.clamd.is_none());
    }

    #[test]
    fn s3_and_azure_need_their_names_and_say_which_key_is_missing() {
        let e = load(&[("ATTEST_STORAGE__BACKEND", "s3")]).err();
        assert!(
            matches!(
                e,
                Some(ConfigError::Invalid {
                    key: "storage.s3.bucket",
                    ..
                })
            ),
            "{e:?}"
        );
        let e = load(&[
            ("ATTEST_STORAGE__BACKEND", "s3"),
            ("ATTEST_STORAGE__S3__BUCKET", "evidence"),
            ("ATTEST_STORAGE__S3__ACCESS_KEY_ID", "AKIA"),
        ])
        .err();
        assert!(
            matches!(
                e,
                Some(ConfigError::Invalid {
                    key: "storage.s3.access_key_id",
                    ..
                })
            ),
            "{e:?}"
        );
        let e = load(&[
            ("ATTEST_STORAGE__BACKEND", "azure"),
            ("ATTEST_STORAGE__AZURE__ACCOUNT", "acct"),
        ])
        .err();
        assert!(
            matches!(
                e,
                Some(ConfigError::Invalid {
                    key: "storage.azure.container",
                    ..
                })
            ),
            "{e:?}"
        );
        let cfg = load(&[
            ("ATTEST_STORAGE__BACKEND", "s3"),
            ("ATTEST_STORAGE__S3__BUCKET", "evidence"),
            ("ATTEST_STORAGE__S3__ACCESS_KEY_ID", "AKIA"),
            ("ATTEST_STORAGE__S3__SECRET_ACCESS_KEY", "very-secret-value"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = cfg.effective_toml();
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("********"), "{shown}");
    }

    #[test]
    fn a_quota_below_the_file_limit_is_refused() {
        let e = load(&[("ATTEST_STORAGE__TENANT_QUOTA_BYTES", "1000")]).err();
        assert!(matches!(
            e,
            Some(ConfigError::Invalid {
                key: "storage.tenant_quota_bytes",
                ..
            })
        ));
    }
}
