//! A provider's contact addresses, set on its page: whom Tally e-mails the notice of a new
//! collection, reminders, overdue notices and rejections.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::render;
use super::{Nav, PageError, WithCsrf, guarded};
use crate::domain::AuditOutcome;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct ContactsForm {
    csrf: String,
    contacts: String,
}

impl WithCsrf for ContactsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<ContactsForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(
        &app,
        &v,
        Action::Upload(&code),
        "set contacts",
        &target,
        form,
    )
    .await?;
    let typed: Vec<&str> = form.contacts.split(['\n', ',', ';']).collect();
    let (status, message) = match crate::providers::contacts(&typed) {
        Ok(list) => {
            app.store()
                .set_contacts(&code, &list)
                .await
                .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
            crate::web::api::record(
                &app,
                who.audit(
                    "set contacts",
                    &target,
                    AuditOutcome::Done,
                    &list.join(", "),
                ),
            )
            .await
            .map_err(|e| PageError(e, Nav::of(&v)))?;
            let said = if list.is_empty() {
                "Tally will e-mail nobody at this provider.".to_owned()
            } else {
                format!("Tally will e-mail {}.", list.join(", "))
            };
            (StatusCode::OK, (said, true))
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            (format!("The addresses were not saved: {e}."), false),
        ),
    };
    Ok((status, render(&app, &v, &code, Some(message), None).await?).into_response())
}
