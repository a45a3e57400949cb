//! The `sql` connector: a read-only query against the provider's own PostgreSQL,
//! MySQL/MariaDB or SQLite database, with the period's first day and the day after its last
//! bound as parameters (never formatted into the text); PostgreSQL reads them as days in the
//! collection's timezone. The URL, which may hold a password, is read from an environment
//! variable or a file named in the sources file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;

use futures_util::TryStreamExt;
use sqlx::{Column, Connection, Executor, Row, SqlSafeStr, Statement};

use super::{Fetched, Format, secret};
use crate::domain::RunKey;
use crate::store::redact;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The environment variable that holds the database URL…
    pub url_env: Option<String>,
    /// …or a file that holds it (relative to the sources file), one of the two.
    pub url_file: Option<PathBuf>,
    /// One SELECT (or WITH … SELECT). PostgreSQL and SQLite bind `$1` and `$2` (SQLite also
    /// `?1` and `?2`), MySQL and MariaDB `?` twice, in that order: the period's first day,
    /// and the day after its last (as `YYYY-MM-DD` text in SQLite).
    pub query: String,
    /// Seconds the connection and query together may take (default 600).
    pub timeout_seconds: Option<u64>,
}

/// Reads one value as text for the CSV, whatever its SQL type.
macro_rules! cell {
    ($row:expr, $i:expr) => {{
        let row = $row;
        let i = $i;
        if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            v
        } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<i16>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<f32>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<NaiveDate>, _>(i) {
            v.map(|v| v.to_string())
        } else if let Ok(v) = row.try_get::<Option<DateTime<Utc>>, _>(i) {
            v.map(|v| v.to_rfc3339())
        } else if let Ok(v) = row.try_get::<Option<NaiveDateTime>, _>(i) {
            v.map(|v| v.and_utc().to_rfc3339())
        } else if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
            v.map(|v| v.to_string())
        } else {
            let column = row.columns()[i].name().to_owned();
            bail!("column {column} has a type the sql connector cannot read; cast it to text, a whole number or a date in the query");
        }
    }};
}

/// Prepares the query to learn its columns (so an empty result still has a header), then
/// streams its rows into the CSV one at a time: a large result never sits in memory.
macro_rules! stream_rows {
    ($out:expr, $conn:expr, $query:expr, $types:expr, $from:expr, $to:expr) => {{
        // The parameters are declared dates, as they are bound: left to the server, a
        // parameter compared with a timestamp column would be taken for a timestamp.
        let statement = $conn
            .prepare_with(sqlx::AssertSqlSafe($query.clone()).into_sql_str(), $types)
            .await
            .context("the source query failed")?;
        $out.write_record(statement.columns().iter().map(|c| c.name()))?;
        let mut rows = statement.query().bind($from).bind($to).fetch($conn);
        let mut record = Vec::with_capacity(statement.columns().len());
        while let Some(row) = rows.try_next().await.context("the source query failed")? {
            record.clear();
            for i in 0..row.columns().len() {
                record.push(cell!(&row, i).unwrap_or_default());
            }
            $out.write_record(&record)?;
        }
    }};
}

impl SqlConfig {
    pub async fn fetch(
        &self,
        key: &RunKey,
        base: &Path,
        work: &Path,
        timezone: chrono_tz::Tz,
    ) -> anyhow::Result<Fetched> {
        let first = self.query.trim_start().to_ascii_lowercase();
        if !(first.starts_with("select") || first.starts_with("with")) {
            bail!("the query must be one SELECT; it is run read-only");
        }
        let url = self.url(base)?;
        let (from, to) = (key.period.first_day(), key.period.end());
        std::fs::create_dir_all(work)?;
        let path: PathBuf = work.join(format!(
            "{}_{}_{}.csv",
            key.collection, key.provider, key.period
        ));
        let mut out = csv::Writer::from_path(&path)?;
        let limit = Duration::from_secs(self.timeout_seconds.unwrap_or(600));
        let query = tokio::time::timeout(
            limit,
            self.query_into(&url, base, from, to, timezone, &mut out),
        )
        .await;
        let result = match query {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "the source query took longer than {} s (timeout_seconds)",
                limit.as_secs()
            )),
        };
        let result = result.and_then(|()| {
            out.flush()?;
            out.into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()
                .context("writing the extract")
        });
        if let Err(e) = result {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Fetched {
            path,
            format: Format::Csv,
            temporary: true,
            receipt: None,
            etag: None,
        })
    }

    /// The source database's URL, from the environment or a file.
    fn url(&self, base: &Path) -> anyhow::Result<String> {
        if self.url_env.is_some() == self.url_file.is_some() {
            bail!("a sql source names its database URL with url_env or url_file, one of the two");
        }
        Ok(secret(
            &self.url_env,
            &self.url_file,
            base,
            "the source's database URL",
        )?
        .expect("one of the two is given"))
    }

    /// The database server's host, for the per-host limit; `None` when the URL cannot be
    /// read now (the pull itself will then fail and say why).
    pub fn host(&self, base: &Path) -> Option<String> {
        let url = self.url(base).ok()?;
        // A SQLite database is a local file: no host to spare.
        if url.starts_with("sqlite:") {
            return None;
        }
        url::Url::parse(&url)
            .ok()?
            .host_str()
            .map(str::to_ascii_lowercase)
    }

    async fn query_into(
        &self,
        url: &str,
        base: &Path,
        from: NaiveDate,
        to: NaiveDate,
        timezone: chrono_tz::Tz,
        out: &mut csv::Writer<std::fs::File>,
    ) -> anyhow::Result<()> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .with_context(|| format!("cannot reach the source database at {}", redact(url)))?;
            let mut tx = conn.begin().await?;
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
            // The bounds are days in the collection's timezone: a timestamp column compared
            // with them is read in that zone, not the server's.
            sqlx::query("SELECT set_config('TimeZone', $1, true)")
                .bind(timezone.name())
                .execute(&mut *tx)
                .await?;
            let date = <NaiveDate as sqlx::Type<sqlx::Postgres>>::type_info();
            stream_rows!(out, &mut *tx, self.query, &[date.clone(), date], from, to);
            tx.rollback().await?;
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let mut conn = sqlx::MySqlConnection::connect(&url)
                .await
                .with_context(|| format!("cannot reach the source database at {}", redact(&url)))?;
            // The session stays in UTC: the driver reads TIMESTAMP values as UTC, and a
            // session in another zone would shift every one it returns. Dates bound against
            // a TIMESTAMP column are therefore read as UTC days (see the README).
            sqlx::query("START TRANSACTION READ ONLY")
                .execute(&mut conn)
                .await?;
            // The transaction ends with the connection, whatever happens to the query.
            stream_rows!(out, &mut conn, self.query, &[], from, to);
            sqlx::query("ROLLBACK").execute(&mut conn).await?;
        } else if let Some(file) = url.strip_prefix("sqlite://") {
            // Opened read-only and never created: a missing file is a source that is down,
            // not an empty database. A relative path is read from the sources file's folder.
            let file = file.split('?').next().unwrap_or(file);
            let path = base.join(file);
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .read_only(true)
                .create_if_missing(false);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .with_context(|| format!("cannot open the source database {}", path.display()))?;
            stream_rows!(out, &mut conn, self.query, &[], from, to);
        } else {
            bail!(
                "the source database URL {} is not postgres://, mysql:// or sqlite://",
                redact(url)
            );
        }
        Ok(())
    }
}
