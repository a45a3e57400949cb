//! Extracts that do not arrive as CSV are turned into CSV before landing, so that every
//! source goes through the one landing path with its one set of checks and line numbers.
//! JSON is read here, in the service, as a stream (`read`); spreadsheets and Parquet, whose
//! readers trust the sizes a file declares, in a child process under a memory limit
//! (`child`).

use std::path::Path;

use super::Format;
pub use super::unreadable::Unreadable;

/// Writes `input`, in `format`, to `csv` as CSV with a header row. A spreadsheet's
/// date-times, which carry no zone, are read in `timezone`.
pub fn to_csv(
    format: Format,
    input: &Path,
    csv: &Path,
    timezone: chrono_tz::Tz,
) -> anyhow::Result<()> {
    match format {
        Format::Parquet | Format::Xlsx => super::child::convert(format, input, csv, timezone),
        _ => super::read::here(format, input, csv, timezone),
    }
}
