//! What DHSC downloads, read with the tools its analysts use: for each bundled return, the
//! manifest, the CSV with its CSVW metadata (linked from the download), the SDMX structure
//! with the SDMX-CSV (sdmx1, into pandas), Parquet with the manifest inside (pyarrow) and
//! JSON with every column. The tools are found through `TALLY_ANALYST_PYTHON` (a Python
//! with tests/analyst/requirements.txt; `.ci/run` installs it): without it the reading is
//! skipped with a notice, and under `CI` it fails.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};

use crate::common::web::{TestApp, spawn};

/// The analyst's Python, or None (with a notice) where it is not installed.
fn analyst_python() -> Option<String> {
    let python = std::env::var("TALLY_ANALYST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&python)
        .args(["-c", "import sdmx, csvw, pyarrow, pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        crate::common::server_absent(
            "sdmx1, csvw and pyarrow",
            &python,
            "cannot import sdmx, csvw, pyarrow and pandas (pip install -r tests/analyst/requirements.txt, or set TALLY_ANALYST_PYTHON)",
        )
    }
}

async fn get(t: &TestApp, path: &str) -> crate::common::web::Answer {
    let a = t.api(Method::GET, path, Some(&t.tokens.dhsc), None).await;
    assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
    a
}

/// Downloads every file of `name` for `period` into `dir`, as the analyst script expects
/// them, and returns the CSV's header.
async fn download(t: &TestApp, name: &str, period: &str, dir: &std::path::Path) -> Vec<String> {
    let base = format!("/api/v1/returns/{name}/periods/{period}");
    let csv = get(t, &format!("{base}/download?format=csv")).await;
    // The CSV says where its metadata is, relative to itself.
    let link = csv.headers["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        "<metadata?version=1>; rel=\"describedby\"; type=\"application/csvm+json\""
    );
    std::fs::write(dir.join(format!("{name}.csv")), &csv.body).unwrap();
    let meta = get(t, &format!("{base}/metadata?version=1")).await;
    assert_eq!(meta.headers["content-type"], "application/csvm+json");
    let mut doc: serde_json::Value = serde_json::from_slice(&meta.body).unwrap();
    assert_eq!(doc["url"], "download?format=csv&version=1");
    // Saved beside the CSV, it names the saved file, as a browser's "save" would leave it.
    doc["url"] = format!("{name}.csv").into();
    std::fs::write(
        dir.join(format!("{name}.csv-metadata.json")),
        serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    for (format, file) in [
        ("sdmx-csv", format!("{name}.sdmx.csv")),
        ("parquet", format!("{name}.parquet")),
        ("json", format!("{name}.json")),
    ] {
        let a = get(t, &format!("{base}/download?format={format}")).await;
        std::fs::write(dir.join(file), &a.body).unwrap();
    }
    let structure = get(t, &format!("/api/v1/returns/{name}/structure")).await;
    assert_eq!(
        structure.headers["content-type"],
        "application/vnd.sdmx.structure+xml; version=2.1"
    );
    std::fs::write(dir.join(format!("{name}.structure.xml")), &structure.body).unwrap();
    let text = String::from_utf8(csv.body).unwrap();
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn every_bundled_return_reads_in_sdmx1_csvw_pyarrow_and_pandas_with_its_metadata() {
    let t = spawn(None).await;
    t.world.build("uec-daily-sitrep", "2026-04-15").await;
    let python = analyst_python();
    for (name, period, time_period) in [
        ("uec-daily-sitrep", "2026-04-15", "2026-04-15"),
        ("kh03-quarterly", "2026-27-Q1", "2026-Q1"),
        ("care-home-occupancy", "2026-04", "2026-04"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let header = download(&t, name, period, dir.path()).await;

        // The manifest, at both addresses: the inputs by version and sha256, completeness
        // with the missing by name, the disclosure rule and the data's sha256.
        let long = get(
            &t,
            &format!("/api/v1/returns/{name}/periods/{period}/manifest"),
        )
        .await;
        let short = get(&t, &format!("/api/v1/returns/{name}/{period}/manifest")).await;
        assert_eq!(long.body, short.body);
        let manifest: serde_json::Value = serde_json::from_slice(&long.body).unwrap();
        let inputs = manifest["inputs"].as_array().unwrap();
        assert!(!inputs.is_empty(), "{name}: no inputs");
        assert!(
            inputs
                .iter()
                .all(|i| i["sha256"].as_str().unwrap().len() == 64)
        );
        assert_eq!(manifest["data_sha256"].as_str().unwrap().len(), 64);
        assert!(
            manifest["disclosure_rule"]
                .as_str()
                .unwrap()
                .starts_with("tally-sdc-1")
        );

        // The CSVW document's columns are the CSV's, in order.
        let doc: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{name}.csv-metadata.json"))).unwrap(),
        )
        .unwrap();
        let columns: Vec<String> = doc["tableSchema"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(columns, header, "{name}");
        assert_eq!(doc["@context"][0], "http://www.w3.org/ns/csvw");
        let used = doc["prov:wasDerivedFrom"].as_array().unwrap();
        assert_eq!(used.len(), inputs.len(), "{name}");

        let Some(python) = &python else { continue };
        let out = std::process::Command::new(python)
            .arg(crate::common::repo().join("tests/analyst/read_return.py"))
            .arg(dir.path())
            .arg(name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: the analyst's tools could not read it:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = manifest["rows"].as_u64().unwrap();
        assert_eq!(said["csvw_rows"], rows, "{name}: {said}");
        assert_eq!(said["parquet_rows"], rows, "{name}: {said}");
        assert_eq!(said["json_rows"], rows, "{name}: {said}");
        assert_eq!(said["json_every_column"], true, "{name}: {said}");
        assert_eq!(said["parquet_manifest_version"], 1, "{name}: {said}");
        assert_eq!(said["parquet_table_manifest"], true, "{name}: {said}");
        assert_eq!(said["csvw_columns"], serde_json::json!(header), "{name}");
        assert_eq!(
            said["time_periods"],
            serde_json::json!([time_period]),
            "{name}"
        );
        // One observation a row and figure, every one of them read by pandas.
        let figures = t.app.returns().await.unwrap().returns[name]
            .columns
            .iter()
            .filter(|c| c.measure.is_some() || !c.derived_from.is_empty())
            .count() as u64;
        assert_eq!(said["observations"], rows * figures, "{name}: {said}");
        assert_eq!(said["pandas_rows"], rows * figures, "{name}: {said}");
        // Names and days reported describe a row; they do not identify it.
        let attributes: BTreeSet<&str> = said["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(attributes.contains("OBS_STATUS") && attributes.contains("CONF_STATUS"));
        let dimensions: Vec<&str> = said["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(!dimensions.contains(&"NAME"), "{name}: {said}");
        if name == "kh03-quarterly" {
            assert!(attributes.contains("NAME") && attributes.contains("DAYS_REPORTED"));
            assert!(attributes.contains("REPORTING_YEAR_START_DAY"));
        }
    }
}
