//! What the ledger has settled, read as the scheduler needs it each step: the keys landed
//! since the last reading, and the keys held under a live lease now.
//!
//! Every landed run takes a mark from the counter `settled` in the transaction that lands it
//! (`RunLedger::finish_run`). The counter's row stays locked until that commit, so marks
//! commit in order: a reading that sees the counter at `m` can then read every run marked up
//! to `m`, and the next reading starts after `m`. When nothing has landed since, the runs
//! are not read at all: only the leases and the counter.

use chrono::{DateTime, Utc};

/// A run's key: collection, provider and period, as the ledger writes them.
pub type LedgerKey = (String, String, String);

/// One reading of what the ledger has settled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettledReading {
    /// The counter when read: pass it back as `after` to read only what lands later.
    pub mark: i64,
    /// Keys landed (on time, late or amended) with a mark past `after` and at most `mark`,
    /// or on a first reading every one started since `since`, with when the run started; a
    /// key amended since appears once for each run.
    pub landed: Vec<(LedgerKey, DateTime<Utc>)>,
    /// Keys held under a lease still live at `now`.
    pub leased: Vec<LedgerKey>,
}

#[async_trait::async_trait]
pub trait Settled {
    /// What the ledger has settled: with `after` the mark of an earlier reading, the runs
    /// landed since it, however long ago they started; without one, the runs landed that
    /// started at or after `since`, so that the ledger's older years are not read. Either
    /// way, the keys under a live lease at `now`.
    async fn settled(
        &self,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        after: Option<i64>,
    ) -> anyhow::Result<SettledReading>;
}

/// The SQL for `Settled`, written once for both backends like `sql_store!`.
macro_rules! settled_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::settled::Settled for $store {
            async fn settled(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                since: chrono::DateTime<chrono::Utc>,
                after: Option<i64>,
            ) -> anyhow::Result<$crate::store::settled::SettledReading> {
                // The leases first: a run still held here that lands before the counter is
                // read is read below by its mark, and one that lands later is read by the
                // next reading; either way no reading misses it.
                let leased = sqlx::query_as(
                    "SELECT collection, provider, period FROM runs
                     WHERE status = 'running' AND lease_until > $1",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                let mark: i64 =
                    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'settled'")
                        .fetch_one(&self.pool)
                        .await?;
                let landed: Vec<(String, String, String, chrono::DateTime<chrono::Utc>)> =
                    match after {
                        Some(after) if after == mark => Vec::new(),
                        Some(after) => {
                            sqlx::query_as(
                                "SELECT collection, provider, period, started_at FROM runs
                                 WHERE settled > $1 AND settled <= $2",
                            )
                            .bind(after)
                            .bind(mark)
                            .fetch_all(&self.pool)
                            .await?
                        }
                        // By status, not by mark, so that a run landed without one (by an
                        // older Tally beside a migrated register) is still found, and the
                        // window is read through `runs_by_start`. A run landed after the
                        // counter was read may be found twice, which does no harm. Without
                        // DISTINCT: the caller keeps a set, and asking the database to sort
                        // the window's runs for it took twice the reading (SQLite, 9,400 runs).
                        None => {
                            sqlx::query_as(
                                "SELECT collection, provider, period, started_at FROM runs
                                 WHERE started_at >= $1 AND status IN ('landed', 'late', 'amended')",
                            )
                            .bind(since)
                            .fetch_all(&self.pool)
                            .await?
                        }
                    };
                Ok($crate::store::settled::SettledReading {
                    mark,
                    landed: landed
                        .into_iter()
                        .map(|(c, p, period, started)| ((c, p, period), started))
                        .collect(),
                    leased,
                })
            }
        }
    };
}

pub(crate) use settled_store;
