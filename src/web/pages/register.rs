//! The public pages: the register, one collection, and the progress report.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use chrono::{Datelike, Utc};

use super::{Nav, OverrideLine, PageError, hours, override_lines};
use crate::domain::{CollectionStatus, Step};
use crate::registry::burden::pounds;
use crate::web::app::App;
use crate::web::auth::Visitor;
use crate::web::error::ApiError;

fn day(tz: chrono_tz::Tz, t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| super::local_day(tz, t))
        .unwrap_or_else(|| "–".into())
}

pub struct Entry {
    slug: String,
    licence: String,
    title: String,
    status: CollectionStatus,
    /// Listed and in force: shown without a tag.
    listed: bool,
    sponsor: String,
    legal_basis: String,
    frequency: String,
    capture: String,
    /// The first day it is owed, marked when it is still to come.
    owed_from: String,
    expires: String,
    hours: String,
    reason: String,
    overrides: Vec<OverrideLine>,
}

/// A date and the hours on it.
pub struct HoursOn {
    on: String,
    hours: String,
}

/// One listed collection's estimated burden.
pub struct BurdenLine {
    title: String,
    capture: String,
    respondents: u32,
    hours: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "register.html")]
pub struct Register {
    nav: Nav,
    listed: usize,
    total_hours: String,
    current: Vec<Entry>,
    past: Vec<Entry>,
    proposed: Vec<Entry>,
}

pub async fn register(State(app): State<Arc<App>>, v: Visitor) -> Result<Register, PageError> {
    let nav = Nav::of(&v);
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let now = app.now();
    let entries = app.registry.register(now).await.map_err(fail)?;
    let burden = app.registry.burden(now).await.map_err(fail)?;
    let (mut current, mut past, mut proposed) = (Vec::new(), Vec::new(), Vec::new());
    for e in entries {
        let entry = Entry {
            licence: e.licence_number.clone().unwrap_or_else(|| "–".into()),
            title: e.title,
            sponsor: e.sponsor,
            legal_basis: e.legal_basis,
            frequency: e.frequency,
            capture: e.capture,
            owed_from: match e.effective_from {
                Some(d) if d > now.with_timezone(&app.settings.timezone).date_naive() => {
                    format!("{} (coming)", d.format("%-d %B %Y"))
                }
                Some(d) => d.format("%-d %B %Y").to_string(),
                None => "–".into(),
            },
            expires: day(app.settings.timezone, e.expires_at),
            hours: e.annual_hours.map(hours).unwrap_or_else(|| "–".into()),
            reason: e.reason.unwrap_or_default(),
            overrides: override_lines(&e.overrides),
            status: e.status,
            listed: e.status == CollectionStatus::Listed,
            slug: e.slug,
        };
        match e.status {
            s if s.current() => current.push(entry),
            CollectionStatus::Retired | CollectionStatus::Rejected => past.push(entry),
            _ => proposed.push(entry),
        }
    }
    Ok(Register {
        nav,
        listed: current.iter().filter(|e| e.listed).count(),
        total_hours: hours(burden.total_hours),
        current,
        past,
        proposed,
    })
}

pub fn severity(s: crate::domain::finding::Severity) -> String {
    use crate::domain::finding::Severity::*;
    match s {
        Blocking => "blocking",
        Warning => "warning",
        Pass => "pass",
    }
    .into()
}

#[derive(Template, WebTemplate)]
#[template(path = "progress.html")]
pub struct Progress {
    nav: Nav,
    total: String,
    baseline: String,
    goal: String,
    allowed: String,
    cap: String,
    on_track: String,
    saved: String,
    chart_title: String,
    chart: String,
    points: Vec<HoursOn>,
    /// The estimated burden after each day of decisions, and today.
    history: Vec<HoursOn>,
    listed: Vec<String>,
    retired: Vec<String>,
    refused: Vec<String>,
    collections: Vec<BurdenLine>,
    /// The periods owed since 1 April, as estimated and as achieved.
    achieved_since: String,
    achieved_hours: String,
    achieved_estimated: String,
    achieved: Vec<AchievedLine>,
    /// Where the rates that price the hours come from; none when they are not set.
    rates_source: Option<String>,
}

/// One collection's periods owed this year, by how they were met.
pub struct AchievedLine {
    title: String,
    owed: String,
    pulled: String,
    by_hand: String,
    forms: String,
    fixes: String,
    corrections: String,
    nil_returns: String,
    never_sent: String,
    estimated: String,
    achieved: String,
    estimated_pounds: String,
    achieved_pounds: String,
}

pub async fn progress(State(app): State<Arc<App>>, v: Visitor) -> Result<Progress, PageError> {
    let nav = Nav::of(&v);
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let now = app.now();
    let report = app.registry.burden(now).await.map_err(fail)?;
    let t = crate::web::api::trajectory_of(&report);
    let b = report.budget.as_ref();
    let with_date = |h: Option<f64>, d: Option<chrono::NaiveDate>| match (h, d) {
        (Some(h), Some(d)) => format!("{} hours a year on {}", hours(h), d.format("%-d %B %Y")),
        (Some(h), None) => format!("{} hours a year", hours(h)),
        _ => "not set".into(),
    };
    // The NHS year: decisions since 1 April.
    let today = report.on;
    let year_start = chrono::NaiveDate::from_ymd_opt(
        if today.month() >= 4 {
            today.year()
        } else {
            today.year() - 1
        },
        4,
        1,
    )
    .unwrap_or(today);
    let decisions = app.store().decisions(None).await.map_err(fail)?;
    let tz = app.settings.timezone;
    let titles: std::collections::HashMap<String, String> = app
        .registry
        .register(now)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|e| (e.slug, e.title))
        .collect();
    let title = |slug: &str| titles.get(slug).cloned().unwrap_or_else(|| slug.to_owned());
    let this_year = |action: Step| -> Vec<String> {
        decisions
            .iter()
            .filter(|d| d.action == action && d.at.with_timezone(&tz).date_naive() >= year_start)
            .map(|d| format!("{}: {}", title(&d.slug), d.reason))
            .collect()
    };
    let saved = saved_since(&app, year_start).await.map_err(fail)?;
    let achieved = achieved_since(&app, year_start, today)
        .await
        .map_err(fail)?;
    let count = |n: u32| crate::registry::burden::thousands(f64::from(n));
    let line: Vec<(chrono::NaiveDate, f64)> =
        t.points.iter().map(|p| (p.on, p.allowed_hours)).collect();
    let chart_title = "Estimated annual burden against the trajectory to the target";
    let history = app
        .registry
        .burden_history(&report, now)
        .await
        .map_err(fail)?;
    Ok(Progress {
        total: hours(report.total_hours),
        baseline: with_date(
            b.and_then(|b| b.baseline_hours),
            b.and_then(|b| b.baseline_date),
        ),
        goal: with_date(b.and_then(|b| b.goal_hours), b.and_then(|b| b.target_date)),
        allowed: report
            .trajectory_hours
            .map(|h| format!("{} hours a year", hours(h)))
            .unwrap_or_else(|| "no target set".into()),
        cap: b
            .and_then(|b| b.cap_hours)
            .map(|h| format!("{} hours a year", hours(h)))
            .unwrap_or_else(|| "not set".into()),
        on_track: match t.on_track {
            Some(true) => "Yes".into(),
            Some(false) => "No: the burden is above the trajectory".into(),
            None => "No target set".into(),
        },
        saved: format!("{} hours", hours(saved)),
        chart: crate::web::charts::trajectory(
            chart_title,
            &line,
            &history,
            b.and_then(|b| b.cap_hours),
        ),
        chart_title: chart_title.into(),
        points: line
            .iter()
            .map(|(d, h)| HoursOn {
                on: d.format("%-d %B %Y").to_string(),
                hours: hours(*h),
            })
            .collect(),
        history: history
            .iter()
            .map(|(d, h)| {
                let on = d.format("%-d %B %Y");
                let on = if *d == today {
                    format!("{on} (today)")
                } else {
                    on.to_string()
                };
                HoursOn {
                    on,
                    hours: hours(*h),
                }
            })
            .collect(),
        listed: this_year(Step::List),
        retired: this_year(Step::Retire),
        refused: this_year(Step::Reject),
        collections: report
            .collections
            .iter()
            .map(|c| BurdenLine {
                title: c.title.clone(),
                capture: c.capture.as_str().to_owned(),
                respondents: c.respondents,
                hours: hours(c.annual_hours),
            })
            .collect(),
        achieved_since: year_start.format("%-d %B %Y").to_string(),
        achieved_hours: with_pounds(achieved.achieved_hours, achieved.achieved_pounds),
        achieved_estimated: with_pounds(achieved.estimated_hours, achieved.estimated_pounds),
        rates_source: achieved.rates_source.clone(),
        achieved: achieved
            .collections
            .iter()
            .map(|c| AchievedLine {
                title: c.title.clone(),
                owed: count(c.owed),
                pulled: count(c.pulled),
                by_hand: count(c.uploaded),
                forms: count(c.forms),
                fixes: count(c.fixes),
                corrections: count(c.corrections),
                nil_returns: count(c.nil_returns),
                never_sent: count(c.never_sent),
                estimated: hours(c.estimated_hours),
                achieved: hours(c.achieved_hours),
                estimated_pounds: c.estimated_pounds.map_or("-".into(), pounds),
                achieved_pounds: c.achieved_pounds.map_or("-".into(), pounds),
            })
            .collect(),
        nav,
    })
}

/// `1,234 hours (£24,680)`, or the hours alone when there is no rate to price them at.
fn with_pounds(h: f64, p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{} hours ({})", hours(h), pounds(p)),
        None => format!("{} hours", hours(h)),
    }
}

/// The achieved burden of the periods owed from `since` to `today`, kept for a minute.
async fn achieved_since(
    app: &App,
    since: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> anyhow::Result<crate::registry::achieved::Achieved> {
    if let Some((at, a)) = app.achieved.lock().expect("not poisoned").as_ref()
        && a.from == since
        && at.elapsed() < std::time::Duration::from_secs(60)
    {
        return Ok(a.clone());
    }
    let a = app
        .registry
        .achieved(
            since,
            today + chrono::Duration::days(1),
            app.now(),
            app.settings.staff_rates.as_ref(),
        )
        .await?;
    *app.achieved.lock().expect("not poisoned") = Some((std::time::Instant::now(), a.clone()));
    Ok(a)
}

/// Hours that pulls from source systems saved since `since`, against filling the same in by
/// hand: each version pulled saves its collection's manual minutes less its sign-off minutes.
async fn saved_since(app: &App, since: chrono::NaiveDate) -> anyhow::Result<f64> {
    if let Some((at, from, hours)) = *app.saved_hours.lock().expect("not poisoned")
        && from == since
        && at.elapsed() < std::time::Duration::from_secs(60)
    {
        return Ok(hours);
    }
    let hours = count_saved(app, since).await?;
    *app.saved_hours.lock().expect("not poisoned") =
        Some((std::time::Instant::now(), since, hours));
    Ok(hours)
}

async fn count_saved(app: &App, since: chrono::NaiveDate) -> anyhow::Result<f64> {
    // Midnight at the start of `since` where the register keeps its dates.
    let since = since
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_local_timezone(app.settings.timezone)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let counts = app.store().landed_counts(since).await?;
    let in_force = app.store().in_force().await?;
    let mut saved = 0.0;
    for (collection, by_hand, n) in counts {
        if by_hand {
            continue;
        }
        if let Some(v) = in_force.iter().find(|v| v.slug == collection) {
            let b = &v.definition.0.burden;
            saved += n as f64 * (b.manual_minutes - b.automated_minutes).max(0.0) / 60.0;
        }
    }
    Ok(saved)
}
