//! The web application: everything a request needs, built once by `App::with_store`, which
//! `tally serve` and the tests both call, and the router over it.

use std::sync::{Arc, OnceLock};

use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::Settings;
use crate::landing::lake::Lake;
use crate::registry::Registry;
use crate::returns::Catalogue;
use crate::store::Store;

/// The largest upload the web takes, unless the settings say otherwise: a year of a large
/// trust's ward census as CSV is a few megabytes.
pub const UPLOAD_LIMIT: usize = 32 * 1024 * 1024;

/// The achieved burden, with the providers whose periods cost them most.
pub type AchievedRanked = (
    crate::registry::achieved::Achieved,
    Vec<crate::registry::ranking::ProviderAchieved>,
);

/// The previews of returns' queries awaiting DAP's decision, by (name, version): when each
/// was made (the wall clock's instant to age it by, and the page's clock) and what.
pub type Previews = std::collections::HashMap<
    (String, i64),
    (
        std::time::Instant,
        chrono::DateTime<chrono::Utc>,
        Result<Arc<crate::returns::build::Preview>, String>,
    ),
>;

pub struct App {
    pub registry: Arc<Registry>,
    pub settings: Settings,
    pub lake: Lake,
    /// The national returns in `queries/`; empty when there is no such folder.
    pub catalogue: Arc<Catalogue>,
    /// Where Tally pulls each provider's extracts from: a provider's page says which
    /// periods Tally pulls and which it must upload.
    pub sources: Arc<crate::connectors::Sources>,
    pub metrics: PrometheusHandle,
    /// Whether the service is reached over TLS, so cookies are marked `Secure`.
    pub secure_cookies: bool,
    pub upload_limit: usize,
    /// The progress report's hours saved this year, with when and from which first day
    /// they were counted: summing a year of the run ledger takes a tenth of a second, too
    /// long for a public page on every request, and a minute's lag changes nothing.
    pub saved_hours: std::sync::Mutex<Option<(std::time::Instant, chrono::NaiveDate, f64)>>,
    /// The progress report's achieved burden this year, with when it was worked out: it
    /// reads the year's run ledger, so it is kept for a minute like the hours saved.
    pub achieved: std::sync::Mutex<Option<(std::time::Instant, AchievedRanked)>>,
    /// What each return's query awaiting DAP's decision made of its last closed period,
    /// by (name, version), with when: a build reads the lake, too long for every view of
    /// DAP's page, so each is kept for a minute and the page says when it was made.
    pub previews: tokio::sync::Mutex<Previews>,
    /// How far the register's clock is from the wall clock: zero but for `tally demo`,
    /// whose pages go on from the moment its accelerated clock stopped, so that "this week"
    /// is the demo's week and a decision made on a page lands after the demo's own.
    pub clock_offset: chrono::TimeDelta,
    /// Refused API tokens by client address: past a limit they are answered 429 and no
    /// longer audited, so a flood of bad tokens cannot fill the audit log.
    pub refusals: Arc<crate::web::limit::Refusals>,
}

impl App {
    /// Reads the returns catalogue, over the store the scheduler also holds.
    pub fn with_store(settings: Settings, store: Arc<dyn Store>) -> anyhow::Result<Arc<App>> {
        App::with_clock(settings, store, None)
    }

    /// As `with_store`, with the register's clock starting at `as_of` rather than now.
    pub fn with_clock(
        settings: Settings,
        store: Arc<dyn Store>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Arc<App>> {
        let catalogue = if settings.queries_dir.is_dir() {
            Catalogue::load(&settings.queries_dir)?
        } else {
            Catalogue::default()
        };
        let sources = Arc::new(crate::connectors::Sources::load(&settings.sources_file)?);
        App::with_catalogue(settings, store, Arc::new(catalogue), sources, as_of)
    }

    /// As `with_clock`, with the returns catalogue already read (`service::Service` reads it
    /// once for its builder and its pages).
    pub fn with_catalogue(
        settings: Settings,
        store: Arc<dyn Store>,
        catalogue: Arc<Catalogue>,
        sources: Arc<crate::connectors::Sources>,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Arc<App>> {
        Ok(Arc::new(App {
            sources,
            registry: Arc::new(Registry::new(store, settings.timezone)),
            lake: Lake::new(settings.lake_dir()),
            catalogue,
            metrics: metrics_handle()?,
            secure_cookies: settings.secure_cookies,
            upload_limit: settings.upload_limit.unwrap_or(UPLOAD_LIMIT),
            saved_hours: std::sync::Mutex::new(None),
            achieved: std::sync::Mutex::new(None),
            previews: Default::default(),
            clock_offset: as_of.map_or(chrono::TimeDelta::zero(), |t| t - chrono::Utc::now()),
            refusals: crate::web::limit::refusals(),
            settings,
        }))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.registry.store()
    }

    /// The national returns on offer: those DAP has licensed, as the register keeps them
    /// (what the scheduled builder builds), whether or not the queries folder holds them.
    pub async fn returns(&self) -> anyhow::Result<Catalogue> {
        crate::returns::licence::licensed(&self.registry).await
    }

    /// The time the pages and the API read and decide at. Tokens, sessions and the audit
    /// log keep the wall clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    /// Today, in the service's timezone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&self.settings.timezone)
            .date_naive()
    }
}

/// The Prometheus recorder is process-wide and can be installed once; tests build the app
/// many times, so every `App` shares the one handle.
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    // Installed inside `get_or_init`, which runs once and makes every other thread wait for
    // it: two apps built at once must not both try, or the loser finds no handle yet.
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Seconds, from a fast page to a year-long return build.
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .map_err(|e| format!("setting the metrics' buckets: {e}"))?
                .install_recorder()
                .map_err(|e| format!("installing the metrics recorder: {e}"))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// Every route: pages, the API under `/api/v1`, health, metrics and assets.
pub fn router(app: Arc<App>) -> Router {
    crate::web::router(app)
}
