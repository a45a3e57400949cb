//! The lake on local disk: `lake/<collection>/period=<p>/provider=<code>/v<version>.parquet`,
//! each file with the provider's code and the period as its first two columns.
//! A landing writes to a hidden temporary file in the same folder, flushes it to disk and
//! renames it into place, so a reader (or a crash) sees either no new file or a whole one.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use crate::domain::{LAKE_COLUMNS, RunKey};

#[derive(Debug, Clone)]
pub struct Lake {
    pub root: PathBuf,
}

impl Lake {
    pub fn new(root: impl Into<PathBuf>) -> Lake {
        Lake { root: root.into() }
    }

    /// The folder one run key's versions live in.
    pub fn dir(&self, key: &RunKey) -> PathBuf {
        self.root
            .join(&key.collection)
            .join(format!("period={}", key.period))
            .join(format!("provider={}", key.provider))
    }

    /// The folder the raw inputs of a run key are kept in for audit, each by its sha256.
    pub fn raw_dir(&self, key: &RunKey) -> PathBuf {
        self.root
            .join("_raw")
            .join(&key.collection)
            .join(format!("period={}", key.period))
            .join(format!("provider={}", key.provider))
    }

    /// The folder rows that failed a check are kept in, a CSV beside each version.
    pub fn quarantine_dir(&self, key: &RunKey) -> PathBuf {
        self.root
            .join("_quarantine")
            .join(&key.collection)
            .join(format!("period={}", key.period))
            .join(format!("provider={}", key.provider))
    }

    /// The folder the packs of one unit of a collection are kept in (see `landing::pack`).
    pub fn packs_dir(&self, collection: &str, unit: &crate::domain::Period) -> PathBuf {
        self.root
            .join("_packs")
            .join(collection)
            .join(unit.to_string())
    }

    /// The working area for extracts under way (a connector's download, a converted
    /// copy), with what a killed pull left there swept away first: such a file may hold
    /// columns that are not listed items (rule 8).
    pub fn incoming(&self) -> PathBuf {
        let work = self.root.join("_incoming");
        sweep(&work, "");
        work
    }

    /// A file in the working area for `key`'s extract, removed when the guard is dropped.
    pub fn scratch(&self, key: &RunKey, suffix: &str) -> anyhow::Result<Scratch> {
        let work = self.root.join("_incoming");
        std::fs::create_dir_all(&work)
            .with_context(|| format!("cannot create {}", work.display()))?;
        let name = format!(
            "{}_{}_{}.{suffix}",
            key.collection, key.provider, key.period
        );
        Ok(Scratch::new(Some(work.join(name))))
    }

    /// Removes a version file that the register does not name: its run's outcome could not
    /// be recorded, so no reader will ever be pointed at it.
    pub fn discard(&self, path: &Path) {
        if path.starts_with(&self.root)
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "Could not remove a version file the register does not name.");
        }
    }

    /// The first version number from `from` on that has no file in `key`'s folder. A run
    /// killed between putting its file in place and recording it leaves a file no register
    /// row names; its number is passed over rather than written over.
    pub fn next_version(&self, key: &RunKey, from: i64) -> i64 {
        let highest = std::fs::read_dir(self.dir(key))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix('v')?
                    .strip_suffix(".parquet")?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        from.max(highest + 1)
    }

    /// Starts writing a new version of `key`'s extract.
    pub fn create(&self, key: &RunKey, schema: SchemaRef) -> anyhow::Result<PendingFile> {
        let dir = self.dir(key);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        sweep(&dir, ".tmp-");
        let tmp = dir.join(format!(
            ".tmp-{}-{}.parquet",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut fields: Vec<Field> = LAKE_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect();
        fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        let schema = Arc::new(Schema::new(fields));
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(parquet_properties()))?;
        // Parquet is encoded and written on a thread of its own while the next rows are
        // read and checked; two batches at most wait between them, so memory stays bounded.
        let (sender, batches) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let encoder = std::thread::Builder::new()
            .name("tally-parquet".into())
            .spawn(move || -> anyhow::Result<File> {
                for batch in batches {
                    writer.write(&batch)?;
                }
                Ok(writer.into_inner()?)
            })?;
        Ok(PendingFile {
            provider: key.provider.clone(),
            period: key.period.to_string(),
            schema,
            tmp,
            dir,
            writer: Some((sender, encoder)),
            quarantine: None,
            quarantined: 0,
            quarantine_dir: self.quarantine_dir(key),
            columns,
        })
    }
}

/// A version being written; dropped without `commit`, it removes its temporary files.
pub struct PendingFile {
    provider: String,
    period: String,
    /// The file's schema: the lake's own columns, then the listed items.
    schema: SchemaRef,
    tmp: PathBuf,
    dir: PathBuf,
    /// The channel to the encoding thread, and the thread; taken at commit.
    writer: Option<(
        std::sync::mpsc::SyncSender<RecordBatch>,
        std::thread::JoinHandle<anyhow::Result<File>>,
    )>,
    /// Rows that failed a check, written as they are found, with a temporary name until
    /// the version is committed.
    quarantine: Option<(csv::Writer<File>, PathBuf)>,
    /// Problems written to quarantine so far: at most `MOST_QUARANTINED` are kept.
    quarantined: u64,
    quarantine_dir: PathBuf,
    /// The listed items, the quarantine file's columns after the reason.
    columns: Vec<String>,
}

impl PendingFile {
    /// Writes a batch of the listed items, with the provider and period put in front.
    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.provider.as_str(); n])),
            Arc::new(StringArray::from(vec![self.period.as_str(); n])),
        ];
        columns.extend(batch.columns().iter().cloned());
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let (sender, _) = self.writer.as_ref().expect("open until commit");
        if sender.send(batch).is_err() {
            // The encoder stopped: its error says why.
            let (_, encoder) = self.writer.take().expect("open until commit");
            let _ = std::fs::remove_file(&self.tmp);
            return Err(match encoder.join() {
                Ok(Err(e)) => e.context("writing the new version"),
                Ok(Ok(_)) => anyhow::anyhow!("the Parquet writer stopped early"),
                Err(_) => anyhow::anyhow!("the Parquet writer panicked"),
            });
        }
        Ok(())
    }

    /// Keeps a row that failed a check: its line, the item and check, the reason, and its
    /// cells for the listed items.
    pub fn quarantine(
        &mut self,
        line: u64,
        item: &str,
        rule: &str,
        reason: &str,
        cells: &[String],
    ) -> anyhow::Result<()> {
        self.quarantined += 1;
        if self.quarantined > super::limits::MOST_QUARANTINED {
            return Ok(());
        }
        if self.quarantine.is_none() {
            let tmp = self.tmp.with_extension("quarantine.csv");
            let mut out = csv::Writer::from_path(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut header = vec!["line", "item", "check", "reason"];
            header.extend(self.columns.iter().map(String::as_str));
            out.write_record(&header)?;
            self.quarantine = Some((out, tmp));
        }
        let (out, _) = self.quarantine.as_mut().expect("opened above");
        let line = line.to_string();
        let mut record = vec![line.as_str(), item, rule, reason];
        record.extend(cells.iter().map(String::as_str));
        out.write_record(&record)?;
        Ok(())
    }

    /// Finishes the file, puts it on disk and renames it to `v<version>.parquet`; the rows
    /// in quarantine, if any, go to `_quarantine/…/v<version>.csv` first.
    pub fn commit(mut self, version: i64) -> anyhow::Result<PathBuf> {
        let (sender, encoder) = self.writer.take().expect("committed once");
        drop(sender);
        let file = encoder
            .join()
            .map_err(|_| anyhow::anyhow!("the Parquet writer panicked"))?
            .context("writing the new version")?;
        file.sync_all()?;
        drop(file);
        // A hard link puts the file in place only if the name is free, where a rename would
        // silently replace a version another instance has just landed.
        let path = self.dir.join(format!("v{version}.parquet"));
        match std::fs::hard_link(&self.tmp, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&self.tmp);
                anyhow::bail!(
                    "{} exists already: another instance landed this version meanwhile; nothing was written over",
                    path.display()
                );
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.tmp);
                return Err(e).with_context(|| {
                    format!("cannot move the new version into {}", path.display())
                });
            }
        }
        std::fs::remove_file(&self.tmp)?;
        sync_dir(&self.dir)?;
        // The version is ours now, so a quarantine file of its number can only be one a
        // failed landing left: it is replaced.
        if let Some((out, tmp)) = self.quarantine.take() {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::create_dir_all(&self.quarantine_dir)?;
            let path = self.quarantine_dir.join(format!("v{version}.csv"));
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("cannot move quarantined rows into {}", path.display()))?;
            sync_dir(&self.quarantine_dir)?;
        }
        Ok(path)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if let Some((sender, encoder)) = self.writer.take() {
            drop(sender);
            let _ = encoder.join();
            let _ = std::fs::remove_file(&self.tmp);
        }
        if let Some((_, tmp)) = &self.quarantine {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The schema a collection's files are read with: the lake's own columns, then the listed
/// items. A file landed under an earlier version of the definition is read into it, an
/// item it lacks as nulls.
pub fn schema(def: &crate::domain::definition::CollectionDef) -> SchemaRef {
    let mut fields: Vec<Field> = LAKE_COLUMNS
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, false))
        .collect();
    fields.extend(
        super::validate::schema(def)
            .fields()
            .iter()
            .map(|f| f.as_ref().clone()),
    );
    Arc::new(Schema::new(fields))
}

/// How the lake's and the returns' Parquet files are written: Snappy, which shrinks an
/// extract's repeated codes and names many times over and, unlike zstd, costs next to
/// nothing to set up for each column of each small file a return reads (measured with
/// `benches/run-returns`; see benches/README.md).
pub fn parquet_properties() -> datafusion::parquet::file::properties::WriterProperties {
    use datafusion::parquet::basic::Compression;
    datafusion::parquet::file::properties::WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// How long a temporary file may go unwritten before it is taken for one left by a process
/// that died mid-landing. A landing under way writes a batch at least every few seconds.
pub const ABANDONED: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Removes files named `prefix…` that a killed process left in `dir`: temporary files,
/// never read, and removed only once untouched for an hour, so a landing still under way in
/// another process keeps its file.
pub fn sweep(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(prefix) {
            continue;
        }
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if idle.is_some_and(|idle| idle > ABANDONED) {
            tracing::info!(file = %entry.path().display(), "Removed a temporary file a stopped landing left.");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A temporary file that must not outlive the run that made it (it may hold columns that
/// are not listed items, rule 8): removed however the run ends.
#[derive(Debug)]
pub struct Scratch(Option<PathBuf>);

impl Scratch {
    /// Guards `path`, when there is one to guard.
    pub fn new(path: Option<PathBuf>) -> Scratch {
        Scratch(path)
    }

    /// The guarded file (empty when there is none).
    pub fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A rename is durable only once its folder is flushed too.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Makes the folder `target` whole or not at all: `fill` writes (and flushes) its files into
/// a fresh temporary folder beside it, named `.tmp-<name>-<random>` so that no other
/// process, here or on another machine sharing the disk, can choose the same, which is then
/// renamed to `target`. On any error the temporary folder is removed. A rename onto a
/// folder another process has just made fails, as that folder is not empty, so nothing is
/// ever written over.
pub fn write_folder<T>(
    target: &Path,
    fill: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let parent = target
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent folder", target.display()))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} has no name", target.display()))?;
    let tmp = parent.join(format!(".tmp-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let filled = fill(&tmp);
    let placed = filled.and_then(|value| {
        std::fs::rename(&tmp, target).with_context(|| {
            format!(
                "cannot put {} in place: another process may have made it meanwhile",
                target.display()
            )
        })?;
        Ok(value)
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let value = placed?;
    sync_dir(parent)?;
    Ok(value)
}
