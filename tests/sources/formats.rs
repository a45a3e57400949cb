//! Extracts that arrive as JSON, JSON lines, Parquet or a spreadsheet land by the same path
//! as CSV, with the same checks: a bad row in any of them is reported with its line, item
//! and reason, and a file that cannot be read in its format is rejected whole.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::CensusWorld;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use tally::connectors::ConnectorConfig;
use tally::connectors::file::FileConfig;

const TEXT_COLUMNS: [(&str, &str); 7] = [
    ("site_code", "RXA01"),
    ("ward_code", "W1"),
    ("sector", "general_acute"),
    ("stay", "overnight"),
    ("age_group", "adult"),
    ("bed_class", "core"),
    ("care_type", "general"),
];

async fn pull_file(dir: &Path, name: &str, bytes: &[u8]) -> tally::schedule::pull::Pulled {
    let drop = dir.join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::write(drop.join(name), bytes).unwrap();
    let ext = name.rsplit_once('.').unwrap().1;
    let connector = ConnectorConfig::File(FileConfig {
        folder: "drop".into(),
        name: format!("{{provider}}_{{period}}.{ext}"),
    });
    CensusWorld::new(dir, connector).await.pull(false).await
}

/// One census row as a JSON object; `occupied` above 20 breaks the row rule.
fn object(ward: &str, occupied: i64) -> serde_json::Value {
    let mut row = serde_json::json!({
        "census_date": "2026-11-24",
        "available_beds": 20,
        "occupied_beds": occupied,
    });
    for (k, v) in TEXT_COLUMNS {
        row[k] = serde_json::Value::String(v.into());
    }
    row["ward_code"] = ward.into();
    row
}

#[tokio::test]
async fn json_lines_land_and_their_bad_rows_are_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [object("W1", 18), object("W2", 25), object("W3", 3)]
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.jsonl", lines.as_bytes()).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!((report.rows_in, report.rows_accepted), (3, 2));
    // Line 1 is the header the CSV is given, so the second object is line 3.
    assert!(
        pulled.message.contains("line 3: (row): breaks the rule"),
        "{}",
        pulled.message
    );
    // The raw input is kept under its own kind.
    let raw = dir
        .path()
        .join("lake/_raw/ward-bed-census/period=2026-11-24/provider=RXA");
    let kept: Vec<_> = std::fs::read_dir(raw).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].file_name().to_string_lossy().ends_with(".jsonl"));
}

#[tokio::test]
async fn a_json_array_lands_and_json_of_the_wrong_shape_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let array = serde_json::Value::Array(vec![object("W1", 18)]).to_string();
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.json", array.as_bytes()).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);

    for (body, says) in [
        (
            r#"{"census_date": "2026-11-24"}"#,
            "not an array of objects",
        ),
        ("[1, 2]", "item 1 of the JSON array is not an object"),
        (r#"[{"census_date": "2026-11-24""#, "not JSON"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let pulled = pull_file(dir.path(), "RXA_2026-11-24.json", body.as_bytes()).await;
        assert_eq!(pulled.status, "rejected", "{body}: {}", pulled.message);
        assert!(pulled.message.contains(says), "{body}: {}", pulled.message);
        assert!(!dir.path().join("lake/ward-bed-census").exists());
    }
}

#[tokio::test]
async fn json_lines_with_a_broken_line_are_rejected_with_the_line_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}\n[1]\n", object("W1", 18));
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.ndjson", text.as_bytes()).await;
    assert_eq!(pulled.status, "rejected");
    assert!(
        pulled.message.contains("line 2 is JSON but not an object"),
        "{}",
        pulled.message
    );
}

#[tokio::test]
async fn parquet_lands_with_its_types_checked_like_any_extract() {
    let dir = tempfile::tempdir().unwrap();
    let mut fields = vec![Field::new("census_date", DataType::Date32, false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Date32Array::from(vec![20_781, 20_781]))];
    for (name, value) in TEXT_COLUMNS {
        fields.push(Field::new(name, DataType::Utf8, false));
        let values = if name == "ward_code" {
            vec!["W1", "W2"]
        } else {
            vec![value, value]
        };
        columns.push(Arc::new(StringArray::from(values)));
    }
    fields.push(Field::new("available_beds", DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from(vec![20, 20])));
    fields.push(Field::new("occupied_beds", DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from(vec![18, -1])));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    // 20,781 days after 1970-01-01 is 2026-11-24, the period's day (a row of another day is
    // refused: see landing.rs).
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.parquet", &bytes).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!((report.rows_in, report.rows_accepted), (2, 1));
    assert!(
        pulled.message.contains("occupied_beds"),
        "{}",
        pulled.message
    );

    let dir = tempfile::tempdir().unwrap();
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.parquet", b"PAR1 not really").await;
    assert_eq!(pulled.status, "rejected");
    assert!(
        pulled.message.contains("not a Parquet file"),
        "{}",
        pulled.message
    );
}

/// A census workbook as a ward manager would fill it in: a header row, then rows with
/// numbers and a real date cell.
pub fn workbook(path: &Path, occupied: &[f64]) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = tally_header();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 11, 24).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (r, occ) in occupied.iter().enumerate() {
        let r = r as u32 + 1;
        sheet
            .write_datetime_with_format(r, 0, &date, &format)
            .unwrap();
        for (c, (k, v)) in TEXT_COLUMNS.iter().enumerate() {
            let ward = format!("W{r}");
            let v = if *k == "ward_code" { ward.as_str() } else { v };
            sheet.write_string(r, c as u16 + 1, v).unwrap();
        }
        sheet.write_number(r, 8, 20.0).unwrap();
        sheet.write_number(r, 9, *occ).unwrap();
    }
    book.save(path).unwrap();
}

fn tally_header() -> Vec<&'static str> {
    let mut h = vec!["census_date"];
    h.extend(TEXT_COLUMNS.iter().map(|(k, _)| *k));
    h.extend(["available_beds", "occupied_beds"]);
    h
}

#[tokio::test]
async fn a_spreadsheet_lands_with_dates_and_whole_numbers_read_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.xlsx");
    workbook(&path, &[18.0, 2.5, 30.0]);
    let bytes = std::fs::read(&path).unwrap();
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.xlsx", &bytes).await;
    assert_eq!(pulled.status, "landed", "{}", pulled.message);
    let report = pulled.report.unwrap();
    assert_eq!(
        (report.rows_in, report.rows_accepted),
        (3, 1),
        "{}",
        pulled.message
    );
    assert!(
        pulled.message.contains("line 3: occupied_beds"),
        "{}",
        pulled.message
    );
    assert!(
        pulled.message.contains("line 4: (row): breaks the rule"),
        "{}",
        pulled.message
    );

    let dir = tempfile::tempdir().unwrap();
    let pulled = pull_file(
        dir.path(),
        "RXA_2026-11-24.xlsx",
        b"PK\x03\x04 not a workbook",
    )
    .await;
    assert_eq!(pulled.status, "rejected");
    assert!(
        pulled.message.contains("cannot be read"),
        "{}",
        pulled.message
    );
}

#[tokio::test]
async fn a_file_of_a_kind_tally_does_not_read_fails_with_the_kinds_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let pulled = pull_file(dir.path(), "RXA_2026-11-24.txt", b"hello").await;
    assert_eq!(pulled.status, "failed");
    assert!(
        pulled.message.contains(".csv, .json, .jsonl"),
        "{}",
        pulled.message
    );
}
