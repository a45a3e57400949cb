//! A nil return from the provider's page: the provider says it has nothing to report for a
//! period of a collection that allows it. The page first says what that means (received,
//! with no rows; the rows the period has now replaced), and lands it only once confirmed.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::{land_and_show, render};
use super::{Confirm, Nav, PageError, WithCsrf, guarded, local_time};
use crate::domain::RunKey;
use crate::registry::window::closes;
use crate::schedule::request;
use crate::schedule::upload::UploadError;
use crate::web::api::HandOver;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct NilForm {
    csrf: String,
    collection: String,
    period: String,
    #[serde(default)]
    confirmed: String,
    /// The version the confirmation page described (0: none), so that a version landed
    /// since is never replaced unseen.
    #[serde(default)]
    version: Option<i64>,
}

impl WithCsrf for NilForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn declare(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<NilForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let (who, form) = guarded(&app, &v, Action::Upload(&code), "nil return", &target, form).await?;
    let (collection, period) = (form.collection.trim(), form.period.trim());
    // Confirmed only from the confirmation page, which says which version it replaces.
    if form.confirmed != "yes" || form.version.is_none() {
        return match ask(&app, &v, &code, collection, period).await {
            Ok(confirm) => Ok(confirm.into_response()),
            Err(why) => {
                let message = (format!("Nothing was declared: {why}"), false);
                let page = render(&app, &v, &code, Some(message), None).await?;
                Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
            }
        };
    }
    // The page asking for confirmation said what it replaces: only that.
    let now_current = current(&app, collection, &code, period)
        .await
        .map(|c| c.map_or(0, |v| v.version));
    if let Ok(now_current) = now_current
        && Some(now_current) != form.version
    {
        let message = (
            format!(
                "Nothing was declared: version {now_current} of {collection} {period} has landed since you were asked to confirm. Look at it, and declare again if there is still nothing to report."
            ),
            false,
        );
        let page = render(&app, &v, &code, Some(message), None).await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    let over = HandOver {
        collection: collection.into(),
        period: period.into(),
        file: None,
        replace: true,
    };
    land_and_show(&app, &v, &who, &code, over, "Nothing was declared").await
}

/// The confirmation page, once the request is one Tally would take: what a nil return
/// means, and what it replaces. The reason in words when it is not.
async fn ask(
    app: &App,
    v: &Visitor,
    code: &str,
    collection: &str,
    period: &str,
) -> Result<Confirm, String> {
    let now = app.now();
    let said = |e: anyhow::Error| ApiError::from(e).to_string();
    let listed = app
        .registry
        .require_listed(collection, now)
        .await
        .map_err(said)?;
    let def = &listed.def;
    if !def.nil_return {
        return Err(UploadError::NoNilReturn(def.title.clone()).to_string());
    }
    let key: RunKey = request::by_hand(&app.registry, collection, code, period, now)
        .await
        .map_err(said)?;
    let name = app
        .registry
        .providers()
        .await
        .map_err(said)?
        .iter()
        .find(|p| p.code.as_str() == code)
        .map_or_else(|| code.to_owned(), |p| p.name.clone());
    let current = app.store().current_version(&key).await.map_err(said)?;
    let seen = current.as_ref().map_or(0, |v| v.version);
    let title = &def.title;
    let mut explain = vec![
        format!(
            "You are telling DAP and DHSC that {name} has nothing to report for {title}, {}.",
            key.period
        ),
        "It counts as received, with no rows: the national returns count the period as sent, and add nothing from it.".to_owned(),
    ];
    match current {
        Some(v) if !v.report.0["nil_return"].as_bool().unwrap_or(false) => explain.push(format!(
            "The period has {} rows now (version {}): the nil return replaces them, so no return built from now on counts any of them.",
            v.rows_accepted, v.version
        )),
        Some(v) => explain.push(format!(
            "The period is a nil return already (version {}): declaring it again changes nothing.",
            v.version
        )),
        None => {}
    }
    explain.push(format!(
        "If you find something to report, upload it as a correction until {}.",
        local_time(app.settings.timezone, closes(def, &key.period))
    ));
    Ok(Confirm {
        nav: Nav::of(v),
        heading: format!("Nothing to report for {title}, {}?", key.period),
        explain,
        action: format!("/providers/{code}/nil"),
        fields: vec![
            ("collection".into(), key.collection.clone()),
            ("period".into(), key.period.to_string()),
            ("version".into(), seen.to_string()),
            ("confirmed".into(), "yes".into()),
        ],
        button: "Declare nothing to report".into(),
        back: format!("/providers/{code}"),
    })
}

/// The period's current version, if the request names one Tally would take.
async fn current(
    app: &App,
    collection: &str,
    code: &str,
    period: &str,
) -> anyhow::Result<Option<crate::store::runs::ExtractVersion>> {
    let key = request::by_hand(&app.registry, collection, code, period, app.now()).await?;
    app.store().current_version(&key).await
}
