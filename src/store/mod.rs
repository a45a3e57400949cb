//! Where the register lives: a small trait with a SQLite implementation (the embedded
//! default) and a PostgreSQL one (several instances), both written once in `sql.rs`.
//!
//! The store only persists; what may happen (who may list what, which checks block) is
//! decided in `registry`. Each method that changes state does so in one transaction, and
//! state-changing updates name the state they expect, so two DAP members acting at once
//! cannot both succeed.

pub mod access;
pub mod burden;
pub mod enquiries;
pub mod exceptions;
pub mod holds;
pub mod lock;
pub mod notices;
mod postgres;
pub mod queries;
pub mod readiness;
pub mod runs;
pub mod settled;
pub mod signoffs;
mod sql;
mod sqlite;
pub mod versions;

use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;

use crate::domain::budget::Budget;
use crate::domain::definition::CollectionDef;
use crate::domain::finding::Finding;
use crate::domain::finding::Override;
use crate::domain::provider::Provider;
use crate::domain::{CollectionStatus, Step};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct CollectionRow {
    pub slug: String,
    #[sqlx(try_from = "String")]
    pub status: CollectionStatus,
    pub licence_number: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct VersionRow {
    pub slug: String,
    pub version: i64,
    #[sqlx(try_from = "String")]
    pub status: CollectionStatus,
    pub definition: Json<CollectionDef>,
    pub source_toml: String,
    pub sha256: String,
    pub source_file: Option<String>,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub findings: Json<Vec<Finding>>,
    pub listed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The first day the collection is owed; none for versions listed before notice was
    /// kept, which were owed from the day they were listed.
    pub effective_from: Option<NaiveDate>,
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct DecisionRow {
    pub id: i64,
    pub slug: String,
    pub version: Option<i64>,
    #[sqlx(try_from = "String")]
    pub action: Step,
    pub actor: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub licence_number: Option<String>,
    #[schema(value_type = Vec<Finding>)]
    pub findings: Json<Vec<Finding>>,
    #[schema(value_type = Vec<Override>)]
    pub overrides: Json<Vec<Override>>,
}

/// A provider as stored: kinds and codes as text, turned back into types on the way out.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct ProviderRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub region: String,
    pub icb: Option<String>,
    pub local_authority: Option<String>,
    pub opened_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub successor: Option<String>,
}

impl ProviderRow {
    fn into_provider(self) -> anyhow::Result<Provider> {
        use crate::domain::provider::{ProviderCode, ProviderKind};
        let code = ProviderCode::parse(&self.code).map_err(anyhow::Error::msg)?;
        Ok(Provider {
            kind: ProviderKind::parse(&self.kind)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("provider {code} in the store"))?,
            successor: self
                .successor
                .as_deref()
                .map(ProviderCode::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            code,
            name: self.name,
            region: self.region,
            icb: self.icb,
            local_authority: self.local_authority,
            opened_on: self.opened_on,
            closed_on: self.closed_on,
        })
    }
}

/// The two counters a kept reading of the register is labelled with: the register's
/// revision, and how often a run has landed as a first arrival (or an earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revisions {
    pub register: i64,
    pub arrivals: i64,
}

/// A new version of a collection, with the check findings at the moment it was proposed.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub definition: CollectionDef,
    pub source_toml: String,
    pub sha256: String,
    pub source_file: Option<String>,
    pub findings: Vec<Finding>,
}

/// One entry for the append-only decision log.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub action: Step,
    pub actor: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub findings: Vec<Finding>,
    pub overrides: Vec<Override>,
}

/// A change of status, applied with its decision in one transaction.
#[derive(Debug, Clone)]
pub enum Change {
    /// The pending version comes into force; collections it retires go out in the same step.
    List {
        version: i64,
        expires_at: DateTime<Utc>,
        effective_from: NaiveDate,
        retire: Vec<(String, NewDecision)>,
    },
    Reject {
        version: i64,
    },
    Suspend,
    Reinstate,
    Retire,
}

#[async_trait]
pub trait Store:
    runs::RunLedger
    + versions::Versions
    + settled::Settled
    + access::Access
    + exceptions::Exceptions
    + queries::QueryLicences
    + readiness::Readiness
    + notices::Notices
    + enquiries::Enquiries
    + holds::Holds
    + signoffs::SignOffs
    + burden::BurdenRecords
    + Send
    + Sync
{
    /// `sqlite` or `postgres`, for messages.
    fn backend(&self) -> &'static str;
    async fn collection(&self, slug: &str) -> anyhow::Result<Option<CollectionRow>>;
    async fn collections(&self) -> anyhow::Result<Vec<CollectionRow>>;
    /// Every version of one collection, oldest first.
    async fn versions(&self, slug: &str) -> anyhow::Result<Vec<VersionRow>>;
    /// Every version of every collection, by collection and then oldest first.
    async fn every_version(&self) -> anyhow::Result<Vec<VersionRow>>;
    /// The decision log, oldest first; of one collection, or of all.
    async fn decisions(&self, slug: Option<&str>) -> anyhow::Result<Vec<DecisionRow>>;
    /// Records a proposal as the next version; an older proposal still pending is withdrawn.
    async fn add_version(&self, v: &NewVersion, d: &NewDecision) -> anyhow::Result<i64>;
    /// How many changes the checks could see have been made: decisions, budget changes and
    /// provider imports.
    async fn revision(&self) -> anyhow::Result<i64>;
    /// The register's revision and the ledger's arrivals revision
    /// ([`burden::BurdenRecords::arrivals_revision`]) in one statement: what every kept
    /// reading of the register is labelled with.
    async fn revisions(&self) -> anyhow::Result<Revisions>;
    /// Applies a decision; returns the collection's licence number after it. With
    /// `checked_at`, the revision its checks were run on, a register that has changed since
    /// is refused with `RegistryError::Stale`.
    async fn apply(
        &self,
        slug: &str,
        change: &Change,
        d: &NewDecision,
        checked_at: Option<i64>,
    ) -> anyhow::Result<Option<String>>;
    /// Adds or updates providers by code, all or none; one new to the register is recorded
    /// as joining it `at`.
    async fn import_providers(
        &self,
        providers: &[Provider],
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;
    async fn providers(&self) -> anyhow::Result<Vec<Provider>>;
    async fn set_budget(&self, b: &Budget) -> anyhow::Result<()>;
    async fn budget(&self) -> anyhow::Result<Option<Budget>>;
}

/// Opens the store a database URL names, creating and migrating it as needed.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        bail!(
            "unsupported database URL {}: expected sqlite://<file> or postgres://<host>/<database>",
            redact(url)
        )
    }
}

/// A database URL fit for messages and logs: any password, in the user part or in the
/// query (`?password=…`), is replaced by `***`. What cannot be read as a URL with a host
/// shows only its scheme, in case the rest holds a secret.
pub fn redact(url: &str) -> String {
    let scheme_only = || match url.split_once(':') {
        Some((scheme, _))
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            format!("{scheme}:…")
        }
        _ => "(unreadable URL)".into(),
    };
    let Ok(mut u) = url::Url::parse(url) else {
        return scheme_only();
    };
    if u.cannot_be_a_base() && u.scheme() != "sqlite" {
        return scheme_only();
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let k_ = k.to_ascii_lowercase();
                let secret = [
                    "password",
                    "token",
                    "key",
                    "secret",
                    "sig",
                    "auth",
                    "credential",
                ]
                .iter()
                .any(|w| k_.contains(w));
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Formats the numbers kept in `licences` as the register shows them.
pub fn licence_number(n: i64) -> String {
    format!("DAP{n:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://tally:s3cret@db.example:5432/tally"),
            "postgres://tally:***@db.example:5432/tally"
        );
        assert_eq!(
            redact("postgres://127.0.0.1/test"),
            "postgres://127.0.0.1/test"
        );
        assert_eq!(redact("secret-without-scheme"), "(unreadable URL)");
        assert_eq!(redact("sqlite:data/tally.db"), "sqlite:data/tally.db");
        assert_eq!(redact("sqlite://data/tally.db"), "sqlite://data/tally.db");
        assert_eq!(
            redact("postgres://db.example/tally?user=tally&password=s3cret&sslmode=require"),
            "postgres://db.example/tally?user=tally&password=***&sslmode=require"
        );
        assert_eq!(
            redact("postgres://db/tally?sslpassword=s3cret"),
            "postgres://db/tally?sslpassword=***"
        );
        // Missing "//": the userinfo is read as a path, so only the scheme is shown.
        assert_eq!(redact("tally:s3cret@db/tally"), "tally:…");
        assert_eq!(
            redact("mysql://root:pw@localhost/x"),
            "mysql://root:***@localhost/x"
        );
    }

    #[test]
    fn licence_numbers_are_padded() {
        assert_eq!(licence_number(1), "DAP0001");
        assert_eq!(licence_number(12345), "DAP12345");
    }
}
