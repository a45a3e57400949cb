//! The web's one error type and its one `IntoResponse`.
//!
//! Handlers return `Result<_, ApiError>`. The library below them speaks `anyhow` with
//! context; the typed errors it raises on purpose (`RegistryError`, `PullError`) are turned
//! into status codes here and nowhere else, and anything else is a 500 whose detail goes to
//! the log, not to the caller. API routes answer JSON (`{"error": {"code", "message"}}`);
//! pages answer the same error as a small HTML page (see `web::pages::error_page`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::RegistryError;
use crate::schedule::request::RequestError;
use crate::schedule::upload::UploadError;

/// The error body every API route answers with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `conflict`, `confirm_replace`, `blocked`, `not_licensed`, `payload_too_large`,
    /// `unprocessable`, `unavailable`, `insufficient_storage`, `internal`.
    pub code: String,
    /// For people: what was wrong and, where it helps, what to do.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// A correction that would remove more than half of a period's rows, not yet confirmed.
    #[error("{0}")]
    ConfirmReplace(String),
    /// A creep check blocks the decision and DAP has not overridden it.
    #[error("{0}")]
    Blocked(String),
    /// Rule 1: the collection is not listed, so nothing is taken for it.
    #[error("{0}")]
    NotLicensed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    /// A body that is not JSON, or not sent as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Past a rate limit; the caller is told how long to wait.
    #[error("{0}")]
    TooManyRequests(String),
    /// Busy for now (too many uploads landing at once); the caller is told when to retry.
    #[error("{0}")]
    Unavailable(String),
    /// The service's disk is full: nothing was stored.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("something went wrong on our side; it has been logged")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::ConfirmReplace(_) | ApiError::Blocked(_) => {
                StatusCode::CONFLICT
            }
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotLicensed(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::ConfirmReplace(_) => "confirm_replace",
            ApiError::Blocked(_) => "blocked",
            ApiError::NotLicensed(_) => "not_licensed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::InsufficientStorage(_) => "insufficient_storage",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
            },
        }
    }

    /// Logs what a caller is not shown: the whole chain of a 500, a line for a refusal.
    pub fn log(&self) {
        match self {
            ApiError::Internal(e) => tracing::error!(error = format!("{e:#}"), "A request failed."),
            // A flood is what the limit is for: its refusals would fill the log as it is.
            ApiError::TooManyRequests(_) => {
                tracing::debug!(code = self.code(), "A request was over its rate limit.")
            }
            other => {
                tracing::info!(code = other.code(), message = %other, "A request was refused.")
            }
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        if let Some(r) = e.downcast_ref::<RegistryError>() {
            return match r {
                RegistryError::NotFound(_) => ApiError::NotFound(r.to_string()),
                RegistryError::Conflict(_) | RegistryError::Stale => {
                    ApiError::Conflict(r.to_string())
                }
                RegistryError::Refused(_) => ApiError::Unprocessable(r.to_string()),
                RegistryError::Blocked(_) => ApiError::Blocked(r.to_string()),
                RegistryError::NotLicensed { .. } => ApiError::NotLicensed(r.to_string()),
            };
        }
        if let Some(r) = e.downcast_ref::<RequestError>() {
            return match r {
                RequestError::UnknownProvider(_) => ApiError::NotFound(r.to_string()),
                _ => ApiError::Unprocessable(r.to_string()),
            };
        }
        if let Some(u) = e.downcast_ref::<UploadError>() {
            return match u {
                UploadError::WrongKind(_) | UploadError::NoNilReturn(_) => {
                    ApiError::Unprocessable(u.to_string())
                }
                UploadError::NotACollection(_) => ApiError::NotLicensed(u.to_string()),
                UploadError::UnderWay { .. } => ApiError::Conflict(u.to_string()),
                UploadError::NeedsConfirmation(_) => ApiError::ConfirmReplace(u.to_string()),
                UploadError::Busy => ApiError::Unavailable(u.to_string()),
                UploadError::DiskFull => ApiError::InsufficientStorage(u.to_string()),
            };
        }
        if let Some(q) = e.downcast_ref::<crate::registry::enquiries::EnquiryError>() {
            return match q {
                crate::registry::enquiries::EnquiryError::Answered => {
                    ApiError::Conflict(q.to_string())
                }
                _ => ApiError::Unprocessable(q.to_string()),
            };
        }
        if let Some(h) = e.downcast_ref::<crate::registry::holds::HoldError>() {
            use crate::registry::holds::HoldError;
            return match h {
                HoldError::NotHeld { .. } => ApiError::NotFound(h.to_string()),
                HoldError::Moved { .. }
                | HoldError::Confirmed { .. }
                | HoldError::Changed { .. } => ApiError::Conflict(h.to_string()),
                HoldError::Closed { .. } | HoldError::Note => {
                    ApiError::Unprocessable(h.to_string())
                }
            };
        }
        if crate::schedule::pull::disk_full(&e) {
            return ApiError::InsufficientStorage(
                "the service's disk is full, so nothing was stored; try again later".into(),
            );
        }
        if let Some(p) = e.downcast_ref::<crate::domain::Problems>() {
            return ApiError::Unprocessable(p.to_string().trim_end().replace("\n  ", " "));
        }
        ApiError::Internal(e)
    }
}

/// A JSON body that could not be read, answered with the status axum gives it. Handlers take
/// their body as `Result<Json<T>, JsonRejection>` and read it only after the caller's role
/// is checked, so that a caller who may not act is refused (and audited) whatever it sent.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> ApiError {
        let text = r.body_text();
        match r.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(text),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(text),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(text),
            _ => ApiError::BadRequest(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let retry = match self {
            ApiError::TooManyRequests(_) => Some(crate::web::limit::REFUSAL_EVERY_SECONDS),
            ApiError::Unavailable(_) | ApiError::InsufficientStorage(_) => Some(60),
            _ => None,
        };
        if let Some(seconds) = retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}
