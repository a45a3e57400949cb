//! Readiness checks: the outcome of each dry run, a file a provider tried or a source Tally
//! tried, kept so that DAP sees who is ready for a collection before it is owed. Nothing of
//! the file is kept, and no run enters the ledger.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// One dry run's outcome, as recorded.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReadinessCheck {
    pub id: i64,
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// `file` (a provider tried one) or `source` (Tally tried the provider's source).
    pub tried: String,
    pub passed: bool,
    pub rows_in: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    /// What passed, or why it failed, in one line.
    pub summary: String,
    pub tried_by: String,
    pub tried_at: DateTime<Utc>,
}

/// A dry run's outcome to record.
#[derive(Debug, Clone)]
pub struct NewReadinessCheck {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub tried: &'static str,
    pub passed: bool,
    pub rows_in: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub summary: String,
    pub tried_by: String,
    pub tried_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    async fn record_readiness(&self, c: &NewReadinessCheck) -> anyhow::Result<i64>;
    /// Every check of one collection, newest first; of one provider too, when given.
    async fn readiness(
        &self,
        collection: &str,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<ReadinessCheck>>;
}

/// The SQL for `Readiness`, written once for both backends like `sql_store!`.
macro_rules! readiness_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::readiness::Readiness for $store {
            async fn record_readiness(
                &self,
                c: &$crate::store::readiness::NewReadinessCheck,
            ) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO readiness_checks
                       (collection, provider, period, tried, passed, rows_in, rows_accepted,
                        rows_rejected, summary, tried_by, tried_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     RETURNING id",
                )
                .bind(&c.collection)
                .bind(&c.provider)
                .bind(&c.period)
                .bind(c.tried)
                .bind(c.passed)
                .bind(c.rows_in)
                .bind(c.rows_accepted)
                .bind(c.rows_rejected)
                .bind(&c.summary)
                .bind(&c.tried_by)
                .bind(c.tried_at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn readiness(
                &self,
                collection: &str,
                provider: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::readiness::ReadinessCheck>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM readiness_checks
                     WHERE collection = $1 AND ($2 IS NULL OR provider = $2)
                     ORDER BY id DESC",
                )
                .bind(collection)
                .bind(provider)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use readiness_store;
