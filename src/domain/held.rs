//! A figure held for its provider to confirm: far from the same figure in the provider's
//! own recent periods (see `landing::plausible`, which finds them).

use serde::{Deserialize, Serialize};

/// Why a figure is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// 0, where every comparable period had more.
    Zero,
    /// Further from the baseline's median than the collection's threshold allows.
    Outlier,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Zero => "zero",
            Reason::Outlier => "outlier",
        }
    }

    pub fn parse(s: &str) -> Result<Reason, String> {
        match s {
            "zero" => Ok(Reason::Zero),
            "outlier" => Ok(Reason::Outlier),
            _ => Err(format!("unknown reason for a hold: {s}")),
        }
    }
}

/// One figure held for its provider to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Held {
    /// The row, by its key: `name=value` for each key item, in the key's order.
    pub row: String,
    pub item: String,
    pub value: f64,
    /// The median of the same figure over the comparable periods.
    pub median: f64,
    /// The least and greatest of those values.
    pub low: f64,
    pub high: f64,
    /// How many comparable periods the baseline has.
    pub periods: u32,
    /// How many spreads from the median the figure is.
    pub score: f64,
    pub reason: Reason,
}

impl Held {
    /// The hold in words, for the provider's report and page.
    pub fn said(&self, daily: bool) -> String {
        let when = if daily {
            format!("the same weekday in the last {} weeks", self.periods)
        } else {
            format!("the last {} periods", self.periods)
        };
        let range = if self.low == self.high {
            format!("{}", self.low)
        } else {
            format!("{} to {}, median {}", self.low, self.high, self.median)
        };
        match self.reason {
            Reason::Zero => format!(
                "{} is 0 for {}; {when} it was never 0 ({range})",
                self.item, self.row
            ),
            Reason::Outlier => format!(
                "{} is {} for {}; {when} it was {range}",
                self.item, self.value, self.row
            ),
        }
    }
}
