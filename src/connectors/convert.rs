//! Extracts that do not arrive as CSV are turned into CSV before landing, so that every
//! source goes through the one landing path with its one set of checks and line numbers.
//! JSON lines and Parquet are converted as streams; a JSON array and a spreadsheet are read
//! whole, so they have a size limit of their own.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use calamine::{Data, Reader};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Format;

/// The largest JSON array or spreadsheet read whole into memory. A spreadsheet is a form
/// filled in by hand, far smaller than this; an automated extract this large should be sent
/// as CSV, JSON lines or Parquet, which stream.
pub const MOST_WHOLE_BYTES: u64 = 256 << 20;

/// The extract cannot be read in its format: the provider's to fix, so the run is rejected
/// with this reason. Any other error (our own disk, say) fails the run, to be tried again.
#[derive(Debug)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

fn unreadable(why: impl std::fmt::Display) -> anyhow::Error {
    Unreadable(why.to_string()).into()
}

/// Writes `input`, in `format`, to `csv` as CSV with a header row. A spreadsheet's date-times,
/// which carry no zone, are read in `timezone`.
pub fn to_csv(
    format: Format,
    input: &Path,
    csv: &Path,
    timezone: chrono_tz::Tz,
) -> anyhow::Result<()> {
    if matches!(format, Format::Json | Format::Xlsx) {
        let size = std::fs::metadata(input)?.len();
        if size > MOST_WHOLE_BYTES {
            return Err(unreadable(format!(
                "the {} file is {} MiB; files of this kind are read whole and may be at most {} MiB \
                 (send large extracts as CSV, JSON lines or Parquet)",
                format.name(),
                size >> 20,
                MOST_WHOLE_BYTES >> 20
            )));
        }
    }
    match format {
        Format::Csv => {
            std::fs::copy(input, csv)?;
            Ok(())
        }
        Format::Json => json_array(input, csv),
        Format::JsonLines => json_lines(input, csv),
        Format::Parquet => parquet(input, csv),
        Format::Xlsx => spreadsheet(input, csv, timezone),
    }
}

/// A JSON value as the text of one CSV cell: strings as they are, null as empty, numbers and
/// booleans as JSON writes them; an object or array stays JSON, which fails the item's type
/// check with the value shown.
fn cell(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn write_rows<'a>(
    csv: &Path,
    columns: &[String],
    rows: impl Iterator<Item = anyhow::Result<serde_json::Map<String, serde_json::Value>>> + 'a,
) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_path(csv)?;
    out.write_record(columns)?;
    for row in rows {
        let row = row?;
        out.write_record(columns.iter().map(|c| cell(row.get(c))))?;
    }
    out.flush()?;
    Ok(())
}

/// Adds the keys of `row` not seen before, in the order they first appear.
fn note_keys(
    columns: &mut Vec<String>,
    seen: &mut HashMap<String, ()>,
    row: &serde_json::Map<String, serde_json::Value>,
) {
    for k in row.keys() {
        if seen.insert(k.clone(), ()).is_none() {
            columns.push(k.clone());
        }
    }
}

/// A JSON array of flat objects: one column per key, in the order keys first appear.
fn json_array(json: &Path, csv: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(json)?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| unreadable(format!("the extract is not JSON: {e}")))?;
    let serde_json::Value::Array(rows) = value else {
        return Err(unreadable(
            "the extract is JSON but not an array of objects",
        ));
    };
    let mut columns = Vec::new();
    let mut seen = HashMap::new();
    let mut objects = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let serde_json::Value::Object(map) = row else {
            return Err(unreadable(format!(
                "item {} of the JSON array is not an object",
                i + 1
            )));
        };
        note_keys(&mut columns, &mut seen, &map);
        objects.push(map);
    }
    write_rows(csv, &columns, objects.into_iter().map(Ok))
}

/// JSON lines: one object per line, read twice (keys, then rows) so memory stays bounded.
fn json_lines(input: &Path, csv: &Path) -> anyhow::Result<()> {
    let objects = || -> anyhow::Result<_> {
        let file = BufReader::new(std::fs::File::open(input)?);
        Ok(file
            .lines()
            .enumerate()
            .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(|(n, line)| {
                let line = line.map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => {
                        unreadable(format!("line {} is not UTF-8 text", n + 1))
                    }
                    _ => e.into(),
                })?;
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(serde_json::Value::Object(map)) => Ok(map),
                    Ok(_) => Err(unreadable(format!(
                        "line {} is JSON but not an object",
                        n + 1
                    ))),
                    Err(e) => Err(unreadable(format!("line {} is not JSON: {e}", n + 1))),
                }
            }))
    };
    let mut columns = Vec::new();
    let mut seen = HashMap::new();
    for row in objects()? {
        note_keys(&mut columns, &mut seen, &row?);
    }
    write_rows(csv, &columns, objects()?)
}

/// Parquet, batch by batch, written with Arrow's CSV writer: dates as `YYYY-MM-DD`,
/// timestamps with a zone as RFC 3339.
fn parquet(input: &Path, csv: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(input)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| unreadable(format!("the extract is not a Parquet file: {e}")))?
        .with_batch_size(crate::landing::BATCH_ROWS)
        .build()
        .map_err(|e| unreadable(format!("the Parquet file cannot be read: {e}")))?;
    let out = std::io::BufWriter::new(std::fs::File::create(csv)?);
    let mut writer = WriterBuilder::new().with_header(true).build(out);
    for batch in reader {
        let batch =
            batch.map_err(|e| unreadable(format!("the Parquet file cannot be read: {e}")))?;
        writer.write(&batch)?;
    }
    writer.into_inner().flush()?;
    Ok(())
}

/// The first sheet of a workbook (XLSX, XLS or ODS). Whole numbers are written without a
/// decimal point, dates as `YYYY-MM-DD`, and dates with a time as RFC 3339 in the
/// collection's timezone. A cell
/// that holds a spreadsheet error (`#DIV/0!`) is written as its text, which then fails its
/// item's type check with the row and item named.
fn spreadsheet(input: &Path, csv: &Path, timezone: chrono_tz::Tz) -> anyhow::Result<()> {
    let mut book = calamine::open_workbook_auto(input)
        .map_err(|e| unreadable(format!("the spreadsheet cannot be read: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| unreadable("the workbook has no sheets"))?
        .map_err(|e| unreadable(format!("the first sheet cannot be read: {e}")))?;
    let mut out = csv::WriterBuilder::new().flexible(true).from_path(csv)?;
    // The table is read from its first filled cell, so the report's line 1 is the header
    // row even when the sheet leaves rows above it blank.
    for row in range.rows() {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Data::Empty => String::new(),
                Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
                    s.trim().to_owned()
                }
                Data::Int(i) => i.to_string(),
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", *f as i64),
                Data::Float(f) => f.to_string(),
                Data::Bool(b) => b.to_string(),
                Data::DateTime(d) => match d.as_datetime() {
                    Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
                    Some(t) => match t.and_local_timezone(timezone).earliest() {
                        Some(local) => local.to_rfc3339(),
                        // A time the clocks skipped: as written, which then fails its check.
                        None => t.to_string(),
                    },
                    None => d.to_string(),
                },
                Data::Error(e) => format!("#{e:?}"),
            })
            .collect();
        out.write_record(&cells)?;
    }
    out.flush()?;
    Ok(())
}
