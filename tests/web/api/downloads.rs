//! Downloads and error answers: a return in every format, each download audited, and error
//! bodies readable by clients that take gzip.

use crate::common::web::spawn;
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn returns_download_in_every_format_and_each_download_is_audited() {
    let t = spawn(None).await;
    for (format, starts) in [
        ("csv", &b"level"[..]),
        ("xlsx", b"PK"),
        ("parquet", b"PAR1"),
        ("json", b"{"),
        ("sdmx-csv", b"STRUCTURE"),
    ] {
        let a = t
            .api(
                Method::GET,
                &format!(
                    "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format={format}"
                ),
                Some(&t.tokens.dhsc),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{format}: {}", a.text());
        assert!(
            a.body.starts_with(starts),
            "{format}: {:?}",
            &a.body[..a.body.len().min(40)]
        );
        let disposition = a.headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains("kh03-quarterly-2026-27-Q1-v1"),
            "{disposition}"
        );
    }
    let log = t.app.store().audit_log(100).await.unwrap();
    let downloads: Vec<_> = log.iter().filter(|e| e.action == "download").collect();
    assert_eq!(downloads.len(), 5);
    assert!(
        downloads
            .iter()
            .all(|d| d.actor == "DHSC analyst" && d.role == "dhsc")
    );
    for (path, status) in [
        (
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=exe",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/returns/..%2F..%2Fetc/periods/2026-27-Q1/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/..%2F..%2Fpasswd/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/2025-26-Q1/download?format=csv",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=csv&version=99",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let a = t.api(Method::GET, path, Some(&t.tokens.dhsc), None).await;
        assert_eq!(a.status, status, "{path}: {}", a.text());
    }
}

/// An error answered to a client that takes gzip (every browser) is a readable body: the
/// error layer rewrites a plain-text rejection into JSON, and it is compressed afresh, never
/// sent plain under the old body's `content-encoding`.
#[tokio::test]
async fn error_answers_read_whole_for_clients_that_take_gzip() {
    use std::io::Read;
    let t = spawn(None).await;
    for (path, code) in [
        ("/api/v1/runs?limit=abc", "bad_request"),
        ("/api/v1/nowhere", "not_found"),
    ] {
        let req = axum::http::Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {}", t.tokens.dap))
            .header("accept-encoding", "gzip")
            .body(axum::body::Body::empty())
            .unwrap();
        let a = t.send(req).await;
        let body = match a
            .headers
            .get("content-encoding")
            .map(|v| v.to_str().unwrap())
        {
            Some("gzip") => {
                let mut text = Vec::new();
                flate2::read::GzDecoder::new(a.body.as_slice())
                    .read_to_end(&mut text)
                    .unwrap_or_else(|e| panic!("{path}: the gzip body does not inflate: {e}"));
                text
            }
            None => a.body.clone(),
            Some(other) => panic!("{path}: content-encoding {other}"),
        };
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(json["error"]["code"], code, "{path}");
    }
}

/// A bundle holds, for each period, the CSV with its CSVW metadata naming it, the manifest
/// and the SDMX-CSV, and once the SDMX structure; a range bundles each built period's latest
/// version; a range past the limit, or with a version, is refused in words.
#[tokio::test]
async fn a_zip_bundles_data_metadata_and_manifest_for_a_period_or_a_range() {
    use std::io::Read;
    let t = spawn(None).await;
    for day in ["2026-04-14", "2026-04-15", "2026-04-16"] {
        t.world.build("uec-daily-sitrep", day).await;
    }
    let names = |body: &[u8]| {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        let mut meta = String::new();
        if let Some(n) = names.iter().find(|n| n.ends_with("-metadata.json")) {
            zip.by_name(n).unwrap().read_to_string(&mut meta).unwrap();
        }
        (names, meta)
    };
    let a = t
        .api(
            Method::GET,
            "/api/v1/returns/kh03-quarterly/periods/2026-27-Q1/download?format=zip",
            Some(&t.tokens.dhsc),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.headers["content-type"], "application/zip");
    let (files, meta) = names(&a.body);
    assert_eq!(
        files,
        [
            "kh03-quarterly-2026-27-Q1-v1.csv",
            "kh03-quarterly-2026-27-Q1-v1.csv-metadata.json",
            "kh03-quarterly-2026-27-Q1-v1.csv.manifest.json",
            "kh03-quarterly-2026-27-Q1-v1.sdmx.csv",
            "kh03-quarterly.structure.xml",
        ]
    );
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["url"], "kh03-quarterly-2026-27-Q1-v1.csv");

    let a = t
        .api(
            Method::GET,
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-14/download?format=zip&to=2026-04-16",
            Some(&t.tokens.dhsc),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let (files, _) = names(&a.body);
    let csvs: Vec<&String> = files.iter().filter(|f| f.ends_with("-v1.csv")).collect();
    assert_eq!(
        csvs,
        [
            "uec-daily-sitrep-2026-04-14-v1.csv",
            "uec-daily-sitrep-2026-04-15-v1.csv",
            "uec-daily-sitrep-2026-04-16-v1.csv",
        ]
    );
    assert!(
        a.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("uec-daily-sitrep-2026-04-14-to-2026-04-16.zip")
    );
    // The audit log says the range and lists every period and version handed over.
    let log = t.app.store().audit_log(10).await.unwrap();
    let bundle = log
        .iter()
        .find(|e| e.action == "download" && e.detail.starts_with("zip: "))
        .unwrap();
    assert_eq!(
        bundle.target,
        "uec-daily-sitrep 2026-04-14 v1 to 2026-04-16 v1 (3 periods)"
    );
    assert_eq!(
        bundle.detail,
        "zip: 2026-04-14 v1, 2026-04-15 v1, 2026-04-16 v1"
    );
    for (path, says) in [
        (
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-14/download?format=zip&to=2026-04-16&version=1",
            "version is for one period",
        ),
        (
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-14/download?format=zip&to=2026-03",
            "to must be a day on or after 2026-04-14",
        ),
        (
            "/api/v1/returns/uec-daily-sitrep/periods/2026-04-14/download?format=csv&to=2026-04-16",
            "to is for a bundle of periods",
        ),
    ] {
        let a = t.api(Method::GET, path, Some(&t.tokens.dhsc), None).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(a.text().contains(says), "{path}: {}", a.text());
    }
}
