//! DAP's exceptions to the window a period may be sent in by hand.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::AuditOutcome;
use crate::registry::exceptions::{DEFAULT_DAYS, Grant};
use crate::store::exceptions::WindowException;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequest {
    /// The collection's slug.
    pub collection: String,
    /// The provider's code.
    pub provider: String,
    /// The first period it covers, of the collection's kind.
    pub period: String,
    /// The last period it covers (default: the first alone).
    pub to: Option<String>,
    /// Days until it lapses, 1 to 90 (default 30).
    #[schema(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
    /// Why, in words that are kept with it.
    pub reason: String,
}

/// Every exception granted, newest first.
#[utoipa::path(
    get, path = "/exceptions", tag = "governance",
    responses(
        (status = 200, body = Vec<WindowException>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<WindowException>>, ApiError> {
    who.require(Action::Audit)?;
    Ok(Json(app.store().exceptions(None).await?))
}

/// Lets one provider send periods of a collection outside its window (from before the
/// collection was listed, or after a period's amendment window closed) until it lapses.
/// Recorded with the reason and audited.
#[utoipa::path(
    post, path = "/exceptions", tag = "governance", request_body = ExceptionRequest,
    responses(
        (status = 201, body = WindowException),
        (status = 400, body = ErrorBody, description = "The body is not JSON of this shape"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "The body is not sent as JSON"),
        (status = 422, body = ErrorBody, description = "Not a listed collection or a registered provider, a period of the wrong kind, no reason, or a length outside 1 to 90 days"),
    )
)]
pub async fn grant(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    body: Result<Json<ExceptionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<WindowException>), ApiError> {
    super::allowed(&app, &who, Action::Decide, "exception", "exceptions").await?;
    let Json(b) = body?;
    let grant = Grant {
        collection: &b.collection,
        provider: &b.provider,
        first: &b.period,
        last: b.to.as_deref(),
        by: &who.name,
        reason: &b.reason,
        days: b.days.unwrap_or(DEFAULT_DAYS),
    };
    match app.registry.grant_exception(&grant, app.now()).await {
        // The grant is audited as it is recorded.
        Ok(e) => Ok((StatusCode::CREATED, Json(e))),
        Err(e) => {
            let e = ApiError::from(e);
            let target = format!("{} {} {}", b.collection, b.provider, b.period);
            let target: String = target.chars().take(200).collect();
            super::record(
                &app,
                who.audit("exception", &target, AuditOutcome::Refused, &e.to_string()),
            )
            .await?;
            Err(e)
        }
    }
}
