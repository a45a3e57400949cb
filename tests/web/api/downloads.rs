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
        ("json", b"["),
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
