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

use super::artifact::Artifact;
use super::catalogue::ReturnDef;
use super::cells::{cell, csv_cell, of_icb, scope_note, suppressed};
use super::columns::describe;

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

/// How a provisional number shows in a workbook: the number, still a number, with `[p]`
/// after it.
const PROVISIONAL_FORMAT: &str = "General\" [p]\"";

/// Writes `artifact` to `out` as `format`. Every format says what it is: a CSV gets its
/// CSVW metadata beside it (`<out>-metadata.json`, where CSVW tools look for it); JSON and
/// Parquet carry the manifest inside; XLSX in its notes and inputs sheets; SDMX-CSV refers
/// to the structure `tally returns structure` writes. CSV, JSON and Parquet also get
/// `<out>.manifest.json`. Returns the files written.
pub fn export(
    def: &ReturnDef,
    artifact: &Artifact,
    format: ExportFormat,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    export_scoped(def, artifact, None, format, out)
}

/// [`export`], of only the rows of one ICB (its providers' rows and its own) when `icb` is
/// given: what an integrated care system downloads. The metadata says so.
pub fn export_scoped(
    def: &ReturnDef,
    artifact: &Artifact,
    icb: Option<&str>,
    format: ExportFormat,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let batches = match icb {
        None => artifact.read()?,
        Some(icb) => of_icb(artifact.read()?, icb)?,
    };
    let scope = icb.map(scope_note);
    // A reader of one ICB's rows gets the manifest with the revision of those rows only.
    let scoped;
    let artifact = match icb {
        None => artifact,
        Some(icb) => {
            let mut a = artifact.clone();
            a.manifest.revision = super::artifact::revision_of_icb(def, artifact, icb)?;
            scoped = a;
            &scoped
        }
    };
    let mut written = vec![out.to_owned()];
    atomically(out, |tmp| match format {
        ExportFormat::Csv => csv(&batches, tmp),
        ExportFormat::Json => json(def, artifact, &batches, scope.as_deref(), tmp),
        ExportFormat::Parquet => parquet(def, artifact, &batches, scope.as_deref(), tmp),
        ExportFormat::Xlsx => xlsx(def, artifact, &batches, scope.as_deref(), tmp),
        ExportFormat::SdmxCsv => super::sdmx::data(def, artifact, &batches, tmp),
    })?;
    if format == ExportFormat::Csv {
        let file_name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let doc = csvw(def, artifact, &batches, scope.as_deref(), &file_name);
        let path = beside(out, "-metadata.json");
        atomically(&path, |tmp| {
            std::fs::write(tmp, serde_json::to_vec_pretty(&doc)?)?;
            Ok(())
        })?;
        written.push(path);
    }
    if matches!(
        format,
        ExportFormat::Csv | ExportFormat::Json | ExportFormat::Parquet
    ) {
        let manifest = beside(out, ".manifest.json");
        atomically(&manifest, |tmp| {
            match icb {
                None => {
                    std::fs::copy(artifact.dir.join("manifest.json"), tmp)?;
                }
                Some(_) => std::fs::write(tmp, serde_json::to_vec_pretty(&artifact.manifest)?)?,
            }
            Ok(())
        })?;
        written.push(manifest);
    }
    Ok(written)
}

/// `out` with `suffix` added to its name.
fn beside(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The CSVW metadata document of the CSV export of `artifact`, found at `url`.
pub fn csvw(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    scope: Option<&str>,
    url: &str,
) -> serde_json::Value {
    let columns = describe(def, &batches[0].schema());
    super::metadata::csvw(&artifact.manifest, &columns, scope, url)
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

/// A JSON object: the return, its period and version, its completeness in words, every
/// column described, the manifest, and `rows`, one object a row with every column, an empty
/// or suppressed cell `null` (with `<column>_status` saying which).
fn json(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    scope: Option<&str>,
    path: &Path,
) -> anyhow::Result<()> {
    let m = &artifact.manifest;
    let head = serde_json::json!({
        "scope": scope,
        "return": m.return_name,
        "title": m.title,
        "period": m.period,
        "version": m.version,
        "complete": m.completeness.complete,
        "completeness": m.completeness.statement(),
        "columns": describe(def, &batches[0].schema()),
        "manifest": m,
    });
    let mut text = serde_json::to_vec(&head)?;
    // The head without its closing brace, then the rows, then the brace.
    text.pop();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(&text)?;
    file.write_all(b",\"rows\":")?;
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut file);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer.write_batches(&refs)?;
    writer.finish()?;
    drop(writer);
    file.write_all(b"}")?;
    file.flush()?;
    Ok(())
}

/// Parquet with the manifest in its key-value metadata and its Arrow schema's
/// (`tally.manifest`, JSON), and each
/// column's description and unit in its field metadata.
fn parquet(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    scope: Option<&str>,
    path: &Path,
) -> anyhow::Result<()> {
    use datafusion::arrow::datatypes::Schema;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::metadata::KeyValue;
    use datafusion::parquet::file::properties::WriterProperties;
    use std::collections::HashMap;
    let schema = batches[0].schema();
    let described = describe(def, &schema);
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .zip(&described)
        .map(|(f, d)| {
            let mut meta: HashMap<String, String> = f.metadata().clone();
            if let Some(text) = &d.description {
                meta.insert("description".into(), text.clone());
            }
            if let Some(unit) = &d.unit {
                meta.insert("unit".into(), unit.clone());
            }
            f.as_ref().clone().with_metadata(meta)
        })
        .collect();
    let m = &artifact.manifest;
    let mut said = vec![
        ("tally.manifest".to_string(), serde_json::to_string(m)?),
        ("tally.completeness".to_string(), m.completeness.statement()),
    ];
    if let Some(scope) = scope {
        said.push(("tally.scope".to_string(), scope.to_owned()));
    }
    // In the file's key-value metadata, and in the Arrow schema's, where pyarrow and
    // pandas users find it on the table they read.
    let mut schema_meta = schema.metadata().clone();
    schema_meta.extend(said.iter().cloned());
    let schema = std::sync::Arc::new(Schema::new_with_metadata(fields, schema_meta));
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(
            said.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
        ))
        .build();
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for b in batches {
        writer.write(&b.clone().with_schema(schema.clone())?)?;
    }
    writer.close()?;
    Ok(())
}

fn is_status(name: &str) -> bool {
    name.ends_with("_status")
}

/// XLSX: typed cells, a styled and frozen header, suppressed cells marked `[c]`, and a
/// notes sheet with the manifest's facts.
fn xlsx(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    scope: Option<&str>,
    path: &Path,
) -> anyhow::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let header = Format::new().set_bold().set_background_color("#DDE7F0");
    let sheet = book.add_worksheet().set_name("data")?;
    let schema = batches[0].schema();
    // Suppressed and provisional cells are marked in place ([c], [p]), so the columns
    // that say so are not shown.
    let shown: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| {
            let name = schema.field(i).name();
            !is_status(name) && name != super::provisional::COLUMN
        })
        .collect();
    let provisional_format = Format::new().set_num_format(PROVISIONAL_FORMAT);
    for (c, &i) in shown.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, schema.field(i).name(), &header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut r = 1u32;
    for b in batches {
        for row in 0..b.num_rows() {
            let provisional = super::provisional::of_row(b, row);
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
                    let v = v
                        .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                        .value(0);
                    if provisional.contains(name) {
                        sheet.write_number_with_format(r, c, v, &provisional_format)?;
                    } else {
                        sheet.write_number(r, c, v)?;
                    }
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
        ("Built by".into(), m.engine.clone()),
        (
            "Licence".into(),
            match &m.licence {
                Some(l) => format!("{} version {}", l.number, l.version),
                None => "none: built from the queries folder".into(),
            },
        ),
        ("Completeness".into(), m.completeness.statement()),
    ];
    if let Some(scope) = scope {
        lines.push(("Scope".into(), scope.to_owned()));
    }
    lines.extend(m.completeness.notes());
    if let Some(r) = &m.revision {
        lines.push((
            format!("Revises version {}", r.of),
            if r.compared {
                format!("{}; {} cells changed", r.why.join("; "), r.cells_changed)
            } else {
                r.why.join("; ")
            },
        ));
        for c in r.cells.iter().take(50) {
            lines.push((
                "Changed".into(),
                format!("{} ({}): {} to {}", c.column, c.row, c.before, c.after),
            ));
        }
    }
    lines.push(("Disclosure control".into(), m.disclosure_rule.clone()));
    lines.push(("[c]".into(), "suppressed to protect confidentiality".into()));
    lines.push((
        "[p]".into(),
        "provisional: rests on a figure awaiting its provider's confirmation (the cell keeps its number)".into(),
    ));
    lines.push(("Query sha256".into(), m.sql_sha256.clone()));
    lines.push(("Data sha256".into(), m.data_sha256.clone()));
    lines.push((
        "Inputs".into(),
        format!(
            "{} extract versions, each listed on the inputs sheet",
            m.inputs.len()
        ),
    ));
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
    let inputs = book.add_worksheet().set_name("inputs")?;
    for (c, title) in ["collection", "provider", "period", "version", "sha256"]
        .iter()
        .enumerate()
    {
        inputs.write_string_with_format(0, c as u16, *title, &header)?;
    }
    inputs.set_freeze_panes(1, 0)?;
    for (r, i) in m.inputs.iter().enumerate() {
        let r = r as u32 + 1;
        inputs.write_string(r, 0, &i.collection)?;
        inputs.write_string(r, 1, &i.provider)?;
        inputs.write_string(r, 2, &i.period)?;
        inputs.write_number(r, 3, i.version as f64)?;
        inputs.write_string(r, 4, &i.sha256)?;
    }
    inputs.set_column_width(0, 24)?;
    inputs.set_column_width(4, 68)?;
    book.save(path)?;
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
