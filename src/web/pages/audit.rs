//! `/audit`: the audit log for DAP and admin, filtered by who, what, when and outcome, fifty
//! entries a page, newest first, with times in UK time.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{Nav, PageError, local_time, signed_in};
use crate::domain::AuditOutcome;
use crate::store::access::AuditFilter;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

const PER_PAGE: i64 = 50;

pub struct Line {
    at: String,
    actor: String,
    role: String,
    action: String,
    target: String,
    outcome: AuditOutcome,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    nav: Nav,
    q: AuditQuery,
    actions: Vec<String>,
    outcomes: Vec<&'static str>,
    lines: Vec<Line>,
    /// "Entries 51 to 100 of 312".
    showing: String,
    newer: Option<String>,
    older: Option<String>,
}

/// The filter as the address gives it; every field may be empty.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    who: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: Option<i64>,
}

impl AuditQuery {
    /// The address of page `n` under the same filter.
    fn at_page(&self, n: i64) -> String {
        let pairs = [
            ("who", self.who.as_str()),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("page", &n.to_string());
        format!("/audit?{}", url.finish())
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<AuditPage, PageError> {
    let who = signed_in(&v)?;
    who.require(Action::Audit)
        .map_err(|e| PageError(e, Nav::of(&v)))?;
    let bad = |m: String| PageError(ApiError::BadRequest(m), Nav::of(&v));
    let Query(q) =
        q.map_err(|e| bad(format!("the filter could not be read: {}", e.body_text())))?;
    let tz = app.settings.timezone;
    // A local day's first moment, in UTC.
    let start_of = |name: &str, text: &str, plus: i64| -> Result<_, PageError> {
        let Some(day) = super::form_date(name, text).map_err(bad)? else {
            return Ok(None);
        };
        Ok((day + Duration::days(plus))
            .and_hms_opt(0, 0, 0)
            .and_then(|m| m.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc)))
    };
    let outcome = match q.outcome.as_str() {
        "" => None,
        o => Some(
            o.parse::<AuditOutcome>()
                .map_err(|_| bad(format!("\"{o}\" is not an outcome the log records")))?,
        ),
    };
    let filter = AuditFilter {
        who: q.who.chars().take(200).collect(),
        action: q.action.chars().take(100).collect(),
        outcome,
        from: start_of("from date", &q.from, 0)?,
        // To the end of the day given.
        until: start_of("to date", &q.to, 1)?,
    };
    let page = q.page.unwrap_or(1).max(1);
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let (rows, total) = app
        .store()
        .audit_search(&filter, (page - 1).saturating_mul(PER_PAGE), PER_PAGE)
        .await
        .map_err(fail)?;
    // A page far past the end shows nothing; it must not overflow on the way.
    let first = (page - 1).saturating_mul(PER_PAGE).saturating_add(1);
    let showing = if rows.is_empty() {
        "No entry matches.".to_owned()
    } else {
        format!(
            "Entries {} to {} of {}, newest first.",
            first,
            first + rows.len() as i64 - 1,
            total
        )
    };
    Ok(AuditPage {
        nav: Nav::of(&v),
        actions: app.store().audit_actions().await.map_err(fail)?,
        outcomes: AuditOutcome::ALL.iter().map(|o| o.as_str()).collect(),
        lines: rows
            .into_iter()
            .map(|r| Line {
                at: local_time(tz, r.at),
                actor: r.actor,
                role: r.role,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                detail: r.detail,
            })
            .collect(),
        showing,
        newer: (page > 1).then(|| q.at_page(page - 1)),
        older: (page.saturating_mul(PER_PAGE) < total).then(|| q.at_page(page + 1)),
        q,
    })
}
