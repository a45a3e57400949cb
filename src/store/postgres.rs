//! The scaled store: PostgreSQL, shared by several Tally instances.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{redact, sql::sql_store};

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let shown = redact(url);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // A server that is down should be reported in seconds, not after sqlx's 30.
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
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
