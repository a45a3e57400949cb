//! The register's collections as they applied over time, as the burden accounts read them:
//! each collection's last version in force, the first day it was owed and the day it
//! stopped being owed, replayed from the records as they stood at a moment; and the twelve
//! months a provider's own account covers.

use chrono::{DateTime, NaiveDate, Utc};

use super::records::{Listing, Records};
use crate::domain::definition::CollectionDef;
use crate::domain::{Period, Step};

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
}
