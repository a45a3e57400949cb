//! DAP's burden budget: a cap on total annual hours and a reduction target, as last set.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

/// DAP's budget as last set: a cap on total annual hours, and a reduction target from a
/// baseline to a goal by a date. Each change is kept as a new row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FromRow, utoipa::ToSchema)]
pub struct Budget {
    pub cap_hours: Option<f64>,
    pub baseline_hours: Option<f64>,
    pub baseline_date: Option<NaiveDate>,
    pub goal_hours: Option<f64>,
    pub target_date: Option<NaiveDate>,
    pub set_by: String,
    pub reason: String,
    pub set_at: DateTime<Utc>,
}

impl Budget {
    /// The hours the straight line from baseline to goal allows on `on`: the baseline before
    /// the baseline date, the goal after the target date.
    pub fn trajectory_at(&self, on: NaiveDate) -> Option<f64> {
        let (b, b_date, g, g_date) = (
            self.baseline_hours?,
            self.baseline_date?,
            self.goal_hours?,
            self.target_date?,
        );
        let span = (g_date - b_date).num_days() as f64;
        let done = ((on - b_date).num_days() as f64 / span).clamp(0.0, 1.0);
        Some(b + (g - b) * done)
    }
}

/// What an hour of each staff group's time costs, in pounds, and where the figures come
/// from: settings (`[staff_rates]` and `staff_rates_source` in `tally.toml`). A group with
/// no rate of its own is priced at `default`, when there is one.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaffRates {
    pub source: String,
    pub per_hour: std::collections::BTreeMap<String, f64>,
}

impl StaffRates {
    /// The rate for `group` (the definition's `staff_group`), or the default.
    pub fn rate(&self, group: Option<&str>) -> Option<f64> {
        group
            .and_then(|g| self.per_hour.get(g))
            .or_else(|| self.per_hour.get("default"))
            .copied()
    }

    /// `hours` of `group`'s time in pounds; `None` when no rate applies.
    pub fn pounds(&self, group: Option<&str>, hours: f64) -> Option<f64> {
        self.rate(group).map(|r| r * hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_group_without_a_rate_is_priced_at_the_default_or_not_at_all() {
        let mut r = StaffRates {
            source: "test".into(),
            per_hour: [("nurse".to_string(), 30.0)].into(),
        };
        assert_eq!(r.pounds(Some("nurse"), 2.0), Some(60.0));
        assert_eq!(r.pounds(Some("admin"), 2.0), None);
        r.per_hour.insert("default".into(), 20.0);
        assert_eq!(r.pounds(Some("admin"), 2.0), Some(40.0));
        assert_eq!(r.pounds(None, 1.5), Some(30.0));
    }

    #[test]
    fn trajectory_is_a_straight_line_between_baseline_and_goal() {
        let b = Budget {
            cap_hours: None,
            baseline_hours: Some(30_000.0),
            baseline_date: Some(d("2026-04-01")),
            goal_hours: Some(15_000.0),
            target_date: Some(d("2028-04-01")),
            set_by: "DAP".into(),
            reason: "target".into(),
            set_at: Utc::now(),
        };
        assert_eq!(b.trajectory_at(d("2025-01-01")), Some(30_000.0));
        assert_eq!(b.trajectory_at(d("2026-04-01")), Some(30_000.0));
        let mid = b.trajectory_at(d("2027-04-01")).unwrap();
        assert!((mid - 22_510.27).abs() < 1.0, "{mid}");
        assert_eq!(b.trajectory_at(d("2030-01-01")), Some(15_000.0));
    }
}
