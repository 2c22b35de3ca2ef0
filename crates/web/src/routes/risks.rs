//! The risk register over HTTP: the register with its heat maps, filters, orders and CSV
//! export; adding, editing, reassessing and deleting a risk; asking for its acceptance and
//! deciding it (four eyes); the tenant's scales; the same under `/api/v1`. Thin: the rules are
//! in `attest_domain::risks`.

use askama::Template;
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::risks::scales::{Band, HeatMap, Scales};
use attest_domain::risks::{
    RiskDetail, RiskError, RiskInput, RiskListRequest, RiskView, Treatment,
};
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
use crate::routes::activities::NumberOrText;
use crate::routes::{granted, see_other};
use crate::views::{self, Chrome, ConfirmPage};

fn origin(ctx: &RequestContext) -> attest_domain::identity::Origin {
    client_of(Some(ctx), None).1
}

/// The answer to a refused or failed operation (SEC-32: hidden objects are 404; SEC-42: the
/// requester deciding their own acceptance is 403 `four_eyes`).
fn failure(e: RiskError, ctx: &RequestContext, format: Format) -> Result<Response, AppError> {
    match e {
        RiskError::NotFound => Err(AppError::NotFound),
        RiskError::Forbidden => Ok(error_code_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            ctx.request_id,
            format,
        )),
        RiskError::FourEyes => Ok(field_error_response(
            StatusCode::FORBIDDEN,
            "four_eyes",
            "decision",
            "You asked for this acceptance, so someone else must decide it.",
            ctx.request_id,
        )),
        RiskError::Conflict => Ok(error_code_response(
            StatusCode::CONFLICT,
            "stale_version",
            ctx.request_id,
            format,
        )),
        RiskError::WrongState(m) => Ok(field_error_response(
            StatusCode::CONFLICT,
            "wrong_state",
            "acceptance",
            m,
            ctx.request_id,
        )),
        RiskError::Invalid {
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

pub(crate) fn risk_json(r: &RiskView) -> serde_json::Value {
    let person = |p: &Option<(attest_types::UserId, String)>| {
        p.as_ref()
            .map(|(id, name)| serde_json::json!({ "id": id.to_string(), "name": name }))
    };
    serde_json::json!({
        "id": r.id.to_string(),
        "title": r.title,
        "category": r.category,
        "classification": r.classification.as_str(),
        "owner": person(&r.owner),
        "inherent": { "likelihood": r.inherent.likelihood, "impact": r.inherent.impact, "score": r.inherent.value(), "band": r.inherent_band.as_str() },
        "residual": { "likelihood": r.residual.likelihood, "impact": r.residual.impact, "score": r.residual.value(), "band": r.residual_band.as_str() },
        "treatment": r.treatment.as_str(),
        "treatment_plan": r.treatment_plan,
        "treatment_due": r.treatment_due.map(|d| d.to_string()),
        "treatment_owner": person(&r.treatment_owner),
        "acceptance": {
            "state": r.acceptance.as_str(),
            "reason": r.acceptance_reason,
            "requested_by": person(&r.acceptance_by),
            "decided_by": r.decided_by,
            "decided_at": r.decided_at.map(crate::routes::rfc3339),
            "remarks": r.decision_remarks,
        },
        "reassess_days": r.reassess_days,
        "next_review_on": r.next_review_on.to_string(),
        "review_overdue": r.review_overdue,
        "version": r.version,
        "updated_at": crate::routes::rfc3339(r.updated_at),
    })
}

fn detail_json(d: &RiskDetail) -> serde_json::Value {
    let mut v = risk_json(&d.risk);
    v["description"] = d.description.clone().into();
    v["controls"] = d
        .controls
        .iter()
        .map(|c| serde_json::json!({ "id": c.0.to_string(), "reference": c.1, "title": c.2, "effectiveness": c.3 }))
        .collect();
    v["history"] = d
        .history
        .iter()
        .map(|h| {
            serde_json::json!({
                "version": h.version,
                "action": h.action,
                "by": h.actor,
                "at": crate::routes::rfc3339(h.at),
                "changes": h.fields.iter().map(|f| serde_json::json!({ "field": f.0, "before": f.1, "after": f.2 })).collect::<Vec<_>>(),
            })
        })
        .collect();
    v
}

/// A heat map cell as drawn.
pub(crate) struct Cell {
    pub x: usize,
    pub y: usize,
    pub fill: &'static str,
    pub ink: &'static str,
    pub count: i64,
    pub label: String,
}

/// A heat map as drawn: server-side SVG (no script, no external library), with a text
/// alternative.
pub(crate) struct HeatSvg {
    pub id: &'static str,
    pub title: &'static str,
    pub width: usize,
    pub height: usize,
    pub cells: Vec<Cell>,
    /// `(y, name)` of each likelihood level.
    pub rows: Vec<(usize, String)>,
    /// `(x, name)` of each impact level.
    pub cols: Vec<(usize, String)>,
    pub total: i64,
    /// The same as text: `(likelihood, impact, count)` of the non-empty cells.
    pub text: Vec<(String, String, i64)>,
}

const CELL: usize = 52;
const LEFT: usize = 112;
const TOP: usize = 8;

fn colours(b: Band) -> (&'static str, &'static str) {
    match b {
        Band::Low => ("#cfe8d2", "#1b4d24"),
        Band::Medium => ("#fbe7a6", "#4d3b00"),
        Band::High => ("#f6b980", "#4d2300"),
        Band::Critical => ("#b3261e", "#ffffff"),
    }
}

/// Draws a heat map.
pub(crate) fn heat_svg(id: &'static str, title: &'static str, map: &HeatMap) -> HeatSvg {
    let s: &Scales = &map.scales;
    let (nl, ni) = (s.likelihood.len(), s.impact.len());
    let mut cells = Vec::new();
    let mut text = Vec::new();
    for l in 0..nl {
        for i in 0..ni {
            let count = map
                .counts
                .get(l)
                .and_then(|r| r.get(i))
                .copied()
                .unwrap_or(0);
            let score = i32::try_from((l + 1) * (i + 1)).unwrap_or(i32::MAX);
            let (fill, ink) = colours(s.band(score));
            let (ln, im) = (s.likelihood[l].clone(), s.impact[i].clone());
            if count > 0 {
                text.push((ln.clone(), im.clone(), count));
            }
            cells.push(Cell {
                x: LEFT + i * CELL,
                // The most likely on top.
                y: TOP + (nl - 1 - l) * CELL,
                fill,
                ink,
                count,
                label: format!("{ln} × {im}: {count}"),
            });
        }
    }
    HeatSvg {
        id,
        title,
        width: LEFT + ni * CELL + 8,
        height: TOP + nl * CELL + 56,
        rows: (0..nl)
            .map(|l| {
                (
                    TOP + (nl - 1 - l) * CELL + CELL / 2,
                    s.likelihood[l].clone(),
                )
            })
            .collect(),
        cols: (0..ni)
            .map(|i| (LEFT + i * CELL + CELL / 2, s.impact[i].clone()))
            .collect(),
        cells,
        total: map.total(),
        text,
    }
}

/// The register's query. Only these exist.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    treatment: Option<String>,
    #[serde(default)]
    acceptance: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    review: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

impl ListParams {
    fn request(&self) -> RiskListRequest {
        RiskListRequest {
            treatment: self.treatment.clone(),
            acceptance: self.acceptance.clone(),
            owner: self.owner.clone(),
            category: self.category.clone(),
            q: self.q.clone(),
            review: self.review.clone(),
            sort: self.sort.clone(),
            after: self.after.clone(),
            limit: self.limit,
        }
    }

    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("treatment", &self.treatment),
            ("acceptance", &self.acceptance),
            ("owner", &self.owner),
            ("category", &self.category),
            ("q", &self.q),
            ("review", &self.review),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "risks.html")]
struct ListPage {
    title: &'static str,
    chrome: Chrome,
    risks: Vec<RiskView>,
    maps: Vec<HeatSvg>,
    filter: ListParams,
    owners: Vec<(String, String)>,
    query: String,
    next: Option<String>,
    can_create: bool,
    can_export: bool,
    can_manage: bool,
    errors: Vec<(String, String)>,
}

impl ListPage {
    fn is(v: &Option<String>, want: &str) -> bool {
        v.as_deref() == Some(want)
    }
}

/// `GET /risks`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let (page, status, errors) = match state.risks.list(&session, &params.request()).await {
        Ok(p) => (Some(p), StatusCode::OK, Vec::new()),
        Err(RiskError::Invalid { field, message, .. }) => (
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![(field.to_owned(), message)],
        ),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let maps = match state.risks.heat_maps(&session).await {
        Ok(m) => {
            let (inherent, residual) = m.into_inner();
            vec![
                heat_svg("inherent", "Inherent risk", &inherent),
                heat_svg("residual", "Residual risk", &residual),
            ]
        }
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    let owners = crate::routes::documents::member_options(&state, &session, false).await;
    let query = params.query();
    let (risks, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.items,
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
            title: "Risks",
            chrome,
            risks,
            maps,
            filter: params,
            owners,
            query,
            next,
            can_create: granted(&session, attest_domain::access::Permission::Contribute),
            can_export: granted(&session, attest_domain::access::Permission::Export),
            can_manage: granted(&session, attest_domain::access::Permission::ManageContent),
            errors,
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// `GET /risks.csv` and `GET /api/v1/risks.csv` (SEC-48).
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
        .risks
        .export_csv(&session, &params.request(), origin(&ctx))
        .await
    {
        Ok(csv) => Ok(tagged(
            crate::routes::csv_attachment(csv.into_inner(), "risks.csv"),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// A list of strings from JSON, or comma-separated text from a form.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ListOrText {
    /// JSON.
    List(Vec<String>),
    /// A form field.
    Text(String),
}

impl ListOrText {
    fn items(&self) -> Vec<String> {
        match self {
            Self::List(l) => l.clone(),
            Self::Text(t) => t
                .split([',', '\n'])
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// The risk editor's fields (form or JSON). Only these exist (SEC-37).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// Title.
    #[serde(default)]
    title: String,
    /// Plain-text description.
    #[serde(default)]
    description: String,
    /// Category, e.g. Supplier.
    #[serde(default)]
    category: String,
    /// critical, high (default), moderate, low or public.
    #[serde(default)]
    classification: Option<String>,
    /// The owner's user id (compliance managers and above).
    #[serde(default)]
    owner: Option<String>,
    /// Inherent likelihood level, 1 to the scale's length.
    #[serde(default)]
    inherent_likelihood: Option<NumberOrText>,
    /// Inherent impact level.
    #[serde(default)]
    inherent_impact: Option<NumberOrText>,
    /// Residual likelihood level.
    #[serde(default)]
    residual_likelihood: Option<NumberOrText>,
    /// Residual impact level.
    #[serde(default)]
    residual_impact: Option<NumberOrText>,
    /// reduce (default), accept, transfer or avoid.
    #[serde(default)]
    treatment: Option<String>,
    /// The treatment plan.
    #[serde(default)]
    treatment_plan: String,
    /// When the plan is due, YYYY-MM-DD.
    #[serde(default)]
    treatment_due: Option<String>,
    /// Who carries out the plan (a user id).
    #[serde(default)]
    treatment_owner: Option<String>,
    /// The controls that reduce it, by id or reference (a form sends them comma-separated).
    #[serde(default)]
    controls: Option<ListOrText>,
    /// Days between reassessments, 7 to 730 (default 365).
    #[serde(default)]
    reassess_days: Option<NumberOrText>,
    /// The version edited (edits only).
    #[serde(default)]
    version: Option<NumberOrText>,
}

impl RiskForm {
    fn input(&self) -> Result<RiskInput, RiskError> {
        let number =
            |v: &Option<NumberOrText>, field: &'static str| -> Result<Option<i64>, RiskError> {
                match v.as_ref().and_then(NumberOrText::get) {
                    None => Ok(None),
                    Some(Ok(n)) => Ok(Some(n)),
                    Some(Err(())) => Err(RiskError::Invalid {
                        field,
                        code: "invalid_number",
                        message: "Enter a whole number.".to_owned(),
                    }),
                }
            };
        Ok(RiskInput {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            classification: self.classification.clone(),
            owner: self.owner.clone(),
            inherent_likelihood: number(&self.inherent_likelihood, "inherent_likelihood")?,
            inherent_impact: number(&self.inherent_impact, "inherent_impact")?,
            residual_likelihood: number(&self.residual_likelihood, "residual_likelihood")?,
            residual_impact: number(&self.residual_impact, "residual_impact")?,
            treatment: self.treatment.clone(),
            treatment_plan: self.treatment_plan.clone(),
            treatment_due: self.treatment_due.clone(),
            treatment_owner: self.treatment_owner.clone(),
            controls: self
                .controls
                .as_ref()
                .map(ListOrText::items)
                .unwrap_or_default(),
            reassess_days: number(&self.reassess_days, "reassess_days")?,
        })
    }

    fn version(&self) -> Result<Option<i64>, RiskError> {
        match self.version.as_ref().and_then(NumberOrText::get) {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(())) => Err(RiskError::Invalid {
                field: "version",
                code: "invalid_number",
                message: "The version is a number.".to_owned(),
            }),
        }
    }

    fn values(&self) -> FormValues {
        let n = |v: &Option<NumberOrText>| match v {
            Some(NumberOrText::Number(n)) => n.to_string(),
            Some(NumberOrText::Text(t)) => t.clone(),
            None => String::new(),
        };
        FormValues {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            classification: self.classification.clone().unwrap_or_default(),
            owner: self.owner.clone().unwrap_or_default(),
            il: n(&self.inherent_likelihood),
            ii: n(&self.inherent_impact),
            rl: n(&self.residual_likelihood),
            ri: n(&self.residual_impact),
            treatment: self.treatment.clone().unwrap_or_default(),
            plan: self.treatment_plan.clone(),
            due: self.treatment_due.clone().unwrap_or_default(),
            treatment_owner: self.treatment_owner.clone().unwrap_or_default(),
            controls: self
                .controls
                .as_ref()
                .map(|c| c.items().join(", "))
                .unwrap_or_default(),
            reassess_days: n(&self.reassess_days),
            version: n(&self.version),
        }
    }
}

/// What the editor shows.
#[derive(Debug, Clone, Default)]
struct FormValues {
    title: String,
    description: String,
    category: String,
    classification: String,
    owner: String,
    il: String,
    ii: String,
    rl: String,
    ri: String,
    treatment: String,
    plan: String,
    due: String,
    treatment_owner: String,
    controls: String,
    reassess_days: String,
    version: String,
}

#[derive(Template)]
#[template(path = "risk_form.html")]
struct FormPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    action: String,
    cancel: String,
    form: FormValues,
    scales: Scales,
    classifications: [&'static str; 5],
    treatments: [&'static str; 4],
    owners: Vec<(String, String)>,
    members: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

impl FormPage {
    fn levels(names: &[String]) -> Vec<(String, String)> {
        names
            .iter()
            .enumerate()
            .map(|(n, s)| ((n + 1).to_string(), format!("{} {s}", n + 1)))
            .collect()
    }
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
    let scales = state
        .risks
        .scales(session)
        .await
        .map(|s| s.into_inner())
        .unwrap_or_default();
    let (chrome, _) = chrome(state, session).await?;
    let owners = crate::routes::documents::member_options(state, session, true).await;
    let members = crate::routes::documents::contributors(state, session).await;
    let mut r = views::html(
        status,
        &FormPage {
            title: heading,
            chrome,
            csrf: session.csrf_token.clone(),
            action,
            cancel,
            form,
            scales,
            classifications: ["critical", "high", "moderate", "low", "public"],
            treatments: Treatment::ALL.map(Treatment::as_str),
            owners,
            members,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /risks/new`
///
/// # Errors
/// Only on internal failure.
pub async fn new_page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let form = FormValues {
        classification: "high".to_owned(),
        owner: session.user.to_string(),
        treatment: "reduce".to_owned(),
        reassess_days: "365".to_owned(),
        ..FormValues::default()
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "New risk",
        "/risks/new".to_owned(),
        "/risks".to_owned(),
        form,
        Vec::new(),
    )
    .await
}

/// `POST /risks/new`
///
/// # Errors
/// 403.
pub async fn create_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<RiskForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(i) => state.risks.create(&session, &i, origin(&ctx)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Ok(see_other(&format!("/risks/{id}"))),
        Err(RiskError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "New risk",
                "/risks/new".to_owned(),
                "/risks".to_owned(),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

#[derive(Template)]
#[template(path = "risk.html")]
struct DetailPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    d: RiskDetail,
    id: String,
    history: Vec<(String, String, String, String)>,
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
    let d = match state.risks.get(session, id, origin(ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, ctx, Format::Html),
    };
    let history = d
        .history
        .iter()
        .map(|h| {
            let what = h
                .fields
                .iter()
                .map(|f| {
                    if f.1.is_empty() {
                        format!("{}: {}", f.0, f.2)
                    } else {
                        format!("{}: {} → {}", f.0, f.1, f.2)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            (
                when(h.at),
                h.actor.clone(),
                h.action.replace('_', " "),
                what,
            )
        })
        .collect();
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &DetailPage {
            title: "Risk",
            chrome,
            csrf: session.csrf_token.clone(),
            id: d.risk.id.to_string(),
            d,
            history,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /risks/{id}`
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

/// `GET /risks/{id}/edit`
///
/// # Errors
/// 404 or 403.
pub async fn edit_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.risks.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_edit {
        return failure(RiskError::Forbidden, &ctx, Format::Html);
    }
    let r = &d.risk;
    let form = FormValues {
        title: r.title.clone(),
        description: d.description.clone(),
        category: r.category.clone(),
        classification: r.classification.as_str().to_owned(),
        owner: r
            .owner
            .as_ref()
            .map(|o| o.0.to_string())
            .unwrap_or_default(),
        il: r.inherent.likelihood.to_string(),
        ii: r.inherent.impact.to_string(),
        rl: r.residual.likelihood.to_string(),
        ri: r.residual.impact.to_string(),
        treatment: r.treatment.as_str().to_owned(),
        plan: r.treatment_plan.clone(),
        due: r.treatment_due.map(|d| d.to_string()).unwrap_or_default(),
        treatment_owner: r
            .treatment_owner
            .as_ref()
            .map(|o| o.0.to_string())
            .unwrap_or_default(),
        controls: d
            .controls
            .iter()
            .map(|c| c.1.clone())
            .collect::<Vec<_>>()
            .join(", "),
        reassess_days: r.reassess_days.to_string(),
        version: r.version.to_string(),
    };
    form_page(
        &state,
        &session,
        StatusCode::OK,
        "Edit risk",
        format!("/risks/{}/edit", r.id),
        format!("/risks/{}", r.id),
        form,
        Vec::new(),
    )
    .await
}

/// `POST /risks/{id}/edit`
///
/// # Errors
/// 404, 403 or 409.
pub async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RiskForm>,
) -> Result<Response, AppError> {
    let result = match (form.input(), form.version()) {
        (Ok(i), Ok(v)) => state.risks.update(&session, &id, &i, v, origin(&ctx)).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/risks/{id}"))),
        Err(RiskError::Invalid { field, message, .. }) => {
            form_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Edit risk",
                format!("/risks/{id}/edit"),
                format!("/risks/{id}"),
                form.values(),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `GET /risks/{id}/delete`
///
/// # Errors
/// 404 or 403.
pub async fn delete_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let d = match state.risks.get(&session, &id, origin(&ctx)).await {
        Ok(d) => d.into_inner(),
        Err(e) => return failure(e, &ctx, Format::Html),
    };
    if !d.can_delete {
        return failure(RiskError::Forbidden, &ctx, Format::Html);
    }
    let (chrome, _) = chrome(&state, &session).await?;
    views::html(
        StatusCode::OK,
        &ConfirmPage {
            title: "Delete risk",
            chrome,
            csrf: session.csrf_token.clone(),
            text: format!(
                "“{}” will be deleted with its history. The audit trail keeps that it existed. This cannot be undone.",
                d.risk.title
            ),
            action: format!("/risks/{}/delete", d.risk.id),
            button: "Delete risk",
            cancel: format!("/risks/{}", d.risk.id),
        },
    )
}

/// `POST /risks/{id}/delete`
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
    match state.risks.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other("/risks")),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// A request for acceptance.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// Why the residual risk should be accepted.
    #[serde(default)]
    reason: String,
    /// The version the request is about.
    #[serde(default)]
    version: Option<NumberOrText>,
}

/// A decision on a requested acceptance.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// approve or reject.
    #[serde(default)]
    decision: Option<String>,
    /// Remarks (required to reject).
    #[serde(default)]
    remarks: String,
}

impl DecisionForm {
    fn decision(&self) -> Result<Option<bool>, RiskError> {
        match self.decision.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some("approve") => Ok(Some(true)),
            Some("reject") => Ok(Some(false)),
            Some(_) => Err(RiskError::Invalid {
                field: "decision",
                code: "invalid_decision",
                message: "The decision is approve or reject.".to_owned(),
            }),
        }
    }
}

fn version_of(v: &Option<NumberOrText>) -> Option<i64> {
    v.as_ref().and_then(NumberOrText::get).and_then(Result::ok)
}

/// `POST /risks/{id}/acceptance`
///
/// # Errors
/// 404, 403 or 409.
pub async fn acceptance_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<AcceptanceForm>,
) -> Result<Response, AppError> {
    match state
        .risks
        .request_acceptance(
            &session,
            &id,
            &form.reason,
            version_of(&form.version),
            origin(&ctx),
        )
        .await
    {
        Ok(()) => Ok(see_other(&format!("/risks/{id}#acceptance"))),
        Err(RiskError::Invalid { field, message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(format!("acceptance-{field}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `POST /risks/{id}/decision`
///
/// # Errors
/// 404, 403 (`four_eyes` for the requester) or 409.
pub async fn decision_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, AppError> {
    let result = match form.decision() {
        Ok(d) => {
            state
                .risks
                .decide(&session, &id, d, &form.remarks, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/risks/{id}#acceptance"))),
        Err(RiskError::Invalid { field, message, .. }) => {
            detail_page(
                &state,
                &ctx,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                vec![(format!("decision-{field}"), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

/// `POST /risks/{id}/reassess`
///
/// # Errors
/// 404 or 403.
pub async fn reassess_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(_): Form<crate::routes::frameworks::Confirm>,
) -> Result<Response, AppError> {
    match state.risks.reassess(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(see_other(&format!("/risks/{id}"))),
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

#[derive(Template)]
#[template(path = "risk_scales.html")]
struct ScalesPage {
    title: &'static str,
    chrome: Chrome,
    csrf: String,
    likelihood: String,
    impact: String,
    errors: Vec<(String, String)>,
}

async fn scales_page(
    state: &AppState,
    session: &VerifiedSession,
    status: StatusCode,
    values: Option<(String, String)>,
    errors: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let (likelihood, impact) = match values {
        Some(v) => v,
        None => {
            let s = state
                .risks
                .scales(session)
                .await
                .map(|s| s.into_inner())
                .unwrap_or_default();
            (s.likelihood.join("\n"), s.impact.join("\n"))
        }
    };
    let (chrome, _) = chrome(state, session).await?;
    let mut r = views::html(
        status,
        &ScalesPage {
            title: "Risk scales",
            chrome,
            csrf: session.csrf_token.clone(),
            likelihood,
            impact,
            errors,
        },
    )?;
    tag(&mut r, session);
    Ok(r)
}

/// `GET /risk-scales`
///
/// # Errors
/// Only on internal failure.
pub async fn scales_show(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    scales_page(&state, &session, StatusCode::OK, None, Vec::new()).await
}

/// The scales (form: one level per line; JSON: lists).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalesForm {
    #[serde(default, rename = "csrf_token")]
    #[schemars(skip)]
    _csrf_token: Option<serde::de::IgnoredAny>,
    /// Likelihood level names, lowest first (3 to 10).
    #[serde(default)]
    likelihood: Option<ListOrLines>,
    /// Impact level names, lowest first (3 to 10).
    #[serde(default)]
    impact: Option<ListOrLines>,
}

impl ScalesForm {
    fn lists(&self) -> (Vec<String>, Vec<String>) {
        let items =
            |v: &Option<ListOrLines>| v.as_ref().map(ListOrLines::items).unwrap_or_default();
        (items(&self.likelihood), items(&self.impact))
    }
}

/// A list from JSON, or one item per line from a form.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ListOrLines {
    /// JSON.
    List(Vec<String>),
    /// A form field.
    Text(String),
}

impl ListOrLines {
    fn items(&self) -> Vec<String> {
        match self {
            Self::List(l) => l.clone(),
            Self::Text(t) => t.lines().map(str::to_owned).collect(),
        }
    }
}

/// `POST /risk-scales`
///
/// # Errors
/// 403.
pub async fn scales_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Form(form): Form<ScalesForm>,
) -> Result<Response, AppError> {
    let (likelihood, impact) = form.lists();
    match state
        .risks
        .set_scales(&session, &likelihood, &impact, origin(&ctx))
        .await
    {
        Ok(()) => Ok(see_other("/risks")),
        Err(RiskError::Invalid { field, message, .. }) => {
            scales_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((likelihood.join("\n"), impact.join("\n"))),
                vec![(field.to_owned(), message)],
            )
            .await
        }
        Err(e) => failure(e, &ctx, Format::Html),
    }
}

// ---------------------------------------------------------------------------------------
// API.

/// `GET /api/v1/risks`
///
/// # Errors
/// 404 for members who see only shared items; 422 for a bad filter.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    match state.risks.list(&session, &params.request()).await {
        Ok(p) => Ok(tagged(
            Json(serde_json::json!({ "items": p.items.iter().map(risk_json).collect::<Vec<_>>(), "next": p.next.map(|n| n.to_string()) })).into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/risks` → 201 `{"id"}`.
///
/// # Errors
/// 403 or 422.
pub async fn api_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<RiskForm>,
) -> Result<Response, AppError> {
    let result = match form.input() {
        Ok(i) => state.risks.create(&session, &i, origin(&ctx)).await,
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

/// `GET /api/v1/risks/{id}`
///
/// # Errors
/// 404.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.risks.get(&session, &id, origin(&ctx)).await {
        Ok(d) => Ok(tagged(Json(detail_json(&d)).into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/risks/{id}` with `version` → 204 or 409.
///
/// # Errors
/// 404, 403, 409 or 422.
pub async fn api_put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<RiskForm>,
) -> Result<Response, AppError> {
    let result = match (form.input(), form.version()) {
        (Ok(i), Ok(v)) => state.risks.update(&session, &id, &i, v, origin(&ctx)).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `DELETE /api/v1/risks/{id}` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.risks.delete(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/risks/{id}/acceptance` → 204.
///
/// # Errors
/// 404, 403, 409 or 422.
pub async fn api_acceptance(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<AcceptanceForm>,
) -> Result<Response, AppError> {
    match state
        .risks
        .request_acceptance(
            &session,
            &id,
            &form.reason,
            version_of(&form.version),
            origin(&ctx),
        )
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/risks/{id}/decision` → 204.
///
/// # Errors
/// 404, 403 (`four_eyes`), 409 or 422.
pub async fn api_decision(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Json(form): Json<DecisionForm>,
) -> Result<Response, AppError> {
    let result = match form.decision() {
        Ok(d) => {
            state
                .risks
                .decide(&session, &id, d, &form.remarks, origin(&ctx))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `POST /api/v1/risks/{id}/reassess` → 204.
///
/// # Errors
/// 404 or 403.
pub async fn api_reassess(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    match state.risks.reassess(&session, &id, origin(&ctx)).await {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `GET /api/v1/risk-scales`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn api_scales(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    match state.risks.scales(&session).await {
        Ok(s) => Ok(tagged(
            Json(serde_json::json!({ "likelihood": s.likelihood, "impact": s.impact }))
                .into_response(),
            &session,
        )),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}

/// `PUT /api/v1/risk-scales` → 204.
///
/// # Errors
/// 403 or 422.
pub async fn api_set_scales(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
    Json(form): Json<ScalesForm>,
) -> Result<Response, AppError> {
    let (likelihood, impact) = form.lists();
    match state
        .risks
        .set_scales(&session, &likelihood, &impact, origin(&ctx))
        .await
    {
        Ok(()) => Ok(tagged(StatusCode::NO_CONTENT.into_response(), &session)),
        Err(e) => failure(e, &ctx, Format::Json),
    }
}
