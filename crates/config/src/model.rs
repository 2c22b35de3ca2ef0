//! The configuration model and its loading.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// Top-level keys and sections; environment variables outside these are ignored, so that
/// unrelated `ATTEST_*` variables (e.g. the test suite's) cannot break a start.
const KNOWN_ROOTS: &[&str] = &[
    "mode", "data_dir", "server", "tls", "database", "keys", "log", "metrics", "audit", "auth",
    "mail", "sso", "storage",
];

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed, or a value has the wrong type.
    #[error("configuration error: {0}")]
    Load(String),
    /// A value is well-typed but invalid.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// The dotted key, e.g. `server.listen`.
        key: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// Development (the default) or production (refuses unsafe settings, SEC-82).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Local use: self-signed certificate and keys in the data directory are fine.
    #[default]
    Development,
    /// Real deployments: the production self-check must pass.
    Production,
}

/// The whole configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Development or production.
    #[serde(default)]
    pub mode: Mode,
    /// Where the SQLite database, generated keys, certificate and local files live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Listeners and request limits.
    #[serde(default)]
    pub server: Server,
    /// The certificate.
    #[serde(default)]
    pub tls: Tls,
    /// SQLite or PostgreSQL.
    #[serde(default)]
    pub database: Database,
    /// Keyring and pepper locations.
    #[serde(default)]
    pub keys: Keys,
    /// Logging.
    #[serde(default)]
    pub log: Log,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: Metrics,
    /// Audit trail tuning.
    #[serde(default)]
    pub audit: Audit,
    /// Sessions and password hashing.
    #[serde(default)]
    pub auth: Auth,
    /// Outgoing mail.
    #[serde(default)]
    pub mail: Mail,
    /// Single-sign-on client secrets provided by the operator.
    #[serde(default)]
    pub sso: Sso,
    /// Evidence files: the object store, upload limits, the malware scanner.
    #[serde(default)]
    pub storage: crate::storage::Storage,
}

/// `[sso]`: client secrets the operator keeps outside the database. A tenant's administrator
/// can also type the secret on the settings page (it is then sealed in the database); one
/// given here wins. The administrator never names a file or variable: that would let them
/// send any server secret to a provider they control.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Sso {
    /// A directory holding one file per tenant, named by the tenant's id, with its client
    /// secret (e.g. `/run/secrets/attest-sso/0b7c…`).
    pub client_secret_dir: Option<PathBuf>,
    /// Secrets by tenant id (`ATTEST_SSO__CLIENT_SECRETS__<tenant id without dashes>`).
    pub client_secrets: HashMap<String, SecretString>,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (required), certificate verified.
    #[default]
    Starttls,
    /// Implicit TLS (port 465), certificate verified.
    Tls,
    /// No encryption: development and tests only (refused in production).
    None,
}

/// `[mail]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mail {
    /// SMTP server host name. Unset: mail is queued but not sent (a warning at start).
    pub smtp_host: Option<String>,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: MailSecurity,
    /// Sender, e.g. `Attest <attest@example.com>`.
    pub from: String,
    /// SMTP user name.
    pub username: Option<String>,
    /// File holding the SMTP password.
    pub password_file: Option<PathBuf>,
    /// The SMTP password (`ATTEST_MAIL__PASSWORD`).
    pub password: Option<SecretString>,
    /// An extra CA certificate (PEM) to trust for the SMTP server.
    pub ca_file: Option<PathBuf>,
}

impl Default for Mail {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            security: MailSecurity::Starttls,
            from: "Attest <attest@localhost>".to_owned(),
            username: None,
            password_file: None,
            password: None,
            ca_file: None,
        }
    }
}

/// `[auth]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// A session ends after this many minutes without user activity.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after sign-in.
    pub session_absolute_hours: u32,
    /// Argon2id memory, KiB (at least 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (at least 2).
    pub argon2_iterations: u32,
    /// Users who neither sign in nor use a session for this many days are disabled (SEC-38);
    /// 0 turns it off.
    pub inactive_disable_days: u32,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            session_idle_minutes: 60,
            session_absolute_hours: 12,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            inactive_disable_days: 90,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./attest-data")
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// HTTPS listener, `ADDR:PORT`.
    pub listen: String,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub redirect_listen: Option<String>,
    /// The public origin (`https://attest.example.com`); derived from `listen` when unset.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (SEC-41). Empty: trust nobody.
    pub trusted_proxies: Vec<String>,
    /// Largest request body accepted, in bytes (file uploads stream under their own limits).
    pub max_body_bytes: usize,
    /// Largest total size of request headers, in bytes.
    pub max_header_bytes: usize,
    /// Time a request may take before it is answered 408/503, in seconds.
    pub request_timeout_secs: u64,
    /// Requests processed at once; more are answered 503.
    pub max_concurrent_requests: usize,
    /// How long a shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".to_owned(),
            redirect_listen: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout_secs: 30,
            max_concurrent_requests: 512,
            shutdown_grace_secs: 30,
        }
    }
}

/// `[tls]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain. Unset: a self-signed certificate in the data directory.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub key_file: Option<PathBuf>,
}

/// `[database]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://…` or `postgres://…`. Unset: SQLite at `<data_dir>/attest.db`. For
    /// PostgreSQL this is the **app role** (no DDL, no BYPASSRLS).
    pub url: Option<SecretString>,
    /// PostgreSQL only: the **owner role** used by `attest migrate`. Unset: `url`.
    pub migration_url: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a free pooled connection before it is answered 503 with
    /// `Retry-After` (milliseconds).
    pub acquire_timeout_ms: u64,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: None,
            migration_url: None,
            max_connections: 16,
            acquire_timeout_ms: 10_000,
        }
    }
}

/// `[keys]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Keys {
    /// The keyring (KEKs). Unset: `<data_dir>/keyring.json`.
    pub keyring_file: Option<PathBuf>,
    /// The keyring's content, for secret stores that inject environment variables
    /// (`ATTEST_KEYS__KEYRING`). Never put it in the file.
    pub keyring: Option<SecretString>,
    /// The password pepper. Unset: `<data_dir>/pepper.json`.
    pub pepper_file: Option<PathBuf>,
    /// The pepper's content (`ATTEST_KEYS__PEPPER`). Never put it in the file.
    pub pepper: Option<SecretString>,
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a tracing filter directive.
    pub level: String,
    /// `json` (default) or `pretty`.
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Json,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// `[metrics]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// File holding the bearer token for `/metrics` on the main listener.
    pub token_file: Option<PathBuf>,
    /// The token itself (`ATTEST_METRICS__TOKEN`).
    pub token: Option<SecretString>,
    /// A separate plain-HTTP listener serving only `/metrics` (e.g. `127.0.0.1:9464`).
    pub listen: Option<String>,
}

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Read events waiting to be appended; when full, readers wait (nothing is dropped).
    pub read_buffer: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Self { read_buffer: 4096 }
    }
}

/// Command-line values that override every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `serve --listen`
    pub listen: Option<String>,
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

fn load_err(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Load(e.to_string())
}

/// Keeps only `ATTEST_*` variables that name a known key, lower-cased for the config crate.
fn environment_map(env: impl IntoIterator<Item = (String, String)>) -> config::Map<String, String> {
    env.into_iter()
        .filter(|(k, _)| {
            k.strip_prefix("ATTEST_").is_some_and(|rest| {
                let rest = rest.to_ascii_lowercase();
                let root = rest.split("__").next().unwrap_or_default();
                KNOWN_ROOTS.contains(&root)
            })
        })
        .collect()
}

impl Config {
    /// Loads and validates the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key that is wrong.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "the configuration file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ATTEST")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.trusted_proxies")
                .ignore_empty(true)
                .source(Some(environment_map(env))),
        );
        if let Some(dir) = &overrides.data_dir {
            builder = builder
                .set_override("data_dir", dir.to_string_lossy().into_owned())
                .map_err(load_err)?;
        }
        if let Some(listen) = &overrides.listen {
            builder = builder
                .set_override("server.listen", listen.clone())
                .map_err(load_err)?;
        }
        let cfg: Self = builder
            .build()
            .map_err(load_err)?
            .try_deserialize()
            .map_err(load_err)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses only the file, to tell which values were written into it in clear (SEC-65).
    ///
    /// # Errors
    /// If the file cannot be read or parsed.
    pub fn secrets_in_file(path: &Path) -> Result<Vec<&'static str>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(load_err)?;
        let table: toml::Table = toml::from_str(&text).map_err(load_err)?;
        let get = |section: &str, key: &str| {
            table
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };
        let mut found = Vec::new();
        if get("keys", "keyring").is_some() {
            found.push("keys.keyring");
        }
        if get("keys", "pepper").is_some() {
            found.push("keys.pepper");
        }
        if get("mail", "password").is_some() {
            found.push("mail.password");
        }
        if get("metrics", "token").is_some() {
            found.push("metrics.token");
        }
        if table
            .get("sso")
            .and_then(|s| s.get("client_secrets"))
            .and_then(toml::Value::as_table)
            .is_some_and(|t| !t.is_empty())
        {
            found.push("sso.client_secrets");
        }
        let nested = |section: &str, sub: &str, key: &str| {
            table
                .get(section)
                .and_then(|s| s.get(sub))
                .and_then(|s| s.get(key))
                .is_some()
        };
        if nested("storage", "s3", "secret_access_key") {
            found.push("storage.s3.secret_access_key");
        }
        if nested("storage", "azure", "access_key") {
            found.push("storage.azure.access_key");
        }
        for (key, name) in [
            ("url", "database.url"),
            ("migration_url", "database.migration_url"),
        ] {
            if get("database", key).is_some_and(|u| url_has_password(&u)) {
                found.push(name);
            }
        }
        Ok(found)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        parse_addr("server.listen", &self.server.listen)?;
        if let Some(r) = &self.server.redirect_listen {
            parse_addr("server.redirect_listen", r)?;
        }
        if let Some(m) = &self.metrics.listen {
            parse_addr("metrics.listen", m)?;
        }
        for p in &self.server.trusted_proxies {
            if p.parse::<std::net::IpAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "server.trusted_proxies",
                    message: format!("{p:?} is not an IP address"),
                });
            }
        }
        if let Some(u) = &self.server.public_url
            && !u.starts_with("https://")
        {
            return Err(ConfigError::Invalid {
                key: "server.public_url",
                message: "must start with https://".to_owned(),
            });
        }
        positive("server.max_body_bytes", self.server.max_body_bytes as u64)?;
        positive(
            "server.max_header_bytes",
            self.server.max_header_bytes as u64,
        )?;
        positive(
            "server.request_timeout_secs",
            self.server.request_timeout_secs,
        )?;
        positive(
            "server.max_concurrent_requests",
            self.server.max_concurrent_requests as u64,
        )?;
        positive(
            "database.max_connections",
            u64::from(self.database.max_connections),
        )?;
        positive(
            "database.acquire_timeout_ms",
            self.database.acquire_timeout_ms,
        )?;
        positive("audit.read_buffer", self.audit.read_buffer as u64)?;
        positive(
            "auth.session_idle_minutes",
            u64::from(self.auth.session_idle_minutes),
        )?;
        positive(
            "auth.session_absolute_hours",
            u64::from(self.auth.session_absolute_hours),
        )?;
        if self.auth.argon2_memory_kib < 19_456 || self.auth.argon2_iterations < 2 {
            return Err(ConfigError::Invalid {
                key: "auth.argon2_memory_kib",
                message: "Argon2id needs at least 19456 KiB and 2 iterations (OWASP ASVS 5.0 appendix C); raise, never lower".to_owned(),
            });
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "tls.cert_file",
                message: "tls.cert_file and tls.key_file must be set together".to_owned(),
            });
        }
        if let Some(url) = &self.database.url {
            database_kind(url.expose_secret()).ok_or_else(|| ConfigError::Invalid {
                key: "database.url",
                message: "must start with sqlite: or postgres:// (postgresql://)".to_owned(),
            })?;
        }
        if !self.mail.from.contains('@') || self.mail.from.contains(['\r', '\n']) {
            return Err(ConfigError::Invalid {
                key: "mail.from",
                message: "must be an address such as `Attest <attest@example.com>`".to_owned(),
            });
        }
        if self.keys.keyring.is_some() && self.keys.keyring_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "keys.keyring",
                message: "set keys.keyring or keys.keyring_file, not both".to_owned(),
            });
        }
        if self.keys.pepper.is_some() && self.keys.pepper_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "keys.pepper",
                message: "set keys.pepper or keys.pepper_file, not both".to_owned(),
            });
        }
        self.storage.validate()?;
        Ok(())
    }

    /// The HTTPS listen address.
    ///
    /// # Errors
    /// Never after [`Config::load`] succeeded; kept fallible for callers building configs.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_addr("server.listen", &self.server.listen)
    }

    /// The database URL, defaulting to SQLite in the data directory.
    #[must_use]
    pub fn database_url(&self) -> SecretString {
        self.database.url.clone().unwrap_or_else(|| {
            SecretString::from(format!(
                "sqlite://{}",
                self.data_dir.join("attest.db").display()
            ))
        })
    }

    /// The URL migrations connect with (the owner role on PostgreSQL).
    #[must_use]
    pub fn migration_url(&self) -> SecretString {
        self.database
            .migration_url
            .clone()
            .unwrap_or_else(|| self.database_url())
    }

    /// The engine selected by the database URL.
    #[must_use]
    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(self.database_url().expose_secret()).unwrap_or(DatabaseKind::Sqlite)
    }

    /// The keyring file (when the keyring is not given inline).
    #[must_use]
    pub fn keyring_path(&self) -> PathBuf {
        self.keys
            .keyring_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keyring.json"))
    }

    /// The pepper file (when the pepper is not given inline).
    #[must_use]
    pub fn pepper_path(&self) -> PathBuf {
        self.keys
            .pepper_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pepper.json"))
    }

    /// The certificate and key files: configured, or the self-signed pair in the data dir.
    #[must_use]
    pub fn tls_paths(&self) -> (PathBuf, PathBuf, bool) {
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), false),
            _ => (
                self.data_dir.join("tls").join("self-signed.crt"),
                self.data_dir.join("tls").join("self-signed.key"),
                true,
            ),
        }
    }

    /// The public origin, e.g. `https://127.0.0.1:8443`.
    #[must_use]
    pub fn public_url(&self) -> String {
        self.server.public_url.clone().unwrap_or_else(|| {
            let host = match self.listen_addr() {
                Ok(a) if a.ip().is_unspecified() || a.ip().is_loopback() => {
                    format!("localhost:{}", a.port())
                }
                Ok(a) => a.to_string(),
                Err(_) => self.server.listen.clone(),
            };
            format!("https://{host}")
        })
    }

    /// The effective configuration as TOML, every secret masked (`attest config check`).
    #[must_use]
    pub fn effective_toml(&self) -> String {
        let masked = |s: &Option<SecretString>| s.as_ref().map(|_| "********".to_owned());
        let mut out = String::new();
        let mode = match self.mode {
            Mode::Development => "development",
            Mode::Production => "production",
        };
        let mut root = toml::Table::new();
        root.insert("mode".into(), mode.into());
        root.insert(
            "data_dir".into(),
            self.data_dir.display().to_string().into(),
        );
        let mut server = toml::Table::new();
        server.insert("listen".into(), self.server.listen.clone().into());
        opt(
            &mut server,
            "redirect_listen",
            self.server.redirect_listen.clone(),
        );
        server.insert("public_url".into(), self.public_url().into());
        server.insert(
            "trusted_proxies".into(),
            toml::Value::Array(
                self.server
                    .trusted_proxies
                    .iter()
                    .map(|p| p.clone().into())
                    .collect(),
            ),
        );
        int(
            &mut server,
            "max_body_bytes",
            self.server.max_body_bytes as u64,
        );
        int(
            &mut server,
            "max_header_bytes",
            self.server.max_header_bytes as u64,
        );
        int(
            &mut server,
            "request_timeout_secs",
            self.server.request_timeout_secs,
        );
        int(
            &mut server,
            "max_concurrent_requests",
            self.server.max_concurrent_requests as u64,
        );
        int(
            &mut server,
            "shutdown_grace_secs",
            self.server.shutdown_grace_secs,
        );
        root.insert("server".into(), server.into());
        let (cert, key, self_signed) = self.tls_paths();
        let mut tls = toml::Table::new();
        tls.insert("cert_file".into(), cert.display().to_string().into());
        tls.insert("key_file".into(), key.display().to_string().into());
        tls.insert("self_signed".into(), self_signed.into());
        root.insert("tls".into(), tls.into());
        let mut db = toml::Table::new();
        db.insert(
            "url".into(),
            mask_url_password(self.database_url().expose_secret()).into(),
        );
        opt(
            &mut db,
            "migration_url",
            self.database
                .migration_url
                .as_ref()
                .map(|u| mask_url_password(u.expose_secret())),
        );
        int(
            &mut db,
            "max_connections",
            u64::from(self.database.max_connections),
        );
        int(
            &mut db,
            "acquire_timeout_ms",
            self.database.acquire_timeout_ms,
        );
        root.insert("database".into(), db.into());
        let mut keys = toml::Table::new();
        match masked(&self.keys.keyring) {
            Some(m) => keys.insert("keyring".into(), m.into()),
            None => keys.insert(
                "keyring_file".into(),
                self.keyring_path().display().to_string().into(),
            ),
        };
        match masked(&self.keys.pepper) {
            Some(m) => keys.insert("pepper".into(), m.into()),
            None => keys.insert(
                "pepper_file".into(),
                self.pepper_path().display().to_string().into(),
            ),
        };
        root.insert("keys".into(), keys.into());
        let mut log = toml::Table::new();
        log.insert("level".into(), self.log.level.clone().into());
        log.insert(
            "format".into(),
            match self.log.format {
                LogFormat::Json => "json",
                LogFormat::Pretty => "pretty",
            }
            .into(),
        );
        root.insert("log".into(), log.into());
        let mut metrics = toml::Table::new();
        opt(
            &mut metrics,
            "token_file",
            self.metrics
                .token_file
                .as_ref()
                .map(|p| p.display().to_string()),
        );
        opt(&mut metrics, "token", masked(&self.metrics.token));
        opt(&mut metrics, "listen", self.metrics.listen.clone());
        root.insert("metrics".into(), metrics.into());
        let mut auth = toml::Table::new();
        int(
            &mut auth,
            "session_idle_minutes",
            u64::from(self.auth.session_idle_minutes),
        );
        int(
            &mut auth,
            "session_absolute_hours",
            u64::from(self.auth.session_absolute_hours),
        );
        int(
            &mut auth,
            "argon2_memory_kib",
            u64::from(self.auth.argon2_memory_kib),
        );
        int(
            &mut auth,
            "argon2_iterations",
            u64::from(self.auth.argon2_iterations),
        );
        int(
            &mut auth,
            "inactive_disable_days",
            u64::from(self.auth.inactive_disable_days),
        );
        root.insert("auth".into(), auth.into());
        let mut mail = toml::Table::new();
        opt(&mut mail, "smtp_host", self.mail.smtp_host.clone());
        int(&mut mail, "smtp_port", u64::from(self.mail.smtp_port));
        mail.insert(
            "security".into(),
            match self.mail.security {
                MailSecurity::Starttls => "starttls",
                MailSecurity::Tls => "tls",
                MailSecurity::None => "none",
            }
            .into(),
        );
        mail.insert("from".into(), self.mail.from.clone().into());
        opt(&mut mail, "username", self.mail.username.clone());
        opt(
            &mut mail,
            "password_file",
            self.mail
                .password_file
                .as_ref()
                .map(|p| p.display().to_string()),
        );
        opt(&mut mail, "password", masked(&self.mail.password));
        opt(
            &mut mail,
            "ca_file",
            self.mail.ca_file.as_ref().map(|p| p.display().to_string()),
        );
        root.insert("mail".into(), mail.into());
        let mut audit = toml::Table::new();
        int(&mut audit, "read_buffer", self.audit.read_buffer as u64);
        root.insert("audit".into(), audit.into());
        let mut sso = toml::Table::new();
        opt(
            &mut sso,
            "client_secret_dir",
            self.sso
                .client_secret_dir
                .as_ref()
                .map(|p| p.display().to_string()),
        );
        let mut secrets = toml::Table::new();
        for tenant in self.sso.client_secrets.keys() {
            secrets.insert(tenant.clone(), "********".into());
        }
        if !secrets.is_empty() {
            sso.insert("client_secrets".into(), secrets.into());
        }
        root.insert("sso".into(), sso.into());
        root.insert(
            "storage".into(),
            self.storage.effective(&self.data_dir).into(),
        );
        out.push_str(&toml::to_string_pretty(&root).unwrap_or_default());
        out
    }
}

fn opt(table: &mut toml::Table, key: &str, value: Option<String>) {
    if let Some(v) = value {
        table.insert(key.into(), v.into());
    }
}

fn int(table: &mut toml::Table, key: &str, value: u64) {
    table.insert(key.into(), i64::try_from(value).unwrap_or(i64::MAX).into());
}

fn positive(key: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            key,
            message: "must be greater than zero".to_owned(),
        });
    }
    Ok(())
}

fn parse_addr(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        key,
        message: format!("{value:?} is not an ADDRESS:PORT (e.g. 127.0.0.1:8443)"),
    })
}

/// The engine a URL selects, if any.
#[must_use]
pub fn database_kind(url: &str) -> Option<DatabaseKind> {
    if url.starts_with("sqlite:") {
        Some(DatabaseKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DatabaseKind::Postgres)
    } else {
        None
    }
}

fn url_has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        || url.contains("password=")
}

/// Replaces a password in a URL (userinfo or `password=` parameter) with `********`.
#[must_use]
pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            out = format!(
                "{scheme}://{user}:********@{host}{}",
                &rest[authority_end..]
            );
        }
    }
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let end = out[value_start..]
            .find('&')
            .map_or(out.len(), |e| value_start + e);
        out.replace_range(value_start..end, "********");
    }
    out
}

/// Secrets, for code that must hand them to a driver.
pub trait SecretExt {
    /// The secret value.
    fn reveal(&self) -> &str;
}

impl SecretExt for SecretString {
    fn reveal(&self) -> &str {
        self.expose_secret()
    }
}

/// An empty environment, for tests and callers that want file-only configuration.
#[must_use]
pub fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() -> Result<(), ConfigError> {
        let cfg = Config::load(None, no_env(), &Overrides::default())?;
        assert_eq!(cfg.server.listen, "127.0.0.1:8443");
        assert_eq!(cfg.data_dir, PathBuf::from("./attest-data"));
        assert_eq!(cfg.database_kind(), DatabaseKind::Sqlite);
        assert!(cfg.tls_paths().2);
        Ok(())
    }

    #[test]
    fn environment_overrides_file_and_flags_override_both() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("attest.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1000\"\nmax_body_bytes = 10\n",
        )?;
        let cfg = Config::load(
            Some(&path),
            env(&[
                ("ATTEST_SERVER__MAX_BODY_BYTES", "20"),
                ("ATTEST_DATABASE__URL", "postgres://app@localhost/attest"),
                ("ATTEST_TEST_DATABASE_URL", "ignored"),
                ("PATH", "/bin"),
            ]),
            &Overrides {
                data_dir: Some("/tmp/x".into()),
                listen: None,
            },
        )?;
        assert_eq!(cfg.server.listen, "127.0.0.1:1000");
        assert_eq!(cfg.server.max_body_bytes, 20);
        assert_eq!(cfg.database_kind(), DatabaseKind::Postgres);
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        Ok(())
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::load(
            None,
            env(&[("ATTEST_SERVER__LISTEN", "not-an-address")]),
            &Overrides::default(),
        );
        assert!(err.is_err_and(|e| e.to_string().contains("server.listen")));
        let err = Config::load(
            None,
            env(&[("ATTEST_SERVER__MAX_BODY_BYTES", "lots")]),
            &Overrides::default(),
        );
        assert!(err.is_err_and(|e| e.to_string().contains("max_body_bytes")));
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("attest.toml");
        std::fs::write(&path, "[server]\nlisten_port = 1\n")?;
        let err = Config::load(Some(&path), no_env(), &Overrides::default());
        assert!(err.is_err_and(|e| e.to_string().contains("listen_port")));
        Ok(())
    }

    #[test]
    fn effective_configuration_masks_every_secret() -> Result<(), ConfigError> {
        let cfg = Config::load(
            None,
            env(&[
                (
                    "ATTEST_DATABASE__URL",
                    "postgres://app:hunter2-canary@db/attest?password=p2-canary",
                ),
                ("ATTEST_METRICS__TOKEN", "metrics-canary"),
                ("ATTEST_KEYS__PEPPER", "pepper-canary"),
                (
                    "ATTEST_SSO__CLIENT_SECRETS__0B7C1D2E3F4A4B5C8D9E0F1A2B3C4D5E",
                    "sso-canary",
                ),
            ]),
            &Overrides::default(),
        )?;
        let shown = cfg.effective_toml();
        for canary in [
            "hunter2-canary",
            "p2-canary",
            "metrics-canary",
            "pepper-canary",
            "sso-canary",
        ] {
            assert!(!shown.contains(canary), "{canary} leaked:\n{shown}");
        }
        assert!(shown.contains("postgres://app:********@db/attest"));
        assert!(
            shown.contains("0b7c1d2e3f4a4b5c8d9e0f1a2b3c4d5e = \"********\""),
            "{shown}"
        );
        assert!(!format!("{cfg:?}").contains("canary"));
        Ok(())
    }

    #[test]
    fn secrets_written_into_the_file_are_found() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("attest.toml");
        std::fs::write(
            &path,
            "[database]\nurl = \"postgres://app:pw@db/attest\"\n[metrics]\ntoken = \"t\"\n",
        )?;
        assert_eq!(
            Config::secrets_in_file(&path)?,
            vec!["metrics.token", "database.url"]
        );
        Ok(())
    }
}
