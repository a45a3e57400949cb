//! `tally returns`: the national returns in `queries/`, built from the lake, shown and
//! exported.

use chrono::Utc;

use clap::Subcommand;

use super::{Outcome, print_json};
use crate::config::Settings;
use crate::domain::Period;
use crate::landing::lake::Lake;
use crate::returns::build::{Artifact, build, build_for};
use crate::returns::export::{ExportFormat, export};
use crate::returns::query::check;
use crate::returns::{Catalogue, Manifest};

/// `tally returns …`.
#[derive(Subcommand)]
pub enum ReturnsCommand {
    /// Every return in the queries folder, and whether it can be built now.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Build a return for a period from the current extracts: a new numbered artifact, or
    /// the latest one when its query and inputs have not changed.
    Build {
        /// The return's name (see tally returns list).
        name: String,
        /// The period: 2026-11-24, 2026-11, 2026-27-Q1…
        #[arg(long)]
        period: String,
        /// Build every period from --period to this one, with a progress bar.
        #[arg(long)]
        to: Option<String>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the latest artifact of a return for a period: completeness and rows.
    Show {
        name: String,
        #[arg(long)]
        period: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Each return's licence: the version of its query in force, and any awaiting DAP.
    Licences {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the version of a return's query awaiting a decision: the scheduled builder
    /// builds only listed versions.
    Approve {
        name: String,
        /// Who decides, as the audit log should name them.
        #[arg(long)]
        by: String,
        /// Why, in plain words.
        #[arg(long)]
        reason: String,
    },
    /// Reject the version of a return's query awaiting a decision.
    Reject {
        name: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
    /// Write the latest artifact of a return for a period to a file.
    Export {
        name: String,
        #[arg(long)]
        period: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write; CSV gets its CSVW metadata beside it (<file>-metadata.json),
        /// and CSV, JSON and Parquet get <file>.manifest.json.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write a return's SDMX-ML 2.1 structure (codelists, concepts, data structure and
    /// dataflow), which its SDMX-CSV exports refer to.
    Structure {
        name: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// Runs one `tally returns …` command.
pub async fn run(s: &Settings, command: ReturnsCommand) -> anyhow::Result<Outcome> {
    match command {
        ReturnsCommand::List { json } => list(s, json).await,
        ReturnsCommand::Build {
            name,
            period,
            to,
            json,
        } => build_one(s, &name, &period, to.as_deref(), json).await,
        ReturnsCommand::Show { name, period, json } => show(s, &name, &period, json).await,
        ReturnsCommand::Licences { json } => super::licences::list(s, json).await,
        ReturnsCommand::Approve { name, by, reason } => {
            super::licences::decide_one(s, &name, true, &by, &reason).await
        }
        ReturnsCommand::Reject { name, by, reason } => {
            super::licences::decide_one(s, &name, false, &by, &reason).await
        }
        ReturnsCommand::Export {
            name,
            period,
            format,
            out,
        } => export_one(s, &name, &period, format, &out).await,
        ReturnsCommand::Structure { name, out } => structure(s, &name, &out).await,
    }
}

fn catalogue(settings: &Settings) -> anyhow::Result<Catalogue> {
    Catalogue::load(&settings.queries_dir)
}

/// `tally returns list`: each return, and whether it plans against the register as it is.
pub async fn list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let catalogue = catalogue(settings)?;
    let registry = super::open_existing(settings).await?;
    let mut rows = Vec::new();
    let mut all_ok = true;
    for def in catalogue.returns.values() {
        let status = match check(&registry, def, Utc::now()).await {
            Ok(()) => "ready".to_string(),
            Err(e) => {
                all_ok = false;
                format!("cannot build: {e:#}")
            }
        };
        rows.push(serde_json::json!({
            "name": def.name,
            "title": def.title,
            "period": def.period.as_str(),
            "inputs": def.inputs.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "status": status,
        }));
    }
    if json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            println!(
                "{:<22} {:<8} {:<40} {}",
                r["name"].as_str().unwrap_or_default(),
                r["period"].as_str().unwrap_or_default(),
                r["title"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(if all_ok {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

fn summary(m: &Manifest) -> String {
    let mut out = format!(
        "{} {} version {}: {} rows, built {}.\n",
        m.return_name,
        m.period,
        m.version,
        m.rows,
        m.built_at.format("%Y-%m-%d %H:%M UTC")
    );
    for c in &m.completeness.inputs {
        let due = if c.periods_due < c.periods {
            format!(
                " ({} of {} past their deadline; the rest are not owed yet)",
                c.periods_due, c.periods
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{}: {} of {} providers sent every period owed{due}",
            c.collection, c.received, c.expected,
        ));
        if !c.late.is_empty() {
            out.push_str(&format!("; late: {}", c.late.join(", ")));
        }
        if !c.amended.is_empty() {
            out.push_str(&format!("; amended: {}", c.amended.join(", ")));
        }
        out.push('\n');
        for miss in c.missing.iter().take(20) {
            out.push_str(&format!(
                "  missing {} {} ({} of {} periods)\n",
                miss.code, miss.name, miss.periods_missing, miss.periods_owed
            ));
        }
        if c.missing.len() > 20 {
            out.push_str(&format!("  and {} more missing\n", c.missing.len() - 20));
        }
        for p in c.partial.iter().take(20) {
            out.push_str(&format!(
                "  partial {} {} ({} rows turned away by validation, over {} period{})\n",
                p.code,
                p.name,
                p.rows_rejected,
                p.periods,
                if p.periods == 1 { "" } else { "s" }
            ));
        }
        if c.partial.len() > 20 {
            out.push_str(&format!("  and {} more partial\n", c.partial.len() - 20));
        }
    }
    if !m.completeness.complete {
        out.push_str("Incomplete: totals are built on the data received so far.\n");
    }
    out
}

/// `tally returns build <name> --period P [--to P2]`: one period, or each from P to P2
/// with a progress bar.
pub async fn build_one(
    settings: &Settings,
    name: &str,
    period: &str,
    to: Option<&str>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let catalogue = catalogue(settings)?;
    let def = catalogue.get(name)?;
    let first = Period::parse(period).map_err(anyhow::Error::msg)?;
    let registry = super::open(settings).await?;
    let Some(to) = to else {
        let artifact = build(
            &registry,
            &Lake::new(settings.lake_dir()),
            &settings.returns_dir(),
            def,
            &first,
            Utc::now(),
        )
        .await?;
        if json {
            print_json(&artifact.manifest)?;
        } else {
            if !artifact.new {
                println!(
                    "Unchanged: version {} was built from the same query and inputs.",
                    artifact.manifest.version
                );
            }
            print!("{}", summary(&artifact.manifest));
            println!("Kept in {}", artifact.dir.display());
        }
        return Ok(Outcome::Done);
    };
    let last = Period::parse(to).map_err(anyhow::Error::msg)?;
    if last.kind() != first.kind() || last.first_day() < first.first_day() {
        anyhow::bail!(
            "--to must be a {} on or after {first}",
            first.kind().as_str()
        );
    }
    let mut periods = vec![first];
    while periods.last().is_some_and(|p| p != &last) && periods.len() < 10_000 {
        let next = periods.last().expect("not empty").next();
        periods.push(next);
    }
    let bar = indicatif::ProgressBar::new(periods.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let lake = Lake::new(settings.lake_dir());
    // Read once for the whole range: the register does not change under a build.
    let providers = registry.store().providers().await?;
    let (mut built, mut unchanged, mut failed) = (0, 0, Vec::new());
    let mut manifests = Vec::new();
    for p in &periods {
        bar.set_message(p.to_string());
        match build_for(
            &registry,
            &lake,
            &settings.returns_dir(),
            def,
            p,
            Utc::now(),
            &providers,
        )
        .await
        {
            Ok(a) if a.new => {
                built += 1;
                manifests.push(a.manifest);
            }
            Ok(a) => {
                unchanged += 1;
                manifests.push(a.manifest);
            }
            Err(e) => failed.push(format!("{p}: {e:#}")),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if json {
        print_json(&manifests)?;
    } else {
        println!(
            "{name}: {built} built, {unchanged} unchanged, {} could not be built.",
            failed.len()
        );
        for f in &failed {
            println!("  {f}");
        }
    }
    Ok(if failed.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

fn latest(settings: &Settings, name: &str, period: &Period) -> anyhow::Result<Artifact> {
    Artifact::latest(&settings.returns_dir(), name, period)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{name} has not been built for {period}; run: tally returns build {name} --period {period}"
        )
    })
}

/// `tally returns show <name> --period P`: the latest artifact as a table.
pub async fn show(
    settings: &Settings,
    name: &str,
    period: &str,
    json: bool,
) -> anyhow::Result<Outcome> {
    let catalogue = catalogue(settings)?;
    catalogue.get(name)?;
    let period = Period::parse(period).map_err(anyhow::Error::msg)?;
    let artifact = latest(settings, name, &period)?;
    if json {
        print_json(&serde_json::json!({
            "manifest": artifact.manifest,
            "rows": rows_as_json(&artifact)?,
        }))?;
        return Ok(Outcome::Done);
    }
    print!("{}", summary(&artifact.manifest));
    let batches = artifact.read()?;
    let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?;
    println!("{table}");
    Ok(Outcome::Done)
}

fn rows_as_json(artifact: &Artifact) -> anyhow::Result<serde_json::Value> {
    let batches = artifact.read()?;
    let mut buf = Vec::new();
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut buf);
    writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
    writer.finish()?;
    drop(writer);
    if buf.is_empty() {
        return Ok(serde_json::json!([]));
    }
    Ok(serde_json::from_slice(&buf)?)
}

/// `tally returns export <name> --period P --format F --out FILE`.
pub async fn export_one(
    settings: &Settings,
    name: &str,
    period: &str,
    format: ExportFormat,
    out: &std::path::Path,
) -> anyhow::Result<Outcome> {
    let catalogue = catalogue(settings)?;
    let def = catalogue.get(name)?;
    let period = Period::parse(period).map_err(anyhow::Error::msg)?;
    let artifact = latest(settings, name, &period)?;
    for f in export(def, &artifact, format, out)? {
        println!("Wrote {}", f.display());
    }
    Ok(Outcome::Done)
}

/// `tally returns structure <name> --out FILE`: the structure of the version in force when
/// DAP has listed one (what the scheduled builds refer to), else of the queries folder's.
pub async fn structure(
    settings: &Settings,
    name: &str,
    out: &std::path::Path,
) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let mut licensed = crate::returns::licence::licensed(&registry).await?;
    let def = match licensed.returns.remove(name) {
        Some(def) => def,
        None => catalogue(settings)?.get(name)?.clone(),
    };
    let xml = crate::returns::sdmx::structure(&def, Utc::now());
    std::fs::write(out, xml).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    println!("Wrote {}", out.display());
    Ok(Outcome::Done)
}
