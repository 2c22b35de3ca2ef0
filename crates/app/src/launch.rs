//! Starting and stopping the server: the one wiring of every layer, used by `attest serve`
//! and by the test harness (which passes its own clock and extra routes).

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use attest_config::{Config, SecretExt as _, production_problems};
use attest_crypto::PepperSet;
use attest_crypto::password::{PasswordHasher, PasswordParams};
use attest_domain::audit::{AuditLog, AuditRecord, Outcome};
use attest_domain::authn::hashing::HashingPool;
use attest_domain::authn::passkeys::RelyingParty;
use attest_domain::authn::sessions::SessionPolicy;
use attest_domain::authn::sso::{OutboundPolicy, Sso};
use attest_domain::evidence::Evidence;
use attest_domain::identity::Identity;
use attest_domain::keys::KeyService;
use attest_domain::mail::Mailer;
use attest_types::{Actor, Clock};
use attest_web::server::{CertFiles, HttpLimits, RunningServer, ServerParts};
use attest_web::{AppState, WebSettings};
use axum::Router;
use tokio::task::JoinSet;

use crate::prepare::{self, PrepareError};
use crate::telemetry;

/// What to start.
#[derive(Debug)]
pub struct Launch {
    /// The configuration.
    pub config: Config,
    /// Secret-looking values found in clear in the configuration file (SEC-65).
    pub secrets_in_file: Vec<&'static str>,
    /// The clock (tests pass a manual one).
    pub clock: Arc<dyn Clock>,
    /// Routes added by the test harness; `None` in the binary.
    pub extra_routes: Option<Router<AppState>>,
    /// `serve --migrate`.
    pub migrate: bool,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The production self-check failed (SEC-82); each problem is named.
    #[error("refusing to start in production mode:\n{}", .0.iter().map(|p| format!("  - [{}] {}", p.check, p.message)).collect::<Vec<_>>().join("\n"))]
    Unsafe(Vec<attest_config::ProductionProblem>),
    /// Preparing files or the database failed.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The configuration key.
        key: &'static str,
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not start (e.g. an unusable certificate).
    #[error("cannot start the HTTPS server: {0}")]
    Start(String),
}

/// A running installation.
#[derive(Debug)]
pub struct Launched {
    /// The shared state (database, audit log, keys, clock).
    pub state: AppState,
    /// The pepper, for the identity features.
    pub pepper: Arc<PepperSet>,
    /// Where users reach it.
    pub public_url: String,
    /// The one-time link that creates the first administrator, while no user exists.
    pub bootstrap_link: Option<String>,
    server: RunningServer,
    background: JoinSet<()>,
}

fn bind(key: &'static str, addr: &str) -> Result<TcpListener, LaunchError> {
    TcpListener::bind(addr).map_err(|source| LaunchError::Bind {
        key,
        addr: addr.to_owned(),
        source,
    })
}

fn metrics_token(cfg: &Config) -> Result<Option<[u8; 32]>, PrepareError> {
    if let Some(t) = &cfg.metrics.token {
        return Ok(Some(attest_crypto::random::sha256(
            t.reveal().trim().as_bytes(),
        )));
    }
    match &cfg.metrics.token_file {
        None => Ok(None),
        Some(path) => {
            let text =
                attest_crypto::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    PrepareError::Files(format!("metrics.token_file {}: {e}", path.display()))
                })?);
            let token = text.trim();
            if token.len() < 16 {
                return Err(PrepareError::Files(
                    "metrics.token_file: the token must be at least 16 characters".to_owned(),
                ));
            }
            Ok(Some(attest_crypto::random::sha256(token.as_bytes())))
        }
    }
}

/// Prepares everything and starts serving.
///
/// # Errors
/// A [`LaunchError`] naming what is wrong.
pub async fn launch(l: Launch) -> Result<Launched, LaunchError> {
    let cfg = &l.config;
    let problems = production_problems(cfg, &l.secrets_in_file);
    if !problems.is_empty() {
        return Err(LaunchError::Unsafe(problems));
    }
    for key in &l.secrets_in_file {
        tracing::warn!(key = %key, "a secret is written in clear in the configuration file; move it to a file or an environment variable");
    }
    prepare::ensure_data_dir(&cfg.data_dir)?;
    let clock = l.clock;
    let url = cfg.database_url();
    let opened = prepare::open_db(cfg, url.reveal()).await?;
    let pepper = Arc::new(prepare::pepper(cfg, opened.fresh, clock.as_ref())?);
    let keyring = prepare::keyring(cfg, opened.fresh, clock.as_ref())?;
    let (cert, key) = prepare::certificate(cfg)?;
    let applied = prepare::migrations(cfg, &opened, l.migrate).await?;
    let db = opened.db;

    let audit = AuditLog::start(db.clone(), Arc::clone(&clock), cfg.audit.read_buffer);
    for name in &applied {
        let _ = audit
            .record(
                AuditRecord::system(Actor::Operator, "migration.apply", Outcome::Success)
                    .details(serde_json::json!({ "migration": name })),
            )
            .await;
    }
    let keys = Arc::new(KeyService::new(db.clone(), keyring, Arc::clone(&clock)));
    let hasher = PasswordHasher::new(
        PasswordParams {
            memory_kib: cfg.auth.argon2_memory_kib,
            iterations: cfg.auth.argon2_iterations,
            parallelism: 1,
        },
        Arc::clone(&pepper),
    )
    .map_err(|e| PrepareError::Files(format!("auth.argon2_memory_kib: {e}")))?;
    // The periodic tasks (mail delivery, sweeps). Shutdown stops them before the database
    // closes; each of their steps is a transaction, so a stopped one leaves nothing half-done.
    let mut background = JoinSet::new();
    let mailer = Mailer::new(db.clone(), Arc::clone(&keys), Arc::clone(&clock));
    match crate::mailer::SmtpTransport::from_config(cfg).map_err(PrepareError::Files)? {
        Some(transport) => {
            let m = mailer.clone();
            background.spawn(m.run(Arc::new(transport), Duration::from_secs(5)));
        }
        None => tracing::warn!(
            "mail.smtp_host is not set: invitations and reset mails are queued but not sent"
        ),
    }
    let identity = Identity::new(
        db.clone(),
        audit.clone(),
        Arc::clone(&clock),
        HashingPool::new(hasher),
        SessionPolicy {
            idle: time::Duration::minutes(i64::from(cfg.auth.session_idle_minutes)),
            absolute: time::Duration::hours(i64::from(cfg.auth.session_absolute_hours)),
        },
        mailer,
        Arc::clone(&keys),
    );
    // Bind first: with port 0 the public URL names the port actually bound.
    let https = bind("server.listen", &cfg.server.listen)?;
    let https_port = https.local_addr().map(|a| a.port()).unwrap_or_default();
    let public_url = match &cfg.server.public_url {
        Some(u) => u.clone(),
        None => format!("https://localhost:{https_port}"),
    };
    let relying_party = RelyingParty::for_origin(&public_url)
        .map_err(|e| PrepareError::Files(format!("server.public_url: {e}")))?;
    if relying_party.is_none() {
        tracing::warn!(
            url = %public_url,
            "the public URL names an IP address: passkeys are off (WebAuthn needs a domain name)"
        );
    }
    let identity = identity.with_relying_party(relying_party);
    // Access recertification (SEC-38), checked at start and every hour: the inactivity rule
    // (when `auth.inactive_disable_days` is not 0), memberships past their end date, and
    // reviews past their due date (escalated to the owners by mail).
    {
        let sweeper = identity.clone();
        let inactive = (cfg.auth.inactive_disable_days > 0)
            .then(|| time::Duration::days(i64::from(cfg.auth.inactive_disable_days)));
        let base_url = public_url.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Some(period) = inactive {
                    match sweeper.disable_inactive(period).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(disabled = n, "disabled inactive users"),
                        Err(e) => tracing::error!(error = %e, "could not disable inactive users"),
                    }
                }
                match sweeper.end_expired_memberships().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(ended = n, "ended expired memberships"),
                    Err(e) => tracing::error!(error = %e, "could not end expired memberships"),
                }
                match sweeper.escalate_overdue_reviews(&base_url).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(escalated = n, "escalated overdue access reviews"),
                    Err(e) => tracing::error!(error = %e, "could not escalate access reviews"),
                }
            }
        });
    }
    let trusted_proxies = cfg
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| p.parse::<IpAddr>().ok())
        .collect();
    let settings = WebSettings {
        public_url: public_url.clone(),
        trusted_proxies,
        metrics_token_sha256: metrics_token(cfg)?,
        max_body_bytes: cfg.server.max_body_bytes,
        request_timeout_secs: cfg.server.request_timeout_secs,
        max_concurrent_requests: cfg.server.max_concurrent_requests,
        upload_body_bytes: usize::try_from(cfg.storage.max_file_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(1024 * 1024),
        transfer_timeout_secs: cfg.storage.transfer_timeout_secs,
        upload_idle_secs: cfg.storage.upload_idle_secs,
    };
    // The evidence store (issue 6): the object store must answer before the server starts.
    let blobs = crate::storage::open(cfg).await?;
    let scanner = crate::storage::scanner(cfg);
    if let Some(s) = &scanner
        && let Err(e) = s.ping().await
    {
        tracing::warn!(error = %e, "storage.clamd does not answer: uploads are held until a scan succeeds");
    }
    let evidence = Evidence::new(
        db.clone(),
        Arc::clone(&keys),
        audit.clone(),
        Arc::clone(&clock),
        blobs,
        scanner,
        crate::storage::limits(cfg),
    );
    // Blobs of uploads a crash cut off, blobs of deleted evidence, half-written files and
    // files waiting for a scan verdict: at start and every five minutes.
    {
        let sweeper = evidence.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(300));
            loop {
                tick.tick().await;
                match sweeper.sweep().await {
                    Ok(r) if r == attest_domain::evidence::SweepReport::default() => {}
                    Ok(r) => tracing::info!(
                        orphans = r.orphans,
                        staging = r.staging,
                        rescanned = r.rescanned,
                        "swept the evidence store"
                    ),
                    Err(e) => tracing::error!(error = %e, "could not sweep the evidence store"),
                }
            }
        });
    }
    let metrics = telemetry::metrics_handle();
    // OpenID Connect: https only, except loopback http in development (tests, local IdPs).
    let sso = Sso::new(
        identity.clone(),
        OutboundPolicy {
            allow_loopback_http: cfg.mode == attest_config::Mode::Development,
            ..OutboundPolicy::default()
        },
        &public_url,
    )
    .map_err(|e| LaunchError::Start(e.to_string()))?
    .with_operator_secrets(
        attest_domain::authn::sso::OperatorSecrets::new(
            cfg.sso.client_secret_dir.clone(),
            cfg.sso.client_secrets.iter().map(|(tenant, secret)| {
                (
                    tenant.clone(),
                    attest_crypto::Zeroizing::new(secret.reveal().to_owned()),
                )
            }),
        )
        .map_err(LaunchError::Start)?,
    );
    let state = AppState::new(
        db,
        audit,
        keys,
        identity,
        sso,
        evidence,
        Arc::clone(&clock),
        settings,
        metrics,
    );
    // Control activities and risks (issue 7), at start and every hour: runs created ahead of
    // time, reminders before and after due dates, controls whose effectiveness time changed,
    // and risk owners reminded of reassessments.
    {
        let sweeper = state.activities.clone();
        let risks = state.risks.clone();
        let base_url = public_url.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let started = std::time::Instant::now();
                match sweeper.sweep(&base_url).await {
                    Ok(r) => tracing::info!(
                        scheduled = r.scheduled,
                        reminded = r.reminded,
                        rechecked = r.rechecked,
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        "swept the control activities"
                    ),
                    Err(e) => tracing::error!(error = %e, "could not sweep the control activities"),
                }
                match risks.remind_reassessments(&base_url).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reminded = n, "reminded risk owners of reassessments"),
                    Err(e) => tracing::error!(error = %e, "could not remind risk owners"),
                }
            }
        });
    }
    let app = attest_web::build_router(state.clone(), l.extra_routes);

    let redirect = match &cfg.server.redirect_listen {
        Some(addr) => Some((bind("server.redirect_listen", addr)?, public_url.clone())),
        None => None,
    };
    let metrics_listener = match &cfg.metrics.listen {
        Some(addr) => {
            let s = state.clone();
            let router = Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let s = s.clone();
                    async move { attest_web::routes::health::render_metrics(&s) }
                }),
            );
            Some((bind("metrics.listen", addr)?, router))
        }
        None => None,
    };
    let server = attest_web::server::start(ServerParts {
        app,
        https,
        cert: CertFiles { cert, key },
        redirect,
        metrics: metrics_listener,
        limits: HttpLimits {
            max_header_bytes: cfg.server.max_header_bytes,
            handshake_timeout: Duration::from_secs(10),
        },
        grace: Duration::from_secs(cfg.server.shutdown_grace_secs),
        cert_poll: Duration::from_secs(2),
    })
    .map_err(|e| LaunchError::Start(e.to_string()))?;
    let _ = state
        .audit
        .record(
            AuditRecord::system(Actor::System, "server.start", Outcome::Success)
                .details(serde_json::json!({ "listen": server.https_addr.to_string() })),
        )
        .await;
    let bootstrap_link = state
        .identity
        .issue_bootstrap()
        .await
        .map_err(|e| LaunchError::Start(e.to_string()))?
        .map(|token| format!("{public_url}/bootstrap/{}", token.as_str()));
    Ok(Launched {
        state,
        pepper,
        public_url,
        bootstrap_link,
        server,
        background,
    })
}

impl Launched {
    /// The HTTPS address bound.
    #[must_use]
    pub const fn https_addr(&self) -> std::net::SocketAddr {
        self.server.https_addr
    }

    /// The redirect listener's address.
    #[must_use]
    pub const fn redirect_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.redirect_addr
    }

    /// The metrics listener's address.
    #[must_use]
    pub const fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.metrics_addr
    }

    /// SIGHUP: re-read the certificate and the keyring.
    pub fn reload(&self) {
        self.server.reload_certificate();
        if let Err(e) = self.state.keys.keyring().reload() {
            tracing::error!(error = %e, "keyring reload failed; the loaded keys stay in use");
        }
    }

    /// Drains in-flight requests, stops the periodic tasks, records the stop, flushes the
    /// audit queue and closes the database.
    pub async fn shutdown(mut self) {
        self.server.shutdown().await;
        self.background.shutdown().await;
        let _ = self
            .state
            .audit
            .record(AuditRecord::system(
                Actor::System,
                "server.stop",
                Outcome::Success,
            ))
            .await;
        self.state.audit.shutdown().await;
        self.state.db.close().await;
    }
}
