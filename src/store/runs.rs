//! The run ledger: every attempt to pull one (collection, provider, period), claimed with a
//! lease so that several instances on one PostgreSQL database never pull the same run twice,
//! and an instance that dies loses its claims when their leases run out.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::domain::RunKey;
pub use crate::domain::{Arrival, RunStatus};

pub use super::versions::{CurrentVersion, ExtractVersion};

#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunRow {
    pub id: i64,
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub attempt: i64,
    /// `running`, then `landed`, `late`, `amended`, `rejected`, `failed` or `refused`; `due` when an
    /// instance let it go at shutdown, or stopped renewing its lease and another let it go.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub instance: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_in: Option<i64>,
    pub rows_accepted: Option<i64>,
    pub rows_rejected: Option<i64>,
    pub bytes: Option<i64>,
    pub raw_sha256: Option<String>,
    pub error: Option<String>,
    /// Pulled from a source, or uploaded by hand.
    #[sqlx(try_from = "String")]
    pub arrived: Arrival,
}

impl RunRow {
    /// The extract was uploaded by hand.
    pub fn uploaded(&self) -> bool {
        self.arrived == Arrival::Uploaded
    }

    /// The extract was pulled from a source: not uploaded, and not a nil return.
    pub fn pulled(&self) -> bool {
        self.arrived == Arrival::Pulled
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcome {
    pub rows_in: Option<i64>,
    pub rows_accepted: Option<i64>,
    pub rows_rejected: Option<i64>,
    pub bytes: Option<i64>,
    pub raw_sha256: Option<String>,
    pub error: Option<String>,
    /// The validation report, for a run that read an extract.
    pub report: Option<serde_json::Value>,
    /// The version the run landed, already in place in the lake: recorded in the same
    /// transaction as the run's end, so a run that lost its lease records no version.
    pub version: Option<ExtractVersion>,
    /// Figures of that version held for the provider to confirm: how many in all, and the
    /// ones kept.
    pub held: (usize, Vec<crate::domain::held::Held>),
}

/// Which runs `runs` lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub collection: Option<String>,
    pub provider: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs that finished after this.
    pub finished_after: Option<DateTime<Utc>>,
    /// Only runs for this period or a later one, in the text order of periods (with one
    /// collection, whose periods are of one kind, the order of time).
    pub period_from: Option<String>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait RunLedger: Send + Sync {
    /// Starts the next attempt of `key` for `instance`, holding it until `lease_until`, or
    /// returns `None` when another instance holds it or, unless `repull`, when it has
    /// already landed. A claim whose lease ran out is let go first (it becomes `due`, with
    /// the reason), so a run held by a dead instance is taken over.
    async fn claim_run(
        &self,
        key: &RunKey,
        instance: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        repull: bool,
        arrival: Arrival,
    ) -> anyhow::Result<Option<RunRow>>;
    /// Extends a lease this instance still holds; false when it has been lost.
    async fn renew_lease(
        &self,
        id: i64,
        instance: &str,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Records how a held run ended, with its report and any version it landed, in one
    /// transaction; an error, recording nothing, if the lease was lost meanwhile.
    async fn finish_run(
        &self,
        id: i64,
        instance: &str,
        status: RunStatus,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// Lets go of every run whose lease has run out: its pull stopped without finishing.
    /// They become `due`, with the reason, and are pulled again at once: the source did not
    /// fail, so no backoff applies. A key let go before becomes `failed` instead, and waits
    /// out its backoff. Returns how many.
    async fn expire_leases(&self, now: DateTime<Utc>) -> anyhow::Result<u64>;
    /// Lets go of every run still `running` under an instance whose name starts with
    /// `prefix` (they become `due`, with the reason): on SQLite, where the instance lock
    /// lets one scheduler run at a time, the runs an earlier scheduler left running when it
    /// was killed, so they are pulled again at once rather than after their leases run out.
    async fn release_abandoned(&self, prefix: &str, now: DateTime<Utc>) -> anyhow::Result<u64>;
    /// Lets go of every run this instance holds (graceful shutdown): they become `due`.
    async fn release_runs(&self, instance: &str, now: DateTime<Utc>) -> anyhow::Result<u64>;
    async fn runs(&self, filter: &RunFilter) -> anyhow::Result<Vec<RunRow>>;
    /// The number the next version of `key` will have.
    async fn next_version(&self, key: &RunKey) -> anyhow::Result<i64>;
    async fn run(&self, id: i64) -> anyhow::Result<Option<RunRow>>;
    /// Versions landed since `since`, by collection and by whether they came by hand (an
    /// upload or a nil return) rather than from a source: (collection, by hand, count).
    async fn landed_counts(&self, since: DateTime<Utc>)
    -> anyhow::Result<Vec<(String, bool, i64)>>;
    /// The validation report a run saved, if it read an extract.
    async fn run_report(&self, id: i64) -> anyhow::Result<Option<serde_json::Value>>;
}

/// The status of a run whose lease ran out (its instance killed, or its pull panicked):
/// `due`, to be pulled again at once, unless an earlier attempt of the same key was let go
/// because its pull stopped. Then it is `failed`, and waits out a backoff: a pull that
/// kills whatever instance takes it must not take every instance down in turn, one step
/// after another.
macro_rules! let_go_status {
    () => {
        "CASE WHEN EXISTS (
             SELECT 1 FROM runs AS earlier
             WHERE earlier.collection = runs.collection AND earlier.provider = runs.provider
               AND earlier.period = runs.period AND earlier.attempt < runs.attempt
               AND earlier.error IN ('the instance holding it stopped renewing its lease',
                                     'the scheduler pulling it stopped without finishing it'))
         THEN 'failed' ELSE 'due' END"
    };
}

/// The SQL for `RunLedger`, written once for both backends like `sql_store!`.
macro_rules! run_ledger {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::runs::RunLedger for $store {
            async fn claim_run(
                &self,
                key: &$crate::domain::RunKey,
                instance: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                repull: bool,
                arrival: $crate::domain::Arrival,
            ) -> anyhow::Result<Option<$crate::store::runs::RunRow>> {
                let period = key.period.to_string();
                let mut tx = self.pool.begin().await?;
                // Claims of one key take turns on its run_keys row: the upsert locks it
                // until the claim commits.
                sqlx::query(
                    "INSERT INTO run_keys (collection, provider, period, claims) VALUES ($1, $2, $3, 1)
                     ON CONFLICT (collection, provider, period)
                     DO UPDATE SET claims = run_keys.claims + 1",
                )
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(&period)
                .execute(&mut *tx)
                .await?;
                sqlx::query(concat!(
                    "UPDATE runs SET status = ",
                    $crate::store::runs::let_go_status!(),
                    ", finished_at = $4, lease_until = NULL,
                       error = 'the instance holding it stopped renewing its lease'
                     WHERE collection = $1 AND provider = $2 AND period = $3
                       AND status = 'running' AND lease_until <= $4"
                ))
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(&period)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let (attempts, running, landed): (i64, i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(MAX(attempt), 0),
                            COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0),
                            COALESCE(SUM(CASE WHEN status IN ('landed', 'late', 'amended') THEN 1 ELSE 0 END), 0)
                     FROM runs WHERE collection = $1 AND provider = $2 AND period = $3",
                )
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(&period)
                .fetch_one(&mut *tx)
                .await?;
                if running > 0 || (landed > 0 && !repull) {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let row: $crate::store::runs::RunRow = sqlx::query_as(
                    "INSERT INTO runs
                       (collection, provider, period, attempt, status, instance, lease_until, started_at,
                        arrived)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8)
                     RETURNING *",
                )
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(&period)
                .bind(attempts + 1)
                .bind(instance)
                .bind(lease_until)
                .bind(now)
                .bind(arrival.as_str())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(row))
            }

            async fn renew_lease(
                &self,
                id: i64,
                instance: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let moved = sqlx::query(
                    "UPDATE runs SET lease_until = $3
                     WHERE id = $1 AND instance = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(instance)
                .bind(until)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }

            async fn finish_run(
                &self,
                id: i64,
                instance: &str,
                status: $crate::store::runs::RunStatus,
                o: &$crate::store::runs::RunOutcome,
                now: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                let moved = sqlx::query(
                    "UPDATE runs SET status = $3, finished_at = $4, lease_until = NULL,
                       rows_in = $5, rows_accepted = $6, rows_rejected = $7, bytes = $8,
                       raw_sha256 = $9, error = $10
                     WHERE id = $1 AND instance = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(instance)
                .bind(status.as_str())
                .bind(now)
                .bind(o.rows_in)
                .bind(o.rows_accepted)
                .bind(o.rows_rejected)
                .bind(o.bytes)
                .bind(&o.raw_sha256)
                .bind(&o.error)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Err($crate::domain::RegistryError::Conflict(format!(
                        "run {id} is no longer held by {instance}: its lease ran out and another instance may have taken it over"
                    ))
                    .into());
                }
                if let Some(report) = &o.report {
                    sqlx::query("INSERT INTO run_reports (run_id, report) VALUES ($1, $2)")
                        .bind(id)
                        .bind(sqlx::types::Json(report))
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(v) = &o.version {
                    sqlx::query(
                        "INSERT INTO extract_versions
                           (collection, provider, period, version, run_id, path, raw_path, raw_sha256,
                            bytes, rows_accepted, rows_rejected, report, landed_at, etag)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    )
                    .bind(&v.collection)
                    .bind(&v.provider)
                    .bind(&v.period)
                    .bind(v.version)
                    .bind(v.run_id)
                    .bind(&v.path)
                    .bind(&v.raw_path)
                    .bind(&v.raw_sha256)
                    .bind(v.bytes)
                    .bind(v.rows_accepted)
                    .bind(v.rows_rejected)
                    .bind(&v.report)
                    .bind(v.landed_at)
                    .bind(&v.etag)
                    .execute(&mut *tx)
                    .await?;
                    $crate::store::holds::record_holds!(tx, v, o.held.0, &o.held.1);
                }
                if status.landed() {
                    // A first arrival (or an earlier one) moves the burden accounts; a nil return
                    // counts here too, which only makes the pages read them once more.
                    sqlx::query(
                        "UPDATE counters SET value = value + 1
                         WHERE name = 'arrivals' AND NOT EXISTS (
                           SELECT 1 FROM runs me JOIN runs r
                             ON r.collection = me.collection AND r.provider = me.provider
                            AND r.arrived = me.arrived AND r.id <> me.id
                           WHERE me.id = $1 AND r.status IN ('landed', 'late', 'amended')
                             AND r.finished_at <= me.finished_at)",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    // Last, so that the counter's lock is held only until the commit: the
                    // run takes the next mark (see `Settled`).
                    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'settled'")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE runs SET settled = (SELECT value FROM counters WHERE name = 'settled')
                         WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn landed_counts(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Vec<(String, bool, i64)>> {
                // Counted by what the column holds (a CASE of integer literals is an INT4
                // on PostgreSQL, which an i64 will not decode).
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT collection, arrived, COUNT(*) AS n
                     FROM runs
                     WHERE status IN ('landed', 'late', 'amended') AND finished_at >= $1
                     GROUP BY collection, arrived",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(c, arrived, n)| {
                        let arrived: $crate::domain::Arrival = arrived.parse()?;
                        Ok((c, arrived != $crate::domain::Arrival::Pulled, n))
                    })
                    .collect()
            }

            async fn run(&self, id: i64) -> anyhow::Result<Option<$crate::store::runs::RunRow>> {
                Ok(sqlx::query_as("SELECT * FROM runs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn run_report(&self, id: i64) -> anyhow::Result<Option<serde_json::Value>> {
                let row: Option<(sqlx::types::Json<serde_json::Value>,)> =
                    sqlx::query_as("SELECT report FROM run_reports WHERE run_id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(r,)| r.0))
            }

            async fn expire_leases(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<u64> {
                Ok(sqlx::query(concat!(
                    "UPDATE runs SET status = ",
                    $crate::store::runs::let_go_status!(),
                    ", finished_at = $1, lease_until = NULL,
                       error = 'the instance holding it stopped renewing its lease'
                     WHERE status = 'running' AND lease_until <= $1"
                ))
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn release_abandoned(
                &self,
                prefix: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                // Always `due`: the new instance is started by an operator or a supervisor,
                // whose restart delay paces a pull that kills it, where another instance's
                // step would not.
                Ok(sqlx::query(
                    "UPDATE runs SET status = 'due', finished_at = $1, lease_until = NULL,
                       error = 'the scheduler pulling it stopped without finishing it'
                     WHERE status = 'running' AND substr(instance, 1, length($2)) = $2",
                )
                .bind(now)
                .bind(prefix)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn release_runs(
                &self,
                instance: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                Ok(sqlx::query(
                    "UPDATE runs SET status = 'due', finished_at = $2, lease_until = NULL,
                       error = 'released when its instance shut down'
                     WHERE instance = $1 AND status = 'running'",
                )
                .bind(instance)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn runs(
                &self,
                f: &$crate::store::runs::RunFilter,
            ) -> anyhow::Result<Vec<$crate::store::runs::RunRow>> {
                // Only the filters given are in the SQL, so that a provider's runs are read
                // through `runs_by_provider` rather than by scanning the ledger ("$n IS NULL
                // OR …" hides the index from the planner). The text is fixed; values are bound.
                let mut sql = String::from("SELECT * FROM runs WHERE 1 = 1");
                let mut n = 0;
                let mut next = |column: &str| {
                    n += 1;
                    format!(" AND {column} ${n}")
                };
                if f.collection.is_some() {
                    sql.push_str(&next("collection ="));
                }
                if f.provider.is_some() {
                    sql.push_str(&next("provider ="));
                }
                if f.status.is_some() {
                    sql.push_str(&next("status ="));
                }
                if f.finished_after.is_some() {
                    sql.push_str(&next("finished_at >"));
                }
                if f.period_from.is_some() {
                    sql.push_str(&next("period >="));
                }
                sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                if let Some(c) = &f.collection {
                    q = q.bind(c);
                }
                if let Some(p) = &f.provider {
                    q = q.bind(p);
                }
                if let Some(s) = &f.status {
                    q = q.bind(s.as_str());
                }
                if let Some(t) = f.finished_after {
                    q = q.bind(t);
                }
                if let Some(p) = &f.period_from {
                    q = q.bind(p);
                }
                Ok(q.bind(f.limit).fetch_all(&self.pool).await?)
            }

            async fn next_version(
                &self,
                key: &$crate::domain::RunKey,
            ) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM extract_versions
                     WHERE collection = $1 AND provider = $2 AND period = $3",
                )
                .bind(&key.collection)
                .bind(&key.provider)
                .bind(key.period.to_string())
                .fetch_one(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use let_go_status;
pub(crate) use run_ledger;
