//! Landed versions of extracts as the run ledger records them: every version in full, and
//! the lean view of a current version that returns and packs read thousands of at once, and
//! the readings of current versions.

use chrono::{DateTime, Utc};

use crate::domain::RunKey;
use serde::Serialize;
use sqlx::FromRow;

/// One landed version of an extract.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct ExtractVersion {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    pub run_id: i64,
    pub path: String,
    pub raw_path: String,
    pub raw_sha256: String,
    pub bytes: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub report: sqlx::types::Json<serde_json::Value>,
    pub landed_at: DateTime<Utc>,
    /// The source's ETag for the extract, when it gave one.
    pub etag: Option<String>,
}

/// What a return and a pack need of a current version: which file holds it, and how it
/// arrived. Leaner than [`ExtractVersion`]: a quarter's build reads 17,000 of them, and the
/// reports they would carry are not needed.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct CurrentVersion {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    pub path: String,
    pub raw_sha256: String,
    pub landed_at: DateTime<Utc>,
    /// Rows of the extract that failed a check and were kept out of this version.
    pub rows_rejected: i64,
    /// When the period's first version landed: whether it came late is decided by this,
    /// never by a correction's time.
    #[sqlx(default)]
    pub first_landed_at: DateTime<Utc>,
    /// Versions the period has had: more than one means it was amended.
    #[sqlx(default)]
    pub versions: i64,
}

/// Which version of each extract is current.
#[async_trait::async_trait]
pub trait Versions {
    /// The current version of every provider's extract of `collection` for the periods from
    /// `first` to `last` (compared as text: give periods of one kind).
    async fn current_versions(
        &self,
        collection: &str,
        first: &str,
        last: &str,
    ) -> anyhow::Result<Vec<CurrentVersion>>;
    /// The current (newest) version of `key`'s extract, if one has landed.
    async fn current_version(&self, key: &RunKey) -> anyhow::Result<Option<ExtractVersion>>;
    /// The current version of each of `periods` of `provider`'s extract of `collection`
    /// that has landed, in no particular order: one reading for a landing's comparisons
    /// with the provider's own earlier periods.
    async fn current_of(
        &self,
        collection: &str,
        provider: &str,
        periods: &[String],
    ) -> anyhow::Result<Vec<ExtractVersion>>;
}

/// The SQL for `Versions`, written once for both backends like `sql_store!`.
macro_rules! versions_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::versions::Versions for $store {
            async fn current_versions(
                &self,
                collection: &str,
                first: &str,
                last: &str,
            ) -> anyhow::Result<Vec<$crate::store::runs::CurrentVersion>> {
                // Every version in the range, oldest first within each key, keeping the last
                // of each: amendments are few, and reading them all costs less than asking
                // the database to rule out a newer version for each row (32 ms against 59 ms
                // for a quarter of the daily census on SQLite).
                let all: Vec<$crate::store::runs::CurrentVersion> = sqlx::query_as(
                    "SELECT collection, provider, period, version, path, raw_sha256, landed_at,
                            rows_rejected
                     FROM extract_versions
                     WHERE collection = $1 AND period >= $2 AND period <= $3
                     ORDER BY period, provider, version",
                )
                .bind(collection)
                .bind(first)
                .bind(last)
                .fetch_all(&self.pool)
                .await?;
                let mut current: Vec<$crate::store::runs::CurrentVersion> =
                    Vec::with_capacity(all.len());
                for mut v in all {
                    match current.last_mut() {
                        Some(c) if c.period == v.period && c.provider == v.provider => {
                            v.first_landed_at = c.first_landed_at;
                            v.versions = c.versions + 1;
                            *c = v;
                        }
                        _ => {
                            v.first_landed_at = v.landed_at;
                            v.versions = 1;
                            current.push(v);
                        }
                    }
                }
                Ok(current)
            }

            async fn current_version(
                &self,
                key: &$crate::domain::RunKey,
            ) -> anyhow::Result<Option<$crate::store::runs::ExtractVersion>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM extract_versions
                     WHERE collection = $1 AND provider = $2 AND period = $3
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(key.period.to_string())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn current_of(
                &self,
                collection: &str,
                provider: &str,
                periods: &[String],
            ) -> anyhow::Result<Vec<$crate::store::versions::ExtractVersion>> {
                if periods.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT * FROM extract_versions WHERE collection = ",
                );
                q.push_bind(collection)
                    .push(" AND provider = ")
                    .push_bind(provider)
                    .push(" AND period IN (");
                let mut each = q.separated(", ");
                for p in periods {
                    each.push_bind(p);
                }
                q.push(") ORDER BY period, version");
                // Every version of those periods, keeping the newest of each: amendments
                // are few.
                let all: Vec<$crate::store::versions::ExtractVersion> =
                    q.build_query_as().fetch_all(&self.pool).await?;
                let mut current: Vec<$crate::store::versions::ExtractVersion> = Vec::new();
                for v in all {
                    match current.last_mut() {
                        Some(c) if c.period == v.period => *c = v,
                        _ => current.push(v),
                    }
                }
                Ok(current)
            }
        }
    };
}

pub(crate) use versions_store;
