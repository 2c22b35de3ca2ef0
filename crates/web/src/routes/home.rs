//! The start page.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::AppError;

/// `GET /`
///
/// # Errors
/// If the page cannot be rendered.
pub async fn home(State(state): State<AppState>) -> Result<Response, AppError> {
    let ready = attest_domain::health::readiness(&state.db).await.is_ok();
    let body = crate::views::home_page(ready).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(r)
}
