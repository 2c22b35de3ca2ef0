//! Downloads: attachments that cannot run, ranges, the SHA-256 as ETag.

use super::*;

fn etag(sha256: &str) -> String {
    format!("\"sha256-{sha256}\"")
}

fn download_response(d: Download) -> Response {
    let tag = etag(&d.sha256);
    let (status, length) = match d.range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, d.size),
    };
    let body = Body::from_stream(d.body.map(|piece| piece.map_err(std::io::Error::other)));
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    let mut put = |name, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put(header::CONTENT_TYPE, d.media_type.clone());
    put(header::CONTENT_LENGTH, length.to_string());
    put(
        header::CONTENT_DISPOSITION,
        content_disposition(&d.file_name),
    );
    // A file is never a page of Attest: no script, no plugin, no same-origin access (SEC-57).
    put(
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'".to_owned(),
    );
    put(header::ACCEPT_RANGES, "bytes".to_owned());
    put(header::ETAG, tag);
    if let Some(range) = d.range {
        put(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                range.start,
                range.end.saturating_sub(1),
                d.size
            ),
        );
    }
    r
}

/// The range a request asks for, with its `If-Range` validator: the range applies only while
/// the file is still the one the client saw (our ETag, `"sha256-<hex>"`).
fn wanted_range(headers: &HeaderMap) -> Option<RangeWanted> {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(RangeRequest::parse)?;
    let if_sha256 = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_matches('"')
                .trim_start_matches("sha256-")
                .to_owned()
        });
    Some(RangeWanted { range, if_sha256 })
}

async fn download(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    n: &str,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, AppError> {
    let n: i64 = n.parse().map_err(|_| AppError::NotFound)?;
    match state
        .evidence
        .download(session, id, Some(n), wanted_range(headers), origin(ctx))
        .await
    {
        Ok(d) => {
            let mut r = download_response(d.into_inner());
            tag(&mut r, session);
            Ok(r)
        }
        Err(e) => failure(e, state, ctx, format),
    }
}

/// `GET /evidence/{id}/versions/{n}/download`
///
/// # Errors
/// 404 when the caller does not see it, or the version is not released.
pub async fn download_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, n)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    download(&state, &ctx, &session, &id, &n, &headers, Format::Html).await
}

/// `GET /api/v1/evidence/{id}/versions/{n}/download`
///
/// # Errors
/// As the page.
pub async fn api_download(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, n)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    download(&state, &ctx, &session, &id, &n, &headers, Format::Json).await
}
