//! Frameworks over HTTP: the list, adding one (a shipped baseline or an uploaded OSCAL or CSV
//! file), a framework with its requirement tree and version history, a newer version, the
//! OSCAL export, and the same under `/api/v1/frameworks`. Thin: the rules are in
//! `attest_domain::frameworks`.

use std::time::Duration;

use askama::Template;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::catalog::{Baseline, Changes, NodeKind};
use attest_domain::controls::Coverage;
use attest_domain::frameworks::{
    FrameworkDetail, FrameworkError, FrameworkView, ImportSource, RequirementView,
};
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use futures_util::StreamExt as _;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response, field_error_response};
use crate::middleware::RequestContext;
use crate::multipart::{self, MultipartError};
use crate::routes::account::{chrome, when};
use crate::routes::see_other;
use crate::views::{self, Chrome, ConfirmPage};

/// The fields of the import forms (the file comes last).
const FIELDS: &[&str] = &["baseline", "format", "title", "version"];

fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

fn failure(e: FrameworkError, ctx: &RequestContext, format: Format) -> Result<Response, AppError> {
    match e {
        FrameworkError::NotFound => Err(AppError::NotFound),
        FrameworkError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        FrameworkError::Catalog(c) => Ok(field_error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "catalog_refused",
            "file",
            &format!("The framework was not imported: {c}"),
            ctx.request_id,
        )),
        FrameworkError::Invalid {
            field,
            code,
            message,
        } => Ok(field_error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            field,
            &message,
            ctx.request_id,
        )),
        e => Err(AppError::internal(&e)),
    }
}

fn framework_json(f: &FrameworkView) -> serde_json::Value {
    serde_json::json!({
        "id": f.id.to_string(),
        "title": f.title,
        "version": f.version,
        "source": f.source,
        "requirement_count": f.requirement_count,
        "provenance": f.provenance,
        "created_at": crate::routes::rfc3339(f.created_at),
        "updated_at": crate::routes::rfc3339(f.updated_at),
    })
}

fn requirement_json(r: &RequirementView) -> serde_json::Value {
    serde_json::json!({
        "id": r.id.to_string(),
        "ref": r.source_ref,
        "parent": r.parent.map(|p| p.to_string()),
        "kind": r.kind.as_str(),
        "label": r.label,
        "title": r.title,
        "statement": r.statement,
        "guidance": r.guidance,
        "withdrawn": r.withdrawn,
    })
}

fn changes_json(c: &Changes) -> serde_json::Value {
    serde_json::json!({ "added": c.added, "changed": c.changed, "removed": c.removed })
}

fn detail_json(d: &FrameworkDetail) -> serde_json::Value {
    let mut v = framework_json(&d.framework);
    v["requirements"] = d.requirements.iter().map(requirement_json).collect();
    v["versions"] = d
        .versions
        .iter()
        .map(|x| {
            serde_json::json!({
                "number": x.number,
                "version": x.version,
                "changes": changes_json(&x.changes),
                "imported_by": x.imported_by,
                "imported_at": crate::routes::rfc3339(x.imported_at),
            })
        })
        .collect();
    v
}

/// What an import form carried.
struct Upload {
    baseline: String,
    format: String,
    title: String,
    version: String,
    file: Option<(String, Vec<u8>)>,
}

/// Why an import form could not be read.
enum Refused {
    Multipart(MultipartError),
    TooLarge,
    Broken,
}

async fn read_upload(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Upload, Refused> {
    let idle = Duration::from_secs(state.settings.upload_idle_secs);
    let form = multipart::read(headers, body, FIELDS, idle)
        .await
        .map_err(Refused::Multipart)?;
    let mut upload = {
        // Read before any await: the form is not `Sync`, so no borrow of it may live across one.
        let get = |n| form.get(n).unwrap_or_default();
        Upload {
            baseline: get("baseline"),
            format: get("format"),
            title: get("title"),
            version: get("version"),
            file: None,
        }
    };
    if let Some(mut f) = form.file {
        let max = attest_domain::catalog::oscal::MAX_BYTES;
        let mut bytes = Vec::new();
        while let Some(piece) = f.body.next().await {
            let piece = piece.map_err(|_| Refused::Broken)?;
            if bytes.len() + piece.len() > max {
                return Err(Refused::TooLarge);
            }
            bytes.extend_from_slice(&piece);
        }
        upload.file = Some((f.name, bytes));
    }
    Ok(upload)
}

fn refused_response(r: &Refused, ctx: &RequestContext) -> Response {
    let (status, code, message) = match r {
        Refused::Multipart(MultipartError::NotMultipart) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart_required",
            "Send the form as multipart/form-data.".to_owned(),
        ),
        Refused::Multipart(MultipartError::UnknownField(f)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_not_allowed",
            format!("unknown field {f}"),
        ),
        Refused::Multipart(MultipartError::BadField(f)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("the field {f} is too long or not text"),
        ),
        Refused::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            "A catalogue file may be at most 32 MB.".to_owned(),
        ),
        Refused::Multipart(MultipartError::Malformed) | Refused::Broken => (
            StatusCode::BAD_REQUEST,
            "upload_incomplete",
            "The upload did not arrive whole; nothing was imported. Send it again.".to_owned(),
        ),
    };
    field_error_response(status, code, "file", &message, ctx.request_id)
}

/// The import source an upload names.
fn source_of(u: Upload) -> Result<ImportSource, FrameworkError> {
    let invalid = |field, message: &str| FrameworkError::Invalid {
        field,
        code: "invalid_source",
        message: message.to_owned(),
    };
    match (u.baseline.trim(), u.file) {
        (b, None) if !b.is_empty() => Baseline::parse(b)
            .map(ImportSource::Baseline)
            .ok_or_else(|| invalid("baseline", "Choose the low, moderate or high baseline.")),
        ("", Some((name, bytes))) => {
            let extension = std::path::Path::new(&name)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let format = match u.format.trim() {
                "" => match extension.as_str() {
                    "csv" => "csv",
                    "yaml" | "yml" => "yaml",
                    _ => "oscal",
                },
                f @ ("csv" | "yaml" | "oscal") => f,
                _ => return Err(invalid("format", "The format is oscal, csv or yaml.")),
            };
            let file_name = attest_domain::evidence::file_name::display_name(&name);
            Ok(match format {
                "csv" => ImportSource::Csv {
                    bytes,
                    title: u.title,
                    version: if u.version.trim().is_empty() {
                        "1".to_owned()
                    } else {
                        u.version
                    },
                    file_name,
                },
                "yaml" => ImportSource::Yaml {
                    bytes,
                    title: u.title,
                    version: u.version,
                    file_name,
                },
                _ => ImportSource::Oscal(bytes),
            })
        }
        (_, Some(_)) => Err(invalid(
            "baseline",
            "Choose a baseline or a file, not both.",
        )),
        _ => Err(invalid(
            "file",
            "Choose a shipped baseline, or a catalogue file to upload.",
        )),
    }
}

/// An import request, read: the source it names and the form's values (to show again), a
/// refusal of the source itself, or an answer already made (not allowed, unreadable form).
enum Received {
    Source(ImportSource, (String, String, String)),
    Invalid(FrameworkError, (String, String, String)),
    Answered(Response),
}

/// Asks the domain whether the caller may import here (`target`: the framework of a newer
/// version) before the body is read, then reads the form and the file.
async fn receive(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    target: Option<&str>,
    request: Request,
    format: Format,
) -> Received {
    if let Err(e) = state
        .frameworks
        .authorize_import(session, target, origin(ctx))
        .await
    {
        return Received::Answered(
            failure(e, ctx, format).unwrap_or_else(IntoResponse::into_response),
        );
    }
    let (parts, body) = request.into_parts();
    let upload = match read_upload(state, &parts.headers, body).await {
        Ok(u) => u,
        Err(r) => return Received::Answered(refused_response(&r, ctx)),
    };
    let kept = (
        upload.baseline.clone(),
        upload.title.clone(),
        upload.version.clone(),
    );
    match source_of(upload) {
        Ok(source) => Received::Source(source, kept),
        Err(e) => Received::Invalid(e, kept),
    }
}

// ---------------------------------------------------------------------------------------
// Pages.

#[derive(Template)]
#[template(path = "frameworks.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    frameworks: Vec<(String, String, String, String, i64, String)>,
    coverage: Vec<Coverage>,
    can_manage: bool,
}

fn may_manage(session: &VerifiedSession) -> bool {
    session
        .tenant
        .is_some_and(|(_, r)| attest_domain::access::Permission::ManageContent.granted_to(r))
}

/// `GET /frameworks`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let list = match state.frameworks.list(&session).await {
        Ok(l) => l.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let coverage = match state.controls.coverage(&session).await {
        Ok(c) => c.into_inner(),
        Err(_) => Vec::new(),
    };
    let coverage = list
        .iter()
        .map(|f| {
            coverage
                .iter()
                .find(|c| c.0 == f.id)
                .map_or_else(Coverage::default, |c| c.1)
        })
        .collect();
    let (chrome, _) = chrome(&state, &session).await?;
    let mut r = views::html(
        StatusCode::OK,
        &ListPage {
            title: "Frameworks",
            chrome,
            coverage,
            frameworks: list
                .into_iter()
                .map(|f| {
                    (
                        f.id.to_string(),
                        f.title,
                        f.version,
                        f.source,
                        f.requirement_count,
                        when(f.updated_at),
                    )
                })
                .collect(),
            can_manage: may_manage(&session),
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

#[derive(Template)]
#[template(path = "framework_new.html")]
struct NewPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    baselines: Vec<(&'static str, &'static str)>,
    form: (String, String, String),
    errors: Vec<(String, String)>,
}

async fn new_form(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    form: (String, String, String),
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &NewPage {
            title: "Add a framework",
            chrome,
            csrf: session.csrf_token.clone(),
            baselines: Baseline::ALL
                .iter()
                .map(|b| (b.as_str(), b.title()))
                .collect(),
            form,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /frameworks/new`
///
/// # Errors
/// Only on internal failure.
pub async fn new_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    new_form(
        &state,
        &session,
        StatusCode::OK,
        (String::new(), String::new(), String::new()),
        Vec::new(),
    )
    .await
}

/// `POST /frameworks/new` (multipart: `baseline`, or `format`, `title`, `version` and the file
/// last).
///
/// # Errors
/// Only on internal failure.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    request: Request,
) -> Result<Response, AppError> {
    let (result, kept) = match receive(&state, &ctx, &session, None, request, Format::Html).await {
        Received::Answered(r) => return Ok(r),
        Received::Invalid(e, kept) => (Err(e), kept),
        Received::Source(source, kept) => (
            state
                .frameworks
                .import(&session, source, origin(&ctx))
                .await,
            kept,
        ),
    };
    match result {
        Ok(id) => Ok(see_other(&format!("/frameworks/{id}"))),
        Err(FrameworkError::Catalog(c)) => {
            new_form(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                kept,
                vec![(
                    "file".to_owned(),
                    format!("The framework was not imported: {c}"),
                )],
            )
            .await
        }
        Err(FrameworkError::Invalid { field, message, .. }) => {
            new_form(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                kept,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// A line of the requirement tree.
struct TreeLine {
    id: String,
    label: String,
    title: String,
    indent: i64,
    group: bool,
    withdrawn: bool,
}

#[derive(Template)]
#[template(path = "framework.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    id: String,
    fw_title: String,
    version: String,
    source: String,
    licence: String,
    published: String,
    requirements: i64,
    lines: Vec<TreeLine>,
    versions: Vec<(i64, String, String, String, Changes)>,
    can_manage: bool,
    can_export: bool,
    errors: Vec<(String, String)>,
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let d = match state.frameworks.get(session, id).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    let (chrome, _) = chrome(state, session).await?;
    let f = &d.framework;
    let text = |k: &str| f.provenance[k].as_str().unwrap_or_default().to_owned();
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Framework",
            chrome,
            csrf: session.csrf_token.clone(),
            id: f.id.to_string(),
            fw_title: f.title.clone(),
            version: f.version.clone(),
            source: f.source.clone(),
            licence: text("licence"),
            published: text("last-modified"),
            requirements: f.requirement_count,
            lines: d
                .requirements
                .iter()
                .map(|r| TreeLine {
                    id: r.id.to_string(),
                    label: r.label.clone(),
                    title: r.title.clone(),
                    indent: r.depth,
                    group: r.kind == NodeKind::Group,
                    withdrawn: r.withdrawn,
                })
                .collect(),
            versions: d
                .versions
                .iter()
                .map(|v| {
                    (
                        v.number,
                        v.version.clone(),
                        v.imported_by.clone().unwrap_or_default(),
                        when(v.imported_at),
                        v.changes.clone(),
                    )
                })
                .collect(),
            can_manage: d.can_manage,
            can_export: session
                .tenant
                .is_some_and(|(_, r)| attest_domain::access::Permission::Export.granted_to(r)),
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /frameworks/{id}`
///
/// # Errors
/// 404.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    detail_page(&state, &ctx, &session, &id, StatusCode::OK, Vec::new()).await
}

/// `POST /frameworks/{id}/versions` (multipart: `format`, `title`, `version`, the file last).
///
/// # Errors
/// 404 or 403.
pub async fn version_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let result = match receive(&state, &ctx, &session, Some(&id), request, Format::Html).await {
        Received::Answered(r) => return Ok(r),
        Received::Invalid(e, _) => Err(e),
        Received::Source(source, _) => {
            state
                .frameworks
                .import_version(&session, &id, source, origin(&ctx))
                .await
        }
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/frameworks/{id}#versions"))),
        Err(FrameworkError::Catalog(c)) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(
                    "version-file".to_owned(),
                    format!("The new version was not imported: {c}"),
                )],
            )
            .await
        }
        Err(FrameworkError::Invalid { message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![("version-file".to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

#[derive(Template)]
#[template(path = "requirement.html")]
struct RequirementPage {
    title: &'static str,
    chrome: Chrome,
    framework_id: String,
    framework_title: String,
    req: RequirementView,
    kind: &'static str,
    controls: Vec<(String, String, String, &'static str)>,
}

/// `GET /frameworks/{id}/requirements/{req}`
///
/// # Errors
/// 404.
pub async fn requirement_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (f, r) = match state.frameworks.requirement(&session, &id, &req).await {
        Ok(x) => x.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let controls = match state.controls.covering(&session, &req).await {
        Ok(c) => c
            .into_inner()
            .into_iter()
            .map(|(id, reference, title, status)| {
                let status = attest_domain::controls::ImplementationStatus::parse(&status)
                    .map_or("", attest_domain::controls::ImplementationStatus::label);
                (id.to_string(), reference, title, status)
            })
            .collect(),
        Err(e) => return Err(AppError::internal(&e)),
    };
    let (chrome, _) = chrome(&state, &session).await?;
    let kind = r.kind.as_str();
    let mut resp = views::html(
        StatusCode::OK,
        &RequirementPage {
            title: "Requirement",
            chrome,
            framework_id: f.id.to_string(),
            framework_title: f.title,
            req: r,
            kind,
            controls,
        },
    )?;
    tag(&mut resp, &session);
    Ok(resp)
}

fn oscal_download(title: &str, doc: &serde_json::Value) -> Result<Response, AppError> {
    let body = serde_json::to_vec_pretty(doc).map_err(|e| AppError::internal(&e))?;
    let mut r = (StatusCode::OK, body).into_response();
    let name = format!(
        "{}.oscal.json",
        attest_domain::evidence::file_name::display_name(title)
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&attest_domain::evidence::file_name::content_disposition(
        &name,
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `GET /frameworks/{id}/oscal.json` and `GET /api/v1/frameworks/{id}/oscal.json`: the
/// framework as an OSCAL catalog.
///
/// # Errors
/// 404 or 403.
pub async fn export(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.frameworks.export(&session, &id, origin(&ctx)).await {
        Ok(x) => {
            let (title, doc) = x.into_inner();
            let mut r = oscal_download(&title, &doc)?;
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /frameworks/{id}/delete`: the confirmation page.
///
/// # Errors
/// 404 or 403.
pub async fn delete_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.frameworks.get(&session, &id).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_manage {
        return failure(FrameworkError::Forbidden, &ctx, Format::Html);
    }
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Delete framework",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "“{}” and its {} requirements will be deleted, with its version history. This cannot be undone.",
                d.framework.title, d.framework.requirement_count
            ),
            action: format!("/frameworks/{}/delete", d.framework.id),
            button: "Delete framework",
            cancel: format!("/frameworks/{}", d.framework.id),
        },
    )
}

/// A form with nothing but its CSRF field.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    #[serde(default, rename = "csrf_token")]
    _csrf_token: Option<serde::de::IgnoredAny>,
}

/// `POST /frameworks/{id}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn delete_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(_): Form<Confirm>,
) -> Result<Response, AppError> {
    match state.frameworks.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other("/frameworks")),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

fn tagged(mut r: Response, session: &VerifiedSession) -> Response {
    tag(&mut r, session);
    r
}

/// The multipart fields of a framework import, for the OpenAPI document.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFields {
    /// low, moderate or high: a shipped NIST SP 800-53 rev5 baseline (instead of a file).
    #[serde(default)]
    pub baseline: Option<String>,
    /// oscal or csv (default: by the file's extension).
    #[serde(default)]
    pub format: Option<String>,
    /// A CSV framework's title.
    #[serde(default)]
    pub title: Option<String>,
    /// A CSV framework's version.
    #[serde(default)]
    pub version: Option<String>,
    /// The catalogue file (binary), the last part: OSCAL JSON or CSV `id,title,text,parent`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("format" = "binary"))]
    pub file: Option<serde::de::IgnoredAny>,
}

/// `GET /api/v1/frameworks`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let coverage = match state.controls.coverage(&session).await {
        Ok(c) => c.into_inner(),
        Err(_) => Vec::new(),
    };
    match state.frameworks.list(&session).await {
        Ok(l) => Ok(tagged(
            Json(serde_json::json!({
                "items": l.iter().map(|f| {
                    let c = coverage.iter().find(|c| c.0 == f.id).map_or_else(Coverage::default, |c| c.1);
                    let mut v = framework_json(f);
                    v["coverage"] = serde_json::json!({
                        "applicable": c.applicable,
                        "mapped": c.mapped,
                        "implemented": c.implemented,
                    });
                    v
                }).collect::<Vec<_>>(),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/frameworks` (multipart) → 201 `{"id"}`.
///
/// # Errors
/// 403, 413 or 422 naming what is wrong with the file.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    request: Request,
) -> Result<Response, AppError> {
    let result = match receive(&state, &ctx, &session, None, request, Format::Json).await {
        Received::Answered(r) => return Ok(r),
        Received::Invalid(e, _) => Err(e),
        Received::Source(source, _) => {
            state
                .frameworks
                .import(&session, source, origin(&ctx))
                .await
        }
    };
    match result {
        Ok(id) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id.to_string() })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/frameworks/{id}`: the framework, its requirements and versions.
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.frameworks.get(&session, &id).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/frameworks/{id}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.frameworks.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/frameworks/{id}/versions` (multipart) → 201 with what changed.
///
/// # Errors
/// 404, 403, 413 or 422.
pub async fn api_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let result = match receive(&state, &ctx, &session, Some(&id), request, Format::Json).await {
        Received::Answered(r) => return Ok(r),
        Received::Invalid(e, _) => Err(e),
        Received::Source(source, _) => {
            state
                .frameworks
                .import_version(&session, &id, source, origin(&ctx))
                .await
        }
    };
    match result {
        Ok(c) => Ok(tagged(
            (StatusCode::CREATED, Json(changes_json(&c))).into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/frameworks/{id}/requirements/{req}`
///
/// # Errors
/// 404.
pub async fn api_requirement(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
) -> Result<Response, AppError> {
    match state.frameworks.requirement(&session, &id, &req).await {
        Ok(x) => {
            let (_, r) = x.into_inner();
            Ok(tagged(Json(requirement_json(&r)).into_response(), &session))
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
