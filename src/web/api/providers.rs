//! Providers, what they owe, and uploads by hand.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use utoipa::ToSchema;

use crate::domain::AuditOutcome;
use crate::domain::UploadStatus;
use crate::domain::provider::{Provider, ProviderCode};
use crate::registry::views::Obligation;
use crate::schedule::pull::Timing;
pub use crate::schedule::upload::Uploaded;
use crate::schedule::upload::{self, HandIn, Handed};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

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

/// The form an upload is sent as.
/// Only the documentation of the form: it is read field by field as it streams in.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The collection's slug, e.g. `care-home-capacity`.
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
    /// The period the file is for, e.g. `2026-11-24`.
    #[schema(pattern = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?|-W[0-9]{2}|-[0-9]{2}-Q[1-4])?$")]
    pub period: String,
    /// A CSV, XLSX, XLS or ODS file (the first sheet is read).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// `true` to make a correction current although it removes more than half of the
    /// period's rows (first sent without it, it is answered 409 `confirm_replace`).
    pub replace: Option<bool>,
}

/// Uploads one period by hand, landed by the same path as a pulled extract: the same
/// checks, the same report, the next version of the period.
#[utoipa::path(
    post, path = "/providers/{code}/uploads", tag = "providers",
    params(("code" = String, Path, description = "The provider the file is for")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Uploaded, description = "Landed as a new version: `landed`, `late` (the period's first version, after its deadline) or `amended` (a correction)"),
        (status = 200, body = Uploaded, description = "`unchanged`: the same file as the current version, so nothing new was stored"),
        (status = 400, body = ErrorBody, description = "The form is not a multipart form with collection, period and file"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`conflict`: an upload or pull of the period is under way; `confirm_replace`: the correction keeps fewer than half of the period's rows, so it is not made current until sent again with `replace=true`"),
        (status = 413, body = ErrorBody, description = "The file is larger than the upload limit"),
        (status = 422, body = ErrorBody, description = "Not a licensed collection; a provider that did not owe it for the period (not of a kind it asks, or closed); a period that has not ended, began before the collection was listed, or whose amendment window has closed (unless DAP granted an exception); a file of the wrong kind; or the extract was rejected (the run's report says why)"),
        (status = 503, body = ErrorBody, description = "Too many uploads are landing at once; try again after Retry-After"),
        (status = 507, body = ErrorBody, description = "The service's disk is full; nothing was stored"),
    )
)]
pub async fn upload(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let form = file_form(&app, &who, &code, "upload", form).await?;
    answered(land(&app, &who, &code, form.into()).await?)
}

/// A provider's file form sent to the API for `action` (an upload, a dry run): who may act
/// is checked, and a refusal audited, before the body is read; then the form, whose refusal
/// is audited too.
pub(crate) async fn file_form(
    app: &App,
    who: &Principal,
    code: &str,
    action: &str,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Form, ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(app, who, Action::Upload(code), action, &target).await?;
    let form = form.map_err(|e| {
        ApiError::BadRequest(format!(
            "send the file as multipart/form-data: {}",
            e.body_text()
        ))
    });
    match async { read_form(form?, app).await }.await {
        Ok(f) => Ok(f),
        Err(e) => {
            super::record(
                app,
                who.audit(action, &target, AuditOutcome::Refused, &e.to_string()),
            )
            .await?;
            Err(e)
        }
    }
}

/// An upload's file, written to the service's own folder as it arrives, and removed when
/// this is dropped: it may hold columns that are not listed items (rule 8), so it never
/// outlives its request, however the request ends.
pub(crate) struct Received {
    pub path: std::path::PathBuf,
    pub name: String,
}

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An upload form, read.
pub(crate) struct Form {
    pub collection: String,
    pub period: String,
    pub file: Received,
    /// The provider confirms a correction that removes more than half of the rows.
    pub replace: bool,
    /// The CSRF field, for the pages' form.
    pub csrf: String,
}

/// Where uploads are written while they land.
pub(crate) fn uploads_dir(app: &App) -> std::path::PathBuf {
    app.settings.data_dir.join("uploads")
}

/// Reads the form, streaming the file to disk a chunk at a time so that an upload never
/// takes more memory than a chunk, whatever its size, and stopping at the upload limit.
pub(crate) async fn read_form(mut form: Multipart, app: &App) -> Result<Form, ApiError> {
    let limit = app.upload_limit;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the file is larger than the upload limit of {}",
            size(limit)
        ))
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE || over_limit(&e) {
            too_large()
        } else {
            ApiError::BadRequest(format!("the form could not be read: {}", e.body_text()))
        }
    };
    // A field's text is a slug, a period, a box ticked or a token: short, and printable.
    // It is read a chunk at a time and refused once past 200 bytes, never held whole.
    async fn text(
        name: &str,
        mut field: axum::extract::multipart::Field<'_>,
    ) -> Result<String, ApiError> {
        let refused = || {
            ApiError::BadRequest(format!(
                "the form's {name} holds control characters, is not UTF-8 or is too long"
            ))
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            ApiError::BadRequest(format!("the form could not be read: {}", e.body_text()))
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > 200 {
                return Err(refused());
            }
        }
        let value = String::from_utf8(bytes).map_err(|_| refused())?;
        if value.chars().any(char::is_control) {
            return Err(refused());
        }
        Ok(value)
    }
    let (mut collection, mut period, mut file, mut csrf, mut replace) =
        (None, None, None, String::new(), false);
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "collection" => collection = Some(text("collection", field).await?),
            "period" => period = Some(text("period", field).await?),
            "csrf" => csrf = text("csrf", field).await?,
            "replace" => {
                let v = text("replace", field).await?;
                replace = matches!(v.trim(), "true" | "on" | "yes" | "1");
            }
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let dir = uploads_dir(app);
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| ApiError::from(anyhow::Error::from(e)))?;
                let received = Received {
                    path: dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple())),
                    name,
                };
                let mut out = tokio::fs::File::create(&received.path)
                    .await
                    .map_err(|e| ApiError::from(anyhow::Error::from(e)))?;
                let mut written = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    written += chunk.len();
                    if written > limit {
                        return Err(too_large());
                    }
                    tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                        .await
                        .map_err(|e| ApiError::from(anyhow::Error::from(e)))?;
                }
                tokio::io::AsyncWriteExt::flush(&mut out)
                    .await
                    .map_err(|e| ApiError::from(anyhow::Error::from(e)))?;
                file = Some(received);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "the form has a field \"{}\" it does not take; it takes collection, period, file and replace",
                    other.chars().take(40).collect::<String>().escape_debug()
                )));
            }
        }
    }
    let (Some(collection), Some(period), Some(file)) = (collection, period, file) else {
        return Err(ApiError::BadRequest(
            "the form needs collection, period and file".into(),
        ));
    };
    Ok(Form {
        collection: collection.trim().into(),
        period: period.trim().into(),
        file,
        replace,
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

/// What a provider hands over through the API or its page: an upload's file, or a nil
/// return (`file` is `None`).
pub(crate) struct HandOver {
    pub collection: String,
    pub period: String,
    /// Removed when this is dropped, once the landing is done.
    pub file: Option<Received>,
    pub replace: bool,
}

impl From<Form> for HandOver {
    fn from(f: Form) -> HandOver {
        HandOver {
            collection: f.collection,
            period: f.period,
            file: Some(f.file),
            replace: f.replace,
        }
    }
}

/// A nil return's body: the period the provider has nothing to report for.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NilReturn {
    /// The collection's slug; its definition must allow nil returns (`nil_return`).
    pub collection: String,
    /// The period, e.g. `2026-11`.
    pub period: String,
    /// `true` to make it current although the period has rows now (first sent without it,
    /// it is answered 409 `confirm_replace`).
    #[serde(default)]
    pub replace: bool,
}

/// Declares a nil return: the provider has nothing to report for the period (no incidents,
/// no patients of the kind asked about). It lands as a version with no rows, counted as
/// received; only a collection whose definition allows nil returns takes one.
#[utoipa::path(
    post, path = "/providers/{code}/nil-returns", tag = "providers", request_body = NilReturn,
    params(("code" = String, Path, description = "The provider declaring it")),
    responses(
        (status = 201, body = Uploaded, description = "Received as a version with no rows: `landed`, `late` or `amended`; `nil_return` is true"),
        (status = 200, body = Uploaded, description = "`unchanged`: the period is a nil return already"),
        (status = 400, body = ErrorBody, description = "The body is not JSON with collection and period"),
        (status = 415, body = ErrorBody, description = "The body is not sent as JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`conflict`: an upload or pull of the period is under way; `confirm_replace`: the period has rows now, so the nil return is not made current until sent again with `replace` true"),
        (status = 422, body = ErrorBody, description = "Not a licensed collection, one that takes no nil returns, a provider that did not owe it for the period, or a period outside its window"),
        (status = 503, body = ErrorBody, description = "Too many uploads are landing at once; try again after Retry-After"),
    )
)]
pub async fn nil_return(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<NilReturn>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(&app, &who, Action::Upload(&code), "nil return", &target).await?;
    let Json(body) = body?;
    let over = HandOver {
        collection: body.collection.trim().into(),
        period: body.period.trim().into(),
        file: None,
        replace: body.replace,
    };
    answered(land(&app, &who, &code, over).await?)
}

/// An upload or nil return's answer: 201 for a new version, 200 when nothing changed, and
/// an error that says why otherwise.
fn answered(up: Uploaded) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    match up.status {
        UploadStatus::Landed | UploadStatus::Late | UploadStatus::Amended => {
            Ok((StatusCode::CREATED, Json(up)))
        }
        UploadStatus::Unchanged => Ok((StatusCode::OK, Json(up))),
        UploadStatus::Failed => Err(ApiError::Internal(anyhow::anyhow!(
            "upload run {} failed: {}",
            up.run_id.unwrap_or_default(),
            up.report.trim()
        ))),
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

/// Lands an upload for `code` through the one upload path, and audits what it came to.
/// The landing runs as a task of its own, so that it finishes, is recorded and is audited
/// even when the request is given up (a client that goes away, a time-out): a run is never
/// left `running` by a request that ended.
pub(crate) async fn land(
    app: &Arc<App>,
    who: &Principal,
    code: &str,
    over: HandOver,
) -> Result<Uploaded, ApiError> {
    let target = format!("{} {} {}", over.collection, code, over.period);
    let target: String = target.chars().take(200).collect();
    let action = if over.file.is_some() {
        "upload"
    } else {
        "nil return"
    };
    let (app, who, code) = (app.clone(), who.clone(), code.to_owned());
    let task = tokio::spawn(async move {
        let result = land_checked(&app, &who, &code, over).await;
        let (outcome, detail) = match &result {
            Ok(u) => (
                match u.status {
                    s if s.done() => AuditOutcome::Done,
                    UploadStatus::Rejected => AuditOutcome::Rejected,
                    _ => AuditOutcome::Failed,
                },
                format!("run {} {}", u.run_id.unwrap_or_default(), u.status),
            ),
            Err(e) => (AuditOutcome::Refused, e.to_string()),
        };
        super::record(&app, who.audit(action, &target, outcome, &detail)).await?;
        result
    });
    task.await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the upload's task stopped: {e}")))?
}

async fn land_checked(
    app: &App,
    who: &Principal,
    code: &str,
    over: HandOver,
) -> Result<Uploaded, ApiError> {
    let code = ProviderCode::parse(code)
        .map_err(|_| ApiError::NotFound("there is no such provider".into()))?;
    who.require(Action::Upload(code.as_str()))?;
    let handed = match &over.file {
        Some(f) => Handed::File {
            path: f.path.clone(),
            name: f.name.clone(),
        },
        None => Handed::Nil,
    };
    let hand_in = HandIn {
        collection: over.collection,
        provider: code.to_string(),
        period: over.period,
        handed,
        via: "web",
        replace: over.replace,
    };
    // The file is removed when `over.file` goes, at the end of this function.
    Ok(upload::hand_in(
        &app.registry,
        &app.lake,
        hand_in,
        app.now(),
        Timing::Elapsed,
    )
    .await?)
}
