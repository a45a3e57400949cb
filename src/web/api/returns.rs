//! The national returns: what is built, and downloads in every format.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::AuditOutcome;
use crate::domain::Period;
use crate::returns::build::{Artifact, built};
use crate::returns::catalogue::ReturnDef;
use crate::returns::export::{ExportFormat, export};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnView {
    pub name: String,
    pub title: String,
    /// `daily`, `quarterly`, …
    pub period: String,
    /// The collections it is built from.
    pub inputs: Vec<String>,
    pub columns: Vec<String>,
    /// Each period built, oldest first, with its latest artifact.
    pub built: Vec<ArtifactView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactView {
    pub period: String,
    pub version: i64,
    /// Every version of this period, oldest first.
    pub versions: Vec<i64>,
    pub built_at: DateTime<Utc>,
    pub rows: usize,
    /// True when every expected provider sent every expected period of every input.
    pub complete: bool,
    /// Expected, received, missing by name, and late, per input collection.
    #[schema(value_type = Object)]
    pub completeness: crate::returns::completeness::Completeness,
    /// The formats it downloads in: `csv`, `xlsx`, `parquet`, `json`, `sdmx-csv`.
    pub formats: Vec<String>,
}

pub(crate) fn view(app: &App, def: &ReturnDef) -> anyhow::Result<ReturnView> {
    let root = app.settings.returns_dir();
    let mut out = Vec::new();
    for (period, versions) in built(&root, &def.name) {
        if let Some(a) = Artifact::latest(&root, &def.name, &period)? {
            out.push(artifact_view(&a, versions));
        }
    }
    Ok(ReturnView {
        name: def.name.clone(),
        title: def.title.clone(),
        period: def.period.adjective().into(),
        inputs: def.inputs.iter().map(|s| s.to_string()).collect(),
        columns: def.columns.iter().map(|c| c.name.clone()).collect(),
        built: out,
    })
}

fn artifact_view(a: &Artifact, versions: Vec<i64>) -> ArtifactView {
    let m = &a.manifest;
    ArtifactView {
        period: m.period.clone(),
        version: m.version,
        versions,
        built_at: m.built_at,
        rows: m.rows,
        complete: m.completeness.complete,
        completeness: m.completeness.clone(),
        formats: ExportFormat::ALL
            .iter()
            .map(|f| f.name().to_owned())
            .collect(),
    }
}

/// Every national return DAP has licensed, and each period built.
#[utoipa::path(
    get, path = "/returns", tag = "returns",
    responses(
        (status = 200, body = Vec<ReturnView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<ReturnView>>, ApiError> {
    who.require(Action::Returns)?;
    let mut out = Vec::new();
    for def in app.returns().await?.returns.values() {
        out.push(view(&app, def)?);
    }
    Ok(Json(out))
}

/// Every artifact version of one return for one period, newest first.
#[utoipa::path(
    get, path = "/returns/{name}/periods/{period}", tag = "returns",
    params(
        ("name" = String, Path, description = "The return, e.g. kh03"),
        ("period" = String, Path, description = "The period, e.g. 2026-27-Q1"),
    ),
    responses(
        (status = 200, body = Vec<ArtifactView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn artifacts(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path((name, period)): Path<(String, String)>,
) -> Result<Json<Vec<ArtifactView>>, ApiError> {
    who.require(Action::Returns)?;
    let (def, period) = find(&app, &name, &period).await?;
    let root = app.settings.returns_dir();
    let versions = built(&root, &def.name)
        .into_iter()
        .find(|(p, _)| *p == period)
        .map(|(_, v)| v)
        .ok_or_else(|| not_built(&def.name, &period))?;
    let mut out = Vec::new();
    for v in versions.iter().rev() {
        if let Some(a) = Artifact::version(&root, &def.name, &period, *v)? {
            out.push(artifact_view(&a, versions.clone()));
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `csv`, `xlsx`, `parquet`, `json` or `sdmx-csv`. (Left out, it is refused as a
    /// format not known, once the caller may download at all.)
    #[serde(default)]
    pub format: String,
    /// An earlier artifact version; the latest when not given.
    pub version: Option<i64>,
}

/// Downloads a return for a period in one format. Every download is in the audit log.
#[utoipa::path(
    get, path = "/returns/{name}/periods/{period}/download", tag = "returns",
    params(
        ("name" = String, Path, description = "The return"),
        ("period" = String, Path, description = "The period"),
        DownloadQuery,
    ),
    responses(
        (status = 200, description = "The file, named <return>-<period>-v<version>.<ext>", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn download(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<DownloadQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return Err(bad_query(&app, &who, &name, &period, e).await),
    };
    file(&app, &who, &name, &period, &q.format, q.version).await
}

/// A download whose query does not read (a version that is not a number): refused for the
/// caller's role first, and audited as such, and only then for the query.
pub(crate) async fn bad_query(
    app: &App,
    who: &Principal,
    name: &str,
    period: &str,
    e: QueryRejection,
) -> ApiError {
    let target = format!("{name} {period}");
    match super::allowed(app, who, Action::Returns, "download", &target).await {
        Err(refused) => refused,
        Ok(()) => ApiError::BadRequest(e.body_text()),
    }
}

/// A return's file, for the API and the pages alike.
pub(crate) async fn file(
    app: &App,
    who: &Principal,
    name: &str,
    period: &str,
    format: &str,
    version: Option<i64>,
) -> Result<Response, ApiError> {
    super::allowed(
        app,
        who,
        Action::Returns,
        "download",
        &format!("{name} {period}"),
    )
    .await?;
    let format = ExportFormat::parse(format).ok_or_else(|| {
        ApiError::BadRequest("format must be csv, xlsx, parquet, json or sdmx-csv".into())
    })?;
    let (def, period) = find(app, name, period).await?;
    let root = app.settings.returns_dir();
    let artifact = match version {
        Some(v) => Artifact::version(&root, &def.name, &period, v)?,
        None => Artifact::latest(&root, &def.name, &period)?,
    }
    .ok_or_else(|| not_built(&def.name, &period))?;
    let v = artifact.manifest.version;
    let file_name = format!("{}-{period}-v{v}.{}", def.name, format.extension());
    // Written by the same export as `tally returns export`, then handed over.
    let dir = app
        .settings
        .data_dir
        .join("exports")
        .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
    let out = dir.join(&file_name);
    // Writing an XLSX or reading a large Parquet file blocks: off the async threads.
    let (def_owned, dir_owned) = (def.clone(), dir.clone());
    let bytes = tokio::task::spawn_blocking(move || {
        let bytes =
            export(&def_owned, &artifact, format, &out).and_then(|_| Ok(std::fs::read(&out)?));
        let _ = std::fs::remove_dir_all(&dir_owned);
        bytes
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("the export stopped: {e}")))?;
    let bytes = bytes?;
    super::record(
        app,
        who.audit(
            "download",
            &format!("{} {period} v{v}", def.name),
            AuditOutcome::Done,
            format.name(),
        ),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// A licensed return and a period of it.
async fn find(app: &App, name: &str, period: &str) -> Result<(ReturnDef, Period), ApiError> {
    let def = app.returns().await?.returns.remove(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no return \"{}\"",
            name.chars().take(60).collect::<String>()
        ))
    })?;
    let period = Period::parse(period).map_err(|e| ApiError::NotFound(e.into()))?;
    Ok((def, period))
}

fn not_built(name: &str, period: &Period) -> ApiError {
    ApiError::NotFound(format!("{name} has not been built for {period}"))
}
