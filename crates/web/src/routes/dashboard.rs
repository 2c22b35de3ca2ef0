//! The tenant dashboard: framework coverage, control effectiveness, overdue activities, the
//! risk heat maps and the caller's tasks, on one page (charts drawn on the server as SVG) and
//! as JSON. Thin: every figure comes from a domain service.

use askama::Template;
use attest_domain::activities::status::Effectiveness;
use attest_domain::activities::{RunView, Summary, Tasks};
use attest_domain::authn::sessions::VerifiedSession;
use attest_domain::controls::Coverage;
use attest_domain::risks::{RiskListRequest, RiskView};
use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{SignedIn, tag};
use crate::error::{AppError, Format, error_code_response};
use crate::middleware::RequestContext;
use crate::routes::account::chrome;
use crate::routes::risks::{HeatSvg, heat_svg, risk_json};
use crate::routes::runs::{Line, line};
use crate::views::{self, Chrome};

/// A segment of the effectiveness bar.
struct Segment {
    x: usize,
    width: usize,
    fill: &'static str,
    label: &'static str,
    count: i64,
}

const BAR: usize = 560;

fn fill(e: Effectiveness) -> &'static str {
    match e {
        Effectiveness::Effective => "#2e7d32",
        Effectiveness::NotTested => "#9e9e9e",
        Effectiveness::Overdue => "#ef6c00",
        Effectiveness::Deficient => "#c62828",
    }
}

fn segments(counts: &[(Effectiveness, i64)]) -> Vec<Segment> {
    let total: i64 = counts.iter().map(|c| c.1).sum();
    let mut x = 0;
    let mut out = Vec::new();
    for (e, n) in counts {
        if *n == 0 || total == 0 {
            continue;
        }
        let width = usize::try_from(n * i64::try_from(BAR).unwrap_or(0) / total)
            .unwrap_or(0)
            .max(2);
        out.push(Segment {
            x,
            width,
            fill: fill(*e),
            label: e.label(),
            count: *n,
        });
        x += width;
    }
    out
}

/// Everything the dashboard shows.
struct Figures {
    coverage: Vec<(String, String, Coverage)>,
    summary: Summary,
    heat: Option<(
        attest_domain::risks::scales::HeatMap,
        attest_domain::risks::scales::HeatMap,
    )>,
    tasks: Tasks,
    decisions: Vec<RiskView>,
    reviews: Vec<RiskView>,
}

/// The figures, or `None` for members who see only shared items (they have no dashboard).
async fn figures(state: &AppState, session: &VerifiedSession) -> Result<Option<Figures>, AppError> {
    let summary = match state.activities.summary(session).await {
        Ok(s) => s.into_inner(),
        Err(attest_domain::activities::ActivityError::NotFound) => return Ok(None),
        Err(e) => return Err(AppError::internal(&e)),
    };
    let frameworks = state
        .frameworks
        .list(session)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner();
    let coverage = state
        .controls
        .coverage(session)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner();
    let coverage = frameworks
        .into_iter()
        .map(|f| {
            let c = coverage
                .iter()
                .find(|c| c.0 == f.id)
                .map_or_else(Coverage::default, |c| c.1);
            (f.id.to_string(), f.title, c)
        })
        .collect();
    let heat = state
        .risks
        .heat_maps(session)
        .await
        .ok()
        .map(|h| h.into_inner());
    let tasks = state
        .activities
        .tasks(session)
        .await
        .map_err(|e| AppError::internal(&e))?
        .into_inner();
    let me = session.user;
    let manager = session
        .tenant
        .is_some_and(|(_, r)| attest_domain::access::Permission::ManageContent.granted_to(r));
    let decisions = if manager {
        state
            .risks
            .list(
                session,
                &RiskListRequest {
                    acceptance: Some("requested".to_owned()),
                    limit: Some(20),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| AppError::internal(&e))?
            .items
            .into_iter()
            .filter(|r| r.acceptance_by.as_ref().is_none_or(|b| b.0 != me))
            .collect()
    } else {
        Vec::new()
    };
    let reviews = state
        .risks
        .list(
            session,
            &RiskListRequest {
                owner: Some(me.to_string()),
                review: Some("due".to_owned()),
                sort: Some("review".to_owned()),
                limit: Some(20),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| AppError::internal(&e))?
        .items;
    Ok(Some(Figures {
        coverage,
        summary,
        heat,
        tasks,
        decisions,
        reviews,
    }))
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page {
    title: &'static str,
    chrome: Chrome,
    coverage: Vec<(String, String, Coverage)>,
    controls: i64,
    bar: Vec<Segment>,
    legend: Vec<(&'static str, &'static str, i64)>,
    overdue_runs: i64,
    runs: Vec<Line>,
    maps: Vec<HeatSvg>,
    to_perform: Vec<Line>,
    to_review: Vec<Line>,
    decisions: Vec<(String, String)>,
    reviews: Vec<(String, String, String)>,
}

/// `GET /dashboard`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let Some(f) = figures(&state, &session).await? else {
        return Err(AppError::NotFound);
    };
    let lines = |v: &[RunView]| v.iter().map(line).collect::<Vec<_>>();
    let (chrome, _) = chrome(&state, &session).await?;
    let maps = f
        .heat
        .as_ref()
        .map(|(i, r)| {
            vec![
                heat_svg("inherent", "Inherent risk", i),
                heat_svg("residual", "Residual risk", r),
            ]
        })
        .unwrap_or_default();
    let mut r = views::html(
        StatusCode::OK,
        &Page {
            title: "Dashboard",
            chrome,
            controls: f.summary.effectiveness.iter().map(|e| e.1).sum(),
            bar: segments(&f.summary.effectiveness),
            legend: f
                .summary
                .effectiveness
                .iter()
                .map(|(e, n)| (e.label(), fill(*e), *n))
                .collect(),
            overdue_runs: f.summary.overdue_runs,
            runs: lines(&f.summary.overdue),
            coverage: f.coverage,
            maps,
            to_perform: lines(&f.tasks.to_perform),
            to_review: lines(&f.tasks.to_review),
            decisions: f
                .decisions
                .iter()
                .map(|r| (r.id.to_string(), r.title.clone()))
                .collect(),
            reviews: f
                .reviews
                .iter()
                .map(|r| {
                    (
                        r.id.to_string(),
                        r.title.clone(),
                        r.next_review_on.to_string(),
                    )
                })
                .collect(),
        },
    )?;
    tag(&mut r, &session);
    Ok(r)
}

/// `GET /api/v1/dashboard`
///
/// # Errors
/// 404 for members who see only shared items.
pub async fn api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    SignedIn(session): SignedIn,
) -> Result<Response, AppError> {
    let Some(f) = figures(&state, &session).await? else {
        return Ok(error_code_response(
            StatusCode::NOT_FOUND,
            "not_found",
            ctx.request_id,
            Format::Json,
        ));
    };
    let grid = |m: &attest_domain::risks::scales::HeatMap| serde_json::json!({ "likelihood": m.scales.likelihood, "impact": m.scales.impact, "counts": m.counts });
    let body = serde_json::json!({
        "coverage": f.coverage.iter().map(|(id, title, c)| serde_json::json!({
            "framework": id, "title": title, "applicable": c.applicable, "mapped": c.mapped, "implemented": c.implemented,
            "mapped_percent": c.mapped_percent(), "implemented_percent": c.implemented_percent(),
        })).collect::<Vec<_>>(),
        "effectiveness": f.summary.effectiveness.iter().map(|(e, n)| (e.as_str().to_owned(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
        "overdue_runs": f.summary.overdue_runs,
        "most_overdue": f.summary.overdue.iter().map(crate::routes::activities::run_json).collect::<Vec<_>>(),
        "heat_maps": f.heat.as_ref().map(|(i, r)| serde_json::json!({ "inherent": grid(i), "residual": grid(r) })),
        "tasks": {
            "to_perform": f.tasks.to_perform.iter().map(crate::routes::activities::run_json).collect::<Vec<_>>(),
            "to_review": f.tasks.to_review.iter().map(crate::routes::activities::run_json).collect::<Vec<_>>(),
            "acceptances_to_decide": f.decisions.iter().map(risk_json).collect::<Vec<_>>(),
            "risks_to_reassess": f.reviews.iter().map(risk_json).collect::<Vec<_>>(),
        },
    });
    let mut r = Json(body).into_response();
    tag(&mut r, &session);
    Ok(r)
}
