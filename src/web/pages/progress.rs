//! The progress report: the estimated burden against the baseline, the target and the
//! cap; what moved it, by cause; the achieved burden beside the estimate; and the reports
//! DAP filed.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use chrono::Utc;

use super::{Nav, PageError, hours};
use crate::domain::Step;
use crate::registry::burden::pounds;
use crate::registry::causes::Cause;
use crate::web::app::App;
use crate::web::auth::Visitor;
use crate::web::error::ApiError;

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
    by_hand: u32,
    hours: String,
    pounds: String,
}

/// One cause's share of the change since the start, or one collection's under a cause.
pub struct CauseLine {
    cause: &'static str,
    title: String,
    hours: String,
}

/// One change in the estimate.
pub struct ChangeLine {
    on: String,
    title: String,
    cause: &'static str,
    what: String,
    hours: String,
}

/// A report DAP filed.
pub struct FiledLine {
    id: i64,
    as_of: String,
    by: String,
    at: String,
    sha256: String,
}

/// `?filed=N` after DAP files a report.
#[derive(serde::Deserialize, Default)]
pub struct ProgressQuery {
    filed: Option<i64>,
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
    /// The changes since the baseline (or the register's first day), by cause.
    causes_from: String,
    causes_start: String,
    causes_end: String,
    causes: Vec<CauseLine>,
    causes_by_collection: Vec<CauseLine>,
    changes: Vec<ChangeLine>,
    waterfall_title: String,
    waterfall: String,
    /// When DAP's baseline figure is not what the register held on its day.
    baseline_note: Option<String>,
    reports: Vec<FiledLine>,
    /// The last whole day: the default for a report.
    yesterday: String,
    message: Option<String>,
    message_class: &'static str,
    /// For DAP: the providers whose periods this year cost them most.
    ranked: Vec<RankLine>,
}

/// One provider among those whose periods cost them most.
pub struct RankLine {
    provider: String,
    name: String,
    owed: String,
    by_hand: String,
    fixes: String,
    never_sent: String,
    achieved: String,
    estimated: String,
    pounds: String,
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
    recorded: String,
    estimated: String,
    achieved: String,
    estimated_pounds: String,
    achieved_pounds: String,
}

/// `GET /progress`; `?filed=N` says report N was filed, when it was.
pub async fn progress(
    State(app): State<Arc<App>>,
    v: Visitor,
    Query(q): Query<ProgressQuery>,
) -> Result<Progress, PageError> {
    render(&app, &v, q.filed.map(Said::Filed)).await
}

/// What the page says at its top.
pub(super) enum Said {
    /// Report N was filed (said only when it was).
    Filed(i64),
    /// Why the report was not filed.
    Refused(String),
}

pub(super) async fn render(
    app: &App,
    v: &Visitor,
    said: Option<Said>,
) -> Result<Progress, PageError> {
    let nav = Nav::of(v);
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    let now = app.now();
    // One reading of the register's records serves the headline, the steps and the causes.
    let records = app.registry.burden_records().await.map_err(fail)?;
    let rows = app.registry.rows().await.map_err(fail)?;
    let report = crate::registry::burden::BurdenReport::new(
        app.registry.estimate_from(records.clone(), now),
        rows.budget().cloned(),
        now.with_timezone(&app.settings.timezone).date_naive(),
    );
    let t = crate::web::api::trajectory_of(&report);
    let b = report.budget.as_ref();
    let with_date = |h: Option<f64>, d: Option<chrono::NaiveDate>| match (h, d) {
        (Some(h), Some(d)) => format!("{} hours a year on {}", hours(h), d.format("%-d %B %Y")),
        (Some(h), None) => format!("{} hours a year", hours(h)),
        _ => "not set".into(),
    };
    // The NHS year: decisions since 1 April.
    let today = report.on;
    let year_start = crate::registry::report::year_start(today);
    let decisions = rows.decisions();
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
    let saved = saved_since(app, year_start).await.map_err(fail)?;
    let (mut achieved, ranked) = achieved_since(app, year_start, today).await.map_err(fail)?;
    // Most hours first: where the burden falls.
    achieved
        .collections
        .sort_by(|a, b| b.achieved_hours.total_cmp(&a.achieved_hours));
    let count = |n: u32| crate::registry::burden::thousands(f64::from(n));
    let line: Vec<(chrono::NaiveDate, f64)> =
        t.points.iter().map(|p| (p.on, p.allowed_hours)).collect();
    let chart_title = "Estimated annual burden against the trajectory to the target";
    let history = crate::registry::causes::history(&records, now);
    let from = crate::registry::report::causes_from(&records, b, today);
    let causes = crate::registry::causes::attribute(&records, from, now);
    let rates = app.settings.staff_rates.as_ref();
    let (each_pounds, total_pounds) = crate::registry::report::price(&report.collections, rates);
    let waterfall_title = format!(
        "The estimate on {} and today, and the changes between by cause",
        from.format("%-d %B %Y")
    );
    let signed = |h: f64| {
        if h > 0.0 {
            format!("+{}", hours(h))
        } else {
            hours(h)
        }
    };
    let mut by_collection: std::collections::BTreeMap<(Cause, &str), f64> = Default::default();
    for c in &causes.changes {
        *by_collection
            .entry((c.cause, c.title.as_str()))
            .or_default() += c.hours;
    }
    let reports = app.store().burden_reports().await.map_err(fail)?;
    let (message_class, message) = super::callout(match said {
        Some(Said::Refused(why)) => Some((format!("The report was not filed: {why}"), false)),
        Some(Said::Filed(id)) => reports.iter().find(|r| r.id == id).map(|r| {
            (
                format!(
                    "Filed as report {id}, as of {}. It is kept as it is now, and listed below.",
                    r.as_of.format("%-d %B %Y")
                ),
                true,
            )
        }),
        None => None,
    });
    Ok(Progress {
        total: with_pounds(report.total_hours, total_pounds),
        baseline_note: b
            .and_then(|b| b.baseline_hours.zip(b.baseline_date))
            .filter(|(h, _)| (h - causes.start_hours).abs() >= 0.5)
            .map(|(h, d)| {
                format!(
                    "DAP's baseline is {} hours a year on {}; the register, replayed, held {} on that day. The changes below start from the register's figure, so that they add up.",
                    hours(h),
                    d.format("%-d %B %Y"),
                    hours(causes.start_hours)
                )
            }),
        causes_from: from.format("%-d %B %Y").to_string(),
        causes_start: format!("{} hours a year", hours(causes.start_hours)),
        causes_end: format!("{} hours a year", hours(causes.end_hours)),
        causes: Cause::ALL
            .iter()
            .map(|c| CauseLine {
                cause: c.label(),
                title: String::new(),
                hours: signed(causes.hours(*c)),
            })
            .collect(),
        causes_by_collection: by_collection
            .iter()
            .map(|((cause, title), h)| CauseLine {
                cause: cause.label(),
                title: (*title).to_owned(),
                hours: signed(*h),
            })
            .collect(),
        changes: causes
            .changes
            .iter()
            .map(|c| ChangeLine {
                on: c.on.format("%-d %B %Y").to_string(),
                title: c.title.clone(),
                cause: c.cause.label(),
                what: c.what.clone(),
                hours: signed(c.hours),
            })
            .collect(),
        waterfall: crate::web::charts::waterfall(
            &waterfall_title,
            ("Start", causes.start_hours),
            &Cause::ALL
                .iter()
                .map(|c| (c.label(), causes.hours(*c)))
                .collect::<Vec<_>>(),
            ("Today", causes.end_hours),
        ),
        waterfall_title,
        reports: reports
            .iter()
            .map(|r| FiledLine {
                id: r.id,
                as_of: r.as_of.format("%-d %B %Y").to_string(),
                by: r.filed_by.clone(),
                at: super::local_time(tz, r.filed_at),
                sha256: r.sha256.chars().take(12).collect(),
            })
            .collect(),
        yesterday: (today - chrono::Days::new(1)).to_string(),
        ranked: if nav.dap {
            ranked
                .iter()
                .map(|p| RankLine {
                    provider: p.provider.clone(),
                    name: p.name.clone(),
                    owed: count(p.owed),
                    by_hand: count(p.by_hand),
                    fixes: count(p.fixes),
                    never_sent: count(p.never_sent),
                    achieved: hours(p.achieved_hours),
                    estimated: hours(p.estimated_hours),
                    pounds: p.achieved_pounds.map_or("-".into(), pounds),
                })
                .collect()
        } else {
            Vec::new()
        },
        message,
        message_class,
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
            .zip(&each_pounds)
            .map(|(c, p)| BurdenLine {
                title: c.title.clone(),
                capture: c.capture.as_str().to_owned(),
                respondents: c.respondents,
                by_hand: c.by_hand,
                hours: hours(c.annual_hours),
                pounds: p.map_or("-".into(), pounds),
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
                recorded: count(c.recorded),
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
) -> anyhow::Result<crate::web::app::AchievedRanked> {
    if let Some((at, a)) = app.achieved.lock().expect("not poisoned").as_ref()
        && a.0.from == since
        && at.elapsed() < std::time::Duration::from_secs(60)
    {
        return Ok(a.clone());
    }
    let a = app
        .registry
        .achieved_ranked(
            since,
            today + chrono::Duration::days(1),
            app.now(),
            app.settings.staff_rates.as_ref(),
            MOST_RANKED,
        )
        .await?;
    *app.achieved.lock().expect("not poisoned") = Some((std::time::Instant::now(), a.clone()));
    Ok(a)
}

/// How many providers DAP sees ranked by the burden their periods cost them.
const MOST_RANKED: usize = 20;

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
    let rows = app.registry.rows().await?;
    let mut saved = 0.0;
    for (collection, by_hand, n) in counts {
        if by_hand {
            continue;
        }
        if let Some(v) = rows.in_force_of(&collection) {
            let b = &v.definition.0.burden;
            saved += n as f64 * (b.manual_minutes - b.automated_minutes).max(0.0) / 60.0;
        }
    }
    Ok(saved)
}
