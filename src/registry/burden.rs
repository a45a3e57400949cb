//! The burden model: estimated staff hours a year that each listed collection costs
//! providers, the total against DAP's cap, and the straight-line trajectory to its target.
//!
//! Annual burden = respondents × submissions a year × minutes a submission ÷ 60, with manual
//! minutes for collections filled in by hand and sign-off minutes for automated ones.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::budget::Budget;
use crate::domain::definition::{Capture, CollectionDef};
use crate::domain::provider::Provider;

/// Where a respondent count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Open providers of the right kinds in the provider registry.
    Registered,
    /// The definition's own estimate, used while the registry holds none of those kinds.
    Estimated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CollectionBurden {
    pub slug: String,
    pub title: String,
    pub licence_number: Option<String>,
    pub capture: Capture,
    pub respondents: u32,
    pub basis: Basis,
    /// Of the respondents to an automated collection, those who send it by hand: they have
    /// uploaded a period and no source of theirs has yet been pulled from, so each of their
    /// submissions is priced at the manual minutes.
    #[serde(default)]
    pub by_hand: u32,
    /// The hours of those sending it by hand, within `annual_hours`.
    #[serde(default)]
    pub by_hand_hours: f64,
    pub submissions_per_year: f64,
    /// The mean over respondents: manual minutes for those who fill it in by hand,
    /// sign-off minutes for those whose source is pulled from.
    pub minutes_per_submission: f64,
    pub annual_hours: f64,
    /// Whose time it is, as the definition says: the settings price an hour of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_group: Option<String>,
}

/// Estimates one collection's annual burden on `on`, as its listing assumes everyone
/// meets it (before anything is known of who sends it how).
pub fn estimate(
    def: &CollectionDef,
    licence_number: Option<&str>,
    providers: &[Provider],
    on: NaiveDate,
) -> CollectionBurden {
    let open = providers
        .iter()
        .filter(|p| def.respondents.kinds.contains(&p.kind) && p.is_open_on(on))
        .count();
    estimate_counted(def, licence_number, open as u32, 0)
}

/// Estimates a proposal's annual burden on `on`: a new version of a collection in force is
/// sent as `in_force` (its estimate) is, so those who send it by hand still will.
pub fn estimate_next(
    def: &CollectionDef,
    in_force: Option<&CollectionBurden>,
    providers: &[Provider],
    on: NaiveDate,
) -> CollectionBurden {
    let fresh = estimate(def, None, providers, on);
    match in_force {
        Some(e) if fresh.basis == Basis::Registered => {
            estimate_counted(def, None, fresh.respondents, e.by_hand)
        }
        _ => fresh,
    }
}

/// Estimates one collection's annual burden from how many `registered` respondents it has
/// and how many of them send it `by_hand`. With none registered, the definition's own
/// estimate of its respondents is used, all meeting it as it is captured.
pub fn estimate_counted(
    def: &CollectionDef,
    licence_number: Option<&str>,
    registered: u32,
    by_hand: u32,
) -> CollectionBurden {
    let (manual, signed) = (def.burden.manual_minutes, def.burden.automated_minutes);
    let (count, basis, by_hand) = match (registered, def.capture) {
        (0, _) => (def.respondents.estimated, Basis::Estimated, 0),
        (n, Capture::Manual) => (n, Basis::Registered, 0),
        (n, Capture::Automated) => (n, Basis::Registered, by_hand.min(n)),
    };
    let per_year = def.frequency.submissions_per_year();
    // Minutes a year over all respondents, multiplied in the order the estimate always was.
    let all_minutes = match def.capture {
        Capture::Manual => f64::from(count) * per_year * manual,
        Capture::Automated => {
            f64::from(count - by_hand) * per_year * signed + f64::from(by_hand) * per_year * manual
        }
    };
    CollectionBurden {
        slug: def.slug.to_string(),
        title: def.title.clone(),
        licence_number: licence_number.map(str::to_owned),
        capture: def.capture,
        respondents: count,
        basis,
        by_hand,
        submissions_per_year: per_year,
        minutes_per_submission: match def.capture {
            Capture::Manual => manual,
            Capture::Automated if count == 0 => signed,
            Capture::Automated => {
                (f64::from(count - by_hand) * signed + f64::from(by_hand) * manual)
                    / f64::from(count)
            }
        },
        annual_hours: all_minutes / 60.0,
        by_hand_hours: match def.capture {
            Capture::Manual => all_minutes / 60.0,
            Capture::Automated => f64::from(by_hand) * per_year * manual / 60.0,
        },
        staff_group: def.burden.staff_group.clone(),
    }
}

/// The register's burden on one day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BurdenReport {
    pub on: NaiveDate,
    pub collections: Vec<CollectionBurden>,
    pub total_hours: f64,
    /// Hours filling in or sending by hand: manual collections, and the respondents who
    /// send an automated one by hand.
    pub manual_hours: f64,
    /// Hours signing off what is pulled from a source.
    pub automated_hours: f64,
    pub budget: Option<Budget>,
    /// What the trajectory allows today, where a target is set.
    pub trajectory_hours: Option<f64>,
    /// Cap minus total; negative when over.
    pub headroom_hours: Option<f64>,
}

impl BurdenReport {
    pub fn new(collections: Vec<CollectionBurden>, budget: Option<Budget>, on: NaiveDate) -> Self {
        // An empty f64 sum is -0.0; adding 0.0 makes it the 0 people expect.
        let sum = |f: fn(&CollectionBurden) -> f64| collections.iter().map(f).sum::<f64>() + 0.0;
        let total_hours = sum(|c| c.annual_hours);
        BurdenReport {
            on,
            manual_hours: sum(|c| c.by_hand_hours),
            automated_hours: sum(|c| c.annual_hours - c.by_hand_hours),
            trajectory_hours: budget.as_ref().and_then(|b| b.trajectory_at(on)),
            headroom_hours: budget
                .as_ref()
                .and_then(|b| b.cap_hours)
                .map(|cap| cap - total_hours),
            collections,
            total_hours,
            budget,
        }
    }
}

/// The trajectory's straight line as points a month apart, from the baseline's date to the
/// target's, where both are set.
pub fn trajectory_points(b: &Budget) -> Vec<(NaiveDate, f64)> {
    let mut points = Vec::new();
    if let (Some(from), Some(to)) = (b.baseline_date, b.target_date) {
        let mut on = from;
        while on < to && points.len() < 240 {
            if let Some(h) = b.trajectory_at(on) {
                points.push((on, h));
            }
            on = on.checked_add_months(chrono::Months::new(1)).unwrap_or(to);
        }
        if let Some(h) = b.trajectory_at(to) {
            points.push((to, h));
        }
    }
    points
}

/// Hours for people: `0.1`, `8.5`, `25,550`. Under ten hours keeps a decimal, so that a
/// small burden does not read as none.
pub fn hours(h: f64) -> String {
    if h.abs() < 10.0 && h != 0.0 {
        format!("{h:.1}")
    } else {
        thousands(h)
    }
}

/// Pounds for people: `£12,345`, `-£40`.
pub fn pounds(p: f64) -> String {
    if p.round() < 0.0 {
        format!("-£{}", thousands(-p))
    } else {
        format!("£{}", thousands(p))
    }
}

/// `25550.4` → `25,550`.
pub fn thousands(n: f64) -> String {
    let whole = n.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(25_550.4), "25,550");
        assert_eq!(thousands(-1_234_567.0), "-1,234,567");
        assert_eq!(pounds(12_345.4), "£12,345");
        assert_eq!(pounds(-40.2), "-£40");
    }
}
