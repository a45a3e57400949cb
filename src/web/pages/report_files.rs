//! The progress report as a file: made now as of a day that is over, filed by DAP and
//! kept as filed, and downloaded as XLSX, CSV or JSON.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::progress::{Said, render};
use super::{Nav, PageError};
use crate::domain::AuditOutcome;
use crate::registry::report_files::Format;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// `?as_of=YYYY-MM-DD&format=xlsx` for a report made now.
#[derive(serde::Deserialize)]
pub struct ReportQuery {
    as_of: String,
    #[serde(default = "xlsx")]
    format: String,
}

fn xlsx() -> String {
    "xlsx".into()
}

/// The report's bytes as a download named for its day.
fn download(
    report: &crate::registry::report::ProgressReport,
    format: Format,
    name: &str,
    bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let bytes = match bytes {
        Some(b) => b,
        None => crate::registry::report_files::write(report, format).map_err(ApiError::from)?,
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{}\"", format.extension()),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /progress/report`: the report as of a day, made now from the records.
pub async fn report(
    State(app): State<Arc<App>>,
    v: Visitor,
    Query(q): Query<ReportQuery>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError(e, Nav::of(&v));
    let format = Format::parse(&q.format).map_err(|m| fail(ApiError::Unprocessable(m)))?;
    let as_of = super::form_date("day the report is as of", &q.as_of)
        .map_err(|m| fail(ApiError::Unprocessable(m)))?
        .ok_or_else(|| {
            fail(ApiError::Unprocessable(
                "give the day the report is as of".into(),
            ))
        })?;
    let report = app
        .registry
        .progress_report_checked(as_of, app.now(), app.settings.staff_rates.as_ref())
        .await
        .map_err(|e| fail(ApiError::from(e)))?;
    download(&report, format, &format!("burden-report-{as_of}"), None).map_err(fail)
}

/// `GET /progress/reports/{id}/{format}`: a filed report, as it was filed.
pub async fn filed(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path((id, format)): Path<(i64, String)>,
) -> Result<Response, PageError> {
    let fail = |e: ApiError| PageError(e, Nav::of(&v));
    let format = Format::parse(&format).map_err(|m| fail(ApiError::NotFound(m)))?;
    let (filed, body, report) = app
        .registry
        .filed_report(id)
        .await
        .map_err(|e| fail(ApiError::from(e)))?
        .ok_or_else(|| fail(ApiError::NotFound(format!("no report {id} has been filed"))))?;
    let name = format!("burden-report-{}-filed-{}", filed.as_of, filed.id);
    // The JSON is the very text filed, whose SHA-256 the page shows.
    let bytes = match format {
        Format::Json => Some(body.into_bytes()),
        _ => None,
    };
    download(&report, format, &name, bytes).map_err(fail)
}

#[derive(serde::Deserialize)]
pub struct FileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    as_of: String,
}

impl super::WithCsrf for FileForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /progress/reports`: DAP files the report as of a day.
pub async fn file(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<FileForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let (who, form) = super::guarded(
        &app,
        &v,
        Action::Decide,
        "file_report",
        "burden report",
        form,
    )
    .await?;
    let filed = match super::form_date("day the report is as of", &form.as_of) {
        Ok(Some(as_of)) => app
            .registry
            .file_report(
                as_of,
                &who.name,
                app.now(),
                app.settings.staff_rates.as_ref(),
            )
            .await
            .map(|(_, id)| id)
            .map_err(|e| ApiError::from(e).to_string()),
        Ok(None) => Err("give the day the report is as of".to_owned()),
        Err(m) => Err(m),
    };
    let (outcome, detail) = match &filed {
        Ok(id) => (
            AuditOutcome::Done,
            format!("report {id} as of {}", form.as_of),
        ),
        Err(m) => (AuditOutcome::Refused, m.clone()),
    };
    crate::web::api::record(
        &app,
        who.audit("file_report", "burden report", outcome, &detail),
    )
    .await
    .map_err(|e| PageError(e, Nav::of(&v)))?;
    match filed {
        Ok(id) => Ok(Redirect::to(&format!("/progress?filed={id}#reports")).into_response()),
        Err(why) => {
            let page = render(&app, &v, Some(Said::Refused(why))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
