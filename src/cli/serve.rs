//! `tally serve`: the web pages and the API, the scheduler and the returns builder, until
//! stopped.

use anyhow::Context;
use chrono::Utc;

use super::{Outcome, instance_name};
use crate::config::Settings;

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
