//! What every handler can reach.

use attest_domain::activities::Activities;
use attest_domain::controls::Controls;
use attest_domain::documents::Documents;
use attest_domain::evidence::Evidence;
use attest_domain::frameworks::Frameworks;
use attest_domain::risks::Risks;
use std::net::IpAddr;
use std::sync::Arc;

use attest_domain::Db;
use attest_domain::audit::AuditLog;
use attest_domain::authn::sso::Sso;
use attest_domain::identity::Identity;
use attest_domain::keys::KeyService;
use attest_types::Clock;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

/// Settings of the HTTP layer, resolved from the configuration by the binary.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The public origin, e.g. `https://attest.example.com`.
    pub public_url: String,
    /// Proxies whose `X-Forwarded-For` is believed (SEC-41).
    pub trusted_proxies: Vec<IpAddr>,
    /// SHA-256 of the `/metrics` bearer token; `None`: `/metrics` is not served on the main
    /// listener.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Time a request may take, seconds.
    pub request_timeout_secs: u64,
    /// Requests processed at once.
    pub max_concurrent_requests: usize,
    /// Largest body of a file upload: the store's file limit plus room for the form's fields
    /// (the store enforces the file's own limit and the tenant quota while streaming).
    pub upload_body_bytes: usize,
    /// Time an upload request may take, seconds.
    pub transfer_timeout_secs: u64,
    /// An upload whose client sends nothing for this long is cut off, seconds.
    pub upload_idle_secs: u64,
}

/// Shared state of the web layer.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The audit trail.
    pub audit: AuditLog,
    /// Data keys.
    pub keys: Arc<KeyService>,
    /// Users, tenants, sessions.
    pub identity: Identity,
    /// OpenID Connect single sign-on.
    pub sso: Sso,
    /// Documents.
    pub documents: Documents,
    /// The evidence library.
    pub evidence: Evidence,
    /// Framework catalogues.
    pub frameworks: Frameworks,
    /// Controls, their mappings and the statement of applicability.
    pub controls: Controls,
    /// Control activities and their runs.
    pub activities: Activities,
    /// The risk register.
    pub risks: Risks,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Arc<WebSettings>,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// Admission control for [`WebSettings::max_concurrent_requests`].
    pub in_flight: Arc<Semaphore>,
}

impl AppState {
    /// Assembles the state.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        audit: AuditLog,
        keys: Arc<KeyService>,
        identity: Identity,
        sso: Sso,
        evidence: Evidence,
        clock: Arc<dyn Clock>,
        settings: WebSettings,
        metrics: PrometheusHandle,
    ) -> Self {
        let permits = settings.max_concurrent_requests.max(1);
        let documents = Documents::new(
            db.clone(),
            Arc::clone(&keys),
            audit.clone(),
            Arc::clone(&clock),
        );
        let frameworks = Frameworks::new(db.clone(), audit.clone(), Arc::clone(&clock));
        let controls = Controls::new(
            db.clone(),
            Arc::clone(&keys),
            audit.clone(),
            Arc::clone(&clock),
        );
        let activities = Activities::new(
            db.clone(),
            audit.clone(),
            identity.mailer().clone(),
            Arc::clone(&clock),
        );
        let risks = Risks::new(
            db.clone(),
            Arc::clone(&keys),
            audit.clone(),
            identity.mailer().clone(),
            Arc::clone(&clock),
        );
        Self {
            frameworks,
            controls,
            activities,
            risks,
            db,
            audit,
            keys,
            identity,
            sso,
            documents,
            evidence,
            clock,
            settings: Arc::new(settings),
            metrics,
            in_flight: Arc::new(Semaphore::new(permits)),
        }
    }
}
