//! Achieved burden: how each (provider, collection, period) owed in a window was actually
//! met, priced in staff minutes from the collection's definition, beside what the estimate
//! says the same periods cost.
//!
//! - pulled from a source: the sign-off's minutes (`automated_minutes`);
//! - uploaded by hand: `manual_minutes`;
//! - a nil return: `nil_minutes`;
//! - a manual form (filled in outside Tally): `manual_minutes` for each period owed;
//! - a period whose pull or upload was rejected by validation and then sent again: one fix,
//!   `fix_minutes` (the manual minutes unless the definition says), however many times the
//!   scheduler met the same rejection; a rejection never followed by a landing is no fix;
//! - each correction (a further version): the minutes of the way it came;
//! - never sent: nothing, counted and shown.
//!
//! A run that brought nothing new (the source answered "not modified", or sent the same
//! bytes again) is no submission. A failed pull (the source did not answer) is Tally's to
//! retry and costs the provider nothing.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::provider_burden::InForce;
use super::window::deadline;
use crate::domain::definition::{Capture, CollectionDef};
use crate::domain::provider::Provider;
use crate::domain::{Arrival, Period, RunStatus};
use crate::store::burden::{FirstArrival, RecordedTime};
use crate::store::runs::RunRow;

/// How a period owed was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Pulled,
    Uploaded,
    NilReturn,
    /// A manual form, filled in outside Tally.
    Form,
    NeverSent,
}

/// One (provider, collection, period) owed, and how it was met.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Met {
    pub provider: String,
    pub collection: String,
    pub period: String,
    pub how: How,
    /// 1 when a rejection had to be fixed before it landed.
    pub fixes: u32,
    /// Further versions after the first.
    pub corrections: u32,
    /// What it cost in staff minutes, as achieved.
    pub minutes: f64,
    /// What the estimate says the period costs.
    pub estimated_minutes: f64,
    /// The time the provider recorded it took, which `minutes` then is.
    pub recorded_minutes: Option<f64>,
}

/// One collection's periods owed in a window, by how they were met, and their hours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CollectionAchieved {
    pub collection: String,
    pub title: String,
    /// (provider, period) pairs owed in the window, past their deadline.
    pub owed: u32,
    pub pulled: u32,
    pub uploaded: u32,
    pub nil_returns: u32,
    pub forms: u32,
    pub never_sent: u32,
    pub fixes: u32,
    pub corrections: u32,
    /// Periods whose time the provider recorded, which replaces the estimate of it.
    #[serde(default)]
    pub recorded: u32,
    pub achieved_hours: f64,
    pub estimated_hours: f64,
    /// Whose time it is, as the definition says.
    pub staff_group: Option<String>,
    /// The hours in pounds at the settings' rate for the staff group; none without one.
    pub estimated_pounds: Option<f64>,
    pub achieved_pounds: Option<f64>,
}

/// The register's achieved burden over `from` to `to` (days, `to` not included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Achieved {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub collections: Vec<CollectionAchieved>,
    pub achieved_hours: f64,
    pub estimated_hours: f64,
    /// The totals in pounds, when every collection's staff group has a rate.
    pub estimated_pounds: Option<f64>,
    pub achieved_pounds: Option<f64>,
    /// Where the rates come from.
    pub rates_source: Option<String>,
}

impl Achieved {
    /// Prices every figure at `rates`; without rates, or for a collection whose staff
    /// group has none, the pounds stay unknown rather than nought.
    pub fn price(&mut self, rates: Option<&crate::domain::budget::StaffRates>) {
        let Some(rates) = rates else {
            return;
        };
        for c in &mut self.collections {
            let group = c.staff_group.as_deref();
            c.estimated_pounds = rates.pounds(group, c.estimated_hours);
            c.achieved_pounds = rates.pounds(group, c.achieved_hours);
        }
        let sum = |f: fn(&CollectionAchieved) -> Option<f64>| {
            self.collections
                .iter()
                .map(f)
                .sum::<Option<f64>>()
                .map(|p| p + 0.0)
        };
        self.estimated_pounds = sum(|c| c.estimated_pounds);
        self.achieved_pounds = sum(|c| c.achieved_pounds);
        self.rates_source = Some(rates.source.clone());
    }
}

/// Every period of `def` whose last day is in `[from, to)`, while it was in force.
fn periods(c: &InForce, from: NaiveDate, to: NaiveDate) -> Vec<Period> {
    let kind = c.def.frequency.period;
    let mut p = Period::containing(kind, from);
    let mut out = Vec::new();
    while p.first_day() < to {
        let last = p.end() - chrono::Duration::days(1);
        if last >= from && last < to && p.first_day() >= c.from && c.to.is_none_or(|t| last < t) {
            out.push(p);
        }
        p = p.next();
    }
    out
}

/// How one owed period was met, from its runs (any order); `by_hand` when the estimate then
/// priced the provider as sending an automated collection by hand.
fn met(
    def: &CollectionDef,
    provider: &str,
    period: &Period,
    runs: &[&RunRow],
    by_hand: bool,
    recorded: Option<f64>,
) -> Met {
    let b = &def.burden;
    let (manual, signed, nil, fix) = (
        b.manual_minutes,
        b.automated_minutes,
        b.nil_minutes(),
        b.fix_minutes(),
    );
    let estimated_minutes = match def.capture {
        Capture::Automated if !by_hand => signed,
        _ => manual,
    };
    let price = |a: Arrival| match a {
        Arrival::Pulled => signed,
        Arrival::Uploaded => manual,
        Arrival::Nil => nil,
    };
    let mut runs: Vec<&&RunRow> = runs.iter().collect();
    runs.sort_by_key(|r| r.attempt);
    // The versions it landed, in order: a run that brought the same bytes as the version
    // before it, or nothing (not modified), made none.
    let mut versions: Vec<Arrival> = Vec::new();
    let mut current: Option<&str> = None;
    let mut rejected_before_landing = false;
    for r in &runs {
        if r.status == RunStatus::Rejected && versions.is_empty() {
            rejected_before_landing = true;
        }
        if !r.status.landed() {
            continue;
        }
        let Some(sha) = r.raw_sha256.as_deref() else {
            continue;
        };
        if current == Some(sha) {
            continue;
        }
        current = Some(sha);
        versions.push(r.arrived);
    }
    let fixes = u32::from(rejected_before_landing && !versions.is_empty());
    let (how, first) = match (def.capture, versions.first()) {
        (_, Some(Arrival::Nil)) => (How::NilReturn, nil),
        (Capture::Manual, _) => (How::Form, manual),
        (Capture::Automated, Some(Arrival::Pulled)) => (How::Pulled, signed),
        (Capture::Automated, Some(Arrival::Uploaded)) => (How::Uploaded, manual),
        (Capture::Automated, None) => (How::NeverSent, 0.0),
    };
    let corrections: f64 = versions.iter().skip(1).map(|a| price(*a)).sum();
    Met {
        provider: provider.to_owned(),
        collection: def.slug.to_string(),
        period: period.to_string(),
        how,
        fixes,
        corrections: versions.len().saturating_sub(1) as u32,
        // What the provider says it took stands for all of it, however it came.
        minutes: recorded
            .filter(|_| how != How::NeverSent)
            .unwrap_or(first + corrections + f64::from(fixes) * fix),
        estimated_minutes,
        recorded_minutes: recorded.filter(|_| how != How::NeverSent),
    }
}

/// What the ledger reads of what was sent: every run, each provider's first upload and
/// first pull of each collection, and the times providers recorded.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub runs: &'a [RunRow],
    pub arrivals: &'a [FirstArrival],
    pub recorded: &'a [RecordedTime],
}

/// (first upload, first pull) of one collection by one provider.
type Firsts = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Each (provider, collection, period) owed with its last day in `[from, to)` and past its
/// deadline at `now`, and how it was met: the ledger the totals add up. Each period is
/// estimated as the headline estimate priced it at its deadline: from `arrivals`, a
/// provider who had uploaded an automated collection by hand and had none pulled yet was
/// priced at the manual minutes.
pub fn ledger(
    collections: &[InForce],
    providers: &[Provider],
    sent: Sent,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<Met> {
    let Sent {
        runs,
        arrivals,
        recorded,
    } = sent;
    // The newest time recorded by `now` for each period.
    let mut took: HashMap<(&str, &str, &str), f64> = HashMap::new();
    for t in recorded.iter().filter(|t| t.recorded_at <= now) {
        took.insert(
            (
                t.collection.as_str(),
                t.provider.as_str(),
                t.period.as_str(),
            ),
            t.minutes,
        );
    }
    let mut first: HashMap<(&str, &str), Firsts> = HashMap::new();
    for a in arrivals {
        let e = first
            .entry((a.collection.as_str(), a.provider.as_str()))
            .or_default();
        match a.arrived {
            Arrival::Uploaded => e.0 = Some(a.at),
            Arrival::Pulled => e.1 = Some(a.at),
            Arrival::Nil => {}
        }
    }
    let by_hand = |slug: &str, provider: &str, at: DateTime<Utc>| {
        first
            .get(&(slug, provider))
            .is_some_and(|(up, pull)| up.is_some_and(|u| u <= at) && pull.is_none_or(|p| p > at))
    };
    let mut by_key: HashMap<(&str, &str, &str), Vec<&RunRow>> = HashMap::new();
    for r in runs {
        by_key
            .entry((
                r.collection.as_str(),
                r.provider.as_str(),
                r.period.as_str(),
            ))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for c in collections {
        let slug = c.def.slug.as_str();
        let due: Vec<(Period, String, DateTime<Utc>)> = periods(c, from, to)
            .into_iter()
            .map(|p| (p, p.to_string(), deadline(c.def, &p)))
            .filter(|(_, _, due)| *due <= now)
            .collect();
        for p in providers
            .iter()
            .filter(|p| c.def.respondents.kinds.contains(&p.kind))
        {
            for (period, name, due) in &due {
                let last = period.end() - chrono::Duration::days(1);
                if !p.is_open_on(last) {
                    continue;
                }
                let runs = by_key
                    .get(&(slug, p.code.as_str(), name.as_str()))
                    .map_or(&[][..], Vec::as_slice);
                let hand = by_hand(slug, p.code.as_str(), *due);
                let recorded = took.get(&(slug, p.code.as_str(), name.as_str())).copied();
                out.push(met(c.def, p.code.as_str(), period, runs, hand, recorded));
            }
        }
    }
    out
}

/// The ledger added up by collection.
pub fn totals(collections: &[InForce], ledger: &[Met], from: NaiveDate, to: NaiveDate) -> Achieved {
    let mut rows: Vec<CollectionAchieved> = collections
        .iter()
        .map(|c| CollectionAchieved {
            collection: c.def.slug.to_string(),
            title: c.def.title.clone(),
            staff_group: c.def.burden.staff_group.clone(),
            ..CollectionAchieved::default()
        })
        .collect();
    for m in ledger {
        let Some(row) = rows.iter_mut().find(|r| r.collection == m.collection) else {
            continue;
        };
        row.owed += 1;
        match m.how {
            How::Pulled => row.pulled += 1,
            How::Uploaded => row.uploaded += 1,
            How::NilReturn => row.nil_returns += 1,
            How::Form => row.forms += 1,
            How::NeverSent => row.never_sent += 1,
        }
        row.fixes += m.fixes;
        row.corrections += m.corrections;
        row.recorded += u32::from(m.recorded_minutes.is_some());
        row.achieved_hours += m.minutes / 60.0;
        row.estimated_hours += m.estimated_minutes / 60.0;
    }
    rows.retain(|r| r.owed > 0);
    Achieved {
        from,
        to,
        estimated_pounds: None,
        achieved_pounds: None,
        rates_source: None,
        achieved_hours: rows.iter().map(|r| r.achieved_hours).sum::<f64>() + 0.0,
        estimated_hours: rows.iter().map(|r| r.estimated_hours).sum::<f64>() + 0.0,
        collections: rows,
    }
}

impl super::Registry {
    /// The achieved burden of the periods owed with their last day from `from` up to (not
    /// including) `to`, as recorded by `now`, priced at `rates` when given.
    pub async fn achieved(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        rates: Option<&crate::domain::budget::StaffRates>,
    ) -> anyhow::Result<Achieved> {
        let (history, ledger) = self.achieved_ledger(from, to, now).await?;
        let in_force = super::provider_burden::in_force(&history);
        let mut achieved = totals(&in_force, &ledger, from, to);
        achieved.price(rates);
        Ok(achieved)
    }

    /// The ledger of the periods owed with their last day from `from` up to (not including)
    /// `to`, as recorded by `now`, with the collections it was owed under.
    pub async fn achieved_ledger(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(super::provider_burden::History, Vec<Met>)> {
        self.achieved_ledger_of(from, to, now, None).await
    }

    /// [`super::Registry::achieved_ledger`] of one provider's periods only, when given:
    /// only its runs are read.
    pub async fn achieved_ledger_of(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        provider: Option<&str>,
    ) -> anyhow::Result<(super::provider_burden::History, Vec<Met>)> {
        // The register as it was recorded at `now`: a report as of a past day reads only
        // what was known by then, so it comes out the same whenever it is made.
        let records = self.burden_records().await?;
        let history = super::provider_burden::history_as_of(&records, now);
        let in_force = super::provider_burden::in_force(&history);
        let providers: Vec<Provider> = records
            .providers
            .iter()
            .filter(|(_, registered)| registered.is_none_or(|r| r <= now))
            .map(|(p, _)| p.clone())
            .filter(|p| provider.is_none_or(|code| p.code.as_str() == code))
            .collect();
        // A period whose last day is in the window began at most a year before it, and
        // nothing is sent for a period before it begins: older runs are not read.
        let earliest = (from - chrono::Duration::days(367))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc());
        let mut runs = self
            .store()
            .runs(&crate::store::runs::RunFilter {
                provider: provider.map(str::to_owned),
                finished_after: earliest,
                limit: i64::MAX,
                ..Default::default()
            })
            .await?;
        runs.retain(|r| r.finished_at.is_some_and(|f| f <= now));
        let recorded = self.store().recorded_times(None, provider).await?;
        let sent = Sent {
            runs: &runs,
            arrivals: &records.arrivals,
            recorded: &recorded,
        };
        let ledger = ledger(&in_force, &providers, sent, from, to, now);
        Ok((history, ledger))
    }
}
