//! One provider's burden month by month: what its staff spent on each collection, by hand
//! and in signing off automated pulls, and the hours automation saved.
//!
//! Measured where Tally sees the work, estimated where it cannot (DESIGN.md, "Burden
//! ledger"):
//! - an automated collection costs its sign-off minutes for each version pulled from a
//!   source, and its manual minutes for each version uploaded by hand (a manual fix after a
//!   failed pull, or a provider without a source); each pulled version saves the difference;
//! - a manual collection is filled in outside Tally, so each period it was owed costs its
//!   manual minutes, as the listing estimates.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::definition::{Capture, CollectionDef};
use crate::providers::Provider;
use crate::returns::completeness::periods_within;
use crate::schedule::period::Period;
use crate::store::runs::RunRow;

/// A collection as it applied over time: in force from `from`, until `to` if it went.
#[derive(Debug, Clone)]
pub struct InForce<'a> {
    pub def: &'a CollectionDef,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CollectionMonth {
    pub collection: String,
    /// `manual` or `automated`, as the collection is captured.
    pub capture: String,
    /// Submissions in the month: versions landed, or periods owed for a manual form.
    pub submissions: u32,
    pub manual_hours: f64,
    pub automated_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthBurden {
    /// `2026-11`.
    pub month: String,
    pub collections: Vec<CollectionMonth>,
    pub manual_hours: f64,
    pub automated_hours: f64,
    /// Hours that pulls from a source saved against filling the same in by hand.
    pub saved_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProviderBurden {
    pub provider: String,
    pub name: String,
    /// Oldest first.
    pub months: Vec<MonthBurden>,
    pub manual_hours: f64,
    pub automated_hours: f64,
    /// Hours saved over the months shown.
    pub saved_hours: f64,
    /// The first day a version was pulled from a source, if one ever was.
    pub automated_since: Option<NaiveDate>,
}

/// A run the ledger records as an upload by hand: `tally upload` and the web form claim
/// their runs as `upload-…` instances.
pub fn by_hand(run: &RunRow) -> bool {
    run.instance
        .as_deref()
        .is_some_and(|i| i.starts_with("upload-"))
}

/// `months` (oldest first) of `provider`'s burden under `collections`, from its `runs`.
pub fn provider_burden(
    provider: &Provider,
    collections: &[InForce],
    runs: &[RunRow],
    months: &[Period],
    tz: chrono_tz::Tz,
) -> ProviderBurden {
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let mut out = Vec::new();
    for month in months {
        let (first, last) = (month.first_day(), month.end());
        let mut rows = Vec::new();
        for c in collections
            .iter()
            .filter(|c| c.def.respondents.kinds.contains(&provider.kind))
        {
            let slug = c.def.slug.as_str();
            let (manual, automated) = (c.def.burden.manual_minutes, c.def.burden.automated_minutes);
            let mut row = CollectionMonth {
                collection: slug.into(),
                capture: c.def.capture.as_str().into(),
                submissions: 0,
                manual_hours: 0.0,
                automated_hours: 0.0,
            };
            match c.def.capture {
                Capture::Manual => {
                    // Periods of the form that end inside the month, while it was in force
                    // and the provider was open.
                    let owed = periods_within(month, c.def.frequency.period)
                        .into_iter()
                        .chain(
                            // A quarterly form due in a month is one that ends in it.
                            std::iter::once(Period::containing(c.def.frequency.period, last))
                                .filter(|p| p.end() <= last && p.end() >= first),
                        )
                        .filter(|p| p.end() >= first && p.end() <= last)
                        .filter(|p| p.end() >= c.from && c.to.is_none_or(|to| p.end() < to))
                        .filter(|p| provider.is_open_on(p.first_day().max(first)))
                        .map(|p| p.to_string())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as u32;
                    row.submissions = owed;
                    row.manual_hours = f64::from(owed) * manual / 60.0;
                }
                Capture::Automated => {
                    for r in runs.iter().filter(|r| {
                        r.collection == slug
                            && matches!(r.status.as_str(), "landed" | "late")
                            && r.finished_at
                                .map(day)
                                .is_some_and(|d| d >= first && d <= last)
                    }) {
                        row.submissions += 1;
                        if by_hand(r) {
                            row.manual_hours += manual / 60.0;
                        } else {
                            row.automated_hours += automated / 60.0;
                        }
                    }
                }
            }
            if row.submissions > 0 {
                rows.push(row);
            }
        }
        let saved = runs
            .iter()
            .filter(|r| matches!(r.status.as_str(), "landed" | "late") && !by_hand(r))
            .filter(|r| {
                r.finished_at
                    .map(day)
                    .is_some_and(|d| d >= first && d <= last)
            })
            .filter_map(|r| {
                collections
                    .iter()
                    .find(|c| c.def.slug.as_str() == r.collection)
            })
            .filter(|c| c.def.capture == Capture::Automated)
            .map(|c| (c.def.burden.manual_minutes - c.def.burden.automated_minutes).max(0.0) / 60.0)
            .sum::<f64>()
            + 0.0;
        out.push(MonthBurden {
            month: format!("{}-{:02}", first.year(), first.month()),
            manual_hours: rows.iter().map(|r| r.manual_hours).sum::<f64>() + 0.0,
            automated_hours: rows.iter().map(|r| r.automated_hours).sum::<f64>() + 0.0,
            saved_hours: saved,
            collections: rows,
        });
    }
    ProviderBurden {
        provider: provider.code.to_string(),
        name: provider.name.clone(),
        manual_hours: out.iter().map(|m| m.manual_hours).sum::<f64>() + 0.0,
        automated_hours: out.iter().map(|m| m.automated_hours).sum::<f64>() + 0.0,
        saved_hours: out.iter().map(|m| m.saved_hours).sum::<f64>() + 0.0,
        automated_since: runs
            .iter()
            .filter(|r| matches!(r.status.as_str(), "landed" | "late") && !by_hand(r))
            .filter_map(|r| r.finished_at.map(day))
            .min(),
        months: out,
    }
}

/// The twelve months up to and including the one `today` is in, oldest first.
pub fn last_twelve_months(today: NaiveDate) -> Vec<Period> {
    let mut m = Period::containing(crate::registry::definition::PeriodKind::Month, today);
    let mut out = vec![m.clone()];
    for _ in 0..11 {
        m = m.previous();
        out.push(m.clone());
    }
    out.reverse();
    out
}

impl super::Registry {
    /// `code`'s burden over the twelve months to `at`.
    pub async fn provider_burden(
        &self,
        provider: &Provider,
        at: DateTime<Utc>,
    ) -> anyhow::Result<ProviderBurden> {
        let store = self.store();
        let decisions = store.decisions(None).await?;
        let mut defs = Vec::new();
        for c in store.collections().await? {
            let versions = store.versions(&c.slug).await?;
            // The version that was last in force, and when the collection first came in.
            let Some(last) = versions.iter().rev().find(|v| v.listed_at.is_some()) else {
                continue;
            };
            let from = versions
                .iter()
                .filter_map(|v| v.listed_at)
                .min()
                .map(|t| self.day(t));
            let to = (c.status == "retired")
                .then(|| {
                    decisions
                        .iter()
                        .rev()
                        .find(|d| d.slug == c.slug && d.action == "retire")
                        .map(|d| self.day(d.at))
                })
                .flatten();
            if let Some(from) = from {
                defs.push((last.definition.0.clone(), from, to));
            }
        }
        let in_force: Vec<InForce> = defs
            .iter()
            .map(|(def, from, to)| InForce {
                def,
                from: *from,
                to: *to,
            })
            .collect();
        let runs = store
            .runs(&crate::store::runs::RunFilter {
                provider: Some(provider.code.to_string()),
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        Ok(provider_burden(
            provider,
            &in_force,
            &runs,
            &last_twelve_months(self.day(at)),
            self.tz,
        ))
    }
}
