//! Why a new version of an artifact was made, and what it changed: the inputs that differ
//! from the version before (an amendment, a late arrival, a withdrawal), a changed query or
//! register, and each cell whose value differs, keyed by the row's dimensions.

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::catalogue::ReturnDef;
use super::cells::cell;
use super::columns::{Role, describe};

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
    /// False when the cells could not be compared with the version before (its data could
    /// not be read, or its rows are not told apart by today's dimensions): `why` says so,
    /// and `cells` and `cells_changed` say nothing.
    #[serde(default = "compared")]
    pub compared: bool,
}

fn compared() -> bool {
    true
}

/// The columns that are not dimensions, and each row's values of them (as text) by its
/// dimensions.
pub type Rows = (Vec<String>, BTreeMap<String, Vec<String>>);

/// Each row's figures and attributes by its dimensions, as text. Refuses rows that the
/// dimensions do not tell apart: every download says they identify a row (CSVW's primary
/// key, SDMX's series key), so a build whose rows they do not identify is refused.
pub fn by_row(def: &ReturnDef, batches: &[RecordBatch]) -> anyhow::Result<Rows> {
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), BTreeMap::new()));
    };
    let described = describe(def, &first.schema());
    let values: Vec<usize> = (0..described.len())
        .filter(|&i| described[i].role != Role::Dimension)
        .collect();
    let names = values.iter().map(|&i| described[i].name.clone()).collect();
    let mut rows = BTreeMap::new();
    for (b, keys) in batches.iter().zip(row_keys(def, batches)?) {
        for (r, key) in keys.into_iter().enumerate() {
            let row = values
                .iter()
                .map(|&i| cell(b.column(i).as_ref(), r))
                .collect::<anyhow::Result<Vec<_>>>()?;
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

/// Each row's dimensions as text (`level=trust, region=London, code=RXA`), batch by batch.
pub fn row_keys(def: &ReturnDef, batches: &[RecordBatch]) -> anyhow::Result<Vec<Vec<String>>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let described = describe(def, &first.schema());
    let dims: Vec<usize> = (0..described.len())
        .filter(|&i| described[i].role == Role::Dimension)
        .collect();
    batches
        .iter()
        .map(|b| {
            (0..b.num_rows())
                .map(|r| {
                    let mut key = Vec::with_capacity(dims.len());
                    for &i in &dims {
                        key.push(format!(
                            "{}={}",
                            described[i].name,
                            cell(b.column(i).as_ref(), r)?
                        ));
                    }
                    Ok(key.join(", "))
                })
                .collect()
        })
        .collect()
}
