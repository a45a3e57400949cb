//! Providers' questions about collections and DAP's answers, some published as FAQ.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EnquiryRow {
    pub id: i64,
    pub collection: String,
    pub provider: String,
    pub asked_by: String,
    pub question: String,
    pub asked_at: DateTime<Utc>,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Shown on the collection's page as a question and answer, without who asked.
    pub published: bool,
}

#[async_trait::async_trait]
pub trait Enquiries: Send + Sync {
    async fn ask(
        &self,
        collection: &str,
        provider: &str,
        asked_by: &str,
        question: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64>;
    /// Answers a question not yet answered; false when there is none such.
    async fn answer(
        &self,
        id: i64,
        answer: &str,
        by: &str,
        publish: bool,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Questions, newest first: of one collection, or one provider, or all.
    async fn enquiries(
        &self,
        collection: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<EnquiryRow>>;
}

/// The SQL for `Enquiries`, written once for both backends like `sql_store!`.
macro_rules! enquiries_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::enquiries::Enquiries for $store {
            async fn ask(
                &self,
                collection: &str,
                provider: &str,
                asked_by: &str,
                question: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO enquiries (collection, provider, asked_by, question, asked_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(collection)
                .bind(provider)
                .bind(asked_by)
                .bind(question)
                .bind(at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn answer(
                &self,
                id: i64,
                answer: &str,
                by: &str,
                publish: bool,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let moved = sqlx::query(
                    "UPDATE enquiries SET answer = $2, answered_by = $3, published = $4,
                         answered_at = $5
                     WHERE id = $1 AND answer IS NULL",
                )
                .bind(id)
                .bind(answer)
                .bind(by)
                .bind(publish)
                .bind(at)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }

            async fn enquiries(
                &self,
                collection: Option<&str>,
                provider: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::enquiries::EnquiryRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM enquiries
                     WHERE ($1 IS NULL OR collection = $1) AND ($2 IS NULL OR provider = $2)
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

pub(crate) use enquiries_store;
