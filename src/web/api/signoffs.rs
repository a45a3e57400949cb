//! Sign-off of pulled periods, through the API as on the provider's page: a provider reads
//! its standing sign-offs and the pulled periods awaiting its sign-off, gives or revokes a
//! standing sign-off of a collection, and signs off a period.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::providers::provider_code;
use crate::registry::signoff::SignOffs;
use crate::store::signoffs::{PulledVersion, Standing};
use crate::web::app::App;
use crate::web::auth::{Action, Bearer, Principal};
use crate::web::error::{ApiError, ErrorBody};

/// The provider's standing sign-offs (revoked ones too), the pulled periods awaiting its
/// sign-off, and the collections it may give a standing sign-off for.
#[utoipa::path(
    get, path = "/providers/{code}/signoffs", tag = "providers",
    params(("code" = String, Path, description = "The provider")),
    responses(
        (status = 200, body = SignOffs),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
) -> Result<Json<SignOffs>, ApiError> {
    let code = provider_code(&app, &who, &code).await?;
    Ok(Json(app.registry.signoffs_of(&code, app.now()).await?))
}

/// A standing sign-off to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveStanding {
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
    /// It covers the periods that start on or after this day, `YYYY-MM-DD`, at most a year
    /// from today either way (default: the first day of the earliest period awaiting the
    /// provider's sign-off, so that it covers what waits; today when none does).
    pub from: Option<NaiveDate>,
}

/// Gives a standing sign-off of a collection, in the caller's name: every period pulled
/// from the provider's source that starts on or after `from` is signed off, until revoked.
#[utoipa::path(
    post, path = "/providers/{code}/signoffs/standing", tag = "providers", request_body = GiveStanding,
    params(("code" = String, Path, description = "The provider giving it")),
    responses(
        (status = 201, body = Standing, description = "Given"),
        (status = 400, body = ErrorBody, description = "The body is not valid JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "One is in force already"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "JSON of another shape, a collection not in force or not asked of the provider, or a day more than a year away"),
    )
)]
pub async fn give(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<GiveStanding>, JsonRejection>,
) -> Result<(StatusCode, Json<Standing>), ApiError> {
    let code = allowed(&app, &who, &code, "give standing sign-off").await?;
    let Json(g) = body?;
    Ok((
        StatusCode::CREATED,
        Json(given(&app, &who, &code, &g).await?),
    ))
}

/// Gives a standing sign-off and audits what came of it: for the API and the page alike.
pub(crate) async fn given(
    app: &App,
    who: &Principal,
    code: &str,
    g: &GiveStanding,
) -> Result<Standing, ApiError> {
    let collection = g.collection.trim();
    let result = app
        .registry
        .give_standing(code, collection, g.from, &who.name, app.now())
        .await;
    super::audited(
        app,
        who,
        "give standing sign-off",
        &target(collection, code),
        result,
        |s| format!("from {}", s.from_day),
    )
    .await
}

/// Which collection's standing sign-off to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeStanding {
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
}

/// Revokes the standing sign-off of a collection in force: periods pulled from now on
/// await a sign-off each. Those pulled before stay signed off.
#[utoipa::path(
    post, path = "/providers/{code}/signoffs/revocations", tag = "providers", request_body = RevokeStanding,
    params(("code" = String, Path, description = "The provider revoking it")),
    responses(
        (status = 200, body = Standing, description = "Revoked"),
        (status = 400, body = ErrorBody, description = "The body is not valid JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "None is in force"),
        (status = 409, body = ErrorBody, description = "Revoked by someone else meanwhile"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "JSON of another shape"),
    )
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<RevokeStanding>, JsonRejection>,
) -> Result<Json<Standing>, ApiError> {
    let code = allowed(&app, &who, &code, "revoke standing sign-off").await?;
    let Json(r) = body?;
    Ok(Json(revoked(&app, &who, &code, r.collection.trim()).await?))
}

/// Revokes a standing sign-off and audits what came of it.
pub(crate) async fn revoked(
    app: &App,
    who: &Principal,
    code: &str,
    collection: &str,
) -> Result<Standing, ApiError> {
    let result = app
        .registry
        .revoke_standing(code, collection, &who.name, app.now())
        .await;
    super::audited(
        app,
        who,
        "revoke standing sign-off",
        &target(collection, code),
        result,
        |s| format!("given by {} from {}", s.given_by, s.from_day),
    )
    .await
}

/// A pulled period to sign off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignPeriod {
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 64)]
    pub collection: String,
    /// The period, e.g. `2026-11-24`.
    #[schema(min_length = 1, max_length = 16)]
    pub period: String,
    /// The version looked at: a newer one is not signed off unseen.
    #[schema(minimum = 1)]
    pub version: i64,
}

/// Signs off a pulled period's current version in the caller's name.
#[utoipa::path(
    post, path = "/providers/{code}/signoffs/periods", tag = "providers", request_body = SignPeriod,
    params(("code" = String, Path, description = "The provider signing off")),
    responses(
        (status = 200, body = PulledVersion, description = "Signed off"),
        (status = 400, body = ErrorBody, description = "The body is not valid JSON"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Nothing of that period has landed"),
        (status = 409, body = ErrorBody, description = "Signed off already, or a newer version was pulled since"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "JSON of another shape, not a period of the collection, a period sent by hand, or one closed to changes"),
    )
)]
pub async fn sign(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<SignPeriod>, JsonRejection>,
) -> Result<Json<PulledVersion>, ApiError> {
    let code = allowed(&app, &who, &code, "sign off period").await?;
    let Json(s) = body?;
    Ok(Json(signed(&app, &who, &code, &s).await?))
}

/// Signs a period off and audits what came of it.
pub(crate) async fn signed(
    app: &App,
    who: &Principal,
    code: &str,
    s: &SignPeriod,
) -> Result<PulledVersion, ApiError> {
    let (collection, period) = (s.collection.trim(), s.period.trim());
    let result = app
        .registry
        .sign_period(code, collection, period, s.version, &who.name, app.now())
        .await;
    let what = format!("{collection} {period}");
    super::audited(
        app,
        who,
        "sign off period",
        &target(&what, code),
        result,
        |v| format!("version {}", v.version),
    )
    .await
}

/// The provider's code, when `who` may act for it.
async fn allowed(app: &App, who: &Principal, code: &str, name: &str) -> Result<String, ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(app, who, Action::Upload(code), name, &target).await?;
    provider_code(app, who, code).await
}

/// What a sign-off acts on, for the audit log.
fn target(what: &str, code: &str) -> String {
    format!("{what} {code}").chars().take(200).collect()
}
