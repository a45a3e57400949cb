//! Making a pack: the kept rows of the unit's previous pack in one read, then each new
//! version's file, written whole into `p<n>/` or not at all.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Manifest, Member, Pack, Read, numbers, schema_fingerprint};
use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::landing::lake::{ABANDONED, Lake, write_folder};
use crate::store::runs::CurrentVersion;

/// The current versions a pack is made of, by (period, provider).
type Wanted<'a> = BTreeMap<(&'a str, &'a str), &'a CurrentVersion>;

/// The unit's latest pack after packing, and whether packing made it.
#[derive(Debug, Clone)]
pub struct Made {
    pub pack: Pack,
    pub new: bool,
}

/// Makes a new pack of `unit` from `current`, the current versions of its periods, in row
/// groups of `row_group_rows`, unless the latest pack holds exactly those already; `None`
/// when nothing has landed. Blocking: run it off the async threads.
pub fn make(
    lake: &Lake,
    def: &CollectionDef,
    unit: &Period,
    current: &[CurrentVersion],
    now: DateTime<Utc>,
    row_group_rows: usize,
) -> anyhow::Result<Option<Made>> {
    let dir = lake.packs_dir(def.slug.as_str(), unit);
    sweep(&dir);
    let wanted: Wanted = current
        .iter()
        .map(|v| ((v.period.as_str(), v.provider.as_str()), v))
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let previous = Pack::latest(lake, def, unit)?;
    if let Some(p) = previous.as_ref().filter(|p| holds_exactly(p, &wanted)) {
        return Ok(Some(Made {
            pack: p.clone(),
            new: false,
        }));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let number = numbers(&dir).into_iter().max().unwrap_or(0) + 1;
    let target = dir.join(format!("p{number}"));
    let options = Options {
        def,
        unit,
        number,
        now,
        row_group_rows,
    };
    let made = write_folder(&target, |tmp| {
        write(&options, tmp, previous.as_ref(), &wanted)
    });
    let made = match (made, &previous) {
        // The previous pack passed its checks but could not be read after all: everything
        // is read again from the version files.
        (Err(e), Some(p)) if !target.exists() => {
            tracing::warn!(
                pack = %p.dir.display(),
                error = format!("{e:#}"),
                "Packing from the previous pack failed; packing from the versions' own files."
            );
            write_folder(&target, |tmp| write(&options, tmp, None, &wanted))
        }
        (made, _) => made,
    };
    match made {
        Ok(manifest) => Ok(Some(Made {
            pack: Pack {
                dir: target,
                manifest,
            },
            new: true,
        })),
        // Another instance sharing the lake packed the same unit meanwhile: if its pack holds
        // what this one would have, there is nothing to do.
        Err(e) => match Pack::latest(lake, def, unit)? {
            Some(pack) if holds_exactly(&pack, &wanted) => Ok(Some(Made { pack, new: false })),
            _ => Err(e),
        },
    }
}

/// True when `pack` holds exactly the versions `wanted`, no more and no fewer.
fn holds_exactly(pack: &Pack, wanted: &Wanted) -> bool {
    pack.manifest.members.len() == wanted.len()
        && pack.manifest.members.iter().all(|m| {
            wanted
                .get(&(m.period.as_str(), m.provider.as_str()))
                .is_some_and(|v| v.version == m.version)
        })
}

struct Options<'a> {
    def: &'a CollectionDef,
    unit: &'a Period,
    number: u32,
    now: DateTime<Utc>,
    row_group_rows: usize,
}

/// Writes the pack's data and manifest into `tmp`: the rows of the previous pack's members
/// that are still current in one read, then each new version's file.
fn write(
    o: &Options,
    tmp: &Path,
    previous: Option<&Pack>,
    wanted: &Wanted,
) -> anyhow::Result<Manifest> {
    let schema = crate::landing::lake::schema(o.def);
    let data = tmp.join("data.parquet");
    let properties = datafusion::parquet::file::properties::WriterProperties::builder()
        .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(o.row_group_rows))
        .build();
    let mut writer = ArrowWriter::try_new(File::create(&data)?, schema.clone(), Some(properties))?;
    let mut members = Vec::with_capacity(wanted.len());
    let mut rows: u64 = 0;

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
    kept.sort_by_key(|m| m.first_row);
    if let Some(previous) = previous.filter(|_| !kept.is_empty()) {
        let path = previous.data_path();
        let ranges: Vec<(u64, u64)> = kept.iter().map(|m| (m.first_row, m.rows)).collect();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).with_context(|| format!("cannot open {}", path.display()))?,
        )?
        .with_batch_size(crate::landing::BATCH_ROWS)
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
        for m in &kept {
            members.push(Member {
                first_row: rows,
                ..(*m).clone()
            });
            rows += m.rows;
        }
    }
    let in_kept: HashSet<(&str, &str)> = kept
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
            .with_batch_size(crate::landing::BATCH_ROWS)
            .build()?;
        let mut n = 0;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            n += batch.num_rows() as u64;
            writer
                .write(&adapt(&batch, &schema).with_context(|| {
                    format!("{}: does not fit {}", path.display(), o.def.slug)
                })?)?;
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
        collection: o.def.slug.to_string(),
        unit: o.unit.to_string(),
        number: o.number,
        made_at: o.now,
        schema: schema_fingerprint(o.def),
        rows,
        bytes: std::fs::metadata(&data)?.len(),
        members,
    };
    let path = tmp.join("members.json");
    std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
    File::open(&path)?.sync_all()?;
    Ok(manifest)
}

/// A batch read from a version file or a pack, in the pack's schema: columns by name, cast
/// where an item's type has changed (a value that does not fit is an error, never a quiet
/// null), and nulls for an item the file predates.
fn adapt(batch: &RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> anyhow::Result<ArrayRef> {
            Ok(match batch.column_by_name(f.name()) {
                Some(c) if c.data_type() == f.data_type() => c.clone(),
                Some(c) => cast_with_options(c, f.data_type(), &strict)
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
