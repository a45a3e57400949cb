//! Packs: the current versions of a collection's extracts for one month (of a daily
//! collection) or one period (of any other), gathered into one Parquet file.
//!
//! Landing writes a file a provider a period, so a year of the daily ward census is 70,000
//! files, and a return that opened each one spent its time opening files rather than adding
//! beds up (a KH03 quarter: 11 s over 17,000 files; `benches/run-returns`). A pack is only
//! ever a faster way to read what the version files hold. The register still says which
//! versions are current; a build reads from a pack only the members that are still current
//! and the rest from their own files; version files are never removed. So a pack that is
//! stale, missing or not made yet changes how fast a return is built, never what it says.
//!
//! `lake/_packs/<collection>/<unit>/p<n>/` holds `data.parquet` and `members.json` (each
//! member's provider, period, version and rows). The unit's folder is not named
//! `period=<unit>` as the version folders are: DuckDB, Polars and Spark read `key=value`
//! folders as columns, and a month's `period=2027-04` would hide each row's own day. The folder is written under a
//! temporary name and renamed whole, so a pack is there complete or not at all. A new pack
//! of a unit keeps the rows of the one before whose members are still current and adds the
//! new versions, so a late or amended extract costs one file's read, not the month's.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use serde::{Deserialize, Serialize};

use super::lake::{ABANDONED, Lake};
use crate::registry::definition::{CollectionDef, PeriodKind};
use crate::schedule::period::Period;
use crate::schedule::timetable::{closes, deadline};
use crate::store::runs::CurrentVersion;

/// Rows per row group in a pack. A month of the census (about 340,000 rows) makes three,
/// so the two cores can each decode part of one pack, and a day's rows (about 11,000) are
/// read from one row group without decoding the others.
const ROW_GROUP_ROWS: usize = 131_072;

/// One version a pack holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub provider: String,
    pub period: String,
    pub version: i64,
    /// Where its rows start in the pack, and how many there are.
    pub first_row: u64,
    pub rows: u64,
}

/// What a pack holds, kept beside it as `members.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub collection: String,
    pub unit: String,
    pub number: u32,
    pub made_at: DateTime<Utc>,
    pub rows: u64,
    /// The size of `data.parquet`: a pack whose file is not this size is not read.
    pub bytes: u64,
    /// In (period, provider) order.
    pub members: Vec<Member>,
}

#[derive(Debug, Clone)]
pub struct Pack {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Pack {
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data.parquet")
    }

    /// The newest whole pack of `unit`, if one has been made.
    pub fn latest(lake: &Lake, collection: &str, unit: &Period) -> anyhow::Result<Option<Pack>> {
        let dir = lake.packs_dir(collection, unit);
        let mut numbers = numbers(&dir);
        numbers.sort_unstable();
        let Some(&n) = numbers.last() else {
            return Ok(None);
        };
        let dir = dir.join(format!("p{n}"));
        let manifest = std::fs::read_to_string(dir.join("members.json"))
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(serde_json::from_str::<Manifest>(&text)?));
        let pack = match manifest {
            Ok(manifest) => Pack { dir, manifest },
            Err(e) => {
                // Not ours to mend: the version files still hold everything, so the pack is
                // passed over and the next packing makes a whole one beside it.
                tracing::warn!(
                    pack = %dir.display(),
                    error = format!("{e:#}"),
                    "A pack's manifest cannot be read; reading its versions from their own files."
                );
                return Ok(None);
            }
        };
        let bytes = std::fs::metadata(pack.data_path()).map(|m| m.len()).ok();
        if bytes != Some(pack.manifest.bytes) {
            tracing::warn!(
                pack = %pack.dir.display(),
                "A pack's data is missing or not the size its manifest gives; reading its versions from their own files."
            );
            return Ok(None);
        }
        Ok(Some(pack))
    }
}

/// The unit a period is packed in: a day in its month, any other period on its own.
pub fn unit_of(period: &Period) -> Period {
    match period.kind() {
        PeriodKind::Day => Period::containing(PeriodKind::Month, period.first_day()),
        _ => *period,
    }
}

/// The pack numbers in a unit's folder.
fn numbers(dir: &Path) -> Vec<u32> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('p')?.parse().ok())
        .collect()
}

/// One file a build reads: a version's own file, or rows of a pack.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    File(PathBuf),
    Pack {
        path: PathBuf,
        bytes: u64,
        /// Rows in the pack.
        rows: u64,
        /// The (first row, rows) ranges to read, in order; `None` for all of them.
        ranges: Option<Vec<(u64, u64)>>,
    },
}

impl Read {
    /// The rows to read of a pack of `total` rows, as a selection the Parquet reader takes.
    pub fn selection(total: u64, ranges: &[(u64, u64)]) -> RowSelection {
        let mut selectors = Vec::with_capacity(ranges.len() * 2 + 1);
        let mut at = 0;
        for &(first, rows) in ranges {
            if first > at {
                selectors.push(RowSelector::skip((first - at) as usize));
            }
            selectors.push(RowSelector::select(rows as usize));
            at = first + rows;
        }
        if total > at {
            selectors.push(RowSelector::skip((total - at) as usize));
        }
        RowSelection::from(selectors)
    }
}

/// How to read `current` (current versions of one collection) in as few files as the packs
/// allow: each version from its unit's latest pack when the pack holds that very version,
/// otherwise from its own file.
pub fn plan(
    lake: &Lake,
    collection: &str,
    current: &[CurrentVersion],
) -> anyhow::Result<Vec<Read>> {
    let mut by_unit: BTreeMap<Period, Vec<&CurrentVersion>> = BTreeMap::new();
    for v in current {
        let period = Period::parse(&v.period).map_err(anyhow::Error::msg)?;
        by_unit.entry(unit_of(&period)).or_default().push(v);
    }
    let mut reads = Vec::new();
    for (unit, versions) in by_unit {
        let Some(pack) = Pack::latest(lake, collection, &unit)? else {
            reads.extend(versions.iter().map(|v| Read::File(PathBuf::from(&v.path))));
            continue;
        };
        let members: HashMap<(&str, &str), &Member> = pack
            .manifest
            .members
            .iter()
            .map(|m| ((m.provider.as_str(), m.period.as_str()), m))
            .collect();
        let mut ranges = Vec::new();
        for v in versions {
            match members.get(&(v.provider.as_str(), v.period.as_str())) {
                Some(m) if m.version == v.version => ranges.push((m.first_row, m.rows)),
                _ => reads.push(Read::File(PathBuf::from(&v.path))),
            }
        }
        if ranges.is_empty() {
            continue;
        }
        ranges.sort_unstable();
        let all = ranges.len() == pack.manifest.members.len();
        reads.push(Read::Pack {
            path: pack.data_path(),
            bytes: pack.manifest.bytes,
            rows: pack.manifest.rows,
            ranges: (!all).then_some(ranges),
        });
    }
    Ok(reads)
}

/// Makes a new pack of `unit` from `current`, the current versions of its periods, unless
/// the latest pack holds exactly those already. Blocking: run it off the async threads.
pub fn make(
    lake: &Lake,
    def: &CollectionDef,
    unit: &Period,
    current: &[CurrentVersion],
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Pack>> {
    let collection = def.slug.as_str();
    let dir = lake.packs_dir(collection, unit);
    let previous = Pack::latest(lake, collection, unit)?;
    let wanted: BTreeMap<(&str, &str), &CurrentVersion> = current
        .iter()
        .map(|v| ((v.period.as_str(), v.provider.as_str()), v))
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    // The previous pack's members that are still current, in the order of their rows.
    let mut kept: Vec<&Member> = previous
        .iter()
        .flat_map(|p| &p.manifest.members)
        .filter(|m| {
            wanted
                .get(&(m.period.as_str(), m.provider.as_str()))
                .is_some_and(|v| v.version == m.version)
        })
        .collect();
    if let Some(p) = &previous
        && kept.len() == wanted.len()
        && kept.len() == p.manifest.members.len()
    {
        return Ok(None);
    }
    kept.sort_by_key(|m| m.first_row);

    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    sweep(&dir);
    let number = numbers(&dir).into_iter().max().unwrap_or(0) + 1;
    let target = dir.join(format!("p{number}"));
    let manifest = super::lake::write_folder(&target, |tmp| {
        write(
            def,
            unit,
            number,
            tmp,
            previous.as_ref(),
            &kept,
            &wanted,
            now,
        )
    })?;
    Ok(Some(Pack {
        dir: target,
        manifest,
    }))
}

/// Writes the pack's data and manifest into `tmp`: the kept rows of the previous pack in
/// one read, then each new version's file.
#[allow(clippy::too_many_arguments)]
fn write(
    def: &CollectionDef,
    unit: &Period,
    number: u32,
    tmp: &Path,
    previous: Option<&Pack>,
    kept: &[&Member],
    wanted: &BTreeMap<(&str, &str), &CurrentVersion>,
    now: DateTime<Utc>,
) -> anyhow::Result<Manifest> {
    let schema = super::lake::schema(def);
    let data = tmp.join("data.parquet");
    let properties = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(&data)?, schema.clone(), Some(properties))?;
    let mut members = Vec::with_capacity(wanted.len());
    let mut rows: u64 = 0;

    if let Some(previous) = previous.filter(|_| !kept.is_empty()) {
        let path = previous.data_path();
        let ranges: Vec<(u64, u64)> = kept.iter().map(|m| (m.first_row, m.rows)).collect();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).with_context(|| format!("cannot open {}", path.display()))?,
        )?
        .with_batch_size(super::BATCH_ROWS)
        .with_row_selection(Read::selection(previous.manifest.rows, &ranges))
        .build()?;
        let mut read = 0;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            read += batch.num_rows() as u64;
            writer.write(&adapt(&batch, &schema)?)?;
        }
        let expected: u64 = kept.iter().map(|m| m.rows).sum();
        if read != expected {
            bail!(
                "{} gave {read} rows where its manifest promises {expected}",
                path.display()
            );
        }
        for m in kept {
            members.push(Member {
                first_row: rows,
                ..(*m).clone()
            });
            rows += m.rows;
        }
    }
    let in_kept: std::collections::HashSet<(&str, &str)> = kept
        .iter()
        .map(|m| (m.period.as_str(), m.provider.as_str()))
        .collect();
    for (&(period, provider), v) in wanted {
        if in_kept.contains(&(period, provider)) {
            continue;
        }
        let path = Path::new(&v.path);
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("{}: not a Parquet file", path.display()))?
            .with_batch_size(super::BATCH_ROWS)
            .build()?;
        let mut n = 0;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            n += batch.num_rows() as u64;
            writer.write(
                &adapt(&batch, &schema)
                    .with_context(|| format!("{}: does not fit {}", path.display(), def.slug))?,
            )?;
        }
        members.push(Member {
            provider: provider.to_owned(),
            period: period.to_owned(),
            version: v.version,
            first_row: rows,
            rows: n,
        });
        rows += n;
    }
    let file = writer.into_inner()?;
    file.sync_all()?;
    drop(file);
    members.sort_by(|a, b| (&a.period, &a.provider).cmp(&(&b.period, &b.provider)));
    let manifest = Manifest {
        collection: def.slug.to_string(),
        unit: unit.to_string(),
        number,
        made_at: now,
        rows,
        bytes: std::fs::metadata(&data)?.len(),
        members,
    };
    let path = tmp.join("members.json");
    std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
    File::open(&path)?.sync_all()?;
    Ok(manifest)
}

/// What packing one unit did.
#[derive(Debug, Clone, Serialize)]
pub struct Packed {
    pub collection: String,
    pub unit: String,
    /// The new pack's number; `None` when the latest pack already held every current version.
    pub number: Option<u32>,
    /// The versions the unit's latest pack now holds, and their rows.
    pub members: usize,
    pub rows: u64,
}

/// The last period of `def`'s kind inside `unit`.
fn last_period(def: &CollectionDef, unit: &Period) -> Period {
    let last_day = unit.end().pred_opt().unwrap_or(unit.end());
    Period::containing(def.frequency.period, last_day)
}

/// The units of `def` whose every period is past its deadline at `now`, from the unit it
/// was listed in on. With `open_only`, only those with a period still open to amendments:
/// the scheduler packs a unit as its last deadline passes and again whenever a late or
/// amended extract lands, until nothing more can land.
pub fn closed_units(
    def: &CollectionDef,
    listed: chrono::NaiveDate,
    now: DateTime<Utc>,
    open_only: bool,
) -> Vec<Period> {
    let today = now.with_timezone(&def.frequency.timezone).date_naive();
    let mut unit = unit_of(&Period::containing(def.frequency.period, listed));
    let mut out = Vec::new();
    while unit.first_day() <= today {
        let last = last_period(def, &unit);
        if deadline(def, &last) <= now && (!open_only || closes(def, &last) > now) {
            out.push(unit);
        }
        unit = unit_of(&Period::containing(def.frequency.period, unit.end()));
    }
    out
}

/// The units of `def` that overlap the days from `from` up to (not including) `end`.
pub fn units_between(
    def: &CollectionDef,
    from: chrono::NaiveDate,
    end: chrono::NaiveDate,
) -> Vec<Period> {
    let mut unit = unit_of(&Period::containing(def.frequency.period, from));
    let mut out = Vec::new();
    while unit.first_day() < end {
        out.push(unit);
        unit = unit_of(&Period::containing(def.frequency.period, unit.end()));
    }
    out
}

/// Packs each of `units` of `def` from the current versions the register holds, one unit
/// at a time on a blocking thread. A unit that fails is reported and the others go on.
pub async fn pack_units(
    store: &dyn crate::store::Store,
    lake: &Lake,
    def: &CollectionDef,
    units: &[Period],
    now: DateTime<Utc>,
) -> Vec<anyhow::Result<Packed>> {
    let mut out = Vec::with_capacity(units.len());
    for unit in units {
        let result = async {
            let kind = def.frequency.period;
            let first = Period::containing(kind, unit.first_day());
            let last = last_period(def, unit);
            let current = store
                .current_versions(def.slug.as_str(), &first.to_string(), &last.to_string())
                .await?;
            let (lake_, def_, unit_) = (lake.clone(), def.clone(), *unit);
            let made =
                tokio::task::spawn_blocking(move || make(&lake_, &def_, &unit_, &current, now))
                    .await
                    .context("packing stopped")??;
            let number = made.as_ref().map(|p| p.manifest.number);
            let latest = match made {
                Some(pack) => Some(pack),
                None => Pack::latest(lake, def.slug.as_str(), unit)?,
            };
            anyhow::Ok(Packed {
                collection: def.slug.to_string(),
                unit: unit.to_string(),
                number,
                members: latest.as_ref().map_or(0, |p| p.manifest.members.len()),
                rows: latest.as_ref().map_or(0, |p| p.manifest.rows),
            })
        }
        .await
        .with_context(|| format!("packing {} {unit}", def.slug));
        out.push(result);
    }
    out
}

/// A batch read from a version file or a pack, in the pack's schema: columns by name, cast
/// where an item's type has changed, and nulls for an item the file predates.
fn adapt(batch: &RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> anyhow::Result<ArrayRef> {
            Ok(match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => c.clone(),
                Some(c) => cast(c, f.data_type())
                    .with_context(|| format!("{} cannot be read as {}", f.name(), f.data_type()))?,
                None if f.is_nullable() => new_null_array(f.data_type(), batch.num_rows()),
                None => bail!("it has no {} column", f.name()),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Removes what packing left behind: temporary folders a killed process left, and packs
/// superseded by one made over an hour ago. A build reads the latest pack when it starts
/// and takes seconds, so an hour leaves any build that chose an older pack time to finish.
fn sweep(dir: &Path) {
    let age = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-")
            && age(&entry.path()).is_some_and(|a| a > ABANDONED)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let mut numbers = numbers(dir);
    numbers.sort_unstable();
    let settled = numbers
        .iter()
        .rev()
        .find(|n| age(&dir.join(format!("p{n}"))).is_some_and(|a| a > ABANDONED));
    if let Some(&settled) = settled {
        for n in numbers.iter().filter(|&&n| n < settled) {
            let old = dir.join(format!("p{n}"));
            tracing::info!(pack = %old.display(), "Removed a pack superseded over an hour ago.");
            let _ = std::fs::remove_dir_all(old);
        }
    }
}
