//! Request limits that need no configuration beyond numbers: methods the server never
//! accepts, and admission control (at most N requests in flight; more are answered 503
//! immediately rather than queued without bound).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Only the methods the application uses pass; TRACE, TRACK, CONNECT and anything unknown
/// are refused everywhere with 405 (SEC-79).
pub async fn refuse_methods(request: Request, next: Next) -> Response {
    let allowed = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    if !allowed.contains(request.method()) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    next.run(request).await
}

/// Answers 503 with `Retry-After` when the server is at its concurrency limit.
pub async fn admission(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    next.run(request).await
}
