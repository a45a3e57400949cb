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
use crate::returns::export::{ExportFormat, export_scoped};
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
    /// For a version after the first: why it was made (which inputs changed, by which
    /// amendment) and the cells it changed.
    pub revision: Option<crate::returns::revision::Revision>,
}

/// Each built period of `def` with its latest artifact; for a reader of one ICB's rows,
/// revisions list only the cells of those rows.
pub(crate) fn view(app: &App, def: &ReturnDef, icb: Option<&str>) -> anyhow::Result<ReturnView> {
    let root = app.settings.returns_dir();
    let mut out = Vec::new();
    for (period, versions) in built(&root, &def.name) {
        if let Some(a) = Artifact::latest(&root, &def.name, &period)? {
            out.push(artifact_view(def, &a, versions, icb)?);
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

fn artifact_view(
    def: &ReturnDef,
    a: &Artifact,
    versions: Vec<i64>,
    icb: Option<&str>,
) -> anyhow::Result<ArtifactView> {
    let m = &a.manifest;
    let revision = match icb {
        Some(icb) => crate::returns::artifact::revision_of_icb(def, a, icb)?,
        None => m.revision.clone(),
    };
    Ok(ArtifactView {
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
        revision,
    })
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
        if let Ok(icb) = scope_of(&who, def) {
            out.push(view(&app, def, icb.as_deref())?);
        }
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
    let icb = scope_of(&who, &def)?;
    let root = app.settings.returns_dir();
    let versions = built(&root, &def.name)
        .into_iter()
        .find(|(p, _)| *p == period)
        .map(|(_, v)| v)
        .ok_or_else(|| not_built(&def.name, &period))?;
    let mut out = Vec::new();
    for v in versions.iter().rev() {
        if let Some(a) = Artifact::version(&root, &def.name, &period, *v)? {
            out.push(artifact_view(&def, &a, versions.clone(), icb.as_deref())?);
        }
    }
    Ok(Json(out))
}

/// The formats a return downloads in, and `zip` for a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DownloadFormat {
    Csv,
    Xlsx,
    Parquet,
    Json,
    SdmxCsv,
    Zip,
}

impl DownloadFormat {
    /// The export it is, or None for a bundle.
    fn export(self) -> Option<ExportFormat> {
        Some(match self {
            DownloadFormat::Csv => ExportFormat::Csv,
            DownloadFormat::Xlsx => ExportFormat::Xlsx,
            DownloadFormat::Parquet => ExportFormat::Parquet,
            DownloadFormat::Json => ExportFormat::Json,
            DownloadFormat::SdmxCsv => ExportFormat::SdmxCsv,
            DownloadFormat::Zip => return None,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `zip` is a bundle of the CSV, its CSVW metadata, the manifest and the SDMX-CSV, of
    /// the period or, with `to`, of a range of periods, with the SDMX structure.
    #[param(inline)]
    pub format: DownloadFormat,
    /// An earlier artifact version; the latest when not given.
    #[param(minimum = 1)]
    pub version: Option<i64>,
    /// With `format=zip`: the last period of the range, written as the period is (at most
    /// 400 periods, the latest version of each).
    pub to: Option<String>,
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
        (status = 200, description = "The file, named <return>-<period>-v<version>.<ext> (or .zip); a CSV links to its CSVW metadata", content(
            (String = "text/csv; charset=utf-8"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "application/vnd.apache.parquet"),
            (Object = "application/json"),
            (String = "application/vnd.sdmx.data+csv; version=2.0.0"),
            (String = "application/zip"),
        ), headers(
            ("Link" = String, description = "For a CSV: `<metadata?version=N>; rel=\"describedby\"; type=\"application/csvm+json\"`"),
            ("Content-Disposition" = String, description = "attachment, with the file's name"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A range that does not read, runs backwards, or is too long; a version with a range; a range without a bundle"),
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
    file(&app, &who, &name, &period, &q).await
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

/// A return's file, for the API and the pages alike. A CSV comes with a `Link` to its
/// CSVW metadata (`rel="describedby"`), relative to the download's own address.
pub(crate) async fn file(
    app: &App,
    who: &Principal,
    name: &str,
    period: &str,
    q: &DownloadQuery,
) -> Result<Response, ApiError> {
    super::allowed(
        app,
        who,
        Action::Returns,
        "download",
        &format!("{name} {period}"),
    )
    .await?;
    let Some(format) = q.format.export() else {
        return bundle_file(app, who, name, period, q).await;
    };
    if q.to.is_some() {
        return Err(ApiError::Unprocessable(
            "to is for a bundle of periods: use it with format=zip".into(),
        ));
    }
    let (def, period) = find(app, name, period).await?;
    let icb = scope_of(who, &def)?;
    let artifact = artifact(app, &def, &period, q.version)?;
    has_icb_rows(&artifact, icb.as_deref())?;
    let v = artifact.manifest.version;
    let file_name = crate::returns::bundle::file_name(&def, &artifact, format);
    let bytes = in_scratch(app, move |dir| {
        let out = dir.join(crate::returns::bundle::file_name(&def, &artifact, format));
        export_scoped(&def, &artifact, icb.as_deref(), format, &out)?;
        Ok(std::fs::read(&out)?)
    })
    .await?;
    super::record(
        app,
        who.audit(
            "download",
            &format!("{name} {period} v{v}"),
            AuditOutcome::Done,
            format.name(),
        ),
    )
    .await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response();
    if format == ExportFormat::Csv {
        let link = format!(
            "<metadata?version={v}>; rel=\"describedby\"; type=\"{}\"",
            crate::returns::metadata::CSVW_MEDIA_TYPE
        );
        response.headers_mut().insert(
            header::LINK,
            link.parse()
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?,
        );
    }
    Ok(response)
}

/// A zip of a period, or of each period from `period` to `q.to`, with its metadata.
async fn bundle_file(
    app: &App,
    who: &Principal,
    name: &str,
    period: &str,
    q: &DownloadQuery,
) -> Result<Response, ApiError> {
    let (def, first) = find(app, name, period).await?;
    let icb = scope_of(who, &def)?;
    let artifacts = match &q.to {
        None => {
            let a = artifact(app, &def, &first, q.version)?;
            has_icb_rows(&a, icb.as_deref())?;
            vec![a]
        }
        Some(_) if q.version.is_some() => {
            return Err(ApiError::Unprocessable(
                "version is for one period: leave it out to bundle a range with to".into(),
            ));
        }
        Some(to) => {
            let last =
                Period::parse(to).map_err(|e| ApiError::Unprocessable(format!("to: {e}")))?;
            if last.kind() != first.kind() || last.first_day() < first.first_day() {
                return Err(ApiError::Unprocessable(format!(
                    "to must be a {} on or after {first}",
                    first.kind().as_str()
                )));
            }
            let root = app.settings.returns_dir();
            let mut out = Vec::new();
            for (p, _) in built(&root, &def.name) {
                if p.first_day() < first.first_day() || p.first_day() > last.first_day() {
                    continue;
                }
                if out.len() == crate::returns::bundle::MOST_PERIODS {
                    return Err(ApiError::Unprocessable(format!(
                        "a bundle holds at most {} periods; ask for a shorter range",
                        crate::returns::bundle::MOST_PERIODS
                    )));
                }
                // For an ICS, only the periods built since the return had ICB rows.
                out.extend(
                    Artifact::latest(&root, &def.name, &p)?
                        .filter(|a| has_icb_rows(a, icb.as_deref()).is_ok()),
                );
            }
            if out.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "{} has not been built for any period from {first} to {last}",
                    def.name
                )));
            }
            out
        }
    };
    let file_name = match (&q.to, artifacts.as_slice()) {
        (None, [a]) => format!("{}-{}-v{}.zip", def.name, first, a.manifest.version),
        _ => format!(
            "{}-{}-to-{}.zip",
            def.name,
            first,
            q.to.as_deref().unwrap_or_default()
        ),
    };
    let what: Vec<String> = artifacts
        .iter()
        .map(|a| format!("{} v{}", a.manifest.period, a.manifest.version))
        .collect();
    let zip_name = file_name.clone();
    let bytes = in_scratch(app, move |dir| {
        let out = dir.join(&zip_name);
        crate::returns::bundle::bundle(
            &def,
            &artifacts,
            icb.as_deref(),
            chrono::Utc::now(),
            dir,
            &out,
        )?;
        Ok(std::fs::read(&out)?)
    })
    .await?;
    // The target says the range; the detail lists every period and version handed over.
    let target = match (what.first(), what.last()) {
        (Some(a), Some(b)) if what.len() > 1 => {
            format!("{name} {a} to {b} ({} periods)", what.len())
        }
        _ => format!("{name} {}", what.join(", ")),
    };
    super::record(
        app,
        who.audit(
            "download",
            &target,
            AuditOutcome::Done,
            &format!("zip: {}", what.join(", ")),
        ),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// Refuses, as not there, a version an ICS asks for that was built before the return had
/// ICB rows: it holds no rows of the ICS's to give.
pub(super) fn has_icb_rows(artifact: &Artifact, icb: Option<&str>) -> Result<(), ApiError> {
    if icb.is_none() {
        return Ok(());
    }
    let schema = artifact.schema()?;
    if schema
        .column_with_name(crate::returns::cells::ICB_COLUMN)
        .is_none()
    {
        let m = &artifact.manifest;
        return Err(ApiError::NotFound(format!(
            "version {} of {} for {} was built before it had ICB rows",
            m.version, m.return_name, m.period
        )));
    }
    Ok(())
}

/// One version of a period's artifact, or the latest.
pub(super) fn artifact(
    app: &App,
    def: &ReturnDef,
    period: &Period,
    version: Option<i64>,
) -> Result<Artifact, ApiError> {
    let root = app.settings.returns_dir();
    match version {
        Some(v) => Artifact::version(&root, &def.name, period, v)?,
        None => Artifact::latest(&root, &def.name, period)?,
    }
    .ok_or_else(|| not_built(&def.name, period))
}

/// Runs `write` on the blocking threads (writing an XLSX or reading a large Parquet file
/// blocks) in a scratch folder of its own, removed afterwards.
async fn in_scratch<T: Send + 'static>(
    app: &App,
    write: impl FnOnce(&std::path::Path) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = app
        .settings
        .data_dir
        .join("exports")
        .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
    let made = tokio::task::spawn_blocking(move || {
        let made = write(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        made
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("the export stopped: {e}")))?;
    Ok(made?)
}

/// A licensed return and a period of it.
pub(super) async fn find(
    app: &App,
    name: &str,
    period: &str,
) -> Result<(ReturnDef, Period), ApiError> {
    let def = licensed(app, name).await?;
    let period = Period::parse(period).map_err(|e| ApiError::NotFound(e.into()))?;
    Ok((def, period))
}

/// The ICB whose rows alone `who` may read of `def`: none for a national reader. An ICS
/// reads only returns that have ICB rows; to it, the others are not there.
pub(crate) fn scope_of(who: &Principal, def: &ReturnDef) -> Result<Option<String>, ApiError> {
    match who.icb() {
        None => Ok(None),
        Some(icb) if def.column(crate::returns::cells::ICB_COLUMN).is_some() => {
            Ok(Some(icb.to_owned()))
        }
        Some(_) => Err(ApiError::NotFound(format!(
            "there is no return \"{}\" with ICB rows to share",
            def.name
        ))),
    }
}

/// A licensed return.
pub(super) async fn licensed(app: &App, name: &str) -> Result<ReturnDef, ApiError> {
    app.returns().await?.returns.remove(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no return \"{}\"",
            name.chars().take(60).collect::<String>()
        ))
    })
}

pub(super) fn not_built(name: &str, period: &Period) -> ApiError {
    ApiError::NotFound(format!("{name} has not been built for {period}"))
}
