//! The burden report to the Secretary of State: a dated snapshot of what was recorded up
//! to the end of its as-of day. The headline estimate against the budget, the trajectory,
//! the changes by cause since the baseline, each collection's estimated and achieved burden
//! and cost over the NHS year, and the decisions of that year. It reads nothing recorded
//! after its day, so the same day gives the same report, byte for byte, whenever it is made.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::achieved::Achieved;
use super::burden::{BurdenReport, CollectionBurden};
use super::causes::Attribution;
use crate::domain::Step;
use crate::domain::budget::{Budget, StaffRates};

/// A date and hours on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoursOn {
    pub on: NaiveDate,
    pub hours: f64,
}

/// One of DAP's decisions in the report's year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionLine {
    pub on: NaiveDate,
    pub collection: String,
    /// `list`, `retire`, `reject`, `suspend`, `reinstate`…
    pub action: String,
    pub by: String,
    pub reason: String,
}

/// The report, as filed and as every download of it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressReport {
    /// The last day it covers: it holds what was recorded by the end of it.
    pub as_of: NaiveDate,
    /// The first day of the NHS year `as_of` is in.
    pub year_from: NaiveDate,
    pub estimated_hours: f64,
    /// The estimate in pounds, when every collection's staff group has a rate.
    pub estimated_pounds: Option<f64>,
    /// Where the rates come from, when the report is priced.
    pub rates_source: Option<String>,
    pub budget: Option<Budget>,
    /// What the trajectory allows on `as_of`, where a target is set.
    pub trajectory_hours: Option<f64>,
    pub on_track: Option<bool>,
    pub trajectory: Vec<HoursOn>,
    /// The estimate at the end of each day it moved on.
    pub history: Vec<HoursOn>,
    /// The changes since the baseline's date (or the register's first day), by cause.
    pub causes: Attribution,
    /// Each collection in force on `as_of` and its estimate.
    pub collections: Vec<CollectionBurden>,
    /// Each collection's estimate in pounds, in the order of `collections`.
    pub collection_pounds: Vec<Option<f64>>,
    /// The periods owed from `year_from` to `as_of`, as estimated and as achieved.
    pub achieved: Achieved,
    pub decisions: Vec<DecisionLine>,
}

impl ProgressReport {
    /// The report as it is filed and downloaded as JSON: pretty, with a final newline.
    pub fn to_json(&self) -> serde_json::Result<String> {
        let mut out = serde_json::to_string_pretty(self)?;
        out.push('\n');
        Ok(out)
    }
}

/// The first day of the NHS year (from 1 April) that `day` is in.
pub fn year_start(day: NaiveDate) -> NaiveDate {
    let year = if day.month() >= 4 {
        day.year()
    } else {
        day.year() - 1
    };
    NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(day)
}

/// The estimate of each collection priced at `rates`, and the total when every one is.
pub fn price(
    collections: &[CollectionBurden],
    rates: Option<&StaffRates>,
) -> (Vec<Option<f64>>, Option<f64>) {
    let each: Vec<Option<f64>> = collections
        .iter()
        .map(|c| rates.and_then(|r| r.pounds(c.staff_group.as_deref(), c.annual_hours)))
        .collect();
    let total = match rates {
        Some(_) => each.iter().copied().sum::<Option<f64>>().map(|p| p + 0.0),
        None => None,
    };
    (each, total)
}

/// Where the changes by cause start: the budget's baseline day, or the day before the
/// register's first listing; never after `today`.
pub fn causes_from(
    records: &super::records::Records,
    budget: Option<&Budget>,
    today: NaiveDate,
) -> NaiveDate {
    let first_day = records
        .listings
        .iter()
        .map(|l| l.listed_at.with_timezone(&records.tz).date_naive())
        .min()
        .unwrap_or(today);
    budget
        .and_then(|b| b.baseline_date)
        .unwrap_or(first_day - chrono::Days::new(1))
        .min(today)
}

impl super::Registry {
    /// The instant a report as of `day` is taken at: the end of that day where the register
    /// keeps its dates.
    pub fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let next = (day + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        next.and_local_timezone(self.tz)
            .earliest()
            .map_or_else(|| next.and_utc(), |t| t.with_timezone(&Utc))
            - chrono::Duration::nanoseconds(1)
    }

    /// The burden report as of `as_of`, refused for a day not over at `now` (what is still
    /// to be recorded in it would change the report) or before the years the register keeps.
    pub async fn progress_report_checked(
        &self,
        as_of: NaiveDate,
        now: DateTime<Utc>,
        rates: Option<&StaffRates>,
    ) -> anyhow::Result<ProgressReport> {
        let today = self.day(now);
        if as_of >= today {
            return Err(super::RegistryError::Refused(format!(
                "a report as of {as_of} cannot be made on {today}: that day is not over, and what is recorded in it could still change the report; give a day before today"
            ))
            .into());
        }
        if as_of.year() < 2000 {
            return Err(super::RegistryError::Refused(format!(
                "a report as of {as_of} is before anything the register could hold: give a day from 2000"
            ))
            .into());
        }
        self.progress_report(as_of, rates).await
    }

    /// Makes the report as of `as_of` and files it as `by` (a DAP member), to be kept as
    /// it is and listed on the progress page; the report and its number.
    pub async fn file_report(
        &self,
        as_of: NaiveDate,
        by: &str,
        now: DateTime<Utc>,
        rates: Option<&StaffRates>,
    ) -> anyhow::Result<(ProgressReport, i64)> {
        let by = super::require_words("the name of the DAP member filing it", by)?;
        let report = self.progress_report_checked(as_of, now, rates).await?;
        let body = report.to_json()?;
        let id = self
            .store()
            .file_burden_report(as_of, &by, now, &body)
            .await?;
        Ok((report, id))
    }

    /// A filed report: its record, its JSON exactly as filed, and the report read back
    /// from it.
    pub async fn filed_report(
        &self,
        id: i64,
    ) -> anyhow::Result<Option<(crate::store::burden::FiledReport, String, ProgressReport)>> {
        let Some((filed, body)) = self.store().burden_report(id).await? else {
            return Ok(None);
        };
        let report = serde_json::from_str(&body)
            .map_err(|e| anyhow::anyhow!("filed report {id} cannot be read back: {e}"))?;
        Ok(Some((filed, body, report)))
    }

    /// The burden report as recorded by the end of `as_of`, priced at `rates`.
    pub async fn progress_report(
        &self,
        as_of: NaiveDate,
        rates: Option<&StaffRates>,
    ) -> anyhow::Result<ProgressReport> {
        let at = self.end_of(as_of);
        let records = self.burden_records().await?;
        let budget = self.store().budget_at(at).await?;
        let estimate = BurdenReport::new(
            super::causes::estimate_at(&records, at),
            budget.clone(),
            as_of,
        );
        let (collection_pounds, estimated_pounds) = price(&estimate.collections, rates);
        let from = causes_from(&records, budget.as_ref(), as_of);
        let causes = super::causes::attribute(&records, from, at);
        let history = super::causes::history(&records, at);
        let year_from = year_start(as_of);
        let achieved = self
            .achieved(year_from, as_of + chrono::Days::new(1), at, rates)
            .await?;
        // Titles as listed by then, the newest last.
        let mut listed: Vec<&super::records::Listing> = records
            .listings
            .iter()
            .filter(|l| l.listed_at <= at)
            .collect();
        listed.sort_by_key(|l| l.listed_at);
        let titles: std::collections::HashMap<&str, &str> = listed
            .iter()
            .map(|l| (l.def.slug.as_str(), l.def.title.as_str()))
            .collect();
        let decisions = records
            .decisions
            .iter()
            .filter(|d| d.at <= at && self.day(d.at) >= year_from)
            // DAP's decisions: not the proposals sponsors make or withdraw.
            .filter(|d| !matches!(d.action, Step::Propose | Step::Withdraw))
            .map(|d| DecisionLine {
                on: self.day(d.at),
                collection: titles
                    .get(d.slug.as_str())
                    .copied()
                    .unwrap_or(&d.slug)
                    .to_owned(),
                action: d.action.as_str().to_owned(),
                by: d.actor.clone(),
                reason: d.reason.clone(),
            })
            .collect();
        Ok(ProgressReport {
            as_of,
            year_from,
            estimated_hours: estimate.total_hours,
            estimated_pounds,
            rates_source: rates.map(|r| r.source.clone()),
            on_track: estimate
                .trajectory_hours
                .map(|t| estimate.total_hours <= t + 0.5),
            trajectory_hours: estimate.trajectory_hours,
            trajectory: budget
                .as_ref()
                .map(super::burden::trajectory_points)
                .unwrap_or_default()
                .into_iter()
                .map(|(on, hours)| HoursOn { on, hours })
                .collect(),
            budget,
            history: history
                .into_iter()
                .map(|(on, hours)| HoursOn { on, hours })
                .collect(),
            causes,
            collection_pounds,
            collections: estimate.collections,
            achieved,
            decisions,
        })
    }
}
