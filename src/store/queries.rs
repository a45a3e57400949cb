//! The licences of the national returns' queries: each text of a return's SQL and sidecar is
//! a version, proposed when it is first seen and in force once DAP lists it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// One version of a return's query, as stored.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueryVersion {
    pub name: String,
    pub version: i64,
    pub sql_text: String,
    /// The sidecar TOML: title, inputs, columns.
    pub sidecar: String,
    pub sha256: String,
    /// `proposed`, `listed`, `rejected` or `superseded`.
    pub status: String,
    pub licence_number: Option<String>,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// A return's licence number: `DAPR0001`, apart from the collections' `DAP0001`.
pub fn query_licence_number(n: i64) -> String {
    format!("DAPR{n:04}")
}

#[async_trait::async_trait]
pub trait QueryLicences: Send + Sync {
    /// Every version of every return's query (or of one), by name and version.
    async fn query_versions(&self, name: Option<&str>) -> anyhow::Result<Vec<QueryVersion>>;
    /// Records a text not seen before as the next version, proposed; any older proposal of
    /// the same return is superseded by it. Returns the version.
    async fn propose_query(
        &self,
        name: &str,
        sql_text: &str,
        sidecar: &str,
        sha256: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64>;
    /// Lists (`list`) or rejects the proposed `version`: listing supersedes the version in
    /// force and keeps the return's licence number, or gives it the next. `None` when the
    /// version is not awaiting a decision. Returns the licence number when listed.
    async fn decide_query(
        &self,
        name: &str,
        version: i64,
        list: bool,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<Option<String>>>;
}

/// The SQL for `QueryLicences`, written once for both backends like `sql_store!`.
macro_rules! query_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::queries::QueryLicences for $store {
            async fn query_versions(
                &self,
                name: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::queries::QueryVersion>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM query_versions WHERE ($1 = '' OR name = $1)
                     ORDER BY name, version",
                )
                .bind(name.unwrap_or_default())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn propose_query(
                &self,
                name: &str,
                sql_text: &str,
                sidecar: &str,
                sha256: &str,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<i64> {
                let mut tx = self.pool.begin().await?;
                let last: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM query_versions WHERE name = $1")
                        .bind(name)
                        .fetch_one(&mut *tx)
                        .await?;
                let version = last.unwrap_or(0) + 1;
                sqlx::query(
                    "UPDATE query_versions SET status = 'superseded'
                     WHERE name = $1 AND status = 'proposed'",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO query_versions
                       (name, version, sql_text, sidecar, sha256, status, proposed_by, proposed_at)
                     VALUES ($1, $2, $3, $4, $5, 'proposed', $6, $7)",
                )
                .bind(name)
                .bind(version)
                .bind(sql_text)
                .bind(sidecar)
                .bind(sha256)
                .bind(by)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn decide_query(
                &self,
                name: &str,
                version: i64,
                list: bool,
                by: &str,
                reason: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Option<Option<String>>> {
                let mut tx = self.pool.begin().await?;
                let pending: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM query_versions WHERE name = $1 AND version = $2",
                )
                .bind(name)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
                if pending.as_deref() != Some("proposed") {
                    return Ok(None);
                }
                let mut licence = None;
                if list {
                    let kept: Option<String> = sqlx::query_scalar(
                        "SELECT MAX(licence_number) FROM query_versions WHERE name = $1",
                    )
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
                    licence = match kept {
                        Some(n) => Some(n),
                        None => {
                            let n: i64 = sqlx::query_scalar(
                                "UPDATE counters SET value = value + 1
                                 WHERE name = 'query_licence' RETURNING value",
                            )
                            .fetch_one(&mut *tx)
                            .await?;
                            Some($crate::store::queries::query_licence_number(n))
                        }
                    };
                    sqlx::query(
                        "UPDATE query_versions SET status = 'superseded'
                         WHERE name = $1 AND status = 'listed'",
                    )
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE query_versions
                     SET status = $3, licence_number = $4, decided_by = $5, decided_at = $6, reason = $7
                     WHERE name = $1 AND version = $2",
                )
                .bind(name)
                .bind(version)
                .bind(if list { "listed" } else { "rejected" })
                .bind(&licence)
                .bind(by)
                .bind(at)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(licence))
            }
        }
    };
}

pub(crate) use query_store;
