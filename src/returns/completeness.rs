//! Completeness: which providers owed an input for a return's period, which sent every
//! period they owed, which are missing (by code and name, with how many periods), whose
//! first delivery came after the deadline (late), which corrected a delivery (amended, which
//! is never lateness), and whose rows were partly turned away by validation (partial).
//!
//! A provider owes a period only once its deadline has passed at the time of the build, and
//! only when it is of a kind the return expects, was open on some day of the period, and
//! the collection was in effect by the period's start: so a closed provider, a quarter
//! still in progress and a day whose deadline is still to come are never counted missing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::domain::provider::{Provider, ProviderKind};
use crate::registry::window::deadline;
use crate::store::holds::HoldRow;
use crate::store::runs::CurrentVersion;

/// Who was expected to send an input for the return's period, and who did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// True when every period inside has reached its deadline, every expected provider sent
    /// every period it owed, and no row of them was turned away by validation.
    pub complete: bool,
    pub inputs: Vec<InputCompleteness>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCompleteness {
    pub collection: String,
    /// The input's periods inside the return's period.
    pub periods: usize,
    /// Of those, the periods past their deadline when the return was built: only these are
    /// owed. Fewer than `periods` while the return's period is still in progress.
    #[serde(default)]
    pub periods_due: usize,
    /// Providers that owed at least one of those periods.
    pub expected: usize,
    /// Providers that sent every period they owed.
    pub received: usize,
    /// Providers missing one or more periods, with how many.
    pub missing: Vec<Missing>,
    /// Providers whose first delivery of some period came after its deadline.
    pub late: Vec<String>,
    /// Providers that corrected some period: a further version inside the amendment
    /// window, which is not lateness.
    #[serde(default)]
    pub amended: Vec<String>,
    /// Providers some of whose rows were turned away by validation, so their figures are
    /// short of what they hold.
    #[serde(default)]
    pub partial: Vec<Partial>,
    /// Providers with figures held for their confirmation in a period's current version:
    /// what is built on them is provisional. Their periods still count as received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional: Vec<Provisional>,
    /// Providers with periods pulled from their source that nobody at the provider has
    /// signed off: received, but not yet vouched for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsigned: Vec<Unsigned>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unsigned {
    pub code: String,
    pub name: String,
    /// Periods past their deadline whose current version was pulled and not signed off.
    pub periods: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provisional {
    pub code: String,
    pub name: String,
    /// Periods whose current version has figures awaiting confirmation.
    pub periods: usize,
    /// Figures awaiting confirmation, over those periods.
    pub figures: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub code: String,
    pub name: String,
    pub periods_missing: usize,
    pub periods_owed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub code: String,
    pub name: String,
    /// Periods whose current version lacks rows that failed a check.
    pub periods: usize,
    /// Rows turned away, over those periods.
    pub rows_rejected: i64,
}

/// A provider owes a period when it is of a kind the collection asks and the return
/// expects, is open on any day of it, and the collection was in effect (owed) by its start.
fn owes(
    def: &CollectionDef,
    expects: &[ProviderKind],
    owed_from: NaiveDate,
    p: &Provider,
    period: &Period,
) -> bool {
    period.first_day() >= owed_from
        && def.respondents.kinds.contains(&p.kind)
        && (expects.is_empty() || expects.contains(&p.kind))
        && p.opened_on.is_none_or(|o| o < period.end())
        && p.closed_on.is_none_or(|c| c > period.first_day())
}

/// Who owed `collection` for `periods` at `now`, and who sent it: `current` holds the
/// current versions landed for those periods; `expects` the kinds of provider the return
/// is about (all the collection asks, when empty); `unsigned` the (provider, period) of
/// those versions that were pulled and nobody has signed off, counted where owed.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    collection: &CollectionDef,
    expects: &[ProviderKind],
    owed_from: NaiveDate,
    providers: &[Provider],
    periods: &[Period],
    current: &[CurrentVersion],
    unsigned: &HashSet<(&str, &str)>,
    now: DateTime<Utc>,
) -> InputCompleteness {
    let got: HashMap<(&str, &str), &CurrentVersion> = current
        .iter()
        .map(|v| ((v.provider.as_str(), v.period.as_str()), v))
        .collect();
    // Each period's name and deadline once, not once a provider; only the ones past their
    // deadline are owed.
    let due: Vec<(&Period, String, DateTime<Utc>)> = periods
        .iter()
        .map(|q| (q, q.to_string(), deadline(collection, q)))
        .filter(|(_, _, deadline)| *deadline <= now)
        .collect();
    let mut c = InputCompleteness {
        collection: collection.slug.to_string(),
        periods: periods.len(),
        periods_due: due.len(),
        ..InputCompleteness::default()
    };
    for p in providers {
        let owed: Vec<&(&Period, String, DateTime<Utc>)> = due
            .iter()
            .filter(|(q, _, _)| owes(collection, expects, owed_from, p, q))
            .collect();
        if owed.is_empty() {
            continue;
        }
        c.expected += 1;
        let code = p.code.to_string();
        let (mut missing, mut late, mut amended) = (0, false, false);
        let (mut partial_periods, mut rows_rejected, mut unsigned_periods) = (0, 0, 0);
        for (_, name, due) in &owed {
            match got.get(&(code.as_str(), name.as_str())) {
                None => missing += 1,
                Some(v) => {
                    if unsigned.contains(&(code.as_str(), name.as_str())) {
                        unsigned_periods += 1;
                    }
                    late |= v.first_landed_at > *due;
                    amended |= v.versions > 1;
                    if v.rows_rejected > 0 {
                        partial_periods += 1;
                        rows_rejected += v.rows_rejected;
                    }
                }
            }
        }
        if missing == 0 {
            c.received += 1;
        } else {
            c.missing.push(Missing {
                code: code.clone(),
                name: p.name.clone(),
                periods_missing: missing,
                periods_owed: owed.len(),
            });
        }
        if partial_periods > 0 {
            c.partial.push(Partial {
                code: code.clone(),
                name: p.name.clone(),
                periods: partial_periods,
                rows_rejected,
            });
        }
        if unsigned_periods > 0 {
            c.unsigned.push(Unsigned {
                code: code.clone(),
                name: p.name.clone(),
                periods: unsigned_periods,
            });
        }
        if late {
            c.late.push(code.clone());
        }
        if amended {
            c.amended.push(code);
        }
    }
    c
}

/// The providers whose figures in `holds` (unconfirmed holds on the versions read) await
/// their confirmation, by code.
pub fn provisional(holds: &[HoldRow], providers: &[Provider]) -> Vec<Provisional> {
    let mut by: std::collections::BTreeMap<&str, (usize, i64)> = std::collections::BTreeMap::new();
    for h in holds.iter().filter(|h| h.awaiting()) {
        let e = by.entry(h.provider.as_str()).or_default();
        e.0 += 1;
        e.1 += h.figures;
    }
    by.into_iter()
        .map(|(code, (periods, figures))| Provisional {
            code: code.to_owned(),
            name: providers
                .iter()
                .find(|p| p.code.as_str() == code)
                .map_or_else(|| code.to_owned(), |p| p.name.clone()),
            periods,
            figures,
        })
        .collect()
}

impl Completeness {
    /// Pulled periods nobody has signed off, over every input, and from how many providers.
    pub fn unsigned(&self) -> (usize, usize) {
        let periods = self
            .inputs
            .iter()
            .flat_map(|c| &c.unsigned)
            .map(|u| u.periods)
            .sum();
        let providers = self.inputs.iter().map(|c| c.unsigned.len()).sum();
        (periods, providers)
    }

    /// The sentence on unsigned periods, when some are.
    fn unsigned_said(&self) -> Option<String> {
        let (periods, providers) = self.unsigned();
        (periods > 0).then(|| {
            format!(
                " {periods} period{} pulled from the source system{} of {providers} provider{} {} not signed off by {}: counted as received, not yet vouched for.",
                if periods == 1 { "" } else { "s" },
                if providers == 1 { "" } else { "s" },
                if providers == 1 { "" } else { "s" },
                if periods == 1 { "is" } else { "are" },
                if providers == 1 { "its provider" } else { "their providers" },
            )
        })
    }

    /// Figures awaiting confirmation over every input, and from how many providers.
    pub fn awaiting(&self) -> (i64, usize) {
        let figures = self
            .inputs
            .iter()
            .flat_map(|c| &c.provisional)
            .map(|p| p.figures)
            .sum();
        let providers = self.inputs.iter().map(|c| c.provisional.len()).sum();
        (figures, providers)
    }

    /// The sentence on provisional figures, when some are.
    fn provisional_said(&self) -> Option<String> {
        let (figures, providers) = self.awaiting();
        (figures > 0).then(|| {
            format!(
                " {figures} figure{} from {providers} provider{} await{} {} confirmation: the cells built on {} are marked provisional.",
                if figures == 1 { "" } else { "s" },
                if providers == 1 { "" } else { "s" },
                if figures == 1 { "s" } else { "" },
                if providers == 1 { "its provider's" } else { "their providers'" },
                if figures == 1 { "it" } else { "them" },
            )
        })
    }

    /// The completeness in one sentence: whether the totals are built on every expected
    /// provider's data, and if not, how many of each input's providers sent theirs.
    pub fn statement(&self) -> String {
        let provisional =
            self.provisional_said().unwrap_or_default() + &self.unsigned_said().unwrap_or_default();
        if self.complete {
            return format!(
                "Complete: every expected provider sent every period it owed.{provisional}"
            );
        }
        let inputs: Vec<String> = self
            .inputs
            .iter()
            .map(|c| {
                let mut s = format!(
                    "{}: {} of {} providers sent every period owed",
                    c.collection, c.received, c.expected
                );
                if !c.partial.is_empty() {
                    s.push_str(&format!(", {} partial", c.partial.len()));
                }
                if c.periods_due < c.periods {
                    s.push_str(&format!(
                        ", {} of {} periods past their deadline",
                        c.periods_due, c.periods
                    ));
                }
                s
            })
            .collect();
        format!(
            "Incomplete: totals are built on the data received so far ({}).{provisional}",
            inputs.join("; ")
        )
    }

    /// Each fact of the completeness as (what, detail), missing and partial providers by
    /// name: the lines of an export's notes.
    pub fn notes(&self) -> Vec<(String, String)> {
        let mut lines = vec![(
            "Complete".to_string(),
            if self.complete {
                "yes"
            } else {
                "no: totals are built on incomplete data"
            }
            .to_string(),
        )];
        for c in &self.inputs {
            lines.push((
                format!("{} received", c.collection),
                format!("{} of {} providers", c.received, c.expected),
            ));
            for miss in &c.missing {
                lines.push((
                    format!("{} missing", c.collection),
                    format!(
                        "{} {} ({} of {} periods)",
                        miss.code, miss.name, miss.periods_missing, miss.periods_owed
                    ),
                ));
            }
            for p in &c.partial {
                lines.push((
                    format!("{} partial", c.collection),
                    format!(
                        "{} {} ({} rows turned away by validation)",
                        p.code, p.name, p.rows_rejected
                    ),
                ));
            }
            for p in &c.provisional {
                lines.push((
                    format!("{} provisional", c.collection),
                    format!(
                        "{} {} ({} figure{} in {} period{} awaiting the provider's confirmation)",
                        p.code,
                        p.name,
                        p.figures,
                        if p.figures == 1 { "" } else { "s" },
                        p.periods,
                        if p.periods == 1 { "" } else { "s" }
                    ),
                ));
            }
            for u in &c.unsigned {
                lines.push((
                    format!("{} unsigned", c.collection),
                    format!(
                        "{} {} ({} pulled period{} not signed off by the provider)",
                        u.code,
                        u.name,
                        u.periods,
                        if u.periods == 1 { "" } else { "s" }
                    ),
                ));
            }
            if !c.late.is_empty() {
                lines.push((format!("{} late", c.collection), c.late.join(", ")));
            }
            if !c.amended.is_empty() {
                lines.push((format!("{} amended", c.collection), c.amended.join(", ")));
            }
            if c.periods_due < c.periods {
                lines.push((
                    format!("{} periods owed", c.collection),
                    format!(
                        "{} of {}: the rest had not reached their deadline",
                        c.periods_due, c.periods
                    ),
                ));
            }
        }
        lines
    }
}
