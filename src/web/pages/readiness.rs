//! DAP's view of who is ready for one coming collection: every provider that will owe it,
//! least ready first, with its newest dry run, a page of 100 at a time.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::dap::dap_only;
use super::{Nav, PageError, local_time};
use crate::web::app::App;
use crate::web::auth::Visitor;
use crate::web::error::ApiError;

const PER_PAGE: usize = 100;

pub struct Line {
    code: String,
    name: String,
    kind: String,
    ready: &'static str,
    tone: &'static str,
    last: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "readiness.html")]
pub struct ReadinessPage {
    nav: Nav,
    title: String,
    licence: String,
    from: String,
    counts: Vec<(&'static str, usize)>,
    lines: Vec<Line>,
    showing: String,
    previous: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

pub async fn page(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(slug): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ReadinessPage, PageError> {
    dap_only(&v)?;
    let fail = |e: ApiError| PageError(e, Nav::of(&v));
    let Query(q) = q.map_err(|e| {
        fail(ApiError::BadRequest(format!(
            "the page number could not be read: {}",
            e.body_text()
        )))
    })?;
    let all = app
        .registry
        .readiness(app.now())
        .await
        .map_err(|e| fail(ApiError::from(e)))?;
    let Some(r) = all.into_iter().find(|r| r.collection == slug) else {
        return Err(fail(ApiError::NotFound(format!(
            "{} is not a listed collection still to come into effect",
            slug.chars().take(64).collect::<String>()
        ))));
    };
    let tz = app.settings.timezone;
    let page = q.page.unwrap_or(1).max(1);
    let first = (page - 1).saturating_mul(PER_PAGE);
    let total = r.providers.len();
    let lines: Vec<Line> = r
        .providers
        .iter()
        .skip(first)
        .take(PER_PAGE)
        .map(|p| Line {
            code: p.code.clone(),
            name: p.name.clone(),
            kind: p.kind.clone(),
            ready: p.ready.words(),
            tone: match p.ready {
                crate::registry::readiness::Ready::SourcePassed
                | crate::registry::readiness::Ready::FilePassed => "landed",
                crate::registry::readiness::Ready::Tried => "failed",
                crate::registry::readiness::Ready::Nothing => "waiting",
            },
            last: p
                .last
                .as_ref()
                .map(|c| {
                    format!(
                        "{} of {} on {}: {}",
                        c.tried,
                        c.period,
                        local_time(tz, c.tried_at),
                        c.summary
                    )
                })
                .unwrap_or_default(),
        })
        .collect();
    let url = |n: usize| format!("/dap/readiness/{}?page={n}", r.collection);
    Ok(ReadinessPage {
        nav: Nav::of(&v),
        showing: if lines.is_empty() {
            "No provider on this page.".into()
        } else {
            format!(
                "Providers {} to {} of {total}, least ready first.",
                first + 1,
                first + lines.len()
            )
        },
        previous: (page > 1 && first < total + PER_PAGE).then(|| url(page - 1)),
        next: (first + PER_PAGE < total).then(|| url(page + 1)),
        counts: vec![
            ("Source passed a dry run", r.source_passed),
            ("A file passed a dry run", r.file_passed),
            ("Tried, not passing yet", r.tried),
            ("Nothing tried", r.nothing),
        ],
        title: r.title,
        licence: r.licence_number,
        from: r.effective_from.format("%-d %B %Y").to_string(),
        lines,
    })
}
