//! A built return as it is kept: `<returns dir>/<name>/period=<p>/v<n>/` holding
//! `data.parquet` and `manifest.json`, written whole or not at all, and read back by
//! version.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::collections::{BTreeMap, BTreeSet};

use super::catalogue::{QueryLicence, ReturnDef};
use super::completeness::Completeness;
use super::revision::{CellChange, InputChange, MOST_CELLS, Revision, by_row};
use crate::domain::Period;

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
    pub revision: Option<Revision>,
}

impl Manifest {
    /// What decides the data: the query and the inputs. Two builds with the same
    /// fingerprint give the same bytes.
    pub(super) fn fingerprint(&self) -> (&str, &str, &[InputFile], &str) {
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

pub(super) fn period_dir(root: &Path, name: &str, period: &Period) -> PathBuf {
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

/// Writes the next version of the artifact in `dir`: the data and the manifest (its version
/// and data sha256 filled in here), under a temporary name and renamed whole, so that an
/// artifact is there complete or not at all.
pub(super) fn write_artifact(
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

/// The inputs that differ between two builds of a period.
fn input_changes(before: &[InputFile], after: &[InputFile]) -> Vec<InputChange> {
    let index = |files: &[InputFile]| -> BTreeMap<(String, String, String), i64> {
        files
            .iter()
            .map(|f| {
                (
                    (f.collection.clone(), f.provider.clone(), f.period.clone()),
                    f.version,
                )
            })
            .collect()
    };
    let (a, b) = (index(before), index(after));
    let keys: BTreeSet<&(String, String, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (from, to) = (a.get(k).copied(), b.get(k).copied());
            (from != to).then(|| InputChange {
                collection: k.0.clone(),
                provider: k.1.clone(),
                period: k.2.clone(),
                from_version: from,
                to_version: to,
            })
        })
        .collect()
}

/// What `after` (with `rows_after`) changed from `before` (with `rows_before`).
pub fn revision(
    def: &ReturnDef,
    before: &Manifest,
    rows_before: &[RecordBatch],
    after: &Manifest,
    rows_after: &[RecordBatch],
) -> anyhow::Result<Revision> {
    let inputs = input_changes(&before.inputs, &after.inputs);
    let mut why: Vec<String> = inputs.iter().map(InputChange::said).collect();
    let licence = |l: &Option<QueryLicence>| match l {
        Some(l) => format!("{} version {}", l.number, l.version),
        None => "no licence (read from the queries folder)".into(),
    };
    if before.sql_sha256 != after.sql_sha256 {
        why.push(format!("the query changed: {}", licence(&after.licence)));
    } else if before.licence != after.licence {
        why.push(format!(
            "the same query, built under {} (was {})",
            licence(&after.licence),
            licence(&before.licence)
        ));
    }
    if before.context_sha256 != after.context_sha256 {
        why.push("the provider register or an input collection's definition changed".into());
    }
    let (was, now) = (
        before.completeness.awaiting().0,
        after.completeness.awaiting().0,
    );
    if was != now {
        why.push(match (was, now) {
            (1, 0) => "the figure held for confirmation no longer is: what rested on it is final".into(),
            (_, 0) => format!(
                "none of the {was} figures held for confirmation still is: what rested on them is final"
            ),
            (0, 1) => "1 figure is held for its provider's confirmation".into(),
            (0, _) => format!("{now} figures are held for their providers' confirmation"),
            _ => format!("{now} held figures await confirmation, where {was} did"),
        });
    }
    let (was, now) = (
        before.completeness.unsigned().0,
        after.completeness.unsigned().0,
    );
    if was != now {
        // Said by count: a period may stop awaiting sign-off because it was signed off, or
        // because an upload replaced what was pulled.
        why.push(match (was, now) {
            (_, 0) => format!(
                "no pulled period past its deadline awaits its provider's sign-off now, where {was} did"
            ),
            (0, 1) => "1 pulled period past its deadline awaits its provider's sign-off".into(),
            (0, _) => format!("{now} pulled periods past their deadline await their providers' sign-off"),
            (_, 1) => format!(
                "1 pulled period past its deadline awaits its provider's sign-off, where {was} did"
            ),
            _ => format!(
                "{now} pulled periods past their deadline await their providers' sign-off, where {was} did"
            ),
        });
    }
    let owed_only = |c: &super::Completeness| {
        let mut c = c.clone();
        c.inputs.iter_mut().for_each(|i| {
            i.provisional.clear();
            i.unsigned.clear();
        });
        c
    };
    if owed_only(&before.completeness) != owed_only(&after.completeness) && inputs.is_empty() {
        why.push("what is owed changed: more of the period is past its deadline".into());
    }
    if before.disclosure_rule != after.disclosure_rule {
        why.push("the disclosure rule changed".into());
    }
    let (names_after, new) = by_row(def, rows_after)?;
    // The version before was checked against the dimensions of its day: if today's do not
    // tell its rows apart, the reasons stand and the cells are not compared.
    let (names, old) = match by_row(def, rows_before) {
        Ok(rows) => rows,
        Err(e) => {
            why.push(format!(
                "its cells could not be compared with version {}: {e:#}",
                before.version
            ));
            return Ok(Revision {
                of: before.version,
                why,
                inputs,
                cells: Vec::new(),
                cells_changed: 0,
                compared: false,
            });
        }
    };
    let mut cells = Vec::new();
    let mut cells_changed = 0;
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    // The columns in the return's order, with any the new version dropped at the end; a
    // figure that became final is said in `why`, not counted as a changed cell.
    let mut columns: Vec<&String> = names_after.iter().collect();
    columns.extend(names.iter().filter(|n| !names_after.contains(n)));
    columns.retain(|c| c.as_str() != super::provisional::COLUMN);
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        for &column in &columns {
            let value = |row: Option<&Vec<String>>, names: &[String]| {
                row.and_then(|r| names.iter().position(|n| n == column).map(|i| r[i].clone()))
                    .unwrap_or_default()
            };
            let (was, now) = (value(a, &names), value(b, &names_after));
            if was == now && a.is_some() == b.is_some() {
                continue;
            }
            cells_changed += 1;
            if cells.len() < MOST_CELLS {
                cells.push(CellChange {
                    row: key.clone(),
                    column: column.clone(),
                    before: was,
                    after: now,
                });
            }
        }
    }
    Ok(Revision {
        of: before.version,
        why,
        inputs,
        cells,
        cells_changed,
        compared: true,
    })
}

/// The revision of `artifact` as a reader of one ICB's rows may see it: why it was made, and
/// only the changed cells of the rows it reads (the rows whose ICB is `icb`).
pub fn revision_of_icb(
    def: &ReturnDef,
    artifact: &Artifact,
    icb: &str,
) -> anyhow::Result<Option<Revision>> {
    let Some(national) = &artifact.manifest.revision else {
        return Ok(None);
    };
    let Some(previous) = artifact
        .dir
        .parent()
        .map(|period| period.join(format!("v{}", national.of)))
        .filter(|dir| dir.join("manifest.json").is_file())
    else {
        return Ok(Some(uncompared(national)));
    };
    let previous = Artifact::open(&previous)?;
    // The ICB's rows of both versions, compared afresh: a row it had before and lost is
    // its change too, and the national list's cut at MOST_CELLS cannot hide its own.
    let rows = |a: &Artifact| super::cells::of_icb(a.read()?, icb);
    let (before, after) = match (rows(&previous), rows(artifact)) {
        (Ok(b), Ok(a)) => (b, a),
        _ => return Ok(Some(uncompared(national))),
    };
    Ok(Some(revision(
        def,
        &previous.manifest,
        &before,
        &artifact.manifest,
        &after,
    )?))
}

/// A revision's reasons without its cells, when they cannot be shown.
fn uncompared(national: &Revision) -> Revision {
    Revision {
        cells: Vec::new(),
        cells_changed: 0,
        compared: false,
        ..national.clone()
    }
}
