//! A bundle: one zip holding, for each period asked, the data as CSV with its CSVW metadata,
//! the manifest and the SDMX-CSV, and once the SDMX structure they refer to: all an analyst
//! needs to read a run of periods and to know what each one rests on.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use zip::write::SimpleFileOptions;

use super::artifact::Artifact;
use super::catalogue::ReturnDef;
use super::export::{ExportFormat, export_scoped};

/// The most periods one bundle holds: a year of days and a little more.
pub const MOST_PERIODS: usize = 400;

/// The name each file of `artifact` has inside a bundle (and in a download).
pub fn file_name(def: &ReturnDef, artifact: &Artifact, format: ExportFormat) -> String {
    let m = &artifact.manifest;
    format!(
        "{}-{}-v{}.{}",
        def.name,
        m.period,
        m.version,
        format.extension()
    )
}

/// Writes the bundle of `artifacts` (each period's chosen version; of one ICB's rows when
/// `icb` is given) to `out`, working in `scratch`, which it leaves empty.
pub fn bundle(
    def: &ReturnDef,
    artifacts: &[Artifact],
    icb: Option<&str>,
    prepared: chrono::DateTime<chrono::Utc>,
    scratch: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        artifacts.len() <= MOST_PERIODS,
        "a bundle holds at most {MOST_PERIODS} periods; ask for a shorter range"
    );
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        zip.start_file(name, options)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    add(
        &format!("{}.structure.xml", def.name),
        super::sdmx::structure(def, prepared).as_bytes(),
    )?;
    for artifact in artifacts {
        for format in [ExportFormat::Csv, ExportFormat::SdmxCsv] {
            let path = scratch.join(file_name(def, artifact, format));
            for written in export_scoped(def, artifact, icb, format, &path)? {
                let name = written
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes = std::fs::read(&written)?;
                std::fs::remove_file(&written)?;
                add(&name, &bytes)?;
            }
        }
    }
    zip.finish()?.flush()?;
    Ok(())
}
