//! The burden accounts through the API: what moved the estimate, by cause; the report as
//! of a day; and the time a provider records a period took.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::registry::causes::Attribution;
use crate::registry::report::ProgressReport;
use crate::store::burden::RecordedTime;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Since {
    /// The day whose end the changes start from, `YYYY-MM-DD` (default: the budget's
    /// baseline day, or the day before the register's first listing); not after today.
    pub from: Option<NaiveDate>,
}

/// Every change in the estimated burden since a day, each put down to its cause
/// (programme change, adjustment, automation), with the estimate at each end: the changes
/// add up to the estimate today.
#[utoipa::path(
    get, path = "/burden/causes", tag = "burden", params(Since),
    responses(
        (status = 200, body = Attribution),
        (status = 400, body = ErrorBody, description = "A date that is not YYYY-MM-DD"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A day after today, or a year outside 1900 to 2200"),
    )
)]
pub async fn causes(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    q: Result<Query<Since>, QueryRejection>,
) -> Result<Json<Attribution>, ApiError> {
    who.require(Action::Read)?;
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = app.now();
    let today = now.with_timezone(&app.settings.timezone).date_naive();
    let records = app.registry.burden_records().await?;
    let from = match q.from {
        Some(d) if d > today || !(1900..=2200).contains(&d.year()) => {
            return Err(ApiError::Unprocessable(format!(
                "from {d} must be a day from the year 1900 and not after today, {today}"
            )));
        }
        Some(d) => d,
        None => {
            let rows = app.registry.rows().await?;
            crate::registry::report::causes_from(&records, rows.budget(), today)
        }
    };
    Ok(Json(crate::registry::causes::attribute(
        &records, from, now,
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The last day the report covers, `YYYY-MM-DD`: a day that is over.
    pub as_of: NaiveDate,
}

/// The burden report to the Secretary of State as recorded by the end of a day that is
/// over: the same day gives the same report whenever it is asked for. The page
/// `/progress/report` gives it as XLSX or CSV too.
#[utoipa::path(
    get, path = "/burden/report", tag = "burden", params(AsOf),
    responses(
        (status = 200, body = ProgressReport),
        (status = 400, body = ErrorBody, description = "No day, or one that is not YYYY-MM-DD"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A day that is not over, or before 2000"),
    )
)]
pub async fn report(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    q: Result<Query<AsOf>, QueryRejection>,
) -> Result<Json<ProgressReport>, ApiError> {
    who.require(Action::Read)?;
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        app.registry
            .progress_report_checked(q.as_of, app.now(), app.settings.staff_rates.as_ref())
            .await?,
    ))
}

/// The time one period's submission took, as the provider records it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeTaken {
    pub collection: String,
    /// The period, as the collection names its periods (`2026-11-30`, `2026-11`…).
    pub period: String,
    /// More than 0, at most a week.
    #[schema(exclusive_minimum = 0, maximum = 10080)]
    pub minutes: f64,
}

/// Records the time a period's submission took the provider: it replaces the estimate of
/// that period in the achieved burden. Only for a period the provider owed and, for an
/// automated collection, one it has sent.
#[utoipa::path(
    post, path = "/providers/{code}/times", tag = "providers",
    params(("code" = String, Path, description = "The provider")),
    request_body = TimeTaken,
    responses(
        (status = 201, body = RecordedTime),
        (status = 400, body = ErrorBody, description = "A body that is not valid JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "JSON of another shape, a time not from more than 0 to a week, or not a period the provider owed and sent"),
    )
)]
pub async fn record_time(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<TimeTaken>, JsonRejection>,
) -> Result<(StatusCode, Json<RecordedTime>), ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(&app, &who, Action::Upload(&code), "record_time", &target).await?;
    let Json(t) = body?;
    Ok((
        StatusCode::CREATED,
        Json(recorded(&app, &who, &code, &t).await?),
    ))
}

/// Records the time, and audits what came of it: for the API and the provider's page alike.
pub(crate) async fn recorded(
    app: &App,
    who: &crate::web::auth::Principal,
    code: &str,
    t: &TimeTaken,
) -> Result<RecordedTime, ApiError> {
    let target: String = code.chars().take(40).collect();
    let at = app.now();
    let (collection, period) = (t.collection.trim(), t.period.trim());
    let result = app
        .registry
        .record_time(collection, code, period, t.minutes, &who.name, at)
        .await;
    super::audited(app, who, "record_time", &target, result, |_| {
        format!("{collection} {period}: {} minutes", t.minutes)
    })
    .await?;
    Ok(RecordedTime {
        collection: collection.to_owned(),
        provider: code.to_owned(),
        period: period.to_owned(),
        minutes: t.minutes,
        recorded_by: who.name.clone(),
        recorded_at: at,
    })
}
