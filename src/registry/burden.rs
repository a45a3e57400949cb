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
    pub submissions_per_year: f64,
    pub minutes_per_submission: f64,
    pub annual_hours: f64,
}

/// Estimates one collection's annual burden on `on`.
pub fn estimate(
    def: &CollectionDef,
    licence_number: Option<&str>,
    providers: &[Provider],
    on: NaiveDate,
) -> CollectionBurden {
    let registered = providers
        .iter()
        .filter(|p| def.respondents.kinds.contains(&p.kind) && p.is_open_on(on))
        .count() as u32;
    let (respondents, basis) = if registered > 0 {
        (registered, Basis::Registered)
    } else {
        (def.respondents.estimated, Basis::Estimated)
    };
    let minutes = match def.capture {
        Capture::Manual => def.burden.manual_minutes,
        Capture::Automated => def.burden.automated_minutes,
    };
    let per_year = def.frequency.submissions_per_year();
    CollectionBurden {
        slug: def.slug.to_string(),
        title: def.title.clone(),
        licence_number: licence_number.map(str::to_owned),
        capture: def.capture,
        respondents,
        basis,
        submissions_per_year: per_year,
        minutes_per_submission: minutes,
        annual_hours: f64::from(respondents) * per_year * minutes / 60.0,
    }
}

/// The register's burden on one day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BurdenReport {
    pub on: NaiveDate,
    pub collections: Vec<CollectionBurden>,
    pub total_hours: f64,
    pub manual_hours: f64,
    pub automated_hours: f64,
    pub budget: Option<Budget>,
    /// What the trajectory allows today, where a target is set.
    pub trajectory_hours: Option<f64>,
    /// Cap minus total; negative when over.
    pub headroom_hours: Option<f64>,
}

impl BurdenReport {
    pub fn new(collections: Vec<CollectionBurden>, budget: Option<Budget>, on: NaiveDate) -> Self {
        let sum = |capture: Option<Capture>| {
            // An empty f64 sum is -0.0; adding 0.0 makes it the 0 people expect.
            collections
                .iter()
                .filter(|c| capture.is_none_or(|k| c.capture == k))
                .map(|c| c.annual_hours)
                .sum::<f64>()
                + 0.0
        };
        let total_hours = sum(None);
        BurdenReport {
            on,
            manual_hours: sum(Some(Capture::Manual)),
            automated_hours: sum(Some(Capture::Automated)),
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
