//! An upload by hand: a file a provider hands over for one period, by `tally upload`, the
//! web's form and API, or the demo's providers. There is one path, so each check lives
//! once: the file's kind; the collection listed; the request one Tally would collect
//! (`request::by_hand`: a provider that owed it, a period inside the collection's window);
//! at most a few landings at once; then the same pull as a source's extract, whose
//! correction of a period is made current only when it keeps at least half of its rows or
//! the provider has confirmed it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use super::pull::{Again, Pace, Puller, Timing};
use super::request;
use crate::connectors::upload::{UPLOADABLE, Upload};
use crate::connectors::{ConnectorConfig, Format, Source, Sources};
use crate::domain::definition::Slug;
use crate::domain::{Arrival, PullStatus, UploadStatus};
use crate::landing::lake::Lake;
use crate::registry::Registry;

/// Uploads landing at once in one process: each may read a large file and start a child to
/// read a spreadsheet, so a burst of uploads waits its turn rather than taking the machine.
const AT_ONCE: usize = 4;

/// How long an upload waits for its turn before it is refused as busy.
pub(super) const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an upload holds its claim on the period, renewed while it lands: if the
/// process dies meanwhile, the period is free again this soon (at once on SQLite, whose
/// next `tally serve` lets go of what a dead one held).
const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

static SLOTS: Semaphore = Semaphore::const_new(AT_ONCE);

/// What a provider hands over for one period.
#[derive(Debug, Clone)]
pub enum Handed {
    /// A file: as received, it stays where it is (a caller's own copy is the caller's);
    /// `name`, the name it was given, says its kind.
    File { path: PathBuf, name: String },
    /// A nil return: the provider declares it has nothing to report for the period, where
    /// the collection's definition allows one.
    Nil,
}

/// A file, or a nil return, handed over for one period.
#[derive(Debug, Clone)]
pub struct HandIn {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub handed: Handed,
    /// Where it came from, for the run ledger: `cli`, `web` or `demo`.
    pub via: &'static str,
    /// The provider has seen what the correction changes and wants it made current even
    /// though it removes more than half of the period's rows.
    pub replace: bool,
}

/// What an upload came to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Uploaded {
    pub run_id: Option<i64>,
    pub collection: String,
    pub provider: String,
    pub period: String,
    /// `landed`, `late` (the period's first version, after its deadline), `amended` (a
    /// further version: a correction), `unchanged` (the same file as the current version;
    /// nothing new is stored), `rejected` (the report says why) or `failed`.
    pub status: UploadStatus,
    /// The version this upload made, or the current one when it is unchanged.
    pub version: Option<i64>,
    /// Rows the period's current version had before this upload, when it had one.
    pub rows_before: Option<u64>,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Columns that are not listed items, dropped before anything was stored.
    pub dropped_columns: Vec<String>,
    /// The validation report in words.
    pub report: String,
    /// The period was declared a nil return: nothing to report, received with no rows.
    pub nil_return: bool,
}

/// Why an upload was not taken at all, beyond the request checks' own errors.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("\"{0}\" is not a file an upload takes; upload a {UPLOADABLE} file")]
    WrongKind(String),
    #[error("{0} is not a licensed collection; it may be ignored")]
    NotACollection(String),
    #[error(
        "an upload or pull of {collection} {provider} {period} is under way; try again when it has finished"
    )]
    UnderWay {
        collection: String,
        provider: String,
        period: String,
    },
    #[error("too many uploads are landing at once; try again in a minute")]
    Busy,
    /// The correction would remove more than half of the period's rows.
    #[error(
        "{} {} was not made current: it keeps {} of the {} rows its current version has; \
         if that is right, send it again confirming that it replaces them",
        .0.collection, .0.period, .0.rows_accepted, .0.rows_before.unwrap_or_default()
    )]
    NeedsConfirmation(Box<Uploaded>),
    #[error("the service's disk is full, so nothing was stored; try again later")]
    DiskFull,
    #[error(
        "{0} does not take nil returns: its definition expects every provider that owes a period to have something to report, so upload the period's file"
    )]
    NoNilReturn(String),
}

/// Lands one file handed over by hand, as the next version of its period.
pub async fn hand_in(
    registry: &Registry,
    lake: &Lake,
    up: HandIn,
    now: DateTime<Utc>,
    timing: Timing,
) -> anyhow::Result<Uploaded> {
    // Only the file's own name counts: a path in it is ignored, never followed.
    let file = match &up.handed {
        Handed::File { path, name } => {
            let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
            if !matches!(Format::from_name(name), Some(Format::Csv | Format::Xlsx)) {
                return Err(UploadError::WrongKind(name.chars().take(80).collect()).into());
            }
            Some((path.clone(), name.to_owned()))
        }
        Handed::Nil => None,
    };
    // A slug is checked before the register is asked, so that nothing but a slug (no
    // control character, no NUL) ever reaches its queries.
    if Slug::parse(&up.collection).is_err() {
        let shown: String = up.collection.chars().take(60).collect();
        return Err(UploadError::NotACollection(format!("{shown:?}")).into());
    }
    let listed = registry.require_listed(&up.collection, now).await?;
    if file.is_none() && !listed.def.nil_return {
        return Err(UploadError::NoNilReturn(listed.def.title.clone()).into());
    }
    let key = request::by_hand(registry, &up.collection, &up.provider, &up.period, now).await?;
    let _slot = tokio::time::timeout(WAIT, SLOTS.acquire())
        .await
        .map_err(|_| UploadError::Busy)?
        .expect("the semaphore is never closed");
    // A nil return is landed from an empty file of Tally's own: nothing but the
    // declaration, which is all the run keeps of it.
    // The empty file lives until the landing is done.
    let (path, name, _empty) = match file {
        Some((path, name)) => (path, name, None),
        None => {
            let empty = tempfile::Builder::new()
                .prefix(".nil-")
                .suffix(".csv")
                .tempfile()?;
            (
                empty.path().to_owned(),
                "nil-return.csv".to_owned(),
                Some(empty),
            )
        }
    };
    if !path.is_file() {
        anyhow::bail!("there is no file at {}", path.display());
    }
    let sources = Sources::of(
        vec![Source {
            collection: key.collection.clone(),
            provider: key.provider.clone(),
            connector: ConnectorConfig::Upload(Upload { path, name }),
        }],
        PathBuf::new(),
    );
    // The instance's name says who handed it over, for the log; the run records that it
    // was uploaded.
    let instance = format!("upload-{}-{}", up.via, uuid::Uuid::new_v4().simple());
    let pace = Pace {
        timing,
        lease: LEASE,
        ..Pace::default()
    };
    let again = Again::Correction {
        confirmed: up.replace,
    };
    let puller = Puller {
        registry,
        sources: &sources,
        lake,
        instance: &instance,
        pace,
        arrival: match up.handed {
            Handed::File { .. } => Arrival::Uploaded,
            Handed::Nil => Arrival::Nil,
        },
    };
    let p = puller.pull(&key, now, again).await?;
    if p.status == PullStatus::Skipped {
        return Err(UploadError::UnderWay {
            collection: key.collection,
            provider: key.provider,
            period: key.period.to_string(),
        }
        .into());
    }
    if p.disk_full {
        return Err(UploadError::DiskFull.into());
    }
    let report = p.report.as_ref();
    let uploaded = Uploaded {
        run_id: p.run_id,
        collection: key.collection,
        provider: key.provider,
        period: key.period.to_string(),
        status: p.status.uploaded(p.unchanged),
        version: p.version,
        rows_before: p.rows_before.map(|n| n.max(0) as u64),
        rows_accepted: if p.unchanged {
            0
        } else {
            report.map_or(0, |r| r.rows_accepted)
        },
        rows_rejected: report.map_or(0, |r| r.rows_rejected),
        dropped_columns: report
            .map(|r| r.dropped_columns.clone())
            .unwrap_or_default(),
        nil_return: report.is_some_and(|r| r.nil_return),
        report: match report {
            Some(r) if p.unchanged || p.needs_confirmation => {
                format!("{}\n{}", p.message.lines().next().unwrap_or(""), r.text())
            }
            Some(r) => r.text(),
            None => p.message.clone(),
        },
    };
    if p.needs_confirmation {
        return Err(UploadError::NeedsConfirmation(Box::new(uploaded)).into());
    }
    Ok(uploaded)
}

impl Uploaded {
    /// One line for a provider: what happened and what the period holds now.
    pub fn summary(&self) -> String {
        let version = self.version.unwrap_or_default();
        let run = self.run_id.unwrap_or_default();
        let before = self
            .rows_before
            .map(|n| format!("; the period had {n} before"))
            .unwrap_or_default();
        match self.status {
            UploadStatus::Unchanged if self.nil_return => format!(
                "{} {}: a nil return already (version {version}), so nothing new was stored (run {run}).",
                self.collection, self.period
            ),
            UploadStatus::Unchanged => format!(
                "{} {}: the same file as version {version}, so nothing new was stored (run {run}).",
                self.collection, self.period
            ),
            UploadStatus::Landed | UploadStatus::Late | UploadStatus::Amended
                if self.nil_return =>
            {
                format!(
                    "{} {} was {} as a nil return, version {version} (run {run}): nothing to report{before}.",
                    self.collection, self.period, self.status
                )
            }
            UploadStatus::Landed | UploadStatus::Late | UploadStatus::Amended => format!(
                "{} {} was {} as version {version} (run {run}): {} rows kept, {} rejected{before}.",
                self.collection, self.period, self.status, self.rows_accepted, self.rows_rejected
            ),
            other => format!(
                "{} {} was not landed ({other}, run {run}): {}",
                self.collection,
                self.period,
                self.report.trim()
            ),
        }
    }
}
