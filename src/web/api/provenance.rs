//! What goes with a return's data: each artifact's manifest, the CSVW metadata of its CSV,
//! and the SDMX structure its SDMX-CSV refers to. The pages serve the same, with a session.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::returns::{artifact, find};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

/// The media type of an SDMX-ML 2.1 structure message.
pub const SDMX_STRUCTURE: &str = "application/vnd.sdmx.structure+xml; version=2.1";

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// An earlier artifact version; the latest when not given.
    pub version: Option<i64>,
}

/// What a caller asks for of an artifact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Described {
    Manifest,
    Csvw,
}

/// An artifact's manifest: the query and its licence, every input extract's version and
/// sha256, completeness with the missing providers by name, the disclosure rule and the
/// sha256 of the data.
#[utoipa::path(
    get, path = "/returns/{name}/periods/{period}/manifest", tag = "returns",
    params(
        ("name" = String, Path, description = "The return, e.g. kh03-quarterly"),
        ("period" = String, Path, description = "The period, e.g. 2026-27-Q1"),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The manifest", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn manifest(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    describe(&app, &who, &name, &period, q, Described::Manifest).await
}

/// The same manifest, at the shorter address.
#[utoipa::path(
    get, path = "/returns/{name}/{period}/manifest", tag = "returns",
    params(
        ("name" = String, Path, description = "The return, e.g. kh03-quarterly"),
        ("period" = String, Path, description = "The period, e.g. 2026-27-Q1"),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The manifest", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn manifest_short(
    state: State<Arc<App>>,
    bearer: Bearer,
    path: Path<(String, String)>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    manifest(state, bearer, path, q).await
}

/// The CSV on the Web (W3C CSVW) metadata of the CSV download: column titles, datatypes,
/// units, the completeness statement and the provenance. The CSV download links to it
/// with `Link: <…>; rel="describedby"`.
#[utoipa::path(
    get, path = "/returns/{name}/periods/{period}/metadata", tag = "returns",
    params(
        ("name" = String, Path, description = "The return"),
        ("period" = String, Path, description = "The period"),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The CSVW metadata document", body = Object, content_type = "application/csvm+json"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn metadata(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path((name, period)): Path<(String, String)>,
    q: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    describe(&app, &who, &name, &period, q, Described::Csvw).await
}

/// A manifest or a CSVW document, for the API and the pages alike. Reading one is not a
/// download, so it is not audited; the data itself is. A version that does not read is
/// refused for the caller's role first, as a download's is.
pub(crate) async fn describe(
    app: &App,
    who: &Principal,
    name: &str,
    period: &str,
    q: Result<Query<VersionQuery>, QueryRejection>,
    what: Described,
) -> Result<Response, ApiError> {
    let version = match q {
        Ok(Query(q)) => q.version,
        Err(e) => return Err(super::returns::bad_query(app, who, name, period, e).await),
    };
    super::allowed(
        app,
        who,
        Action::Returns,
        "read",
        &format!("{name} {period}"),
    )
    .await?;
    let (def, period) = find(app, name, period).await?;
    let icb = super::returns::scope_of(who, &def)?;
    let artifact = artifact(app, &def, &period, version)?;
    super::returns::has_icb_rows(&artifact, icb.as_deref())?;
    let v = artifact.manifest.version;
    Ok(match what {
        Described::Manifest => {
            let mut manifest = artifact.manifest.clone();
            if let Some(icb) = &icb {
                // Only the changed cells of the rows this reader reads.
                manifest.revision =
                    crate::returns::artifact::revision_of_icb(&def, &artifact, icb)?;
            }
            axum::Json(manifest).into_response()
        }
        Described::Csvw => {
            let doc = tokio::task::spawn_blocking(move || {
                let schema = artifact.schema()?;
                let columns = crate::returns::columns::describe(&def, &schema);
                let url = format!("download?format=csv&version={v}");
                let scope = icb.as_deref().map(crate::returns::cells::scope_note);
                let mut manifest = artifact.manifest.clone();
                if let Some(icb) = &icb {
                    manifest.revision =
                        crate::returns::artifact::revision_of_icb(&def, &artifact, icb)?;
                }
                anyhow::Ok(crate::returns::metadata::csvw(
                    &manifest,
                    &columns,
                    scope.as_deref(),
                    &url,
                ))
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))??;
            (
                [(
                    header::CONTENT_TYPE,
                    crate::returns::metadata::CSVW_MEDIA_TYPE,
                )],
                serde_json::to_vec_pretty(&doc).map_err(anyhow::Error::from)?,
            )
                .into_response()
        }
    })
}

/// The SDMX-ML 2.1 structure message of a return: codelists, concept scheme, data structure
/// definition and dataflow, which its SDMX-CSV downloads refer to.
#[utoipa::path(
    get, path = "/returns/{name}/structure", tag = "returns",
    params(("name" = String, Path, description = "The return")),
    responses(
        (status = 200, description = "The structure message", body = String, content_type = "application/vnd.sdmx.structure+xml; version=2.1"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn structure(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    sdmx_structure(&app, &who, &name).await
}

/// The structure message, for the API and the pages alike.
pub(crate) async fn sdmx_structure(
    app: &App,
    who: &Principal,
    name: &str,
) -> Result<Response, ApiError> {
    super::allowed(app, who, Action::Returns, "read", name).await?;
    let def = super::returns::licensed(app, name).await?;
    super::returns::scope_of(who, &def)?;
    let xml = crate::returns::sdmx::structure(&def, chrono::Utc::now());
    Ok((
        [
            (header::CONTENT_TYPE, SDMX_STRUCTURE.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}.structure.xml\"", def.name),
            ),
        ],
        xml,
    )
        .into_response())
}
