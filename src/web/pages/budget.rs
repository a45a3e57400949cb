//! `/dap/budget`: DAP sets the cap on total burden and the reduction target (baseline, goal
//! and the date to reach it), each change with a published reason; the trajectory is drawn
//! with the cap and today's estimate.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

use super::{Nav, PageError, check_csrf, hours, local_time, signed_in};
use crate::domain::AuditOutcome;
use crate::registry::views::BudgetChange;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

#[derive(Template, WebTemplate)]
#[template(path = "budget.html")]
pub struct BudgetPage {
    nav: Nav,
    message: Option<String>,
    message_class: &'static str,
    total: String,
    allowed: String,
    set: String,
    chart_title: String,
    chart: String,
    /// The form's fields, as stored or as typed when a change was refused.
    form: BudgetForm,
}

/// The budget form as typed: every field text, so that a refused change is shown back as
/// it was entered.
#[derive(Deserialize, Default, Clone)]
pub struct BudgetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cap: String,
    #[serde(default)]
    baseline: String,
    #[serde(default)]
    baseline_date: String,
    #[serde(default)]
    goal: String,
    #[serde(default)]
    target_date: String,
    #[serde(default)]
    reason: String,
}

/// A figure as a form shows it: `30000`, not `30,000.0`.
fn figure(h: Option<f64>) -> String {
    h.map(|h| {
        if h.fract() == 0.0 {
            format!("{h:.0}")
        } else {
            h.to_string()
        }
    })
    .unwrap_or_default()
}

async fn render(
    app: &App,
    v: &Visitor,
    message: Option<(String, bool)>,
    typed: Option<BudgetForm>,
) -> Result<BudgetPage, PageError> {
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    let now = app.now();
    let report = app.registry.burden(now).await.map_err(fail)?;
    let t = crate::web::api::trajectory_of(&report);
    let b = report.budget.as_ref();
    let history = app.registry.burden_history(now).await.map_err(fail)?;
    let line: Vec<(NaiveDate, f64)> = t.points.iter().map(|p| (p.on, p.allowed_hours)).collect();
    let chart_title = "The trajectory to the target, DAP's cap, and the estimated burden";
    let form = typed.unwrap_or_else(|| BudgetForm {
        cap: figure(b.and_then(|b| b.cap_hours)),
        baseline: figure(b.and_then(|b| b.baseline_hours)),
        baseline_date: b
            .and_then(|b| b.baseline_date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        goal: figure(b.and_then(|b| b.goal_hours)),
        target_date: b
            .and_then(|b| b.target_date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        ..BudgetForm::default()
    });
    let (message_class, message) = super::callout(message);
    Ok(BudgetPage {
        nav: Nav::of(v),
        message,
        message_class,
        total: format!("{} hours a year", hours(report.total_hours)),
        allowed: report
            .trajectory_hours
            .map(|h| format!("{} hours a year", hours(h)))
            .unwrap_or_else(|| "no target set".into()),
        set: b
            .map(|b| {
                format!(
                    "Last set by {} on {}: {}",
                    b.set_by,
                    local_time(app.settings.timezone, b.set_at),
                    b.reason
                )
            })
            .unwrap_or_else(|| "No budget has been set yet.".into()),
        chart: crate::web::charts::trajectory(
            chart_title,
            &line,
            &history,
            b.and_then(|b| b.cap_hours),
        ),
        chart_title: chart_title.into(),
        form,
    })
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<BudgetPage, PageError> {
    super::dap::dap_only(&v)?;
    render(&app, &v, None, None).await
}

/// A field's hours: empty is "leave as it is"; anything else must be a number.
fn hours_field(name: &str, text: &str) -> Result<Option<f64>, String> {
    let t = text.trim().replace(',', "");
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .ok()
        .filter(|h| h.is_finite())
        .map(Some)
        .ok_or_else(|| {
            format!(
                "the {name} must be a number of hours a year, like 30000, not \"{}\"",
                text.trim()
            )
        })
}

pub async fn set(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<BudgetForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let who = signed_in(&v)?;
    crate::web::api::allowed(&app, who, Action::Decide, "set_budget", "budget")
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let Form(form) = form.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the budget form is not whole: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    check_csrf(&app, &v, &form.csrf, "set_budget").await?;
    let read = || -> Result<BudgetChange, String> {
        Ok(BudgetChange {
            cap_hours: hours_field("cap", &form.cap)?,
            baseline_hours: hours_field("baseline", &form.baseline)?,
            baseline_date: super::form_date("baseline date", &form.baseline_date)?,
            goal_hours: hours_field("goal", &form.goal)?,
            target_date: super::form_date("target date", &form.target_date)?,
        })
    };
    let set = match read() {
        Ok(change) => app
            .registry
            .set_budget(change, &who.name, &form.reason, app.now())
            .await
            .map_err(ApiError::from),
        Err(m) => Err(ApiError::Unprocessable(m)),
    };
    let (outcome, detail) = match &set {
        Ok(_) => (AuditOutcome::Done, form.reason.clone()),
        Err(e) => (AuditOutcome::Refused, e.to_string()),
    };
    crate::web::api::record(&app, who.audit("set_budget", "budget", outcome, &detail))
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let (status, message, typed) = match set {
        Ok(_) => (
            StatusCode::OK,
            (
                "The budget is set, and published on the progress report.".to_owned(),
                true,
            ),
            None,
        ),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e) => (
            e.status(),
            (
                format!("The budget was not changed, and what you typed is kept below: {e}."),
                false,
            ),
            Some(form),
        ),
    };
    Ok((status, render(&app, &v, Some(message), typed).await?).into_response())
}
