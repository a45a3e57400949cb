//! The provider's sign-off forms: give or revoke a standing sign-off, sign off a pulled
//! period, or every period its page listed. Each goes through the API's own action, so it
//! is checked and audited the same, and answers with the page and what came of it.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::render;
use super::signoff::MOST_AT_ONCE;
use super::{PageError, WithCsrf, guarded};
use crate::web::api::signoffs::{GiveStanding, SignPeriod, given, revoked, signed};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct StandingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    from: String,
}

impl WithCsrf for StandingForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Debug, Deserialize)]
pub struct PeriodForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    period: String,
    version: i64,
}

impl WithCsrf for PeriodForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The page again, with what came of the action: a refusal is said on it; anything else
/// is the service's fault, and is answered (and logged) as such.
async fn answer<T>(
    app: &App,
    v: &Visitor,
    code: &str,
    done: Result<T, ApiError>,
    said: impl Fn(T) -> String,
    nothing: &str,
) -> Result<Response, PageError> {
    let (status, message) = match done {
        Ok(t) => (StatusCode::OK, (said(t), true)),
        Err(ApiError::Internal(e)) => {
            return Err(PageError(ApiError::Internal(e), super::Nav::of(v)));
        }
        Err(e) => (e.status(), (format!("{nothing}: {e}."), false)),
    };
    let page = render(app, v, code, Some(message), None).await?;
    Ok((status, page).into_response())
}

/// `POST /providers/{code}/signoffs/standing`: gives a standing sign-off.
pub async fn give(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<StandingForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let name = "give standing sign-off";
    let (who, form) = guarded(&app, &v, Action::Upload(&code), name, &target, form).await?;
    let from = form.from.trim();
    let done = match from {
        "" => Ok(None),
        d => d.parse::<chrono::NaiveDate>().map(Some).map_err(|_| {
            ApiError::Unprocessable(format!(
                "the first day must be a date like 2026-12-01, not {d:?}"
            ))
        }),
    };
    let done = match done {
        Ok(from) => {
            let g = GiveStanding {
                collection: form.collection.trim().to_owned(),
                from,
            };
            given(&app, &who, &code, &g).await
        }
        Err(e) => Err(e),
    };
    answer(
        &app,
        &v,
        &code,
        done,
        |s| {
            format!(
                "Standing sign-off given: every period of {} that starts on or after {}, those already pulled from your source among them, is signed off in your name, {}, until you revoke it.",
                s.collection,
                s.from_day.format("%-d %B %Y"),
                s.given_by
            )
        },
        "No sign-off was given",
    )
    .await
}

/// `POST /providers/{code}/signoffs/revoke`: revokes the standing sign-off of a collection.
pub async fn revoke(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<StandingForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let name = "revoke standing sign-off";
    let (who, form) = guarded(&app, &v, Action::Upload(&code), name, &target, form).await?;
    let done = revoked(&app, &who, &code, form.collection.trim()).await;
    answer(
        &app,
        &v,
        &code,
        done,
        |s| {
            format!(
                "Standing sign-off of {} revoked. Periods pulled from now on wait for you to sign each off here; those pulled before stay signed off.",
                s.collection
            )
        },
        "Nothing was revoked",
    )
    .await
}

/// `POST /providers/{code}/signoffs/period`: signs off one pulled period.
pub async fn sign(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<PeriodForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let name = "sign off period";
    let (who, form) = guarded(&app, &v, Action::Upload(&code), name, &target, form).await?;
    let s = SignPeriod {
        collection: form.collection.trim().to_owned(),
        period: form.period.trim().to_owned(),
        version: form.version,
    };
    let done = signed(&app, &who, &code, &s).await;
    answer(
        &app,
        &v,
        &code,
        done,
        |p| {
            format!(
                "Signed off: {} {} (version {}), in your name, {}.",
                p.collection,
                p.period,
                p.version,
                p.signed_by.unwrap_or_default()
            )
        },
        "Nothing was signed off",
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct AllForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    items: String,
}

impl WithCsrf for AllForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /providers/{code}/signoffs/all`: signs off every period the page listed, each
/// as the period-by-period form would (and audited so); those refused are said.
pub async fn sign_all(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Form<AllForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let target: String = code.chars().take(40).collect();
    let name = "sign off period";
    let (who, form) = guarded(&app, &v, Action::Upload(&code), name, &target, form).await?;
    let items: Vec<&str> = form
        .items
        .split(';')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    let mut signed_off = 0;
    let mut refused = Vec::new();
    for item in items.iter().take(MOST_AT_ONCE) {
        let parts: Vec<&str> = item.split(' ').collect();
        let asked = match parts[..] {
            [collection, period, version] => version.parse().ok().map(|version| SignPeriod {
                collection: collection.to_owned(),
                period: period.to_owned(),
                version,
            }),
            _ => None,
        };
        let Some(asked) = asked else {
            refused.push(format!("{item:?} is not a period the page listed"));
            continue;
        };
        match signed(&app, &who, &code, &asked).await {
            Ok(_) => signed_off += 1,
            Err(ApiError::Internal(e)) => {
                return Err(PageError(ApiError::Internal(e), super::Nav::of(&v)));
            }
            Err(e) => refused.push(e.to_string()),
        }
    }
    let mut said = format!(
        "Signed off {signed_off} period{} in your name, {}.",
        if signed_off == 1 { "" } else { "s" },
        who.name
    );
    // At most MOST_AT_ONCE are listed for one press, and more may have been pulled since.
    let left = app
        .registry
        .signoffs_of(&code, app.now())
        .await
        .map_err(|e| PageError(ApiError::Internal(e), super::Nav::of(&v)))?
        .awaiting
        .len();
    if left > 0 {
        said.push_str(&format!(
            " {left} more still await{} your sign-off, listed below.",
            if left == 1 { "s" } else { "" }
        ));
    }
    if !refused.is_empty() {
        said.push_str(&format!(" Not signed off: {}.", refused.join("; ")));
    }
    let status = if signed_off == 0 && !refused.is_empty() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let page = render(&app, &v, &code, Some((said, refused.is_empty())), None).await?;
    Ok((status, page).into_response())
}
