//! First-run preparation and opening of the installation's resources.
//!
//! On a fresh machine `attest serve` creates the data directory (0700), a SQLite database,
//! the pepper file and the keyring file (0600 each, separate files, never in the database)
//! and a self-signed certificate. Later runs reuse them. A pepper or keyring that goes missing
//! while the database exists is an error naming the file: silently making a new one would
//! make every password and every encrypted field unreadable (SEC-02).

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attest_config::{Config, DatabaseKind, SecretExt as _};
use attest_crypto::{Keyring, KeyringSource, PepperSet, Zeroizing};
use attest_db::{ConnectOptions, Db, migrate};
use attest_types::{Clock, SystemClock};

/// A start-up failure. Messages name the configuration key or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A file or directory problem.
    #[error("{0}")]
    Files(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(String),
    /// Migrations are pending and were not asked for.
    #[error(
        "{count} database migration(s) pending ({names}); run `attest migrate` or start with `attest serve --migrate`"
    )]
    Pending {
        /// How many.
        count: usize,
        /// Their names.
        names: String,
    },
}

fn files(msg: impl Into<String>) -> PrepareError {
    PrepareError::Files(msg.into())
}

/// The SQLite file a URL points to, if it is a file URL.
#[must_use]
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the data directory (mode 0700) if missing.
///
/// # Errors
/// If it cannot be created.
pub fn ensure_data_dir(dir: &Path) -> Result<(), PrepareError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            files(format!(
                "cannot create the data directory {} (data_dir): {e}",
                dir.display()
            ))
        })
}

/// The opened database and whether it was created just now.
#[derive(Debug)]
pub struct OpenedDb {
    /// The app pool.
    pub db: Db,
    /// True when the database held no table at all before this run (first run).
    pub fresh: bool,
}

/// Opens the database with `url`. SQLite files are created on first run.
///
/// # Errors
/// If the database cannot be reached.
pub async fn open_db(cfg: &Config, url: &str) -> Result<OpenedDb, PrepareError> {
    if let Some(parent) = sqlite_file(url).as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        ensure_data_dir(parent)?;
    }
    let db = Db::connect(
        url,
        ConnectOptions {
            max_connections: cfg.database.max_connections,
            create_if_missing: true,
            acquire_timeout: Duration::from_millis(cfg.database.acquire_timeout_ms),
        },
    )
    .await
    .map_err(|e| PrepareError::Database(format!("cannot open (database.url): {e}")))?;
    let fresh = migrate::schema_is_empty(&db)
        .await
        .map_err(|e| PrepareError::Database(e.to_string()))?;
    Ok(OpenedDb { db, fresh })
}

/// Applies pending migrations with the owner role, or refuses when they were not asked for.
/// A fresh database is always migrated (first run).
///
/// # Errors
/// [`PrepareError::Pending`] or the failing migration's name.
pub async fn migrations(
    cfg: &Config,
    opened: &OpenedDb,
    allowed: bool,
) -> Result<Vec<String>, PrepareError> {
    let pending = migrate::pending(&opened.db)
        .await
        .map_err(|e| PrepareError::Database(e.to_string()))?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    if !allowed && !opened.fresh {
        return Err(PrepareError::Pending {
            count: pending.len(),
            names: pending
                .iter()
                .map(migrate::MigrationSpec::label)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    run_migrations(cfg).await
}

/// Runs migrations as the owner role (`database.migration_url`, else `database.url`).
///
/// # Errors
/// The failing migration's name and error.
pub async fn run_migrations(cfg: &Config) -> Result<Vec<String>, PrepareError> {
    let url = cfg.migration_url();
    let owner = Db::connect(
        url.reveal(),
        ConnectOptions {
            create_if_missing: true,
            ..ConnectOptions::sized(1)
        },
    )
    .await
    .map_err(|e| {
        PrepareError::Database(format!(
            "cannot open with the owner role (database.migration_url): {e}"
        ))
    })?;
    let applied = migrate::run(&owner)
        .await
        .map_err(|e| PrepareError::Database(e.to_string()));
    owner.close().await;
    Ok(applied?.iter().map(migrate::MigrationSpec::label).collect())
}

/// Loads the pepper, creating it only on a fresh installation.
///
/// # Errors
/// A missing pepper on an existing database, or an unreadable one, naming the file.
pub fn pepper(cfg: &Config, fresh: bool, clock: &dyn Clock) -> Result<PepperSet, PrepareError> {
    if let Some(inline) = &cfg.keys.pepper {
        return PepperSet::parse(inline.reveal()).map_err(|e| files(format!("keys.pepper: {e}")));
    }
    let path = cfg.pepper_path();
    if !path.exists() {
        if !fresh {
            return Err(files(format!(
                "the pepper file {} (keys.pepper_file) is missing, but the database already exists: without it no password can be verified. Restore it from your secret store.",
                path.display()
            )));
        }
        if let Some(parent) = path.parent() {
            ensure_data_dir(parent)?;
        }
        PepperSet::create_file(&path, clock.now()).map_err(|e| files(e.to_string()))?;
        tracing::info!(file = %path.display(), "created a new pepper");
    }
    PepperSet::load_file(&path).map_err(|e| files(format!("keys.pepper_file: {e}")))
}

/// Loads the keyring, creating it only on a fresh installation.
///
/// # Errors
/// A missing keyring on an existing database, or an unreadable one, naming the file.
pub fn keyring(cfg: &Config, fresh: bool, clock: &dyn Clock) -> Result<Arc<Keyring>, PrepareError> {
    if let Some(inline) = &cfg.keys.keyring {
        return Keyring::load(KeyringSource::Inline(Zeroizing::new(
            inline.reveal().to_owned(),
        )))
        .map(Arc::new)
        .map_err(|e| files(format!("keys.keyring: {e}")));
    }
    let path = cfg.keyring_path();
    if !path.exists() {
        if !fresh {
            return Err(files(format!(
                "the keyring file {} (keys.keyring_file) is missing, but the database already exists: without it no encrypted data can be read. Restore it from your secret store.",
                path.display()
            )));
        }
        if let Some(parent) = path.parent() {
            ensure_data_dir(parent)?;
        }
        Keyring::create_file(&path, clock.now()).map_err(|e| files(e.to_string()))?;
        tracing::info!(file = %path.display(), "created a new keyring");
    }
    Keyring::load(KeyringSource::File(path))
        .map(Arc::new)
        .map_err(|e| files(format!("keys.keyring_file: {e}")))
}

/// Makes sure certificate files exist: the configured ones must; the self-signed pair is
/// generated when missing. Its validity starts at the real wall-clock time (clients check it
/// against theirs), not at the injected clock's.
///
/// # Errors
/// A configured file that is missing, or generation failure.
pub fn certificate(cfg: &Config) -> Result<(PathBuf, PathBuf), PrepareError> {
    let (cert, key, self_signed) = cfg.tls_paths();
    if !self_signed {
        for (k, p) in [("tls.cert_file", &cert), ("tls.key_file", &key)] {
            if !p.is_file() {
                return Err(files(format!("{k}: {} does not exist", p.display())));
            }
        }
        return Ok((cert, key));
    }
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    if let Some(dir) = cert.parent() {
        ensure_data_dir(dir)?;
    }
    let pair = attest_crypto::tls::self_signed_localhost(SystemClock.now())
        .map_err(|e| files(e.to_string()))?;
    let _ = std::fs::remove_file(&cert);
    let _ = std::fs::remove_file(&key);
    attest_crypto::secret_file::create_new(&key, pair.key_pem.as_bytes())
        .map_err(|e| files(format!("cannot write {}: {e}", key.display())))?;
    std::fs::write(&cert, pair.cert_pem.as_bytes())
        .map_err(|e| files(format!("cannot write {}: {e}", cert.display())))?;
    tracing::info!(cert = %cert.display(), "created a self-signed certificate for localhost");
    Ok((cert, key))
}

/// Whether the database is SQLite (for messages).
#[must_use]
pub fn is_sqlite(cfg: &Config) -> bool {
    cfg.database_kind() == DatabaseKind::Sqlite
}
