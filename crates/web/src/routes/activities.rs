//! Control activities over HTTP: defining one on a control's page, an activity with its
//! recent runs, changing it; and the same under `/api/v1`. Thin: the rules are in
//! `attest_domain::activities`.

use askama::Template;
use attest_domain::activities::schedule::WeekendRule;
use attest_domain::activities::{
    ActivityDetail, ActivityError, ActivityInput, ActivityView, RunView,
};
use attest_domain::authn::sessions::VerifiedSession;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response, field_error_response};
use crate::middleware::RequestContext;
use crate::routes::account::chrome;
use crate::routes::see_other;
use crate::views::{self, Chrome};

pub(crate) fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

/// The answer to a refused or failed operation (SEC-32: hidden objects are 404; SEC-42: a
/// performer reviewing their own run is 403 `four_eyes`).
pub(crate) fn failure(
    e: ActivityError,
    ctx: &RequestContext,
    format: Format,
) -> Result<Response, AppError> {
    match e {
        ActivityError::NotFound => Err(AppError::NotFound),
        ActivityError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        ActivityError::FourEyes => Ok(field_error_response(
            StatusCode::FORBIDDEN,
            "four_eyes",
            "decision",
            "You performed this run, so someone else must review it.",
            ctx.request_id,
        )),
        ActivityError::WrongState(s) => Ok(field_error_response(
            StatusCode::CONFLICT,
            "wrong_state",
            "state",
            &format!("The run is {s}; reload the page."),
            ctx.request_id,
        )),
        ActivityError::Invalid {
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

pub(crate) fn tagged(mut r: Response, session: &VerifiedSession) -> Response {
    tag(&mut r, session);
    r
}

pub(crate) fn activity_json(a: &ActivityView) -> serde_json::Value {
    let person = |p: &Option<(attest_types::UserId, String)>| {
        p.as_ref()
            .map(|(id, name)| serde_json::json!({ "id": id.to_string(), "name": name }))
    };
    serde_json::json!({
        "id": a.id.to_string(),
        "control": a.control.to_string(),
        "control_reference": a.control_ref,
        "title": a.title,
        "instructions": a.instructions,
        "frequency": a.schedule.frequency.as_str(),
        "interval_days": a.schedule.frequency.days(),
        "starts_on": a.schedule.starts_on.to_string(),
        "weekend_rule": a.schedule.weekends.as_str(),
        "performer": person(&a.performer),
        "reviewer": person(&a.reviewer),
        "remind_days": a.remind_days,
        "active": a.active,
    })
}

pub(crate) fn run_json(r: &RunView) -> serde_json::Value {
    serde_json::json!({
        "id": r.id.to_string(),
        "activity": r.activity.to_string(),
        "activity_title": r.activity_title,
        "control": r.control.to_string(),
        "control_reference": r.control_ref,
        "period_start": r.period.start.to_string(),
        "period_end": r.period.end.to_string(),
        "due_on": r.period.due.to_string(),
        "state": r.state.as_str(),
        "result": r.result.map(|x| x.as_str()),
        "comment": r.comment,
        "performed_by": r.performed_by,
        "performed_at": r.performed_at.map(crate::routes::rfc3339),
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at.map(crate::routes::rfc3339),
        "remarks": r.remarks,
        "overdue": r.overdue,
    })
}

fn detail_json(d: &ActivityDetail) -> serde_json::Value {
    let mut v = activity_json(&d.activity);
    v["runs"] = d.runs.iter().map(run_json).collect();
    v
}

/// The activity editor's fields (form or JSON). Only these exist (SEC-37).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// What it is called.
    #[serde(default)]
    title: String,
    /// What to do.
    #[serde(default)]
    instructions: String,
    /// weekly, monthly, quarterly, yearly or custom.
    #[serde(default)]
    frequency: String,
    /// For custom: every this many days (1 to 366). A form sends it as text.
    #[serde(default)]
    interval_days: Option<NumberOrText>,
    /// The first period's first day, YYYY-MM-DD.
    #[serde(default)]
    starts_on: String,
    /// keep (default), before (the Friday before) or after (the Monday after).
    #[serde(default)]
    weekend_rule: Option<String>,
    /// The performer's user id.
    #[serde(default)]
    performer: String,
    /// The reviewer's user id (never the performer).
    #[serde(default)]
    reviewer: String,
    /// Days before the due date to remind the performer (0 to 60, default 7).
    #[serde(default)]
    remind_days: Option<NumberOrText>,
    /// Still scheduled (default true). A form sends "yes" or "no".
    #[serde(default)]
    active: Option<BoolOrText>,
}

/// A number from JSON, or its text from a form.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NumberOrText {
    /// JSON.
    Number(i64),
    /// A form field.
    Text(String),
}

impl NumberOrText {
    /// `None` for an empty field; `Some(Err)` for text that is not a number.
    pub(crate) fn get(&self) -> Option<Result<i64, ()>> {
        match self {
            Self::Number(n) => Some(Ok(*n)),
            Self::Text(t) if t.trim().is_empty() => None,
            Self::Text(t) => Some(t.trim().parse().map_err(|_| ())),
        }
    }
}

/// A boolean from JSON, or "yes"/"no" from a form.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum BoolOrText {
    /// JSON.
    Bool(bool),
    /// A form field.
    Text(String),
}

impl ActivityForm {
    fn input(&self) -> Result<ActivityInput, ActivityError> {
        let number =
            |v: &Option<NumberOrText>, field: &'static str| -> Result<Option<i64>, ActivityError> {
                match v.as_ref().and_then(NumberOrText::get) {
                    None => Ok(None),
                    Some(Ok(n)) => Ok(Some(n)),
                    Some(Err(())) => Err(ActivityError::Invalid {
                        field,
                        code: "invalid_number",
                        message: "Enter a whole number.".to_owned(),
                    }),
                }
            };
        let active = match &self.active {
            None => None,
            Some(BoolOrText::Bool(b)) => Some(*b),
            Some(BoolOrText::Text(t)) => match t.trim() {
                "yes" | "true" | "on" => Some(true),
                "no" | "false" | "off" => Some(false),
                _ => {
                    return Err(ActivityError::Invalid {
                        field: "active",
                        code: "invalid_active",
                        message: "Active is yes or no.".to_owned(),
                    });
                }
            },
        };
        Ok(ActivityInput {
            title: self.title.clone(),
            instructions: self.instructions.clone(),
            frequency: self.frequency.clone(),
            interval_days: number(&self.interval_days, "interval_days")?,
            starts_on: self.starts_on.clone(),
            weekend_rule: self.weekend_rule.clone(),
            performer: self.performer.clone(),
            reviewer: self.reviewer.clone(),
            remind_days: number(&self.remind_days, "remind_days")?,
            active,
        })
    }

    fn values(&self) -> FormValues {
        let text = |v: &Option<NumberOrText>| match v {
            Some(NumberOrText::Number(n)) => n.to_string(),
            Some(NumberOrText::Text(t)) => t.clone(),
            None => String::new(),
        };
        FormValues {
            title: self.title.clone(),
            instructions: self.instructions.clone(),
            frequency: self.frequency.clone(),
            interval_days: text(&self.interval_days),
            starts_on: self.starts_on.clone(),
            weekend_rule: self.weekend_rule.clone().unwrap_or_default(),
            performer: self.performer.clone(),
            reviewer: self.reviewer.clone(),
            remind_days: text(&self.remind_days),
            active: !matches!(&self.active, Some(BoolOrText::Bool(false)))
                && !matches!(&self.active, Some(BoolOrText::Text(t)) if t == "no"),
        }
    }
}

/// What the editor shows.
#[derive(Debug, Clone, Default)]
struct FormValues {
    title: String,
    instructions: String,
    frequency: String,
    interval_days: String,
    starts_on: String,
    weekend_rule: String,
    performer: String,
    reviewer: String,
    remind_days: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "activity_form.html")]
struct FormPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    action: String,
    cancel: String,
    control: String,
    form: FormValues,
    members: Vec<(String, String)>,
    editing: bool,
    errors: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    action: String,
    cancel: String,
    control: String,
    form: FormValues,
    editing: bool,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (chrome, _) = chrome(state, session).await?;
    let members = crate::routes::documents::contributors(state, session).await;
    let mut r = views::html(
        status,
        &FormPage {
            title: if editing {
                "Edit activity"
            } else {
                "New activity"
            },
            chrome,
            csrf: session.csrf_token.clone(),
            action,
            cancel,
            control,
            form,
            members,
            editing,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /controls/{id}/activities/new`
///
/// # Errors
/// 404 or 403.
pub async fn new_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(control): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.controls.get(&session, &control, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(attest_domain::controls::ControlError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(AppError::internal(&e)),
    };
    if !d.can_edit {
        return failure(ActivityError::Forbidden, &ctx, Format::Html);
    }
    let today = state.clock.now().date();
    let form = FormValues {
        frequency: "quarterly".to_owned(),
        starts_on: today.replace_day(1).unwrap_or(today).to_string(),
        weekend_rule: WeekendRule::Before.as_str().to_owned(),
        performer: d
            .control
            .owner
            .as_ref()
            .map(|o| o.0.to_string())
            .unwrap_or_default(),
        remind_days: "7".to_owned(),
        active: true,
        ..FormValues::default()
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        format!("/controls/{}/activities/new", d.control.id),
        format!("/controls/{}", d.control.id),
        format!("{} {}", d.control.reference, d.control.title),
        form,
        false,
        Vec::new(),
    )
    .await
}

/// `POST /controls/{id}/activities/new`
///
/// # Errors
/// 404 or 403.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(control): Path<String>,
    Form(form): Form<ActivityForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(input) => {
            state
                .activities
                .create(&session, &control, &input, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Ok(see_other(&format!("/activities/{id}"))),
        Err(ActivityError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("/controls/{control}/activities/new"),
                format!("/controls/{control}"),
                String::new(),
                form.values(),
                false,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

#[derive(Template)]
#[template(path = "activity.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    d: ActivityDetail,
    frequency: String,
}

/// `GET /activities/{id}`
///
/// # Errors
/// 404.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.activities.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let (chrome, _) = chrome(&state, &session).await?;
    let mut r = views::html(
        StatusCode::OK,
        &DetailPage {
            title: "Activity",
            chrome,
            frequency: d.activity.schedule.frequency.label(),
            d,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

fn values_of(a: &ActivityView) -> FormValues {
    FormValues {
        title: a.title.clone(),
        instructions: a.instructions.clone(),
        frequency: a.schedule.frequency.as_str().to_owned(),
        interval_days: a
            .schedule
            .frequency
            .days()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        starts_on: a.schedule.starts_on.to_string(),
        weekend_rule: a.schedule.weekends.as_str().to_owned(),
        performer: a
            .performer
            .as_ref()
            .map(|p| p.0.to_string())
            .unwrap_or_default(),
        reviewer: a
            .reviewer
            .as_ref()
            .map(|p| p.0.to_string())
            .unwrap_or_default(),
        remind_days: a.remind_days.to_string(),
        active: a.active,
    }
}

/// `GET /activities/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.activities.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_edit {
        return failure(ActivityError::Forbidden, &ctx, Format::Html);
    }
    let a = &d.activity;
    form_page(
        &state,
        &session,
        StatusCode::OK,
        format!("/activities/{}/edit", a.id),
        format!("/activities/{}", a.id),
        format!("{} {}", a.control_ref, a.control_title),
        values_of(a),
        true,
        Vec::new(),
    )
    .await
}

/// `POST /activities/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ActivityForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(input) => {
            state
                .activities
                .update(&session, &id, &input, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/activities/{id}"))),
        Err(ActivityError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("/activities/{id}/edit"),
                format!("/activities/{id}"),
                String::new(),
                form.values(),
                true,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

/// `GET /api/v1/controls/{id}/activities`
///
/// # Errors
/// 404.
pub async fn api_of_control(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(control): Path<String>,
) -> Result<Response, AppError> {
    // The control must be visible (and the read audited) before its activities are listed.
    if let Err(e) = state.controls.get(&session, &control, origin(&ctx)).await {
        return match e {
            attest_domain::controls::ControlError::NotFound => Err(AppError::NotFound),
            e => Err(AppError::internal(&e)),
        };
    }
    match state.activities.of_control(&session, &control).await {
        Ok(l) => Ok(tagged(
            Json(serde_json::json!({ "items": l.iter().map(activity_json).collect::<Vec<_>>() }))
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/controls/{id}/activities` → 201 `{"id"}`.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(control): Path<String>,
    Json(form): Json<ActivityForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(input) => {
            state
                .activities
                .create(&session, &control, &input, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
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

/// `GET /api/v1/activities/{id}`: the activity and its latest runs.
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.activities.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/activities/{id}` → 204.
///
/// # Errors
/// 404, 403 or 422.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<ActivityForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(input) => {
            state
                .activities
                .update(&session, &id, &input, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
