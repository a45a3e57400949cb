//! Burden: per provider, per collection, the system's total, DAP's budget and the trajectory.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::AuditOutcome;
use crate::domain::budget::Budget;
use crate::registry::burden::BurdenReport;
use crate::registry::felt::ProviderFelt;
use crate::registry::views::BudgetChange;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

/// Estimated annual burden of every licensed collection, the total, manual and automated,
/// against DAP's cap and trajectory.
#[utoipa::path(
    get, path = "/burden", tag = "burden",
    responses((status = 200, body = BurdenReport), (status = 401, body = ErrorBody))
)]
pub async fn totals(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<BurdenReport>, ApiError> {
    who.require(Action::Read)?;
    Ok(Json(app.registry.burden(app.now()).await?))
}

/// The most days an achieved-burden window may span: three years.
const MOST_DAYS: i64 = 1096;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// The first day, `YYYY-MM-DD` (default: 365 days before `to`).
    pub from: Option<NaiveDate>,
    /// The day after the last, `YYYY-MM-DD` (default: today); after `from` and at most
    /// three years after it, and before 2201.
    pub to: Option<NaiveDate>,
}

/// What the periods owed in a window cost as achieved (pulled, at a sign-off each; uploaded by
/// hand, fixed after a rejection, corrected, nil returns, never sent, each priced from its
/// definition) beside what the estimate says the same periods cost, by collection.
#[utoipa::path(
    get, path = "/burden/achieved", tag = "burden", params(Window),
    responses(
        (status = 200, body = crate::registry::achieved::Achieved),
        (status = 400, body = ErrorBody, description = "A date that is not YYYY-MM-DD"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`from` not before `to`, more than three years between them, or a year outside 1900 to 2200"),
    )
)]
pub async fn achieved(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    window: Result<axum::extract::Query<Window>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::registry::achieved::Achieved>, ApiError> {
    who.require(Action::Read)?;
    let axum::extract::Query(w) = window.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = app.now();
    let to =
        w.to.unwrap_or_else(|| now.with_timezone(&app.settings.timezone).date_naive());
    let from = w.from.unwrap_or_else(|| to - chrono::Duration::days(365));
    let sensible = |d: NaiveDate| (1900..=2200).contains(&chrono::Datelike::year(&d));
    if from >= to || (to - from).num_days() > MOST_DAYS || !sensible(from) || !sensible(to) {
        return Err(ApiError::Unprocessable(format!(
            "from {from} must be before to {to}, at most {MOST_DAYS} days before it, both between the years 1900 and 2200"
        )));
    }
    Ok(Json(
        app.registry
            .achieved(from, to, now, app.settings.staff_rates.as_ref())
            .await?,
    ))
}

/// One provider's periods owed over the last twelve months, by month and collection: how
/// each was met, what it cost as achieved beside the estimate (hours, and pounds where the
/// staff group has a rate), the hours by hand and on pulled periods, and what pulling saved.
/// The provider's page shows the same account.
#[utoipa::path(
    get, path = "/burden/providers/{code}", tag = "burden",
    params(("code" = String, Path, description = "The provider")),
    responses(
        (status = 200, body = ProviderFelt),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn provider(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
) -> Result<Json<ProviderFelt>, ApiError> {
    let code = super::providers::provider_code(&app, &who, &code).await?;
    app.registry
        .provider_felt(&code, app.now(), app.settings.staff_rates.as_ref())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("there is no provider {code}")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Trajectory {
    pub budget: Option<Budget>,
    /// Today's estimated total.
    pub today: NaiveDate,
    pub total_hours: f64,
    /// What the trajectory allows, month by month from the baseline to the target date.
    pub points: Vec<TrajectoryPoint>,
    /// True when today's total is at or under what the trajectory allows today.
    pub on_track: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrajectoryPoint {
    pub on: NaiveDate,
    pub allowed_hours: f64,
}

/// The straight line from DAP's baseline to its goal, and where the total stands on it.
#[utoipa::path(
    get, path = "/burden/trajectory", tag = "burden",
    responses((status = 200, body = Trajectory), (status = 401, body = ErrorBody))
)]
pub async fn trajectory(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Trajectory>, ApiError> {
    who.require(Action::Read)?;
    Ok(Json(trajectory_of(&app.registry.burden(app.now()).await?)))
}

pub(crate) fn trajectory_of(report: &BurdenReport) -> Trajectory {
    let points = report
        .budget
        .as_ref()
        .map(crate::registry::burden::trajectory_points)
        .unwrap_or_default()
        .into_iter()
        .map(|(on, allowed_hours)| TrajectoryPoint { on, allowed_hours })
        .collect();
    Trajectory {
        budget: report.budget.clone(),
        today: report.on,
        total_hours: report.total_hours,
        on_track: report
            .trajectory_hours
            .map(|t| report.total_hours <= t + 0.5),
        points,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub cap_hours: Option<f64>,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub baseline_hours: Option<f64>,
    pub baseline_date: Option<NaiveDate>,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub goal_hours: Option<f64>,
    pub target_date: Option<NaiveDate>,
    /// Why, in plain words: it is published.
    pub reason: String,
}

/// Sets DAP's cap or reduction target; what is not given stays as it was.
#[utoipa::path(
    put, path = "/burden/budget", tag = "burden", request_body = BudgetRequest,
    responses(
        (status = 200, body = Budget),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A reason is missing; an hour figure is not from 0 to 100,000,000; a date is not from 2000 to 2100; or the figures do not fit together (a goal not below the baseline, a target date not after it)"),
    )
)]
pub async fn set_budget(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    b: Result<Json<BudgetRequest>, JsonRejection>,
) -> Result<Json<Budget>, ApiError> {
    super::allowed(&app, &who, Action::Decide, "set_budget", "budget").await?;
    let Json(b) = b?;
    let change = BudgetChange {
        cap_hours: b.cap_hours,
        baseline_hours: b.baseline_hours,
        baseline_date: b.baseline_date,
        goal_hours: b.goal_hours,
        target_date: b.target_date,
    };
    let set = app
        .registry
        .set_budget(change, &who.name, &b.reason, app.now())
        .await;
    let (outcome, detail) = match &set {
        Ok(_) => (AuditOutcome::Done, b.reason.clone()),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    super::record(&app, who.audit("set_budget", "budget", outcome, &detail)).await?;
    Ok(Json(set?))
}
