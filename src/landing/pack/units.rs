//! Which units to pack, and packing them from what the register holds: the scheduler packs
//! each unit as its last deadline passes and again whenever a late or amended extract lands,
//! until nothing more can land; `tally lake pack` packs what it is asked to.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{make, unit_of};
use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::landing::lake::Lake;
use crate::registry::window::{closes, deadline};

/// What packing one unit did.
#[derive(Debug, Clone, Serialize)]
pub struct Packed {
    pub collection: String,
    pub unit: String,
    /// The new pack's number; `None` when the latest pack already held every current version.
    pub number: Option<u32>,
    /// The versions the unit's latest pack now holds, and their rows.
    pub members: usize,
    pub rows: u64,
}

/// The last period of `def`'s kind inside `unit`.
fn last_period(def: &CollectionDef, unit: &Period) -> Period {
    let last_day = unit.end().pred_opt().unwrap_or(unit.end());
    Period::containing(def.frequency.period, last_day)
}

/// The units of `def` whose every period is past its deadline at `now`, from the unit it
/// was listed in on. With `open_only`, only those with a period still open to amendments.
pub fn closed_units(
    def: &CollectionDef,
    listed: NaiveDate,
    now: DateTime<Utc>,
    open_only: bool,
) -> Vec<Period> {
    let today = now.with_timezone(&def.frequency.timezone).date_naive();
    let mut unit = unit_of(&Period::containing(def.frequency.period, listed));
    let mut out = Vec::new();
    while unit.first_day() <= today {
        let last = last_period(def, &unit);
        if deadline(def, &last) <= now && (!open_only || closes(def, &last) > now) {
            out.push(unit);
        }
        unit = unit_of(&Period::containing(def.frequency.period, unit.end()));
    }
    out
}

/// The units of `def` that overlap the days from `from` up to (not including) `end`.
pub fn units_between(def: &CollectionDef, from: NaiveDate, end: NaiveDate) -> Vec<Period> {
    let mut unit = unit_of(&Period::containing(def.frequency.period, from));
    let mut out = Vec::new();
    while unit.first_day() < end {
        out.push(unit);
        unit = unit_of(&Period::containing(def.frequency.period, unit.end()));
    }
    out
}

/// Packs each of `units` of `def` from the current versions the register holds, one unit
/// at a time on a blocking thread, in row groups of `row_group_rows` (`ROW_GROUP_ROWS` but
/// in tests). A unit that fails is reported and the others go on.
pub async fn pack_units(
    store: &dyn crate::store::Store,
    lake: &Lake,
    def: &CollectionDef,
    units: &[Period],
    now: DateTime<Utc>,
    row_group_rows: usize,
) -> Vec<anyhow::Result<Packed>> {
    let mut out = Vec::with_capacity(units.len());
    for unit in units {
        let result = async {
            let first = Period::containing(def.frequency.period, unit.first_day());
            let last = last_period(def, unit);
            let current = store
                .current_versions(def.slug.as_str(), &first.to_string(), &last.to_string())
                .await?;
            let (lake_, def_, unit_) = (lake.clone(), def.clone(), *unit);
            let made = tokio::task::spawn_blocking(move || {
                make(&lake_, &def_, &unit_, &current, now, row_group_rows)
            })
            .await
            .context("packing stopped")??;
            let latest = made.as_ref().map(|m| &m.pack.manifest);
            anyhow::Ok(Packed {
                collection: def.slug.to_string(),
                unit: unit.to_string(),
                number: made
                    .as_ref()
                    .filter(|m| m.new)
                    .map(|m| m.pack.manifest.number),
                members: latest.map_or(0, |m| m.members.len()),
                rows: latest.map_or(0, |m| m.rows),
            })
        }
        .await
        .with_context(|| format!("packing {} {unit}", def.slug));
        out.push(result);
    }
    out
}
