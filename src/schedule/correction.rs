//! A correction previewed before it is sent: a file for a period that has landed already is
//! checked as its upload would be, in a scratch lake, and compared with the period's current
//! version on the collection's key. Nothing is kept and no run is recorded; the provider
//! sees what the correction would change, and confirms it or not.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::request;
use super::trial::{check, slot};
use super::upload::UploadError;
use crate::connectors::ConnectorConfig;
use crate::connectors::Format;
use crate::connectors::upload::Upload;
use crate::domain::definition::Slug;
use crate::landing::Outcome;
use crate::landing::diff::{Changes, changes};
use crate::landing::lake::Lake;
use crate::landing::raw::hash_raw;
use crate::registry::Registry;

/// What a correction would do to a period that has landed.
#[derive(Debug, Clone)]
pub struct Preview {
    pub collection: String,
    pub title: String,
    /// The items rows are matched on: the collection's key.
    pub key: Vec<String>,
    pub provider: String,
    pub period: String,
    /// The period's current version, its rows, and when it landed.
    pub version: i64,
    pub rows_before: u64,
    pub landed_at: DateTime<Utc>,
    /// What the file would land: rows kept and turned away, or why it would not be taken.
    pub rows_kept: u64,
    pub rows_rejected: u64,
    pub rejected: Option<String>,
    /// The same bytes as the current version: sent, it would change nothing.
    pub same_file: bool,
    /// Row by row on the key, when the collection has one.
    pub changes: Option<Changes>,
    /// The validation report the upload would get.
    pub report: String,
}

impl Preview {
    /// It would remove more than half of the period's rows.
    pub fn drastic(&self) -> bool {
        self.rows_kept * 2 < self.rows_before
    }
}

/// Previews `file` (named `name`) as a correction of `provider`'s `period` of `collection`.
/// `None` when the period has not landed: the file is a first delivery, not a correction.
/// A request the upload would refuse is the same error here.
pub async fn preview(
    registry: &Registry,
    collection: &str,
    provider: &str,
    period: &str,
    file: &Path,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Preview>> {
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
    if !matches!(Format::from_name(name), Some(Format::Csv | Format::Xlsx)) {
        return Err(UploadError::WrongKind(name.chars().take(80).collect()).into());
    }
    if Slug::parse(collection).is_err() {
        let shown: String = collection.chars().take(60).collect();
        return Err(UploadError::NotACollection(format!("{shown:?}")).into());
    }
    let listed = registry.require_listed(collection, now).await?;
    let key = request::by_hand(registry, collection, provider, period, now).await?;
    let Some(current) = registry.store().current_version(&key).await? else {
        return Ok(None);
    };
    let def = &listed.def;
    let _slot = slot().await?;
    let scratch = tempfile::Builder::new()
        .prefix("tally-preview-")
        .tempdir()?;
    let lake = Lake::new(scratch.path());
    let connector = ConnectorConfig::Upload(Upload {
        path: file.to_owned(),
        name: name.to_owned(),
    });
    let outcome = check(def, &key, &connector, Path::new(""), &lake).await?;
    let sha = {
        let (lake, key, file) = (lake.clone(), key.clone(), file.to_owned());
        tokio::task::spawn_blocking(move || hash_raw(&lake, &key, &file, "", false))
            .await??
            .0
    };
    let mut preview = Preview {
        collection: key.collection.clone(),
        title: def.title.clone(),
        key: def.key.clone(),
        provider: key.provider.clone(),
        period: key.period.to_string(),
        version: current.version,
        rows_before: current.rows_accepted.max(0) as u64,
        landed_at: current.landed_at,
        rows_kept: 0,
        rows_rejected: 0,
        rejected: None,
        same_file: !current.raw_sha256.is_empty() && current.raw_sha256 == sha,
        changes: None,
        report: String::new(),
    };
    match outcome {
        Outcome::Rejected(report) => {
            preview.rows_rejected = report.rows_rejected;
            preview.rejected = report.rejected.clone();
            preview.report = report.text();
        }
        Outcome::Ready(pending, report) => {
            preview.rows_kept = report.rows_accepted;
            preview.rows_rejected = report.rows_rejected;
            preview.report = report.text();
            let after = pending.commit(1)?;
            // A version written by an older Tally, or under an older definition, may not
            // compare: then only the counts are shown.
            preview.changes = changes(def, Path::new(&current.path), &after)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "Could not compare a correction with its version.");
                    None
                });
        }
    }
    Ok(Some(preview))
}
