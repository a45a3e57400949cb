//! The `http` connector against a server on loopback that misbehaves on purpose: errors,
//! a hang, a reset connection, a body cut short, JSON that is not an array. Each ends in a
//! clear status; none lands a row.

use crate::common;

use std::path::Path;
use std::time::Duration;

use tally::connectors::ConnectorConfig;
use tally::connectors::http::{BodyFormat, HttpConfig};
use tally::schedule::pull::Pulled;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CSV: &str = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds\n2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general,20,18\n";
const JSON: &str = r#"[{"census_date":"2026-11-24","site_code":"RXA01","ward_code":"W1","sector":"general_acute","stay":"overnight","age_group":"adult","bed_class":"core","care_type":"general","available_beds":20,"occupied_beds":18,"consultant":"Dr Who"}]"#;

/// A server on loopback whose answer depends on the path; it stops with the test.
async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let request = String::from_utf8_lossy(&request).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let ok = |body: &str| {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let reply = match path.as_str() {
                    "/beds/RXA/2026-11-24.csv" => ok(CSV),
                    "/beds.json?from=2026-11-24&to=2026-11-25" => ok(JSON),
                    "/etag" if request.to_ascii_lowercase().contains("if-none-match: \"census-v1\"") => {
                        "HTTP/1.1 304 Not Modified\r\nETag: \"census-v1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
                    }
                    "/etag" => format!(
                        "HTTP/1.1 200 OK\r\nETag: \"census-v1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{CSV}",
                        CSV.len()
                    ),
                    "/auth" if request.to_ascii_lowercase().contains("authorization: bearer t0ken") => ok(CSV),
                    "/auth" => "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                    "/boom" => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!".into(),
                    "/not-array" => ok(r#"{"census_date": "2026-11-24"}"#),
                    "/hang" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    "/reset" => return,
                    "/slow-body" => {
                        // Headers and the first line at once, then nothing for longer than
                        // the source's time-out.
                        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", CSV.len(), &CSV[..20]);
                        let _ = stream.write_all(head.as_bytes()).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    "/partial" => format!("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{}", &CSV[..40]),
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

async fn pull_from(dir: &Path, config: HttpConfig) -> Pulled {
    common::pull_census_through(dir, ConnectorConfig::Http(config)).await
}

fn config(url: String) -> HttpConfig {
    common::http_csv(url, 2)
}

#[tokio::test]
async fn csv_and_json_bodies_land() {
    let base = server().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pull_from(
        dir.path(),
        config(format!("{base}/beds/{{provider}}/{{period}}.csv")),
    )
    .await;
    assert_eq!(p.status, "landed", "{}", p.message);
    assert_eq!(p.report.unwrap().rows_accepted, 1);
    let dir = tempfile::tempdir().unwrap();
    let json = HttpConfig {
        format: BodyFormat::Json,
        ..config(format!("{base}/beds.json?from={{from}}&to={{to}}"))
    };
    let p = pull_from(dir.path(), json).await;
    assert_eq!(p.status, "landed", "{}", p.message);
    assert_eq!(p.report.as_ref().unwrap().dropped_columns, ["consultant"]);
    assert!(
        !dir.path()
            .join("lake/_incoming")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "nothing is left in _incoming"
    );
}

#[tokio::test]
async fn a_bearer_token_comes_from_a_file() {
    let base = server().await;
    let dir = tempfile::tempdir().unwrap();
    let p = pull_from(dir.path(), config(format!("{base}/auth"))).await;
    assert_eq!(p.status, "failed");
    assert!(
        p.message.contains("answered 401 Unauthorized"),
        "{}",
        p.message
    );
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::write(dir2.path().join("token"), "t0ken\n").unwrap();
    let p = pull_from(
        dir2.path(),
        HttpConfig {
            bearer_file: Some("token".into()),
            ..config(format!("{base}/auth"))
        },
    )
    .await;
    assert_eq!(p.status, "landed", "{}", p.message);
    assert!(!p.message.contains("t0ken"));
}

#[tokio::test]
async fn a_misbehaving_source_fails_the_run_with_the_reason() {
    let base = server().await;
    // The source's faults fail the run, to be tried again; a body that arrives whole but is
    // not what was promised is the provider's to fix, and is rejected with a report.
    for (path, format, status, expected) in [
        (
            "/boom",
            BodyFormat::Csv,
            "failed",
            "answered 500 Internal Server Error",
        ),
        ("/hang", BodyFormat::Csv, "failed", "timed out"),
        (
            "/reset",
            BodyFormat::Csv,
            "failed",
            "connection closed before message completed",
        ),
        ("/partial", BodyFormat::Csv, "failed", "cut short"),
        ("/slow-body", BodyFormat::Csv, "failed", "timed out"),
        (
            "/not-array",
            BodyFormat::Json,
            "rejected",
            "not an array of objects",
        ),
        (
            "/missing",
            BodyFormat::Csv,
            "failed",
            "answered 404 Not Found",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let p = pull_from(
            dir.path(),
            HttpConfig {
                format,
                ..config(format!("{base}{path}"))
            },
        )
        .await;
        assert_eq!(p.status, status, "{path}: {}", p.message);
        assert!(p.message.contains(expected), "{path}: {}", p.message);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took too long"
        );
        assert!(
            !dir.path().join("lake/ward-bed-census").exists(),
            "{path}: nothing lands"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pull_from(
        dir.path(),
        config("http://127.0.0.1:9/beds?password=S3cret".into()),
    )
    .await;
    assert_eq!(p.status, "failed");
    assert!(p.message.contains("could not connect"), "{}", p.message);
    assert!(!p.message.contains("S3cret"), "{}", p.message);
}

#[tokio::test]
async fn an_unchanged_extract_is_not_landed_again() {
    let base = server().await;
    // The source gives an ETag: pulled again, it answers 304 and nothing is downloaded.
    let dir = tempfile::tempdir().unwrap();
    let world = common::CensusWorld::new(
        dir.path(),
        ConnectorConfig::Http(config(format!("{base}/etag"))),
    )
    .await;
    let first = world.pull(false).await;
    assert_eq!(
        (first.status.as_str(), first.version),
        ("landed", Some(1)),
        "{}",
        first.message
    );
    let again = world.pull(true).await;
    assert_eq!(
        (again.status.as_str(), again.version),
        ("landed", Some(1)),
        "{}",
        again.message
    );
    assert!(
        again
            .message
            .contains("unchanged since version 1 (the source answered 304 Not Modified)"),
        "{}",
        again.message
    );
    // A source without one sends the same bytes: they are recognised by their sha256.
    let dir = tempfile::tempdir().unwrap();
    let world = common::CensusWorld::new(
        dir.path(),
        ConnectorConfig::Http(config(format!("{base}/beds/RXA/2026-11-24.csv"))),
    )
    .await;
    assert_eq!(world.pull(false).await.version, Some(1));
    let again = world.pull(true).await;
    assert_eq!(again.version, Some(1));
    assert!(
        again
            .message
            .contains("unchanged since version 1 (the same sha256)"),
        "{}",
        again.message
    );
    let versions: Vec<_> = std::fs::read_dir(
        dir.path()
            .join("lake/ward-bed-census/period=2026-11-24/provider=RXA"),
    )
    .unwrap()
    .collect();
    assert_eq!(versions.len(), 1);
}
