//! Contacts and the notification ledger: whom each provider asks to be told, and every
//! notification sent or tried, keyed by its event so that none is sent twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// One notification, as recorded.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct NotificationRow {
    pub id: i64,
    /// What it is about, once: `reminder:ward-bed-census:RXA:2026-11-24`.
    pub event_key: String,
    /// `notice`, `reminder`, `overdue` or `rejected`.
    pub kind: String,
    pub provider: String,
    pub collection: String,
    pub period: Option<String>,
    /// The addresses it went to, separated by `, `.
    pub recipients: String,
    pub subject: String,
    /// `sending`, `sent` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A notification about to be sent.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub event_key: String,
    pub kind: &'static str,
    pub provider: String,
    pub collection: String,
    pub period: Option<String>,
    pub recipients: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait Notices: Send + Sync {
    /// Every provider's contact addresses, as (provider, address), by provider.
    async fn contacts(&self) -> anyhow::Result<Vec<(String, String)>>;
    /// Replaces one provider's addresses.
    async fn set_contacts(&self, provider: &str, addresses: &[String]) -> anyhow::Result<()>;
    /// Records a notification as being sent, unless its event has one sent, or being sent for
    /// less than 15 minutes: `None` then. A failed one is claimed again.
    async fn claim_notification(&self, n: &NewNotification) -> anyhow::Result<Option<i64>>;
    /// Records how sending ended: `sent`, or `failed` with the error.
    async fn finish_notification(&self, id: i64, error: Option<&str>) -> anyhow::Result<()>;
    /// The newest notifications first, at most `limit`.
    async fn notifications(&self, limit: i64) -> anyhow::Result<Vec<NotificationRow>>;
    /// The event keys of notifications sent, or being sent, since `since`: a step drafts only
    /// the others (a failed one among them), rather than asking about each one told already.
    async fn notified_since(&self, since: DateTime<Utc>) -> anyhow::Result<Vec<String>>;
}

/// The SQL for `Notices`, written once for both backends like `sql_store!`.
macro_rules! notices_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::notices::Notices for $store {
            async fn contacts(&self) -> anyhow::Result<Vec<(String, String)>> {
                Ok(sqlx::query_as(
                    "SELECT provider, address FROM provider_contacts ORDER BY provider, address",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_contacts(
                &self,
                provider: &str,
                addresses: &[String],
            ) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM provider_contacts WHERE provider = $1")
                    .bind(provider)
                    .execute(&mut *tx)
                    .await?;
                for a in addresses {
                    sqlx::query(
                        "INSERT INTO provider_contacts (provider, address) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(provider)
                    .bind(a)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_notification(
                &self,
                n: &$crate::store::notices::NewNotification,
            ) -> anyhow::Result<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO notifications
                       (event_key, kind, provider, collection, period, recipients, subject,
                        status, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending', $8)
                     ON CONFLICT (event_key) DO UPDATE
                       SET status = 'sending', error = NULL, at = excluded.at,
                           recipients = excluded.recipients
                       WHERE notifications.status = 'failed'
                          OR (notifications.status = 'sending' AND notifications.at < $9)
                     RETURNING id",
                )
                .bind(&n.event_key)
                .bind(n.kind)
                .bind(&n.provider)
                .bind(&n.collection)
                .bind(&n.period)
                .bind(&n.recipients)
                .bind(&n.subject)
                .bind(n.at)
                // A claim older than this whose sending never finished (its process died)
                // may be taken again.
                .bind(n.at - chrono::Duration::minutes(15))
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn finish_notification(
                &self,
                id: i64,
                error: Option<&str>,
            ) -> anyhow::Result<()> {
                sqlx::query("UPDATE notifications SET status = $2, error = $3 WHERE id = $1")
                    .bind(id)
                    .bind(if error.is_some() { "failed" } else { "sent" })
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn notifications(
                &self,
                limit: i64,
            ) -> anyhow::Result<Vec<$crate::store::notices::NotificationRow>> {
                Ok(
                    sqlx::query_as("SELECT * FROM notifications ORDER BY id DESC LIMIT $1")
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn notified_since(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT event_key FROM notifications
                         WHERE at > $1 AND (status = 'sent' OR status = 'sending')",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use notices_store;
