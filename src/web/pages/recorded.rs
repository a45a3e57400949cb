//! The provider records how long a submission actually took, from its page: the time
//! replaces the estimate of that period in its burden and DAP's, and DAP sees the median of
//! what providers record beside the listing's minutes.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::render;
use super::{PageError, WithCsrf, guarded};
use crate::domain::AuditOutcome;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct TimeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    minutes: String,
}

impl WithCsrf for TimeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /providers/{code}/times`.
pub async fn record(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<TimeForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(
        &app,
        &v,
        Action::Upload(&code),
        "record_time",
        &target,
        form,
    )
    .await?;
    let (collection, period) = (form.collection.trim(), form.period.trim());
    let minutes = form.minutes.trim();
    let recorded = match minutes.parse::<f64>() {
        Ok(m) => app
            .registry
            .record_time(collection, &code, period, m, &who.name, app.now())
            .await
            .map(|()| m)
            .map_err(|e| ApiError::from(e).to_string()),
        Err(_) => Err(format!(
            "the time must be a number of minutes, like 40, not {minutes:?}"
        )),
    };
    let detail = format!("{collection} {period}: {minutes} minutes");
    let (outcome, message, status) = match &recorded {
        Ok(m) => (
            AuditOutcome::Done,
            (
                format!(
                    "Recorded: {collection} {period} took {m} minutes. It replaces the estimate of that period in the achieved burden DAP reports on the progress page."
                ),
                true,
            ),
            StatusCode::OK,
        ),
        Err(why) => (
            AuditOutcome::Refused,
            (format!("Nothing was recorded: {why}"), false),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    crate::web::api::record(
        &app,
        who.audit(
            "record_time",
            &target,
            outcome,
            recorded
                .as_ref()
                .map_or_else(|e| e.as_str(), |_| detail.as_str()),
        ),
    )
    .await
    .map_err(|e| PageError(e, super::Nav::of(&v)))?;
    let page = render(&app, &v, &code, Some(message), None).await?;
    Ok((status, page).into_response())
}
