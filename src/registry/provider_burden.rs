//! One provider's burden month by month: what its staff spent on each collection, by hand
//! and in signing off automated pulls, and the hours automation saved.
//!
//! Measured where Tally sees the work, estimated where it cannot (DESIGN.md, "Burden
//! ledger"):
//! - an automated collection costs its sign-off minutes for each version pulled from a
//!   source, and its manual minutes for each version uploaded by hand (a manual fix after a
//!   failed pull, or a provider without a source); each pulled version saves the difference;
//! - a manual collection is filled in outside Tally, so each period it was owed costs its
//!   manual minutes, as the listing estimates;
//! - a period declared a nil return (nothing to report) costs the listing's nil minutes
//!   instead, whichever way the collection is captured.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::records::{Listing, Records};
use crate::domain::definition::{Capture, CollectionDef};
use crate::domain::periods_within;
use crate::domain::provider::Provider;
use crate::domain::{Period, Step};
use crate::store::runs::{Arrival, RunRow};

/// Each collection that has been in force: its last version in force, the first day it
/// was owed, and the day it stopped being owed, if it has.
pub type History = Vec<(CollectionDef, NaiveDate, Option<NaiveDate>)>;

/// The history as [`InForce`]s, borrowing its definitions.
pub fn in_force(history: &History) -> Vec<InForce<'_>> {
    history
        .iter()
        .map(|(def, from, to)| InForce {
            def,
            from: *from,
            to: *to,
        })
        .collect()
}

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
    /// Of those, nil returns: periods declared to have nothing to report.
    pub nil_returns: u32,
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
        // A day is in the month when first <= day < after (`end` is the day after the last).
        let (first, after) = (month.first_day(), month.end());
        let in_month = |d: NaiveDate| d >= first && d < after;
        let mut rows = Vec::new();
        for c in collections
            .iter()
            .filter(|c| c.def.respondents.kinds.contains(&provider.kind))
        {
            let slug = c.def.slug.as_str();
            let (manual, automated) = (c.def.burden.manual_minutes, c.def.burden.automated_minutes);
            let nil = c.def.burden.nil_minutes();
            let mut row = CollectionMonth {
                collection: slug.into(),
                capture: c.def.capture.as_str().into(),
                submissions: 0,
                nil_returns: 0,
                manual_hours: 0.0,
                automated_hours: 0.0,
            };
            match c.def.capture {
                Capture::Manual => {
                    // Periods of the form whose last day is in the month, while it was in
                    // force and the provider was open: a daily form every day, a quarterly
                    // one in the quarter's last month.
                    let kind = c.def.frequency.period;
                    let owed = periods_within(month, kind)
                        .into_iter()
                        .chain(std::iter::once(Period::containing(
                            kind,
                            after - chrono::Duration::days(1),
                        )))
                        .map(|p| {
                            (
                                p.first_day(),
                                p.end() - chrono::Duration::days(1),
                                p.to_string(),
                            )
                        })
                        .filter(|(_, last, _)| in_month(*last))
                        // Owed only for a period that began on or after the day it was owed.
                        .filter(|(first, last, _)| {
                            *first >= c.from && c.to.is_none_or(|to| *last < to)
                        })
                        .filter(|(_, last, _)| provider.is_open_on(*last))
                        .map(|(_, _, p)| p)
                        .collect::<std::collections::BTreeSet<_>>();
                    // Owed periods the provider declared it had nothing to report for.
                    let nils = runs
                        .iter()
                        .filter(|r| r.collection == slug && r.status.landed())
                        .filter(|r| r.arrived == Arrival::Nil && owed.contains(&r.period))
                        .map(|r| r.period.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as u32;
                    let forms = owed.len() as u32 - nils;
                    row.submissions = owed.len() as u32;
                    row.nil_returns = nils;
                    row.manual_hours = (f64::from(forms) * manual + f64::from(nils) * nil) / 60.0;
                }
                Capture::Automated => {
                    for r in runs.iter().filter(|r| {
                        r.collection == slug
                            && r.status.landed()
                            && r.finished_at.map(day).is_some_and(in_month)
                    }) {
                        row.submissions += 1;
                        match r.arrived {
                            Arrival::Uploaded => row.manual_hours += manual / 60.0,
                            Arrival::Nil => {
                                row.nil_returns += 1;
                                row.manual_hours += nil / 60.0;
                            }
                            Arrival::Pulled => row.automated_hours += automated / 60.0,
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
            .filter(|r| r.status.landed() && r.pulled())
            .filter(|r| r.finished_at.map(day).is_some_and(in_month))
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
            .filter(|r| r.status.landed() && r.pulled())
            .filter_map(|r| r.finished_at.map(day))
            .min(),
        months: out,
    }
}

/// Every collection that had been in force by `at`, as recorded by then: the version last
/// listed, the first day it was owed, and the day it stopped being owed (retired, suspended
/// and not reinstated, or its licence's end).
pub fn history_as_of(records: &Records, at: DateTime<Utc>) -> History {
    let day = |t: DateTime<Utc>| t.with_timezone(&records.tz).date_naive();
    let mut slugs: Vec<&str> = records
        .listings
        .iter()
        .map(|l| l.def.slug.as_str())
        .collect();
    slugs.sort_unstable();
    slugs.dedup();
    let mut out = Vec::new();
    for slug in slugs {
        let listed: Vec<&Listing> = records
            .listings
            .iter()
            .filter(|l| l.def.slug.as_str() == slug && l.listed_at <= at)
            .collect();
        let Some(last) = listed.iter().max_by_key(|l| l.version) else {
            continue;
        };
        let Some(from) = listed
            .iter()
            .map(|l| l.effective_from.unwrap_or_else(|| day(l.listed_at)))
            .min()
        else {
            continue;
        };
        // A form stops being owed when it is retired or suspended, or its licence ends.
        let stopped = records
            .decisions
            .iter()
            .rfind(|d| d.slug == slug && d.at <= at && d.action.changes_force())
            .filter(|d| matches!(d.action, Step::Retire | Step::Suspend))
            .map(|d| day(d.at));
        let to = match (stopped, last.expires_at.map(day)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out.push((last.def.clone(), from, to));
    }
    out
}

/// The twelve months up to and including the one `today` is in, oldest first.
pub fn last_twelve_months(today: NaiveDate) -> Vec<Period> {
    let mut m = Period::containing(crate::domain::PeriodKind::Month, today);
    let mut out = vec![m];
    for _ in 0..11 {
        m = m.previous();
        out.push(m);
    }
    out.reverse();
    out
}

impl super::Registry {
    /// Every collection that has been in force: the version last in force, the first day
    /// it was owed, and the day it stopped being owed (retired, suspended or expired).
    pub async fn in_force_history(&self) -> anyhow::Result<History> {
        let records = self.burden_records().await?;
        Ok(history_as_of(&records, DateTime::<Utc>::MAX_UTC))
    }

    /// `provider`'s burden over the twelve months to `at`.
    pub async fn provider_burden(
        &self,
        provider: &Provider,
        at: DateTime<Utc>,
    ) -> anyhow::Result<ProviderBurden> {
        let runs = self
            .store()
            .runs(&crate::store::runs::RunFilter {
                provider: Some(provider.code.to_string()),
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        self.provider_burden_from(provider, &runs, at).await
    }

    /// [`Registry::provider_burden`] from the provider's runs, already read.
    pub async fn provider_burden_from(
        &self,
        provider: &Provider,
        runs: &[RunRow],
        at: DateTime<Utc>,
    ) -> anyhow::Result<ProviderBurden> {
        let history = self.in_force_history().await?;
        Ok(provider_burden(
            provider,
            &in_force(&history),
            runs,
            &last_twelve_months(self.day(at)),
            self.tz,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::provider::{ProviderCode, ProviderKind};
    use crate::domain::{Arrival, RunStatus};

    fn def(file: &str) -> CollectionDef {
        let text = std::fs::read_to_string(format!("collections/{file}.toml")).unwrap();
        crate::registry::load::parse(file, &text, chrono_tz::Europe::London).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn ashford() -> Provider {
        Provider {
            code: ProviderCode::parse("RXA").unwrap(),
            name: "Ashford".into(),
            kind: ProviderKind::AcuteTrust,
            region: "London".into(),
            icb: None,
            local_authority: None,
            opened_on: None,
            closed_on: None,
            successor: None,
        }
    }

    fn run(id: i64, period: &str, finished: &str, arrived: Arrival) -> RunRow {
        let at = d(finished).and_hms_opt(9, 0, 0).unwrap().and_utc();
        RunRow {
            id,
            collection: "ward-bed-census".into(),
            provider: "RXA".into(),
            period: period.into(),
            attempt: 1,
            status: RunStatus::Landed,
            instance: Some("test".into()),
            lease_until: None,
            started_at: at,
            finished_at: Some(at),
            rows_in: Some(6),
            rows_accepted: Some(6),
            rows_rejected: Some(0),
            bytes: None,
            raw_sha256: None,
            error: None,
            arrived,
        }
    }

    #[test]
    fn manual_forms_are_owed_per_period_ending_in_the_month_and_pulls_save_time() {
        let trust = ashford();
        let (kh03, census) = (def("kh03-manual"), def("ward-bed-census"));
        // KH03 (quarterly, by hand) in force until 10 October; the census from 1 June.
        let collections = [
            InForce {
                def: &kh03,
                from: d("2026-01-01"),
                to: Some(d("2026-10-10")),
            },
            InForce {
                def: &census,
                from: d("2026-06-01"),
                to: None,
            },
        ];
        let runs = [
            run(1, "2026-06-29", "2026-06-30", Arrival::Pulled),
            // The last day of June lands on 1 July: July's work, not June's.
            run(2, "2026-06-30", "2026-07-01", Arrival::Pulled),
            run(3, "2026-07-01", "2026-07-02", Arrival::Uploaded),
        ];
        let months: Vec<Period> = ["2026-05", "2026-06", "2026-07", "2026-09", "2026-12"]
            .iter()
            .map(|m| Period::parse(m).unwrap())
            .collect();
        let b = provider_burden(
            &trust,
            &collections,
            &runs,
            &months,
            chrono_tz::Europe::London,
        );
        let month = |m: &str| b.months.iter().find(|x| x.month == m).unwrap();
        let kh03_in = |m: &str| {
            month(m)
                .collections
                .iter()
                .find(|c| c.collection == "kh03-manual")
                .map(|c| c.submissions)
        };
        // A quarterly form is owed in the quarter's last month only, while in force.
        assert_eq!(kh03_in("2026-05"), None);
        assert_eq!(kh03_in("2026-06"), Some(1));
        assert_eq!(kh03_in("2026-09"), Some(1));
        assert_eq!(kh03_in("2026-12"), None, "retired in October");
        let (manual, automated) = (
            census.burden.manual_minutes,
            census.burden.automated_minutes,
        );
        let june = month("2026-06");
        let june_census = june
            .collections
            .iter()
            .find(|c| c.collection == "ward-bed-census")
            .unwrap();
        assert_eq!(june_census.submissions, 1);
        assert!((june_census.automated_hours - automated / 60.0).abs() < 1e-9);
        assert!((june.saved_hours - (manual - automated) / 60.0).abs() < 1e-9);
        let july = month("2026-07");
        let july_census = july
            .collections
            .iter()
            .find(|c| c.collection == "ward-bed-census")
            .unwrap();
        assert_eq!(july_census.submissions, 2);
        // The upload by hand costs the manual minutes and saves nothing.
        assert!((july_census.manual_hours - manual / 60.0).abs() < 1e-9);
        assert!((july.saved_hours - (manual - automated) / 60.0).abs() < 1e-9);
        assert_eq!(b.automated_since, Some(d("2026-06-30")));
        assert!((b.saved_hours - 2.0 * (manual - automated) / 60.0).abs() < 1e-9);
    }

    #[test]
    fn a_nil_return_costs_its_nil_minutes_and_saves_nothing() {
        let trust = ashford();
        let mut census = def("ward-bed-census");
        census.burden.nil_minutes = Some(3.0);
        let kh03 = def("kh03-manual");
        let collections = [
            InForce {
                def: &census,
                from: d("2026-06-01"),
                to: None,
            },
            InForce {
                def: &kh03,
                from: d("2026-01-01"),
                to: None,
            },
        ];
        let mut nil_form = run(3, "2026-27-Q1", "2026-07-05", Arrival::Nil);
        nil_form.collection = "kh03-manual".into();
        let runs = [
            run(1, "2026-07-01", "2026-07-02", Arrival::Pulled),
            run(2, "2026-07-02", "2026-07-03", Arrival::Nil),
            nil_form,
        ];
        let months = [
            Period::parse("2026-07").unwrap(),
            Period::parse("2026-06").unwrap(),
        ];
        let b = provider_burden(
            &trust,
            &collections,
            &runs,
            &months,
            chrono_tz::Europe::London,
        );
        let row = |m: usize, c: &str| {
            b.months[m]
                .collections
                .iter()
                .find(|x| x.collection == c)
                .unwrap()
                .clone()
        };
        let july = row(0, "ward-bed-census");
        assert_eq!((july.submissions, july.nil_returns), (2, 1));
        assert!((july.manual_hours - 3.0 / 60.0).abs() < 1e-9);
        assert!((july.automated_hours - 2.0 / 60.0).abs() < 1e-9);
        // Only the pull saved time.
        assert!((b.months[0].saved_hours - (45.0 - 2.0) / 60.0).abs() < 1e-9);
        // The quarter ending in June was declared nil: a sign-off's minutes, not a form's.
        let june = row(1, "kh03-manual");
        assert_eq!((june.submissions, june.nil_returns), (1, 1));
        assert!((june.manual_hours - 10.0 / 60.0).abs() < 1e-9);
    }
}
