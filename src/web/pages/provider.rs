//! A provider's page: what it owes this week, each run and the reports to act on, the
//! upload form, and its burden dashboard.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::{Nav, PageError, check_csrf, hours, signed_in};
use crate::domain::{Arrival, Period, RunStatus};
use crate::landing::Report;
use crate::store::runs::RunFilter;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

pub struct RunLine {
    id: i64,
    collection: String,
    period: String,
    status: RunStatus,
    how: Arrival,
    accepted: String,
    rejected: String,
    note: String,
}

/// A period owed this week, and where its run stands.
pub struct Owed {
    collection: String,
    licence: String,
    period: String,
    status: RunStatus,
}

/// A validation report the provider should act on.
pub struct ReportBox {
    run: i64,
    collection: String,
    period: String,
    text: String,
}

/// One collection's submissions and hours in one month.
pub struct MonthLine {
    month: String,
    collection: String,
    submissions: u32,
    manual: String,
    automated: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "provider.html")]
pub struct ProviderPage {
    nav: Nav,
    code: String,
    name: String,
    message: Option<String>,
    message_class: &'static str,
    week: Vec<Owed>,
    runs: Vec<RunLine>,
    reports: Vec<ReportBox>,
    can_upload: bool,
    /// What it may upload: (slug, title).
    owed: Vec<(String, String)>,
    manual: String,
    automated: String,
    saved: String,
    automated_since: String,
    chart_title: String,
    chart: String,
    months: Vec<MonthLine>,
}

async fn render(
    app: &App,
    v: &Visitor,
    code: &str,
    message: Option<(String, bool)>,
) -> Result<ProviderPage, PageError> {
    let nav = Nav::of(v);
    let who = signed_in(v)?;
    who.require(Action::SeeProvider(code))
        .map_err(|e| PageError(e, nav.clone()))?;
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    let providers = app.registry.providers().await.map_err(fail)?;
    let provider = providers
        .iter()
        .find(|p| p.code.as_str() == code)
        .ok_or_else(|| {
            PageError(
                ApiError::NotFound(format!("there is no provider {code}")),
                nav.clone(),
            )
        })?;
    let now = app.now();
    let runs = app
        .store()
        .runs(&RunFilter {
            provider: Some(code.into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .map_err(fail)?;
    // What it owes: each licensed collection asked of its kind while it is open (as
    // `Registry::obligations` has it), read once for the week's table and the upload form.
    let owed: Vec<_> = app
        .registry
        .licensed(now)
        .await
        .map_err(fail)?
        .into_iter()
        .filter(|l| {
            let today = now.with_timezone(&app.settings.timezone).date_naive();
            l.def.respondents.kinds.contains(&provider.kind) && provider.is_open_on(today)
        })
        .collect();
    // Collections are shown by their titles; a run of one no longer in force keeps its slug.
    let titles = super::titles(app).await.map_err(fail)?;
    let title = |slug: &str| titles.get(slug).cloned().unwrap_or_else(|| slug.to_owned());
    // This week: each period of what it owes that ended in the last seven days.
    let mut week = Vec::new();
    for l in &owed {
        let slug = l.def.slug.as_str();
        let today = now.with_timezone(&l.def.frequency.timezone).date_naive();
        let mut seen = std::collections::BTreeSet::new();
        for back in 1..=7 {
            // Periods whose last day was one of the last seven (`end` is the day after).
            let p = Period::containing(l.def.frequency.period, today - Duration::days(back));
            let last = p.end() - Duration::days(1);
            if last >= today || last < today - Duration::days(7) || !seen.insert(p.to_string()) {
                continue;
            }
            let status = runs
                .iter()
                .find(|r| r.collection == slug && r.period == p.to_string())
                .map_or(RunStatus::Due, |r| r.status);
            week.push(Owed {
                collection: title(slug),
                licence: l.licence_number.clone(),
                period: p.to_string(),
                status,
            });
        }
    }
    let mut reports = Vec::new();
    for r in runs
        .iter()
        .filter(|r| r.status == RunStatus::Rejected || r.rows_rejected.unwrap_or(0) > 0)
        .take(5)
    {
        if let Some(json) = app.store().run_report(r.id).await.map_err(fail)?
            && let Ok(report) = serde_json::from_value::<Report>(json)
        {
            reports.push(ReportBox {
                run: r.id,
                collection: title(&r.collection),
                period: r.period.clone(),
                text: report.text(),
            });
        }
    }
    let burden = app
        .registry
        .provider_burden_from(provider, &runs, now)
        .await
        .map_err(fail)?;
    let labels: Vec<String> = burden.months.iter().map(|m| m.month.clone()).collect();
    let manual: Vec<f64> = burden.months.iter().map(|m| m.manual_hours).collect();
    let automated: Vec<f64> = burden.months.iter().map(|m| m.automated_hours).collect();
    let chart_title = format!("Staff hours a month on central returns, {}", provider.name);
    let (message_class, message) = super::callout(message);
    Ok(ProviderPage {
        code: code.into(),
        name: provider.name.clone(),
        message,
        message_class,
        week,
        runs: runs
            .iter()
            .take(30)
            .map(|r| RunLine {
                id: r.id,
                collection: title(&r.collection),
                period: r.period.clone(),
                status: r.status,
                how: r.arrived,
                accepted: r.rows_accepted.map(|n| n.to_string()).unwrap_or_default(),
                rejected: r.rows_rejected.map(|n| n.to_string()).unwrap_or_default(),
                note: r.error.clone().unwrap_or_default(),
            })
            .collect(),
        reports,
        can_upload: who.may(Action::Upload(code)),
        owed: owed
            .iter()
            .map(|l| (l.def.slug.to_string(), l.def.title.clone()))
            .collect(),
        manual: hours(burden.manual_hours),
        automated: hours(burden.automated_hours),
        saved: hours(burden.saved_hours),
        automated_since: burden
            .automated_since
            .map(|d| d.format("%-d %B %Y").to_string())
            .unwrap_or_else(|| "not yet".into()),
        chart: crate::web::charts::stacked_hours(&chart_title, &labels, &manual, &automated),
        chart_title,
        months: burden
            .months
            .iter()
            .flat_map(|m| {
                m.collections.iter().map(|c| MonthLine {
                    month: m.month.clone(),
                    collection: c.collection.clone(),
                    submissions: c.submissions,
                    manual: hours(c.manual_hours),
                    automated: hours(c.automated_hours),
                })
            })
            .collect(),
        nav,
    })
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
) -> Result<ProviderPage, PageError> {
    render(&app, &v, &code, None).await
}

pub async fn upload(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?.clone();
    // Refused (and audited) before the form is read, as the API's upload is.
    let target: String = code.chars().take(40).collect();
    crate::web::api::allowed(&app, &who, Action::Upload(&code), "upload", &target)
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let form = form.map_err(|e| {
        PageError(
            ApiError::BadRequest(format!("send the file as a form upload: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    // A form that cannot be read is refused (and logged) before its CSRF field can be
    // checked, so it is not put in the audit log under the signed-in name.
    let form = crate::web::api::read_form(form, &app)
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    check_csrf(&app, &v, &form.csrf, "upload").await?;
    let (status, message) = match crate::web::api::land_upload(&app, &who, &code, form).await {
        Ok(u) if u.status.done() => (StatusCode::OK, (u.summary(), true)),
        Ok(u) => (StatusCode::UNPROCESSABLE_ENTITY, (u.summary(), false)),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e @ ApiError::ConfirmReplace(_)) => (
            e.status(),
            (
                format!(
                    "{e} To replace them, tick \"This file replaces the period's rows\" and upload it again."
                ),
                false,
            ),
        ),
        Err(e) => (e.status(), (format!("The file was not taken: {e}"), false)),
    };
    Ok((status, render(&app, &v, &code, Some(message)).await?).into_response())
}
