//! Access reviews over HTTP (SEC-38): the list and start form, a review with its items and
//! decisions, the CSV report, and the same under `/api/v1/access-reviews`. Owners and admins
//! only (the route table says so); the domain decides who may answer.

use askama::Template;
use attest_domain::access_reviews::{Decision, Review};
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::identity::IdentityError;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{SignedIn, client_of, tag};
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::routes::account::{chrome, when};
use crate::routes::{identity_error_json, see_other};
use crate::views::{self, Chrome};

#[derive(Template)]
#[template(path = "access_reviews.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    reviews: Vec<(String, String, String, String, i64, i64, &'static str)>,
    errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "access_review.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    id: String,
    name: String,
    due: String,
    state: &'static str,
    can_decide: bool,
    me: String,
    items: Vec<ItemLine>,
    error: Option<String>,
}

/// One membership under review, as shown.
struct ItemLine {
    id: String,
    name: String,
    email: String,
    role: String,
    decision: String,
    decided_by: String,
    user: String,
    pending: bool,
}

fn state_of(r: &Review) -> &'static str {
    if r.closed_at.is_some() {
        "complete"
    } else if r.escalated_at.is_some() {
        "overdue, escalated"
    } else {
        "open"
    }
}

fn failure(e: &IdentityError, ctx: &RequestContext, format: Format) -> Result<Response, AppError> {
    match e {
        IdentityError::NotFound => Err(AppError::NotFound),
        IdentityError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        e => identity_error_json(e, ctx.request_id).ok_or_else(|| AppError::internal(e)),
    }
}

async fn list_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let reviews = state
        .identity
        .access_reviews(session)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner()
        .into_iter()
        .map(|r| {
            let s = state_of(&r);
            (
                r.id.to_string(),
                r.name,
                when(r.created_at),
                when(r.due_at),
                r.items,
                r.pending,
                s,
            )
        })
        .collect();
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &ListPage {
            title: "Access reviews",
            chrome,
            csrf: session.csrf_token.clone(),
            reviews,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /tenant/access-reviews`
///
/// # Errors
/// Only on internal failure.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    list_page(&state, &session, StatusCode::OK, Vec::new()).await
}

/// A new review (form or JSON).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    name: String,
    /// Days until it is due (1 to 90; text in a form).
    #[serde(default)]
    due_in_days: Option<serde_json::Value>,
}

impl StartForm {
    fn days(&self) -> i64 {
        match &self.due_in_days {
            None => 14,
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
            Some(_) => 0,
        }
    }
}

/// `POST /tenant/access-reviews`
///
/// # Errors
/// Only on internal failure.
pub async fn start_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    let origin = client_of(Some(&ctx), None).1;
    match state
        .identity
        .start_access_review(&session, &form.name, form.days(), origin)
        .await
    {
        Ok(id) => Ok(see_other(&format!("/tenant/access-reviews/{id}"))),
        Err(IdentityError::Invalid { field, message, .. }) => {
            list_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(&e, &ctx, Format::Html),
    }
}

async fn detail_page(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, AppError> {
    let d = match state.identity.access_review(session, id).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(&e, ctx, Format::Html),
    };
    let me = session.user.to_string();
    let items = d
        .items
        .into_iter()
        .map(|i| ItemLine {
            id: i.id.to_string(),
            pending: i.decision == "pending",
            name: i.user_name,
            email: i.user_email,
            role: i.role,
            decision: i.decision,
            decided_by: i.decided_by_name.unwrap_or_default(),
            user: i.user_id.to_string(),
        })
        .collect();
    let (chrome, _) = chrome(state, session).await?;
    let s = state_of(&d.review);
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Access review",
            chrome,
            csrf: session.csrf_token.clone(),
            id: d.review.id.to_string(),
            name: d.review.name,
            due: when(d.review.due_at),
            state: s,
            can_decide: d.can_decide,
            me,
            items,
            error,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /tenant/access-reviews/{id}`
///
/// # Errors
/// 404 for an unknown review.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    detail_page(&state, &ctx, &session, &id, StatusCode::OK, None).await
}

/// A decision (form or JSON).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionForm {
    /// The form's CSRF field (the middleware checks it).
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// `confirm` or `revoke`.
    #[serde(default)]
    decision: String,
}

async fn decide(
    state: &AppState,
    ctx: &RequestContext,
    session: &VerifiedSession,
    id: &str,
    item: &str,
    form: &DecisionForm,
) -> Result<(), IdentityError> {
    let decision = Decision::parse(&form.decision)?;
    state
        .identity
        .decide_access(session, id, item, decision, client_of(Some(ctx), None).1)
        .await
}

/// `POST /tenant/access-reviews/{id}/items/{item}`
///
/// # Errors
/// 404 or 403.
pub async fn decide_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, item)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, AppError> {
    match decide(&state, &ctx, &session, &id, &item, &form).await {
        Ok(()) => Ok(see_other(&format!("/tenant/access-reviews/{id}"))),
        Err(IdentityError::LastOwner) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::CONFLICT,
                Some("The organisation's last owner cannot be revoked.".to_owned()),
            )
            .await
        }
        Err(IdentityError::Taken(_)) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::CONFLICT,
                Some("This membership was already decided.".to_owned()),
            )
            .await
        }
        Err(e) => failure(&e, &ctx, Format::Html),
    }
}

/// `GET /tenant/access-reviews/{id}/report.csv`
///
/// # Errors
/// 404 or 403.
pub async fn report(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let origin = client_of(Some(&ctx), None).1;
    match state
        .identity
        .access_review_csv(&session, &id, origin)
        .await
    {
        Ok((_, csv)) => {
            let mut r = crate::routes::csv_attachment(csv, "access-review.csv");
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(&e, &ctx, Format::Html),
    }
}

fn review_json(r: &Review) -> serde_json::Value {
    serde_json::json!({
        "id": r.id.to_string(),
        "name": r.name,
        "created_at": crate::routes::rfc3339(r.created_at),
        "due_at": crate::routes::rfc3339(r.due_at),
        "items": r.items,
        "pending": r.pending,
        "state": state_of(r),
    })
}

/// `GET /api/v1/access-reviews`
///
/// # Errors
/// Only on internal failure.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    match state.identity.access_reviews(&session).await {
        Ok(list) => {
            let mut r = Json(serde_json::json!({
                "reviews": list.iter().map(review_json).collect::<Vec<_>>(),
            }))
            .into_response();
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(&e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/access-reviews` `{"name", "due_in_days"}` → 201 `{"id"}`.
///
/// # Errors
/// Only on internal failure.
pub async fn api_start(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<StartForm>,
) -> Result<Response, AppError> {
    let origin = client_of(Some(&ctx), None).1;
    match state
        .identity
        .start_access_review(&session, &form.name, form.days(), origin)
        .await
    {
        Ok(id) => {
            let mut r = (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id.to_string() })),
            )
                .into_response();
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(&e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/access-reviews/{id}`
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.identity.access_review(&session, &id).await {
        Ok(d) => {
            let mut v = review_json(&d.review);
            v["can_decide"] = d.can_decide.into();
            v["items"] = d
                .items
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "id": i.id.to_string(),
                        "user": i.user_id.to_string(),
                        "name": i.user_name,
                        "email": i.user_email,
                        "role": i.role,
                        "decision": i.decision,
                        "decided_at": i.decided_at.map(crate::routes::rfc3339),
                    })
                })
                .collect();
            let mut r = Json(v).into_response();
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(&e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/access-reviews/{id}/items/{item}` `{"decision": "confirm"|"revoke"}` → 204.
///
/// # Errors
/// 404, 403, 409 or 422.
pub async fn api_decide(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path((id, item)): Path<(String, String)>,
    Json(form): Json<DecisionForm>,
) -> Result<Response, AppError> {
    match decide(&state, &ctx, &session, &id, &item, &form).await {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            tag(&mut r, &session);
            Ok(r)
        }
        Err(e) => failure(&e, &ctx, Format::Json),
    }
}
