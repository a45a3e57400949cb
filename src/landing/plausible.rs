//! Plausibility: each figure of a landed extract against the same row's figure in the
//! provider's own comparable periods (the same weekday of earlier weeks for daily data, the
//! periods before for any other). A figure far outside that baseline, or one that falls to
//! zero where the baseline never was, lands but is held for the provider to confirm.
//!
//! The baseline of a figure is the median of its values over the comparable periods, and
//! its spread the median absolute deviation scaled to a standard deviation (× 1.4826), never
//! taken as less than the mean absolute deviation (× 1.2533), a tenth of the median, or 1 for
//! whole numbers: a ward whose beds are the same every week would otherwise make any change
//! infinitely far, and so would a figure that is mostly 0. A row with fewer than
//! [`Plausibility::LEAST_PERIODS`] comparable periods has no baseline and is never held.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::domain::definition::{CollectionDef, ItemType, Plausibility};
use crate::domain::{Period, PeriodKind};

/// An extract with more rows than this is not compared: its figures are not held.
pub const MOST_CHECKED_ROWS: u64 = 500_000;

/// Held figures kept per version; the count covers all of them.
pub const MOST_KEPT: usize = 200;

/// A fall to zero is held only when it is at least this many spreads: a figure of 1 or 2
/// that is 0 one day (an escalation bay closed) is not implausible.
const ZERO_LEAST_SCORE: f64 = 3.0;

/// A robust z-score is never recorded as more than this (a spread of nothing makes any
/// difference infinite).
const MOST_SCORE: f64 = 1e9;

pub use crate::domain::held::{Held, Reason};

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    /// The first [`MOST_KEPT`] held figures.
    pub held: Vec<Held>,
    /// How many figures are held in all.
    pub total: usize,
    /// Why nothing was compared, when it was not.
    pub not_compared: Option<String>,
}

/// The comparable periods before `period`, nearest first: the same weekday in each of the
/// `n` weeks before for a day, otherwise the `n` periods before.
pub fn comparable(period: &Period, n: u32) -> Vec<Period> {
    let step = if period.kind() == PeriodKind::Day {
        7
    } else {
        1
    };
    let mut out = Vec::with_capacity(n as usize);
    let mut p = *period;
    for _ in 0..n {
        for _ in 0..step {
            p = p.previous();
        }
        out.push(p);
    }
    out
}

/// The items a row is matched on across periods: the key without its date.
fn matched_on(def: &CollectionDef) -> Vec<&str> {
    let date = def.period_item().map(|i| i.name.as_str());
    def.key
        .iter()
        .map(String::as_str)
        .filter(|k| Some(*k) != date)
        .collect()
}

/// The figures compared: numeric items that are measures.
fn figures(def: &CollectionDef) -> Vec<(&str, bool)> {
    def.measures()
        .filter(|i| i.ty.is_numeric())
        .map(|i| (i.name.as_str(), i.ty == ItemType::Integer))
        .collect()
}

/// One row of an extract, read for the check.
struct Row {
    /// The key without the date, as text: what rows of different periods match on.
    matched: String,
    /// The whole key, as text.
    row: String,
    values: Vec<Option<f64>>,
}

/// Reads the key and figures of every row of the version at `path`.
fn rows(def: &CollectionDef, path: &Path, most: u64) -> anyhow::Result<Vec<Row>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading {}", path.display()))?;
    let rows = builder.metadata().file_metadata().num_rows();
    if rows as u64 > most {
        anyhow::bail!("{rows} rows is more than the {most} compared");
    }
    let matched = matched_on(def);
    let figures = figures(def);
    let wanted: Vec<&str> = def
        .key
        .iter()
        .map(String::as_str)
        .chain(figures.iter().map(|f| f.0))
        .collect();
    let schema = builder.schema().clone();
    let indices: Vec<usize> = wanted
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder.with_projection(mask).build()?;
    let mut out = Vec::new();
    for batch in reader {
        read_batch(&batch?, def, &matched, &figures, &mut out)?;
    }
    Ok(out)
}

fn read_batch(
    batch: &RecordBatch,
    def: &CollectionDef,
    matched: &[&str],
    figures: &[(&str, bool)],
    out: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let text = |name: &str, i: usize| -> anyhow::Result<String> {
        Ok(match batch.column_by_name(name) {
            Some(c) => array_value_to_string(c.as_ref(), i)?,
            None => String::new(),
        })
    };
    let values = figures
        .iter()
        .map(|(name, _)| {
            batch
                .column_by_name(name)
                .map(|c| cast(c, &DataType::Float64))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for i in 0..batch.num_rows() {
        let mut row = Vec::with_capacity(def.key.len());
        for k in &def.key {
            row.push(format!("{k}={}", text(k, i)?));
        }
        let mut on = Vec::with_capacity(matched.len());
        for k in matched {
            on.push(text(k, i)?);
        }
        out.push(Row {
            matched: on.join("\u{1f}"),
            row: row.join(", "),
            values: values
                .iter()
                .map(|c| {
                    c.as_ref().and_then(|c| {
                        let c = c.as_primitive::<Float64Type>();
                        c.is_valid(i).then(|| c.value(i))
                    })
                })
                .collect(),
        });
    }
    Ok(())
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Compares the version at `new` with `history`, the same provider's current versions of
/// the comparable periods. Errors only when the new version cannot be read; a period of
/// history that cannot be read is left out of the baseline.
pub fn check(
    def: &CollectionDef,
    rule: &Plausibility,
    new: &Path,
    history: &[PathBuf],
) -> anyhow::Result<Checked> {
    let figures = figures(def);
    if figures.is_empty() || def.key.is_empty() {
        return Ok(Checked::default());
    }
    let new_rows = match rows(def, new, MOST_CHECKED_ROWS) {
        Ok(r) => r,
        Err(e) => {
            return Ok(Checked {
                not_compared: Some(format!("{e:#}; nothing is held")),
                ..Checked::default()
            });
        }
    };
    // Each figure's values by row, and in how many periods the row was found.
    let mut past: HashMap<(&str, usize), Vec<f64>> = HashMap::new();
    let mut seen_in: HashMap<String, u32> = HashMap::new();
    let mut old_rows = Vec::new();
    for path in history {
        match rows(def, path, MOST_CHECKED_ROWS) {
            Ok(r) => old_rows.push(r),
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = format!("{e:#}"),
                "A comparable period could not be read; the baseline goes without it."
            ),
        }
    }
    for period in &old_rows {
        let mut here = std::collections::HashSet::new();
        for r in period {
            if here.insert(r.matched.as_str()) {
                *seen_in.entry(r.matched.clone()).or_default() += 1;
            }
            for (f, v) in r.values.iter().enumerate() {
                if let Some(v) = v {
                    past.entry((r.matched.as_str(), f)).or_default().push(*v);
                }
            }
        }
    }
    let mut checked = Checked::default();
    // Two rows whose keys read the same as text (`01` and `1`) are judged once.
    let mut judged = std::collections::HashSet::new();
    for r in &new_rows {
        let periods = seen_in.get(&r.matched).copied().unwrap_or(0);
        if periods < Plausibility::LEAST_PERIODS {
            continue;
        }
        for (f, value) in r.values.iter().enumerate() {
            let (Some(value), Some(values)) = (value, past.get(&(r.matched.as_str(), f))) else {
                continue;
            };
            if values.len() < Plausibility::LEAST_PERIODS as usize {
                continue;
            }
            if !judged.insert((r.row.as_str(), f)) {
                continue;
            }
            if let Some(held) = judge(rule, &r.row, figures[f], *value, values, periods) {
                checked.total += 1;
                if checked.held.len() < MOST_KEPT {
                    checked.held.push(held);
                }
            }
        }
    }
    Ok(checked)
}

/// Checks the version just put in place at `path` for `key` against the provider's current
/// versions of the comparable periods, on a blocking thread. Nothing is checked for a
/// collection without a `[plausibility]` section. A failure to read the history is logged
/// and holds nothing: the check never stops a version landing.
pub async fn check_landed(
    versions: &(dyn crate::store::versions::Versions + Sync),
    def: &CollectionDef,
    key: &crate::domain::RunKey,
    path: &Path,
) -> Checked {
    let Some(rule) = def.plausibility else {
        return Checked::default();
    };
    let periods: Vec<String> = comparable(&key.period, rule.periods)
        .iter()
        .map(ToString::to_string)
        .collect();
    let earlier = match versions
        .current_of(&key.collection, &key.provider, &periods)
        .await
    {
        Ok(earlier) => earlier,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                ?key,
                "The baseline could not be read."
            );
            return Checked {
                not_compared: Some("the earlier periods could not be read; nothing is held".into()),
                ..Checked::default()
            };
        }
    };
    // In the order of `periods`, newest first; a nil return says nothing of the figures'
    // usual size.
    let history: Vec<PathBuf> = periods
        .iter()
        .filter_map(|p| earlier.iter().find(|v| &v.period == p))
        .filter(|v| !v.report.0["nil_return"].as_bool().unwrap_or(false))
        .map(|v| PathBuf::from(&v.path))
        .collect();
    if history.len() < Plausibility::LEAST_PERIODS as usize {
        return Checked::default();
    }
    let (def, path) = (def.clone(), path.to_owned());
    let checked = tokio::task::spawn_blocking(move || check(&def, &rule, &path, &history)).await;
    match checked {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => Checked {
            not_compared: Some(format!("{e:#}; nothing is held")),
            ..Checked::default()
        },
        Err(e) => Checked {
            not_compared: Some(format!("the check stopped: {e}; nothing is held")),
            ..Checked::default()
        },
    }
}

/// One figure against its baseline: held, or not.
fn judge(
    rule: &Plausibility,
    row: &str,
    (item, whole): (&str, bool),
    value: f64,
    values: &[f64],
    periods: u32,
) -> Option<Held> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = median(&sorted);
    let mut deviations: Vec<f64> = sorted.iter().map(|v| (v - m).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let floor = if whole { 1.0 } else { 0.0 };
    // The mean absolute deviation (× 1.2533, a standard deviation for normal data) keeps
    // a figure that is mostly 0 from having no spread at all.
    let mean_deviation = deviations.iter().sum::<f64>() / deviations.len() as f64;
    let spread = (1.4826 * median(&deviations))
        .max(1.2533 * mean_deviation)
        .max(0.1 * m.abs())
        .max(floor);
    let distance = (value - m).abs();
    let score = if distance == 0.0 {
        0.0
    } else if spread == 0.0 {
        MOST_SCORE
    } else {
        (distance / spread).min(MOST_SCORE)
    };
    let (low, high) = (sorted[0], sorted[sorted.len() - 1]);
    let reason = if rule.zero && value == 0.0 && low > 0.0 && score >= ZERO_LEAST_SCORE {
        Reason::Zero
    } else if score > rule.threshold {
        Reason::Outlier
    } else {
        return None;
    };
    Some(Held {
        row: row.to_owned(),
        item: item.to_owned(),
        value,
        median: m,
        low,
        high,
        periods,
        score: (score * 100.0).round() / 100.0,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Plausibility {
        Plausibility {
            threshold: 5.0,
            periods: 8,
            zero: true,
        }
    }

    #[test]
    fn a_fall_to_zero_is_held_whatever_its_score() {
        let held = judge(
            &rule(),
            "ward=W1",
            ("occupied", true),
            0.0,
            &[3.0, 4.0, 3.0, 5.0],
            4,
        )
        .expect("held");
        assert_eq!(held.reason, Reason::Zero);
        assert_eq!((held.low, held.high, held.median), (3.0, 5.0, 3.5));
        // A figure that has been 0 before may be 0 again, and a bay of one or two closed
        // for a day is no surprise.
        assert!(
            judge(
                &rule(),
                "w",
                ("occupied", true),
                0.0,
                &[0.0, 4.0, 3.0, 5.0],
                4
            )
            .is_none()
        );
        assert!(
            judge(
                &rule(),
                "w",
                ("available", true),
                0.0,
                &[1.0, 2.0, 1.0, 2.0],
                4
            )
            .is_none()
        );
    }

    #[test]
    fn a_figure_far_from_its_median_is_held_and_a_near_one_is_not() {
        let past = [24.0, 25.0, 23.0, 26.0, 25.0];
        assert!(judge(&rule(), "w", ("occupied", true), 27.0, &past, 5).is_none());
        let held = judge(&rule(), "w", ("occupied", true), 250.0, &past, 5).expect("held");
        assert_eq!(held.reason, Reason::Outlier);
        assert!(held.score > 5.0, "{held:?}");
    }

    #[test]
    fn a_figure_the_same_every_week_may_move_by_a_tenth() {
        let past = [28.0; 6];
        assert!(judge(&rule(), "w", ("available", true), 30.0, &past, 6).is_none());
        assert!(judge(&rule(), "w", ("available", true), 9.0, &past, 6).is_some());
    }

    #[test]
    fn a_decimal_that_is_mostly_zero_has_a_spread() {
        let past = [0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 0.0, 0.0];
        assert!(judge(&rule(), "w", ("rate", false), 0.4, &past, 8).is_none());
        assert!(judge(&rule(), "w", ("rate", false), 40.0, &past, 8).is_some());
    }

    #[test]
    fn comparable_days_are_the_same_weekday() {
        let day = Period::parse("2026-11-30").unwrap();
        let days: Vec<String> = comparable(&day, 3)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(days, ["2026-11-23", "2026-11-16", "2026-11-09"]);
        let month = Period::parse("2026-03").unwrap();
        let months: Vec<String> = comparable(&month, 2)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(months, ["2026-02", "2026-01"]);
    }
}
