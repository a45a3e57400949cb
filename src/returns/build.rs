//! Building one return for one period: the current extract versions of each input for the
//! periods inside it, read by DataFusion as tables; the query; a fixed sort; disclosure
//! control; completeness; and an immutable numbered artifact with its manifest. A build
//! whose query and inputs are those of the latest artifact makes no new one.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalogue::ReturnDef;
use super::disclosure;
use crate::landing::lake::Lake;
use crate::landing::pack::{self, Read};
use crate::providers::Provider;
use crate::registry::Registry;
use crate::registry::definition::CollectionDef;
use crate::schedule::period::Period;
use crate::schedule::timetable::deadline;
use crate::store::runs::CurrentVersion;

/// How much memory one build may hold before DataFusion spills to disk.
pub const MEMORY_LIMIT: usize = 2 << 30;

/// Who was expected to send an input for the return's period, and who did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// True when every expected provider sent every expected period of every input.
    pub complete: bool,
    pub inputs: Vec<InputCompleteness>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCompleteness {
    pub collection: String,
    /// The input's periods inside the return's period.
    pub periods: usize,
    /// Providers that owed at least one of those periods.
    pub expected: usize,
    /// Providers that sent every period they owed.
    pub received: usize,
    /// Providers missing one or more periods, with how many.
    pub missing: Vec<Missing>,
    /// Providers whose current version of some period landed after its deadline.
    pub late: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub code: String,
    pub name: String,
    pub periods_missing: usize,
    pub periods_owed: usize,
}

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
    /// The sha256 of everything else the data depends on: the sidecar's columns and
    /// levels, the provider register, and the input collections' definitions.
    pub context_sha256: String,
    pub inputs: Vec<InputFile>,
    pub completeness: Completeness,
    pub disclosure_rule: String,
    pub rows: usize,
    /// The sha256 of `data.parquet`.
    pub data_sha256: String,
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

/// The periods of `kind` that lie inside `outer`.
pub fn periods_within(
    outer: &Period,
    kind: crate::registry::definition::PeriodKind,
) -> Vec<Period> {
    let mut out = Vec::new();
    let mut day = outer.first_day();
    while day < outer.end() {
        let p = Period::containing(kind, day);
        if p.first_day() >= outer.first_day() && p.end() <= outer.end() {
            day = p.end();
            out.push(p);
        } else {
            day = p.end();
        }
    }
    out
}

/// A provider owes a period when it is of a kind the collection asks, is open on any day of
/// it, and the collection was listed by its start.
fn owes(def: &CollectionDef, listed: chrono::NaiveDate, p: &Provider, period: &Period) -> bool {
    period.first_day() >= listed
        && def.respondents.kinds.contains(&p.kind)
        && p.opened_on.is_none_or(|o| o < period.end())
        && p.closed_on.is_none_or(|c| c > period.first_day())
}

/// `schema` with its text as `from` replaced by `to`. Inputs are read with text as string
/// views, which the Parquet reader fills without copying each value and DataFusion compares
/// and groups faster (a KH03 quarter's query in about 110 ms rather than 150 ms); the
/// artifact keeps plain text, so its bytes and the exports do not depend on that choice.
fn retype_text(schema: &Schema, from: &DataType, to: &DataType) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t == from => f.as_ref().clone().with_data_type(to.clone()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// The query's rows with string views turned back into plain text.
fn plain_text(batch: &RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn providers_table(providers: &[Provider]) -> anyhow::Result<MemTable> {
    let text = |f: &dyn Fn(&Provider) -> Option<String>| -> Arc<StringArray> {
        Arc::new(StringArray::from_iter(providers.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("icb", DataType::Utf8, true),
        Field::new("local_authority", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(&|p| Some(p.code.to_string())),
            text(&|p| Some(p.name.clone())),
            text(&|p| Some(p.kind.as_str().to_owned())),
            text(&|p| Some(p.region.clone())),
            text(&|p| p.icb.clone()),
            text(&|p| p.local_authority.clone()),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

/// A DataFusion session sized for this machine: partitions to match the cores, and a
/// memory limit past which sorts and joins spill. Filters are not pushed into the Parquet
/// decoder: over many small files it costs more than it saves (a KH03 quarter in 11.8 s
/// without, 15.9 s with, measured with `benches/run-returns`). Any
/// `DATAFUSION_*` environment variable (DataFusion's own names, such as
/// `DATAFUSION_EXECUTION_TARGET_PARTITIONS`) overrides these, to measure other settings.
pub fn session() -> anyhow::Result<SessionContext> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let set = |name: &str| std::env::var_os(format!("DATAFUSION_{name}")).is_some();
    let mut options = datafusion::config::ConfigOptions::from_env()?;
    if !set("EXECUTION_TARGET_PARTITIONS") {
        options.execution.target_partitions = cores;
    }
    // Keeps where each name is in the query, so a planning error can give its line.
    options.sql_parser.collect_spans = true;
    let config = SessionConfig::from(options);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(MEMORY_LIMIT, 1.0)
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Registers the tables a return's query reads, over the given extract versions, and
/// checks that the query plans and gives the declared columns. Used both to build and to
/// check a return before anything is built.
async fn prepare(
    ctx: &SessionContext,
    def: &ReturnDef,
    inputs: &[(CollectionDef, Vec<Read>)],
    providers: &[Provider],
) -> anyhow::Result<datafusion::dataframe::DataFrame> {
    for (collection, files) in inputs {
        let table_name = ReturnDef::table_name(collection.slug.as_str());
        let schema = retype_text(
            &crate::landing::lake::schema(collection),
            &DataType::Utf8,
            &DataType::Utf8View,
        );
        if files.is_empty() {
            ctx.register_table(
                &table_name,
                Arc::new(MemTable::try_new(schema, vec![vec![]])?),
            )?;
            continue;
        }
        let table = super::table::Files::new(schema, files)?;
        ctx.register_table(&table_name, Arc::new(table))?;
    }
    ctx.register_table("providers", Arc::new(providers_table(providers)?))?;
    // Only the end is trimmed, so that lines in DataFusion's errors are the file's lines.
    let sql = def.sql.trim_end().trim_end_matches(';');
    let frame = ctx
        .sql(sql)
        .await
        .map_err(|e| plan_error(&def.sql_path, &e))?;
    // Every column in turn: the same inputs always give the same rows in the same order.
    let order: Vec<_> = frame
        .schema()
        .columns()
        .into_iter()
        .map(|c| datafusion::prelude::Expr::Column(c).sort(true, false))
        .collect();
    let frame = frame
        .sort(order)
        .map_err(|e| plan_error(&def.sql_path, &e))?;
    let names: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let declared: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    if names != declared {
        bail!(
            "{}: the query gives the columns {} but {}.toml declares {}",
            def.sql_path.display(),
            names.join(", "),
            def.name,
            declared.join(", ")
        );
    }
    Ok(frame)
}

/// Why a query does not plan, naming its file and, where DataFusion can tell, the line and
/// column.
fn plan_error(path: &Path, e: &datafusion::error::DataFusionError) -> anyhow::Error {
    let text = e.to_string();
    let at = e
        .diagnostic()
        .and_then(|d| d.span)
        .map(|s| (s.start.line, s.start.column))
        .or_else(|| {
            // A parse error carries its place only in its message.
            let found = regex::Regex::new(r"Line: (\d+), Column: (\d+)")
                .expect("a valid pattern")
                .captures(&text)?;
            Some((found[1].parse().ok()?, found[2].parse().ok()?))
        });
    match at {
        Some((line, column)) => anyhow::anyhow!(
            "{}, line {line}, column {column}: the query does not plan: {text}",
            path.display()
        ),
        None => anyhow::anyhow!("{}: the query does not plan: {text}", path.display()),
    }
}

/// Checks a return against the register as it is now: every input listed, the query plans
/// against the inputs' schemas and gives the declared columns.
pub async fn check(registry: &Registry, def: &ReturnDef, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut inputs = Vec::new();
    for slug in &def.inputs {
        let licensed = registry
            .require_listed(slug.as_str(), now)
            .await
            .with_context(|| format!("{}: input {slug}", def.name))?;
        inputs.push((licensed.def, Vec::new()));
    }
    prepare(&session()?, def, &inputs, &[]).await.map(|_| ())
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
    let ms = |at: std::time::Instant| at.elapsed().as_secs_f64() * 1000.0;
    let store = registry.store();
    let mut inputs = Vec::new();
    let mut completeness = Completeness {
        complete: true,
        inputs: Vec::new(),
    };
    let mut read = Vec::new();
    let mut owed_anything = false;
    for slug in &def.inputs {
        let licensed = registry
            .require_listed(slug.as_str(), now)
            .await
            .with_context(|| format!("{}: input {slug}", def.name))?;
        let collection = licensed.def;
        let listed = licensed
            .listed_at
            .with_timezone(&collection.frequency.timezone)
            .date_naive();
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
        let current: Vec<CurrentVersion> = store
            .current_versions(slug.as_str(), &first.to_string(), &last.to_string())
            .await?
            .into_iter()
            .filter(|v| wanted.contains(&v.period))
            .collect();
        tracing::debug!(
            ms = ms(started),
            collection = %slug,
            versions = current.len(),
            "Read the current versions."
        );
        let got: HashMap<(&str, &str), &CurrentVersion> = current
            .iter()
            .map(|v| ((v.provider.as_str(), v.period.as_str()), v))
            .collect();
        // Each period's name and deadline once, not once a provider.
        let owed_periods: Vec<(&Period, String, DateTime<Utc>)> = periods
            .iter()
            .map(|q| (q, q.to_string(), deadline(&collection, q)))
            .collect();
        let mut c = InputCompleteness {
            collection: slug.to_string(),
            periods: periods.len(),
            ..InputCompleteness::default()
        };
        for p in providers {
            if !collection.respondents.kinds.contains(&p.kind) {
                continue;
            }
            let owed: Vec<&(&Period, String, DateTime<Utc>)> = owed_periods
                .iter()
                .filter(|(q, _, _)| owes(&collection, listed, p, q))
                .collect();
            if owed.is_empty() {
                continue;
            }
            owed_anything = true;
            c.expected += 1;
            let code = p.code.to_string();
            let (mut missing, mut late) = (0, false);
            for (_, name, due) in &owed {
                match got.get(&(code.as_str(), name.as_str())) {
                    None => missing += 1,
                    Some(v) => late |= v.landed_at > *due,
                }
            }
            if missing == 0 {
                c.received += 1;
            } else {
                c.missing.push(Missing {
                    code: code.clone(),
                    name: p.name.clone(),
                    periods_missing: missing,
                    periods_owed: owed.len(),
                });
            }
            if late {
                c.late.push(code);
            }
        }
        completeness.complete &= c.missing.is_empty();
        read.extend(current.iter().map(|v| InputFile {
            collection: v.collection.clone(),
            provider: v.provider.clone(),
            period: v.period.clone(),
            version: v.version,
            sha256: v.raw_sha256.clone(),
        }));
        completeness.inputs.push(c);
        inputs.push((collection, current));
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
    read.sort_by(|a, b| {
        (&a.collection, &a.period, &a.provider).cmp(&(&b.collection, &b.period, &b.provider))
    });
    let sql_sha256 = hex::encode(Sha256::digest(def.sql.as_bytes()));
    let context_sha256 = {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&(
            &def.columns,
            &def.level_column,
            &def.national,
        ))?);
        h.update(serde_json::to_vec(providers)?);
        for (collection, _) in &inputs {
            h.update(serde_json::to_vec(collection)?);
        }
        hex::encode(h.finalize())
    };
    tracing::debug!(ms = ms(started), "Read the register and worked out completeness.");
    let dir = period_dir(root, &def.name, period);
    if let Some(latest) = Artifact::latest(root, &def.name, period)? {
        let same = (
            sql_sha256.as_str(),
            context_sha256.as_str(),
            read.as_slice(),
            disclosure::RULE,
        );
        if latest.manifest.fingerprint() == same {
            return Ok(latest);
        }
    }

    // Each input read from its packs where they hold the current versions, and otherwise
    // from the versions' own files.
    let mut reads = Vec::with_capacity(inputs.len());
    for (collection, current) in inputs {
        let plan = pack::plan(lake, collection.slug.as_str(), &current)?;
        reads.push((collection, plan));
    }
    tracing::debug!(ms = ms(started), "Chose the files to read.");
    let ctx = session()?;
    let frame = prepare(&ctx, def, &reads, providers).await?;
    tracing::debug!(ms = ms(started), "Planned the query.");
    let schema = retype_text(frame.schema().as_arrow(), &DataType::Utf8View, &DataType::Utf8);
    let mut batches = frame
        .collect()
        .await
        .context("running the return's query")?;
    if batches.is_empty() {
        // No rows still make an artifact with the return's columns.
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(|b| disclosure::apply(def, &plain_text(b, &schema)?))
        .collect::<anyhow::Result<_>>()?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    tracing::debug!(ms = ms(started), rows, "Ran the query and disclosure control.");

    // Written under a temporary name and renamed whole: an artifact is there complete or
    // not at all.
    std::fs::create_dir_all(&dir)?;
    sweep_builds(&dir);
    let version = versions(&dir).into_iter().max().unwrap_or(0) + 1;
    // A name no other process, here or on another machine sharing the folder, can choose.
    let tmp = dir.join(format!(".tmp-v{version}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp)?;
    let written = (|| -> anyhow::Result<Manifest> {
        let data = tmp.join("data.parquet");
        let schema = batches[0].schema();
        let mut writer = ArrowWriter::try_new(
            std::fs::File::create(&data)?,
            schema,
            Some(crate::landing::lake::parquet_properties()),
        )?;
        for b in &batches {
            writer.write(b)?;
        }
        writer.close()?;
        let data_sha256 = hex::encode(Sha256::digest(std::fs::read(&data)?));
        let manifest = Manifest {
            return_name: def.name.clone(),
            title: def.title.clone(),
            period: period.to_string(),
            version,
            built_at: now,
            engine: format!(
                "tally {} with DataFusion {}",
                env!("CARGO_PKG_VERSION"),
                datafusion::DATAFUSION_VERSION
            ),
            sql_sha256,
            context_sha256,
            inputs: read,
            completeness,
            disclosure_rule: disclosure::RULE.into(),
            rows,
            data_sha256,
        };
        std::fs::write(
            tmp.join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        for f in ["data.parquet", "manifest.json"] {
            std::fs::File::open(tmp.join(f))?.sync_all()?;
        }
        Ok(manifest)
    })();
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let target = dir.join(format!("v{version}"));
    // A rename onto a folder that exists (another build took the number meanwhile) fails,
    // and nothing is left behind.
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot put the artifact in place at {}: another build may have made this version meanwhile; build again",
                target.display()
            )
        });
    }
    std::fs::File::open(&dir)?.sync_all()?;
    tracing::debug!(ms = ms(started), version, "Put the artifact in place.");
    Ok(Artifact {
        dir: target,
        manifest,
        new: true,
    })
}
