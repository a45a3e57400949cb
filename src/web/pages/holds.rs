//! Figures held for confirmation, on the provider's page: each version with figures far
//! from the provider's own recent ones, what they are against what was usual, and a button
//! to confirm them; a correction goes through the upload form as any other.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{PageError, WithCsrf, guarded, local_time};
use crate::registry::holds::HoldView;
use crate::web::api::holds::{Confirmation, confirmed};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// One held version, as the page shows it.
pub struct HoldBox {
    pub collection: String,
    pub title: String,
    pub period: String,
    pub version: i64,
    /// `1 figure` or `3 figures`.
    pub count: String,
    pub lines: Vec<String>,
    /// Lines held but not shown.
    pub more: i64,
    pub held_at: String,
    pub closes: String,
    /// Its amendment window is still open: it may be confirmed or corrected.
    pub open: bool,
}

/// The provider's holds awaiting confirmation, oldest period first.
pub async fn boxes(app: &App, code: &str) -> anyhow::Result<Vec<HoldBox>> {
    let tz = app.settings.timezone;
    let now = app.now();
    Ok(app
        .registry
        .holds_of(code, true)
        .await?
        .into_iter()
        .map(|h: HoldView| HoldBox {
            count: match h.hold.figures {
                1 => "1 figure".into(),
                n => format!("{n} figures"),
            },
            more: h.hold.figures - h.said.len() as i64,
            lines: h.said,
            held_at: local_time(tz, h.hold.held_at),
            open: h.closes.is_none_or(|t| now <= t),
            closes: h.closes.map_or_else(
                || "the end of its amendment window".into(),
                |t| local_time(tz, t),
            ),
            collection: h.hold.collection,
            title: h.title,
            period: h.hold.period,
            version: h.hold.version,
        })
        .collect())
}

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
