//! The public pages: the register and one collection.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use chrono::Utc;

use super::{Nav, OverrideLine, PageError, hours, override_lines};
use crate::domain::CollectionStatus;
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
