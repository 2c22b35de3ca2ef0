//! Controls over HTTP: the register (filters, sort, pages, CSV export), creating, editing and
//! deleting a control, its mappings to framework requirements, and each framework's statement
//! of applicability; the same under `/api/v1`. Thin: the rules are in
//! `attest_domain::controls`.

use askama::Template;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::controls::{
    ControlDetail, ControlError, ControlInput, ControlView, ImplementationStatus, ListRequest,
    SoaLine,
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
use crate::routes::{granted, see_other};
use crate::views::{self, Chrome, ConfirmPage};

fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

/// The answer to a refused or failed operation (SEC-32: hidden objects are 404).
fn failure(e: ControlError, ctx: &RequestContext, format: Format) -> Result<Response, AppError> {
    match e {
        ControlError::NotFound => Err(AppError::NotFound),
        ControlError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        ControlError::Invalid {
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

fn tagged(mut r: Response, session: &VerifiedSession) -> Response {
    tag(&mut r, session);
    r
}

const STATUSES: [ImplementationStatus; 3] = [
    ImplementationStatus::Draft,
    ImplementationStatus::Implemented,
    ImplementationStatus::NotApplicable,
];

const CLASSES: [&str; 5] = ["critical", "high", "moderate", "low", "public"];

fn control_json(c: &ControlView) -> serde_json::Value {
    serde_json::json!({
        "id": c.id.to_string(),
        "reference": c.reference,
        "title": c.title,
        "classification": c.classification.as_str(),
        "owner": c.owner.as_ref().map(|o| serde_json::json!({ "id": o.0.to_string(), "name": o.1 })),
        "status": c.status.as_str(),
        "justification": c.justification,
        "effectiveness": c.effectiveness.as_str(),
        "effectiveness_reasons": c.effectiveness_reason.lines().collect::<Vec<_>>(),
        "created_at": crate::routes::rfc3339(c.created_at),
        "updated_at": crate::routes::rfc3339(c.updated_at),
    })
}

fn detail_json(d: &ControlDetail) -> serde_json::Value {
    let mut v = control_json(&d.control);
    v["description"] = d.description.clone().into();
    v["mappings"] = d
        .mappings
        .iter()
        .map(|m| {
            serde_json::json!({
                "requirement": m.requirement.to_string(),
                "framework": m.framework.to_string(),
                "framework_title": m.framework_title,
                "label": m.label,
                "title": m.title,
                "withdrawn": m.withdrawn,
            })
        })
        .collect();
    v
}

/// The register's query: filters, order and page. Only these exist.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// draft, implemented or not_applicable.
    #[serde(default)]
    status: Option<String>,
    /// An owner's user id.
    #[serde(default)]
    owner: Option<String>,
    /// Only controls mapped to this framework.
    #[serde(default)]
    framework: Option<String>,
    /// effective, overdue, deficient or not_tested.
    #[serde(default)]
    effectiveness: Option<String>,
    /// Reference or title containing this text.
    #[serde(default)]
    q: Option<String>,
    /// ref (default), title or updated.
    #[serde(default)]
    sort: Option<String>,
    /// The id of the last control of the previous page.
    #[serde(default)]
    after: Option<String>,
    /// Page size, 1 to 100.
    #[serde(default)]
    limit: Option<i64>,
}

impl ListParams {
    fn request(&self) -> ListRequest {
        ListRequest {
            status: self.status.clone(),
            owner: self.owner.clone(),
            framework: self.framework.clone(),
            effectiveness: self.effectiveness.clone(),
            q: self.q.clone(),
            sort: self.sort.clone(),
            after: self.after.clone(),
            limit: self.limit,
        }
    }

    /// The filters and order as a query string (without the cursor).
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("owner", &self.owner),
            ("framework", &self.framework),
            ("effectiveness", &self.effectiveness),
            ("q", &self.q),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// A line of the register.
struct Line {
    id: String,
    reference: String,
    title: String,
    status: &'static str,
    effectiveness: &'static str,
    owner: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "controls.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    controls: Vec<Line>,
    can_create: bool,
    can_export: bool,
    statuses: Vec<(&'static str, &'static str)>,
    frameworks: Vec<(String, String)>,
    owners: Vec<(String, String)>,
    filter: (String, String, String, String, String, String),
    effectiveness: Vec<(&'static str, &'static str)>,
    filtered: bool,
    query: String,
    next: Option<String>,
    errors: Vec<(String, String)>,
}

/// `GET /controls`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let (page, errors, status) = match state.controls.list(&session, &params.request()).await {
        Ok(p) => (Some(p), Vec::new(), StatusCode::OK),
        Err(ControlError::Invalid { field, message, .. }) => (
            None,
            vec![(field.to_owned(), message)],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let frameworks = match state.frameworks.list(&session).await {
        Ok(l) => l
            .into_inner()
            .into_iter()
            .map(|f| (f.id.to_string(), f.title))
            .collect(),
        Err(_) => Vec::new(),
    };
    let owners = crate::routes::documents::member_options(&state, &session, false).await;
    let (chrome, _) = chrome(&state, &session).await?;
    let query = params.query();
    let (controls, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.items
                .iter()
                .map(|c| Line {
                    id: c.id.to_string(),
                    reference: c.reference.clone(),
                    title: c.title.clone(),
                    status: c.status.label(),
                    effectiveness: c.effectiveness.label(),
                    owner: c.owner.as_ref().map(|o| o.1.clone()).unwrap_or_default(),
                    updated: when(c.updated_at),
                })
                .collect(),
            p.next.map(|n| {
                if query.is_empty() {
                    format!("after={n}")
                } else {
                    format!("{query}&after={n}")
                }
            }),
        )
    });
    let get = |v: &Option<String>| v.clone().unwrap_or_default();
    let filter = (
        get(&params.status),
        get(&params.owner),
        get(&params.framework),
        get(&params.q),
        get(&params.sort),
        get(&params.effectiveness),
    );
    let filtered = !(filter.0.is_empty()
        && filter.1.is_empty()
        && filter.2.is_empty()
        && filter.3.is_empty()
        && filter.5.is_empty());
    let mut r = views::html(
        status,
        &ListPage {
            title: "Controls",
            chrome,
            controls,
            can_create: granted(&session, attest_domain::access::Permission::ManageContent),
            can_export: granted(&session, attest_domain::access::Permission::Export),
            statuses: STATUSES.iter().map(|s| (s.as_str(), s.label())).collect(),
            frameworks,
            owners,
            filter,
            effectiveness: attest_domain::activities::status::Effectiveness::ALL
                .iter()
                .map(|e| (e.as_str(), e.label()))
                .collect(),
            filtered,
            query,
            next,
            errors,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// `GET /controls.csv` and `GET /api/v1/controls.csv`: the register as CSV, every page, with
/// the list's filters and order (SEC-48: cells that a spreadsheet would run are escaped).
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
        .controls
        .export_csv(&session, &params.request(), origin(&ctx))
        .await
    {
        Ok(csv) => {
            let r = crate::routes::csv_attachment(csv.into_inner(), "controls.csv");
            Ok(tagged(r, &session))
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// What the editor shows.
#[derive(Debug, Clone, Default)]
struct FormValues {
    reference: String,
    title: String,
    description: String,
    classification: String,
    owner: String,
    status: String,
    justification: String,
}

#[derive(Template)]
#[template(path = "control_form.html")]
struct FormPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    action: String,
    cancel: String,
    form: FormValues,
    classifications: [&'static str; 5],
    statuses: Vec<(&'static str, &'static str)>,
    owners: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    heading: &'static str,
    action: String,
    cancel: String,
    form: FormValues,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let owners = crate::routes::documents::member_options(state, session, true).await;
    let mut r = views::html(
        status,
        &FormPage {
            title: heading,
            chrome,
            csrf: session.csrf_token.clone(),
            action,
            cancel,
            form,
            classifications: CLASSES,
            statuses: STATUSES.iter().map(|s| (s.as_str(), s.label())).collect(),
            owners,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// The editor's fields (form or JSON). Only these exist: anything else is refused (SEC-37).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// The organisation's reference, e.g. CTL-012 (unique in the tenant).
    #[serde(default)]
    reference: String,
    /// Title.
    #[serde(default)]
    title: String,
    /// Plain-text description.
    #[serde(default)]
    description: String,
    /// critical, high (default), moderate, low or public.
    #[serde(default)]
    classification: Option<String>,
    /// The owner's user id (compliance managers and above).
    #[serde(default)]
    owner: Option<String>,
    /// draft (default), implemented or not_applicable.
    #[serde(default)]
    status: Option<String>,
    /// Why the control does not apply (required for not_applicable).
    #[serde(default)]
    justification: Option<String>,
}

impl ControlForm {
    fn input(&self) -> ControlInput {
        ControlInput {
            reference: self.reference.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            classification: self.classification.clone(),
            owner: self.owner.clone(),
            status: self.status.clone(),
            justification: self.justification.clone(),
        }
    }

    fn values(&self) -> FormValues {
        FormValues {
            reference: self.reference.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            classification: self.classification.clone().unwrap_or_default(),
            owner: self.owner.clone().unwrap_or_default(),
            status: self.status.clone().unwrap_or_default(),
            justification: self.justification.clone().unwrap_or_default(),
        }
    }
}

/// `GET /controls/new`
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
        status: ImplementationStatus::Draft.as_str().to_owned(),
        ..FormValues::default()
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "New control",
        "/controls/new".to_owned(),
        "/controls".to_owned(),
        form,
        Vec::new(),
    )
    .await
}

/// `POST /controls/new`
///
/// # Errors
/// 403.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<ControlForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .create(&session, &form.input(), origin(&ctx))
        .await
    {
        Ok(id) => Ok(see_other(&format!("/controls/{id}"))),
        Err(ControlError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "New control",
                "/controls/new".to_owned(),
                "/controls".to_owned(),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

#[derive(Template)]
#[template(path = "control.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    d: ControlDetail,
    id: String,
    status: &'static str,
    owner: String,
    updated: String,
    frameworks: Vec<(String, String)>,
    chosen: (String, String),
    activities: Vec<attest_domain::activities::ActivityView>,
    effectiveness: &'static str,
    effectiveness_class: &'static str,
    reasons: Vec<String>,
    errors: Vec<(String, String)>,
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    chosen: (String, String),
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let d = match state.controls.get(session, id, origin(ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    let frameworks = if d.can_edit {
        match state.frameworks.list(session).await {
            Ok(l) => l
                .into_inner()
                .into_iter()
                .map(|f| (f.id.to_string(), format!("{} ({})", f.title, f.version)))
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let activities = state
        .activities
        .of_control(session, id)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner();
    let assessment = state
        .activities
        .assess(session, id)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner();
    use attest_domain::activities::status::Effectiveness;
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Control",
            activities,
            effectiveness: assessment.state.label(),
            effectiveness_class: match assessment.state {
                Effectiveness::Effective => "ok",
                Effectiveness::NotTested => "",
                Effectiveness::Overdue | Effectiveness::Deficient => "danger",
            },
            reasons: assessment.reasons,
            chrome,
            csrf: session.csrf_token.clone(),
            id: d.control.id.to_string(),
            status: d.control.status.label(),
            owner: d
                .control
                .owner
                .as_ref()
                .map(|o| o.1.clone())
                .unwrap_or_default(),
            updated: when(d.control.updated_at),
            d,
            frameworks,
            chosen,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /controls/{id}`
///
/// # Errors
/// 404.
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
        (String::new(), String::new()),
        Vec::new(),
    )
    .await
}

/// `GET /controls/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.controls.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_edit {
        return failure(ControlError::Forbidden, &ctx, Format::Html);
    }
    let c = &d.control;
    let form = FormValues {
        reference: c.reference.clone(),
        title: c.title.clone(),
        description: d.description.clone(),
        classification: c.classification.as_str().to_owned(),
        owner: c
            .owner
            .as_ref()
            .map(|o| o.0.to_string())
            .unwrap_or_default(),
        status: c.status.as_str().to_owned(),
        justification: c.justification.clone(),
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "Edit control",
        format!("/controls/{}/edit", c.id),
        format!("/controls/{}", c.id),
        form,
        Vec::new(),
    )
    .await
}

/// `POST /controls/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ControlForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .update(&session, &id, &form.input(), origin(&ctx))
        .await
    {
        Ok(()) => Ok(see_other(&format!("/controls/{id}"))),
        Err(ControlError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Edit control",
                format!("/controls/{id}/edit"),
                format!("/controls/{id}"),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `GET /controls/{id}/delete`: the confirmation page.
///
/// # Errors
/// 404 or 403.
pub async fn delete_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.controls.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_delete {
        return failure(ControlError::Forbidden, &ctx, Format::Html);
    }
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Delete control",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "{} “{}” will be deleted with its {} mappings. The audit trail keeps that it existed. This cannot be undone.",
                d.control.reference,
                d.control.title,
                d.mappings.len()
            ),
            action: format!("/controls/{}/delete", d.control.id),
            button: "Delete control",
            cancel: format!("/controls/{}", d.control.id),
        },
    )
}

/// `POST /controls/{id}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn delete_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(_): Form<crate::routes::frameworks::Confirm>,
) -> Result<Response, AppError> {
    match state.controls.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other("/controls")),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// A new mapping: the requirement's id, or its label (e.g. `AC-2`) within `framework`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// The framework's id (when `requirement` is a label or a source id).
    #[serde(default)]
    framework: Option<String>,
    /// The requirement: its id, or its label or source id within `framework`.
    #[serde(default)]
    requirement: String,
}

/// `POST /controls/{id}/mappings`
///
/// # Errors
/// 404 or 403.
pub async fn map_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<MapForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .map(
            &session,
            &id,
            form.framework.as_deref(),
            &form.requirement,
            origin(&ctx),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/controls/{id}#mappings"))),
        Err(ControlError::Invalid { field, message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                (form.framework.unwrap_or_default(), form.requirement),
                vec![(format!("map-{field}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `POST /controls/{id}/mappings/{req}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn unmap_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
    Form(_): Form<crate::routes::frameworks::Confirm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .unmap(&session, &id, &req, origin(&ctx))
        .await
    {
        Ok(()) => Ok(see_other(&format!("/controls/{id}#mappings"))),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// The statement of applicability.

#[derive(Template)]
#[template(path = "soa.html")]
struct SoaPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    id: String,
    fw_title: String,
    lines: Vec<SoaLine>,
    can_manage: bool,
    applicable: usize,
    excluded: usize,
    errors: Vec<(String, String)>,
}

async fn soa_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let lines = match state.controls.soa(session, id).await {
        Ok(l) => l.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    let fw = match state.frameworks.list(session).await {
        Ok(l) => l
            .into_inner()
            .into_iter()
            .find(|f| f.id.to_string() == id)
            .ok_or(AppError::NotFound)?,
        Err(_) => return Err(AppError::NotFound),
    };
    let applicable = lines.iter().filter(|l| !l.group && l.applicable).count();
    let excluded = lines.iter().filter(|l| !l.group && !l.applicable).count();
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &SoaPage {
            title: "Statement of applicability",
            chrome,
            csrf: session.csrf_token.clone(),
            id: fw.id.to_string(),
            fw_title: fw.title,
            lines,
            can_manage: granted(session, attest_domain::access::Permission::ManageContent),
            applicable,
            excluded,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /frameworks/{id}/soa`
///
/// # Errors
/// 404.
pub async fn soa_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    soa_page(&state, &ctx, &session, &id, StatusCode::OK, Vec::new()).await
}

/// `GET /frameworks/{id}/soa.csv` and `GET /api/v1/frameworks/{id}/soa.csv`: the statement of
/// applicability as CSV (SEC-48).
///
/// # Errors
/// 404 or 403.
pub async fn soa_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.controls.soa_csv(&session, &id, origin(&ctx)).await {
        Ok(x) => {
            let (_, csv) = x.into_inner();
            Ok(tagged(
                crate::routes::csv_attachment(csv, "statement-of-applicability.csv"),
                &session,
            ))
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// Whether a requirement applies, and why not.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicabilityForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// "yes" or "no" (forms), true or false (JSON).
    #[serde(default)]
    applicable: Option<Applicable>,
    /// Why it does not apply (required then).
    #[serde(default)]
    reason: String,
}

/// A yes/no from a form or JSON.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Applicable {
    Bool(bool),
    Text(YesNo),
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
enum YesNo {
    Yes,
    No,
}

impl Applicable {
    const fn get(self) -> bool {
        matches!(self, Self::Bool(true) | Self::Text(YesNo::Yes))
    }
}

/// `POST /frameworks/{id}/soa/{req}`
///
/// # Errors
/// 404 or 403.
pub async fn soa_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
    Form(form): Form<ApplicabilityForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .set_applicability(
            &session,
            &id,
            &req,
            form.applicable.map(Applicable::get),
            &form.reason,
            origin(&ctx),
        )
        .await
    {
        Ok(()) => Ok(see_other(&format!("/frameworks/{id}/soa#r-{req}"))),
        Err(ControlError::Invalid { message, .. }) => {
            soa_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(format!("reason-{req}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

/// `GET /api/v1/controls?status=&owner=&framework=&q=&sort=&after=&limit=`
///
/// # Errors
/// 404 for members who see only shared items; 422 for a bad filter.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state.controls.list(&session, &params.request()).await {
        Ok(page) => Ok(tagged(
            Json(serde_json::json!({
                "items": page.items.iter().map(|c| control_json(c)).collect::<Vec<_>>(),
                "next": page.next.map(|n| n.to_string()),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/controls` → 201 `{"id"}`.
///
/// # Errors
/// 403 or 422.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<ControlForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .create(&session, &form.input(), origin(&ctx))
        .await
    {
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

/// `GET /api/v1/controls/{id}`
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.controls.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/controls/{id}` → 204.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<ControlForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .update(&session, &id, &form.input(), origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/controls/{id}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.controls.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/controls/{id}/mappings` → 201 `{"requirement"}`.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_map(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<MapForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .map(
            &session,
            &id,
            form.framework.as_deref(),
            &form.requirement,
            origin(&ctx),
        )
        .await
    {
        Ok(r) => Ok(tagged(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "requirement": r.to_string() })),
            )
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/controls/{id}/mappings/{req}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_unmap(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
) -> Result<Response, AppError> {
    match state
        .controls
        .unmap(&session, &id, &req, origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

fn soa_json(l: &SoaLine) -> serde_json::Value {
    serde_json::json!({
        "requirement": l.requirement.to_string(),
        "label": l.label,
        "title": l.title,
        "group": l.group,
        "applicable": l.applicable,
        "reason": l.reason,
        "controls": l.mapped,
        "implemented_controls": l.implemented,
    })
}

/// `GET /api/v1/frameworks/{id}/soa`
///
/// # Errors
/// 404.
pub async fn api_soa(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.controls.soa(&session, &id).await {
        Ok(l) => Ok(tagged(
            Json(serde_json::json!({ "items": l.iter().map(soa_json).collect::<Vec<_>>() }))
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/frameworks/{id}/soa/{req}` → 204.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_set_soa(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, req)): Path<(String, String)>,
    Json(form): Json<ApplicabilityForm>,
) -> Result<Response, AppError> {
    match state
        .controls
        .set_applicability(
            &session,
            &id,
            &req,
            form.applicable.map(Applicable::get),
            &form.reason,
            origin(&ctx),
        )
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
