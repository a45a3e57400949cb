//! The run ledger and the validation reports providers act on.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::store::runs::{RunFilter, RunRow, RunStatus};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only this provider's runs. A provider token that speaks for several providers must name one.
    pub provider: Option<String>,
    pub collection: Option<String>,
    /// Only runs with this status.
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// How many, newest first (1 to 1,000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Runs, newest first. A provider token sees only its own providers' runs.
#[utoipa::path(
    get, path = "/runs", tag = "providers", params(RunQuery),
    responses(
        (status = 200, body = Vec<RunRow>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Query(q): Query<RunQuery>,
) -> Result<Json<Vec<RunRow>>, ApiError> {
    let provider = match &q.provider {
        Some(code) => {
            who.require(Action::SeeProvider(code))?;
            Some(code.clone())
        }
        None if who.may(Action::EveryProvider) => None,
        None if who.providers.len() == 1 => Some(who.providers[0].clone()),
        None if who.providers.len() > 1 => {
            return Err(ApiError::BadRequest(
                "this token speaks for several providers: name one with ?provider=".into(),
            ));
        }
        None => return Err(who.require(Action::EveryProvider).unwrap_err()),
    };
    let limit = super::Limit { limit: q.limit }.get()?;
    let filter = RunFilter {
        collection: q.collection,
        provider,
        status: q.status,
        finished_after: None,
        period_from: None,
        limit,
    };
    Ok(Json(app.store().runs(&filter).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    pub run: RunRow,
    /// The validation report the run saved, when it read an extract: counts per check and
    /// the first rows that broke each.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// One run with its validation report.
#[utoipa::path(
    get, path = "/runs/{id}", tag = "providers",
    params(("id" = i64, Path, description = "The run's number")),
    responses(
        (status = 200, body = RunDetail),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn show(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(id): Path<i64>,
) -> Result<Json<RunDetail>, ApiError> {
    Ok(Json(detail(&app, &who, id).await?))
}

/// A run this caller may see; another provider's run is "not found", so that its number
/// tells nothing.
pub(crate) async fn detail(
    app: &App,
    who: &crate::web::auth::Principal,
    id: i64,
) -> Result<RunDetail, ApiError> {
    let missing = || ApiError::NotFound(format!("there is no run {id}"));
    let run = app.store().run(id).await?.ok_or_else(missing)?;
    if !who.may(Action::SeeProvider(&run.provider)) {
        return Err(missing());
    }
    let report = app.store().run_report(id).await?;
    Ok(RunDetail { run, report })
}
