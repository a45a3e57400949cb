//! `/providers`: every provider, searchable by code or name and filtered by kind and region,
//! a hundred a page; and `/providers/reporting`, who reported on time, late or not at all
//! over each collection's last periods, by collection, region and provider. For DAP, DHSC
//! and admin.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use chrono::Duration;
use serde::Deserialize;

use super::{Nav, PageError, local_day, local_time, signed_in};
use crate::domain::provider::ProviderKind;
use crate::registry::reporting::{Counts, rates};
use crate::store::runs::RunFilter;
use crate::web::app::App;
use crate::web::auth::{Action, Visitor};
use crate::web::error::ApiError;

const PER_PAGE: usize = 100;
/// Periods counted back from the last whose deadline has passed.
const PERIODS: usize = 3;

pub struct ProviderLine {
    code: String,
    name: String,
    kind: &'static str,
    region: String,
    status: String,
    /// Whether the visitor may open its page (DHSC sees the list, not the pages).
    linked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "providers.html")]
pub struct Directory {
    nav: Nav,
    q: DirectoryQuery,
    kinds: Vec<(&'static str, &'static str)>,
    regions: Vec<String>,
    lines: Vec<ProviderLine>,
    showing: String,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct DirectoryQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    page: Option<usize>,
}

impl DirectoryQuery {
    fn at_page(&self, n: usize) -> String {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("kind", &self.kind),
            ("region", &self.region),
        ] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("page", &n.to_string());
        format!("/providers?{}", url.finish())
    }
}

fn allowed(v: &Visitor) -> Result<&crate::web::auth::Principal, PageError> {
    let who = signed_in(v)?;
    who.require(Action::ListProviders)
        .map_err(|e| PageError(e, Nav::of(v)))?;
    Ok(who)
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    q: Result<Query<DirectoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Directory, PageError> {
    let who = allowed(&v)?;
    let Query(q) = q.map_err(|e| {
        PageError(
            ApiError::BadRequest(format!("the search could not be read: {}", e.body_text())),
            Nav::of(&v),
        )
    })?;
    let providers = app
        .registry
        .providers()
        .await
        .map_err(|e| PageError(ApiError::from(e), Nav::of(&v)))?;
    let today = app.now().with_timezone(&app.settings.timezone).date_naive();
    let text = q.q.trim().to_lowercase();
    let matching: Vec<_> = providers
        .iter()
        .filter(|p| {
            text.is_empty()
                || p.code.as_str().to_lowercase().contains(&text)
                || p.name.to_lowercase().contains(&text)
        })
        .filter(|p| q.kind.is_empty() || p.kind.as_str() == q.kind)
        .filter(|p| q.region.is_empty() || p.region == q.region)
        .collect();
    let mut regions: Vec<String> = providers.iter().map(|p| p.region.clone()).collect();
    regions.sort();
    regions.dedup();
    let page = q.page.unwrap_or(1).max(1);
    let first = (page - 1).saturating_mul(PER_PAGE);
    let lines: Vec<ProviderLine> = matching
        .iter()
        .skip(first)
        .take(PER_PAGE)
        .map(|p| ProviderLine {
            code: p.code.to_string(),
            name: p.name.clone(),
            kind: p.kind.singular(),
            region: p.region.clone(),
            status: match (p.opened_on, p.closed_on) {
                (_, Some(c)) if c <= today => format!("closed {}", c.format("%-d %B %Y")),
                (Some(o), _) if o > today => format!("opens {}", o.format("%-d %B %Y")),
                _ => "open".into(),
            },
            linked: who.may(Action::SeeProvider(p.code.as_str())),
        })
        .collect();
    let showing = if lines.is_empty() {
        "No provider matches.".to_owned()
    } else {
        format!(
            "Providers {} to {} of {}.",
            first + 1,
            first + lines.len(),
            matching.len()
        )
    };
    Ok(Directory {
        nav: Nav::of(&v),
        kinds: ProviderKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.singular()))
            .collect(),
        regions,
        lines,
        showing,
        previous: (page > 1).then(|| q.at_page(page - 1)),
        next: (first.saturating_add(PER_PAGE) < matching.len()).then(|| q.at_page(page + 1)),
        q,
    })
}

/// One row of a reporting-rate table.
pub struct RateLine {
    /// What the row counts: a collection's period, a region, a provider.
    label: String,
    /// A link for the label, where there is a page to go to.
    href: Option<String>,
    /// A second column: the deadline, or a provider's region.
    also: String,
    expected: u32,
    on_time: u32,
    late: u32,
    missing: u32,
    percent: String,
}

impl RateLine {
    fn new(label: String, href: Option<String>, also: String, c: Counts) -> RateLine {
        RateLine {
            label,
            href,
            also,
            expected: c.expected,
            on_time: c.on_time,
            late: c.late,
            missing: c.missing,
            percent: c
                .on_time_percent()
                .map(|p| format!("{p}%"))
                .unwrap_or_else(|| "–".into()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reporting.html")]
pub struct Reporting {
    nav: Nav,
    periods: usize,
    on: String,
    collections: Vec<RateLine>,
    regions: Vec<RateLine>,
    behind: Vec<RateLine>,
    more_behind: usize,
}

pub async fn reporting(State(app): State<Arc<App>>, v: Visitor) -> Result<Reporting, PageError> {
    let who = allowed(&v)?;
    let fail = |e: anyhow::Error| PageError(ApiError::from(e), Nav::of(&v));
    let now = app.now();
    let tz = app.settings.timezone;
    let licensed = app.registry.licensed(now).await.map_err(fail)?;
    let providers = app.registry.providers().await.map_err(fail)?;
    // A quarterly collection's third period back began under a year ago; runs of older
    // periods are not read.
    let runs = app
        .store()
        .runs(&RunFilter {
            finished_after: Some(now - Duration::days(400)),
            limit: i64::MAX,
            ..Default::default()
        })
        .await
        .map_err(fail)?;
    let r = rates(&licensed, &providers, &runs, now, PERIODS);
    const MOST_BEHIND: usize = 50;
    Ok(Reporting {
        nav: Nav::of(&v),
        periods: PERIODS,
        on: local_day(tz, now),
        collections: r
            .by_collection
            .iter()
            .map(|p| {
                RateLine::new(
                    format!("{}, {}", p.title, p.period),
                    Some(format!("/collections/{}", p.collection)),
                    local_time(tz, p.deadline),
                    p.counts,
                )
            })
            .collect(),
        regions: r
            .by_region
            .iter()
            .map(|(region, c)| RateLine::new(region.clone(), None, String::new(), *c))
            .collect(),
        more_behind: r.behind.len().saturating_sub(MOST_BEHIND),
        behind: r
            .behind
            .iter()
            .take(MOST_BEHIND)
            .map(|p| {
                RateLine::new(
                    format!("{} ({})", p.name, p.code),
                    who.may(Action::SeeProvider(&p.code))
                        .then(|| format!("/providers/{}", p.code)),
                    p.region.clone(),
                    p.counts,
                )
            })
            .collect(),
    })
}
