//! Server-rendered pages (askama: compiled templates, HTML auto-escaping on, SEC-45).

use askama::Template;
use attest_types::RequestId;
use axum::http::StatusCode;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    status: u16,
    message: &'a str,
    reference: String,
}

/// The HTML body of a generic error page.
#[must_use]
pub fn error_page(status: StatusCode, message: &str, request_id: RequestId) -> String {
    ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        message,
        reference: request_id.to_string(),
    }
    .render()
    .unwrap_or_else(|_| "An error occurred.".to_owned())
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    title: &'a str,
    ready: bool,
}

/// The start page.
///
/// # Errors
/// If the template fails to render.
pub fn home_page(ready: bool) -> Result<String, askama::Error> {
    HomePage {
        title: "Attest",
        ready,
    }
    .render()
}
