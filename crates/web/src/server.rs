//! Listeners and their lifecycle.
//!
//! - The HTTPS listener (rustls; TLS 1.2/1.3, ECDHE-AEAD only; HTTP/2 by ALPN).
//! - An optional plain-HTTP listener that only redirects safe requests to HTTPS and answers
//!   400 to anything else, so credentials are never processed over HTTP (SEC-59).
//! - An optional plain-HTTP metrics listener (bind it to loopback or a private network).
//! - Certificate files are re-read when they change or on SIGHUP, without a restart.
//! - Graceful shutdown: stop accepting, let in-flight requests finish within the grace period.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// HTTP-level limits enforced by hyper before a request reaches the router.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest header block, bytes (HTTP/1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
}

/// Where the certificate comes from, for reloading.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Everything needed to serve.
#[derive(Debug)]
pub struct ServerParts {
    /// The application.
    pub app: Router,
    /// The bound HTTPS listener.
    pub https: TcpListener,
    /// The certificate files.
    pub cert: CertFiles,
    /// The bound redirect listener and the HTTPS origin to redirect to.
    pub redirect: Option<(TcpListener, String)>,
    /// The bound metrics listener and its router.
    pub metrics: Option<(TcpListener, Router)>,
    /// Limits.
    pub limits: HttpLimits,
    /// How long shutdown waits for in-flight requests.
    pub grace: Duration,
    /// How often certificate files are checked for changes.
    pub cert_poll: Duration,
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The HTTPS address actually bound (useful with port 0).
    pub https_addr: SocketAddr,
    /// The redirect listener's address.
    pub redirect_addr: Option<SocketAddr>,
    /// The metrics listener's address.
    pub metrics_addr: Option<SocketAddr>,
    handle: Handle<SocketAddr>,
    plain_handles: Vec<Handle<SocketAddr>>,
    tasks: JoinSet<io::Result<()>>,
    reload: Arc<Notify>,
    grace: Duration,
}

/// The TLS configuration failed to load.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

fn load_tls(files: &CertFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    attest_crypto::tls::server_config(&files.cert, &files.key).map_err(|e| TlsError(e.to_string()))
}

fn modified(files: &CertFiles) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&files.cert)?, m(&files.key)?))
}

async fn reload_loop(config: RustlsConfig, files: CertFiles, poll: Duration, kick: Arc<Notify>) {
    let mut seen = modified(&files);
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(poll) => false,
            () = kick.notified() => true,
        };
        let now = modified(&files);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match load_tls(&files) {
            Ok(fresh) => {
                config.reload_from_config(fresh);
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate reload failed; the previous certificate stays in use");
            }
        }
    }
}

/// Redirect-only handler for the plain-HTTP listener.
fn redirect_app(origin: String) -> Router {
    Router::new().fallback(move |request: Request| {
        let origin = origin.clone();
        async move { redirect(&origin, &request) }
    })
}

fn redirect(origin: &str, request: &Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        // Never process, nor bounce, credentials sent over plain HTTP.
        return (StatusCode::BAD_REQUEST, "Use HTTPS.\n").into_response();
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = format!("{origin}{path}");
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn configure<A>(server: &mut axum_server::Server<SocketAddr, A>, limits: HttpLimits) {
    let builder = server.http_builder();
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
}

/// Starts serving on the bound listeners.
///
/// # Errors
/// If the certificate cannot be loaded or a listener cannot be used.
pub fn start(parts: ServerParts) -> Result<RunningServer, io::Error> {
    let tls = load_tls(&parts.cert).map_err(io::Error::other)?;
    let rustls = RustlsConfig::from_config(tls);
    let https_addr = parts.https.local_addr()?;
    parts.https.set_nonblocking(true)?;
    let handle = Handle::new();
    let mut tasks = JoinSet::new();
    // TCP_NODELAY: a TLS record and the response after it go out at once, instead of the
    // second waiting for the client's delayed acknowledgement (40 ms a request otherwise).
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls.clone())
        .handshake_timeout(parts.limits.handshake_timeout)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let mut server = axum_server::from_tcp(parts.https)?
        .acceptor(acceptor)
        .handle(handle.clone());
    configure(&mut server, parts.limits);
    let app = parts.app;
    tasks.spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });

    let reload = Arc::new(Notify::new());
    let reloader = tokio::spawn(reload_loop(
        rustls,
        parts.cert,
        parts.cert_poll,
        Arc::clone(&reload),
    ));
    tasks.spawn(async move {
        let _ = reloader.await;
        Ok(())
    });

    let mut plain_handles = Vec::new();
    let mut redirect_addr = None;
    if let Some((listener, origin)) = parts.redirect {
        redirect_addr = Some(listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let h = Handle::new();
        plain_handles.push(h.clone());
        let mut server = axum_server::from_tcp(listener)?.handle(h);
        configure(&mut server, parts.limits);
        let app = redirect_app(origin);
        tasks.spawn(async move { server.serve(app.into_make_service()).await });
    }
    let mut metrics_addr = None;
    if let Some((listener, app)) = parts.metrics {
        metrics_addr = Some(listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let h = Handle::new();
        plain_handles.push(h.clone());
        let mut server = axum_server::from_tcp(listener)?.handle(h);
        configure(&mut server, parts.limits);
        tasks.spawn(async move {
            server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
        });
    }
    Ok(RunningServer {
        https_addr,
        redirect_addr,
        metrics_addr,
        handle,
        plain_handles,
        tasks,
        reload,
        grace: parts.grace,
    })
}

impl RunningServer {
    /// Re-reads the certificate files now (SIGHUP).
    pub fn reload_certificate(&self) {
        self.reload.notify_one();
    }

    /// Stops accepting connections and waits for in-flight requests (up to the grace period).
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(self.grace));
        for h in &self.plain_handles {
            h.graceful_shutdown(Some(self.grace));
        }
        // The reloader never ends by itself; the servers end after draining.
        let deadline = tokio::time::Instant::now() + self.grace + Duration::from_secs(1);
        while self.handle.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
