//! The `sql` connector: a read-only query against the provider's own PostgreSQL or
//! MySQL/MariaDB database, with the period's first day and the day after its last bound as
//! parameters (never formatted into the text). The URL, which holds a password, is read from
//! an environment variable named in the sources file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use sqlx::{Column, Connection, Row};

use super::{Fetched, Format};
use crate::schedule::timetable::RunKey;
use crate::store::redact;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// The environment variable that holds the database URL…
    pub url_env: Option<String>,
    /// …or a file that holds it (relative to the sources file), one of the two.
    pub url_file: Option<PathBuf>,
    /// One SELECT (or WITH … SELECT). PostgreSQL binds `$1` and `$2`, MySQL and MariaDB `?`
    /// twice, in that order: the period's first day, and the day after its last.
    pub query: String,
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

/// Writes a header from the first row's column names, then every row as text.
macro_rules! write_rows {
    ($out:expr, $rows:expr) => {{
        if let Some(first) = $rows.first() {
            $out.write_record(first.columns().iter().map(|c| c.name()))?;
        }
        for row in &$rows {
            let mut record = Vec::with_capacity(row.columns().len());
            for i in 0..row.columns().len() {
                record.push(cell!(row, i).unwrap_or_default());
            }
            $out.write_record(&record)?;
        }
    }};
}

impl SqlConfig {
    pub async fn fetch(&self, key: &RunKey, base: &Path, work: &Path) -> anyhow::Result<Fetched> {
        let first = self.query.trim_start().to_ascii_lowercase();
        if !(first.starts_with("select") || first.starts_with("with")) {
            bail!("the query must be one SELECT; it is run read-only");
        }
        let url = match (&self.url_env, &self.url_file) {
            (Some(var), None) => std::env::var(var).with_context(|| {
                format!("the environment variable {var} (the source's database URL) is not set")
            })?,
            (None, Some(file)) => {
                let path = base.join(file);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "cannot read the source's database URL from {}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
            _ => bail!(
                "a sql source names its database URL with url_env or url_file, one of the two"
            ),
        };
        let (from, to) = (key.period.first_day(), key.period.end());
        let mut out = csv::Writer::from_writer(Vec::new());
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .with_context(|| format!("cannot reach the source database at {}", redact(&url)))?;
            let mut tx = conn.begin().await?;
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(self.query.clone()))
                .bind(from)
                .bind(to)
                .fetch_all(&mut *tx)
                .await
                .context("the source query failed")?;
            tx.rollback().await?;
            write_rows!(out, rows);
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let mut conn = sqlx::MySqlConnection::connect(&url)
                .await
                .with_context(|| format!("cannot reach the source database at {}", redact(&url)))?;
            sqlx::query("START TRANSACTION READ ONLY")
                .execute(&mut conn)
                .await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(self.query.clone()))
                .bind(from)
                .bind(to)
                .fetch_all(&mut conn)
                .await
                .context("the source query failed");
            sqlx::query("ROLLBACK").execute(&mut conn).await?;
            let rows = rows?;
            write_rows!(out, rows);
        } else {
            bail!(
                "the source database URL {} is not postgres:// or mysql://",
                redact(&url)
            );
        }
        let bytes = out.into_inner().context("writing the extract")?;
        std::fs::create_dir_all(work)?;
        let path: PathBuf = work.join(format!(
            "{}_{}_{}.csv",
            key.collection, key.provider, key.period
        ));
        std::fs::write(&path, bytes)?;
        Ok(Fetched {
            path,
            format: Format::Csv,
            temporary: true,
        })
    }
}
