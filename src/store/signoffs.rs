//! Sign-offs of pulled periods: the standing sign-offs a provider gives for a collection
//! (who, for periods from which day, until revoked), and the versions it signs off one by
//! one. Which periods are still unsigned is worked out from these in `registry::signoff`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// A standing sign-off: `given_by` vouches for every period of `collection` pulled from
/// `provider`'s source that starts on or after `from_day`, until it is revoked.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Standing {
    pub id: i64,
    pub collection: String,
    pub provider: String,
    /// The first day of the first period it covers.
    pub from_day: NaiveDate,
    pub given_by: String,
    pub given_at: DateTime<Utc>,
    pub revoked_by: Option<String>,
    /// From this instant, periods pulled are signed off one by one again.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Standing {
    pub fn in_force(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Whether it vouches for a version of a period starting on `first_day`, pulled at
    /// `landed_at`: a version pulled after the revocation is not covered, one pulled before
    /// it stays covered.
    pub fn covers(&self, first_day: NaiveDate, landed_at: DateTime<Utc>) -> bool {
        first_day >= self.from_day && self.revoked_at.is_none_or(|r| landed_at < r)
    }
}

/// A version pulled from a provider's source, with its own sign-off when it has one.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PulledVersion {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    pub landed_at: DateTime<Utc>,
    pub signed_by: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
}

/// Which pulled versions `pulled_versions` lists.
#[derive(Debug, Clone, Default)]
pub struct PulledFilter {
    pub collection: Option<String>,
    pub provider: Option<String>,
    /// Periods from `first` to `last`, as their names sort (one kind of period at a time).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Only versions that are their period's current one.
    pub current: bool,
}

#[async_trait::async_trait]
pub trait SignOffs: Send + Sync {
    /// Standing sign-offs, revoked ones too, oldest first.
    async fn standing_signoffs(
        &self,
        collection: Option<&str>,
        provider: Option<&str>,
    ) -> anyhow::Result<Vec<Standing>>;
    /// Records a standing sign-off; `None` when one is in force for the collection already.
    async fn give_standing(
        &self,
        collection: &str,
        provider: &str,
        from_day: NaiveDate,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<i64>>;
    /// Revokes the standing sign-off in force; false when there is none.
    async fn revoke_standing(
        &self,
        collection: &str,
        provider: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
    /// Versions that arrived by a pull, with their sign-offs, by period, provider, version.
    async fn pulled_versions(&self, filter: &PulledFilter) -> anyhow::Result<Vec<PulledVersion>>;
    /// Records that `by` signed off `version`; false unless it is the period's current
    /// version, was pulled, and is not signed off already.
    #[allow(clippy::too_many_arguments)]
    async fn sign_period(
        &self,
        collection: &str,
        provider: &str,
        period: &str,
        version: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
}

/// The condition that the version `v` is its period's current one.
macro_rules! is_current {
    () => {
        "v.version = (SELECT MAX(w.version) FROM extract_versions w
                       WHERE w.collection = v.collection AND w.provider = v.provider
                         AND w.period = v.period)"
    };
}

/// The SQL for `SignOffs`, written once for both backends like `sql_store!`.
macro_rules! signoffs_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::signoffs::SignOffs for $store {
            async fn standing_signoffs(
                &self,
                collection: Option<&str>,
                provider: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::signoffs::Standing>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM standing_signoffs
                     WHERE ($1 IS NULL OR collection = $1) AND ($2 IS NULL OR provider = $2)
                     ORDER BY id",
                )
                .bind(collection)
                .bind(provider)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn give_standing(
                &self,
                collection: &str,
                provider: &str,
                from_day: chrono::NaiveDate,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Option<i64>> {
                let given: Result<Option<(i64,)>, sqlx::Error> = sqlx::query_as(
                    "INSERT INTO standing_signoffs (collection, provider, from_day, given_by, given_at)
                     VALUES ($1, $2, $3, $4, $5)
                     RETURNING id",
                )
                .bind(collection)
                .bind(provider)
                .bind(from_day)
                .bind(by)
                .bind(at)
                .fetch_optional(&self.pool)
                .await;
                match given {
                    Ok(id) => Ok(id.map(|(id,)| id)),
                    // The index on those in force lets one be in force at a time.
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }

            async fn revoke_standing(
                &self,
                collection: &str,
                provider: &str,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let moved = sqlx::query(
                    "UPDATE standing_signoffs SET revoked_by = $3, revoked_at = $4
                     WHERE collection = $1 AND provider = $2 AND revoked_at IS NULL",
                )
                .bind(collection)
                .bind(provider)
                .bind(by)
                .bind(at)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }

            async fn pulled_versions(
                &self,
                filter: &$crate::store::signoffs::PulledFilter,
            ) -> anyhow::Result<Vec<$crate::store::signoffs::PulledVersion>> {
                // Only the conditions given are written into the statement: a condition
                // like `($2 IS NULL OR v.provider = $2)` is planned before its value is
                // known, so it cannot use an index, and every call read every version
                // ever landed (12 ms a provider after 120 days of the demo).
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT v.collection, v.provider, v.period, v.version, v.landed_at,
                            s.signed_by, s.signed_at
                     FROM extract_versions v
                     JOIN runs r ON r.id = v.run_id
                     LEFT JOIN period_signoffs s
                       ON s.collection = v.collection AND s.provider = v.provider
                      AND s.period = v.period AND s.version = v.version
                     WHERE r.arrived = 'pulled'",
                );
                if let Some(c) = &filter.collection {
                    q.push(" AND v.collection = ").push_bind(c.clone());
                }
                if let Some(p) = &filter.provider {
                    q.push(" AND v.provider = ").push_bind(p.clone());
                }
                if let Some(first) = &filter.first {
                    q.push(" AND v.period >= ").push_bind(first.clone());
                }
                if let Some(last) = &filter.last {
                    q.push(" AND v.period <= ").push_bind(last.clone());
                }
                if filter.current {
                    q.push(concat!(" AND ", $crate::store::signoffs::is_current!()));
                }
                q.push(" ORDER BY v.period, v.provider, v.version");
                Ok(q.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn sign_period(
                &self,
                collection: &str,
                provider: &str,
                period: &str,
                version: i64,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let moved = sqlx::query(concat!(
                    "INSERT INTO period_signoffs
                         (collection, provider, period, version, signed_by, signed_at)
                     SELECT v.collection, v.provider, v.period, v.version, $5, $6
                     FROM extract_versions v JOIN runs r ON r.id = v.run_id
                     WHERE v.collection = $1 AND v.provider = $2 AND v.period = $3
                       AND v.version = $4 AND r.arrived = 'pulled' AND ",
                    $crate::store::signoffs::is_current!(),
                    " ON CONFLICT DO NOTHING"
                ))
                .bind(collection)
                .bind(provider)
                .bind(period)
                .bind(version)
                .bind(by)
                .bind(at)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }
        }
    };
}

pub(crate) use {is_current, signoffs_store};
