//! Dry runs: a provider tries a file, or its source, for a period of a collection that is
//! owed or coming. The extract is checked as a real one would be; nothing is kept, no run
//! enters the ledger, and only the outcome is recorded as a readiness check.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Multipart, Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::providers::{Form, file_form};
use crate::domain::AuditOutcome;
use crate::domain::provider::ProviderCode;
pub use crate::schedule::trial::Trial;
use crate::schedule::trial::{Ask, Tried, dry_run};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

/// The form a file is tried as: the upload's, without `replace`.
/// Only the documentation of the form: it is read field by field as it streams in.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TrialForm {
    /// The collection's slug, e.g. `care-home-capacity`.
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
    /// Any period of the collection's kind, e.g. `2026-11-24`.
    #[schema(pattern = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?|-W[0-9]{2}|-[0-9]{2}-Q[1-4])?$")]
    pub period: String,
    /// A CSV, XLSX, XLS or ODS file (the first sheet is read).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// Which period of which collection to try the provider's source for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceTrial {
    pub collection: String,
    /// Any period of the collection's kind.
    pub period: String,
}

/// Tries a file without sending it: it is checked as the period's extract would be, and
/// the report returned. Nothing is kept and no run is recorded; the outcome is recorded as
/// a readiness check, which DAP sees. A collection still coming may be tried.
#[utoipa::path(
    post, path = "/providers/{code}/trials", tag = "providers",
    params(("code" = String, Path, description = "The provider the file is for")),
    request_body(content = TrialForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = Trial, description = "Tried: `passed` says whether every row would land, and `report` why not"),
        (status = 400, body = ErrorBody, description = "The form is not a multipart form with collection, period and file"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "The file is larger than the upload limit"),
        (status = 422, body = ErrorBody, description = "Not a licensed collection, a provider it does not ask, a period of another kind, or a file of the wrong kind"),
        (status = 503, body = ErrorBody, description = "Too many uploads and trials at once; try again later"),
    )
)]
pub async fn file(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Trial>, ApiError> {
    let form = file_form(&app, &who, &code, "dry run", form).await?;
    Ok(Json(try_file(&app, &who, &code, form).await?))
}

/// Tries the provider's source system without taking anything: the extract is fetched and
/// checked as the scheduler's pull would, then dropped. A message waiting in a MESH inbox
/// stays there. The outcome is recorded as a readiness check.
#[utoipa::path(
    post, path = "/providers/{code}/source-trials", tag = "providers", request_body = SourceTrial,
    params(("code" = String, Path, description = "The provider whose source is tried")),
    responses(
        (status = 200, body = Trial, description = "Tried: `passed` says whether every row would land, and `report` why not"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Not a licensed collection, a provider it does not ask, a period of another kind, or no source set up"),
        (status = 503, body = ErrorBody, description = "Too many uploads and trials at once; try again later"),
    )
)]
pub async fn source(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<SourceTrial>, JsonRejection>,
) -> Result<Json<Trial>, ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(&app, &who, Action::Upload(&code), "dry run", &target).await?;
    let Json(body) = body?;
    Ok(Json(
        try_source(&app, &who, &code, &body.collection, &body.period).await?,
    ))
}

/// Tries an uploaded file for `code`, and audits what it came to. The pages' form comes here.
pub(crate) async fn try_file(
    app: &App,
    who: &Principal,
    code: &str,
    form: Form,
) -> Result<Trial, ApiError> {
    let tried = Tried::File {
        path: form.file.path.clone(),
        name: form.file.name.clone(),
    };
    // The file is removed when `form` goes, at the end of this function.
    run(app, who, code, &form.collection, &form.period, tried).await
}

/// Tries the source of `code` for a period, and audits what it came to.
pub(crate) async fn try_source(
    app: &App,
    who: &Principal,
    code: &str,
    collection: &str,
    period: &str,
) -> Result<Trial, ApiError> {
    run(app, who, code, collection, period, Tried::Source).await
}

async fn run(
    app: &App,
    who: &Principal,
    code: &str,
    collection: &str,
    period: &str,
    tried: Tried,
) -> Result<Trial, ApiError> {
    let code = ProviderCode::parse(code)
        .map_err(|_| ApiError::NotFound("there is no such provider".into()))?;
    who.require(Action::Upload(code.as_str()))?;
    let ask = Ask {
        collection,
        provider: code.as_str(),
        period,
    };
    let result = dry_run(
        &app.registry,
        &app.sources,
        ask,
        tried,
        &who.name,
        app.now(),
    )
    .await;
    let target: String = format!("{collection} {code} {period}")
        .chars()
        .take(200)
        .collect();
    let (outcome, detail) = match &result {
        Ok(t) if t.passed => (AuditOutcome::Done, format!("{} passed", t.tried)),
        Ok(t) => (AuditOutcome::Rejected, format!("{} did not pass", t.tried)),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    super::record(app, who.audit("dry run", &target, outcome, &detail)).await?;
    Ok(result?)
}
