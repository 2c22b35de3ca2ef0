//! The evidence library over HTTP: the list with its filters, the upload form (multipart,
//! with a progress bar from `static/upload.js` when scripts run), a record with its versions
//! and shares, downloads (range-capable, `attachment`, sandboxed), and the same under
//! `/api/v1/evidence`. Thin: every rule is in `attest_domain::evidence`.

use std::time::Duration;

use askama::Template;
use attest_domain::access::{Permission, Visibility};
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::evidence::file_name::content_disposition;
use attest_domain::evidence::{
    Download, EvidenceDetail, EvidenceError, EvidenceInput, EvidenceView, ListRequest,
    RangeRequest, RangeWanted, Upload, VersionContent, VersionInput, VersionView,
};
use attest_types::Classification;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response, field_error_response};
use crate::middleware::RequestContext;
use crate::multipart::{self, MultipartError};
use crate::routes::account::{chrome, when};
use crate::routes::documents::ShareForm;
use crate::routes::{parse_date, see_other};
use crate::views::{self, Chrome, ConfirmPage};

mod api;
mod download;

pub use api::*;
pub use download::*;

const CLASSES: [&str; 5] = ["critical", "high", "moderate", "low", "public"];

/// The text fields of the upload forms, in the order pages send them (the file comes last).
const CREATE_FIELDS: &[&str] = &[
    "title",
    "description",
    "classification",
    "owner",
    "tags",
    "effective_from",
    "effective_to",
    "link",
];
const VERSION_FIELDS: &[&str] = &["effective_from", "effective_to", "link"];

fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

fn megabytes(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1_000_000.0)
}

/// The status, stable code, field and message of a refused operation.
fn refusal(
    e: &EvidenceError,
    state: &AppState,
) -> Option<(StatusCode, &'static str, &'static str, String)> {
    Some(match e {
        EvidenceError::Invalid {
            field,
            code,
            message,
        } => (StatusCode::UNPROCESSABLE_ENTITY, *code, *field, message.clone()),
        EvidenceError::TooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            "file",
            format!("The file is larger than the limit of {}.", megabytes(*limit)),
        ),
        EvidenceError::QuotaExceeded => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
            "file",
            format!(
                "Your organisation's storage ({}) is full. Delete evidence you no longer need, or ask the operator for more.",
                megabytes(state.evidence.limits().tenant_quota_bytes)
            ),
        ),
        EvidenceError::Type(r) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
            "file",
            r.to_string(),
        ),
        EvidenceError::Archive(r) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "archive_refused",
            "file",
            r.to_string(),
        ),
        EvidenceError::Interrupted => (
            StatusCode::BAD_REQUEST,
            "upload_incomplete",
            "file",
            "The upload did not arrive whole (the connection broke, or the file was not the form's last field). Nothing was stored; send it again.".to_owned(),
        ),
        _ => return None,
    })
}

/// The answer to a refused or failed operation (SEC-32: hidden objects are 404).
fn failure(
    e: EvidenceError,
    state: &AppState,
    ctx: &RequestContext,
    format: Format,
) -> Result<Response, AppError> {
    if let Some((status, code, field, message)) = refusal(&e, state) {
        return Ok(match format {
            Format::Json => field_error_response(status, code, field, &message, ctx.request_id),
            Format::Html => error_code_response(status, code, ctx.request_id, format),
        });
    }
    match e {
        EvidenceError::NotFound => Err(AppError::NotFound),
        EvidenceError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        EvidenceError::RangeNotSatisfiable { size } => {
            let mut r = error_code_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                ctx.request_id,
                format,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Ok(r)
        }
        EvidenceError::Integrity => Ok(error_code_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "integrity_error",
            ctx.request_id,
            format,
        )),
        e => Err(AppError::internal(&e)),
    }
}

fn multipart_failure(e: &MultipartError, ctx: &RequestContext) -> Response {
    let (status, code) = match e {
        MultipartError::NotMultipart => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "multipart_required"),
        MultipartError::Malformed => (StatusCode::BAD_REQUEST, "upload_incomplete"),
        MultipartError::UnknownField(_) => (StatusCode::UNPROCESSABLE_ENTITY, "field_not_allowed"),
        MultipartError::BadField(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
    };
    let field = match e {
        MultipartError::UnknownField(f) => f.as_str(),
        MultipartError::BadField(f) => f,
        _ => "file",
    };
    field_error_response(status, code, field, &e.to_string(), ctx.request_id)
}

fn date(d: time::Date) -> String {
    d.to_string()
}

fn period(from: time::Date, to: Option<time::Date>) -> String {
    match to {
        Some(t) if t != from => format!("{} – {}", date(from), date(t)),
        _ => date(from),
    }
}

fn evidence_json(e: &EvidenceView) -> serde_json::Value {
    serde_json::json!({
        "id": e.id.to_string(),
        "title": e.title,
        "classification": e.classification.as_str(),
        "owner": e.owner.as_ref().map(|(id, name)| serde_json::json!({
            "id": id.to_string(),
            "name": name,
        })),
        "version": e.version,
        "effective_from": date(e.effective_from),
        "effective_to": e.effective_to.map(date),
        "tags": e.tags,
        "created_at": crate::routes::rfc3339(e.created_at),
        "updated_at": crate::routes::rfc3339(e.updated_at),
    })
}

fn version_json(v: &VersionView) -> serde_json::Value {
    let content = match &v.content {
        VersionContent::File {
            name,
            media_type,
            size,
            sha256,
        } => serde_json::json!({
            "kind": "file",
            "file_name": name,
            "media_type": media_type,
            "size": size,
            "sha256": sha256,
        }),
        VersionContent::Link(l) => serde_json::json!({ "kind": "link", "link": l }),
    };
    let mut out = serde_json::json!({
        "version": v.version,
        "classification": v.classification.as_str(),
        "effective_from": date(v.effective_from),
        "effective_to": v.effective_to.map(date),
        "status": v.status.as_str(),
        "scan_result": v.scan_result,
        "uploaded_by": v.uploaded_by,
        "created_at": crate::routes::rfc3339(v.created_at),
    });
    if let (Some(o), Some(c)) = (out.as_object_mut(), content.as_object()) {
        o.extend(c.clone());
    }
    out
}

fn detail_json(d: &EvidenceDetail) -> serde_json::Value {
    let mut v = evidence_json(&d.evidence);
    v["description"] = serde_json::Value::String(d.description.clone());
    v["versions"] = d.versions.iter().map(version_json).collect();
    v["permissions"] = serde_json::json!({
        "edit": d.can_edit,
        "delete": d.can_delete,
        "share": d.can_share,
    });
    v
}

// ---------------------------------------------------------------------------------------
// The list.

/// A line of the list.
struct Line {
    id: String,
    title: String,
    tags: Vec<String>,
    classification: &'static str,
    owner: String,
    effective: String,
    version: i64,
    updated: String,
}

#[derive(Template)]
#[template(path = "evidence_list.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    items: Vec<Line>,
    can_create: bool,
    can_export: bool,
    /// The filters as a query string, for the CSV export.
    export_query: String,
    filter: ListParams,
    classifications: [&'static str; 5],
    owners: Vec<(String, String)>,
    next: Option<String>,
    error: Option<String>,
}

/// The list's query (also the API's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    effective_on: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

impl ListParams {
    fn request(&self) -> ListRequest {
        ListRequest {
            classification: self.classification.clone(),
            tag: self.tag.clone(),
            owner: self.owner.clone(),
            effective_on: self.effective_on.clone(),
            after: self.after.clone(),
            limit: self.limit,
        }
    }

    fn value(v: Option<&String>) -> &str {
        v.map_or("", String::as_str)
    }

    /// The filters alone as a query string (empty when there are none; the CSV export's).
    fn filters(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("classification", &self.classification),
            ("tag", &self.tag),
            ("owner", &self.owner),
            ("effective_on", &self.effective_on),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    /// The filters and a cursor as a query string (for the next page's link).
    fn query(&self, after: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("after", after);
        let filters = self.filters();
        if filters.is_empty() {
            q.finish()
        } else {
            format!("{filters}&{}", q.finish())
        }
    }
}

fn may_create(session: &VerifiedSession) -> bool {
    session
        .tenant
        .is_some_and(|(_, r)| Permission::Contribute.granted_to(r))
        && session.visibility == Visibility::Tenant
}

async fn members(
    state: &AppState,
    session: &VerifiedSession,
    editors_only: bool,
) -> Vec<(String, String)> {
    if session.visibility != Visibility::Tenant
        || !session
            .tenant
            .is_some_and(|(_, r)| Permission::ListMembers.granted_to(r))
    {
        return Vec::new();
    }
    state
        .identity
        .members(session)
        .await
        .map(|(_, members)| {
            members
                .into_iter()
                .filter(|m| {
                    !editors_only
                        || (m.status == "active"
                            && m.role
                                .parse()
                                .is_ok_and(|r| Permission::Contribute.granted_to(r)))
                })
                .map(|m| (m.id.to_string(), m.display_name))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /evidence`
///
/// # Errors
/// Only on internal failure.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let (items, next, error, status) = match state.evidence.list(&session, &params.request()).await
    {
        Ok(page) => (
            page.items
                .iter()
                .map(|e| Line {
                    id: e.id.to_string(),
                    title: e.title.clone(),
                    tags: e.tags.clone(),
                    classification: e.classification.as_str(),
                    owner: e.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                    effective: period(e.effective_from, e.effective_to),
                    version: e.version,
                    updated: when(e.updated_at),
                })
                .collect(),
            page.next.map(|n| params.query(&n.to_string())),
            None,
            StatusCode::OK,
        ),
        Err(EvidenceError::Invalid { message, .. }) => (
            Vec::new(),
            None,
            Some(message),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return failure(e, &state, &ctx, Format::Html),
    };
    let (chrome, _) = chrome(&state, &session).await?;
    let owners = members(&state, &session, false).await;
    let mut r = views::html(
        status,
        &ListPage {
            title: "Evidence",
            chrome,
            items,
            can_create: may_create(&session),
            can_export: crate::routes::granted(&session, Permission::Export),
            export_query: params.filters(),
            filter: params,
            classifications: CLASSES,
            owners,
            next,
            error,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// The upload form.

/// What the forms show again after an error.
#[derive(Debug, Clone, Default)]
struct FormValues {
    title: String,
    description: String,
    classification: String,
    owner: String,
    tags: String,
    effective_from: String,
    effective_to: String,
    link: String,
}

impl FormValues {
    fn from_form(f: &multipart::Form) -> Self {
        let g = |n| f.get(n).unwrap_or_default();
        Self {
            title: g("title"),
            description: g("description"),
            classification: g("classification"),
            owner: g("owner"),
            tags: g("tags"),
            effective_from: g("effective_from"),
            effective_to: g("effective_to"),
            link: g("link"),
        }
    }

    fn input(&self) -> EvidenceInput {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        EvidenceInput {
            title: self.title.clone(),
            description: self.description.clone(),
            classification: opt(&self.classification),
            owner: opt(&self.owner),
            tags: opt(&self.tags),
        }
    }

    fn version(&self) -> VersionInput {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        VersionInput {
            effective_from: opt(&self.effective_from),
            effective_to: opt(&self.effective_to),
            link: opt(&self.link),
        }
    }
}

#[derive(Template)]
#[template(path = "evidence_form.html")]
struct FormPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    action: String,
    cancel: String,
    /// A new record: the file and period fields are shown, and the form is multipart.
    upload: bool,
    form: FormValues,
    classifications: [&'static str; 5],
    owners: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    max_size: String,
    scanning: bool,
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    action: String,
    cancel: String,
    upload: bool,
    form: FormValues,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let owners = if session
        .tenant
        .is_some_and(|(_, r)| Permission::ManageContent.granted_to(r))
    {
        members(state, session, true).await
    } else {
        Vec::new()
    };
    let mut r = views::html(
        status,
        &FormPage {
            title: if upload {
                "Add evidence"
            } else {
                "Edit evidence"
            },
            chrome,
            csrf: session.csrf_token.clone(),
            action,
            cancel,
            upload,
            form,
            classifications: CLASSES,
            owners,
            errors,
            max_size: megabytes(state.evidence.limits().max_file_bytes),
            scanning: state.evidence.scanning(),
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /evidence/new`
///
/// # Errors
/// Only on internal failure.
pub async fn new_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let form = FormValues {
        classification: Classification::High.as_str().to_owned(),
        owner: session.user.to_string(),
        effective_from: state.clock.now().date().to_string(),
        ..FormValues::default()
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "/evidence/new".to_owned(),
        "/evidence".to_owned(),
        true,
        form,
        Vec::new(),
    )
    .await
}

fn idle(state: &AppState) -> Duration {
    Duration::from_secs(state.settings.upload_idle_secs)
}

/// An upload request read up to its file.
struct Received {
    values: FormValues,
    file: Option<Upload<FileBody>>,
}

type FileBody = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, multipart::Broken>>;

/// Asks the domain whether the caller may upload here (`target`: the record of a new
/// version) before anything of the body is read, then reads the form's fields up to its file.
async fn receive(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    target: Option<&str>,
    request: Request,
    fields: &[&'static str],
    format: Format,
) -> Result<Received, Response> {
    if let Err(e) = state
        .evidence
        .authorize_upload(session, target, origin(ctx))
        .await
    {
        return Err(failure(e, state, ctx, format).unwrap_or_else(IntoResponse::into_response));
    }
    let (parts, body) = request.into_parts();
    let mut form = multipart::read(&parts.headers, body, fields, idle(state))
        .await
        .map_err(|e| multipart_failure(&e, ctx))?;
    let values = FormValues::from_form(&form);
    let file = form.file.take().map(|f| Upload {
        file_name: f.name,
        body: f.body,
    });
    Ok(Received { values, file })
}

/// `POST /evidence/new` (multipart, the file last).
///
/// # Errors
/// Only on internal failure.
pub async fn create_form(
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
        Format::Html,
    )
    .await
    {
        Ok(r) => r,
        Err(r) => return Ok(r),
    };
    let had_file = file.is_some();
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
        Ok(id) => Ok(see_other(&format!("/evidence/{id}"))),
        Err(e) => match refusal(&e, &state) {
            Some((status, _, field, message)) => {
                // Browsers do not keep a chosen file when a page is shown again.
                let message = if had_file {
                    format!("{message} Choose the file again before saving.")
                } else {
                    message
                };
                form_page(
                    &state,
                    &session,
                    status,
                    "/evidence/new".to_owned(),
                    "/evidence".to_owned(),
                    true,
                    values,
                    vec![(field.to_owned(), message)],
                )
                .await
            }
            None => failure(e, &state, &ctx, Format::Html),
        },
    }
}

// ---------------------------------------------------------------------------------------
// A record.

#[derive(Template)]
#[template(path = "evidence.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    id: String,
    share_base: String,
    ev_title: String,
    classification: &'static str,
    owner: String,
    tags: Vec<String>,
    description: String,
    effective: String,
    updated: String,
    versions: Vec<VersionLine>,
    can_edit: bool,
    can_delete: bool,
    can_share: bool,
    shares: Vec<(String, String, String, bool)>,
    recipients: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    version_errors: Vec<(String, String)>,
    max_size: String,
    scanning: bool,
    today: String,
}

/// A version as the page lists it.
struct VersionLine {
    version: i64,
    file: Option<(String, String, String)>,
    link: Option<String>,
    effective: String,
    status: &'static str,
    released: bool,
    scan_result: String,
    classification: &'static str,
    uploaded_by: String,
    uploaded: String,
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1_000_000.0),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1_000.0),
        n => format!("{n} bytes"),
    }
}

fn version_line(v: VersionView) -> VersionLine {
    let (file, link) = match v.content {
        VersionContent::File {
            name, size, sha256, ..
        } => (Some((name, human_size(size), sha256)), None),
        VersionContent::Link(l) => (None, Some(l)),
    };
    VersionLine {
        version: v.version,
        file,
        link,
        effective: period(v.effective_from, v.effective_to),
        status: match v.status {
            attest_domain::evidence::ScanStatus::Released => "available",
            attest_domain::evidence::ScanStatus::Pending => "waiting for the malware scan",
            attest_domain::evidence::ScanStatus::Quarantined => "quarantined",
        },
        released: v.status == attest_domain::evidence::ScanStatus::Released,
        scan_result: v.scan_result.unwrap_or_default(),
        classification: v.classification.as_str(),
        uploaded_by: v.uploaded_by.unwrap_or_default(),
        uploaded: when(v.created_at),
    }
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    errors: Vec<(String, String)>,
    version_errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let d = match state.evidence.get(session, id, origin(ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, state, ctx, Format::Html),
    };
    let (shares, recipients) = if d.can_share {
        match state.evidence.shares(session, id, origin(ctx)).await {
            Ok(s) => {
                let (shares, recipients) = s.into_inner();
                (
                    shares
                        .into_iter()
                        .map(|s| {
                            (
                                s.id.to_string(),
                                format!("{} ({})", s.name, s.email),
                                when(s.until),
                                s.live,
                            )
                        })
                        .collect(),
                    recipients
                        .into_iter()
                        .map(|(u, n, e)| (u.to_string(), format!("{n} ({e})")))
                        .collect(),
                )
            }
            Err(e) => return failure(e, state, ctx, Format::Html),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let (chrome, _) = chrome(state, session).await?;
    let e = &d.evidence;
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Evidence",
            chrome,
            csrf: session.csrf_token.clone(),
            id: e.id.to_string(),
            share_base: format!("/evidence/{}", e.id),
            ev_title: e.title.clone(),
            classification: e.classification.as_str(),
            owner: e.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
            tags: e.tags.clone(),
            description: d.description.clone(),
            effective: period(e.effective_from, e.effective_to),
            updated: when(e.updated_at),
            versions: d.versions.iter().cloned().map(version_line).collect(),
            can_edit: d.can_edit,
            can_delete: d.can_delete,
            can_share: d.can_share,
            shares,
            recipients,
            errors,
            version_errors,
            max_size: megabytes(state.evidence.limits().max_file_bytes),
            scanning: state.evidence.scanning(),
            today: state.clock.now().date().to_string(),
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /evidence/{id}`
///
/// # Errors
/// 404 when the caller does not see it.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    detail_page(
        &state,
        &ctx,
        &session,
        &id,
        StatusCode::OK,
        Vec::new(),
        Vec::new(),
    )
    .await
}

/// `POST /evidence/{id}/versions` (multipart, the file last).
///
/// # Errors
/// 404 or 403.
pub async fn add_version_form(
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
        Format::Html,
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
        Ok(_) => Ok(see_other(&format!("/evidence/{id}#versions"))),
        Err(e) => match refusal(&e, &state) {
            Some((status, _, field, message)) => {
                detail_page(
                    &state,
                    &ctx,
                    &session,
                    &id,
                    status,
                    Vec::new(),
                    vec![(format!("version-{field}"), message)],
                )
                .await
            }
            None => failure(e, &state, &ctx, Format::Html),
        },
    }
}

/// The edit form's fields (form or JSON). Only these exist (SEC-37).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    /// Tags, separated by commas.
    #[serde(default)]
    tags: Option<String>,
}

impl EvidenceForm {
    fn input(&self) -> EvidenceInput {
        EvidenceInput {
            title: self.title.clone(),
            description: self.description.clone(),
            classification: self.classification.clone(),
            owner: self.owner.clone(),
            tags: self.tags.clone(),
        }
    }

    fn values(&self) -> FormValues {
        FormValues {
            title: self.title.clone(),
            description: self.description.clone(),
            classification: self.classification.clone().unwrap_or_default(),
            owner: self.owner.clone().unwrap_or_default(),
            tags: self.tags.clone().unwrap_or_default(),
            ..FormValues::default()
        }
    }
}

/// `GET /evidence/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.evidence.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &state, &ctx, Format::Html),
    };
    if !d.can_edit {
        return failure(EvidenceError::Forbidden, &state, &ctx, Format::Html);
    }
    let e = d.evidence;
    form_page(
        &state,
        &session,
        StatusCode::OK,
        format!("/evidence/{}/edit", e.id),
        format!("/evidence/{}", e.id),
        false,
        FormValues {
            title: e.title,
            description: d.description,
            classification: e.classification.as_str().to_owned(),
            owner: e.owner.map(|o| o.0.to_string()).unwrap_or_default(),
            tags: e.tags.join(", "),
            ..FormValues::default()
        },
        Vec::new(),
    )
    .await
}

/// `POST /evidence/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<EvidenceForm>,
) -> Result<Response, AppError> {
    match state
        .evidence
        .update(&session, &id, &form.input(), origin(&ctx))
        .await
    {
        Ok(()) => Ok(see_other(&format!("/evidence/{id}"))),
        Err(EvidenceError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("/evidence/{id}/edit"),
                format!("/evidence/{id}"),
                false,
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &state, &ctx, Format::Html),
    }
}

/// `GET /evidence/{id}/delete`: the confirmation page.
///
/// # Errors
/// 404 or 403.
pub async fn delete_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.evidence.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &state, &ctx, Format::Html),
    };
    if !d.can_delete {
        return failure(EvidenceError::Forbidden, &state, &ctx, Format::Html);
    }
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Delete evidence",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "“{}” and all {} of its versions will be deleted, with their files, and its shares end. Controls that cite it lose this proof. This cannot be undone.",
                d.evidence.title, d.evidence.version
            ),
            action: format!("/evidence/{}/delete", d.evidence.id),
            button: "Delete evidence",
            cancel: format!("/evidence/{}", d.evidence.id),
        },
    )
}

/// `POST /evidence/{id}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn delete_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.evidence.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other("/evidence")),
        Err(e) => failure(e, &state, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// Shares.

/// `POST /evidence/{id}/shares`
///
/// # Errors
/// 404 or 403.
pub async fn share_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ShareForm>,
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
        Ok(_) => Ok(see_other(&format!("/evidence/{id}#shares"))),
        Err(EvidenceError::Invalid { field, message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(format!("share-{field}"), message)],
                Vec::new(),
            )
            .await
        }
        Err(e) => failure(e, &state, &ctx, Format::Html),
    }
}

/// `POST /evidence/{id}/shares/{share}/revoke`
///
/// # Errors
/// 404 or 403.
pub async fn revoke_share_form(
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
        Ok(()) => Ok(see_other(&format!("/evidence/{id}#shares"))),
        Err(e) => failure(e, &state, &ctx, Format::Html),
    }
}
