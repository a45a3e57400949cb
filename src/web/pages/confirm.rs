//! The provider confirms, on its page, that the held figures of a version are right.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{PageError, WithCsrf, guarded};
use crate::web::api::holds::{Confirmation, confirmed};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    collection: String,
    period: String,
    version: i64,
    #[serde(default)]
    note: String,
}

impl WithCsrf for ConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The provider says the held figures of a version are right.
pub async fn confirm(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<ConfirmForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(
        &app,
        &v,
        Action::Upload(&code),
        "confirm figures",
        &target,
        form,
    )
    .await?;
    let asked = Confirmation {
        collection: form.collection,
        period: form.period,
        version: form.version,
        note: form.note,
    };
    let (status, message) = match confirmed(&app, &who, &code, &asked).await {
        Ok(h) => (
            axum::http::StatusCode::OK,
            (
                format!(
                    "Thank you: the held figures of {} {} (version {}) are confirmed. Returns built from now on treat them as final.",
                    h.collection, h.period, h.version
                ),
                true,
            ),
        ),
        Err(ApiError::Internal(e)) => {
            return Err(PageError(ApiError::Internal(e), super::Nav::of(&v)));
        }
        Err(e) => (e.status(), (format!("Nothing was confirmed: {e}."), false)),
    };
    Ok((
        status,
        super::provider::render(&app, &v, &code, Some(message), None).await?,
    )
        .into_response())
}
