//! Security headers on every response, errors included (SEC-51, SEC-52, SEC-53).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// A per-request random value allowed to run scripts by the CSP.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// The Content-Security-Policy for a nonce: no inline script or style, no plugins, no
/// framing, no foreign form targets.
#[must_use]
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

/// Adds the security headers. A `Cache-Control` set by the handler (public static assets)
/// is kept; everything else is `no-store`. A sandboxing CSP set by a download is kept.
pub fn apply(headers: &mut HeaderMap, nonce: &str) {
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000; includeSubDomains",
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&content_security_policy(nonce))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    headers.remove(header::SERVER);
    headers.remove(HeaderName::from_static("x-powered-by"));
}
