//! Provisional cells: those of a return that rest on a figure awaiting its provider's
//! confirmation. Which cells those are is found by running the query a second time with
//! each held figure moved far away (by [`NUDGE`]): a cell whose value changes rests on a held
//! figure, whatever the query does with it (a trust's own row, its ICB's, region's and
//! England's totals, a percentage built on it), and a cell that ignores it (another
//! sector's beds, a count of rows) is left final. A version with more figures held than
//! were kept has every figure moved.
//!
//! The artifact carries the finding in its `provisional` column: the figures of each row
//! that are provisional, by name, space-separated; empty for a row that is final.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::catalogue::ReturnDef;
use super::cells::cell;
use super::columns::{Role, describe};
use crate::domain::definition::CollectionDef;

/// The column that names a row's provisional figures.
pub use super::catalogue::PROVISIONAL_COLUMN as COLUMN;

/// How far a held figure is moved to find what rests on it: far beyond any count a
/// collection allows, and odd, so that no rounding brings it back.
pub const NUDGE: i64 = 1_000_003;

/// One version with figures held for confirmation, as a build reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldInput {
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// True when more figures are held than were kept: every figure of it is moved.
    pub whole: bool,
    /// The held figures kept: (row by its key, item).
    pub figures: Vec<(String, String)>,
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The SELECT over `raw`, the table of `def`'s rows as sent, that gives the same rows with
/// each held figure moved by [`NUDGE`]. `columns` are the table's columns in order.
pub fn moved(def: &CollectionDef, held: &[&HeldInput], raw: &str, columns: &[String]) -> String {
    // A row's key as text, as the landing's check wrote it: `name=value, …`.
    let key = format!(
        "concat_ws(', ', {})",
        def.key
            .iter()
            .map(|k| format!(
                "{} || COALESCE(CAST({} AS VARCHAR), '')",
                quoted(&format!("{k}=")),
                ident(k)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let figures: HashSet<&str> = def
        .measures()
        .filter(|i| i.ty.is_numeric())
        .map(|i| i.name.as_str())
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            if !figures.contains(c.as_str()) {
                return ident(c);
            }
            let when: Vec<String> = held
                .iter()
                .filter_map(|h| {
                    let at = format!(
                        "provider = {} AND period = {}",
                        quoted(&h.provider),
                        quoted(&h.period)
                    );
                    if h.whole {
                        return Some(format!("({at})"));
                    }
                    let rows: Vec<String> = h
                        .figures
                        .iter()
                        .filter(|(_, item)| item == c)
                        .map(|(row, _)| quoted(row))
                        .collect();
                    (!rows.is_empty()).then(|| format!("({at} AND {key} IN ({}))", rows.join(", ")))
                })
                .collect();
            if when.is_empty() {
                ident(c)
            } else {
                format!(
                    "CASE WHEN {} THEN {} + {NUDGE} ELSE {} END AS {}",
                    when.join(" OR "),
                    ident(c),
                    ident(c),
                    ident(c)
                )
            }
        })
        .collect();
    format!("SELECT {} FROM {}", select.join(", "), ident(raw))
}

/// Each row's figures as text by its dimensions.
fn figures_by_row(
    def: &ReturnDef,
    batches: &[RecordBatch],
) -> anyhow::Result<super::revision::Rows> {
    let (names, rows) = super::revision::by_row(def, batches)?;
    let Some(first) = batches.first() else {
        return Ok((names, rows));
    };
    let figures: HashSet<String> = describe(def, &first.schema())
        .into_iter()
        .filter(|d| d.role == Role::Figure)
        .map(|d| d.name)
        .collect();
    let keep: Vec<usize> = (0..names.len())
        .filter(|&i| figures.contains(&names[i]))
        .collect();
    let names = keep.iter().map(|&i| names[i].clone()).collect();
    let rows = rows
        .into_iter()
        .map(|(k, v)| (k, keep.iter().map(|&i| v[i].clone()).collect()))
        .collect();
    Ok((names, rows))
}

/// The provisional figures of each row of `sent` (the query over the data as sent),
/// found against `moved` (the query with held figures moved), in row order; `None` for
/// every row when nothing is held.
pub fn find(
    def: &ReturnDef,
    sent: &[RecordBatch],
    moved: Option<&[RecordBatch]>,
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let Some(moved) = moved else {
        return Ok(sent.iter().map(|b| vec![None; b.num_rows()]).collect());
    };
    let (names, before) = figures_by_row(def, sent)?;
    let (names_moved, after) = figures_by_row(def, moved)?;
    let provisional: BTreeMap<&String, String> = before
        .iter()
        .filter_map(|(key, values)| {
            let changed: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, name)| {
                    let now = after.get(key).and_then(|row| {
                        names_moved.iter().position(|n| n == *name).map(|j| &row[j])
                    });
                    !now.is_some_and(|now| same(now, &values[*i]))
                })
                .map(|(_, name)| name.as_str())
                .collect();
            (!changed.is_empty()).then(|| (key, changed.join(" ")))
        })
        .collect();
    let keys = super::revision::row_keys(def, sent)?;
    Ok(keys
        .into_iter()
        .map(|batch| {
            batch
                .into_iter()
                .map(|k| provisional.get(&k).cloned())
                .collect()
        })
        .collect())
}

/// Two cells' text the same, or the same number but for rounding in the last places (a
/// sum of floating-point figures may add up in another order when the query runs again).
fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Every figure of every row provisional: what a build says when it cannot tell which
/// cells rest on a held figure (the query with them moved did not run).
pub fn all(def: &ReturnDef, sent: &[RecordBatch]) -> Vec<Vec<Option<String>>> {
    let figures: Vec<String> = sent.first().map_or_else(Vec::new, |b| {
        describe(def, &b.schema())
            .into_iter()
            .filter(|d| d.role == Role::Figure)
            .map(|d| d.name)
            .collect()
    });
    let text = (!figures.is_empty()).then(|| figures.join(" "));
    sent.iter()
        .map(|b| vec![text.clone(); b.num_rows()])
        .collect()
}

/// `batches` with the `provisional` column added, from [`find`]'s answer.
pub fn with_column(
    batches: Vec<RecordBatch>,
    provisional: Vec<Vec<Option<String>>>,
) -> anyhow::Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .zip(provisional)
        .map(|(b, p)| {
            let mut fields: Vec<Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new(COLUMN, DataType::Utf8, true));
            let mut columns = b.columns().to_vec();
            columns.push(Arc::new(StringArray::from(p)));
            Ok(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?)
        })
        .collect()
}

/// The figures of row `row` that are provisional, from the artifact's column (none for an
/// artifact built before it had one).
pub fn of_row(batch: &RecordBatch, row: usize) -> Vec<String> {
    batch
        .column_by_name(COLUMN)
        .and_then(|c| {
            let text = cell(c.as_ref(), row).ok()?;
            (!text.is_empty() && c.is_valid(row))
                .then(|| text.split(' ').map(str::to_owned).collect())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census() -> CollectionDef {
        let text = std::fs::read_to_string("collections/ward-bed-census.toml").unwrap();
        crate::registry::load::parse("ward-bed-census", &text, chrono_tz::Europe::London).unwrap()
    }

    fn columns(def: &CollectionDef) -> Vec<String> {
        crate::landing::lake::schema(def)
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    #[test]
    fn a_held_figure_moves_only_in_its_row_and_a_version_held_past_its_kept_figures_moves_whole() {
        let def = census();
        let row =
            "census_date=2026-07-01, site_code=RXA01, ward_code=W1, stay=overnight, bed_class=core";
        let one = HeldInput {
            collection: "ward-bed-census".into(),
            provider: "RXA".into(),
            period: "2026-07-01".into(),
            whole: false,
            figures: vec![(row.into(), "occupied_beds".into())],
        };
        let sql = moved(&def, &[&one], "raw", &columns(&def));
        assert!(
            sql.contains(&format!("IN ('{row}')) THEN \"occupied_beds\" + {NUDGE}")),
            "{sql}"
        );
        assert!(
            sql.contains(", \"available_beds\", "),
            "only the held item moves: {sql}"
        );
        assert!(
            sql.contains("COALESCE(CAST(\"site_code\" AS VARCHAR), '')"),
            "{sql}"
        );

        let whole = HeldInput {
            whole: true,
            figures: Vec::new(),
            ..one
        };
        let sql = moved(&def, &[&whole], "raw", &columns(&def));
        for figure in ["available_beds", "occupied_beds"] {
            assert!(
                sql.contains(&format!(
                    "CASE WHEN (provider = 'RXA' AND period = '2026-07-01') THEN \"{figure}\" + {NUDGE}"
                )),
                "{sql}"
            );
        }
    }
}
