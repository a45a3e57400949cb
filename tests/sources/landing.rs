//! Landing a CSV extract: good rows to Parquet, bad rows reported with line, item and reason,
//! unreadable extracts rejected whole, and never a bad row landed as good.

use crate::common;

use std::path::Path;

use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tally::domain::Period;
use tally::domain::RunKey;
use tally::landing::lake::Lake;
use tally::landing::{Outcome, Report, land_csv};

const HEADER: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";

fn key() -> RunKey {
    RunKey {
        collection: "ward-bed-census".into(),
        provider: "RXA".into(),
        period: Period::parse("2026-11-24").unwrap(),
    }
}

fn row(ward: &str, available: &str, occupied: &str) -> String {
    format!(
        "2026-11-24,RXA01,{ward},general_acute,overnight,adult,core,general,{available},{occupied}"
    )
}

async fn land(dir: &Path, bytes: &[u8]) -> (Option<std::path::PathBuf>, Report) {
    let raw = dir.join("extract.csv");
    std::fs::write(&raw, bytes).unwrap();
    let def = common::load("ward-bed-census").def;
    let lake = Lake::new(dir.join("lake"));
    match land_csv(&def, &key(), &raw, &lake).await.unwrap() {
        Outcome::Ready(pending, report) => (Some(pending.commit(1).unwrap()), report),
        Outcome::Rejected(report) => (None, report),
    }
}

fn read_wards(path: &Path) -> Vec<(String, i64)> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let wards = batch
            .column_by_name("ward_code")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        let occupied = batch
            .column_by_name("occupied_beds")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone();
        for i in 0..batch.num_rows() {
            out.push((wards.value(i).to_string(), occupied.value(i)));
        }
    }
    out
}

#[tokio::test]
async fn good_rows_land_and_bad_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let csv = [
        format!("{HEADER},patient_names"),
        format!("{},Ann;Bob", row("W1", "20", "18")),
        format!("{},", row("W2", "10", "12")), // occupied > available
        format!("{},", row("W3", "-1", "0")),  // negative count
        format!("{},", row("W4", "ten", "0")), // wrong type
        format!("{},", row("W1", "20", "18")), // duplicate key
        format!("{},", row("W5", "8", "")),    // required item empty
        format!(
            "{},",
            row("W6", "8", "7").replace("general_acute", "surgery")
        ), // unknown code
        "2026-11-24,RXA01,W7".to_string(),     // truncated row
        format!("{},", row("W8", "30", "29")),
    ]
    .join("\n");
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    let path = path.expect("valid rows land");
    assert_eq!(
        path,
        dir.path()
            .join("lake/ward-bed-census/period=2026-11-24/provider=RXA/v1.parquet")
    );
    assert_eq!(
        read_wards(&path),
        [("W1".to_string(), 18), ("W8".to_string(), 29)]
    );
    assert_eq!(
        (report.rows_in, report.rows_accepted, report.rows_rejected),
        (9, 2, 7)
    );
    assert_eq!(report.dropped_columns, ["patient_names"]);
    let first = |check: &str| {
        let c = &report.checks[check];
        (
            c.rows,
            c.first[0].row,
            c.first[0].item.clone(),
            c.first[0].reason.clone(),
        )
    };
    assert_eq!(
        first("occupied_within_available"),
        (
            1,
            3,
            "(row)".into(),
            "breaks the rule occupied_beds <= available_beds".into()
        )
    );
    assert_eq!(
        first("min"),
        (
            1,
            4,
            "available_beds".into(),
            "-1 is below the minimum of 0".into()
        )
    );
    assert_eq!(
        first("type"),
        (
            1,
            5,
            "available_beds".into(),
            "\"ten\" is not a whole number".into()
        )
    );
    assert_eq!(first("key").1, 6);
    assert!(first("key").3.contains("the same key as line 2"));
    assert_eq!(
        first("required"),
        (1, 7, "occupied_beds".into(), "is required but empty".into())
    );
    assert_eq!(first("codes").1, 8);
    assert_eq!(
        first("fields"),
        (
            1,
            9,
            "(row)".into(),
            "has 3 fields; the header has 11".into()
        )
    );
    let text = report.text();
    assert!(text.contains("9 rows in, 2 accepted, 7 rejected"), "{text}");
    assert!(
        text.contains("Dropped columns that are not listed items: patient_names."),
        "{text}"
    );
    // Nothing but the committed version is in the lake folder.
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["v1.parquet"]);
    // The failed rows are kept beside the version in quarantine, one line per problem, with
    // the listed items' cells only: the unlisted column's names never reach the lake.
    let quarantined = std::fs::read_to_string(
        dir.path()
            .join("lake/_quarantine/ward-bed-census/period=2026-11-24/provider=RXA/v1.csv"),
    )
    .unwrap();
    let lines: Vec<&str> = quarantined.lines().collect();
    assert_eq!(lines[0], format!("line,item,check,reason,{HEADER}"));
    assert_eq!(lines.len(), 1 + 7, "{quarantined}");
    assert!(
        lines.contains(&"5,available_beds,type,\"\"\"ten\"\" is not a whole number\",2026-11-24,RXA01,W4,general_acute,overnight,adult,core,general,ten,0"),
        "{quarantined}"
    );
    assert!(
        lines.contains(&"3,(row),occupied_within_available,breaks the rule occupied_beds <= available_beds,2026-11-24,RXA01,W2,general_acute,overnight,adult,core,general,10,12"),
        "{quarantined}"
    );
    assert!(!quarantined.contains("Ann;Bob"));
}

#[tokio::test]
async fn a_collection_that_lands_only_whole_extracts_rejects_one_with_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let def = common::variant(
        dir.path(),
        "ward-bed-census",
        &[("slug = ", "bad_rows = \"reject\"\nslug = ")],
    )
    .def;
    let raw = dir.path().join("extract.csv");
    let csv = [
        HEADER.to_string(),
        row("W1", "20", "18"),
        row("W2", "10", "12"),
    ]
    .join("\n");
    std::fs::write(&raw, csv).unwrap();
    let lake = Lake::new(dir.path().join("lake"));
    let Outcome::Rejected(report) = land_csv(&def, &key(), &raw, &lake).await.unwrap() else {
        panic!("an extract with a bad row must not land under bad_rows = \"reject\"");
    };
    assert!(
        report
            .rejected
            .as_deref()
            .unwrap()
            .contains("1 row failed a check"),
        "{report:?}"
    );
    assert_eq!(report.checks["occupied_within_available"].first[0].row, 3);
    assert!(
        walk(&dir.path().join("lake")).is_empty(),
        "nothing is left in the lake"
    );
}

#[tokio::test]
async fn unreadable_extracts_are_rejected_whole() {
    let good = format!("{HEADER}\n{}\n", row("W1", "20", "18"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "the extract is empty"),
        ("blank", b"\n\n".to_vec(), "the extract is empty"),
        (
            "header only",
            format!("{HEADER}\n").into_bytes(),
            "a header but no rows",
        ),
        (
            "missing column",
            good.replace(",occupied_beds", "").into_bytes(),
            "required columns are missing: occupied_beds",
        ),
        (
            "semicolons",
            good.replace(',', ";").into_bytes(),
            "another delimiter",
        ),
        (
            "not utf-8",
            [
                good.as_bytes(),
                b"2026-11-24,RXA01,W\xff\xfe2,general_acute\n",
            ]
            .concat(),
            "line 3 is not UTF-8 text",
        ),
        (
            "unterminated quote",
            format!("{HEADER}\n2026-11-24,RXA01,\"W1,general_acute").into_bytes(),
            "no row passed validation",
        ),
        (
            "all bad",
            format!("{HEADER}\n{}\n", row("W1", "5", "9")).into_bytes(),
            "no row passed validation",
        ),
        (
            "duplicate header",
            format!("{HEADER},ward_code\n").into_bytes(),
            "names column \"ward_code\" twice",
        ),
    ];
    for (name, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (path, report) = land(dir.path(), &bytes).await;
        assert!(path.is_none(), "{name} should not land");
        let why = report.rejected.clone().unwrap_or_default();
        assert!(why.contains(expected), "{name}: {why}");
        // No temporary file is left behind either.
        let lake = dir.path().join("lake");
        let leftovers: Vec<_> = walk(&lake);
        assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[tokio::test]
async fn a_byte_order_mark_and_a_huge_field_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    // A field of 100 KB is a bad cell, reported with a bounded quote of it.
    let long = "x".repeat(100 * 1024);
    let csv = format!(
        "\u{feff}{HEADER}\n{}\n{}\n",
        row("W1", "20", "18"),
        row(&long, "1", "1")
    );
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    assert_eq!(read_wards(&path.unwrap()), [("W1".to_string(), 18)]);
    let p = &report.checks["pattern"].first[0];
    assert_eq!((p.row, p.item.as_str()), (3, "ward_code"));
    assert!(
        p.reason.len() < 200,
        "the message quotes a bounded part of the field"
    );
    // A row of 10 MB is past the limit on a row, which is held whole while it is checked:
    // the extract is refused with the limit named, and nothing lands.
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(10 * 1024 * 1024);
    let csv = format!(
        "{HEADER}\n{}\n{}\n",
        row("W1", "20", "18"),
        row(&huge, "1", "1")
    );
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    assert!(path.is_none());
    let why = report.rejected.unwrap();
    assert!(why.contains("a row is longer than 1 MiB"), "{why}");
}

#[tokio::test]
async fn the_raw_input_may_be_kept_only_when_it_holds_listed_items_alone() {
    let clean = format!("{HEADER}\n{}\n", row("W1", "20", "18"));
    let cases: Vec<(&str, String, bool)> = vec![
        ("clean", clean.clone(), true),
        (
            "unlisted column",
            format!(
                "{HEADER},nhs_number\n{},9434765919\n",
                row("W1", "20", "18")
            ),
            false,
        ),
        // Rejected before the columns are looked at, but it still holds an NHS number.
        (
            "rejected with unlisted column",
            "census_date,nhs_number\n2026-11-24,9434765919\n".to_string(),
            false,
        ),
        (
            "extra unnamed field",
            format!("{HEADER}\n{},9434765919\n", row("W1", "20", "18")),
            false,
        ),
        ("empty", String::new(), false),
    ];
    for (name, text, keep) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (_, report) = land(dir.path(), text.as_bytes()).await;
        assert_eq!(report.raw_listed_only, keep, "{name}");
    }
}

/// The period an extract is for must agree with the days inside it: a census whose rows say
/// another day lands none of them, and a file that mixes days lands only the period's.
#[tokio::test]
async fn rows_dated_outside_the_extracts_period_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = |ward: &str| row(ward, "20", "18").replacen("2026-11-24", "2026-11-19", 1);
    let csv = format!("{HEADER}\n{}\n{}\n", other("W1"), other("W2"));
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    assert!(path.is_none(), "nothing lands");
    assert_eq!(report.rejected.as_deref(), Some("no row passed validation"));
    let p = &report.checks["period"];
    assert_eq!(p.rows, 2);
    assert_eq!(p.first[0].item, "census_date");
    assert!(
        p.first[0]
            .reason
            .contains("2026-11-19 is not in 2026-11-24, the period this extract is for"),
        "{:?}",
        p.first[0]
    );

    let dir = tempfile::tempdir().unwrap();
    let csv = format!("{HEADER}\n{}\n{}\n", row("W1", "20", "18"), other("W2"));
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    assert_eq!(read_wards(&path.unwrap()), [("W1".to_string(), 18)]);
    assert_eq!((report.rows_accepted, report.rows_rejected), (1, 1));
}

/// An extract of several chunks is checked on several threads, and what it finds is what one
/// thread reading it top to bottom would: a key checked against every earlier row (the first
/// of them named), each problem on its own line, and the rows landed in the file's order.
#[tokio::test]
async fn a_large_extract_is_checked_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    // Three chunks and a part: chunks are 65,536 rows.
    let rows = 200_000;
    let mut lines = vec![HEADER.to_string()];
    let mut expected = Vec::new();
    for n in 0..rows {
        let line = n + 2;
        let ward = format!("W{n}");
        lines.push(match line {
            // The key of line 2, again in the second chunk and in the last.
            100_000 | 199_000 => row("W0", "20", "18"),
            // A type wrong in the second chunk, a rule broken in the third.
            70_000 => row(&ward, "many", "1"),
            140_000 => row(&ward, "5", "6"),
            // A row with a field too many, at the start of the second chunk.
            65_538 => format!("{},extra", row(&ward, "20", "18")),
            _ => {
                expected.push((ward.clone(), (n % 20) as i64));
                row(&ward, "20", &(n % 20).to_string())
            }
        });
    }
    let csv = lines.join("\n");
    let (path, report) = land(dir.path(), csv.as_bytes()).await;
    assert_eq!(read_wards(&path.expect("valid rows land")), expected);
    assert_eq!(
        (report.rows_in, report.rows_accepted, report.rows_rejected),
        (rows, rows - 5, 5)
    );
    assert!(!report.raw_listed_only, "a row had a field no header names");
    let found = |check: &str| {
        report.checks[check]
            .first
            .iter()
            .map(|p| (p.row, p.reason.clone()))
            .collect::<Vec<_>>()
    };
    let same = "the same key as line 2 (2026-11-24, RXA01, W0, overnight, core)";
    assert_eq!(
        found("key"),
        [(100_000, same.to_string()), (199_000, same.to_string())]
    );
    assert_eq!(
        found("type"),
        [(70_000, "\"many\" is not a whole number".to_string())]
    );
    assert_eq!(
        found("occupied_within_available"),
        [(
            140_000,
            "breaks the rule occupied_beds <= available_beds".to_string()
        )]
    );
    assert_eq!(
        found("fields"),
        [(65_538, "has 11 fields; the header has 10".to_string())]
    );
}
