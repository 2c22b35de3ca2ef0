//! Request framing: the outermost middleware. For every request it
//!
//! 1. gives it a correlation id ([`RequestContext`]), a CSP nonce and the client address;
//! 2. runs the rest of the stack, turning a panic into a generic 500 (the server keeps
//!    serving, SEC-76);
//! 3. replaces any error body not rendered by us (404 fallback, 405, 413, 408…) with the
//!    generic JSON or HTML error carrying the id;
//! 4. adds the security headers;
//! 5. writes one JSON access-log line (id, method, route, status, latency, actor, client) and
//!    updates the request metrics. Headers, cookies, bodies and query strings are never
//!    logged (SEC-72).

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use attest_types::{Actor, RequestId};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use futures_util::FutureExt as _;

use super::headers::{self, CspNonce};
use crate::AppState;
use crate::error::{ErrorDetail, Format, Rendered, error_response};

/// Facts about the current request, for handlers, the audit trail and the log.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Correlation id, also sent as `X-Request-Id` and shown in error bodies.
    pub request_id: RequestId,
    /// The client address after proxy resolution (SEC-41).
    pub client_ip: IpAddr,
    /// The CSP nonce for this response's scripts.
    pub nonce: CspNonce,
}

/// Set by authentication (later) on the response so the access log names the actor.
#[derive(Debug, Clone)]
pub struct ActorTag(pub Actor);

fn fallback_nonce(request_id: RequestId) -> String {
    // The OS generator failing is fatal elsewhere; here a unique value still beats none.
    request_id.as_uuid().simple().to_string()
}

/// The framing middleware; see the module documentation.
pub async fn frame(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = RequestId::new_random();
    let nonce = attest_crypto::random::nonce().unwrap_or_else(|_| fallback_nonce(request_id));
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    let client_ip =
        super::client_ip::resolve(peer, request.headers(), &state.settings.trusted_proxies);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let format = Format::negotiate(request.uri().path(), request.headers());
    request.extensions_mut().insert(RequestContext {
        request_id,
        client_ip,
        nonce: CspNonce(nonce.clone()),
    });

    let mut response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(request_id = %request_id, route = %route, "handler panicked");
            metrics::counter!("attest_http_panics_total").increment(1);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    };

    let status = response.status();
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        tracing::error!(request_id = %request_id, route = %route, error = %detail, "request failed");
    }
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<Rendered>().is_none()
    {
        let mut rendered = error_response(status, request_id, format);
        for keep in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
            if let Some(v) = response.headers().get(&keep) {
                rendered.headers_mut().insert(keep, v.clone());
            }
        }
        response = rendered;
    }
    if let Ok(v) = HeaderValue::from_str(&request_id.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    headers::apply(response.headers_mut(), &nonce);

    let latency = started.elapsed();
    let actor = response
        .extensions()
        .get::<ActorTag>()
        .map_or_else(|| "anonymous".to_owned(), |a| a.0.to_string());
    tracing::info!(
        target: "attest::access",
        request_id = %request_id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        actor = %actor,
        client_ip = %client_ip,
        "request"
    );
    let labels = [
        ("route", route),
        ("method", method.as_str().to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("attest_http_requests_total", &labels).increment(1);
    metrics::histogram!("attest_http_request_duration_seconds", &labels[..2])
        .record(latency.as_secs_f64());
    response
}
