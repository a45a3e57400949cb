//! A provider's dry runs from its page: a file tried with the upload form's "Try it"
//! button, or its source tried for a collection Tally pulls. The page comes back with what
//! the trial found and its report; nothing is kept and no run is recorded.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::render;
use super::{Nav, PageError, WithCsrf, guarded};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// The source trial's form.
#[derive(Debug, Deserialize)]
pub struct SourceForm {
    csrf: String,
    collection: String,
    period: String,
}

impl WithCsrf for SourceForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn file(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let (who, form) = super::provider::file_form(&app, &v, &code, "dry run", form).await?;
    let tried = crate::web::api::try_file(&app, &who, &code, form).await;
    answer(&app, &v, &code, tried).await
}

pub async fn source(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<SourceForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(&app, &v, Action::Upload(&code), "dry run", &target, form).await?;
    let tried =
        crate::web::api::try_source(&app, &who, &code, &form.collection, &form.period).await;
    answer(&app, &v, &code, tried).await
}

/// The provider's page again, with what the trial found.
async fn answer(
    app: &App,
    v: &Visitor,
    code: &str,
    tried: Result<crate::schedule::trial::Trial, ApiError>,
) -> Result<Response, PageError> {
    let (status, message, report) = match tried {
        Ok(t) => (StatusCode::OK, (t.summary(), t.passed), Some(t.report)),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(v))),
        Err(e) => (e.status(), (format!("Nothing was tried: {e}"), false), None),
    };
    Ok((status, render(app, v, code, Some(message), report).await?).into_response())
}
