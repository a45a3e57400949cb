//! Exports of a built artifact in the formats DHSC uses. Every export says how complete
//! the return is and which cells are suppressed: XLSX in a notes sheet and a marker in the
//! cell, CSV, JSON and Parquet in a manifest beside the data and a status column, SDMX-CSV
//! in its attributes. A file is written under a temporary name and renamed, so a failed
//! export leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;

use super::build::Artifact;
use super::catalogue::ReturnDef;
use super::disclosure::SUPPRESSED;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
    Parquet,
    Json,
    SdmxCsv,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 5] = [
        ExportFormat::Csv,
        ExportFormat::Xlsx,
        ExportFormat::Parquet,
        ExportFormat::Json,
        ExportFormat::SdmxCsv,
    ];

    /// The name the CLI and the API take: `csv`, `xlsx`, `parquet`, `json`, `sdmx-csv`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Json => "json",
            ExportFormat::SdmxCsv => "sdmx-csv",
        }
    }

    pub fn parse(s: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The file name ending a download gets.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::SdmxCsv => "sdmx.csv",
            other => other.name(),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Parquet => "application/vnd.apache.parquet",
            ExportFormat::Json => "application/json",
            ExportFormat::SdmxCsv => "application/vnd.sdmx.data+csv; version=2.0.0",
        }
    }
}

/// How a suppressed cell shows where a value cannot be left empty with a status beside it.
pub const MARKER: &str = "[c]";

/// Writes `artifact` to `out` as `format`; CSV, JSON and Parquet get `<out>.manifest.json`
/// beside them. Returns the files written.
pub fn export(
    def: &ReturnDef,
    artifact: &Artifact,
    format: ExportFormat,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let batches = artifact.read()?;
    let mut written = vec![out.to_owned()];
    atomically(out, |tmp| match format {
        ExportFormat::Csv => csv(&batches, tmp),
        ExportFormat::Json => json(&batches, tmp),
        ExportFormat::Parquet => {
            std::fs::copy(artifact.data_path(), tmp)?;
            Ok(())
        }
        ExportFormat::Xlsx => xlsx(def, artifact, &batches, tmp),
        ExportFormat::SdmxCsv => sdmx(def, artifact, &batches, tmp),
    })?;
    if matches!(
        format,
        ExportFormat::Csv | ExportFormat::Json | ExportFormat::Parquet
    ) {
        let mut name = out.as_os_str().to_owned();
        name.push(".manifest.json");
        let manifest = PathBuf::from(name);
        atomically(&manifest, |tmp| {
            std::fs::copy(artifact.dir.join("manifest.json"), tmp)?;
            Ok(())
        })?;
        written.push(manifest);
    }
    Ok(written)
}

/// Runs `write` on a temporary file beside `out`, then renames it into place; on any error
/// the temporary file is removed and `out` is untouched.
fn atomically(out: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            dir.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("{} is not a file name", out.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, out)?;
        Ok(())
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", out.display()));
    }
    Ok(())
}

fn cell(column: &dyn Array, row: usize) -> anyhow::Result<String> {
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
fn csv_cell(column: &dyn Array, row: usize) -> anyhow::Result<String> {
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

/// RFC 4180 CSV, UTF-8, a header row; suppressed cells empty with `<column>_status`.
fn csv(batches: &[RecordBatch], path: &Path) -> anyhow::Result<()> {
    let mut out = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_path(path)?;
    let schema = batches[0].schema();
    out.write_record(schema.fields().iter().map(|f| f.name()))?;
    for b in batches {
        for row in 0..b.num_rows() {
            let record = b
                .columns()
                .iter()
                .map(|c| csv_cell(c.as_ref(), row))
                .collect::<anyhow::Result<Vec<_>>>()?;
            out.write_record(&record)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A JSON array of objects, one a row; suppressed cells `null` with `<column>_status`.
fn json(batches: &[RecordBatch], path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut writer = datafusion::arrow::json::ArrayWriter::new(std::io::BufWriter::new(file));
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs)?;
    writer.finish()?;
    let mut inner = writer.into_inner();
    inner.flush()?;
    Ok(())
}

fn is_status(name: &str) -> bool {
    name.ends_with("_status")
}

/// Whether row `row` of `column` is suppressed, from its status column.
fn suppressed(batch: &RecordBatch, column: &str, row: usize) -> bool {
    batch
        .column_by_name(&format!("{column}_status"))
        .and_then(|s| {
            s.as_string_opt::<i32>()
                .map(|s| s.is_valid(row) && s.value(row) == SUPPRESSED)
        })
        .unwrap_or(false)
}

/// XLSX: typed cells, a styled and frozen header, suppressed cells marked `[c]`, and a
/// notes sheet with the manifest's facts.
fn xlsx(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    path: &Path,
) -> anyhow::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let header = Format::new().set_bold().set_background_color("#DDE7F0");
    let sheet = book.add_worksheet().set_name("data")?;
    let schema = batches[0].schema();
    let shown: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| !is_status(schema.field(i).name()))
        .collect();
    for (c, &i) in shown.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, schema.field(i).name(), &header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut r = 1u32;
    for b in batches {
        for row in 0..b.num_rows() {
            for (c, &i) in shown.iter().enumerate() {
                let column = b.column(i);
                let name = schema.field(i).name();
                let c = c as u16;
                if suppressed(b, name, row) {
                    sheet.write_string(r, c, MARKER)?;
                } else if column.is_null(row) {
                    continue;
                } else if column.data_type().is_numeric() {
                    let v = datafusion::arrow::compute::cast(
                        &column.slice(row, 1),
                        &DataType::Float64,
                    )?;
                    sheet.write_number(
                        r,
                        c,
                        v.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                            .value(0),
                    )?;
                } else {
                    sheet.write_string(r, c, cell(column.as_ref(), row)?)?;
                }
            }
            r += 1;
        }
    }
    let m = &artifact.manifest;
    let notes = book.add_worksheet().set_name("notes")?;
    let mut lines: Vec<(String, String)> = vec![
        ("Return".into(), format!("{} ({})", m.title, m.return_name)),
        ("Period".into(), m.period.clone()),
        ("Version".into(), m.version.to_string()),
        ("Built".into(), m.built_at.to_rfc3339()),
        (
            "Complete".into(),
            if m.completeness.complete {
                "yes"
            } else {
                "no: totals are built on incomplete data"
            }
            .into(),
        ),
    ];
    for c in &m.completeness.inputs {
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
    lines.push(("Disclosure control".into(), m.disclosure_rule.clone()));
    lines.push(("[c]".into(), "suppressed to protect confidentiality".into()));
    lines.push(("Query sha256".into(), m.sql_sha256.clone()));
    for col in def.columns.iter().filter(|c| c.description.is_some()) {
        lines.push((
            col.name.clone(),
            col.description.clone().unwrap_or_default(),
        ));
    }
    for (r, (k, v)) in lines.iter().enumerate() {
        notes.write_string_with_format(r as u32, 0, k, &Format::new().set_bold())?;
        notes.write_string(r as u32, 1, v)?;
    }
    notes.set_column_width(0, 28)?;
    notes.set_column_width(1, 90)?;
    book.save(path)?;
    Ok(())
}

/// SDMX-CSV 2.0: one observation per row and measure. The non-measure columns are the
/// dimensions, `MEASURE` names the figure, `TIME_PERIOD` the period; `OBS_STATUS` is `A`
/// (normal) or `O` (missing), `CONF_STATUS` `F` (free) or `C` (confidential), and
/// `COMPLETENESS` says whether every expected provider sent its data.
fn sdmx(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    path: &Path,
) -> anyhow::Result<()> {
    let measures: Vec<&str> = def
        .columns
        .iter()
        .filter(|c| c.measure.is_some() || !c.derived_from.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    let dimensions: Vec<&str> = def
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !measures.contains(n))
        .collect();
    let mut out = ::csv::Writer::from_path(path)?;
    let mut header = vec!["STRUCTURE", "STRUCTURE_ID", "ACTION"];
    let upper: Vec<String> = dimensions.iter().map(|d| d.to_ascii_uppercase()).collect();
    header.extend(upper.iter().map(String::as_str));
    header.extend([
        "MEASURE",
        "TIME_PERIOD",
        "OBS_VALUE",
        "OBS_STATUS",
        "CONF_STATUS",
        "COMPLETENESS",
    ]);
    out.write_record(&header)?;
    let id = format!(
        "TALLY:{}(1.0)",
        def.name.replace('-', "_").to_ascii_uppercase()
    );
    let complete = if artifact.manifest.completeness.complete {
        "complete"
    } else {
        "incomplete"
    };
    for b in batches {
        for row in 0..b.num_rows() {
            let dims = dimensions
                .iter()
                .map(|d| {
                    let column = b.column_by_name(d).with_context(|| {
                        format!("the artifact has no column {d}; build it again")
                    })?;
                    csv_cell(column.as_ref(), row)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            for m in &measures {
                let column = b
                    .column_by_name(m)
                    .with_context(|| format!("the artifact has no column {m}; build it again"))?;
                let hidden = suppressed(b, m, row);
                let value = cell(column.as_ref(), row)?;
                let mut record = vec!["dataflow".to_string(), id.clone(), "I".into()];
                record.extend(dims.iter().cloned());
                record.push(m.to_string());
                record.push(artifact.manifest.period.clone());
                record.push(value.clone());
                record.push(
                    if value.is_empty() && !hidden {
                        "O"
                    } else {
                        "A"
                    }
                    .into(),
                );
                record.push(if hidden { "C" } else { "F" }.into());
                record.push(complete.into());
                out.write_record(&record)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn text_a_spreadsheet_would_run_is_written_as_text_and_numbers_stay_numbers() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("change", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    "=HYPERLINK(\"http://x\",\"Ashford\")",
                    "+1",
                    "-1",
                    "@SUM(A1)",
                    "Ashford",
                ])),
                Arc::new(Int64Array::from(vec![-5, 3, -1, 0, 7])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        csv(&[batch], &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"Ashford\"\")\",-5"
        );
        assert_eq!(lines[2], "'+1,3");
        assert_eq!(lines[3], "'-1,-1");
        assert_eq!(lines[4], "'@SUM(A1),0");
        assert_eq!(lines[5], "Ashford,7");
    }
}
