//! The scaled store: PostgreSQL, shared by several Tally instances.

use std::time::Duration;

use anyhow::{Context, anyhow};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::{
    access::access_store, burden::burden_store, enquiries::enquiries_store,
    exceptions::exceptions_store, holds::holds_store, notices::notices_store, queries::query_store,
    readiness::readiness_store, redact, runs::run_ledger, settled::settled_store,
    signoffs::signoffs_store, sql::sql_store, versions::versions_store,
};

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let shown = redact(url);
        let options: PgConnectOptions = url
            .parse()
            .with_context(|| format!("{shown} is not a PostgreSQL URL"))?;
        // One connection first: a pool that cannot connect only says it timed out, while a
        // single connection says why (refused, no such database, authentication failed).
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| anyhow!("cannot reach the database at {shown}: no answer within 10 seconds"))?
        .with_context(|| format!("cannot reach the database at {shown}"))?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot reach the database at {shown}"))?;
        sqlx::migrate!("src/store/migrations/postgres")
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate the database at {shown}"))?;
        Ok(PgStore { pool })
    }
}

sql_store!(PgStore, sqlx::Postgres, "postgres");
run_ledger!(PgStore);
versions_store!(PgStore, sqlx::Postgres);
settled_store!(PgStore);
access_store!(PgStore);
exceptions_store!(PgStore);
query_store!(PgStore);
readiness_store!(PgStore);
notices_store!(PgStore);
enquiries_store!(PgStore);
holds_store!(PgStore);
signoffs_store!(PgStore, sqlx::Postgres);
burden_store!(PgStore);
