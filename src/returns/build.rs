//! Building one return for one period: the current extract versions of each input for the
//! periods inside it, read by DataFusion as tables; the query; a fixed sort; disclosure
//! control; completeness; and an immutable numbered artifact with its manifest. A build
//! whose query and inputs are those of the latest artifact makes no new one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalogue::{QueryLicence, ReturnDef};
use super::completeness::{self, Completeness};
use super::disclosure;
use super::query::{plain_text, prepare, retype_text, session};
use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::domain::periods_within;
use crate::domain::provider::Provider;
use crate::landing::lake::Lake;
use crate::landing::pack;
use crate::registry::Registry;
use crate::store::runs::CurrentVersion;

/// One extract version a build read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub collection: String,
    pub provider: String,
    pub period: String,
    pub version: i64,
    /// The sha256 of the raw extract the version was landed from.
    pub sha256: String,
}

/// What an artifact is and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "return")]
    pub return_name: String,
    pub title: String,
    pub period: String,
    pub version: i64,
    pub built_at: DateTime<Utc>,
    pub engine: String,
    pub sql_sha256: String,
    /// The licence the query was in force under; none when it was read from the queries
    /// folder (`tally returns build`) rather than from the register.
    #[serde(default)]
    pub licence: Option<QueryLicence>,
    /// The sha256 of everything else the data depends on: the sidecar's columns and
    /// levels, the provider register, and the input collections' definitions.
    pub context_sha256: String,
    pub inputs: Vec<InputFile>,
    pub completeness: Completeness,
    pub disclosure_rule: String,
    pub rows: usize,
    /// The sha256 of `data.parquet`.
    pub data_sha256: String,
    /// For a version after the first: why it was made and what it changed.
    #[serde(default)]
    pub revision: Option<super::revision::Revision>,
}

impl Manifest {
    /// What decides the data: the query and the inputs. Two builds with the same
    /// fingerprint give the same bytes.
    fn fingerprint(&self) -> (&str, &str, &[InputFile], &str) {
        (
            &self.sql_sha256,
            &self.context_sha256,
            &self.inputs,
            &self.disclosure_rule,
        )
    }
}

/// A built return, kept under `<returns dir>/<name>/period=<p>/v<n>/`.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// False when the build found the latest artifact already made from the same inputs.
    pub new: bool,
}

impl Artifact {
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data.parquet")
    }

    /// The columns of the artifact's rows, read from its data file's footer.
    pub fn schema(&self) -> anyhow::Result<SchemaRef> {
        let file = std::fs::File::open(self.data_path())?;
        let builder =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                file,
            )?;
        Ok(builder.schema().clone())
    }

    /// The artifact's rows, as built.
    pub fn read(&self) -> anyhow::Result<Vec<RecordBatch>> {
        let file = std::fs::File::open(self.data_path())?;
        let builder =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                file,
            )?;
        let schema = builder.schema().clone();
        let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
        if batches.is_empty() {
            // No rows still have the return's columns.
            return Ok(vec![RecordBatch::new_empty(schema)]);
        }
        Ok(batches)
    }

    /// The latest artifact of a return for a period, if any has been built.
    pub fn latest(root: &Path, name: &str, period: &Period) -> anyhow::Result<Option<Artifact>> {
        let dir = period_dir(root, name, period);
        let Some(version) = versions(&dir).into_iter().max() else {
            return Ok(None);
        };
        Artifact::open(&dir.join(format!("v{version}"))).map(Some)
    }

    pub fn open(dir: &Path) -> anyhow::Result<Artifact> {
        let text = std::fs::read_to_string(dir.join("manifest.json"))
            .with_context(|| format!("cannot read the manifest in {}", dir.display()))?;
        Ok(Artifact {
            dir: dir.to_owned(),
            manifest: serde_json::from_str(&text)?,
            new: false,
        })
    }
}

/// The periods of a return that have been built, each with its artifact versions, oldest
/// first; folders that are not a period are passed over.
pub fn built(root: &Path, name: &str) -> Vec<(Period, Vec<i64>)> {
    let mut out: Vec<(Period, Vec<i64>)> = std::fs::read_dir(root.join(name))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let period = Period::parse(e.file_name().to_str()?.strip_prefix("period=")?).ok()?;
            let mut versions = versions(&e.path());
            versions.sort_unstable();
            (!versions.is_empty()).then_some((period, versions))
        })
        .collect();
    out.sort_by_key(|(p, _)| (p.first_day(), p.to_string()));
    out
}

impl Artifact {
    /// One version of a return's artifact for a period, if it exists.
    pub fn version(
        root: &Path,
        name: &str,
        period: &Period,
        version: i64,
    ) -> anyhow::Result<Option<Artifact>> {
        let dir = period_dir(root, name, period).join(format!("v{version}"));
        if !dir.join("manifest.json").is_file() {
            return Ok(None);
        }
        Artifact::open(&dir).map(Some)
    }
}

fn period_dir(root: &Path, name: &str, period: &Period) -> PathBuf {
    root.join(name).join(format!("period={period}"))
}

/// Removes build folders a killed build left, once untouched for an hour.
fn sweep_builds(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(".tmp-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|idle| idle > crate::landing::lake::ABANDONED);
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn versions(dir: &Path) -> Vec<i64> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect()
}

/// Plans and runs the query over `reads`: the rows, with text as plain text again.
async fn run(
    def: &ReturnDef,
    reads: &[(CollectionDef, Vec<pack::Read>)],
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let ctx = session()?;
    let frame = prepare(&ctx, def, reads, providers).await?;
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
    if let Some(latest) = &latest {
        let same = (
            sql_sha256.as_str(),
            context_sha256.as_str(),
            gathered.read.as_slice(),
            disclosure::RULE,
        );
        // The same inputs make the same data; a new version is made only when the data or
        // what is said of it (more periods past their deadline, say) would differ.
        if latest.manifest.fingerprint() == same
            && latest.manifest.completeness == gathered.completeness
            && latest.manifest.licence == def.licence
        {
            return Ok(latest.clone());
        }
    }
    let batches = query(lake, def, &gathered.inputs, providers, started).await?;
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
        let before = latest.read()?;
        manifest.revision = Some(super::revision::revision(
            def,
            &latest.manifest,
            &before,
            &manifest,
            &batches,
        )?);
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
                let batches = query(lake, def, &g.inputs, &providers, started).await?;
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

/// What a build reads: each input's definition with the current versions of the providers
/// the return is about, the versions read (sorted, for the manifest), and how complete
/// they are.
struct Gathered {
    inputs: Vec<(CollectionDef, Vec<CurrentVersion>)>,
    read: Vec<InputFile>,
    completeness: Completeness,
}

/// Gathers each input's current versions for the periods inside `period` and works out
/// their completeness; refuses a period nobody owes anything for yet.
async fn gather(
    registry: &Registry,
    def: &ReturnDef,
    period: &Period,
    now: DateTime<Utc>,
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<Gathered> {
    let mut gathered = Gathered {
        inputs: Vec::new(),
        read: Vec::new(),
        completeness: Completeness {
            complete: true,
            inputs: Vec::new(),
        },
    };
    let mut owed_anything = false;
    // Whether some period inside has still to reach its deadline.
    let mut some_not_due = false;
    let expected: std::collections::HashSet<&str> = providers
        .iter()
        .filter(|p| def.expects.contains(&p.kind))
        .map(|p| p.code.as_str())
        .collect();
    for slug in &def.inputs {
        let licensed = registry
            .require_listed(slug.as_str(), now)
            .await
            .with_context(|| format!("{}: input {slug}", def.name))?;
        let collection = licensed.def;
        let from = licensed.effective_from;
        let kind = collection.frequency.period;
        if !kind.rolls_up_to(def.period) {
            bail!(
                "{}: {slug} is collected per {}, which does not fit inside a {}",
                def.name,
                kind.as_str(),
                def.period.as_str()
            );
        }
        let periods = periods_within(period, kind);
        let wanted: BTreeSet<String> = periods.iter().map(|p| p.to_string()).collect();
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            bail!("{period} holds no whole {} of {slug}", kind.as_str());
        };
        // Only the extracts of the providers the return is about are read.
        let current: Vec<CurrentVersion> = registry
            .store()
            .current_versions(slug.as_str(), &first.to_string(), &last.to_string())
            .await?
            .into_iter()
            .filter(|v| wanted.contains(&v.period) && expected.contains(v.provider.as_str()))
            .collect();
        tracing::debug!(
            ms = ms(started),
            collection = %slug,
            versions = current.len(),
            "Read the current versions."
        );
        let c = completeness::assess(
            &collection,
            &def.expects,
            from,
            providers,
            &periods,
            &current,
            now,
        );
        owed_anything |= c.expected > 0;
        some_not_due |= c.periods_due < c.periods;
        // A period still in progress is not complete, however much of it has come in.
        gathered.completeness.complete &=
            c.missing.is_empty() && c.partial.is_empty() && c.periods_due == c.periods;
        gathered.read.extend(current.iter().map(|v| InputFile {
            collection: v.collection.clone(),
            provider: v.provider.clone(),
            period: v.period.clone(),
            version: v.version,
            sha256: v.raw_sha256.clone(),
        }));
        gathered.completeness.inputs.push(c);
        gathered.inputs.push((collection, current));
    }
    if !owed_anything && some_not_due {
        bail!(
            "{period} of {} is not owed yet: no part of it has reached its deadline, so there \
             is nothing to build; build it once its first day is past its deadline",
            def.name
        );
    }
    if !owed_anything {
        bail!(
            "{period} is outside the data for {}: no registered provider owes {} for it",
            def.name,
            def.inputs
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    gathered.read.sort_by(|a, b| {
        (&a.collection, &a.period, &a.provider).cmp(&(&b.collection, &b.period, &b.provider))
    });
    Ok(gathered)
}

/// The sha256 of the query, and of everything else the data depends on: the sidecar's
/// columns and levels, the provider register, and the input collections' definitions.
fn fingerprints(
    def: &ReturnDef,
    providers: &[Provider],
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
    h.update(serde_json::to_vec(providers)?);
    for (collection, _) in inputs {
        h.update(serde_json::to_vec(collection)?);
    }
    Ok((sql_sha256, hex::encode(h.finalize())))
}

/// Runs the query over the inputs and applies disclosure control: each input read from its
/// packs where they hold the current versions, and otherwise from the versions' own files.
async fn query(
    lake: &Lake,
    def: &ReturnDef,
    inputs: &[(CollectionDef, Vec<CurrentVersion>)],
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<Vec<RecordBatch>> {
    let mut reads = Vec::with_capacity(inputs.len());
    for (collection, current) in inputs {
        reads.push((collection.clone(), pack::plan(lake, collection, current)?));
    }
    tracing::debug!(ms = ms(started), "Chose the files to read.");
    let (schema, mut batches) = match run(def, &reads, providers, started).await {
        Ok(ran) => ran,
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
            run(def, &files, providers, started).await?
        }
        Err(e) => return Err(e),
    };
    if batches.is_empty() {
        // No rows still make an artifact with the return's columns.
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(|b| disclosure::apply(def, &plain_text(b, &schema)?))
        .collect::<anyhow::Result<_>>()?;
    tracing::debug!(
        ms = ms(started),
        rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        "Ran the query and disclosure control."
    );
    Ok(batches)
}

/// Writes the next version of the artifact in `dir`: the data and the manifest (its version
/// and data sha256 filled in here), under a temporary name and renamed whole, so that an
/// artifact is there complete or not at all.
fn write_artifact(
    dir: &Path,
    mut manifest: Manifest,
    batches: &[RecordBatch],
) -> anyhow::Result<Artifact> {
    std::fs::create_dir_all(dir)?;
    sweep_builds(dir);
    let version = versions(dir).into_iter().max().unwrap_or(0) + 1;
    manifest.version = version;
    let target = dir.join(format!("v{version}"));
    let (name, period) = (manifest.return_name.clone(), manifest.period.clone());
    let manifest = crate::landing::lake::write_folder(&target, |tmp| {
        let data = tmp.join("data.parquet");
        let mut writer = ArrowWriter::try_new(
            std::fs::File::create(&data)?,
            batches[0].schema(),
            Some(crate::landing::lake::parquet_properties()),
        )?;
        for b in batches {
            writer.write(b)?;
        }
        writer.close()?;
        manifest.data_sha256 = hex::encode(Sha256::digest(std::fs::read(&data)?));
        std::fs::write(
            tmp.join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        for f in ["data.parquet", "manifest.json"] {
            std::fs::File::open(tmp.join(f))?.sync_all()?;
        }
        Ok(manifest)
    })
    .with_context(|| format!("writing the artifact of {name} for {period}"))?;
    Ok(Artifact {
        dir: target,
        manifest,
        new: true,
    })
}
