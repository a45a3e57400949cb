//! Reading an extract that is not CSV into CSV, in this process: JSON (an array or lines) as
//! a stream, an object at a time, under the row and size limits; and, inside the child
//! process that `child` starts, spreadsheets and Parquet, whose readers trust the sizes a
//! file declares.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use datafusion::arrow::csv::WriterBuilder;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::Format;
use super::unreadable::{Unreadable, unreadable};
use crate::landing::limits::{
    Deadline, MOST_BYTES, MOST_COLUMNS, MOST_ROW_BYTES, MOST_ROWS, MOST_TIME, Metered, RowMark,
    count, over_limit, size,
};

/// `convert::to_csv` in this process: what the child process runs for spreadsheets and Parquet.
pub fn here(
    format: Format,
    input: &Path,
    csv: &Path,
    timezone: chrono_tz::Tz,
) -> anyhow::Result<()> {
    let sent = std::fs::metadata(input)?.len();
    if sent > MOST_BYTES {
        return Err(unreadable(format!(
            "the {} file is {}; an extract may be at most {}",
            format.name(),
            size(sent),
            size(MOST_BYTES)
        )));
    }
    match format {
        Format::Csv => {
            std::fs::copy(input, csv)?;
            Ok(())
        }
        Format::Json => json_array(input, csv),
        Format::JsonLines => json_lines(input, csv),
        Format::Parquet => parquet(input, csv),
        Format::Xlsx => super::spreadsheet::to_csv(input, csv, timezone),
    }
}

/// An I/O error as the provider's problem when it is a limit, else as ours.
fn io(e: std::io::Error) -> anyhow::Error {
    match over_limit(&e) {
        Some(limit) => unreadable(limit),
        None => e.into(),
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

type Object = serde_json::Map<String, serde_json::Value>;

/// The columns of a JSON extract: every key, in the order keys first appear, at most
/// [`MOST_COLUMNS`] of them.
#[derive(Default)]
struct Columns {
    names: Vec<String>,
    seen: HashSet<String>,
    /// The names' bytes together: the header row they make is held as one row is.
    bytes: u64,
}

impl Columns {
    fn note(&mut self, row: &Object) -> anyhow::Result<()> {
        for k in row.keys() {
            if !self.seen.contains(k) {
                self.bytes += k.len() as u64 + 1;
                if self.bytes > MOST_ROW_BYTES {
                    return Err(unreadable(format!(
                        "the extract's keys come to more than {} as a header, the most one row may be",
                        size(MOST_ROW_BYTES)
                    )));
                }
                if self.names.len() >= MOST_COLUMNS {
                    return Err(unreadable(format!(
                        "the extract's objects have more than {} different keys; an extract may have at most {} columns",
                        count(MOST_COLUMNS as u64),
                        count(MOST_COLUMNS as u64)
                    )));
                }
                self.seen.insert(k.clone());
                self.names.push(k.clone());
            }
        }
        Ok(())
    }
}

/// Reads a JSON extract twice, as a stream: its columns first, then its rows into `csv`.
/// `objects` hands each object of the input to a callback.
fn two_passes(
    input: &Path,
    csv: &Path,
    objects: impl Fn(&Path, &mut dyn FnMut(Object) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let deadline = Deadline::start(MOST_TIME);
    let mut columns = Columns::default();
    let mut rows = 0u64;
    objects(input, &mut |row| {
        rows += 1;
        if rows > MOST_ROWS {
            return Err(unreadable(format!(
                "the extract has more than {} rows, the most one extract may have",
                count(MOST_ROWS)
            )));
        }
        if rows.is_multiple_of(4096) {
            deadline.check().map_err(Unreadable::from)?;
        }
        columns.note(&row)
    })?;
    let mut out = csv::Writer::from_path(csv)?;
    out.write_record(&columns.names)?;
    objects(input, &mut |row| {
        out.write_record(columns.names.iter().map(|c| cell(row.get(c))))?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// The input as a metered stream: no row (here, an object or a line) longer than the limit.
fn metered(input: &Path) -> anyhow::Result<(BufReader<Metered<std::fs::File>>, RowMark)> {
    let (reader, mark) = Metered::new(std::fs::File::open(input)?);
    Ok((BufReader::new(reader), mark))
}

/// A JSON array of flat objects, one object at a time: one column per key.
fn json_array(input: &Path, csv: &Path) -> anyhow::Result<()> {
    two_passes(input, csv, |input, each| {
        let (reader, mark) = metered(input)?;
        let mut json = serde_json::Deserializer::from_reader(reader);
        let mut failed = None;
        let result = json.deserialize_seq(Rows {
            each,
            mark: &mark,
            failed: &mut failed,
        });
        if let Some(e) = failed {
            return Err(e);
        }
        result.map_err(|e| match e.classify() {
            serde_json::error::Category::Io => io(std::io::Error::from(e)),
            serde_json::error::Category::Data => {
                unreadable("the extract is JSON but not an array of objects")
            }
            _ => unreadable(format!("the extract is not JSON: {e}")),
        })?;
        json.end()
            .map_err(|e| unreadable(format!("the extract is not JSON: {e}")))
    })
}

/// Hands each object of a JSON array to `each` as it is read, so only one is held at once.
struct Rows<'a, 'f> {
    each: &'a mut dyn FnMut(Object) -> anyhow::Result<()>,
    mark: &'a RowMark,
    /// The callback's own error, which serde can only carry as text.
    failed: &'f mut Option<anyhow::Error>,
}

impl<'de> Visitor<'de> for Rows<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0u64;
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            n += 1;
            self.mark.row_ended();
            let serde_json::Value::Object(row) = value else {
                let why = format!("item {n} of the JSON array is not an object");
                *self.failed = Some(unreadable(&why));
                return Err(serde::de::Error::custom(why));
            };
            if let Err(e) = (self.each)(row) {
                let text = e.to_string();
                *self.failed = Some(e);
                return Err(serde::de::Error::custom(text));
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Rows<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// JSON lines: one object per line.
fn json_lines(input: &Path, csv: &Path) -> anyhow::Result<()> {
    two_passes(input, csv, |input, each| {
        let (mut reader, mark) = metered(input)?;
        let mut line = String::new();
        let mut n = 0u64;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => {
                    unreadable(format!("line {} is not UTF-8 text", n + 1))
                }
                _ => io(e),
            })?;
            if read == 0 {
                return Ok(());
            }
            n += 1;
            mark.row_ended();
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(serde_json::Value::Object(map)) => each(map)?,
                Ok(_) => return Err(unreadable(format!("line {n} is JSON but not an object"))),
                Err(e) => return Err(unreadable(format!("line {n} is not JSON: {e}"))),
            }
        }
    })
}

/// Parquet, batch by batch, written with Arrow's CSV writer: dates as `YYYY-MM-DD`,
/// timestamps with a zone as RFC 3339. Its footer's counts are checked first; the pages'
/// own sizes are trusted by the reader, which is why this runs in the child process.
fn parquet(input: &Path, csv: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(input)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| unreadable(format!("the extract is not a Parquet file: {e}")))?;
    let meta = builder.metadata().file_metadata();
    let columns = meta.schema_descr().num_columns();
    if columns > MOST_COLUMNS {
        return Err(unreadable(format!(
            "the Parquet file has {} columns; an extract may have at most {}",
            count(columns as u64),
            count(MOST_COLUMNS as u64)
        )));
    }
    let rows = meta.num_rows().max(0) as u64;
    if rows > MOST_ROWS {
        return Err(unreadable(format!(
            "the Parquet file has {} rows; an extract may have at most {}",
            count(rows),
            count(MOST_ROWS)
        )));
    }
    let reader = builder
        .with_batch_size(crate::landing::BATCH_ROWS)
        .build()
        .map_err(|e| unreadable(format!("the Parquet file cannot be read: {e}")))?;
    let deadline = Deadline::start(MOST_TIME);
    let out = std::io::BufWriter::new(std::fs::File::create(csv)?);
    let mut writer = WriterBuilder::new().with_header(true).build(out);
    for batch in reader {
        let batch =
            batch.map_err(|e| unreadable(format!("the Parquet file cannot be read: {e}")))?;
        writer.write(&batch)?;
        deadline.check().map_err(Unreadable::from)?;
    }
    writer.into_inner().flush()?;
    Ok(())
}
