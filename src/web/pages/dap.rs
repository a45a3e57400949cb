//! DAP's page: proposals awaiting a decision with their findings as they stand, the decision
//! form (an override field beside each blocking finding, what was typed kept when a decision
//! is refused, and rejection asked twice), licences that run out within 90 days with their
//! renewal, and the listed collections.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::{
    Confirm, FindingLine, Nav, PageError, check_csrf, finding_lines, hours, local_day, signed_in,
};
use crate::domain::finding::{Override, Rule};
use crate::domain::{AuditOutcome, CollectionStatus};
use crate::registry::governance::RENEWAL_DAYS;
use crate::web::api::{Decision, DecisionKind, apply_decision};
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

/// A blocking finding, with the override DAP may write against it.
pub struct Blocking {
    rule: String,
    message: String,
    /// What was typed in its override field, kept when a decision was refused.
    kept: String,
}

pub struct Pending {
    slug: String,
    title: String,
    version: i64,
    by: String,
    at: String,
    hours: String,
    findings: Vec<FindingLine>,
    blocking: Vec<Blocking>,
    kept_reason: String,
    kept_reject: bool,
    kept_from: String,
    /// The definition's notice, in days.
    notice_days: u32,
    /// The day it would be owed from by default.
    default_from: String,
    /// For a new version of a licence in force: the day that licence is owed from, which
    /// it keeps.
    owed_since: Option<String>,
    /// What was typed in the notice override field.
    kept_notice: String,
}

/// A listed collection whose licence runs out within `RENEWAL_DAYS`.
pub struct Expiring {
    slug: String,
    title: String,
    licence: String,
    expires: String,
    /// A renewal is already waiting for a decision above.
    renewing: bool,
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
    /// The national returns' queries awaiting a decision.
    returns: Vec<super::licences::PendingReturn>,
    expiring: Vec<Expiring>,
    renewal_days: i64,
    listed: Vec<ListedLine>,
    /// Each coming collection's readiness, in counts.
    readiness: Vec<crate::registry::readiness::CollectionReadiness>,
    /// Providers' questions waiting for an answer, oldest first.
    questions: Vec<QuestionToAnswer>,
    /// Questions asked about each collection: (title, asked, waiting).
    asked: Vec<(String, usize, usize)>,
}

/// A provider's question, for DAP to answer.
pub struct QuestionToAnswer {
    id: i64,
    collection: String,
    provider: String,
    asked_by: String,
    asked: String,
    question: String,
}

/// A decision form as it was sent: kept when the decision is refused, so nothing typed is
/// lost.
#[derive(Default)]
pub struct Kept {
    slug: String,
    reason: String,
    reject: bool,
    overrides: BTreeMap<String, String>,
    effective_from: String,
}

pub(super) async fn render(
    app: &App,
    v: &Visitor,
    message: Option<(String, bool)>,
    kept: Option<&Kept>,
) -> Result<Dap, PageError> {
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(v));
    let now = app.now();
    let tz = app.settings.timezone;
    let report = app.registry.burden(now).await.map_err(fail)?;
    let mut pending = Vec::new();
    let rows = app.registry.rows().await.map_err(fail)?;
    for c in rows.collections() {
        let versions = rows.versions(&c.slug);
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
        let kept = kept.filter(|k| k.slug == c.slug);
        let def = &p.definition.0;
        let today = now.with_timezone(&def.frequency.timezone).date_naive();
        let owed_since =
            crate::registry::views::owed_from(versions).map(|d| d.format("%-d %B %Y").to_string());
        pending.push(Pending {
            notice_days: def.notice_days,
            default_from: (today + Duration::days(i64::from(def.notice_days)))
                .format("%-d %B %Y")
                .to_string(),
            owed_since,
            kept_from: kept.map(|k| k.effective_from.clone()).unwrap_or_default(),
            kept_notice: kept
                .and_then(|k| k.overrides.get(Rule::Notice.as_str()).cloned())
                .unwrap_or_default(),
            slug: c.slug.clone(),
            title: p.definition.0.title.clone(),
            version: p.version,
            by: p.proposed_by.clone(),
            at: local_day(tz, p.proposed_at),
            hours: hours(check.burden.annual_hours),
            blocking: check
                .blocking()
                .map(|f| Blocking {
                    rule: f.rule.to_string(),
                    message: f.message.clone(),
                    kept: kept
                        .and_then(|k| k.overrides.get(f.rule.as_str()).cloned())
                        .unwrap_or_default(),
                })
                .collect(),
            findings: finding_lines(&check.findings),
            kept_reason: kept.map(|k| k.reason.clone()).unwrap_or_default(),
            kept_reject: kept.is_some_and(|k| k.reject),
        });
    }
    let register = app.registry.register(now).await.map_err(fail)?;
    let expiring = register
        .iter()
        .filter(|e| {
            matches!(
                e.status,
                CollectionStatus::Listed | CollectionStatus::Expired
            )
        })
        .filter_map(|e| {
            let expires = e.expires_at?;
            (expires <= now + Duration::days(RENEWAL_DAYS)).then(|| Expiring {
                renewing: pending.iter().any(|p| p.slug == e.slug),
                slug: e.slug.clone(),
                title: e.title.clone(),
                licence: e.licence_number.clone().unwrap_or_default(),
                expires: local_day(tz, expires),
            })
        })
        .collect();
    let listed = register
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
    let enquiries = app.store().enquiries(None, None).await.map_err(fail)?;
    let titles = super::titles(app).await.map_err(fail)?;
    let title = |slug: &str| titles.get(slug).cloned().unwrap_or_else(|| slug.to_owned());
    let questions = enquiries
        .iter()
        .rev()
        .filter(|q| q.answer.is_none())
        .map(|q| QuestionToAnswer {
            id: q.id,
            collection: title(&q.collection),
            provider: q.provider.clone(),
            asked_by: q.asked_by.clone(),
            asked: local_day(tz, q.asked_at),
            question: q.question.clone(),
        })
        .collect();
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for q in &enquiries {
        let c = counts.entry(title(&q.collection)).or_default();
        c.0 += 1;
        c.1 += usize::from(q.answer.is_none());
    }
    let mut asked: Vec<(String, usize, usize)> =
        counts.into_iter().map(|(t, (n, w))| (t, n, w)).collect();
    asked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (message_class, message) = super::callout(message);
    Ok(Dap {
        nav: Nav::of(v),
        message,
        message_class,
        total: format!("{} hours a year", hours(report.total_hours)),
        cap: set(report.budget.as_ref().and_then(|b| b.cap_hours)),
        headroom: set(report.headroom_hours),
        allowed: set(report.trajectory_hours),
        pending,
        returns: super::licences::pending(app).await.map_err(fail)?,
        expiring,
        renewal_days: RENEWAL_DAYS,
        listed,
        readiness: app.registry.readiness(now).await.map_err(fail)?,
        questions,
        asked,
    })
}

pub(super) fn dap_only(v: &Visitor) -> Result<(), PageError> {
    let who = signed_in(v)?;
    who.require(Action::Decide)
        .map_err(|e| PageError(e, Nav::of(v)))
}

pub async fn page(State(app): State<Arc<App>>, v: Visitor) -> Result<Dap, PageError> {
    dap_only(&v)?;
    render(&app, &v, None, None).await
}

/// The form's fields, read as pairs so that each blocking finding's override field
/// (`override-<rule>`) comes through whatever rules there are.
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Who may decide, then the form whole, then its CSRF token: anyone else is refused (and
/// audited) whatever the form holds.
async fn decision_form(
    app: &App,
    v: &Visitor,
    action: &str,
    required: &[&str],
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Result<Fields, PageError> {
    crate::web::api::allowed(app, signed_in(v)?, Action::Decide, action, "decision form")
        .await
        .map_err(|e| PageError(e, Nav::of(v)))?;
    let Form(fields) = form.map_err(|e| {
        PageError(
            ApiError::Unprocessable(format!("the decision form is not whole: {}", e.body_text())),
            Nav::of(v),
        )
    })?;
    if let Some(missing) = required
        .iter()
        .find(|name| !fields.iter().any(|(k, _)| k == *name))
    {
        return Err(PageError(
            ApiError::Unprocessable(format!(
                "the decision form is not whole: it has no {missing}"
            )),
            Nav::of(v),
        ));
    }
    check_csrf(app, v, field(&fields, "csrf"), action).await?;
    Ok(fields)
}

pub async fn decide(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let fields = decision_form(&app, &v, "decide", &["slug", "action", "reason"], form).await?;
    let who = signed_in(&v)?;
    let bad = |m: String| PageError(ApiError::BadRequest(m), Nav::of(&v));
    let reject = match field(&fields, "action") {
        "approve" => false,
        "reject" => true,
        _ => return Err(bad("the decision must be to list or to reject".into())),
    };
    let slug = crate::domain::definition::Slug::parse(field(&fields, "slug")).map_err(|_| {
        PageError(
            ApiError::NotFound("there is no such collection".into()),
            Nav::of(&v),
        )
    })?;
    let reason = field(&fields, "reason").to_owned();
    let typed_from = field(&fields, "effective_from").to_owned();
    let effective_from = if reject {
        Ok(None)
    } else {
        super::form_date("effective date", &typed_from)
    };
    // Each override field that was filled in, by its rule.
    let mut overrides = Vec::new();
    let mut typed = BTreeMap::new();
    for (name, text) in &fields {
        let Some(rule) = name.strip_prefix("override-") else {
            continue;
        };
        let rule = Rule::parse(rule).ok_or_else(|| bad(format!("\"{rule}\" is not a rule")))?;
        typed.insert(rule.as_str().to_owned(), text.clone());
        if !text.trim().is_empty() && !reject {
            overrides.push(Override {
                rule,
                reason: text.trim().to_owned(),
            });
        }
    }
    let kept = Kept {
        slug: slug.to_string(),
        reason: reason.clone(),
        reject,
        overrides: typed,
        effective_from: typed_from,
    };
    // A day that cannot be read is said on the page, with everything typed kept.
    let effective_from = match effective_from {
        Ok(d) => d,
        Err(why) => {
            let message = format!(
                "The decision on {} was not recorded, and what you typed is kept below: {why}",
                slug.as_str()
            );
            let page = render(&app, &v, Some((message, false)), Some(&kept)).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    // Rejecting cannot be undone: the proposal would have to be made again. Ask first.
    if reject && field(&fields, "confirmed") != "yes" && !reason.trim().is_empty() {
        let title = app
            .registry
            .rows()
            .await
            .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?
            .versions(slug.as_str())
            .last()
            .map(|v| v.definition.0.title.clone())
            .unwrap_or_else(|| slug.to_string());
        return Ok(Confirm {
            nav: Nav::of(&v),
            heading: format!("Reject the proposal for {title}?"),
            explain: vec![
                format!("Rejecting cannot be undone: to collect {title} it would have to be proposed again and checked anew."),
                format!("Your reason, published on the register: {}", reason.trim()),
            ],
            action: "/dap/decisions".into(),
            fields: vec![
                ("slug".into(), slug.to_string()),
                ("action".into(), "reject".into()),
                ("reason".into(), reason.clone()),
                ("confirmed".into(), "yes".into()),
            ],
            button: format!("Reject {title}"),
            back: "/dap".into(),
        }
        .into_response());
    }
    let decision = Decision {
        action: if reject {
            DecisionKind::Reject
        } else {
            DecisionKind::Approve
        },
        reason,
        overrides,
        effective_from,
    };
    let (status, message, kept) = match apply_decision(&app, who, slug.as_str(), &decision).await {
        Ok(d) => (
            StatusCode::OK,
            (
                format!(
                    "{} is now {}{}{}.",
                    d.slug,
                    d.status,
                    d.licence_number
                        .map(|n| format!(" as {n}"))
                        .unwrap_or_default(),
                    d.effective_from
                        .filter(|_| !reject)
                        .map(|f| format!(", owed from {}", f.format("%-d %B %Y")))
                        .unwrap_or_default()
                ),
                true,
            ),
            None,
        ),
        Err(ApiError::Internal(e)) => return Err(PageError(ApiError::Internal(e), Nav::of(&v))),
        Err(e) => (
            e.status(),
            (
                format!(
                    "The decision on {} was not recorded, and what you typed is kept below: {e}",
                    slug.as_str()
                ),
                false,
            ),
            Some(kept),
        ),
    };
    Ok((
        status,
        render(&app, &v, Some(message), kept.as_ref()).await?,
    )
        .into_response())
}

/// Renews a licence that runs out soon: the definition in force is proposed again, checked
/// against today's register, and waits above for DAP's decision like any proposal.
pub async fn renew(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let fields = decision_form(&app, &v, "renew", &["slug"], form).await?;
    let who = signed_in(&v)?;
    let slug = field(&fields, "slug").to_owned();
    let renewed = app.registry.renew(&slug, &who.name, app.now()).await;
    let outcome = if renewed.is_ok() {
        AuditOutcome::Done
    } else {
        AuditOutcome::Refused
    };
    let detail = renewed
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    crate::web::api::record(&app, who.audit("renew", &slug, outcome, &detail))
        .await
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let (status, message) = match renewed {
        Ok(p) => (
            StatusCode::OK,
            (
                format!(
                    "Version {} of {} is proposed for a new term; decide on it below.",
                    p.version, p.slug
                ),
                true,
            ),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if let ApiError::Internal(e) = e {
                return Err(PageError(ApiError::Internal(e), Nav::of(&v)));
            }
            (e.status(), (format!("Nothing was renewed: {e}."), false))
        }
    };
    Ok((status, render(&app, &v, Some(message), None).await?).into_response())
}

/// DAP lists or rejects a return's query, and sees its page again with what came of it.
pub async fn decide_return(
    State(app): State<Arc<App>>,
    v: Visitor,
    form: Result<Form<super::licences::QueryDecision>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let (status, message) = super::licences::apply(&app, &v, form).await?;
    Ok((status, render(&app, &v, Some(message), None).await?).into_response())
}
