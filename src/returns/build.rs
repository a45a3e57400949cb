//! Building one return for one period: the current extract versions of each input for the
//! periods inside it, read by DataFusion as tables; the query; a fixed sort; disclosure
//! control; completeness; and an immutable numbered artifact with its manifest. A build
//! whose query and inputs are those of the latest artifact makes no new one.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use sha2::{Digest, Sha256};

pub use super::artifact::{Artifact, InputFile, Manifest, built};
use super::artifact::{period_dir, write_artifact};
use super::catalogue::ReturnDef;
use super::completeness::Completeness;
use super::disclosure;
use super::gather::{Gathered, gather, gather_each};
use super::provisional::HeldInput;
use super::query::{plain_text, prepare, retype_text, session};
use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::domain::provider::Provider;
use crate::landing::lake::Lake;
use crate::landing::pack;
use crate::registry::Registry;
use crate::store::runs::CurrentVersion;

/// Plans and runs the query over `reads`: the rows, with text as plain text again.
async fn run(
    def: &ReturnDef,
    reads: &[(CollectionDef, Vec<pack::Read>)],
    providers: &[Provider],
    held: &[HeldInput],
    started: std::time::Instant,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let ctx = session()?;
    let frame = prepare(&ctx, def, reads, providers, held).await?;
    tracing::debug!(
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "Planned the query."
    );
    let schema = retype_text(
        frame.schema().as_arrow(),
        &DataType::Utf8View,
        &DataType::Utf8,
    );
    let batches = frame
        .collect()
        .await
        .context("running the return's query")?;
    Ok((schema, batches))
}

/// Builds `def` for `period` from the current extract versions in `lake`, into `root`.
pub async fn build(
    registry: &Registry,
    lake: &Lake,
    root: &Path,
    def: &ReturnDef,
    period: &Period,
    now: DateTime<Utc>,
) -> anyhow::Result<Artifact> {
    let providers = registry.store().providers().await?;
    build_for(registry, lake, root, def, period, now, &providers).await
}

/// [`build`] with the provider register already read, for callers that build many periods
/// at once from one reading of it (15,000 providers take tens of milliseconds to read).
#[tracing::instrument(name = "Building a return", skip_all, fields(name = %def.name, %period))]
pub async fn build_for(
    registry: &Registry,
    lake: &Lake,
    root: &Path,
    def: &ReturnDef,
    period: &Period,
    now: DateTime<Utc>,
    providers: &[Provider],
) -> anyhow::Result<Artifact> {
    if period.kind() != def.period {
        bail!(
            "{} is built per {}; {period} is a {}",
            def.name,
            def.period.as_str(),
            period.kind().as_str()
        );
    }
    let started = std::time::Instant::now();
    let gathered = gather(registry, def, period, now, providers, started).await?;
    let (sql_sha256, context_sha256) = fingerprints(def, providers, &gathered.inputs)?;
    tracing::debug!(
        ms = ms(started),
        "Read the register and worked out completeness."
    );
    let latest = Artifact::latest(root, &def.name, period)?;
    if let Some(latest) = &latest
        && is_current(latest, def, &sql_sha256, &context_sha256, &gathered)
    {
        return Ok(latest.clone());
    }
    let batches = query(lake, def, &gathered, providers, started).await?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let mut manifest = Manifest {
        return_name: def.name.clone(),
        title: def.title.clone(),
        period: period.to_string(),
        version: 0,
        built_at: now,
        engine: format!(
            "tally {} with DataFusion {}",
            env!("CARGO_PKG_VERSION"),
            datafusion::DATAFUSION_VERSION
        ),
        sql_sha256,
        licence: def.licence.clone(),
        context_sha256,
        inputs: gathered.read,
        completeness: gathered.completeness,
        disclosure_rule: disclosure::RULE.into(),
        rows,
        data_sha256: String::new(),
        revision: None,
    };
    if let Some(latest) = &latest {
        // An earlier version whose data cannot be read does not stop a new one being made.
        manifest.revision = Some(match latest.read() {
            Ok(before) => {
                super::artifact::revision(def, &latest.manifest, &before, &manifest, &batches)?
            }
            Err(e) => super::revision::Revision {
                of: latest.manifest.version,
                why: vec![format!(
                    "its cells could not be compared with version {}: {e:#}",
                    latest.manifest.version
                )],
                inputs: Vec::new(),
                cells: Vec::new(),
                cells_changed: 0,
                compared: false,
            },
        });
    }
    let artifact = write_artifact(&period_dir(root, &def.name, period), manifest, &batches)?;
    tracing::debug!(
        ms = ms(started),
        version = artifact.manifest.version,
        "Put the artifact in place."
    );
    metrics::histogram!("tally_return_build_duration_seconds", "return" => def.name.clone())
        .record(started.elapsed().as_secs_f64());
    Ok(artifact)
}

/// Whether `latest` is what a build from `gathered` would make. The same inputs make the
/// same data; a new version is made only when the data or what is said of it (more periods
/// past their deadline, say) would differ.
fn is_current(
    latest: &Artifact,
    def: &ReturnDef,
    sql_sha256: &str,
    context_sha256: &str,
    gathered: &Gathered,
) -> bool {
    let same = (
        sql_sha256,
        context_sha256,
        gathered.read.as_slice(),
        disclosure::RULE,
    );
    latest.manifest.fingerprint() == same
        && latest.manifest.completeness == gathered.completeness
        && latest.manifest.licence == def.licence
}

/// For each of `periods`, whether its latest artifact is what [`build_for`] would make at
/// `now`, so that building it would make nothing new: worked out from one reading of the
/// register for all of them, where a build reads it for its own period. `false` where that
/// cannot be told (nothing built yet, or an error): a build then reads the register again
/// for the period and says what is wrong.
pub async fn unchanged(
    registry: &Registry,
    root: &Path,
    def: &ReturnDef,
    periods: &[Period],
    now: DateTime<Utc>,
    providers: &[Provider],
) -> Vec<bool> {
    let started = std::time::Instant::now();
    let (Ok(each), Ok(providers_json)) = (
        gather_each(registry, def, periods, now, providers, started).await,
        serde_json::to_vec(providers),
    ) else {
        return vec![false; periods.len()];
    };
    periods
        .iter()
        .zip(each)
        .map(|(period, gathered)| {
            let Ok(gathered) = gathered else {
                return false;
            };
            fingerprints_with(def, &providers_json, &gathered.inputs).is_ok_and(|(sql, context)| {
                matches!(
                    Artifact::latest(root, &def.name, period),
                    Ok(Some(latest)) if is_current(&latest, def, &sql, &context, &gathered)
                )
            })
        })
        .collect()
}

/// What a query makes of one period, built but not kept: what DAP sees before it lists a
/// return's query.
pub struct Preview {
    pub period: Period,
    pub batches: Vec<RecordBatch>,
    pub completeness: Completeness,
}

/// Runs `def` over the latest of its last three closed periods that anything is owed for,
/// as a build would, and keeps nothing.
pub async fn preview(
    registry: &Registry,
    lake: &Lake,
    def: &ReturnDef,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<Preview> {
    let providers = registry.store().providers().await?;
    let started = std::time::Instant::now();
    let mut period = Period::containing(def.period, now.with_timezone(&tz).date_naive()).previous();
    let mut first_error = None;
    for _ in 0..3 {
        match gather(registry, def, &period, now, &providers, started).await {
            Ok(g) => {
                let batches = query(lake, def, &g, &providers, started).await?;
                return Ok(Preview {
                    period,
                    batches,
                    completeness: g.completeness,
                });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        period = period.previous();
    }
    Err(first_error.unwrap_or_else(|| anyhow::anyhow!("no period to build")))
}

/// Milliseconds since `at`, for the build's debug log.
fn ms(at: std::time::Instant) -> f64 {
    at.elapsed().as_secs_f64() * 1000.0
}

/// The sha256 of the query, and of everything else the data depends on: the sidecar's
/// columns and levels, the provider register, and the input collections' definitions.
fn fingerprints(
    def: &ReturnDef,
    providers: &[Provider],
    inputs: &[(CollectionDef, Vec<CurrentVersion>)],
) -> anyhow::Result<(String, String)> {
    fingerprints_with(def, &serde_json::to_vec(providers)?, inputs)
}

/// [`fingerprints`] with the provider register already written as JSON, for a check of
/// many periods against one reading of it.
fn fingerprints_with(
    def: &ReturnDef,
    providers_json: &[u8],
    inputs: &[(CollectionDef, Vec<CurrentVersion>)],
) -> anyhow::Result<(String, String)> {
    let sql_sha256 = hex::encode(Sha256::digest(def.sql.as_bytes()));
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&(
        &def.columns,
        &def.level_column,
        &def.national,
        &def.expects,
    ))?);
    h.update(providers_json);
    for (collection, _) in inputs {
        h.update(serde_json::to_vec(collection)?);
    }
    Ok((sql_sha256, hex::encode(h.finalize())))
}

/// Runs the query over the inputs and applies disclosure control: each input read from its
/// packs where they hold the current versions, and otherwise from the versions' own files.
/// With figures held for confirmation, the query runs again with them moved, and the
/// `provisional` column names the cells that rest on them.
async fn query(
    lake: &Lake,
    def: &ReturnDef,
    gathered: &Gathered,
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<Vec<RecordBatch>> {
    let inputs = &gathered.inputs;
    let mut reads = Vec::with_capacity(inputs.len());
    for (collection, current) in inputs {
        reads.push((collection.clone(), pack::plan(lake, collection, current)?));
    }
    tracing::debug!(ms = ms(started), "Chose the files to read.");
    let (schema, sent, reads) = match run(def, &reads, providers, &[], started).await {
        Ok((schema, batches)) => (schema, batches, reads),
        // A pack that passed its checks but cannot be read after all must not stop the
        // return: the versions' own files hold the same rows.
        Err(e) if reads.iter().any(|(_, r)| r.iter().any(pack::Read::is_pack)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "A build from packs failed; building from the versions' own files."
            );
            for (_, read) in &reads {
                for r in read {
                    if let pack::Read::Pack { path, .. } = r {
                        pack::mark_if_unreadable(path);
                    }
                }
            }
            let files = inputs
                .iter()
                .map(|(collection, current)| (collection.clone(), pack::files(current)))
                .collect::<Vec<_>>();
            let (schema, batches) = run(def, &files, providers, &[], started).await?;
            (schema, batches, files)
        }
        Err(e) => return Err(e),
    };
    let plain = |batches: Vec<RecordBatch>| -> anyhow::Result<Vec<RecordBatch>> {
        let mut batches = batches
            .iter()
            .map(|b| plain_text(b, &schema))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if batches.is_empty() {
            // No rows still make an artifact with the return's columns.
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
        Ok(batches)
    };
    let sent = plain(sent)?;
    let provisional = if gathered.held.is_empty() {
        super::provisional::find(def, &sent, None)?
    } else {
        let moved = run(def, &reads, providers, &gathered.held, started).await;
        match moved.and_then(|(_, moved)| {
            let moved = plain(moved)?;
            super::provisional::find(def, &sent, Some(&moved))
        }) {
            Ok(found) => found,
            // The return is still built, with every figure marked: it rests on held
            // figures, and which of its cells do cannot be told.
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "The query did not run with the held figures moved; every figure is marked provisional."
                );
                super::provisional::all(def, &sent)
            }
        }
    };
    let batches: Vec<RecordBatch> = sent
        .iter()
        .map(|b| disclosure::apply(def, b))
        .collect::<anyhow::Result<_>>()?;
    let batches = super::provisional::with_column(batches, provisional)?;
    // Its dimensions identify every row, as its downloads say.
    super::revision::by_row(def, &batches)?;
    tracing::debug!(
        ms = ms(started),
        rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        "Ran the query and disclosure control."
    );
    Ok(batches)
}
