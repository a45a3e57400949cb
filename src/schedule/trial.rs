//! A dry run: a file a provider hands over, or the provider's source, read and checked
//! exactly as a period's extract would be (the same limits, the same report), with nothing
//! kept. No run enters the ledger and nothing reaches the lake; only the outcome is recorded
//! as a readiness check, so that DAP sees who is ready before a collection is owed.
//!
//! A collection that is coming (listed, its effective date still ahead) may be tried, and
//! so may any period of its kind: a trial is for getting ready, not for sending.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::request::{self, RequestError};
use super::upload::{UploadError, WAIT};

/// Dry runs at once: fewer than uploads' slots of their own, so that slow sources tried
/// never keep a real upload waiting.
static TRIALS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
use crate::connectors::upload::Upload;
use crate::connectors::{ConnectorConfig, Fetch, Format, Sources};
use crate::domain::definition::Slug;
use crate::domain::{Period, RunKey};
use crate::landing::lake::Lake;
use crate::landing::{Outcome, Report};
use crate::registry::Registry;
use crate::store::readiness::NewReadinessCheck;

/// What was tried.
#[derive(Debug, Clone)]
pub enum Tried {
    /// A file handed over: where it lies, and the name it was given (which says its kind).
    File { path: PathBuf, name: String },
    /// The provider's source, as the scheduler would pull it.
    Source,
}

/// What a dry run came to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trial {
    /// The readiness check recorded.
    pub id: i64,
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// `file` or `source`.
    pub tried: &'static str,
    /// Every row would land: the extract was read, and no row or check turned anything away.
    pub passed: bool,
    pub rows_in: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Columns that are not listed items: they would be dropped before anything was stored.
    pub dropped_columns: Vec<String>,
    /// The validation report in words, as a real run's would read.
    pub report: String,
}

impl Trial {
    /// One line for the provider.
    pub fn summary(&self) -> String {
        let what = match self.tried {
            "source" => "Your source system",
            _ => "The file",
        };
        let nothing = "Nothing was kept and nothing was sent.";
        if self.passed {
            format!(
                "{what} passes for {} {}: all {} rows would land. {nothing}",
                self.collection, self.period, self.rows_accepted
            )
        } else if self.rows_accepted > 0 {
            format!(
                "{what} would land {} rows for {} {} and turn {} away; the report says why. {nothing}",
                self.rows_accepted, self.collection, self.period, self.rows_rejected
            )
        } else {
            format!(
                "{what} would not be taken for {} {}; the report says why. {nothing}",
                self.collection, self.period
            )
        }
    }
}

/// Which period of which collection, for which provider, as the request gave them.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub collection: &'a str,
    pub provider: &'a str,
    pub period: &'a str,
}

/// Tries `what` for one provider's period of a collection, and records the outcome as
/// tried by `by`.
pub async fn dry_run(
    registry: &Registry,
    sources: &Sources,
    ask: Ask<'_>,
    what: Tried,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Trial> {
    let Ask {
        collection,
        provider,
        period,
    } = ask;
    if let Tried::File { name, .. } = &what
        && !matches!(Format::from_name(name), Some(Format::Csv | Format::Xlsx))
    {
        return Err(UploadError::WrongKind(name.chars().take(80).collect()).into());
    }
    if Slug::parse(collection).is_err() {
        let shown: String = collection.chars().take(60).collect();
        return Err(UploadError::NotACollection(format!("{shown:?}")).into());
    }
    let licensed = registry.require_listed(collection, now).await?;
    let def = &licensed.def;
    let period = Period::parse(period).map_err(|e| RequestError::BadPeriod(e.into()))?;
    request::of_kind(def, &period)?;
    let providers = registry.providers().await?;
    let Some(who) = providers.iter().find(|p| p.code.as_str() == provider) else {
        return Err(RequestError::UnknownProvider(provider.into()).into());
    };
    request::asked_of(def, who)?;
    let key = RunKey {
        collection: collection.into(),
        provider: provider.into(),
        period,
    };
    let (connector, base, tried) = match what {
        Tried::File { path, name } => {
            let name = name
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .to_owned();
            (
                ConnectorConfig::Upload(Upload { path, name }),
                PathBuf::new(),
                "file",
            )
        }
        Tried::Source => {
            let Some(source) = sources.find(collection, provider) else {
                return Err(crate::domain::RegistryError::Refused(format!(
                    "no source system is set up for {collection} from {provider}: connect one, or try a file"
                ))
                .into());
            };
            (source.connector.clone(), sources.base.clone(), "source")
        }
    };
    let _slot = slot().await?;
    // Read and checked in a lake of its own, removed with everything in it when the trial
    // ends: nothing reaches the real one.
    let scratch = tempfile::Builder::new().prefix("tally-trial-").tempdir()?;
    let report = match check(def, &key, &connector, &base, &Lake::new(scratch.path())).await? {
        Outcome::Ready(_, report) | Outcome::Rejected(report) => report,
    };
    let passed = report.rejected.is_none() && report.rows_rejected == 0 && report.rows_in > 0;
    let mut trial = Trial {
        id: 0,
        collection: key.collection.clone(),
        provider: key.provider.clone(),
        period: key.period.to_string(),
        tried,
        passed,
        rows_in: report.rows_in,
        rows_accepted: if report.rejected.is_some() {
            0
        } else {
            report.rows_accepted
        },
        rows_rejected: report.rows_rejected,
        dropped_columns: report.dropped_columns.clone(),
        report: report.text(),
    };
    let summary = match &report.rejected {
        Some(why) => super::standing::plain_note(why),
        None if passed => format!("all {} rows would land", report.rows_accepted),
        None if report.rows_in == 0 => "the extract holds no rows".into(),
        None => format!(
            "{} rows would land and {} would be turned away",
            report.rows_accepted, report.rows_rejected
        ),
    };
    trial.id = registry
        .store()
        .record_readiness(&NewReadinessCheck {
            collection: trial.collection.clone(),
            provider: trial.provider.clone(),
            period: trial.period.clone(),
            tried,
            passed,
            rows_in: trial.rows_in as i64,
            rows_accepted: trial.rows_accepted as i64,
            rows_rejected: trial.rows_rejected as i64,
            summary: summary.chars().take(500).collect(),
            tried_by: by.chars().take(120).collect(),
            tried_at: now,
        })
        .await?;
    tracing::info!(
        collection = %trial.collection,
        provider = %trial.provider,
        period = %trial.period,
        tried,
        passed,
        "Recorded a dry run."
    );
    Ok(trial)
}

/// A turn to read and check a file that is not landed (a dry run, a correction's preview):
/// a few at once, so that they never keep a real upload waiting.
pub(super) async fn slot() -> anyhow::Result<tokio::sync::SemaphorePermit<'static>> {
    Ok(tokio::time::timeout(WAIT, TRIALS.acquire())
        .await
        .map_err(|_| UploadError::Busy)?
        .expect("the semaphore is never closed"))
}

/// Fetches and checks the extract in `lake`, a scratch lake of the caller's; what landing
/// made of it, whatever it says. A source that cannot be reached is rejected too, saying why.
pub(super) async fn check(
    def: &crate::domain::definition::CollectionDef,
    key: &RunKey,
    connector: &ConnectorConfig,
    base: &Path,
    lake: &Lake,
) -> anyhow::Result<Outcome> {
    let failed = |why: String| {
        Outcome::Rejected(Report {
            collection: key.collection.clone(),
            provider: key.provider.clone(),
            period: key.period.to_string(),
            rejected: Some(why),
            ..Report::default()
        })
    };
    let work = lake.incoming();
    let fetched = match connector
        .fetch(key, base, &work, None, def.frequency.timezone)
        .await
    {
        Ok(Fetch::Got(f)) => f,
        Ok(Fetch::Unchanged) => {
            return Ok(failed(
                "the source answered that nothing has changed, so there was nothing to check"
                    .into(),
            ));
        }
        Err(e) => return Ok(failed(format!("the source could not be read: {e:#}"))),
    };
    let (outcome, _converted) = super::pull::land(def, key, &fetched, lake).await?;
    Ok(outcome)
}
