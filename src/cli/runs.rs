//! `tally runs`: the run ledger, newest first.

use anyhow::Context;
use chrono::Utc;

use super::{Outcome, plural, print_json};
use crate::config::Settings;
use crate::connectors::Sources;
use crate::domain::{PullStatus, UploadStatus};
use crate::landing::lake::Lake;
use crate::schedule::pull::{Timing, pull};
use crate::schedule::upload::{HandIn, UploadError};
use crate::store::runs::RunFilter;

/// `tally pull`: one run now, through the collection's source for the provider.
pub async fn pull_now(
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
    let p = pull(
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
    pub file: std::path::PathBuf,
    /// Make a correction current although it keeps fewer than half of the rows the period
    /// has now (without this, such a file is checked, reported and not made current).
    #[arg(long)]
    pub replace: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `tally upload`: a file handed over by hand, landed by the one upload path as the next
/// version of the period. A request refused before the file is read is an error (exit 1);
/// a file rejected, or a correction held back for confirmation, is `Failed` (exit 4).
pub async fn upload(settings: &Settings, args: UploadArgs) -> anyhow::Result<Outcome> {
    let json = args.json;
    let up = HandIn {
        name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        collection: args.collection,
        provider: args.provider,
        period: args.period,
        file: args.file,
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
pub async fn run_report(settings: &Settings, id: i64, json: bool) -> anyhow::Result<Outcome> {
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

pub async fn runs(settings: &Settings, filter: RunFilter, json: bool) -> anyhow::Result<Outcome> {
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

/// `tally serve`'s settings.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address the web server listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Pulls under way at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Pulls under way at once against any one source host.
    #[arg(long, default_value_t = 2)]
    pub per_host: usize,
    /// Seconds between scheduler steps.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub step_seconds: u64,
    /// Seconds a pull holds its claim on a run, renewed every third of it while the pull
    /// goes on. When an instance dies, another one takes its runs over once this runs out
    /// (PostgreSQL; on SQLite the next `tally serve` releases them at start).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(3..=86_400))]
    pub lease_seconds: u64,
    /// Seconds a client may take to send a request's head, and a kept-alive connection
    /// may wait idle, before it is closed.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub idle_seconds: u64,
}

/// `tally serve`: the scheduler and the web, until Ctrl-C or SIGTERM.
pub async fn serve(settings: &Settings, args: ServeArgs) -> anyhow::Result<Outcome> {
    let ServeArgs {
        bind,
        concurrency,
        per_host,
        ..
    } = args;
    let pace = crate::schedule::pull::Pace {
        lease: std::time::Duration::from_secs(args.lease_seconds),
        every: std::time::Duration::from_secs(args.step_seconds),
        ..Default::default()
    };
    // With SQLite only one instance may run; the lock is held until this returns.
    // The lock sits beside the database file, wherever the settings put it, so that two
    // instances with different data folders but one registry are refused all the same.
    let _lock = if let Some(file) = super::sqlite_file(&settings.database_url) {
        let folder = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        Some(crate::store::lock::InstanceLock::acquire(folder)?)
    } else {
        None
    };
    let registry = std::sync::Arc::new(super::open(settings).await?);
    // Upload files untouched for an hour were left by an instance that died, here or on
    // another machine sharing the folder: they go, whatever the database.
    let uploads = settings.data_dir.join("uploads");
    crate::landing::lake::sweep(&uploads, ".tmp-");
    if _lock.is_some() {
        // Holding the lock, no other scheduler runs: a run another one left `running` was
        // left by one that died (killed, or the machine lost power), so it is let go now
        // and pulled again on the first step instead of waiting out its lease.
        // Uploads through the web of a `tally serve` are its own too; those of `tally
        // upload` (`upload-cli-…`) belong to processes that may still be running.
        let mut abandoned = 0;
        for prefix in [format!("{SCHEDULER}-"), "upload-web-".to_owned()] {
            abandoned += registry
                .store()
                .release_abandoned(&prefix, Utc::now())
                .await?;
        }
        // The files of uploads it was landing are its own too, and may hold columns that
        // are not listed items (rule 8).
        for entry in std::fs::read_dir(&uploads).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        if abandoned > 0 {
            tracing::warn!(
                runs = abandoned,
                "Let go of the runs an earlier instance left running when it stopped."
            );
        }
    }
    let service = crate::service::Service::assemble(
        settings,
        registry,
        crate::service::Options {
            instance: instance_name(SCHEDULER),
            concurrency,
            per_host,
            pace,
        },
    )?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let bound = listener.local_addr()?;
    println!(
        "Tally is serving http://{bound}/ and pulling on its timetable as {} (Ctrl-C to stop).",
        service.runner.instance
    );
    let idle = std::time::Duration::from_secs(args.idle_seconds);
    service.run(listener, idle, stopped).await?;
    println!("Stopped; runs still held were released.");
    Ok(Outcome::Done)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// What every `tally serve` scheduler's instance name starts with.
const SCHEDULER: &str = "serve";

/// A name for this process in the run ledger that no other process shares, on this machine
/// or another: several containers may all be process 1.
fn instance_name(role: &str) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{role}-{host}-{}-{:x}",
        std::process::id(),
        nanos & 0xffff_ffff
    )
}
