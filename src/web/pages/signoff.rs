//! Sign-off on the provider's page: the standing sign-offs in force (with who gave them and
//! from when), the form to give or revoke one, and the pulled periods awaiting a sign-off
//! each, with their deadlines.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::provider::render;
use super::{PageError, WithCsrf, guarded, local_time};
use crate::web::api::signoffs::{GiveStanding, SignPeriod, given, revoked, signed};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// A standing sign-off, as the page shows it.
pub struct StandingLine {
    pub collection: String,
    pub title: String,
    pub from: String,
    pub given: String,
    /// How it ended, for one revoked.
    pub revoked: Option<String>,
}

/// The most periods one press of "Sign off all" signs off.
const MOST_AT_ONCE: usize = 400;

/// A pulled period awaiting sign-off, as the page shows it.
pub struct AwaitingLine {
    pub collection: String,
    pub title: String,
    pub period: String,
    pub version: i64,
    pub landed: String,
    pub deadline: String,
    /// Its deadline has passed: it still counts as received, marked unsigned.
    pub overdue: bool,
}

/// The page's sign-off section.
pub struct SignOffBox {
    pub in_force: Vec<StandingLine>,
    pub revoked: Vec<StandingLine>,
    pub awaiting: Vec<AwaitingLine>,
    /// Collections a standing sign-off may be given for: (slug, title).
    pub may_stand: Vec<(String, String)>,
    /// Today, the form's default first day.
    pub today: String,
    /// Every period listed, as `collection period version` separated by `;`: what "Sign
    /// off all" signs off, and nothing pulled since the page was shown.
    pub all: String,
}

/// `code`'s sign-offs, as its page shows them.
pub async fn section(app: &App, code: &str) -> anyhow::Result<SignOffBox> {
    let tz = app.settings.timezone;
    let now = app.now();
    let s = app.registry.signoffs_of(code, now).await?;
    let in_force = app.store().in_force().await?;
    let title_of = |slug: &str| {
        in_force
            .iter()
            .find(|d| d.slug == slug)
            .map_or_else(|| slug.to_owned(), |d| d.definition.title.clone())
    };
    let line = |st: &crate::store::signoffs::Standing| StandingLine {
        collection: st.collection.clone(),
        title: title_of(&st.collection),
        from: st.from_day.format("%-d %B %Y").to_string(),
        given: format!("{}, {}", st.given_by, local_time(tz, st.given_at)),
        revoked: st.revoked_at.map(|at| {
            format!(
                "revoked by {}, {}",
                st.revoked_by.as_deref().unwrap_or("someone"),
                local_time(tz, at)
            )
        }),
    };
    Ok(SignOffBox {
        in_force: s
            .standing
            .iter()
            .filter(|x| x.in_force())
            .map(line)
            .collect(),
        // The most recent first, and only a few: the API lists them all.
        revoked: s
            .standing
            .iter()
            .rev()
            .filter(|x| !x.in_force())
            .take(5)
            .map(line)
            .collect(),
        awaiting: s
            .awaiting
            .iter()
            .map(|a| AwaitingLine {
                collection: a.collection.clone(),
                title: a.title.clone(),
                period: a.period.clone(),
                version: a.version,
                landed: local_time(tz, a.landed_at),
                deadline: local_time(tz, a.deadline),
                overdue: a.deadline < now,
            })
            .collect(),
        all: s
            .awaiting
            .iter()
            .take(MOST_AT_ONCE)
            .map(|a| format!("{} {} {}", a.collection, a.period, a.version))
            .collect::<Vec<_>>()
            .join(";"),
        may_stand: s.may_stand,
        today: app.today().to_string(),
    })
}

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
                "Standing sign-off given: every period of {} pulled from your source from {} on is signed off in your name, {}, until you revoke it.",
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
    if items.len() > MOST_AT_ONCE {
        said.push_str(&format!(
            " At most {MOST_AT_ONCE} are signed off at once: press it again for the rest."
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
