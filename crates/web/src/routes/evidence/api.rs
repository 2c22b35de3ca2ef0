//! `/api/v1/evidence`: the library as JSON, uploads as multipart.

use super::*;

fn tagged(mut r: Response, session: &VerifiedSession) -> Response {
    tag(&mut r, session);
    r
}

/// `GET /api/v1/evidence?classification=&tag=&owner=&effective_on=&after=&limit=`
///
/// # Errors
/// Only on internal failure.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state.evidence.list(&session, &params.request()).await {
        Ok(page) => Ok(tagged(
            Json(serde_json::json!({
                "items": page.items.iter().map(|e| evidence_json(e)).collect::<Vec<_>>(),
                "next": page.next.map(|n| n.to_string()),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `GET /evidence.csv` and `GET /api/v1/evidence.csv`: the library as CSV, every page, with
/// the list's filters (SEC-48).
///
/// # Errors
/// 403 without the export permission; 422 for a bad filter.
pub async fn export_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state
        .evidence
        .export_csv(&session, &params.request(), origin(&ctx))
        .await
    {
        Ok(csv) => Ok(tagged(
            crate::routes::csv_attachment(csv.into_inner(), "evidence.csv"),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// The multipart fields of `POST /api/v1/evidence`, for the OpenAPI document (the handler
/// reads them from the multipart body in this order, then `file`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFields {
    /// Title, 1 to 200 characters.
    pub title: String,
    /// Plain text, at most 10,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// critical, high (default), moderate, low or public.
    #[serde(default)]
    pub classification: Option<String>,
    /// The owner's user id (compliance managers and above).
    #[serde(default)]
    pub owner: Option<String>,
    /// Tags, separated by commas.
    #[serde(default)]
    pub tags: Option<String>,
    /// `YYYY-MM-DD`: the date the evidence shows, or the start of its observation period.
    #[serde(default)]
    pub effective_from: Option<String>,
    /// `YYYY-MM-DD`: the end of the observation period.
    #[serde(default)]
    pub effective_to: Option<String>,
    /// An external link instead of a file.
    #[serde(default)]
    pub link: Option<String>,
    /// The file (binary), the last part.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("format" = "binary"))]
    pub file: Option<serde::de::IgnoredAny>,
}

/// The multipart fields of `POST /api/v1/evidence/{id}/versions`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionFields {
    /// `YYYY-MM-DD`: the date the evidence shows, or the start of its observation period.
    #[serde(default)]
    pub effective_from: Option<String>,
    /// `YYYY-MM-DD`: the end of the observation period.
    #[serde(default)]
    pub effective_to: Option<String>,
    /// An external link instead of a file.
    #[serde(default)]
    pub link: Option<String>,
    /// The file (binary), the last part.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("format" = "binary"))]
    pub file: Option<serde::de::IgnoredAny>,
}

/// `POST /api/v1/evidence` (multipart: the fields, then `file`) → 201 `{"id", "version"}`.
///
/// # Errors
/// Only on internal failure.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    request: Request,
) -> Result<Response, AppError> {
    let Received { values, file } = match receive(
        &state,
        &ctx,
        &session,
        None,
        request,
        CREATE_FIELDS,
        Format::Json,
    )
    .await
    {
        Ok(r) => r,
        Err(r) => return Ok(r),
    };
    match state
        .evidence
        .create(
            &session,
            &values.input(),
            &values.version(),
            file,
            origin(&ctx),
        )
        .await
    {
        Ok(id) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id.to_string(), "version": 1 })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `GET /api/v1/evidence/{id}`
///
/// # Errors
/// 404 when the caller does not see it.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.evidence.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/evidence/{id}`: title, description, classification, owner, tags.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<EvidenceForm>,
) -> Result<Response, AppError> {
    match state
        .evidence
        .update(&session, &id, &form.input(), origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/evidence/{id}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.evidence.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `GET /api/v1/evidence/{id}/versions`
///
/// # Errors
/// 404.
pub async fn api_versions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.evidence.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(
            Json(serde_json::json!({
                "versions": d.versions.iter().map(version_json).collect::<Vec<_>>(),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `POST /api/v1/evidence/{id}/versions` (multipart) → 201 `{"version"}`.
///
/// # Errors
/// 404, 403, 413, 415 or 422.
pub async fn api_add_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let Received { values, file } = match receive(
        &state,
        &ctx,
        &session,
        Some(&id),
        request,
        VERSION_FIELDS,
        Format::Json,
    )
    .await
    {
        Ok(r) => r,
        Err(r) => return Ok(r),
    };
    match state
        .evidence
        .add_version(&session, &id, &values.version(), file, origin(&ctx))
        .await
    {
        Ok(n) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id, "version": n })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `GET /api/v1/evidence/{id}/shares`
///
/// # Errors
/// 404 or 403.
pub async fn api_shares(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.evidence.shares(&session, &id, origin(&ctx)).await {
        Ok(s) => {
            let (shares, recipients) = s.into_inner();
            Ok(tagged(
                Json(serde_json::json!({
                    "shares": shares.iter().map(|s| serde_json::json!({
                        "id": s.id.to_string(),
                        "user": s.user.to_string(),
                        "name": s.name,
                        "until": crate::routes::rfc3339(s.until),
                        "live": s.live,
                    })).collect::<Vec<_>>(),
                    "recipients": recipients.iter().map(|(u, n, _)| serde_json::json!({
                        "user": u.to_string(),
                        "name": n,
                    })).collect::<Vec<_>>(),
                }))
                .into_response(),
                &session,
            ))
        }
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `POST /api/v1/evidence/{id}/shares` `{"user", "until": "YYYY-MM-DD"}` → 201 `{"id"}`.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_share(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<ShareForm>,
) -> Result<Response, AppError> {
    match state
        .evidence
        .share(
            &session,
            &id,
            &form.user,
            parse_date(&form.until),
            origin(&ctx),
        )
        .await
    {
        Ok(share) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": share.to_string() })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/evidence/{id}/shares/{share}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_revoke_share(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, share)): Path<(String, String)>,
) -> Result<Response, AppError> {
    match state
        .evidence
        .revoke_share(&session, &id, &share, origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &state, &ctx, Format::Json),
    }
}
