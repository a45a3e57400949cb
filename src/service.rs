//! The running service, assembled in one place: the register, the sources, the lake, the
//! returns catalogue (read once), the scheduler's runner, the returns builder and the web
//! app over them. `tally serve` runs all three loops until it is stopped (`run`); `tally
//! demo` steps the runner and the builder on its own clock and then serves the pages alone
//! (`serve_pages`).

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::Settings;
use crate::connectors::Sources;
use crate::landing::lake::Lake;
use crate::registry::Registry;
use crate::returns::Catalogue;
use crate::returns::scheduled::Builder;
use crate::schedule::pull::Pace;
use crate::schedule::runner::Runner;
use crate::web::app::App;

/// How the service's scheduler runs, where it differs between `serve` and `demo`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The run ledger's name for this instance's scheduler.
    pub instance: String,
    /// Pulls under way at once, and at once against one source host.
    pub concurrency: usize,
    pub per_host: usize,
    /// How pulls keep time, hold their claims, and how often the loops step.
    pub pace: Pace,
}

pub struct Service {
    pub settings: Settings,
    pub registry: Arc<Registry>,
    /// The national returns in `queries/`, read once for the builder and the pages; empty
    /// without a queries folder.
    pub catalogue: Arc<Catalogue>,
    pub runner: Runner,
    /// The scheduled packing and building of returns; `None` without a queries folder.
    pub builder: Option<Builder>,
    /// Reminders, overdue notices, rejections and notices of new collections, by e-mail.
    pub notifier: crate::notify::Notifier,
}

impl Service {
    /// Assembles the service over `registry` with the settings' sources, lake and queries.
    pub fn assemble(
        settings: &Settings,
        registry: Arc<Registry>,
        options: Options,
    ) -> anyhow::Result<Service> {
        let sources = Arc::new(Sources::load(&settings.sources_file)?);
        Service::with_sources(settings, registry, sources, options)
    }

    /// [`Service::assemble`] with sources set up in code rather than read from the
    /// settings' sources file: the tests that play a scheduler against many sources.
    pub fn with_sources(
        settings: &Settings,
        registry: Arc<Registry>,
        sources: Arc<Sources>,
        options: Options,
    ) -> anyhow::Result<Service> {
        let lake = Lake::new(settings.lake_dir());
        let (catalogue, builder) = if settings.queries_dir.is_dir() {
            let catalogue = Arc::new(Catalogue::load(&settings.queries_dir)?);
            let builder = Builder::new(
                registry.clone(),
                catalogue.clone(),
                lake.clone(),
                settings.returns_dir(),
            )?;
            (catalogue, Some(builder))
        } else {
            (Arc::new(Catalogue::default()), None)
        };
        let notifier = crate::notify::Notifier {
            registry: registry.clone(),
            sources: sources.clone(),
            mailer: Arc::new(crate::notify::Mailer::of(&settings.mail)?),
        };
        let runner = Runner {
            registry: registry.clone(),
            sources,
            lake,
            instance: options.instance,
            concurrency: options.concurrency,
            per_host: options.per_host,
            pace: options.pace,
            settled: Default::default(),
        };
        Ok(Service {
            settings: settings.clone(),
            registry,
            catalogue,
            runner,
            builder,
            notifier,
        })
    }

    /// The web app over `store` and the service's catalogue, its clock starting at `as_of`
    /// (the wall clock when `None`).
    fn app(
        &self,
        store: Arc<dyn crate::store::Store>,
        as_of: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Arc<App>> {
        App::with_catalogue(
            self.settings.clone(),
            store,
            self.catalogue.clone(),
            self.runner.sources.clone(),
            as_of,
        )
    }

    /// Serves the pages and the API alone, as at `as_of`, until `stop` says so: the demo's
    /// pages after its clock has stopped, when no source delivers any more.
    pub async fn serve_pages(
        &self,
        listener: tokio::net::TcpListener,
        idle: std::time::Duration,
        as_of: Option<DateTime<Utc>>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let app = self.app(self.registry.store().clone(), as_of)?;
        app.registry.providers().await?;
        crate::web::serve::serve(listener, crate::web::app::router(app), idle, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
        Ok(())
    }

    /// Serves the pages and the API on `listener`, pulls on the timetable and builds
    /// returns, until `stop` says so; then the web drains and the scheduler lets go of what
    /// it holds.
    ///
    /// The web keeps its share of the machine whatever the scheduler does: the pulls,
    /// landing and the notices run on a runtime of their own ([`work_runtime`]), packing
    /// and the returns builder on the builder's, and the threads of both yield the
    /// processor to the web's; the pages read the register through a connection pool of
    /// their own, so that a round of pulls never holds every connection a page waits for.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        idle: std::time::Duration,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let work = work_runtime()?;
        let web_store = if in_memory(&self.settings.database_url) {
            // A database in memory lives in its pool: a second pool would be another one.
            self.registry.store().clone()
        } else {
            crate::store::connect(&self.settings.database_url).await?
        };
        let app = self.app(web_store, None)?;
        // Read the provider register before the first request, so the first visitors do not
        // all wait for the same reading.
        app.registry.providers().await?;
        let mut web_stop = stop.clone();
        let web = tokio::spawn(crate::web::serve::serve(
            listener,
            crate::web::app::router(app),
            idle,
            async move {
                let _ = web_stop.wait_for(|s| *s).await;
            },
        ));
        let builds = self.builder.map(|builder| {
            let (every, stop) = (self.runner.pace.every, stop.clone());
            work.spawn(async move { builder.run(every, stop).await })
        });
        // Corrections held for a provider's answer go once an hour has passed unanswered:
        // the raw file may hold columns that are not listed items (rule 8).
        let sweeping = {
            let (data, mut stop) = (self.settings.data_dir.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    crate::web::sweep_held(&data);
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        () = tokio::time::sleep(std::time::Duration::from_secs(300)) => {}
                    }
                }
            })
        };
        let notifier = self.notifier;
        let notices = {
            let (every, stop) = (self.runner.pace.every, stop.clone());
            work.spawn(async move { notifier.run(every, stop).await })
        };
        let runner = self.runner;
        work.spawn(async move { runner.run(stop).await })
            .await
            .context("the scheduler stopped unexpectedly")??;
        notices
            .await
            .context("the notifications stopped unexpectedly")?;
        if let Some(builds) = builds {
            builds
                .await
                .context("the returns builder stopped unexpectedly")?;
        }
        sweeping.abort();
        web.await.context("the web server stopped unexpectedly")??;
        Ok(())
    }
}

/// The name of every thread of [`work_runtime`], as `/proc` and `top -H` show it.
pub const WORK_THREAD: &str = "tally-work";

/// The runtime for the scheduler's work and the notices: as many worker threads as the
/// machine has cores, so that the work has the whole machine when no page is asked for;
/// each of them, and each blocking thread landing an extract, stands below the web's
/// priority ([`crate::priority`]). The builder's runtime is lowered the same way.
fn work_runtime() -> anyhow::Result<WorkRuntime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(WORK_THREAD)
        .on_thread_start(crate::priority::yield_to_the_web())
        .enable_all()
        .build()
        .map(|r| WorkRuntime(Some(r)))
        .context("cannot start the scheduler's runtime")
}

/// The work's runtime, shut down without waiting when it goes, however `run` ends: a
/// runtime may not be dropped inside another, and what it ran has ended or been told to.
struct WorkRuntime(Option<tokio::runtime::Runtime>);

impl WorkRuntime {
    fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.as_ref().expect("running until dropped").spawn(work)
    }
}

impl Drop for WorkRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether a database URL names a SQLite database kept in memory.
fn in_memory(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}
