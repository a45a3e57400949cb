//! Reporting rates, in the spirit of DHIS2's: for each licensed collection's last periods
//! whose deadline has passed, how many providers were expected to report, how many did on
//! time, late, or not at all; by collection, by region, and the providers most behind.
//!
//! Pure: the caller gathers the licensed collections, providers and runs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::governance::Licensed;
use super::window::deadline;
use crate::domain::Period;
use crate::domain::RunStatus;
use crate::domain::provider::Provider;
use crate::store::runs::RunRow;

/// Counts of one group of submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub expected: u32,
    pub on_time: u32,
    pub late: u32,
    pub missing: u32,
}

impl Counts {
    fn add(&mut self, how: Reported) {
        self.expected += 1;
        match how {
            Reported::OnTime => self.on_time += 1,
            Reported::Late => self.late += 1,
            Reported::Missing => self.missing += 1,
        }
    }

    /// The share that reported on time, as a whole percentage; none when none were expected.
    pub fn on_time_percent(&self) -> Option<u32> {
        (self.expected > 0)
            .then(|| ((f64::from(self.on_time) * 100.0 / f64::from(self.expected)).round()) as u32)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reported {
    OnTime,
    Late,
    Missing,
}

/// One collection's one period.
#[derive(Debug, Clone)]
pub struct PeriodRate {
    pub collection: String,
    pub title: String,
    pub period: Period,
    pub deadline: DateTime<Utc>,
    pub counts: Counts,
}

/// One provider's record over the periods counted.
#[derive(Debug, Clone)]
pub struct ProviderRate {
    pub code: String,
    pub name: String,
    pub region: String,
    pub counts: Counts,
}

#[derive(Debug, Clone, Default)]
pub struct ReportingRates {
    /// Newest period first within each collection.
    pub by_collection: Vec<PeriodRate>,
    /// Every period counted, by the provider's region.
    pub by_region: Vec<(String, Counts)>,
    /// Providers with a late or missing submission, most missing first.
    pub behind: Vec<ProviderRate>,
}

/// The last `periods` periods of `def` whose deadline is at or before `now`, newest first.
fn closed_periods(l: &Licensed, now: DateTime<Utc>, periods: usize) -> Vec<Period> {
    let def = &l.def;
    let today = now.with_timezone(&def.frequency.timezone).date_naive();
    let since = l.effective_from;
    let mut p = Period::containing(def.frequency.period, today);
    let mut out = Vec::new();
    // A period is counted once its deadline has passed; none before the licence began.
    for _ in 0..(periods + 400) {
        if out.len() >= periods || p.first_day() < since {
            break;
        }
        if deadline(def, &p) <= now {
            out.push(p);
        }
        p = p.previous();
    }
    out
}

/// Reporting rates over each licensed collection's last `periods` closed periods.
pub fn rates(
    licensed: &[Licensed],
    providers: &[Provider],
    runs: &[RunRow],
    now: DateTime<Utc>,
    periods: usize,
) -> ReportingRates {
    // How each (collection, provider, period) first landed: on time or late.
    let mut landed: HashMap<(&str, &str, &str), Reported> = HashMap::new();
    for r in runs {
        let how = match r.status {
            RunStatus::Landed => Reported::OnTime,
            RunStatus::Late => Reported::Late,
            // A correction follows a version that landed, which is counted itself.
            _ => continue,
        };
        let e = landed
            .entry((&r.collection, &r.provider, &r.period))
            .or_insert(how);
        if how == Reported::OnTime {
            *e = Reported::OnTime;
        }
    }
    let mut out = ReportingRates::default();
    let mut regions: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_provider: BTreeMap<&str, (&Provider, Counts)> = BTreeMap::new();
    for l in licensed {
        let def = &l.def;
        for period in closed_periods(l, now, periods) {
            let key = period.to_string();
            let mut counts = Counts::default();
            for p in providers.iter().filter(|p| {
                def.respondents.kinds.contains(&p.kind)
                    && p.opened_on.is_none_or(|d| d < period.end())
                    && p.closed_on.is_none_or(|d| d > period.first_day())
            }) {
                let how = landed
                    .get(&(def.slug.as_str(), p.code.as_str(), key.as_str()))
                    .copied()
                    .unwrap_or(Reported::Missing);
                counts.add(how);
                regions.entry(p.region.clone()).or_default().add(how);
                by_provider
                    .entry(p.code.as_str())
                    .or_insert((p, Counts::default()))
                    .1
                    .add(how);
            }
            out.by_collection.push(PeriodRate {
                collection: def.slug.to_string(),
                title: def.title.clone(),
                deadline: deadline(def, &period),
                period,
                counts,
            });
        }
    }
    out.by_region = regions.into_iter().collect();
    let mut behind: Vec<ProviderRate> = by_provider
        .into_values()
        .filter(|(_, c)| c.late + c.missing > 0)
        .map(|(p, counts)| ProviderRate {
            code: p.code.to_string(),
            name: p.name.clone(),
            region: p.region.clone(),
            counts,
        })
        .collect();
    behind.sort_by(|a, b| {
        (b.counts.missing, b.counts.late, &a.code).cmp(&(a.counts.missing, a.counts.late, &b.code))
    });
    out.behind = behind;
    out
}
