//! Liveness, readiness and metrics.
//!
//! - `GET /healthz`: the process is alive (no dependencies checked).
//! - `GET /readyz`: the database answers and no migration is pending; 503 otherwise.
//! - `GET /metrics`: Prometheus text, only with the configured bearer token (SEC-79); without
//!   a token configured it does not exist on this listener (use `metrics.listen`).

use attest_domain::health::{NotReady, readiness};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;

/// `GET /healthz`
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`
pub async fn readyz(State(state): State<AppState>) -> Response {
    match readiness(&state.db).await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(reason) => {
            let why = match reason {
                NotReady::DatabaseUnreachable => "database_unreachable",
                NotReady::MigrationsPending(_) => "migrations_pending",
            };
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "not_ready", "reason": why })),
            )
                .into_response();
            r.extensions_mut().insert(crate::error::Rendered);
            r
        }
    }
}

/// Renders the metrics after refreshing the pool gauges.
#[must_use]
pub fn render_metrics(state: &AppState) -> Response {
    let (size, idle) = state.db.pool_stats();
    metrics::gauge!("attest_db_pool_connections").set(f64::from(size));
    metrics::gauge!("attest_db_pool_idle_connections").set(idle as f64);
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// `GET /metrics` on the main listener: bearer token required.
///
/// # Errors
/// 404 when no token is configured, 401 without the right token.
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(expected) = state.settings.metrics_token_sha256 else {
        return Err(AppError::NotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| attest_crypto::random::sha256(t.as_bytes()));
    if presented != Some(expected) {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(r);
    }
    Ok(render_metrics(&state))
}
