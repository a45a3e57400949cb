//! Reading an artifact's cells as text, and the rows one reader may see: shared by every
//! export, the SDMX writer and revisions.

use anyhow::Context;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;

use super::disclosure::SUPPRESSED;

/// A cell as text; an empty cell is empty.
pub fn cell(column: &dyn Array, row: usize) -> anyhow::Result<String> {
    if column.is_null(row) {
        return Ok(String::new());
    }
    Ok(array_value_to_string(column, row)?)
}

/// A cell for a CSV file that people open in a spreadsheet: a text cell that a spreadsheet
/// would run as a formula (it begins with `=`, `+`, `-`, `@`, a tab or a carriage return)
/// is written with a leading `'`, which spreadsheets take as "this is text". Only text
/// columns are touched, so that numbers (a negative one included) stay numbers for pandas,
/// sdmx1 and CSVW.
pub fn csv_cell(column: &dyn Array, row: usize) -> anyhow::Result<String> {
    let text = cell(column, row)?;
    let is_text = matches!(
        column.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    Ok(
        if is_text && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text
        },
    )
}

/// Whether row `row` of `column` is suppressed, from its status column.
pub fn suppressed(batch: &RecordBatch, column: &str, row: usize) -> bool {
    batch
        .column_by_name(&format!("{column}_status"))
        .and_then(|s| {
            s.as_string_opt::<i32>()
                .map(|s| s.is_valid(row) && s.value(row) == SUPPRESSED)
        })
        .unwrap_or(false)
}

/// The column that says which ICB a row belongs to.
pub const ICB_COLUMN: &str = "icb";

/// What a download scoped to an ICB holds, in words.
pub fn scope_note(icb: &str) -> String {
    format!(
        "Only the rows of {icb}: its providers' rows and its own. The completeness and the inputs are the national return's."
    )
}

/// The rows of `batches` whose ICB is `icb`: its providers' rows and its own.
pub fn of_icb(batches: Vec<RecordBatch>, icb: &str) -> anyhow::Result<Vec<RecordBatch>> {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::compute::{filter_record_batch, kernels::cmp::eq};
    let mut out = Vec::with_capacity(batches.len());
    for b in &batches {
        let column = b
            .column_by_name(ICB_COLUMN)
            .context("the return has no ICB rows to share")?;
        let column = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
        let mask = eq(&column, &StringArray::new_scalar(icb))?;
        out.push(filter_record_batch(b, &mask)?);
    }
    if out.is_empty() {
        out = batches;
    }
    Ok(out)
}
