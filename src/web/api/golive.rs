//! Going live, through the API as on the pages: DAP reads who is ready for each coming
//! collection and every notification sent; providers ask questions about collections and
//! read the answers; DAP reads and answers them.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::providers::provider_code;
use crate::domain::AuditOutcome;
use crate::registry::readiness::CollectionReadiness;
use crate::store::enquiries::EnquiryRow;
use crate::store::notices::NotificationRow;
use crate::web::app::App;
use crate::web::auth::{Action, Bearer};
use crate::web::error::{ApiError, ErrorBody};

/// Readiness for each collection listed with notice and not yet owed: of the providers
/// that will owe it, whose source passed a dry run, whose file passed, who tried and have
/// not passed yet, and who did nothing, each with its newest dry run.
#[utoipa::path(
    get, path = "/readiness", tag = "governance",
    responses(
        (status = 200, body = Vec<CollectionReadiness>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn readiness(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<CollectionReadiness>>, ApiError> {
    who.require(Action::Decide)?;
    Ok(Json(app.registry.readiness(app.now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Newest {
    /// How many, newest first (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The notifications Tally sent or tried, newest first: to whom, about what, and whether
/// the mail server took each.
#[utoipa::path(
    get, path = "/notifications", tag = "governance", params(Newest),
    responses(
        (status = 200, body = Vec<NotificationRow>),
        (status = 400, body = ErrorBody, description = "The limit is not a number from 1 to 1,000"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn notifications(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    q: Result<Query<Newest>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<NotificationRow>>, ApiError> {
    who.require(Action::Decide)?;
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} is not from 1 to 1,000"
        )));
    }
    Ok(Json(app.store().notifications(i64::from(limit)).await?))
}

/// Every question providers have asked, newest first, with DAP's answers.
#[utoipa::path(
    get, path = "/questions", tag = "governance",
    responses(
        (status = 200, body = Vec<EnquiryRow>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn questions(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
) -> Result<Json<Vec<EnquiryRow>>, ApiError> {
    who.require(Action::Decide)?;
    Ok(Json(app.store().enquiries(None, None).await?))
}

/// DAP's answer to a question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// Plain words, 5 to 4,000 characters.
    pub answer: String,
    /// Publish the question and answer, without who asked, as the collection's FAQ.
    #[serde(default)]
    pub publish: bool,
}

/// Answers a question. The provider reads the answer on its page and through the API.
#[utoipa::path(
    post, path = "/questions/{id}/answer", tag = "governance", request_body = AnswerBody,
    params(("id" = i64, Path, description = "The question")),
    responses(
        (status = 204, description = "Answered"),
        (status = 400, body = ErrorBody, description = "The body is not JSON of this shape"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Answered already, or there is no such question"),
        (status = 415, body = ErrorBody, description = "The body is not sent as JSON"),
        (status = 422, body = ErrorBody, description = "The answer is too short, too long or holds control characters"),
    )
)]
pub async fn answer(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(id): Path<i64>,
    body: Result<Json<AnswerBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let target = format!("question {id}");
    super::allowed(&app, &who, Action::Decide, "answer", &target).await?;
    let Json(body) = body?;
    app.registry
        .answer(id, &body.answer, &who.name, body.publish, app.now())
        .await?;
    let detail = if body.publish {
        "published"
    } else {
        "to the provider"
    };
    super::record(
        &app,
        who.audit("answer", &target, AuditOutcome::Done, detail),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A provider's question about a collection it owes or that is coming.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    pub collection: String,
    /// Plain words, 5 to 4,000 characters.
    pub question: String,
}

/// The question as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Asked {
    pub id: i64,
    pub collection: String,
}

/// One provider's questions, newest first, with DAP's answers.
#[utoipa::path(
    get, path = "/providers/{code}/questions", tag = "providers",
    params(("code" = String, Path, description = "ODS code or CQC location id")),
    responses(
        (status = 200, body = Vec<EnquiryRow>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn provider_questions(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
) -> Result<Json<Vec<EnquiryRow>>, ApiError> {
    let code = provider_code(&app, &who, &code).await?;
    Ok(Json(app.store().enquiries(None, Some(&code)).await?))
}

/// Asks DAP a question about a collection the provider owes or that is coming for it.
#[utoipa::path(
    post, path = "/providers/{code}/questions", tag = "providers", request_body = AskBody,
    params(("code" = String, Path, description = "The provider asking")),
    responses(
        (status = 201, body = Asked),
        (status = 400, body = ErrorBody, description = "The body is not JSON of this shape"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "The body is not sent as JSON"),
        (status = 422, body = ErrorBody, description = "Not a collection the provider owes or that is coming for it, or a question too short, too long or with control characters"),
    )
)]
pub async fn ask(
    State(app): State<Arc<App>>,
    Bearer(who): Bearer,
    Path(code): Path<String>,
    body: Result<Json<AskBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Asked>), ApiError> {
    let target: String = code.chars().take(40).collect();
    super::allowed(&app, &who, Action::Upload(&code), "ask", &target).await?;
    let Json(body) = body?;
    let (id, _) = app
        .registry
        .ask(
            &code,
            &body.collection,
            &who.name,
            &body.question,
            app.now(),
        )
        .await?;
    super::record(
        &app,
        who.audit(
            "ask",
            &body.collection,
            AuditOutcome::Done,
            &format!("question {id}"),
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Asked {
            id,
            collection: body.collection,
        }),
    ))
}
