//! Errors as the client sees them: a status, a stable machine-readable code, a plain message
//! and the request's correlation id, in JSON or HTML. Never a stack trace, SQL, a path or a
//! version (SEC-76); the detail goes to the log, keyed by the same id.

use attest_types::RequestId;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::views;

/// Marks a response whose error body was rendered here, so the framing middleware leaves it.
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// How the client wants errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`
    Json,
    /// `text/html`
    Html,
}

impl Format {
    /// JSON for the API and for clients that do not ask for HTML.
    #[must_use]
    pub fn negotiate(path: &str, headers: &HeaderMap) -> Self {
        let accepts_html = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if path.starts_with("/api/") || !accepts_html {
            Self::Json
        } else {
            Self::Html
        }
    }
}

/// The stable code and human message for a status.
#[must_use]
pub fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "bad_request",
            "The request could not be understood. Check it and try again.",
        ),
        401 => ("unauthenticated", "Please sign in to continue."),
        403 => ("forbidden", "You do not have permission to do this."),
        404 => (
            "not_found",
            "There is nothing here. Check the address, or go back to the start page.",
        ),
        405 => (
            "method_not_allowed",
            "This address does not accept that kind of request.",
        ),
        408 => ("timeout", "The request took too long. Please try again."),
        409 => (
            "conflict",
            "This conflicts with the current state. Reload and try again.",
        ),
        410 => ("gone", "This link is no longer valid."),
        413 => (
            "payload_too_large",
            "The request is larger than the server accepts.",
        ),
        415 => (
            "unsupported_media_type",
            "This type of content is not accepted here.",
        ),
        422 => ("invalid", "Some of the input is not valid."),
        429 => (
            "rate_limited",
            "Too many requests. Please wait a moment and try again.",
        ),
        503 => (
            "unavailable",
            "The service is busy or not ready. Please try again shortly.",
        ),
        s if s >= 500 => (
            "internal",
            "Something went wrong on our side. If it persists, give the reference to your administrator.",
        ),
        _ => ("error", "The request could not be completed."),
    }
}

/// The generic error response for a status.
#[must_use]
pub fn error_response(status: StatusCode, request_id: RequestId, format: Format) -> Response {
    let (code, _) = describe(status);
    error_code_response(status, code, request_id, format)
}

/// An error response with a specific stable code (e.g. `csrf_token`, `session_superseded`).
#[must_use]
pub fn error_code_response(
    status: StatusCode,
    code: &str,
    request_id: RequestId,
    format: Format,
) -> Response {
    let message = specific_message(code).unwrap_or_else(|| describe(status).1);
    let mut response = match format {
        Format::Json => (
            status,
            axum::Json(serde_json::json!({
                "error": code,
                "message": message,
                "id": request_id.to_string(),
            })),
        )
            .into_response(),
        Format::Html => {
            let body = views::error_page(status, message, request_id);
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    };
    response.extensions_mut().insert(Rendered);
    response
}

/// A JSON error about one input field: `{"error", "field", "message", "id"}`.
#[must_use]
pub fn field_error_response(
    status: StatusCode,
    code: &str,
    field: &str,
    message: &str,
    request_id: RequestId,
) -> Response {
    let mut r = (
        status,
        axum::Json(serde_json::json!({
            "error": code,
            "field": field,
            "message": message,
            "id": request_id.to_string(),
        })),
    )
        .into_response();
    r.extensions_mut().insert(Rendered);
    r
}

/// Messages for the specific codes.
fn specific_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "csrf_origin" | "csrf_token" => {
            "This form has expired or did not come from Attest. Go back, reload the page and try again."
        }
        "session_superseded" => {
            "You signed in on another browser, so this session was ended. Sign in again to continue here."
        }
        "session_expired" => "Your session has expired. Sign in again to continue.",
        "invalid_credentials" => "The email address or password is not correct.",
        "wrong_password" => "The current password is not correct.",
        "reauth_required" => "Confirm your password to continue.",
        "upload_incomplete" => {
            "The upload did not arrive whole. Nothing was stored; send it again."
        }
        "integrity_error" => {
            "The stored file failed its integrity check, so it was not sent. The incident was recorded; tell your administrator the reference below."
        }
        "range_not_satisfiable" => "The requested part lies outside the file.",
        "file_too_large" => "The file is larger than the limit. Nothing was stored.",
        "quota_exceeded" => "Your organisation's storage is full. Nothing was stored.",
        "unsupported_file_type" => {
            "This type of file is not accepted, or its content does not match its name."
        }
        "archive_refused" => "The archive was refused: it could not be checked safely.",
        "multipart_required" => "Send the file as a multipart/form-data upload.",
        "invalid_link" => {
            "This link is not valid: it may have been used already or have expired. Ask for a new one."
        }
        _ => return None,
    })
}

/// How long a client is told to wait when the database is busy (seconds).
const RETRY_AFTER_BUSY: &str = "1";

/// 503 `unavailable` with `Retry-After`: the database could not serve in time (every pooled
/// connection busy). Nothing was half-written (an unfinished transaction rolls back); the
/// client may send the request again.
#[must_use]
pub fn unavailable_response(request_id: RequestId, format: Format) -> Response {
    let mut r = error_code_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        request_id,
        format,
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_BUSY),
    );
    r
}

/// A handler failure. Internal details are logged by the framing middleware and never sent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not found, or not visible to the caller (the same answer, SEC-32).
    #[error("not found")]
    NotFound,
    /// Anything unexpected. The message is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// The service cannot answer now.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Carries an internal error's detail from the handler to the access log.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

impl AppError {
    /// An unexpected failure: [`AppError::Unavailable`] when its cause is a database that
    /// cannot serve now (a pool timeout, found anywhere in the error's source chain), else
    /// [`AppError::Internal`]. Either way the detail goes to the log only.
    #[must_use]
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        if attest_domain::database_unavailable(error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Internal(error.to_string())
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        // The body is produced by the framing middleware, which knows the request id and the
        // format the client wants.
        let mut response = status.into_response();
        if matches!(self, Self::Unavailable(_)) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_BUSY),
            );
        }
        if let Self::Internal(detail) | Self::Unavailable(detail) = self {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}
