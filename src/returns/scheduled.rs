//! Builds on the timetable: after each step of the scheduler, each listed collection's
//! units that have just closed (or had a late or amended extract land since) are packed,
//! then every return is built for each of its periods whose inputs are past their deadline
//! and still inside their amendment window. A build whose query and inputs have not
//! changed makes no new version, and which periods those are is read once for all of a
//! return's periods, so this costs a few register reads a return until an extract lands or
//! is amended, and then rebuilds only the periods it touches. Packing and builds run on a
//! runtime of their own, so a long one never holds up pulls or (later) the web server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::build::{Artifact, build_for, unchanged};
use super::catalogue::{Catalogue, ReturnDef};
use crate::domain::Period;
use crate::domain::RegistryError;
use crate::landing::lake::Lake;
use crate::landing::pack;
use crate::registry::Registry;
use crate::registry::window::{closes, deadline};

/// How long a unit whose packing failed waits before it is tried again. Packing reads the
/// whole month, so trying every minute would spend the scheduler's time on a file that is
/// still broken; builds read the versions' own files meanwhile.
const PACK_RETRY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// When packing each (collection, unit) last failed.
type PackFailures = HashMap<(String, Period), DateTime<Utc>>;

pub struct Builder {
    pub registry: Arc<Registry>,
    pub catalogue: Arc<Catalogue>,
    pub lake: Lake,
    pub root: PathBuf,
    /// Units whose packing failed, by collection and unit, with when.
    pack_failures: Arc<std::sync::Mutex<PackFailures>>,
    /// Always there until the builder is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What one round of scheduled builds did.
#[derive(Debug, Default)]
pub struct Round {
    /// New packs: (collection, unit, number).
    pub packed: Vec<(String, String, u32)>,
    /// New artifacts: (return, period, version).
    pub built: Vec<(String, String, i64)>,
    /// Collections whose packing failed, with the reason.
    pub pack_failed: Vec<(String, String)>,
    /// Builds that failed, with the reason.
    pub failed: Vec<(String, String, String)>,
}

/// The name of every thread of the builder's runtime, as `/proc` and `top -H` show it.
pub const RETURNS_THREAD: &str = "tally-returns";

impl Builder {
    pub fn new(
        registry: Arc<Registry>,
        catalogue: Arc<Catalogue>,
        lake: Lake,
        root: PathBuf,
    ) -> anyhow::Result<Builder> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(RETURNS_THREAD)
            // Packing and building yield to the web.
            .on_thread_start(crate::priority::yield_to_the_web())
            .enable_all()
            .build()?;
        Ok(Builder {
            registry,
            catalogue,
            lake,
            root,
            pack_failures: Arc::default(),
            runtime: Some(runtime),
        })
    }

    /// The periods of `def` that are due a build at `now`: every input past its deadline
    /// for the period, and at least one still open to amendments.
    async fn due(&self, def: &ReturnDef, now: DateTime<Utc>) -> anyhow::Result<Vec<Period>> {
        let mut inputs = Vec::new();
        // Nothing was owed before every input was in effect, so no period that ended before
        // then is built: it would only fail, a round at a time, for the amendment window.
        let mut owed_from = chrono::NaiveDate::MIN;
        for slug in &def.inputs {
            let l = match self.registry.require_listed(slug.as_str(), now).await {
                Ok(l) => l,
                // A return whose input is not listed is owed nothing, since nothing is
                // collected for it: it is not built, and that is not a failure.
                Err(e)
                    if matches!(
                        e.downcast_ref::<RegistryError>(),
                        Some(RegistryError::NotLicensed { .. })
                    ) =>
                {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e),
            };
            owed_from = owed_from.max(l.effective_from);
            inputs.push(l.def);
        }
        let today = now
            .with_timezone(&inputs[0].frequency.timezone)
            .date_naive();
        let mut out = Vec::new();
        let mut period = Period::containing(def.period, today).previous();
        // Walk back through closed periods until every input's window has shut.
        for _ in 0..400 {
            let inner: Vec<_> = inputs
                .iter()
                .map(|c| {
                    let last = Period::containing(
                        c.frequency.period,
                        period.end().pred_opt().unwrap_or(period.end()),
                    );
                    (deadline(c, &last), closes(c, &last))
                })
                .collect();
            if inner.iter().all(|(_, closed)| *closed <= now) {
                break;
            }
            if period.end() <= owed_from {
                break;
            }
            if inner.iter().all(|(due, _)| *due <= now) {
                out.push(period);
            }
            period = period.previous();
        }
        out.reverse();
        Ok(out)
    }

    /// Packs the units of every listed collection that are closed and still open to
    /// amendments, on the builders' runtime, so the builds that follow read packs.
    async fn pack(&self, now: DateTime<Utc>, round: &mut Round) {
        let (registry, lake) = (self.registry.clone(), self.lake.clone());
        let failures = self.pack_failures.clone();
        let runtime = self.runtime.as_ref().expect("until dropped");
        let job = runtime.spawn(async move {
            let mut results = Vec::new();
            for licensed in registry.licensed(now).await? {
                let def = &licensed.def;
                let from = licensed.effective_from;
                let slug = def.slug.to_string();
                let units: Vec<Period> = {
                    let failed = failures.lock().expect("never held across a panic");
                    pack::closed_units(def, from, now, true)
                        .into_iter()
                        .filter(|u| {
                            failed
                                .get(&(slug.clone(), *u))
                                .is_none_or(|at| now - *at >= PACK_RETRY)
                        })
                        .collect()
                };
                let packed = pack::pack_units(
                    registry.store().as_ref(),
                    &lake,
                    def,
                    &units,
                    now,
                    pack::ROW_GROUP_ROWS,
                )
                .await;
                let mut failed = failures.lock().expect("never held across a panic");
                for (unit, r) in units.into_iter().zip(packed) {
                    match r {
                        Ok(p) => {
                            failed.remove(&(slug.clone(), unit));
                            results.push(Ok(p));
                        }
                        Err(e) => {
                            failed.insert((slug.clone(), unit), now);
                            results.push(Err((slug.clone(), format!("{e:#}"))));
                        }
                    }
                }
            }
            anyhow::Ok(results)
        });
        match job.await {
            Ok(Ok(results)) => {
                for r in results {
                    match r {
                        Ok(p) => {
                            if let Some(n) = p.number {
                                round.packed.push((p.collection, p.unit, n));
                            }
                        }
                        Err(e) => round.pack_failed.push(e),
                    }
                }
            }
            Ok(Err(e)) => round.pack_failed.push((String::new(), format!("{e:#}"))),
            Err(e) => round.pack_failed.push((String::new(), e.to_string())),
        }
    }

    /// Packs what has closed, then builds every due period of every return, oldest first,
    /// on the builders' runtime.
    pub async fn round(&self, now: DateTime<Utc>) -> Round {
        let mut round = Round::default();
        self.pack(now, &mut round).await;
        // One reading of the provider register for every build in the round.
        let providers = match self.registry.store().providers().await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                round
                    .failed
                    .push(("returns".into(), String::new(), format!("{e:#}")));
                return round;
            }
        };
        // What the queries folder holds now is proposed where it is new; what is built is
        // only what DAP has listed, from the text the register keeps.
        let licensed = async {
            super::licence::register(&self.registry, &self.catalogue, now).await?;
            super::licence::licensed(&self.registry).await
        };
        let licensed = match licensed.await {
            Ok(c) => Arc::new(c),
            Err(e) => {
                round
                    .failed
                    .push(("returns".into(), String::new(), format!("{e:#}")));
                return round;
            }
        };
        for (name, def) in &licensed.returns {
            let periods = match self.due(def, now).await {
                Ok(p) => p,
                Err(e) => {
                    round
                        .failed
                        .push((name.clone(), String::new(), format!("{e:#}")));
                    continue;
                }
            };
            // Most periods open to amendments have had nothing new since their last build:
            // one reading of the register for them all tells which, so each of those costs
            // no reading of its own. The rest are built, each reading the register afresh.
            // An extract that lands after that reading, for a period it found unchanged,
            // is built in the next round.
            let unchanged = {
                let (registry, catalogue, root, name_, providers, asked) = (
                    self.registry.clone(),
                    licensed.clone(),
                    self.root.clone(),
                    name.clone(),
                    providers.clone(),
                    periods.clone(),
                );
                let runtime = self.runtime.as_ref().expect("until dropped");
                let job = runtime.spawn(async move {
                    let def = catalogue.get(&name_)?;
                    anyhow::Ok(unchanged(&registry, &root, def, &asked, now, &providers).await)
                });
                match job.await {
                    Ok(Ok(unchanged)) => unchanged,
                    _ => vec![false; periods.len()],
                }
            };
            for (period, _) in periods
                .into_iter()
                .zip(unchanged)
                .filter(|(_, unchanged)| !unchanged)
            {
                let (registry, catalogue, lake, root, name_, providers) = (
                    self.registry.clone(),
                    licensed.clone(),
                    self.lake.clone(),
                    self.root.clone(),
                    name.clone(),
                    providers.clone(),
                );
                let runtime = self.runtime.as_ref().expect("until dropped");
                let job = runtime.spawn(async move {
                    let def = catalogue.get(&name_)?;
                    build_for(&registry, &lake, &root, def, &period, now, &providers).await
                });
                match job.await {
                    Ok(Ok(Artifact {
                        manifest,
                        new: true,
                        ..
                    })) => round
                        .built
                        .push((name.clone(), period.to_string(), manifest.version)),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        round
                            .failed
                            .push((name.clone(), period.to_string(), format!("{e:#}")))
                    }
                    Err(e) => round
                        .failed
                        .push((name.clone(), period.to_string(), e.to_string())),
                }
            }
        }
        round
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        // A runtime may not be dropped (which waits) inside another's async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Builder {
    /// Packs and builds every `every` until `stop` says so: the service's loop beside the
    /// scheduler's, so that a long build never holds up a pull, nor a pull a build.
    pub async fn run(
        &self,
        every: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let round = self.round(Utc::now()).await;
            for (collection, unit, number) in &round.packed {
                tracing::info!(%collection, %unit, number, "Packed a closed period's extracts.");
            }
            for (collection, error) in &round.pack_failed {
                tracing::warn!(%collection, %error, "Extracts could not be packed; returns read their own files meanwhile.");
            }
            for (name, period, version) in &round.built {
                tracing::info!(%name, %period, version, "Built a return.");
            }
            for (name, period, error) in &round.failed {
                tracing::warn!(%name, %period, %error, "A return could not be built.");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
