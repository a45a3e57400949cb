//! What the burden accounts read beyond the ledger: when each provider first sent a
//! collection's period by hand and first had one pulled from a source, when each provider
//! joined the register, and the burden reports DAP filed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::domain::Arrival;

/// The first time a version of `collection` from `provider` landed in one way.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstArrival {
    pub collection: String,
    pub provider: String,
    pub arrived: Arrival,
    pub at: DateTime<Utc>,
}

/// A burden report as filed, without its body.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FiledReport {
    pub id: i64,
    pub as_of: NaiveDate,
    pub filed_by: String,
    pub filed_at: DateTime<Utc>,
    /// Of the body, the JSON every download of it is written from.
    pub sha256: String,
}

/// The time a provider recorded that one period's submission took.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RecordedTime {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub minutes: f64,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait BurdenRecords: Send + Sync {
    /// Records the time one period's submission took, replacing any recorded before.
    #[allow(clippy::too_many_arguments)]
    async fn record_time(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        minutes: f64,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Every time recorded, of one collection or provider or all, oldest first: the newest
    /// for a period is the one that counts.
    async fn recorded_times(
        &self,
        collection: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<RecordedTime>>;
    /// For each (collection, provider), the first version landed from a source and the
    /// first uploaded by hand (a nil return is neither).
    async fn first_arrivals(&self) -> anyhow::Result<Vec<FirstArrival>>;
    /// How many times a run has landed as the first of its (collection, provider, way of
    /// arriving), or earlier than the first: [`BurdenStore::first_arrivals`] is what it was
    /// while this stays the same.
    async fn arrivals_revision(&self) -> anyhow::Result<i64>;
    /// Each provider and when it joined the register; none for one registered before
    /// Tally kept the day.
    async fn registrations(&self) -> anyhow::Result<Vec<(String, Option<DateTime<Utc>>)>>;
    /// DAP's budget as it stood at `at`: the newest set by then.
    async fn budget_at(
        &self,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<crate::domain::budget::Budget>>;
    /// Keeps a filed report; its number.
    async fn file_burden_report(
        &self,
        as_of: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
        body: &str,
    ) -> anyhow::Result<i64>;
    /// Every report filed, newest first.
    async fn burden_reports(&self) -> anyhow::Result<Vec<FiledReport>>;
    /// One filed report and its body.
    async fn burden_report(&self, id: i64) -> anyhow::Result<Option<(FiledReport, String)>>;
}

/// The SQL for `BurdenRecords`, written once for both backends like `sql_store!`.
macro_rules! burden_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::burden::BurdenRecords for $store {
            async fn record_time(
                &self,
                collection: &str,
                provider: &str,
                period: &str,
                minutes: f64,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO recorded_times
                       (collection, provider, period, minutes, recorded_by, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(collection)
                .bind(provider)
                .bind(period)
                .bind(minutes)
                .bind(by)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn recorded_times(
                &self,
                collection: Option<&str>,
                provider: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::burden::RecordedTime>> {
                Ok(sqlx::query_as(
                    "SELECT t.collection, t.provider, t.period, t.minutes, t.recorded_by,
                            t.recorded_at
                     FROM recorded_times t
                     WHERE ($1 IS NULL OR t.collection = $1) AND ($2 IS NULL OR t.provider = $2)
                     ORDER BY t.id",
                )
                .bind(collection)
                .bind(provider)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn first_arrivals(
                &self,
            ) -> anyhow::Result<Vec<$crate::store::burden::FirstArrival>> {
                let rows: Vec<(String, String, String, chrono::DateTime<chrono::Utc>)> =
                    sqlx::query_as(
                        "SELECT collection, provider, arrived, MIN(finished_at) AS at
                         FROM runs
                         WHERE status IN ('landed', 'late', 'amended')
                           AND arrived IN ('pulled', 'uploaded') AND finished_at IS NOT NULL
                         GROUP BY collection, provider, arrived
                         ORDER BY collection, provider, arrived",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(collection, provider, arrived, at)| {
                        Ok($crate::store::burden::FirstArrival {
                            collection,
                            provider,
                            arrived: arrived.parse()?,
                            at,
                        })
                    })
                    .collect()
            }

            async fn arrivals_revision(&self) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'arrivals'")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn registrations(
                &self,
            ) -> anyhow::Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>> {
                Ok(
                    sqlx::query_as("SELECT code, registered_at FROM providers ORDER BY code")
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn budget_at(
                &self,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Option<$crate::domain::budget::Budget>> {
                Ok(sqlx::query_as(
                    "SELECT cap_hours, baseline_hours, baseline_date, goal_hours, target_date,
                            set_by, reason, set_at
                     FROM budget_settings WHERE set_at <= $1 ORDER BY id DESC LIMIT 1",
                )
                .bind(at)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn file_burden_report(
                &self,
                as_of: chrono::NaiveDate,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
                body: &str,
            ) -> anyhow::Result<i64> {
                use sha2::Digest;
                let sha = hex::encode(sha2::Sha256::digest(body.as_bytes()));
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO burden_reports (as_of, filed_by, filed_at, sha256, body)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(as_of)
                .bind(by)
                .bind(at)
                .bind(sha)
                .bind(body)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn burden_reports(
                &self,
            ) -> anyhow::Result<Vec<$crate::store::burden::FiledReport>> {
                Ok(sqlx::query_as(
                    "SELECT id, as_of, filed_by, filed_at, sha256 FROM burden_reports
                     ORDER BY id DESC",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn burden_report(
                &self,
                id: i64,
            ) -> anyhow::Result<Option<($crate::store::burden::FiledReport, String)>> {
                let report: Option<$crate::store::burden::FiledReport> = sqlx::query_as(
                    "SELECT id, as_of, filed_by, filed_at, sha256 FROM burden_reports
                     WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(report) = report else {
                    return Ok(None);
                };
                let (body,): (String,) =
                    sqlx::query_as("SELECT body FROM burden_reports WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(Some((report, body)))
            }
        }
    };
}
pub(crate) use burden_store;
