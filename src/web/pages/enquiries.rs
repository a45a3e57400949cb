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
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// The longest question or answer taken: a page of text.
const MOST_CHARS: usize = 4000;

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

/// Plain words: something to read, not too long, no control characters but line breaks.
fn words(what: &str, text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.chars().count() < 5 {
        return Err(format!("the {what} is empty or too short to read"));
    }
    if t.chars().count() > MOST_CHARS {
        return Err(format!("the {what} is longer than {MOST_CHARS} characters"));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(format!("the {what} holds control characters"));
    }
    Ok(t.replace("\r\n", "\n"))
}

pub async fn ask(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<AskForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(&app, &v, Action::Upload(&code), "ask", &target, form).await?;
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let now = app.now();
    // Only about a collection in force or coming that asks this provider's kind.
    let kind = app
        .registry
        .providers()
        .await
        .map_err(fail)?
        .iter()
        .find(|p| p.code.as_str() == code)
        .map(|p| p.kind);
    let asked = app
        .registry
        .licensed(now)
        .await
        .map_err(fail)?
        .into_iter()
        .find(|l| {
            l.def.slug.as_str() == form.collection
                && kind.is_some_and(|k| l.def.respondents.kinds.contains(&k))
        });
    let outcome = match (asked, words("question", &form.question)) {
        (None, _) => Err("ask about a collection you owe or that is coming".to_owned()),
        (_, Err(e)) => Err(e),
        (Some(l), Ok(q)) => {
            let id = app
                .store()
                .ask(l.def.slug.as_str(), &code, &who.name, &q, now)
                .await
                .map_err(fail)?;
            Ok((id, l.def.title))
        }
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
    let (status, message) = match words("answer", &form.answer) {
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            (format!("The answer was not recorded: {e}."), false),
        ),
        Ok(text) => {
            let done = app
                .store()
                .answer(form.id, &text, &who.name, publish, app.now())
                .await
                .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
            if done {
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
            } else {
                (
                    StatusCode::CONFLICT,
                    (
                        "That question has been answered already, or there is no such question."
                            .to_owned(),
                        false,
                    ),
                )
            }
        }
    };
    Ok((
        status,
        super::dap::render(&app, &v, Some(message), None).await?,
    )
        .into_response())
}
