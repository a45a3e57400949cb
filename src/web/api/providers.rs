//! Providers, what they owe, and uploads by hand.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::connectors::upload::{UPLOADABLE, Upload};
use crate::connectors::{ConnectorConfig, Format, Source, Sources};
use crate::error::{ApiError, ErrorBody};
use crate::providers::{Provider, ProviderCode};
use crate::registry::views::Obligation;
use crate::schedule::request;
use crate::web::auth::{Action, Bearer, Principal};

/// The providers this token may see: all of them, or a provider's own.
#[utoipa::path(
    get, path = "/providers", tag = "providers",
    responses((status = 200, body = Vec<Provider>), (status = 401, body = ErrorBody))
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<Provider>>, ApiError> {
    let all = app.registry.providers().await?;
    Ok(Json(
        all.iter()
            .filter(|p| {
                who.may(Action::ListProviders) || who.may(Action::SeeProvider(p.code.as_str()))
            })
            .cloned()
            .collect(),
    ))
}

/// What one provider owes today: each listed collection that applies to it.
#[utoipa::path(
    get, path = "/providers/{code}/obligations", tag = "providers",
    params(("code" = String, Path, description = "ODS code or CQC location id")),
    responses(
        (status = 200, body = Vec<Obligation>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn obligations(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
) -> Result<Json<Vec<Obligation>>, ApiError> {
    let code = provider_code(&app, &who, &code).await?;
    Ok(Json(owed(&app, &code).await?))
}

async fn owed(app: &App, code: &str) -> anyhow::Result<Vec<Obligation>> {
    app.registry.obligations_of(Some(code), app.now()).await
}

/// A code from a path: well-formed, seen by this token, and in the provider register.
pub(crate) async fn provider_code(
    app: &App,
    who: &Principal,
    code: &str,
) -> Result<String, ApiError> {
    let code = ProviderCode::parse(code)
        .map_err(|_| ApiError::NotFound("there is no such provider".into()))?;
    who.require(Action::SeeProvider(code.as_str()))?;
    let known = app.registry.providers().await?;
    if !known.iter().any(|p| p.code == code) {
        return Err(ApiError::NotFound(format!(
            "there is no provider {code} in the provider register"
        )));
    }
    Ok(code.to_string())
}

/// What an upload came to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub run_id: Option<i64>,
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// `landed`, `late` (after the deadline, inside the amendment window) or `rejected`.
    pub status: String,
    pub version: Option<i64>,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Columns that are not listed items, dropped before anything was stored.
    pub dropped_columns: Vec<String>,
    /// The validation report in words.
    pub report: String,
}

/// The form an upload is sent as.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The collection's slug, e.g. `care-home-capacity`.
    pub collection: String,
    /// The period the file is for, e.g. `2026-11-24`.
    pub period: String,
    /// A CSV, XLSX, XLS or ODS file (the first sheet is read).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// Uploads one period by hand, landed by the same path as a pulled extract: the same
/// checks, the same report, the next version of the period.
#[utoipa::path(
    post, path = "/providers/{code}/uploads", tag = "providers",
    params(("code" = String, Path, description = "The provider the file is for")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Uploaded, description = "Landed as a new version"),
        (status = 400, body = ErrorBody, description = "The form is not a multipart form with collection, period and file"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "The file is larger than the upload limit"),
        (status = 422, body = ErrorBody, description = "Not a licensed collection, a wrong period or file type, or the extract was rejected (the run's report says why)"),
    )
)]
pub async fn upload(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    // Refused before the body is read, when the token may not upload for this provider.
    if let Err(e) = who.require(Action::Upload(&code)) {
        let target: String = code.chars().take(40).collect();
        super::record(
            &app,
            who.audit("upload", &target, "refused", &e.to_string()),
        )
        .await?;
        return Err(e);
    }
    let form = form.map_err(|e| {
        ApiError::BadRequest(format!(
            "send the file as multipart/form-data: {}",
            e.body_text()
        ))
    });
    let form = match async { read_form(form?, app.upload_limit).await }.await {
        Ok(f) => f,
        Err(e) => {
            let target: String = code.chars().take(40).collect();
            super::record(
                &app,
                who.audit("upload", &target, "refused", &e.to_string()),
            )
            .await?;
            return Err(e);
        }
    };
    let up = land(&app, &who, &code, form).await?;
    match up.status.as_str() {
        "landed" | "late" => Ok((StatusCode::CREATED, Json(up))),
        _ => Err(ApiError::Unprocessable(format!(
            "the file was not landed ({}); run {} has the report: {}",
            up.status,
            up.run_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into()),
            up.report.trim()
        ))),
    }
}

/// An upload form, read.
pub(crate) struct Form {
    pub collection: String,
    pub period: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The CSRF field, for the pages' form.
    pub csrf: String,
}

pub(crate) async fn read_form(mut form: Multipart, limit: usize) -> Result<Form, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE || over_limit(&e) {
            ApiError::PayloadTooLarge(format!(
                "the file is larger than the upload limit of {}",
                size(limit)
            ))
        } else {
            ApiError::BadRequest(format!("the form could not be read: {}", e.body_text()))
        }
    };
    let (mut collection, mut period, mut file, mut csrf) = (None, None, None, String::new());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "collection" => collection = Some(field.text().await.map_err(bad)?),
            "period" => period = Some(field.text().await.map_err(bad)?),
            "csrf" => csrf = field.text().await.map_err(bad)?,
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(bad)?;
                if bytes.len() > limit {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "the file is larger than the upload limit of {}",
                        size(limit)
                    )));
                }
                file = Some((name, bytes.to_vec()));
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "the form has a field \"{}\" it does not take; it takes collection, period and file",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let (Some(collection), Some(period), Some((file_name, bytes))) = (collection, period, file)
    else {
        return Err(ApiError::BadRequest(
            "the form needs collection, period and file".into(),
        ));
    };
    Ok(Form {
        collection: collection.trim().into(),
        period: period.trim().into(),
        file_name,
        bytes,
        csrf,
    })
}

/// `32 MB`, `64 KB`.
fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes / 1024)
    }
}

/// Whether a body error is the body limit's: the tower-http limit around the whole app
/// reaches multipart as a failed read, not as axum's own limit.
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Lands an upload for `code`, auditing it whatever happens. Nothing is stored for a
/// request refused before the pull: a collection that is not licensed, a provider or
/// period it does not apply to, a file of the wrong kind.
pub(crate) async fn land(
    app: &App,
    who: &Principal,
    code: &str,
    form: Form,
) -> Result<Uploaded, ApiError> {
    let target = format!("{} {} {}", form.collection, code, form.period);
    let target: String = target.chars().take(200).collect();
    let result = land_checked(app, who, code, form).await;
    let (outcome, detail) = match &result {
        Ok(u) => (
            "done",
            format!("run {} {}", u.run_id.unwrap_or_default(), u.status),
        ),
        Err(e) => ("refused", e.to_string()),
    };
    super::record(app, who.audit("upload", &target, outcome, &detail)).await?;
    result
}

async fn land_checked(
    app: &App,
    who: &Principal,
    code: &str,
    form: Form,
) -> Result<Uploaded, ApiError> {
    let code = ProviderCode::parse(code)
        .map_err(|_| ApiError::NotFound("there is no such provider".into()))?;
    who.require(Action::Upload(code.as_str()))?;
    // Only the file's own name counts: a path in it is ignored, never followed.
    let name = form
        .file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let format = Format::from_name(&name);
    if !matches!(format, Some(Format::Csv | Format::Xlsx)) {
        return Err(ApiError::Unprocessable(format!(
            "\"{}\" is not a file an upload takes; upload a {UPLOADABLE} file",
            name.chars().take(80).collect::<String>()
        )));
    }
    let now = app.now();
    app.registry.require_listed(&form.collection, now).await?;
    let key = request::by_hand(
        &app.registry,
        &form.collection,
        code.as_str(),
        &form.period,
        now,
    )
    .await?;
    // The upload's own copy, named by the service, removed once landed.
    let dir = app.settings.data_dir.join("uploads");
    std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
    let extension = name
        .rsplit('.')
        .next()
        .unwrap_or("csv")
        .to_ascii_lowercase();
    let tmp = dir.join(format!(
        ".tmp-{}.{extension}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&tmp, &form.bytes).map_err(anyhow::Error::from)?;
    let sources = Sources::of(
        vec![Source {
            collection: key.collection.clone(),
            provider: key.provider.clone(),
            connector: ConnectorConfig::Upload(Upload {
                path: tmp.clone(),
                name,
            }),
        }],
        std::path::PathBuf::new(),
    );
    let instance = format!("upload-web-{}", uuid::Uuid::new_v4().simple());
    let pulled = crate::schedule::pull::pull(
        &app.registry,
        &sources,
        &app.lake,
        &key,
        &instance,
        now,
        true,
    )
    .await;
    let _ = std::fs::remove_file(&tmp);
    let p = pulled?;
    let report = p.report.as_ref();
    Ok(Uploaded {
        run_id: p.run_id,
        collection: key.collection,
        provider: key.provider,
        period: key.period.to_string(),
        status: p.status.clone(),
        version: p.version,
        rows_accepted: report.map(|r| r.rows_accepted).unwrap_or(0),
        rows_rejected: report.map(|r| r.rows_rejected).unwrap_or(0),
        dropped_columns: report
            .map(|r| r.dropped_columns.clone())
            .unwrap_or_default(),
        report: report
            .map(|r| r.text())
            .unwrap_or_else(|| p.message.clone()),
    })
}
