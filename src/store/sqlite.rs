//! The embedded store: one SQLite file in WAL mode, created on first start.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{
    access::access_store, burden::burden_store, enquiries::enquiries_store,
    exceptions::exceptions_store, holds::holds_store, notices::notices_store, queries::query_store,
    readiness::readiness_store, redact, runs::run_ledger, settled::settled_store,
    signoffs::signoffs_store, sql::sql_store, versions::versions_store,
};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<SqliteStore> {
        let shown = redact(url);
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("{shown} is not a SQLite URL like sqlite://data/tally.db"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Writers wait for each other rather than fail at once.
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the folder {} for {shown}", dir.display())
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database at {shown}"))?;
        sqlx::migrate!("src/store/migrations/sqlite")
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate the database at {shown}"))?;
        Ok(SqliteStore { pool })
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
run_ledger!(SqliteStore);
versions_store!(SqliteStore, sqlx::Sqlite);
settled_store!(SqliteStore);
access_store!(SqliteStore);
exceptions_store!(SqliteStore);
query_store!(SqliteStore);
readiness_store!(SqliteStore);
notices_store!(SqliteStore);
enquiries_store!(SqliteStore);
holds_store!(SqliteStore);
signoffs_store!(SqliteStore, sqlx::Sqlite);
burden_store!(SqliteStore);
