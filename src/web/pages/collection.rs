//! One collection's page: its licence, its definition in full as a provider needs it (items,
//! codes, bounds, rules, deadline and timetable in UK time), the returns that read it, its
//! versions and decisions; and, for DAP, suspend, reinstate and retire.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{
    Confirm, FindingLine, Nav, OverrideLine, PageError, finding_lines, local_day, local_time,
    override_lines,
};
use crate::domain::definition::{CollectionDef, ItemType, Slug};
use crate::domain::{CollectionStatus, Step};
use crate::registry::window::deadline;
use crate::schedule::timetable::{Schedule, period_for};
use crate::web::api::{Decision, DecisionKind, apply_decision};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// One item of a collection's definition, as a provider's analyst needs it.
pub struct ItemLine {
    name: String,
    ty: String,
    /// `key`, `dimension` or `figure`; empty for other items.
    role: &'static str,
    required: &'static str,
    /// `0 to 400`, `at least 0`, or empty.
    bounds: String,
    pattern: String,
    concept: String,
    description: String,
}

/// A pull to come, in UK time.
pub struct NextPull {
    at: String,
    period: String,
    due: String,
}

pub struct VersionLine {
    version: i64,
    status: CollectionStatus,
    by: String,
    proposed: String,
    listed: String,
}

pub struct DecisionView {
    action: Step,
    at: String,
    actor: String,
    reason: String,
    findings: Vec<FindingLine>,
    overrides: Vec<OverrideLine>,
}

/// A national return that reads the collection, with its licence and the SQL in force.
pub struct ReadBy {
    title: String,
    name: String,
    /// `DAPR0001, version 2`, or why it is not built.
    licence: String,
    sql: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "collection.html")]
pub struct Collection {
    nav: Nav,
    message: Option<String>,
    message_class: &'static str,
    slug: String,
    licence: String,
    title: String,
    status: CollectionStatus,
    sponsor: String,
    legal_basis: String,
    purpose: String,
    respondents: String,
    grain: String,
    frequency: String,
    timetable: String,
    next: Vec<NextPull>,
    deadline: String,
    amendment: String,
    /// When a figure is held for its provider to confirm.
    plausibility: String,
    /// The listing's minutes for each way of meeting a period, and whose time they are.
    minutes: String,
    /// What providers recorded over the last year, by way: (way, periods, median, listed).
    observed: Vec<(String, u32, String, String)>,
    bad_rows: String,
    capture: String,
    expires: String,
    /// The first day it is owed, and whether that is still to come.
    owed_from: String,
    /// The notice the definition promises.
    notice: String,
    /// Questions providers asked and DAP published, with the answers.
    faq: Vec<(String, String)>,
    key: String,
    items: Vec<ItemLine>,
    rules: Vec<(String, String)>,
    returns: Vec<ReadBy>,
    versions: Vec<VersionLine>,
    decisions: Vec<DecisionView>,
    /// What DAP may do now: (action, label); empty for everyone else.
    actions: Vec<(&'static str, &'static str)>,
    /// What DAP typed last, kept when a decision was refused.
    kept_reason: String,
}

fn type_of(ty: &ItemType) -> String {
    match ty {
        ItemType::Code(codes) => format!("code: one of {}", codes.join(", ")),
        other => other.name().to_owned(),
    }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => String::new(),
    }
}

/// `5d` as `5 days`, `26h` as `26 hours`.
pub(super) fn lag(l: crate::domain::definition::Lag) -> String {
    match l.hours {
        h if h > 0 && h % 24 == 0 => format!("{} day{}", h / 24, if h == 24 { "" } else { "s" }),
        h => format!("{h} hour{}", if h == 1 { "" } else { "s" }),
    }
}

fn items(def: &CollectionDef) -> Vec<ItemLine> {
    def.items
        .iter()
        .map(|i| ItemLine {
            role: if def.key.contains(&i.name) {
                "key"
            } else if def.dimensions.contains(&i.name) {
                "dimension"
            } else if i.ty.is_numeric() {
                "figure"
            } else {
                ""
            },
            name: i.name.clone(),
            ty: type_of(&i.ty),
            required: if i.required { "yes" } else { "no" },
            bounds: bounds(i.min, i.max),
            pattern: i.pattern.clone().unwrap_or_default(),
            concept: i.concept.clone().unwrap_or_default(),
            description: i.description.clone(),
        })
        .collect()
}

/// The next three pulls after `now`, each with the period it asks for and when that period
/// is due, in UK time.
/// The next three pulls of periods owed: none for a period before `owed_from`.
fn next_pulls(
    def: &CollectionDef,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<Utc>,
    owed_from: chrono::NaiveDate,
) -> Vec<NextPull> {
    let Ok(schedule) = Schedule::new(&def.frequency.cron, def.frequency.timezone) else {
        return Vec::new();
    };
    let from = owed_from
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(def.frequency.timezone).earliest())
        .map_or(now, |t| t.with_timezone(&Utc).max(now));
    schedule
        .fires(from, from + Duration::days(800), 6)
        .into_iter()
        .map(|f| (f, period_for(def.frequency.period, f)))
        .filter(|(_, period)| period.first_day() >= owed_from)
        .take(3)
        .map(|(f, period)| NextPull {
            at: local_time(tz, f.with_timezone(&Utc)),
            period: period.to_string(),
            due: local_time(tz, deadline(def, &period)),
        })
        .collect()
}

async fn render(
    app: &App,
    v: &Visitor,
    slug: &Slug,
    message: Option<(String, bool)>,
    kept_reason: String,
) -> Result<Collection, PageError> {
    let nav = Nav::of(v);
    let tz = app.settings.timezone;
    let now = app.now();
    let view = app
        .registry
        .show(slug.as_str(), now)
        .await
        .map_err(|e| PageError(ApiError::from(e), nav.clone()))?;
    let shown = view.shown().ok_or_else(|| {
        PageError(
            ApiError::NotFound("there is no such collection".into()),
            nav.clone(),
        )
    })?;
    let def = &shown.definition;
    let day = |t: Option<chrono::DateTime<Utc>>| t.map_or_else(|| "–".into(), |t| local_day(tz, t));
    let decides = v.who.as_ref().is_some_and(|w| w.may(Action::Decide));
    let actions = match view.status {
        _ if !decides => Vec::new(),
        CollectionStatus::Listed | CollectionStatus::Expired => {
            vec![("suspend", "Suspend it"), ("retire", "Retire it")]
        }
        CollectionStatus::Suspended => {
            vec![("reinstate", "Reinstate it"), ("retire", "Retire it")]
        }
        _ => Vec::new(),
    };
    let manual = def.capture == crate::domain::definition::Capture::Manual;
    let kinds: Vec<&str> = def.respondents.kinds.iter().map(|k| k.plural()).collect();
    let (message_class, message) = super::callout(message);
    Ok(Collection {
        message,
        message_class,
        slug: slug.to_string(),
        licence: view
            .collection
            .licence_number
            .clone()
            .unwrap_or_else(|| "Not licensed".into()),
        title: def.title.clone(),
        status: view.status,
        sponsor: def.sponsor.clone(),
        legal_basis: def.legal_basis.clone(),
        purpose: def.purpose.clone(),
        respondents: kinds.join(", "),
        grain: def.grain.as_str().replace('_', " "),
        frequency: def.frequency.period.adjective().into(),
        // A manual form is filled in by hand and uploaded: the scheduler never pulls it.
        timetable: if manual {
            "Never: it is filled in by hand and uploaded".into()
        } else {
            format!(
                "{}, {} time",
                def.frequency
                    .cron
                    .parse::<croner::Cron>()
                    .map(|c| c.describe().trim_end_matches('.').to_owned())
                    .unwrap_or_else(|_| def.frequency.cron.clone()),
                def.frequency.timezone
            )
        },
        next: match (view.status, view.effective_from) {
            (CollectionStatus::Listed, Some(from)) if !manual => next_pulls(def, tz, now, from),
            _ => Vec::new(),
        },
        owed_from: match view.effective_from {
            Some(from) if from > now.with_timezone(&tz).date_naive() => format!(
                "{}: it is coming, and nothing is owed before then",
                from.format("%-d %B %Y")
            ),
            Some(from) => from.format("%-d %B %Y").to_string(),
            None => "not yet listed".into(),
        },
        notice: format!("{} days before the first period is owed", def.notice_days),
        faq: app
            .store()
            .enquiries(Some(slug.as_str()), None)
            .await
            .map_err(|e| PageError(ApiError::from(e), Nav::of(v)))?
            .into_iter()
            .rev()
            .filter(|q| q.published)
            .filter_map(|q| Some((q.question, q.answer?)))
            .collect(),
        minutes: {
            let b = &def.burden;
            format!(
                "{} by hand; {} signing off a pull; {} for a nil return; {} fixing a rejected submission{}",
                minutes(b.manual_minutes),
                minutes(b.automated_minutes),
                minutes(b.nil_minutes()),
                minutes(b.fix_minutes()),
                b.staff_group
                    .as_deref()
                    .map(|g| format!(": {} time", g.replace('_', " ")))
                    .unwrap_or_default()
            )
        },
        // What providers recorded is for DAP, who corrects the listing's minutes.
        observed: if nav.dap {
            app.registry
                .observed(slug.as_str(), now)
                .await
                .map_err(|e| PageError(ApiError::from(e), Nav::of(v)))?
                .into_iter()
                .map(|o| {
                    (
                        serde_json::to_value(o.how)
                            .ok()
                            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                            .unwrap_or_default(),
                        o.periods,
                        minutes(o.median_minutes),
                        minutes(o.listed_minutes),
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
        deadline: format!("{} after the period ends", lag(def.deadline)),
        amendment: format!(
            "{} after the deadline; later data lands as late",
            lag(def.amendment_window)
        ),
        plausibility: match def.plausibility {
            None => "Not checked against the provider's earlier figures".into(),
            Some(p) => format!(
                "A figure more than {} spreads from the same row's median over its last {} comparable periods{}{} is held for its provider to confirm; the returns mark what rests on it provisional until then",
                p.threshold,
                p.periods,
                if def.frequency.period == crate::domain::PeriodKind::Day {
                    " (the same weekday)"
                } else {
                    ""
                },
                if p.zero {
                    ", or 0 where those were never 0,"
                } else {
                    ""
                }
            ),
        },
        bad_rows: match def.bad_rows {
            crate::domain::definition::BadRows::Quarantine => {
                "Valid rows land; rows that fail a check are kept aside with the reason".into()
            }
            crate::domain::definition::BadRows::Reject => {
                "Nothing lands if any row fails a check".into()
            }
        },
        capture: def.capture.as_str().into(),
        expires: day(shown.expires_at),
        key: def.key.join(", "),
        items: items(def),
        rules: def
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.check.clone()))
            .collect(),
        returns: {
            let licences = crate::returns::licence::licences(&app.registry)
                .await
                .map_err(|e| PageError(ApiError::from(e), nav.clone()))?;
            app.catalogue
                .returns
                .values()
                .filter(|r| r.inputs.iter().any(|s| s == slug))
                .map(|r| {
                    let listed = licences.in_force.get(&r.name);
                    ReadBy {
                        title: r.title.clone(),
                        name: r.name.clone(),
                        licence: listed.map_or_else(
                            || "not licensed, so not built on the timetable".to_owned(),
                            |l| {
                                format!(
                                    "{}, version {}",
                                    l.licence_number.as_deref().unwrap_or_default(),
                                    l.version
                                )
                            },
                        ),
                        sql: listed.map_or_else(|| r.sql.clone(), |l| l.sql_text.clone()),
                    }
                })
                .collect()
        },
        versions: view
            .versions
            .iter()
            .map(|v| VersionLine {
                version: v.version,
                status: v.status,
                by: v.proposed_by.clone(),
                proposed: day(Some(v.proposed_at)),
                listed: day(v.listed_at),
            })
            .collect(),
        decisions: view
            .decisions
            .iter()
            .rev()
            .map(|d| DecisionView {
                action: d.action,
                at: day(Some(d.at)),
                actor: d.actor.clone(),
                reason: d.reason.clone(),
                findings: finding_lines(&d.findings.0),
                overrides: override_lines(&d.overrides.0),
            })
            .collect(),
        actions,
        kept_reason,
        nav,
    })
}

fn slug_of(s: &str, v: &Visitor) -> Result<Slug, PageError> {
    Slug::parse(s).map_err(|_| {
        PageError(
            ApiError::NotFound("there is no such collection".into()),
            Nav::of(v),
        )
    })
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(slug): Path<String>,
) -> Result<Collection, PageError> {
    let slug = slug_of(&slug, &v)?;
    render(&app, &v, &slug, None, String::new()).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    reason: String,
    /// Set by the confirm page: retiring cannot be undone, so it is asked twice.
    #[serde(default)]
    confirmed: String,
}

impl super::WithCsrf for StatusForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// DAP suspends, reinstates or retires a collection from its page. Retiring is asked again
/// on a page of its own first, since it cannot be undone.
pub async fn change(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(slug): Path<String>,
    form: Result<Form<StatusForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let (who, form) = super::guarded(&app, &v, Action::Decide, "decide", &slug, form).await?;
    let who = &who;
    let slug = slug_of(&slug, &v)?;
    let action = match form.action.as_str() {
        "suspend" => DecisionKind::Suspend,
        "reinstate" => DecisionKind::Reinstate,
        "retire" => DecisionKind::Retire,
        _ => {
            return Err(PageError(
                ApiError::BadRequest("the change must be to suspend, reinstate or retire".into()),
                Nav::of(&v),
            ));
        }
    };
    if action == DecisionKind::Retire && form.confirmed != "yes" && !form.reason.trim().is_empty() {
        let view = app
            .registry
            .show(slug.as_str(), app.now())
            .await
            .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
        let title = view
            .versions
            .last()
            .map(|v| v.definition.title.clone())
            .unwrap_or_else(|| slug.to_string());
        return Ok(Confirm {
            nav: Nav::of(&v),
            heading: format!("Retire {title}?"),
            explain: vec![
                format!(
                    "Retiring ends {title} for good: nothing more is pulled or accepted, and its licence number is never used again."
                ),
                "To collect it again it must be proposed anew and pass the checks.".into(),
                format!("Your reason, published on the register: {}", form.reason.trim()),
            ],
            action: format!("/collections/{slug}/decisions"),
            fields: vec![
                ("action".into(), "retire".into()),
                ("reason".into(), form.reason.clone()),
                ("confirmed".into(), "yes".into()),
            ],
            button: format!("Retire {title}"),
            back: format!("/collections/{slug}"),
        }
        .into_response());
    }
    let decision = Decision {
        action,
        reason: form.reason.clone(),
        overrides: Vec::new(),
        effective_from: None,
    };
    let (status, message, kept) = match apply_decision(&app, who, slug.as_str(), &decision).await {
        Ok(d) => (
            StatusCode::OK,
            (format!("{} is now {}.", d.slug, d.status), true),
            String::new(),
        ),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e) => (
            e.status(),
            (format!("Nothing was changed: {e}."), false),
            form.reason.clone(),
        ),
    };
    let page = render(&app, &v, &slug, Some(message), kept).await?;
    Ok((status, page).into_response())
}

/// `/collections/<slug>/template/<csv|xlsx>`: the file a provider fills in, made from the
/// version shown on the page.
pub async fn template(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path((slug, format)): Path<(String, String)>,
) -> Result<Response, PageError> {
    use crate::landing::template::{TemplateFormat, template};
    let nav = Nav::of(&v);
    let slug = slug_of(&slug, &v)?;
    let Some(format) = TemplateFormat::parse(&format) else {
        return Err(PageError(
            ApiError::NotFound("a template is csv or xlsx".into()),
            nav,
        ));
    };
    let view = app
        .registry
        .show(slug.as_str(), app.now())
        .await
        .map_err(|e| PageError(ApiError::from(e), nav.clone()))?;
    let Some(shown) = view.shown() else {
        return Err(PageError(
            ApiError::NotFound("there is no such collection".into()),
            nav,
        ));
    };
    let bytes = template(&shown.definition, format)
        .map_err(|e| PageError(ApiError::Internal(e), nav.clone()))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                format.content_type().to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{slug}-template.{}\"",
                    format.extension()
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `40 minutes`, `2.5 minutes`.
fn minutes(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{m:.0} minutes")
    } else {
        format!("{m:.1} minutes")
    }
}
