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

use crate::registry::RegistryError;
use crate::schedule::request::RequestError;

/// The error body every API route answers with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `conflict`, `blocked`, `not_licensed`, `payload_too_large`, `unprocessable`, `internal`.
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
            ApiError::Conflict(_) | ApiError::Blocked(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotLicensed(_) | ApiError::Unprocessable(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
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
            ApiError::Blocked(_) => "blocked",
            ApiError::NotLicensed(_) => "not_licensed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unprocessable(_) => "unprocessable",
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
        if let Some(p) = e.downcast_ref::<crate::registry::load::Problems>() {
            return ApiError::Unprocessable(p.to_string().trim_end().replace("\n  ", " "));
        }
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        (self.status(), axum::Json(self.body())).into_response()
    }
}
