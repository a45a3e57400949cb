//! `tally pull`, `tally upload` and `tally runs`: one period pulled or handed over now, and
//! the run ledger, newest first.

use crate::schedule::trial::{Ask, Tried, dry_run};
use chrono::Utc;

use super::{Outcome, instance_name, plural, print_json};
use crate::config::Settings;
use crate::connectors::Sources;
use crate::domain::{PullStatus, RunStatus, UploadStatus};
use crate::landing::lake::Lake;
use crate::schedule::pull::Timing;
use crate::schedule::upload::{HandIn, Handed, UploadError};
use crate::store::runs::RunFilter;

/// `tally pull`: one period now, from the provider's source.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The collection's slug.
    collection: String,
    /// The provider's code.
    #[arg(long)]
    provider: String,
    /// The period: 2026-11-24, 2026-W48, 2026-11, 2026-27-Q1 or 2026-27.
    #[arg(long)]
    period: String,
    /// Pull it again even if it has landed: the new extract becomes the next version.
    #[arg(long, conflicts_with = "dry_run")]
    again: bool,
    /// Try the source: read and check its extract, keep nothing and record no run; only
    /// the outcome is recorded, as a readiness check. A coming collection may be tried.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// `tally runs`: the run ledger, or one run's validation report.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only this collection.
    #[arg(long)]
    collection: Option<String>,
    /// Only this provider.
    #[arg(long)]
    provider: Option<String>,
    /// Only this status.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(RunStatus::ALL.iter().map(|s| s.as_str())))]
    status: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Print the validation report one run saved (its counts per check and the first
    /// rows that broke each) instead of the list.
    #[arg(long, value_name = "RUN")]
    report: Option<i64>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Runs `tally pull`.
pub async fn pull(s: &Settings, a: PullArgs) -> anyhow::Result<Outcome> {
    if a.dry_run {
        let sources = Sources::load(&s.sources_file)?;
        let tried = Tried::Source;
        return try_it(
            s,
            &sources,
            &a.collection,
            &a.provider,
            &a.period,
            tried,
            a.json,
        )
        .await;
    }
    pull_now(s, &a.collection, &a.provider, &a.period, a.again, a.json).await
}

/// `--dry-run`: the file or source checked as a period's extract would be, nothing kept.
/// A trial that does not pass is `Failed` (exit 4), as a rejected upload is.
async fn try_it(
    settings: &Settings,
    sources: &Sources,
    collection: &str,
    provider: &str,
    period: &str,
    tried: Tried,
    json: bool,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    let ask = Ask {
        collection,
        provider,
        period,
    };
    let t = dry_run(
        &registry,
        sources,
        ask,
        tried,
        "tally command line",
        Utc::now(),
    )
    .await?;
    if json {
        print_json(&t)?;
    } else {
        println!("{}", t.summary());
        println!("{}", t.report.trim_end());
    }
    Ok(if t.passed {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

/// Runs `tally runs`.
pub async fn runs(s: &Settings, a: RunsArgs) -> anyhow::Result<Outcome> {
    if let Some(id) = a.report {
        return run_report(s, id, a.json).await;
    }
    let filter = RunFilter {
        collection: a.collection,
        provider: a.provider,
        status: a.status.map(|s| s.parse()).transpose()?,
        limit: a.limit,
        finished_after: None,
        period_from: None,
    };
    list(s, filter, a.json).await
}

/// `tally pull`: one run now, through the collection's source for the provider.
async fn pull_now(
    settings: &Settings,
    collection: &str,
    provider: &str,
    period: &str,
    again: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    let key =
        crate::schedule::request::by_hand(&registry, collection, provider, period, Utc::now())
            .await?;
    let sources = Sources::load(&settings.sources_file)?;
    let lake = Lake::new(settings.lake_dir());
    let p = crate::schedule::pull::pull(
        &registry,
        &sources,
        &lake,
        &key,
        &instance_name("pull"),
        Utc::now(),
        again,
    )
    .await?;
    if json {
        print_json(&p)?;
    } else {
        let version = p
            .version
            .map(|v| format!(" as version {v}"))
            .unwrap_or_default();
        println!(
            "{} {} {}: {}{version}.",
            p.key.collection, p.key.provider, p.key.period, p.status
        );
        if !p.message.is_empty() {
            println!("{}", p.message.trim_end());
        }
    }
    Ok(if p.status.landed() || p.status == PullStatus::Skipped {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

/// `tally upload`'s arguments.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The collection's slug.
    pub collection: String,
    /// The provider's code.
    #[arg(long)]
    pub provider: String,
    /// The period: 2026-11-24, 2026-W48, 2026-11, 2026-27-Q1 or 2026-27.
    #[arg(long)]
    pub period: String,
    /// The file: .csv, .xlsx, .xls or .ods.
    #[arg(required_unless_present = "nil")]
    pub file: Option<std::path::PathBuf>,
    /// Declare a nil return instead of a file: the provider has nothing to report for the
    /// period. Only where the collection's definition allows one (`nil_return = true`).
    #[arg(long, conflicts_with_all = ["file", "dry_run"])]
    pub nil: bool,
    /// Make a correction current although it keeps fewer than half of the rows the period
    /// has now (without this, such a file is checked, reported and not made current).
    #[arg(long, conflicts_with = "dry_run")]
    pub replace: bool,
    /// Try the file: check it as the period's extract, keep nothing and record no run;
    /// only the outcome is recorded, as a readiness check. A coming collection may be tried.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `tally upload`: a file handed over by hand, landed by the one upload path as the next
/// version of the period. A request refused before the file is read is an error (exit 1);
/// a file rejected, or a correction held back for confirmation, is `Failed` (exit 4).
pub async fn upload(settings: &Settings, args: UploadArgs) -> anyhow::Result<Outcome> {
    let json = args.json;
    let handed = match &args.file {
        Some(path) => Handed::File {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.clone(),
        },
        None => Handed::Nil,
    };
    if args.dry_run {
        let Handed::File { path, name } = handed else {
            anyhow::bail!("a dry run tries a file: name one");
        };
        if !path.is_file() {
            anyhow::bail!("there is no file at {}", path.display());
        }
        let tried = Tried::File { name, path };
        let none = Sources::default();
        return try_it(
            settings,
            &none,
            &args.collection,
            &args.provider,
            &args.period,
            tried,
            json,
        )
        .await;
    }
    let up = HandIn {
        collection: args.collection,
        provider: args.provider,
        period: args.period,
        handed,
        via: "cli",
        replace: args.replace,
    };
    let registry = super::open(settings).await?;
    let lake = Lake::new(settings.lake_dir());
    let landed =
        crate::schedule::upload::hand_in(&registry, &lake, up, Utc::now(), Timing::Elapsed).await;
    let u = match landed {
        Ok(u) => u,
        Err(e) => {
            // A correction held back says what it would change, and how to confirm it.
            if let Some(UploadError::NeedsConfirmation(u)) = e.downcast_ref::<UploadError>() {
                if json {
                    print_json(u)?;
                } else {
                    println!("{e}; use --replace to confirm.");
                    println!("{}", u.report.trim_end());
                }
                return Ok(Outcome::Failed);
            }
            return Err(e);
        }
    };
    if json {
        print_json(&u)?;
    } else {
        println!("{}", u.summary());
        if !matches!(u.status, UploadStatus::Rejected | UploadStatus::Failed) {
            println!("{}", u.report.trim_end());
        }
    }
    Ok(if u.status.done() {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

/// `tally runs --report <run>`: the validation report a run saved, as the provider reads it.
async fn run_report(settings: &Settings, id: i64, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let Some(report) = registry.store().run_report(id).await? else {
        anyhow::bail!(
            "run {id} has no report: there is no such run, or it did not read an extract (see its note in tally runs)"
        );
    };
    if json {
        print_json(&report)?;
    } else {
        let report: crate::landing::Report = serde_json::from_value(report)?;
        print!("{}", report.text());
    }
    Ok(Outcome::Done)
}

async fn list(settings: &Settings, filter: RunFilter, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let rows = registry.store().runs(&filter).await?;
    if json {
        return print_json(&rows).map(|_| Outcome::Done);
    }
    if rows.is_empty() {
        println!("No runs match.");
        return Ok(Outcome::Done);
    }
    let when = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&settings.timezone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    println!(
        "{:<6} {:<22} {:<12} {:<11} {:>3} {:<9} {:<16} {:>8} {:>8}  note",
        "run", "collection", "provider", "period", "try", "status", "started", "rows", "rejected"
    );
    for r in &rows {
        let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:<6} {:<22} {:<12} {:<11} {:>3} {:<9} {:<16} {:>8} {:>8}  {}",
            r.id,
            r.collection,
            r.provider,
            r.period,
            r.attempt,
            r.status,
            when(r.started_at),
            count(r.rows_accepted),
            count(r.rows_rejected),
            r.error.as_deref().unwrap_or("")
        );
    }
    println!("{}", plural(rows.len() as u64, "run"));
    Ok(Outcome::Done)
}
