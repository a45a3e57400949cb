//! DAP's page: proposals awaiting a decision with their findings, the decision form, and
//! the budget.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{FindingLine, Nav, PageError, check_csrf, finding_lines, hours, signed_in};
use crate::domain::CollectionStatus;
use crate::domain::finding::Override;
use crate::web::api::{Decision, DecisionKind, apply_decision};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

pub struct Pending {
    slug: String,
    title: String,
    version: i64,
    by: String,
    at: String,
    hours: String,
    findings: Vec<FindingLine>,
}

/// A collection on the register's current list.
pub struct ListedLine {
    licence: String,
    slug: String,
    title: String,
    status: CollectionStatus,
    hours: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dap.html")]
pub struct Dap {
    nav: Nav,
    message: Option<String>,
    message_class: &'static str,
    total: String,
    cap: String,
    headroom: String,
    allowed: String,
    pending: Vec<Pending>,
    listed: Vec<ListedLine>,
}

async fn render(app: &App, v: &Visitor, message: Option<(String, bool)>) -> Result<Dap, PageError> {
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    let now = app.now();
    let report = app.registry.burden(now).await.map_err(fail)?;
    let mut pending = Vec::new();
    for c in app.store().collections().await.map_err(fail)? {
        let versions = app.store().versions(&c.slug).await.map_err(fail)?;
        let Some(p) = versions
            .iter()
            .rev()
            .find(|v| v.status == CollectionStatus::Proposed)
        else {
            continue;
        };
        // The findings as they stand now, which the decision will be checked against.
        let check = app
            .registry
            .check(&p.definition.0, now)
            .await
            .map_err(fail)?;
        pending.push(Pending {
            slug: c.slug.clone(),
            title: p.definition.0.title.clone(),
            version: p.version,
            by: p.proposed_by.clone(),
            at: p.proposed_at.format("%-d %B %Y").to_string(),
            hours: hours(check.burden.annual_hours),
            findings: finding_lines(&check.findings),
        });
    }
    let listed = app
        .registry
        .register(now)
        .await
        .map_err(fail)?
        .into_iter()
        .filter(|e| e.status.current())
        .map(|e| ListedLine {
            licence: e.licence_number.unwrap_or_default(),
            slug: e.slug,
            title: e.title,
            status: e.status,
            hours: e.annual_hours.map(hours).unwrap_or_default(),
        })
        .collect();
    let set = |h: Option<f64>| {
        h.map(|h| format!("{} hours a year", hours(h)))
            .unwrap_or_else(|| "not set".into())
    };
    let (message_class, message) = match message {
        Some((m, true)) => ("callout-done", Some(m)),
        Some((m, false)) => ("callout-error", Some(m)),
        None => ("", None),
    };
    Ok(Dap {
        nav: Nav::of(v),
        message,
        message_class,
        total: format!("{} hours a year", hours(report.total_hours)),
        cap: set(report.budget.as_ref().and_then(|b| b.cap_hours)),
        headroom: set(report.headroom_hours),
        allowed: set(report.trajectory_hours),
        pending,
        listed,
    })
}

fn dap_only(v: &Visitor) -> Result<(), PageError> {
    let who = signed_in(v)?;
    who.require(Action::Decide)
        .map_err(|e| PageError(e, Nav::of(v)))
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<Dap, PageError> {
    dap_only(&v)?;
    render(&app, &v, None).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    slug: String,
    action: String,
    reason: String,
    #[serde(default)]
    overrides: String,
}

pub async fn decide(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<DecisionForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    // Who may decide first: anyone else is refused (and audited) whatever the form holds.
    crate::web::api::allowed(
        &app,
        signed_in(&v)?,
        Action::Decide,
        "decide",
        "decision form",
    )
    .await
    .map_err(|e| PageError(e, Nav::of(&v)))?;
    let Form(form) = form.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the decision form is not whole: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    check_csrf(&app, &v, &form.csrf, "decide").await?;
    let who = signed_in(&v)?;
    let bad = |m: String| PageError(ApiError::BadRequest(m), Nav::of(&v));
    let action = match form.action.as_str() {
        "approve" => DecisionKind::Approve,
        "reject" => DecisionKind::Reject,
        _ => return Err(bad("the decision must be to list or to reject".into())),
    };
    let overrides = form
        .overrides
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Override::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.into()))?;
    let decision = Decision {
        action,
        reason: form.reason.clone(),
        overrides,
    };
    let slug = crate::domain::definition::Slug::parse(&form.slug).map_err(|_| {
        PageError(
            ApiError::NotFound("there is no such collection".into()),
            Nav::of(&v),
        )
    })?;
    let (status, message) = match apply_decision(&app, who, slug.as_str(), &decision).await {
        Ok(d) => (
            StatusCode::OK,
            (
                format!(
                    "{} is now {}{}.",
                    d.slug,
                    d.status,
                    d.licence_number
                        .map(|n| format!(" as {n}"))
                        .unwrap_or_default()
                ),
                true,
            ),
        ),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e) => (
            e.status(),
            (
                format!("The decision on {} was not recorded: {e}", slug.as_str()),
                false,
            ),
        ),
    };
    Ok((status, render(&app, &v, Some(message)).await?).into_response())
}
