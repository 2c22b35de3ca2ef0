//! Activity runs over HTTP: the runs list (open, overdue, awaiting review, approved; the
//! caller's own; CSV export), a run with its evidence and history, performing it and
//! reviewing it (four eyes); the same under `/api/v1`. Thin: the rules are in
//! `attest_domain::activities`.

use askama::Template;
use attest_domain::activities::status::RunResult;
use attest_domain::activities::{ActivityError, PerformInput, RunDetail, RunListRequest, RunView};
use attest_domain::authn::sessions::VerifiedSession;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, tag};
use crate::error::{AppError, Format};
use crate::middleware::RequestContext;
use crate::routes::account::{chrome, when};
use crate::routes::activities::{failure, origin, run_json, tagged};
use crate::routes::see_other;
use crate::views::{self, Chrome};

/// The runs list's query. Only these exist.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    mine: Option<String>,
    #[serde(default)]
    control: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

impl ListParams {
    fn request(&self) -> RunListRequest {
        RunListRequest {
            show: self.show.clone(),
            mine: self.mine.clone(),
            control: self.control.clone(),
            after: self.after.clone(),
            limit: self.limit,
        }
    }

    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("show", &self.show),
            ("mine", &self.mine),
            ("control", &self.control),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// A line of a runs table.
pub(crate) struct Line {
    pub id: String,
    pub control: String,
    pub control_ref: String,
    pub activity: String,
    pub period: String,
    pub due: String,
    pub state: &'static str,
    pub result: &'static str,
    pub overdue: bool,
}

pub(crate) fn line(r: &RunView) -> Line {
    Line {
        id: r.id.to_string(),
        control: r.control.to_string(),
        control_ref: r.control_ref.clone(),
        activity: r.activity_title.clone(),
        period: format!("{} to {}", r.period.start, r.period.end),
        due: r.period.due.to_string(),
        state: r.state.label(),
        result: r.result.map_or("", RunResult::label),
        overdue: r.overdue,
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    runs: Vec<Line>,
    filter: (String, String),
    query: String,
    next: Option<String>,
    can_export: bool,
    errors: Vec<(String, String)>,
}

/// `GET /runs`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let (page, status, errors) = match state
        .activities
        .list_runs(&session, &params.request())
        .await
    {
        Ok(p) => (Some(p), StatusCode::OK, Vec::new()),
        Err(ActivityError::Invalid { field, message, .. }) => (
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![(field.to_owned(), message)],
        ),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let query = params.query();
    let (runs, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.items.iter().map(line).collect(),
            p.next.map(|n| {
                if query.is_empty() {
                    format!("after={n}")
                } else {
                    format!("{query}&after={n}")
                }
            }),
        )
    });
    let (chrome, _) = chrome(&state, &session).await?;
    let mut r = views::html(
        status,
        &ListPage {
            title: "Activities",
            chrome,
            runs,
            filter: (
                params.show.clone().unwrap_or_default(),
                params.mine.clone().unwrap_or_default(),
            ),
            query,
            next,
            can_export: session
                .tenant
                .is_some_and(|(_, r)| attest_domain::access::Permission::Export.granted_to(r)),
            errors,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// `GET /runs.csv` and `GET /api/v1/runs.csv`: the runs list as CSV, every page (SEC-48).
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
        .activities
        .export_csv(&session, &params.request(), origin(&ctx))
        .await
    {
        Ok(csv) => {
            let r = crate::routes::csv_attachment(csv.into_inner(), "activities.csv");
            Ok(tagged(r, &session))
        }
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    d: RunDetail,
    id: String,
    performed_at: String,
    reviewed_at: String,
    steps: Vec<(String, String, String, String)>,
    choices: Vec<(String, String, String, bool)>,
    results: [(&'static str, &'static str); 3],
    form: (String, String),
    errors: Vec<(String, String)>,
}

async fn run_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    form: (String, String),
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let d = match state.activities.run(session, id, origin(ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    // The evidence to choose from: what is linked, then the library's most recent records.
    let mut choices: Vec<(String, String, String, bool)> = d
        .evidence
        .iter()
        .map(|e| {
            (
                e.id.to_string(),
                e.title.clone(),
                span(e.span.from, e.span.to),
                true,
            )
        })
        .collect();
    if d.can_perform {
        let recent = state
            .evidence
            .list(
                session,
                &attest_domain::evidence::ListRequest {
                    limit: Some(50),
                    ..Default::default()
                },
            )
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        for e in recent {
            let id = e.id.to_string();
            if !choices.iter().any(|c| c.0 == id) {
                choices.push((
                    id,
                    e.title.clone(),
                    span(e.effective_from, e.effective_to),
                    false,
                ));
            }
        }
    }
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &RunPage {
            title: "Activity run",
            chrome,
            csrf: session.csrf_token.clone(),
            id: d.run.id.to_string(),
            performed_at: d.run.performed_at.map(when).unwrap_or_default(),
            reviewed_at: d.run.reviewed_at.map(when).unwrap_or_default(),
            steps: d
                .steps
                .iter()
                .map(|s| {
                    (
                        when(s.at),
                        s.actor.clone(),
                        s.action.replace('_', " "),
                        s.note.clone(),
                    )
                })
                .collect(),
            choices,
            results: [
                (RunResult::Effective.as_str(), RunResult::Effective.label()),
                (RunResult::Deficient.as_str(), RunResult::Deficient.label()),
                (
                    RunResult::NotPerformed.as_str(),
                    RunResult::NotPerformed.label(),
                ),
            ],
            form,
            d,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

fn span(from: time::Date, to: Option<time::Date>) -> String {
    match to {
        Some(to) => format!("{from} to {to}"),
        None => from.to_string(),
    }
}

/// `GET /runs/{id}`
///
/// # Errors
/// 404.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    run_page(
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

/// The perform form's fields, read from the body: `result`, `comment` and any number of
/// `evidence` (checkboxes). Anything else is refused (SEC-37).
fn perform_fields(body: &[u8]) -> Result<PerformInput, ActivityError> {
    let mut input = PerformInput::default();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "csrf_token" => {}
            "result" => input.result = v.into_owned(),
            "comment" => input.comment = v.into_owned(),
            "evidence" => input.evidence.push(v.into_owned()),
            _ => {
                return Err(ActivityError::Invalid {
                    field: "form",
                    code: "field_not_allowed",
                    message: "The form has a field that does not exist.".to_owned(),
                });
            }
        }
    }
    Ok(input)
}

/// `POST /runs/{id}/perform`
///
/// # Errors
/// 404, 403 or 409.
pub async fn perform_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = perform_fields(&body);
    let kept = input
        .as_ref()
        .map(|i| (i.result.clone(), i.comment.clone()))
        .unwrap_or_default();
    let result = match input {
        Ok(i) => {
            state
                .activities
                .perform(&session, &id, &i, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/runs/{id}"))),
        Err(ActivityError::Invalid { field, message, .. }) => {
            run_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                kept,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// A review: approve or return, with remarks (required to return).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// approve or return.
    #[serde(default)]
    decision: Option<String>,
    /// The reviewer's remarks.
    #[serde(default)]
    remarks: String,
}

impl ReviewForm {
    fn decision(&self) -> Result<Option<bool>, ActivityError> {
        match self.decision.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some("approve") => Ok(Some(true)),
            Some("return") => Ok(Some(false)),
            Some(_) => Err(ActivityError::Invalid {
                field: "decision",
                code: "invalid_decision",
                message: "The decision is approve or return.".to_owned(),
            }),
        }
    }
}

/// `POST /runs/{id}/review`
///
/// # Errors
/// 404, 403 (`four_eyes` for the run's performer) or 409.
pub async fn review_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, AppError> {
    let result = match form.decision() {
        Ok(d) => {
            state
                .activities
                .review(&session, &id, d, &form.remarks, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/runs/{id}"))),
        Err(ActivityError::Invalid { field, message, .. }) => {
            run_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                (String::new(), form.remarks.clone()),
                vec![(format!("review-{field}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

fn detail_json(d: &RunDetail) -> serde_json::Value {
    let mut v = run_json(&d.run);
    v["instructions"] = d.instructions.clone().into();
    v["evidence"] = d
        .evidence
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id.to_string(),
                "title": e.title,
                "version": e.version,
                "effective_from": e.span.from.to_string(),
                "effective_to": e.span.to.map(|t| t.to_string()),
                "covers_period": e.covers,
            })
        })
        .collect();
    v["history"] = d
        .steps
        .iter()
        .map(|s| serde_json::json!({ "at": crate::routes::rfc3339(s.at), "by": s.actor, "action": s.action, "note": s.note }))
        .collect();
    v["can_perform"] = d.can_perform.into();
    v["can_review"] = d.can_review.into();
    v
}

/// `GET /api/v1/runs?show=&mine=&control=&after=&limit=`
///
/// # Errors
/// 404 for members who see only shared items; 422 for a bad filter.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state
        .activities
        .list_runs(&session, &params.request())
        .await
    {
        Ok(p) => Ok(tagged(
            Json(serde_json::json!({
                "items": p.items.iter().map(run_json).collect::<Vec<_>>(),
                "next": p.next.map(|n| n.to_string()),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/runs/{id}`
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.activities.run(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// A performance, as JSON.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformJson {
    /// effective, deficient or not_performed.
    #[serde(default)]
    result: String,
    /// Findings (required unless effective).
    #[serde(default)]
    comment: String,
    /// Evidence record ids; the newest released version of each is linked, replacing what was.
    #[serde(default)]
    evidence: Vec<String>,
}

/// `POST /api/v1/runs/{id}/perform` → 204.
///
/// # Errors
/// 404, 403, 409 or 422.
pub async fn api_perform(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<PerformJson>,
) -> Result<Response, AppError> {
    let input = PerformInput {
        result: form.result,
        comment: form.comment,
        evidence: form.evidence,
    };
    match state
        .activities
        .perform(&session, &id, &input, origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/runs/{id}/review` → 204.
///
/// # Errors
/// 404, 403 (`four_eyes`), 409 or 422.
pub async fn api_review(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<ReviewForm>,
) -> Result<Response, AppError> {
    let result = match form.decision() {
        Ok(d) => {
            state
                .activities
                .review(&session, &id, d, &form.remarks, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/tasks`: the caller's runs to perform and to review.
///
/// # Errors
/// Only on internal failure.
pub async fn api_tasks(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    match state.activities.tasks(&session).await {
        Ok(t) => Ok(tagged(
            Json(serde_json::json!({
                "to_perform": t.to_perform.iter().map(run_json).collect::<Vec<_>>(),
                "to_review": t.to_review.iter().map(run_json).collect::<Vec<_>>(),
            }))
            .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
