//! Enquiries: a provider asks about a collection from its page; DAP answers on `/dap`, and
//! may publish the answer as the collection's FAQ (without who asked).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Nav, PageError, WithCsrf, guarded};
use crate::domain::AuditOutcome;
use crate::registry::enquiries::EnquiryError;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct AskForm {
    csrf: String,
    collection: String,
    question: String,
}

impl WithCsrf for AskForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    csrf: String,
    id: i64,
    answer: String,
    #[serde(default)]
    publish: Option<String>,
}

impl WithCsrf for AnswerForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn ask(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<AskForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(&app, &v, Action::Upload(&code), "ask", &target, form).await?;
    let outcome = app
        .registry
        .ask(
            &code,
            &form.collection,
            &who.name,
            &form.question,
            app.now(),
        )
        .await;
    let outcome = match outcome {
        Ok(asked) => Ok(asked),
        Err(e) if e.downcast_ref::<EnquiryError>().is_some() => Err(e.to_string()),
        Err(e) => return Err(PageError(ApiError::from(e), Nav::of(&v))),
    };
    let (status, message) = match outcome {
        Ok((id, title)) => {
            crate::web::api::record(
                &app,
                who.audit(
                    "ask",
                    &form.collection,
                    AuditOutcome::Done,
                    &format!("question {id}"),
                ),
            )
            .await
            .map_err(|e| PageError(e, Nav::of(&v)))?;
            (
                StatusCode::OK,
                (
                    format!(
                        "Your question about {title} is with DAP; the answer will be shown here."
                    ),
                    true,
                ),
            )
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            (format!("The question was not sent: {e}."), false),
        ),
    };
    Ok((
        status,
        super::provider::render(&app, &v, &code, Some(message), None).await?,
    )
        .into_response())
}

pub async fn answer(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<AnswerForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let (who, form) = guarded(&app, &v, Action::Decide, "answer", "question", form).await?;
    let publish = form.publish.as_deref() == Some("yes");
    let answered = app
        .registry
        .answer(form.id, &form.answer, &who.name, publish, app.now())
        .await;
    let (status, message) = match answered {
        Ok(()) => {
            crate::web::api::record(
                &app,
                who.audit(
                    "answer",
                    &format!("question {}", form.id),
                    AuditOutcome::Done,
                    if publish {
                        "published"
                    } else {
                        "to the provider"
                    },
                ),
            )
            .await
            .map_err(|e| PageError(e, Nav::of(&v)))?;
            let said = if publish {
                "The answer is on the provider's page, and published as the collection's FAQ."
            } else {
                "The answer is on the provider's page."
            };
            (StatusCode::OK, (said.to_owned(), true))
        }
        Err(e) => match e.downcast_ref::<EnquiryError>() {
            Some(EnquiryError::Answered) => (
                StatusCode::CONFLICT,
                (
                    "That question has been answered already, or there is no such question."
                        .to_owned(),
                    false,
                ),
            ),
            Some(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                (format!("The answer was not recorded: {e}."), false),
            ),
            None => return Err(PageError(ApiError::from(e), Nav::of(&v))),
        },
    };
    Ok((
        status,
        super::dap::render(&app, &v, Some(message), None).await?,
    )
        .into_response())
}
