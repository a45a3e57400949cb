//! A provider's page: what is overdue, what is due this week (pulled by Tally, and when, or
//! to upload), what is coming with its notice, each period's runs gathered with the
//! reports to act on, the upload form, and its burden dashboard.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};

use chrono::Duration;

use super::{Nav, PageError, check_csrf, local_time, signed_in};
use crate::domain::{Arrival, Period, RunStatus};
use crate::landing::Report;
use crate::registry::governance::Licensed;
use crate::registry::window::deadline;
use crate::schedule::standing::{Owed, PeriodRuns, by_period, plain_note, standing};
use crate::store::runs::RunFilter;
use crate::web::api::UploadFormRead as Form;
use crate::web::app::App;
use crate::web::auth::{Action, Principal, Visitor};
use crate::web::error::ApiError;

/// One period owed, overdue or due this week.
pub struct OwedLine {
    slug: String,
    title: String,
    licence: String,
    period: String,
    deadline: String,
    /// "3 days late", or where it stands when the deadline is still to come.
    state: String,
    /// Landed: shown as done.
    done: bool,
    /// Whether Tally pulls it, and when; or that the provider uploads it.
    how: String,
    /// Not delivered, and the collection takes a nil return: the page offers one.
    nil: bool,
}

/// A collection the provider will owe once its effective date comes.
pub struct ComingLine {
    slug: String,
    title: String,
    licence: String,
    purpose: String,
    legal_basis: String,
    sponsor: String,
    asked: String,
    from: String,
    /// The first period owed.
    first: String,
    often: String,
    due: String,
    how: String,
}

/// One period's runs, gathered.
pub struct PeriodLine {
    collection: String,
    period: String,
    attempts: usize,
    /// The tag's colour: landed, failed, or waiting (neutral).
    tone: &'static str,
    /// What it means for the provider.
    outcome: String,
    /// Pulled, uploaded, or a nil return.
    how: &'static str,
    accepted: String,
    rejected: String,
    when: String,
    note: String,
}

/// A question the provider asked, and DAP's answer when there is one.
pub struct QuestionLine {
    collection: String,
    asked: String,
    question: String,
    answer: Option<String>,
}

/// A validation report the provider should act on.
pub struct ReportBox {
    run: i64,
    collection: String,
    period: String,
    text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "provider.html")]
pub struct ProviderPage {
    nav: Nav,
    code: String,
    name: String,
    message: Option<String>,
    message_class: &'static str,
    /// A dry run's report, under the message.
    trial: Option<String>,
    /// Versions with figures held for it to confirm.
    holds: Vec<super::holds::HoldBox>,
    signoff: super::signoff::SignOffBox,
    overdue: Vec<OwedLine>,
    week: Vec<OwedLine>,
    coming: Vec<ComingLine>,
    periods: Vec<PeriodLine>,
    reports: Vec<ReportBox>,
    can_upload: bool,
    /// What it may upload: (slug, title).
    owed: Vec<(String, String)>,
    /// Of those, what it may declare a nil return for: (slug, title).
    nil_able: Vec<(String, String)>,
    /// What it may try but not yet send: (slug, title, first day owed).
    tryable: Vec<(String, String, String)>,
    /// Coming collections Tally will pull from its source: (slug, title, a period to try).
    sourced: Vec<(String, String, String)>,
    /// Whom Tally e-mails, one a line.
    contacts: String,
    /// Its questions to DAP, newest first.
    questions: Vec<QuestionLine>,
    /// Its periods' burden over twelve months, as achieved beside the estimate.
    felt: super::felt::Felt,
}

/// `2 days 3 hours`, to the hour; under an hour is `less than an hour`.
fn span(d: Duration) -> String {
    let (days, hours) = (d.num_days(), d.num_hours() % 24);
    let part = |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (days, hours) {
        (0, 0) => "less than an hour".into(),
        (0, h) => part(h, "hour"),
        (d, 0) => part(d, "day"),
        (d, h) => format!("{} {}", part(d, "day"), part(h, "hour")),
    }
}

fn owed_line(tz: chrono_tz::Tz, o: &Owed, now: chrono::DateTime<chrono::Utc>) -> OwedLine {
    let done = o.last.is_some_and(RunStatus::landed);
    let state = if done {
        o.last.map(|s| s.to_string()).unwrap_or_default()
    } else if o.deadline <= now {
        format!("{} late", span(o.late_by(now)))
    } else {
        "not delivered yet".into()
    };
    let tried = match (o.attempts, o.last) {
        (0, _) | (_, None) => String::new(),
        (n, Some(last)) => format!(
            " Tried {n} time{}; the last {}.",
            if n == 1 { "" } else { "s" },
            last
        ),
    };
    let how = match (o.pulled, o.next_pull, done) {
        (_, _, true) => "Nothing more to do.".into(),
        _ if o.by_form => format!(
            "A form your staff fill in, sent as before; Tally does not chase it. You may upload it below instead, until {}.{tried}",
            local_time(tz, o.closes)
        ),
        (true, Some(at), _) => format!(
            "Tally pulls it from your source system on {}.{tried}",
            local_time(tz, at)
        ),
        (true, None, _) => format!(
            "Tally pulls it from your source system and tries again until {}; you may upload it instead.{tried}",
            local_time(tz, o.closes)
        ),
        (false, _, _) => format!(
            "Upload it below (Tally has no source system to pull it from); taken until {}.{tried}",
            local_time(tz, o.closes)
        ),
    };
    OwedLine {
        slug: o.collection.clone(),
        title: o.title.clone(),
        licence: o.licence.clone(),
        period: o.period.to_string(),
        deadline: local_time(tz, o.deadline),
        state,
        done,
        how,
        nil: !done && o.nil_return,
    }
}

/// How a period's extract came, in the provider's words.
fn arrived(a: Arrival) -> &'static str {
    match a {
        Arrival::Pulled => "pulled",
        Arrival::Uploaded => "uploaded",
        Arrival::Nil => "nil return",
    }
}

fn coming_line(app: &App, code: &str, l: &Licensed) -> ComingLine {
    let def = &l.def;
    let names: Vec<&str> = def.items.iter().map(|i| i.name.as_str()).collect();
    ComingLine {
        slug: def.slug.to_string(),
        title: def.title.clone(),
        licence: l.licence_number.clone(),
        purpose: def.purpose.clone(),
        legal_basis: def.legal_basis.clone(),
        sponsor: def.sponsor.clone(),
        asked: format!("{} items: {}", names.len(), names.join(", ")),
        from: l.effective_from.format("%-d %B %Y").to_string(),
        first: l.first_period().to_string(),
        often: format!(
            "{}, one set of rows per {}",
            def.frequency.period.adjective(),
            def.grain.as_str()
        ),
        due: format!(
            "{} after each period ends",
            super::collection::lag(def.deadline)
        ),
        how: if app.sources.find(def.slug.as_str(), code).is_some() {
            "Tally will pull it from your source system: try the source before then.".into()
        } else {
            "Connect a source system, or upload each period here: try a file before then.".into()
        },
    }
}

/// A period's outcome as the provider reads it, with its tag's colour: a failed pull
/// before the deadline is not a failure yet.
fn outcome(
    p: &PeriodRuns,
    due: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> (&'static str, &'static str) {
    let waiting = due.is_some_and(|d| d > now);
    if p.arrived == Arrival::Nil {
        match p.outcome {
            RunStatus::Landed => return ("landed", "nothing to report, on time"),
            RunStatus::Late => return ("late", "nothing to report, late"),
            RunStatus::Amended => return ("landed", "corrected to nothing to report"),
            _ => {}
        }
    }
    match p.outcome {
        RunStatus::Landed => ("landed", "landed on time"),
        RunStatus::Late => ("late", "landed late"),
        RunStatus::Amended => ("landed", "corrected"),
        RunStatus::Rejected => ("failed", "rejected: read its report below"),
        RunStatus::Refused => ("failed", "not taken: the collection was not in force"),
        RunStatus::Running => ("waiting", "being pulled now"),
        RunStatus::Due | RunStatus::Failed if waiting => ("waiting", "not delivered yet"),
        RunStatus::Due => ("waiting", "waiting to be pulled again"),
        RunStatus::Failed => ("failed", "not received"),
    }
}

/// The page, with what came of a form: a message, and a dry run's report.
pub(super) async fn render(
    app: &App,
    v: &Visitor,
    code: &str,
    message: Option<(String, bool)>,
    trial: Option<String>,
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
    let tz = app.settings.timezone;
    let runs = app
        .store()
        .runs(&RunFilter {
            provider: Some(code.into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .map_err(fail)?;
    // What it owes: each licensed collection in effect asked of its kind while it is open
    // (as `Registry::obligations` has it), for the tables and the upload form.
    let licensed = app.registry.licensed(now).await.map_err(fail)?;
    let owed: Vec<&Licensed> = licensed
        .iter()
        .filter(|l| {
            let today = now.with_timezone(&l.def.frequency.timezone).date_naive();
            l.in_effect_on(today)
                && l.def.respondents.kinds.contains(&provider.kind)
                && provider.is_open_on(today)
        })
        .collect();
    let stand = standing(
        &owed,
        provider,
        &runs,
        |slug| app.sources.find(slug, code).is_some(),
        now,
    );
    // What is coming, among the collections already read.
    let coming_licensed: Vec<&Licensed> =
        crate::registry::views::coming(&licensed, provider, now).collect();
    let coming = coming_licensed
        .iter()
        .map(|l| coming_line(app, code, l))
        .collect();
    let tryable = coming_licensed
        .iter()
        .map(|l| {
            (
                l.def.slug.to_string(),
                l.def.title.clone(),
                l.effective_from.format("%-d %B %Y").to_string(),
            )
        })
        .collect();
    // A source is tried for the last period that has ended: what a first pull would read.
    let sourced = coming_licensed
        .iter()
        .chain(owed.iter())
        .filter(|l| app.sources.find(l.def.slug.as_str(), code).is_some())
        .map(|l| {
            let today = now.with_timezone(&l.def.frequency.timezone).date_naive();
            let last = Period::containing(l.def.frequency.period, today).previous();
            (
                l.def.slug.to_string(),
                l.def.title.clone(),
                last.to_string(),
            )
        })
        .collect();
    // Collections are shown by their titles; a run of one no longer in force keeps its slug.
    let titles = super::titles(app).await.map_err(fail)?;
    let title = |slug: &str| titles.get(slug).cloned().unwrap_or_else(|| slug.to_owned());
    let due_of = |p: &PeriodRuns| {
        let l = licensed
            .iter()
            .find(|l| l.def.slug.as_str() == p.collection)?;
        Some(deadline(&l.def, &Period::parse(&p.period).ok()?))
    };
    let periods = by_period(&runs)
        .into_iter()
        .take(30)
        .map(|p| {
            let (tone, said) = outcome(&p, due_of(&p), now);
            (p, tone, said)
        })
        .map(|(p, tone, said)| PeriodLine {
            collection: title(&p.collection),
            outcome: said.into(),
            tone,
            attempts: p.attempts,
            how: arrived(p.arrived),
            accepted: p.rows_accepted.map(|n| n.to_string()).unwrap_or_default(),
            rejected: p.rows_rejected.map(|n| n.to_string()).unwrap_or_default(),
            when: p
                .finished_at
                .filter(|_| p.landed())
                .map(|t| local_time(tz, t))
                .unwrap_or_default(),
            note: p.note.as_deref().map(plain_note).unwrap_or_default(),
            period: p.period,
        })
        .collect();
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
    let felt = super::felt::felt(app, code, now).await.map_err(fail)?;
    let nil_able: Vec<(String, String)> = owed
        .iter()
        .filter(|l| l.def.nil_return)
        .map(|l| (l.def.slug.to_string(), l.def.title.clone()))
        .collect();
    let (message_class, message) = super::callout(message);
    Ok(ProviderPage {
        code: code.into(),
        name: provider.name.clone(),
        message,
        message_class,
        trial,
        holds: super::holds::boxes(app, code).await.map_err(fail)?,
        signoff: super::signoff::section(app, code).await.map_err(fail)?,
        // The oldest first: its window closes soonest.
        overdue: stand
            .overdue
            .iter()
            .map(|o| owed_line(tz, o, now))
            .collect(),
        week: stand.week.iter().map(|o| owed_line(tz, o, now)).collect(),
        coming,
        periods,
        reports,
        can_upload: who.may(Action::Upload(code)),
        owed: owed
            .iter()
            .map(|l| (l.def.slug.to_string(), l.def.title.clone()))
            .collect(),
        nil_able,
        tryable,
        sourced,
        questions: app
            .store()
            .enquiries(None, Some(code))
            .await
            .map_err(fail)?
            .into_iter()
            .map(|q| QuestionLine {
                collection: title(&q.collection),
                asked: local_time(tz, q.asked_at),
                question: q.question,
                answer: q.answer,
            })
            .collect(),
        contacts: app
            .store()
            .contacts()
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|(p, _)| p == code)
            .map(|(_, a)| a)
            .collect::<Vec<_>>()
            .join("\n"),
        felt,
        nav,
    })
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
) -> Result<ProviderPage, PageError> {
    render(&app, &v, &code, None, None).await
}

/// A provider's file form, for `action` (an upload or a dry run): who may act is checked
/// (and a refusal audited) before the form is read, as the API does; then the form whole;
/// then its CSRF field.
pub(super) async fn file_form(
    app: &App,
    v: &Visitor,
    code: &str,
    action: &str,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(Principal, Form), PageError> {
    let who = signed_in(v)?.clone();
    let target: String = code.chars().take(40).collect();
    crate::web::api::allowed(app, &who, Action::Upload(code), action, &target)
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    let form = form.map_err(|e| {
        PageError(
            ApiError::BadRequest(format!("send the file as a form upload: {}", e.body_text())),
            Nav::of(v),
        )
    })?;
    // A form that cannot be read is refused (and logged) before its CSRF field can be
    // checked, so it is not put in the audit log under the signed-in name.
    let form = crate::web::api::read_form(form, app)
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    check_csrf(app, v, &form.csrf, action).await?;
    Ok((who, form))
}

/// Lands what a provider handed over on its page (a file, a confirmed correction, a nil
/// return) through the one upload path, and shows its page with what came of it; a refusal
/// is said after `refused`.
pub(super) async fn land_and_show(
    app: &Arc<App>,
    v: &Visitor,
    who: &Principal,
    code: &str,
    over: crate::web::api::HandOver,
    refused: &str,
) -> Result<axum::response::Response, PageError> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let (status, message) = match crate::web::api::land_upload(app, who, code, over).await {
        Ok(u) if u.status.done() => (StatusCode::OK, (u.summary(), true)),
        Ok(u) => (StatusCode::UNPROCESSABLE_ENTITY, (u.summary(), false)),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(v))),
        // Another version landed while this one was checked: shown what it changes now.
        Err(e @ ApiError::ConfirmReplace(_)) => (
            e.status(),
            (
                format!("{e} Upload it again to see what it changes and confirm it."),
                false,
            ),
        ),
        Err(e) => (e.status(), (format!("{refused}: {e}"), false)),
    };
    Ok((status, render(app, v, code, Some(message), None).await?).into_response())
}
