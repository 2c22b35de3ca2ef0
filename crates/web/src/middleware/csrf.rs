//! Cross-site request forgery protection (SEC-50), in one place for every route:
//!
//! - Every request gets a [`CsrfToken`] to render into its forms: bound to the session
//!   (derived from the session cookie, which a forging site cannot read) or, before sign-in,
//!   to a random pre-session cookie set here.
//! - Every state-changing request (anything but GET, HEAD, OPTIONS) must come from our own
//!   origin (`Origin`, else `Sec-Fetch-Site: same-origin`) and carry the token, in the
//!   `X-CSRF-Token` header or the `csrf_token` form field; in a `multipart/form-data` upload
//!   that field must come first, so it is read without waiting for the file. Otherwise: 403
//!   and nothing runs.

use attest_domain::authn::sessions::csrf_for;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::AppState;
use crate::cookies;
use crate::error::{Format, error_code_response};
use crate::middleware::RequestContext;

/// The CSRF token for forms in this response.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn same_origin(request: &Request, public_url: &str) -> bool {
    let headers = request.headers();
    // Browsers send `Origin: null` when the referrer policy hides the referrer; then the
    // Fetch Metadata header decides.
    match headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    {
        Some(origin) => origin.trim_end_matches('/') == public_url.trim_end_matches('/'),
        None => headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == "same-origin"),
    }
}

fn digest_eq(a: &str, b: &str) -> bool {
    attest_crypto::random::sha256(a.as_bytes()) == attest_crypto::random::sha256(b.as_bytes())
}

/// The middleware.
pub async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let session_cookie = cookies::get(request.headers(), cookies::SESSION);
    // A script with an API token and no session cookie cannot be a forged browser request:
    // browsers never add `Authorization` on their own. The route policy authenticates it.
    if session_cookie.is_none() && crate::auth::bearer(request.headers()).is_some() {
        let mut request = request;
        request.extensions_mut().insert(CsrfToken(String::new()));
        return next.run(request).await;
    }
    let pre_cookie = cookies::get(request.headers(), cookies::PRE_SESSION);
    let (expected, new_pre) = match (&session_cookie, &pre_cookie) {
        (Some(token), _) => (csrf_for(token), None),
        (None, Some(pre)) => (csrf_for(&format!("pre:{pre}")), None),
        (None, None) => match attest_crypto::random::token() {
            Ok(pre) => (csrf_for(&format!("pre:{pre}")), Some(pre)),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
    };
    let format = Format::negotiate(request.uri().path(), request.headers());
    let request_id = request
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.request_id)
        .unwrap_or_else(attest_types::RequestId::new_random);
    let mut request = request;
    if !is_safe(request.method()) {
        if !same_origin(&request, &state.settings.public_url) {
            return error_code_response(StatusCode::FORBIDDEN, "csrf_origin", request_id, format);
        }
        let header_token = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let provided = match header_token {
            Some(t) => Some(t),
            None if multipart_boundary(&request).is_some() => {
                let boundary = multipart_boundary(&request).unwrap_or_default();
                let timeout = std::time::Duration::from_secs(state.settings.request_timeout_secs);
                let (token, rebuilt) = first_multipart_field(request, &boundary, timeout).await;
                request = rebuilt;
                token
            }
            None if is_form(&request) => {
                let (parts, body) = request.into_parts();
                let Ok(bytes) = to_bytes(body, state.settings.max_body_bytes).await else {
                    return StatusCode::PAYLOAD_TOO_LARGE.into_response();
                };
                let token = form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == "csrf_token")
                    .map(|(_, v)| v.into_owned());
                request = Request::from_parts(parts, Body::from(bytes));
                token
            }
            None => None,
        };
        if new_pre.is_some() || !provided.is_some_and(|p| digest_eq(&p, &expected)) {
            return error_code_response(StatusCode::FORBIDDEN, "csrf_token", request_id, format);
        }
    }
    request.extensions_mut().insert(CsrfToken(expected));
    let mut response = next.run(request).await;
    if let Some(pre) = new_pre
        && let Some(v) = cookies::pre_session(&pre)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn multipart_boundary(request: &Request) -> Option<String> {
    let ct = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(ct).ok()
}

/// How much of a multipart body is read, at most, to find the token field.
const MULTIPART_PREFIX: usize = 16 * 1024;

/// Reads the start of a multipart body until its first part is complete, and returns that
/// part's value if it is the `csrf_token` field, with the request rebuilt to carry the whole
/// body (the bytes read, then the rest, still streaming).
async fn first_multipart_field(
    request: Request,
    boundary: &str,
    timeout: std::time::Duration,
) -> (Option<String>, Request) {
    use futures_util::StreamExt as _;
    let (parts, body) = request.into_parts();
    let mut rest = body.into_data_stream();
    let mut prefix = bytes::BytesMut::new();
    let delimiter = format!("\r\n--{boundary}");
    let mut broken = None;
    while prefix.len() < MULTIPART_PREFIX
        && !prefix
            .windows(delimiter.len())
            .any(|w| w == delimiter.as_bytes())
    {
        match tokio::time::timeout(timeout, rest.next()).await {
            Ok(Some(Ok(piece))) => prefix.extend_from_slice(&piece),
            Ok(Some(Err(e))) => {
                broken = Some(e);
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let prefix = prefix.freeze();
    let token = if broken.is_some() {
        None
    } else {
        let one =
            futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(prefix.clone())));
        let mut parsed = multer::Multipart::new(one, boundary.to_owned());
        match parsed.next_field().await {
            Ok(Some(field)) if field.name() == Some("csrf_token") => field.text().await.ok(),
            _ => None,
        }
    };
    let head = futures_util::stream::once(std::future::ready(Ok::<_, axum::Error>(prefix)));
    let whole = match broken {
        Some(e) => head
            .chain(futures_util::stream::once(std::future::ready(Err(e))))
            .boxed(),
        None => head.chain(rest).boxed(),
    };
    (token, Request::from_parts(parts, Body::from_stream(whole)))
}

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// Marks a response as one that must not keep the cookie (used by sign-out).
#[must_use]
pub fn clear_site_data() -> HeaderValue {
    HeaderValue::from_static("\"cache\", \"cookies\", \"storage\"")
}
