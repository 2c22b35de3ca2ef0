//! Documents over HTTP: the list, the editor, a document with its versions and shares, and
//! the same under `/api/v1/documents`. Thin: every rule is in `attest_domain::documents`,
//! which hands back only what the caller may see (SEC-32, SEC-36, SEC-37).

use askama::Template;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::documents::{
    DocumentDetail, DocumentError, DocumentInput, DocumentView, ListRequest, ShareView, VersionView,
};
use attest_types::Classification;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response, field_error_response};
use crate::middleware::RequestContext;
use crate::routes::account::{chrome, when};
use crate::routes::{parse_date, see_other};
use crate::views::{self, Chrome, ConfirmPage};

/// The answer to a refused or failed operation (SEC-32: hidden objects are 404).
fn failure(e: DocumentError, ctx: &RequestContext, format: Format) -> Result<Response, AppError> {
    match e {
        DocumentError::NotFound => Err(AppError::NotFound),
        DocumentError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        DocumentError::Conflict => Ok(error_code_response(
            StatusCode::CONFLICT,
            "stale_version",
            ctx.request_id,
            format,
        )),
        DocumentError::Invalid {
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

fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

fn document_json(d: &DocumentView) -> serde_json::Value {
    serde_json::json!({
        "id": d.id.to_string(),
        "title": d.title,
        "classification": d.classification.as_str(),
        "owner": d.owner.as_ref().map(|(id, name)| serde_json::json!({
            "id": id.to_string(),
            "name": name,
        })),
        "version": d.version,
        "created_at": crate::routes::rfc3339(d.created_at),
        "updated_at": crate::routes::rfc3339(d.updated_at),
    })
}

fn detail_json(d: &DocumentDetail) -> serde_json::Value {
    let mut v = document_json(&d.document);
    v["body"] = serde_json::Value::String(d.body_html.clone());
    v["permissions"] = serde_json::json!({
        "edit": d.can_edit,
        "delete": d.can_delete,
        "share": d.can_share,
    });
    v
}

// ---------------------------------------------------------------------------------------
// Pages.

/// A line of the list.
struct Line {
    id: String,
    title: String,
    classification: &'static str,
    owner: String,
    version: i64,
    updated: String,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    documents: Vec<Line>,
    can_create: bool,
    can_export: bool,
    filter: String,
    classifications: [&'static str; 5],
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "document.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    doc_title: String,
    id: String,
    share_base: String,
    classification: &'static str,
    owner: String,
    version: i64,
    shown_version: Option<i64>,
    updated: String,
    body: String,
    can_edit: bool,
    can_share: bool,
    versions: Vec<(i64, String, String, String)>,
    shares: Vec<(String, String, String, bool)>,
    recipients: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "document_form.html")]
struct FormPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    action: String,
    cancel: String,
    form: FormValues,
    classifications: [&'static str; 5],
    owners: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

/// What the editor shows.
#[derive(Debug, Clone, Default)]
struct FormValues {
    title: String,
    body: String,
    classification: String,
    owner: String,
    version: i64,
}

const CLASSES: [&str; 5] = ["critical", "high", "moderate", "low", "public"];

/// The list's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

impl ListParams {
    fn request(self) -> ListRequest {
        ListRequest {
            classification: self.classification,
            after: self.after,
            limit: self.limit,
        }
    }
}

/// `GET /documents`
///
/// # Errors
/// Only on internal failure.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let filter = params.classification.clone().unwrap_or_default();
    let page = match state.documents.list(&session, &params.request()).await {
        Ok(p) => p,
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let (chrome, _) = chrome(&state, &session).await?;
    let documents = page
        .items
        .iter()
        .map(|d| Line {
            id: d.id.to_string(),
            title: d.title.clone(),
            classification: d.classification.as_str(),
            owner: d.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
            version: d.version,
            updated: when(d.updated_at),
        })
        .collect();
    let can_create = session
        .tenant
        .is_some_and(|(_, r)| attest_domain::access::Permission::Contribute.granted_to(r))
        && session.visibility == attest_domain::access::Visibility::Tenant;
    let mut r = views::html(
        StatusCode::OK,
        &ListPage {
            title: "Documents",
            chrome,
            documents,
            can_create,
            can_export: crate::routes::granted(&session, attest_domain::access::Permission::Export),
            next: page.next.map(|n| {
                let mut q = format!("after={n}");
                if !filter.is_empty() {
                    q.push_str("&classification=");
                    q.push_str(&filter);
                }
                q
            }),
            filter,
            classifications: CLASSES,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// Active members to choose from, as `(id, name)`. With `owners`, only those who may own
/// content (contributors and above), and only for callers who may name another owner
/// (compliance managers and above); otherwise every active member, for filters.
pub(crate) async fn member_options(
    state: &AppState,
    session: &VerifiedSession,
    owners: bool,
) -> Vec<(String, String)> {
    use attest_domain::access::Permission;
    if owners
        && !session
            .tenant
            .is_some_and(|(_, r)| Permission::ManageContent.granted_to(r))
    {
        return Vec::new();
    }
    members_where(state, session, owners).await
}

/// Active members whose role may contribute (who may perform or review work), as
/// `(id, name)`, for any caller who may list members.
pub(crate) async fn contributors(
    state: &AppState,
    session: &VerifiedSession,
) -> Vec<(String, String)> {
    members_where(state, session, true).await
}

async fn members_where(
    state: &AppState,
    session: &VerifiedSession,
    contributors_only: bool,
) -> Vec<(String, String)> {
    use attest_domain::access::Permission;
    state
        .identity
        .members(session)
        .await
        .map(|(_, members)| {
            members
                .into_iter()
                .filter(|m| {
                    m.status == "active"
                        && (!contributors_only
                            || m.role
                                .parse()
                                .is_ok_and(|r| Permission::Contribute.granted_to(r)))
                })
                .map(|m| (m.id.to_string(), m.display_name))
                .collect()
        })
        .unwrap_or_default()
}

async fn form_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    action: String,
    cancel: String,
    form: FormValues,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let owners = member_options(state, session, true).await;
    let mut r = views::html(
        status,
        &FormPage {
            title: if action == "/documents/new" {
                "New document"
            } else {
                "Edit document"
            },
            chrome,
            csrf: session.csrf_token.clone(),
            action,
            cancel,
            form,
            classifications: CLASSES,
            owners,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /documents/new`
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
        ..FormValues::default()
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "/documents/new".to_owned(),
        "/documents".to_owned(),
        form,
        Vec::new(),
    )
    .await
}

/// The editor's fields (form or JSON). Only these exist: anything else is refused (SEC-37).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    /// The version the edit started from (edits only).
    #[serde(default)]
    version: Option<i64>,
}

impl DocumentForm {
    fn input(&self) -> DocumentInput {
        DocumentInput {
            title: self.title.clone(),
            body: self.body.clone(),
            classification: self.classification.clone(),
            owner: self.owner.clone(),
        }
    }

    fn values(&self) -> FormValues {
        FormValues {
            title: self.title.clone(),
            body: self.body.clone(),
            classification: self.classification.clone().unwrap_or_default(),
            owner: self.owner.clone().unwrap_or_default(),
            version: self.version.unwrap_or_default(),
        }
    }
}

/// `POST /documents/new`
///
/// # Errors
/// Only on internal failure.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<DocumentForm>,
) -> Result<Response, AppError> {
    match state
        .documents
        .create(&session, &form.input(), origin(&ctx))
        .await
    {
        Ok(id) => Ok(see_other(&format!("/documents/{id}"))),
        Err(DocumentError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "/documents/new".to_owned(),
                "/documents".to_owned(),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    version: Option<i64>,
    status: StatusCode,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let d = match state
        .documents
        .get_version(session, id, version, origin(ctx))
        .await
    {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    let versions = if d.can_see_history {
        match state.documents.versions(session, id, origin(ctx)).await {
            Ok(v) => v
                .into_inner()
                .into_iter()
                .map(|v: VersionView| {
                    (
                        v.version,
                        v.title,
                        v.author.unwrap_or_default(),
                        when(v.created_at),
                    )
                })
                .collect(),
            Err(e) => return failure(e, ctx, Format::Html),
        }
    } else {
        Vec::new()
    };
    let (shares, recipients) = if d.can_share {
        match state.documents.shares(session, id, origin(ctx)).await {
            Ok(s) => {
                let (shares, recipients) = s.into_inner();
                (
                    shares
                        .into_iter()
                        .map(|s: ShareView| {
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
            Err(e) => return failure(e, ctx, Format::Html),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let (chrome, _) = chrome(state, session).await?;
    let doc = &d.document;
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Document",
            chrome,
            csrf: session.csrf_token.clone(),
            doc_title: doc.title.clone(),
            id: doc.id.to_string(),
            share_base: format!("/documents/{}", doc.id),
            classification: doc.classification.as_str(),
            owner: doc.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
            version: doc.version,
            shown_version: version,
            updated: when(doc.updated_at),
            body: d.body_html.clone(),
            can_edit: d.can_edit,
            can_share: d.can_share,
            versions,
            shares,
            recipients,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /documents/{id}`
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
        None,
        StatusCode::OK,
        Vec::new(),
    )
    .await
}

/// `GET /documents/{id}/versions/{n}`
///
/// # Errors
/// 404 when the caller does not see it.
pub async fn show_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let n: i64 = n.parse().map_err(|_| AppError::NotFound)?;
    detail_page(
        &state,
        &ctx,
        &session,
        &id,
        Some(n),
        StatusCode::OK,
        Vec::new(),
    )
    .await
}

/// `GET /documents/{id}/edit`
///
/// # Errors
/// 404 when the caller does not see it; 403 when they may not edit it.
pub async fn edit_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.documents.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_edit {
        return failure(DocumentError::Forbidden, &ctx, Format::Html);
    }
    let doc = d.document;
    form_page(
        &state,
        &session,
        StatusCode::OK,
        format!("/documents/{}/edit", doc.id),
        format!("/documents/{}", doc.id),
        FormValues {
            title: doc.title,
            body: d.body_html,
            classification: doc.classification.as_str().to_owned(),
            owner: doc.owner.map(|o| o.0.to_string()).unwrap_or_default(),
            version: doc.version,
        },
        Vec::new(),
    )
    .await
}

/// `POST /documents/{id}/edit`
///
/// # Errors
/// 404, 403, or 409 when someone saved first.
pub async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DocumentForm>,
) -> Result<Response, AppError> {
    match state
        .documents
        .update(
            &session,
            &id,
            &form.input(),
            form.version,
            origin(&ctx),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/documents/{id}"))),
        Err(DocumentError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("/documents/{id}/edit"),
                format!("/documents/{id}"),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(DocumentError::Conflict) => {
            form_page(
                &state,
                &session,
                StatusCode::CONFLICT,
                format!("/documents/{id}/edit"),
                format!("/documents/{id}"),
                form.values(),
                vec![(
                    "title".to_owned(),
                    "Someone saved a newer version while you were editing. Copy your text, reload the document and edit again.".to_owned(),
                )],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `GET /documents/{id}/delete`: the confirmation page.
///
/// # Errors
/// 404 or 403.
pub async fn delete_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.documents.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_delete {
        return failure(DocumentError::Forbidden, &ctx, Format::Html);
    }
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Delete document",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "“{}” and all {} of its versions will be deleted, and its shares end. This cannot be undone.",
                d.document.title, d.document.version
            ),
            action: format!("/documents/{}/delete", d.document.id),
            button: "Delete document",
            cancel: format!("/documents/{}", d.document.id),
        },
    )
}

/// `POST /documents/{id}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn delete_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.documents.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other("/documents")),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// A share's fields (form or JSON), for any object kind.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// The recipient's user id.
    #[serde(default)]
    pub(crate) user: String,
    /// `YYYY-MM-DD`: the share ends at the start of that day (UTC).
    #[serde(default)]
    pub(crate) until: String,
}

async fn add_share(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    form: &ShareForm,
) -> Result<attest_types::ShareId, DocumentError> {
    // An unreadable date is `None`: the domain answers it after its access checks.
    let until = parse_date(&form.until);
    state
        .documents
        .share(session, id, &form.user, until, origin(ctx))
        .await
}

/// `POST /documents/{id}/shares`
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
    match add_share(&state, &ctx, &session, &id, &form).await {
        Ok(_) => Ok(see_other(&format!("/documents/{id}#shares"))),
        Err(DocumentError::Invalid { field, message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(format!("share-{field}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `POST /documents/{id}/shares/{share}/revoke`
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
        .documents
        .revoke_share(&session, &id, &share, origin(&ctx))
        .await
    {
        Ok(()) => Ok(see_other(&format!("/documents/{id}#shares"))),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

fn tagged(mut r: Response, session: &VerifiedSession) -> Response {
    tag(&mut r, session);
    r
}

/// `GET /api/v1/documents?classification=&after=&limit=`
///
/// # Errors
/// Only on internal failure.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state.documents.list(&session, &params.request()).await {
        Ok(page) => Ok(tagged(
            Json(serde_json::json!({
                "items": page.items.iter().map(|d| document_json(d)).collect::<Vec<_>>(),
                "next": page.next.map(|n| n.to_string()),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /documents.csv` and `GET /api/v1/documents.csv`: the list as CSV, every page, with
/// its filter (SEC-48).
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
        .documents
        .export_csv(&session, &params.request(), origin(&ctx))
        .await
    {
        Ok(csv) => Ok(tagged(
            crate::routes::csv_attachment(csv.into_inner(), "documents.csv"),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/documents` → 201 `{"id"}`.
///
/// # Errors
/// Only on internal failure.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<DocumentForm>,
) -> Result<Response, AppError> {
    if form.version.is_some() {
        return failure(
            DocumentError::Invalid {
                field: "version",
                code: "field_not_allowed",
                message: "A new document has no version to name.".to_owned(),
            },
            &ctx,
            Format::Json,
        );
    }
    match state
        .documents
        .create(&session, &form.input(), origin(&ctx))
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
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/documents/{id}`
///
/// # Errors
/// 404 when the caller does not see it.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.documents.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/documents/{id}` with `version` (the one edited) → `{"version"}` or 409.
///
/// # Errors
/// 404, 403, 409 or 422.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<DocumentForm>,
) -> Result<Response, AppError> {
    match state
        .documents
        .update(&session, &id, &form.input(), form.version, origin(&ctx))
        .await
    {
        Ok(v) => Ok(tagged(
            Json(serde_json::json!({ "id": id, "version": v })).into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/documents/{id}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.documents.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/documents/{id}/versions`
///
/// # Errors
/// 404.
pub async fn api_versions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.documents.versions(&session, &id, origin(&ctx)).await {
        Ok(v) => Ok(tagged(
            Json(serde_json::json!({
                "versions": v.iter().map(|v| serde_json::json!({
                    "version": v.version,
                    "title": v.title,
                    "classification": v.classification,
                    "author": v.author,
                    "created_at": crate::routes::rfc3339(v.created_at),
                })).collect::<Vec<_>>(),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/documents/{id}/versions/{n}`
///
/// # Errors
/// 404.
pub async fn api_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let n: i64 = n.parse().map_err(|_| AppError::NotFound)?;
    match state
        .documents
        .get_version(&session, &id, Some(n), origin(&ctx))
        .await
    {
        Ok(d) => {
            let mut v = detail_json(&d);
            v["shown_version"] = n.into();
            Ok(tagged(Json(v).into_response(), &session))
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/documents/{id}/shares`
///
/// # Errors
/// 404 or 403.
pub async fn api_shares(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.documents.shares(&session, &id, origin(&ctx)).await {
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
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/documents/{id}/shares` `{"user", "until": "YYYY-MM-DD"}` → 201 `{"id"}`.
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
    match add_share(&state, &ctx, &session, &id, &form).await {
        Ok(share) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": share.to_string() })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/documents/{id}/shares/{share}` → 204.
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
        .documents
        .revoke_share(&session, &id, &share, origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
