//! The `sql` connector against real databases: a small bed-management schema in PostgreSQL,
//! in MariaDB and in a SQLite file, queried read-only with the period's bounds bound as
//! parameters. The server tests skip with a notice when their server does not answer,
//! unless `CI` is set; SQLite needs no server.

use crate::common;

use std::io::Write;
use std::path::Path;

use chrono::Utc;
use common::TestDb;
use sqlx::Connection;
use tally::connectors::{ConnectorConfig, sql::SqlConfig};

const SCHEMA: &str = "CREATE TABLE ward_beds (
    census_day DATE NOT NULL, site VARCHAR(5) NOT NULL, ward VARCHAR(20) NOT NULL,
    sector VARCHAR(30) NOT NULL, available INT NOT NULL, occupied INT NOT NULL,
    patient_surnames VARCHAR(200)
)";

const ROWS: &str = "INSERT INTO ward_beds VALUES
    ('2026-11-23', 'RXA01', 'W1', 'general_acute', 20, 17, 'Smith'),
    ('2026-11-24', 'RXA01', 'W1', 'general_acute', 20, 18, 'Jones'),
    ('2026-11-24', 'RXA01', 'W2', 'general_acute', 10, 12, NULL),
    ('2026-11-24', 'RXA01', 'W3', 'maternity', 8, 5, NULL)";

fn query(placeholders: (&str, &str)) -> String {
    format!(
        "SELECT census_day AS census_date, site AS site_code, ward AS ward_code, sector,
                'overnight' AS stay, 'adult' AS age_group, 'core' AS bed_class,
                'general' AS care_type, available AS available_beds, occupied AS occupied_beds,
                patient_surnames
         FROM ward_beds WHERE census_day >= {} AND census_day < {} ORDER BY ward",
        placeholders.0, placeholders.1
    )
}

async fn pull_with(dir: &Path, url: &str, query: String) -> tally::schedule::pull::Pulled {
    // The URL holds a password in real life, so it lives in a file (or a variable), never in
    // the sources file.
    let mut f = std::fs::File::create(dir.join("source-url")).unwrap();
    writeln!(f, "{url}").unwrap();
    let config = SqlConfig {
        url_env: None,
        url_file: Some("source-url".into()),
        query,
        timeout_seconds: Some(5),
    };
    common::pull_census_through(dir, ConnectorConfig::Sql(config)).await
}

fn check_landed(p: &tally::schedule::pull::Pulled, dir: &Path) {
    assert_eq!(p.status, "landed", "{}", p.message);
    let report = p.report.as_ref().unwrap();
    // Only 24 November's three wards were asked for; the one breaking occupied <= available
    // is reported; the surnames column never reaches the lake or the audit copy.
    assert_eq!(
        (report.rows_in, report.rows_accepted, report.rows_rejected),
        (3, 2, 1)
    );
    assert_eq!(report.dropped_columns, ["patient_surnames"]);
    assert!(
        dir.join("lake/ward-bed-census/period=2026-11-24/provider=RXA/v1.parquet")
            .is_file()
    );
    assert!(!dir.join("lake/_raw").exists());
    assert!(
        !dir.join("lake/_incoming/ward-bed-census_RXA_2026-11-24.csv")
            .exists()
    );
}

#[tokio::test]
async fn a_postgresql_source_is_queried_read_only_and_lands() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute(SCHEMA).await.unwrap();
    db.execute(ROWS).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pull_with(dir.path(), db.url(), query(("$1", "$2"))).await;
    check_landed(&p, dir.path());
    // A query that writes is refused before it reaches the database...
    let dir2 = tempfile::tempdir().unwrap();
    let p = pull_with(dir2.path(), db.url(), "DELETE FROM ward_beds".into()).await;
    assert_eq!(p.status, "failed");
    assert!(p.message.contains("must be one SELECT"), "{}", p.message);
    // ...and one that hides a write in a WITH is stopped by the read-only transaction.
    let dir3 = tempfile::tempdir().unwrap();
    let sneaky = "WITH gone AS (DELETE FROM ward_beds RETURNING *) SELECT * FROM gone WHERE $1::date < $2::date".to_string();
    let p = pull_with(dir3.path(), db.url(), sneaky).await;
    assert_eq!(p.status, "failed");
    assert!(
        p.message.contains("read-only") || p.message.contains("read only"),
        "{}",
        p.message
    );
    // A period with no rows gives a header and nothing else: rejected, saying so.
    let dir4 = tempfile::tempdir().unwrap();
    let none = query(("$1", "$2")).replace("ORDER BY", "AND false ORDER BY");
    let p = pull_with(dir4.path(), db.url(), none).await;
    assert_eq!(p.status, "rejected", "{}", p.message);
    assert!(p.message.contains("a header but no rows"), "{}", p.message);
    // A query that runs past the source's timeout is abandoned and the run fails.
    let dir5 = tempfile::tempdir().unwrap();
    let slow = "SELECT pg_sleep(30), $1::date, $2::date".to_string();
    let p = pull_with(dir5.path(), db.url(), slow).await;
    assert_eq!(p.status, "failed");
    assert!(p.message.contains("took longer than 5 s"), "{}", p.message);
    assert!(
        !dir5
            .path()
            .join("lake/_incoming")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_refused_connection_fails_the_run_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let p = pull_with(
        dir.path(),
        "postgres://trust:S3cretPw@127.0.0.1:9/beds",
        query(("$1", "$2")),
    )
    .await;
    assert_eq!(p.status, "failed");
    assert!(
        p.message
            .contains("cannot reach the source database at postgres://trust:***@127.0.0.1:9/beds"),
        "{}",
        p.message
    );
    assert!(!p.message.contains("S3cretPw"), "{}", p.message);
}

#[tokio::test]
async fn a_sqlite_file_is_queried_read_only_and_lands() {
    let dir = tempfile::tempdir().unwrap();
    // The trust's own database, beside the sources file; its URL is relative to that folder.
    let file = dir.path().join("beds.sqlite");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(SCHEMA.replace("DATE", "TEXT")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(ROWS).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let url = "sqlite://beds.sqlite";
    let p = pull_with(dir.path(), url, query(("$1", "$2"))).await;
    check_landed(&p, dir.path());
    // A write hidden in the query meets a database opened read-only.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::copy(&file, dir2.path().join("beds.sqlite")).unwrap();
    let sneaky = "WITH x AS (SELECT 1) SELECT * FROM x; DELETE FROM ward_beds".to_string();
    let p = pull_with(dir2.path(), url, sneaky).await;
    assert_eq!(p.status, "failed", "{}", p.message);
    let copy = sqlx::sqlite::SqliteConnectOptions::new().filename(dir2.path().join("beds.sqlite"));
    let mut conn = sqlx::SqliteConnection::connect_with(&copy).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM ward_beds")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 4);
    // A database file that is not there is a source that is down: the run fails, and no
    // empty database is left in its place.
    let dir3 = tempfile::tempdir().unwrap();
    let p = pull_with(dir3.path(), url, query(("$1", "$2"))).await;
    assert_eq!(p.status, "failed");
    assert!(
        p.message.contains("cannot open the source database"),
        "{}",
        p.message
    );
    assert!(!dir3.path().join("beds.sqlite").exists());
}

/// A fresh database on the MariaDB server, or `None` with a notice (a failure under `CI`).
async fn mariadb() -> Option<(String, String)> {
    let admin = std::env::var("TALLY_TEST_MARIADB_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let mut conn = match sqlx::MySqlConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => return common::server_absent("MariaDB", &admin, e),
    };
    let name = format!(
        "tally_test_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some((url.to_string(), name))
}

#[tokio::test]
async fn a_mariadb_source_is_queried_read_only_and_lands() {
    let Some((url, name)) = mariadb().await else {
        return;
    };
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(SCHEMA.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(ROWS.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pull_with(dir.path(), &url, query(("?", "?"))).await;
    check_landed(&p, dir.path());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_period_bounds_are_days_in_the_collections_timezone() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute("CREATE TABLE bed_events (at TIMESTAMPTZ NOT NULL, ward TEXT NOT NULL)")
        .await
        .unwrap();
    // 22:30 and 23:30 UTC on 1 July are 23:30 on 1 July and 00:30 on 2 July in London (BST).
    db.execute(
        "INSERT INTO bed_events VALUES ('2026-07-01 22:30:00+00', 'W-first'), ('2026-07-01 23:30:00+00', 'W-second')",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("source-url"), db.url()).unwrap();
    let config = SqlConfig {
        url_env: None,
        url_file: Some("source-url".into()),
        query:
            "SELECT (at AT TIME ZONE 'Europe/London')::date AS census_date, 'RXA01' AS site_code,
                       ward AS ward_code, 'general_acute' AS sector, 'overnight' AS stay,
                       'adult' AS age_group, 'core' AS bed_class, 'general' AS care_type,
                       20 AS available_beds, 18 AS occupied_beds
                FROM bed_events WHERE at >= $1 AND at < $2"
                .into(),
        timeout_seconds: Some(5),
    };
    let mut world = common::CensusWorld::new(dir.path(), ConnectorConfig::Sql(config)).await;
    world.key.period = tally::domain::Period::parse("2026-07-02").unwrap();
    let p = world.pull(false).await;
    assert!(
        matches!(p.status.as_str(), "landed" | "late"),
        "{}",
        p.message
    );
    let report = p.report.unwrap();
    assert_eq!(report.rows_in, 1, "only the event after midnight in London");
    drop(world);
    db.drop_database().await;
}
