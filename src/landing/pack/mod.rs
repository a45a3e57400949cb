//! Packs: the current versions of a collection's extracts for one month (of a daily
//! collection) or one period (of any other), gathered into one Parquet file.
//!
//! Landing writes a file a provider a period, so a year of the daily ward census is 70,000
//! files, and a return that opened each one spent its time opening files rather than adding
//! beds up (a KH03 quarter: 11 s over 17,000 files; `benches/run-returns`). A pack is only
//! ever a faster way to read what the version files hold. The register still says which
//! versions are current; a build reads from a pack only the members that are still current
//! and the rest from their own files; version files are never removed. So a pack that is
//! stale, missing, damaged or not made yet changes how fast a return is built, never what
//! it says: one that fails its checks here is passed over, and a build whose pack cannot be
//! read after all is run again from the version files.
//!
//! `lake/_packs/<collection>/<unit>/p<n>/` holds `data.parquet` and `members.json` (each
//! member's provider, period, version and rows). The unit's folder is not named
//! `period=<unit>` as the version folders are: DuckDB, Polars and Spark read `key=value`
//! folders as columns, and a month's `period=2027-04` would hide each row's own day.

mod make;
mod units;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::lake::Lake;
use crate::domain::Period;
use crate::domain::PeriodKind;
use crate::domain::definition::CollectionDef;
use crate::store::runs::CurrentVersion;

pub use make::{Made, make};
pub use units::{Packed, closed_units, pack_units, units_between};

/// Rows per row group in a pack. A month of the census (about 340,000 rows) makes three,
/// so the two cores can each decode part of one pack, and a day's rows (about 11,000) are
/// read from one row group without decoding the others.
pub const ROW_GROUP_ROWS: usize = 131_072;

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
    /// The fingerprint of the schema the rows were written in: a pack written before the
    /// collection's items changed is not read.
    pub schema: String,
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

/// The fingerprint of the schema `def`'s files are read in (see `lake::schema`).
pub fn schema_fingerprint(def: &CollectionDef) -> String {
    let described: Vec<String> = super::lake::schema(def)
        .fields()
        .iter()
        .map(|f| format!("{}:{}:{}", f.name(), f.data_type(), f.is_nullable()))
        .collect();
    hex::encode(Sha256::digest(described.join(",").as_bytes()))
}

impl Pack {
    pub fn data_path(&self) -> PathBuf {
        self.dir.join("data.parquet")
    }

    /// The newest pack of `unit` that can be read for `def` as it is now: whole, its
    /// manifest consistent with its data, written in the current schema. Anything else is
    /// passed over (and logged), and the versions' own files are read instead.
    pub fn latest(lake: &Lake, def: &CollectionDef, unit: &Period) -> anyhow::Result<Option<Pack>> {
        let dir = lake.packs_dir(def.slug.as_str(), unit);
        let Some(n) = numbers(&dir).into_iter().max() else {
            return Ok(None);
        };
        let dir = dir.join(format!("p{n}"));
        let pack = std::fs::read_to_string(dir.join("members.json"))
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(serde_json::from_str::<Manifest>(&text)?))
            .map(|manifest| Pack { dir, manifest });
        match pack.and_then(|p| p.check().map(|()| p)) {
            Ok(p) if p.manifest.schema == schema_fingerprint(def) => Ok(Some(p)),
            Ok(p) => {
                tracing::info!(
                    pack = %p.dir.display(),
                    "A pack was written before the collection's items changed; reading its versions from their own files."
                );
                Ok(None)
            }
            Err(e) => {
                // Not ours to mend: the version files still hold everything, so the pack is
                // passed over and the next packing makes a whole one beside it.
                tracing::warn!(
                    pack = %lake.packs_dir(def.slug.as_str(), unit).join(format!("p{n}")).display(),
                    error = format!("{e:#}"),
                    "A pack cannot be used; reading its versions from their own files."
                );
                Ok(None)
            }
        }
    }

    /// The manifest agrees with itself and with the data: the file is the size it gives, its
    /// members' rows follow one another from the first, and the file holds that many rows;
    /// and no build has found it unreadable.
    fn check(&self) -> anyhow::Result<()> {
        if let Ok(why) = std::fs::read_to_string(self.dir.join(DAMAGED)) {
            anyhow::bail!("a build found it unreadable: {}", why.trim());
        }
        let m = &self.manifest;
        let path = self.data_path();
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let bytes = file.metadata()?.len();
        anyhow::ensure!(
            bytes == m.bytes,
            "its data is {bytes} bytes, not {}",
            m.bytes
        );
        let mut ranges: Vec<(u64, u64)> = m.members.iter().map(|x| (x.first_row, x.rows)).collect();
        ranges.sort_unstable();
        let mut next = 0;
        for (first, rows) in ranges {
            anyhow::ensure!(first == next, "its members' rows do not follow one another");
            next = first + rows;
        }
        anyhow::ensure!(
            next == m.rows,
            "its members hold {next} rows, not {}",
            m.rows
        );
        let footer = datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .with_context(|| format!("{}: not a Parquet file", path.display()))?;
        let in_file = footer.file_metadata().num_rows() as u64;
        anyhow::ensure!(
            in_file == m.rows,
            "its data holds {in_file} rows, not {}",
            m.rows
        );
        Ok(())
    }
}

/// The file a build leaves in a pack it could not read, saying why; such a pack is passed
/// over from then on, and the unit is packed again from the versions' own files.
const DAMAGED: &str = "damaged.txt";

/// Reads the whole of the pack at `data` and, if it cannot be read, marks it damaged. A
/// build calls this for each pack it read when it had to fall back to the version files,
/// so that only the pack at fault is passed over from then on.
pub fn mark_if_unreadable(data: &Path) {
    let read = std::fs::File::open(data)
        .map_err(anyhow::Error::from)
        .and_then(|f| {
            let reader =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    f,
                )?
                .build()?;
            for batch in reader {
                batch?;
            }
            Ok(())
        });
    if let (Err(e), Some(dir)) = (read, data.parent()) {
        tracing::warn!(
            pack = %dir.display(),
            error = format!("{e:#}"),
            "A pack cannot be read; it is marked damaged and will be packed again."
        );
        let _ = std::fs::write(dir.join(DAMAGED), format!("{e:#}\n"));
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

    pub fn is_pack(&self) -> bool {
        matches!(self, Read::Pack { .. })
    }
}

/// Every version from its own file.
pub fn files(current: &[CurrentVersion]) -> Vec<Read> {
    current
        .iter()
        .map(|v| Read::File(PathBuf::from(&v.path)))
        .collect()
}

/// How to read `current` (current versions of `def`) in as few files as the packs allow:
/// each version from its unit's latest pack when the pack holds that very version,
/// otherwise from its own file.
pub fn plan(
    lake: &Lake,
    def: &CollectionDef,
    current: &[CurrentVersion],
) -> anyhow::Result<Vec<Read>> {
    let mut by_unit: BTreeMap<Period, Vec<&CurrentVersion>> = BTreeMap::new();
    for v in current {
        let period = Period::parse(&v.period).map_err(anyhow::Error::msg)?;
        by_unit.entry(unit_of(&period)).or_default().push(v);
    }
    let mut reads = Vec::new();
    for (unit, versions) in by_unit {
        let Some(pack) = Pack::latest(lake, def, &unit)? else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_skips_what_lies_between_the_ranges() {
        let s = Read::selection(20, &[(0, 3), (5, 2), (15, 5)]);
        let want = RowSelection::from(vec![
            RowSelector::select(3),
            RowSelector::skip(2),
            RowSelector::select(2),
            RowSelector::skip(8),
            RowSelector::select(5),
        ]);
        assert_eq!(s, want);
        assert_eq!(s.row_count(), 10);
        let tail = Read::selection(10, &[(4, 2)]);
        assert_eq!(tail.row_count(), 2);
        assert_eq!(tail.skipped_row_count(), 8);
    }

    #[test]
    fn a_day_is_packed_in_its_month_and_other_periods_alone() {
        let p = |s: &str| Period::parse(s).unwrap();
        assert_eq!(unit_of(&p("2026-04-15")), p("2026-04"));
        assert_eq!(unit_of(&p("2026-W16")), p("2026-W16"));
        assert_eq!(unit_of(&p("2026-04")), p("2026-04"));
        assert_eq!(unit_of(&p("2026-27-Q1")), p("2026-27-Q1"));
    }
}
