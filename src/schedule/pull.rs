//! One pull: the step the runner loop repeats and `tally pull` runs by hand. It asks the
//! register first (rule 1), claims the run, fetches the extract through its source, keeps the
//! raw input, lands it, and records the outcome in the run ledger, whatever happens.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::timetable::{RunKey, deadline};
use crate::connectors::Sources;
use crate::landing::lake::Lake;
use crate::landing::{Outcome, Report, land_csv};
use crate::registry::{Registry, RegistryError};
use crate::store::runs::{ExtractVersion, RunOutcome, RunStatus};

/// How long a claim is held before another instance may take it over. Long enough for a
/// slow source and a large extract between renewals; short enough that a dead instance's
/// runs are picked up within minutes.
pub const LEASE: i64 = 15 * 60;

#[derive(Debug, Clone, Serialize)]
pub struct Pulled {
    pub key: RunKey,
    /// `landed`, `late`, `rejected`, `failed`, `refused`, or `skipped` when another
    /// instance holds it or it has landed already.
    pub status: String,
    pub run_id: Option<i64>,
    pub version: Option<i64>,
    pub message: String,
    pub report: Option<Report>,
}

/// Hashes the raw input and, when `keep`, copies it into the lake under its sha256 for audit.
fn hash_raw(
    lake: &Lake,
    key: &RunKey,
    raw: &Path,
    keep: bool,
) -> anyhow::Result<(String, i64, Option<std::path::PathBuf>)> {
    let mut input =
        std::fs::File::open(raw).with_context(|| format!("cannot read {}", raw.display()))?;
    let dir = lake
        .raw_path(key, "x", "csv")
        .parent()
        .map(Path::to_path_buf)
        .context("raw folder")?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let mut out: Box<dyn Write> = if keep {
        std::fs::create_dir_all(&dir)?;
        Box::new(std::fs::File::create(&tmp)?)
    } else {
        Box::new(std::io::sink())
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0i64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        bytes += n as i64;
    }
    out.flush()?;
    drop(out);
    let sha = hex::encode(hasher.finalize());
    if !keep {
        return Ok((sha, bytes, None));
    }
    std::fs::File::open(&tmp)?.sync_all()?;
    let path = lake.raw_path(key, &sha, "csv");
    std::fs::rename(&tmp, &path)?;
    Ok((sha, bytes, Some(path)))
}

pub async fn pull(
    registry: &Registry,
    sources: &Sources,
    lake: &Lake,
    key: &RunKey,
    instance: &str,
    now: DateTime<Utc>,
    again: bool,
) -> anyhow::Result<Pulled> {
    let store = registry.store();
    let lease = now + Duration::seconds(LEASE);
    let mut pulled = Pulled {
        key: key.clone(),
        status: "skipped".into(),
        run_id: None,
        version: None,
        message: String::new(),
        report: None,
    };
    let licensed = registry.require_listed(&key.collection, now).await;
    let Some(run) = store.claim_run(key, instance, now, lease, again).await? else {
        pulled.message = format!(
            "{} for {} {} has landed already or another instance is pulling it; use --again to pull it again",
            key.collection, key.provider, key.period
        );
        return Ok(pulled);
    };
    pulled.run_id = Some(run.id);
    // Times in the ledger follow `now`, so that a run's end is `now` plus how long it took,
    // whatever clock the caller keeps (tests drive the runner with fixed instants).
    let started = std::time::Instant::now();
    let finish = |status: RunStatus, outcome: RunOutcome| async move {
        let took = Duration::from_std(started.elapsed()).unwrap_or_default();
        store
            .finish_run(run.id, instance, status, &outcome, now + took)
            .await
    };
    let failed = |message: String| RunOutcome {
        error: Some(message),
        ..RunOutcome::default()
    };
    let licensed = match licensed {
        Ok(l) => l,
        Err(e) => {
            let message = match e.downcast_ref::<RegistryError>() {
                Some(r @ RegistryError::NotLicensed { .. }) => r.to_string(),
                _ => return Err(e),
            };
            finish(RunStatus::Refused, failed(message.clone())).await?;
            pulled.status = "refused".into();
            pulled.message = message;
            return Ok(pulled);
        }
    };
    let def = &licensed.def;
    let Some(source) = sources.find(&key.collection, &key.provider) else {
        let message = format!(
            "no source is set up for {} from {}: add a [[source]] to the sources file",
            key.collection, key.provider
        );
        finish(RunStatus::Failed, failed(message.clone())).await?;
        pulled.status = "failed".into();
        pulled.message = message;
        return Ok(pulled);
    };
    let work = lake.root.join("_incoming");
    let fetched = match source.connector.fetch(key, &sources.base, &work).await {
        Ok(f) => f,
        Err(e) => {
            let message = format!("{e:#}");
            finish(RunStatus::Failed, failed(message.clone())).await?;
            pulled.status = "failed".into();
            pulled.message = message;
            return Ok(pulled);
        }
    };
    let outcome = land_csv(def, key, &fetched.path, lake).await?;
    // The raw input is kept for audit only when it holds nothing but listed items: columns
    // that are not listed are never stored (rule 8), so such an input keeps only its hash.
    let report = match &outcome {
        Outcome::Ready(_, r) | Outcome::Rejected(r) => r,
    };
    let (sha, bytes, raw_path) =
        hash_raw(lake, key, &fetched.path, report.dropped_columns.is_empty())?;
    if fetched.temporary {
        let _ = std::fs::remove_file(&fetched.path);
    }
    let raw_path = raw_path.map_or_else(
        || {
            format!(
                "(not kept: it held columns that are not listed items: {})",
                report.dropped_columns.join(", ")
            )
        },
        |p| p.display().to_string(),
    );
    let mut ledger = RunOutcome {
        bytes: Some(bytes),
        raw_sha256: Some(sha.clone()),
        ..RunOutcome::default()
    };
    match outcome {
        Outcome::Rejected(report) => {
            ledger.rows_in = Some(report.rows_in as i64);
            ledger.rows_accepted = Some(0);
            ledger.rows_rejected = Some(report.rows_rejected as i64);
            ledger.error = report.rejected.clone();
            finish(RunStatus::Rejected, ledger).await?;
            pulled.status = "rejected".into();
            pulled.message = report.text();
            pulled.report = Some(report);
        }
        Outcome::Ready(pending, report) => {
            let version = store.next_version(key).await?;
            let path = pending.commit(version)?;
            store
                .record_version(&ExtractVersion {
                    collection: key.collection.clone(),
                    provider: key.provider.clone(),
                    period: key.period.to_string(),
                    version,
                    run_id: run.id,
                    path: path.display().to_string(),
                    raw_path,
                    raw_sha256: sha,
                    bytes,
                    rows_accepted: report.rows_accepted as i64,
                    rows_rejected: report.rows_rejected as i64,
                    report: sqlx::types::Json(serde_json::to_value(&report)?),
                    landed_at: now + Duration::from_std(started.elapsed()).unwrap_or_default(),
                })
                .await?;
            let status = if now > deadline(def, &key.period) {
                RunStatus::Late
            } else {
                RunStatus::Landed
            };
            ledger.rows_in = Some(report.rows_in as i64);
            ledger.rows_accepted = Some(report.rows_accepted as i64);
            ledger.rows_rejected = Some(report.rows_rejected as i64);
            finish(status, ledger).await?;
            pulled.status = status.as_str().into();
            pulled.version = Some(version);
            pulled.message = report.text();
            pulled.report = Some(report);
        }
    }
    Ok(pulled)
}
