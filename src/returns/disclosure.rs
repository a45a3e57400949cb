//! Disclosure control, a typed stage after the query. Below national level a `person` count
//! of 1 to 7 is suppressed and any other rounded to the nearest 5; a figure derived from a
//! suppressed count is suppressed too; `non_person` counts are left as they are. A
//! suppressed cell is empty, never zero, and its `<column>_status` says `suppressed`.

use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::catalogue::{Measure, ReturnDef};

/// The rule applied, named in every manifest.
pub const RULE: &str = "tally-sdc-1: below national level, person counts 1-7 suppressed and others rounded to the nearest 5; figures derived from a suppressed count suppressed; non-person counts unchanged";

/// The status a suppressed cell carries.
pub const SUPPRESSED: &str = "suppressed";

/// The columns that get a status column: person counts, and figures derived from one.
pub fn controlled(def: &ReturnDef) -> Vec<&str> {
    let person = |name: &String| {
        def.column(name)
            .is_some_and(|c| c.measure == Some(Measure::Person))
    };
    def.columns
        .iter()
        .filter(|c| c.measure == Some(Measure::Person) || c.derived_from.iter().any(person))
        .map(|c| c.name.as_str())
        .collect()
}

/// One person count after control, below national level.
pub fn control(count: i64) -> Option<i64> {
    match count {
        1..=7 => None,
        n => Some((n + 2).div_euclid(5) * 5),
    }
}

/// Applies the rule to one batch of the query's output; returns the batch with a status
/// column added for each controlled column.
pub fn apply(def: &ReturnDef, batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let controlled = controlled(def);
    if controlled.is_empty() {
        return Ok(batch.clone());
    }
    let n = batch.num_rows();
    let level = batch
        .column_by_name(&def.level_column)
        .context("the level column is missing from the output")?;
    let level = cast(level, &DataType::Utf8)?;
    let level = level.as_string::<i32>();
    let national = |i: usize| level.is_valid(i) && level.value(i) == def.national;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut suppressed_by_column: Vec<(String, Vec<bool>)> = Vec::new();
    // Person counts first, so that derived figures can see which were suppressed.
    for c in def
        .columns
        .iter()
        .filter(|c| c.measure == Some(Measure::Person))
    {
        let index = batch.schema().index_of(&c.name)?;
        let values = cast(batch.column(index), &DataType::Int64)
            .with_context(|| format!("{} is a person count but not a whole number", c.name))?;
        let values = values.as_primitive::<Int64Type>();
        let mut suppressed = vec![false; n];
        let controlled: Int64Array = (0..n)
            .map(|i| {
                if values.is_null(i) {
                    return None;
                }
                let v = values.value(i);
                if national(i) {
                    return Some(v);
                }
                let out = control(v);
                suppressed[i] = out.is_none();
                out
            })
            .collect();
        columns[index] = Arc::new(controlled);
        suppressed_by_column.push((c.name.clone(), suppressed));
    }
    for c in def
        .columns
        .iter()
        .filter(|c| c.measure != Some(Measure::Person) && controlled.contains(&c.name.as_str()))
    {
        let index = batch.schema().index_of(&c.name)?;
        let mut suppressed = vec![false; n];
        for (name, s) in &suppressed_by_column {
            if c.derived_from.contains(name) {
                for i in 0..n {
                    suppressed[i] |= s[i];
                }
            }
        }
        let keep: Vec<bool> = suppressed.iter().map(|s| !s).collect();
        columns[index] = nullify(&columns[index], &keep)?;
        suppressed_by_column.push((c.name.clone(), suppressed));
    }
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    for name in controlled {
        let suppressed = &suppressed_by_column
            .iter()
            .find(|(n, _)| n == name)
            .expect("every controlled column was done above")
            .1;
        fields.push(Field::new(format!("{name}_status"), DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter(
            suppressed.iter().map(|s| s.then_some(SUPPRESSED)),
        )));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `array` with the cells where `keep` is false made empty.
fn nullify(array: &ArrayRef, keep: &[bool]) -> anyhow::Result<ArrayRef> {
    let mask = datafusion::arrow::array::BooleanArray::from(keep.to_vec());
    let nulls = datafusion::arrow::array::new_null_array(array.data_type(), array.len());
    Ok(datafusion::arrow::compute::kernels::zip::zip(
        &mask, array, &nulls,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_person_counts_are_suppressed_and_others_rounded_to_five() {
        assert_eq!(control(0), Some(0));
        for n in 1..=7 {
            assert_eq!(control(n), None, "{n}");
        }
        assert_eq!(control(8), Some(10));
        assert_eq!(control(12), Some(10));
        assert_eq!(control(13), Some(15));
        assert_eq!(control(15), Some(15));
        assert_eq!(control(1_002), Some(1_000));
    }
}
