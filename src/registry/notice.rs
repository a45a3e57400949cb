//! Notice and the effective date: a listed collection is owed from the day DAP sets when it
//! lists it, by default the listing day plus the definition's `notice_days`; sooner only
//! with a written override, which the register publishes. Between listing and that day the
//! collection is *coming*: providers see it, download its template and try files.

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};

use crate::domain::CollectionStatus;
use crate::domain::RegistryError;
use crate::domain::definition::CollectionDef;
use crate::domain::finding::{Finding, Rule, Severity};
use crate::store::VersionRow;

/// When the licence of the version in force began, and the first day it is owed: walking
/// back from it through the versions it superseded (a proposal never listed is passed
/// over), the earliest listing; the day owed is the version in force's own. A retired version ends the walk: listing the collection
/// again began a new licence. A version listed before effective dates were kept was owed
/// from its listing day in `tz`.
pub(super) fn licence_began(
    versions: &[VersionRow],
    tz: chrono_tz::Tz,
) -> Option<(DateTime<Utc>, NaiveDate)> {
    let owed = |v: &VersionRow| {
        let listed = v.listed_at?;
        Some((
            listed,
            v.effective_from
                .unwrap_or_else(|| listed.with_timezone(&tz).date_naive()),
        ))
    };
    let mut newest_first = versions.iter().rev();
    let in_force = newest_first.find(|v| v.status == CollectionStatus::Listed)?;
    let mut began = owed(in_force)?;
    for v in newest_first {
        match v.status {
            CollectionStatus::Superseded => {
                if let Some((listed, from)) = owed(v) {
                    began = (listed.min(began.0), from.min(began.1));
                }
            }
            CollectionStatus::Retired => break,
            _ => {}
        }
    }
    // Each version listed since effective dates were kept carries the licence's date
    // forward (or DAP's new one, while it was still to come): it is the one in force.
    Some((began.0, in_force.effective_from.unwrap_or(began.1)))
}

/// The day a listing at `at` is owed from, and the blocking finding when that is inside the
/// definition's notice. `in_force` is the day the licence this version replaces is owed
/// from, if there is one: a new version keeps it unless DAP moves a day still to come.
pub(super) fn effective(
    def: &CollectionDef,
    in_force: Option<NaiveDate>,
    asked: Option<NaiveDate>,
    at: DateTime<Utc>,
) -> anyhow::Result<(NaiveDate, Option<Finding>)> {
    let today = at.with_timezone(&def.frequency.timezone).date_naive();
    let slug = &def.slug;
    let shown = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    let earliest = today + Duration::days(i64::from(def.notice_days));
    let day = match (in_force, asked) {
        (Some(from), None) => return Ok((from, None)),
        (Some(from), Some(_)) if from <= today => {
            return Err(RegistryError::Refused(format!(
                "{slug} has been owed since {}; a new version changes what is asked, not since when, so it takes no effective date",
                shown(from)
            ))
            .into());
        }
        (_, Some(day)) => day,
        (None, None) => earliest,
    };
    if day < today {
        return Err(RegistryError::Refused(format!(
            "an effective date of {} is before today, {}: a collection cannot be owed before it is listed",
            shown(day),
            shown(today)
        ))
        .into());
    }
    let expires = today + Months::new(def.licence_term_months);
    if day >= expires {
        return Err(RegistryError::Refused(format!(
            "an effective date of {} is after the licence of {} months would end",
            shown(day),
            def.licence_term_months
        ))
        .into());
    }
    let short = (day < earliest).then(|| {
        let given = (day - today).num_days();
        Finding::new(
            Rule::Notice,
            Severity::Blocking,
            format!(
                "It would be owed from {}, {given} days after it is listed; its definition promises providers {} days' notice (not before {}).",
                shown(day),
                def.notice_days,
                shown(earliest)
            ),
            Vec::new(),
        )
    });
    Ok((day, short))
}
