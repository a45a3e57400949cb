//! Completeness: which providers owed an input for a return's period, which sent every
//! period they owed, which are missing (by code and name, with how many periods), and whose
//! extracts arrived late. Obligations follow each provider's kind and open and close dates,
//! and the date the collection was listed, so a closed provider is never counted missing.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::providers::Provider;
use crate::registry::definition::{CollectionDef, PeriodKind};
use crate::schedule::period::Period;
use crate::schedule::timetable::deadline;
use crate::store::runs::CurrentVersion;

/// Who was expected to send an input for the return's period, and who did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// True when every expected provider sent every expected period of every input.
    pub complete: bool,
    pub inputs: Vec<InputCompleteness>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCompleteness {
    pub collection: String,
    /// The input's periods inside the return's period.
    pub periods: usize,
    /// Providers that owed at least one of those periods.
    pub expected: usize,
    /// Providers that sent every period they owed.
    pub received: usize,
    /// Providers missing one or more periods, with how many.
    pub missing: Vec<Missing>,
    /// Providers whose current version of some period landed after its deadline.
    pub late: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub code: String,
    pub name: String,
    pub periods_missing: usize,
    pub periods_owed: usize,
}

/// The periods of `kind` that lie inside `outer`.
pub fn periods_within(outer: &Period, kind: PeriodKind) -> Vec<Period> {
    let mut out = Vec::new();
    let mut day = outer.first_day();
    while day < outer.end() {
        let p = Period::containing(kind, day);
        if p.first_day() >= outer.first_day() && p.end() <= outer.end() {
            day = p.end();
            out.push(p);
        } else {
            day = p.end();
        }
    }
    out
}

/// A provider owes a period when it is of a kind the collection asks, is open on any day of
/// it, and the collection was listed by its start.
fn owes(def: &CollectionDef, listed: NaiveDate, p: &Provider, period: &Period) -> bool {
    period.first_day() >= listed
        && def.respondents.kinds.contains(&p.kind)
        && p.opened_on.is_none_or(|o| o < period.end())
        && p.closed_on.is_none_or(|c| c > period.first_day())
}

/// Who owed `collection` for `periods` and who sent it: `current` holds the current
/// versions landed for those periods.
pub fn assess(
    collection: &CollectionDef,
    listed: NaiveDate,
    providers: &[Provider],
    periods: &[Period],
    current: &[CurrentVersion],
) -> InputCompleteness {
    let got: HashMap<(&str, &str), &CurrentVersion> = current
        .iter()
        .map(|v| ((v.provider.as_str(), v.period.as_str()), v))
        .collect();
    // Each period's name and deadline once, not once a provider.
    let named: Vec<(&Period, String, DateTime<Utc>)> = periods
        .iter()
        .map(|q| (q, q.to_string(), deadline(collection, q)))
        .collect();
    let mut c = InputCompleteness {
        collection: collection.slug.to_string(),
        periods: periods.len(),
        ..InputCompleteness::default()
    };
    for p in providers {
        if !collection.respondents.kinds.contains(&p.kind) {
            continue;
        }
        let owed: Vec<&(&Period, String, DateTime<Utc>)> = named
            .iter()
            .filter(|(q, _, _)| owes(collection, listed, p, q))
            .collect();
        if owed.is_empty() {
            continue;
        }
        c.expected += 1;
        let code = p.code.to_string();
        let (mut missing, mut late) = (0, false);
        for (_, name, due) in &owed {
            match got.get(&(code.as_str(), name.as_str())) {
                None => missing += 1,
                Some(v) => late |= v.landed_at > *due,
            }
        }
        if missing == 0 {
            c.received += 1;
        } else {
            c.missing.push(Missing {
                code: code.clone(),
                name: p.name.clone(),
                periods_missing: missing,
                periods_owed: owed.len(),
            });
        }
        if late {
            c.late.push(code);
        }
    }
    c
}
