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
use crate::web::api::{TimeTaken, recorded};
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
        Ok(minutes) => {
            let t = TimeTaken {
                collection: collection.to_owned(),
                period: period.to_owned(),
                minutes,
            };
            match recorded(&app, &who, &code, &t).await {
                Ok(r) => Ok(r.minutes),
                // A refusal is said on the page; anything else is the service's fault, and
                // is answered (and logged) as such.
                Err(ApiError::Unprocessable(why)) => Err(why),
                Err(e) => return Err(PageError(e, super::Nav::of(&v))),
            }
        }
        Err(_) => {
            let why = format!("the time must be a number of minutes, like 40, not {minutes:?}");
            let refused = crate::domain::AuditOutcome::Refused;
            crate::web::api::record(&app, who.audit("record_time", &target, refused, &why))
                .await
                .map_err(|e| PageError(e, super::Nav::of(&v)))?;
            Err(why)
        }
    };
    let (message, status) = match &recorded {
        Ok(m) => (
            (
                format!(
                    "Recorded: {collection} {period} took {m} minutes. It replaces the estimate of that period in the achieved burden DAP reports on the progress page."
                ),
                true,
            ),
            StatusCode::OK,
        ),
        Err(why) => (
            (format!("Nothing was recorded: {why}"), false),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let page = render(&app, &v, &code, Some(message), None).await?;
    Ok((status, page).into_response())
}
