//! DAP's exceptions to the window in which a period may be sent by hand: a provider may
//! send periods from before its collection was listed, or after their amendment window
//! closed, only under one of these, which lapses.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// One exception, as granted.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WindowException {
    pub id: i64,
    pub collection: String,
    pub provider: String,
    /// The first and last period it covers, of the collection's kind.
    pub first_period: String,
    pub last_period: String,
    pub granted_by: String,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    /// After this, the periods are refused again.
    pub lapses_at: DateTime<Utc>,
}

/// An exception to record.
#[derive(Debug, Clone)]
pub struct NewException {
    pub collection: String,
    pub provider: String,
    pub first_period: String,
    pub last_period: String,
    pub granted_by: String,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub lapses_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait Exceptions: Send + Sync {
    async fn grant_exception(&self, e: &NewException) -> anyhow::Result<i64>;
    /// Every exception granted, newest first; of one collection and provider, when given.
    async fn exceptions(&self, of: Option<(&str, &str)>) -> anyhow::Result<Vec<WindowException>>;
}

/// The SQL for `Exceptions`, written once for both backends like `sql_store!`.
macro_rules! exceptions_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::exceptions::Exceptions for $store {
            async fn grant_exception(
                &self,
                e: &$crate::store::exceptions::NewException,
            ) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO window_exceptions
                       (collection, provider, first_period, last_period, granted_by, reason,
                        granted_at, lapses_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING id",
                )
                .bind(&e.collection)
                .bind(&e.provider)
                .bind(&e.first_period)
                .bind(&e.last_period)
                .bind(&e.granted_by)
                .bind(&e.reason)
                .bind(e.granted_at)
                .bind(e.lapses_at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn exceptions(
                &self,
                of: Option<(&str, &str)>,
            ) -> anyhow::Result<Vec<$crate::store::exceptions::WindowException>> {
                Ok(match of {
                    Some((collection, provider)) => {
                        sqlx::query_as(
                            "SELECT * FROM window_exceptions
                         WHERE collection = $1 AND provider = $2 ORDER BY id DESC",
                        )
                        .bind(collection)
                        .bind(provider)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as("SELECT * FROM window_exceptions ORDER BY id DESC")
                            .fetch_all(&self.pool)
                            .await?
                    }
                })
            }
        }
    };
}

pub(crate) use exceptions_store;
