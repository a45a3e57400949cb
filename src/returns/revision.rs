//! Why a new version of an artifact was made, and what it changed: the inputs that differ
//! from the version before (an amendment, a late arrival, a withdrawal), a changed query or
//! register, and each cell whose value differs, keyed by the row's dimensions.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::build::{InputFile, Manifest};
use super::catalogue::ReturnDef;
use super::export::cell;
use super::metadata::{Role, describe};

/// The most changed cells a revision lists; past it, only the count.
pub const MOST_CELLS: usize = 500;

/// One input that differs from the version before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InputChange {
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// The extract version the previous artifact read; none when it read none.
    pub from_version: Option<i64>,
    /// The extract version this one reads; none when it reads none any more.
    pub to_version: Option<i64>,
}

impl InputChange {
    /// In words: "RXA's ward-bed-census for 2026-04-15: version 1 amended by version 2".
    pub fn said(&self) -> String {
        let what = match (self.from_version, self.to_version) {
            (Some(a), Some(b)) => format!("version {a} amended by version {b}"),
            (None, Some(b)) => format!("arrived (version {b})"),
            (Some(a), None) => format!("version {a} no longer read"),
            (None, None) => "unchanged".into(),
        };
        format!(
            "{}'s {} for {}: {what}",
            self.provider, self.collection, self.period
        )
    }
}

/// One cell whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CellChange {
    /// The row, by its dimensions: `level=trust, region=London, code=RXA`.
    pub row: String,
    pub column: String,
    /// Empty where the cell was empty or the row was not there.
    pub before: String,
    pub after: String,
}

/// Why this version was made and what it changed from the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revision {
    /// The version it revises.
    pub of: i64,
    /// The reasons, in words.
    pub why: Vec<String>,
    pub inputs: Vec<InputChange>,
    /// Cells whose value differs (at most [`MOST_CELLS`]).
    pub cells: Vec<CellChange>,
    /// How many cells differ in all.
    pub cells_changed: usize,
}

/// The inputs that differ between two builds of a period.
fn input_changes(before: &[InputFile], after: &[InputFile]) -> Vec<InputChange> {
    let index = |files: &[InputFile]| -> BTreeMap<(String, String, String), i64> {
        files
            .iter()
            .map(|f| {
                (
                    (f.collection.clone(), f.provider.clone(), f.period.clone()),
                    f.version,
                )
            })
            .collect()
    };
    let (a, b) = (index(before), index(after));
    let keys: BTreeSet<&(String, String, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (from, to) = (a.get(k).copied(), b.get(k).copied());
            (from != to).then(|| InputChange {
                collection: k.0.clone(),
                provider: k.1.clone(),
                period: k.2.clone(),
                from_version: from,
                to_version: to,
            })
        })
        .collect()
}

/// The columns that are not dimensions, and each row's values of them (as text) by its
/// dimensions.
type Rows = (Vec<String>, BTreeMap<String, Vec<String>>);

/// Each row's figures and attributes by its dimensions, as text. Refuses rows that the
/// dimensions do not tell apart: every download says they identify a row (CSVW's primary
/// key, SDMX's series key), so a build whose rows they do not identify is refused.
pub(super) fn by_row(def: &ReturnDef, batches: &[RecordBatch]) -> anyhow::Result<Rows> {
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let described = describe(def, &first.schema());
    let dims: Vec<usize> = (0..described.len())
        .filter(|&i| described[i].role == Role::Dimension)
        .collect();
    let values: Vec<usize> = (0..described.len())
        .filter(|&i| described[i].role != Role::Dimension)
        .collect();
    let names = values.iter().map(|&i| described[i].name.clone()).collect();
    let mut rows = BTreeMap::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut key = Vec::with_capacity(dims.len());
            for &i in &dims {
                key.push(format!(
                    "{}={}",
                    described[i].name,
                    cell(b.column(i).as_ref(), r)?
                ));
            }
            let row = values
                .iter()
                .map(|&i| cell(b.column(i).as_ref(), r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let key = key.join(", ");
            if rows.contains_key(&key) {
                anyhow::bail!(
                    "{}: two rows are {key}: the columns that are not figures or attributes must tell every row apart; declare the column that does as a dimension (not attribute = true)",
                    def.name
                );
            }
            rows.insert(key, row);
        }
    }
    Ok((names, rows))
}

/// What `after` (with `rows_after`) changed from `before` (with `rows_before`).
pub fn revision(
    def: &ReturnDef,
    before: &Manifest,
    rows_before: &[RecordBatch],
    after: &Manifest,
    rows_after: &[RecordBatch],
) -> anyhow::Result<Revision> {
    let inputs = input_changes(&before.inputs, &after.inputs);
    let mut why: Vec<String> = inputs.iter().map(InputChange::said).collect();
    if before.sql_sha256 != after.sql_sha256 || before.licence != after.licence {
        why.push(match &after.licence {
            Some(l) => format!("the query changed: {} version {}", l.number, l.version),
            None => "the query changed".into(),
        });
    }
    if before.context_sha256 != after.context_sha256 {
        why.push("the provider register or an input collection's definition changed".into());
    }
    if before.completeness != after.completeness && inputs.is_empty() {
        why.push("what is owed changed: more of the period is past its deadline".into());
    }
    if before.disclosure_rule != after.disclosure_rule {
        why.push("the disclosure rule changed".into());
    }
    let (names, old) = by_row(def, rows_before)?;
    let (names_after, new) = by_row(def, rows_after)?;
    let mut cells = Vec::new();
    let mut cells_changed = 0;
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    // The columns in the return's order, with any the new version dropped at the end.
    let mut columns: Vec<&String> = names_after.iter().collect();
    columns.extend(names.iter().filter(|n| !names_after.contains(n)));
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        for &column in &columns {
            let value = |row: Option<&Vec<String>>, names: &[String]| {
                row.and_then(|r| names.iter().position(|n| n == column).map(|i| r[i].clone()))
                    .unwrap_or_default()
            };
            let (was, now) = (value(a, &names), value(b, &names_after));
            if was == now && a.is_some() == b.is_some() {
                continue;
            }
            cells_changed += 1;
            if cells.len() < MOST_CELLS {
                cells.push(CellChange {
                    row: key.clone(),
                    column: column.clone(),
                    before: was,
                    after: now,
                });
            }
        }
    }
    Ok(Revision {
        of: before.version,
        why,
        inputs,
        cells,
        cells_changed,
    })
}

/// The revision of `artifact` as a reader of one ICB's rows may see it: why it was made, and
/// only the changed cells of the rows it reads (the rows whose ICB is `icb`).
pub fn of_icb(
    def: &ReturnDef,
    artifact: &super::artifact::Artifact,
    icb: &str,
) -> anyhow::Result<Option<Revision>> {
    let Some(revision) = &artifact.manifest.revision else {
        return Ok(None);
    };
    let rows = super::export::of_icb(artifact.read()?, icb)?;
    let (_, readable) = by_row(def, &rows)?;
    let cells: Vec<CellChange> = revision
        .cells
        .iter()
        .filter(|c| readable.contains_key(&c.row))
        .cloned()
        .collect();
    Ok(Some(Revision {
        cells_changed: cells.len(),
        cells,
        ..revision.clone()
    }))
}
