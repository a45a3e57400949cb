//! Holds: versions with figures far from their provider's own recent ones, awaiting the
//! provider's confirmation. A hold is recorded with its version, in the run's transaction
//! (see `RunLedger::finish_run`); only a hold on a period's current version is live.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::domain::held::{Held, Reason};

/// One version's hold.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct HoldRow {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    /// How many of its figures are held.
    pub figures: i64,
    pub held_at: DateTime<Utc>,
    /// Who confirmed the figures are right, when someone has.
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// What they said of them.
    pub note: Option<String>,
}

impl HoldRow {
    pub fn awaiting(&self) -> bool {
        self.confirmed_at.is_none()
    }
}

/// A held figure as stored.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct HeldFigureRow {
    pub row_key: String,
    pub item: String,
    pub value: f64,
    pub median: f64,
    pub low: f64,
    pub high: f64,
    pub periods: i64,
    pub score: f64,
    pub reason: String,
}

impl HeldFigureRow {
    pub(crate) fn into_held(self) -> anyhow::Result<Held> {
        Ok(Held {
            row: self.row_key,
            item: self.item,
            value: self.value,
            median: self.median,
            low: self.low,
            high: self.high,
            periods: u32::try_from(self.periods)?,
            score: self.score,
            reason: Reason::parse(&self.reason).map_err(anyhow::Error::msg)?,
        })
    }
}

/// Which holds `holds` lists.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter {
    pub collection: Option<String>,
    pub provider: Option<String>,
    /// Only those nobody has confirmed.
    pub awaiting: bool,
    /// Holds on versions replaced since as well (a correction's old version): for counts.
    pub replaced: bool,
}

#[async_trait::async_trait]
pub trait Holds: Send + Sync {
    /// Holds on current versions (a version replaced since is no longer held), oldest
    /// period first; with `replaced`, those on replaced versions too.
    async fn holds(&self, filter: &HoldFilter) -> anyhow::Result<Vec<HoldRow>>;
    /// The figures held in one version, in the order they were found.
    async fn held_figures(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        version: i64,
    ) -> anyhow::Result<Vec<Held>>;
    /// Records that `by` confirmed the held figures of `version`, the period's current
    /// version; false when it is not held, is confirmed already, or is no longer current.
    #[allow(clippy::too_many_arguments)]
    async fn confirm_hold(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        version: i64,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
}

/// The condition that a hold is on its period's current version.
macro_rules! on_current {
    () => {
        "h.version = (SELECT MAX(v.version) FROM extract_versions v
                       WHERE v.collection = h.collection AND v.provider = h.provider
                         AND v.period = h.period)"
    };
}

/// The SQL for `Holds`, written once for both backends like `sql_store!`.
macro_rules! holds_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::holds::Holds for $store {
            async fn holds(
                &self,
                filter: &$crate::store::holds::HoldFilter,
            ) -> anyhow::Result<Vec<$crate::store::holds::HoldRow>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT h.* FROM holds h
                     WHERE ($1 IS NULL OR h.collection = $1) AND ($2 IS NULL OR h.provider = $2)
                       AND ($3 = FALSE OR h.confirmed_at IS NULL) AND ($4 = TRUE OR ",
                    $crate::store::holds::on_current!(),
                    ") ORDER BY h.period, h.collection, h.provider, h.version"
                ))
                .bind(filter.collection.as_deref())
                .bind(filter.provider.as_deref())
                .bind(filter.awaiting)
                .bind(filter.replaced)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn held_figures(
                &self,
                collection: &str,
                provider: &str,
                period: &str,
                version: i64,
            ) -> anyhow::Result<Vec<$crate::domain::held::Held>> {
                let rows: Vec<$crate::store::holds::HeldFigureRow> = sqlx::query_as(
                    "SELECT row_key, item, value, median, low, high, periods, score, reason
                     FROM held_figures
                     WHERE collection = $1 AND provider = $2 AND period = $3 AND version = $4
                     ORDER BY row_key, item",
                )
                .bind(collection)
                .bind(provider)
                .bind(period)
                .bind(version)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.into_held()).collect()
            }

            async fn confirm_hold(
                &self,
                collection: &str,
                provider: &str,
                period: &str,
                version: i64,
                by: &str,
                note: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let moved = sqlx::query(concat!(
                    "UPDATE holds AS h SET confirmed_by = $5, confirmed_at = $6, note = $7
                     WHERE h.collection = $1 AND h.provider = $2 AND h.period = $3
                       AND h.version = $4 AND h.confirmed_at IS NULL AND ",
                    $crate::store::holds::on_current!()
                ))
                .bind(collection)
                .bind(provider)
                .bind(period)
                .bind(version)
                .bind(by)
                .bind(at)
                .bind(note)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }
        }
    };
}

/// Records a version's held figures in the transaction `$tx` that records the version `$v`:
/// `$total` held in all, `$held` the ones kept.
macro_rules! record_holds {
    ($tx:expr, $v:expr, $total:expr, $held:expr) => {
        if $total > 0 {
            sqlx::query(
                "INSERT INTO holds (collection, provider, period, version, figures, held_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&$v.collection)
            .bind(&$v.provider)
            .bind(&$v.period)
            .bind($v.version)
            .bind($total as i64)
            .bind($v.landed_at)
            .execute(&mut *$tx)
            .await?;
            for h in $held {
                sqlx::query(
                    "INSERT INTO held_figures (collection, provider, period, version, row_key,
                         item, value, median, low, high, periods, score, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&$v.collection)
                .bind(&$v.provider)
                .bind(&$v.period)
                .bind($v.version)
                .bind(&h.row)
                .bind(&h.item)
                .bind(h.value)
                .bind(h.median)
                .bind(h.low)
                .bind(h.high)
                .bind(i64::from(h.periods))
                .bind(h.score)
                .bind(h.reason.as_str())
                .execute(&mut *$tx)
                .await?;
            }
        }
    };
}

pub(crate) use {holds_store, on_current, record_holds};
