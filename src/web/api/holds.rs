//! Figures held for confirmation, through the API as on the provider's page: a provider
//! reads its holds and confirms the figures are right; to correct them it uploads the
//! period again.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::providers::provider_code;
use crate::domain::AuditOutcome;
use crate::registry::holds::HoldView;
use crate::store::holds::HoldRow;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldsQuery {
    /// `true` (the default) for holds nobody has confirmed; `false` for every hold on a
    /// current version, confirmed or not.
    pub awaiting: Option<bool>,
}

/// The provider's figures held for confirmation: each version with figures far from the
/// provider's own recent ones, the figures with their baselines, and until when they may be
/// confirmed or corrected. A hold on a version replaced since is not listed.
#[utoipa::path(
    get, path = "/providers/{code}/holds", tag = "providers", params(("code" = String, Path, description = "The provider"), HoldsQuery),
    responses(
        (status = 200, body = Vec<HoldView>),
        (status = 400, body = ErrorBody, description = "`awaiting` is not true or false"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    query: Result<Query<HoldsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<HoldView>>, ApiError> {
    let code = provider_code(&app, &who, &code).await?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        app.registry
            .holds_of(&code, query.awaiting.unwrap_or(true))
            .await?,
    ))
}

/// A confirmation that held figures are right.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
    /// The period, e.g. `2026-11-24`.
    #[schema(min_length = 1, max_length = 16)]
    pub period: String,
    /// The version whose figures were checked: a newer one is not confirmed unseen.
    #[schema(minimum = 1)]
    pub version: i64,
    /// What was checked, for DAP and DHSC (optional).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: String,
}

/// Confirms that the held figures of a period's current version are right: returns built
/// from then on no longer mark what rests on them provisional.
#[utoipa::path(
    post, path = "/providers/{code}/holds/confirmations", tag = "providers", request_body = Confirmation,
    params(("code" = String, Path, description = "The provider confirming")),
    responses(
        (status = 200, body = HoldRow, description = "Confirmed"),
        (status = 400, body = ErrorBody, description = "The body is not JSON of this shape"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No figures of that period are held"),
        (status = 409, body = ErrorBody, description = "Confirmed already, or a newer version has landed since"),
        (status = 415, body = ErrorBody, description = "The body is not sent as JSON"),
        (status = 422, body = ErrorBody, description = "The period is closed to changes, or the note is too long or holds control characters"),
    )
)]
pub async fn confirm(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<Confirmation>, JsonRejection>,
) -> Result<Json<HoldRow>, ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(
        &app,
        &who,
        Action::Upload(&code),
        "confirm figures",
        &target,
    )
    .await?;
    let Json(body) = body?;
    Ok(Json(confirmed(&app, &who, &code, &body).await?))
}

/// Confirms, and audits what came of it: for the API and the provider's page alike.
pub(crate) async fn confirmed(
    app: &App,
    who: &Principal,
    code: &str,
    c: &Confirmation,
) -> Result<HoldRow, ApiError> {
    let target: String = format!("{} {} {}", c.collection, code, c.period)
        .chars()
        .take(200)
        .collect();
    let result = app
        .registry
        .confirm_held(
            code,
            c.collection.trim(),
            c.period.trim(),
            c.version,
            &who.name,
            &c.note,
            app.now(),
        )
        .await
        .map_err(ApiError::from);
    let (outcome, detail) = match &result {
        Ok(h) => (
            AuditOutcome::Done,
            format!(
                "version {}: {} figure{} confirmed",
                h.version,
                h.figures,
                if h.figures == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    super::record(app, who.audit("confirm figures", &target, outcome, &detail)).await?;
    result
}
