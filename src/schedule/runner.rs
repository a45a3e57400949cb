//! The runner: a loop around one step that tests call directly. Each step asks the timetable
//! what is due now, leaves out what the ledger has settled and what failed too recently, and
//! pulls the rest, a bounded number at a time. One failed pull never ends the loop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::pull::{Again, Pace, Pulled, Puller};
use super::timetable::{Obligation, due};
use crate::connectors::Sources;
use crate::domain::RunKey;
use crate::domain::provider::Provider;
use crate::domain::{Arrival, Period};
use crate::landing::lake::Lake;
use crate::registry::Registry;
use crate::registry::governance::Licensed;
use crate::store::runs::{RunFilter, RunStatus};

/// At most this many runs are started in one step; the rest wait for the next.
const MOST_PER_STEP: usize = 5_000;

pub struct Runner {
    pub registry: Arc<Registry>,
    pub sources: Arc<Sources>,
    pub lake: Lake,
    pub instance: String,
    /// Pulls under way at once, across all sources.
    pub concurrency: usize,
    /// Pulls under way at once against any one source host (an HTTP server, a MESH API or a
    /// provider's database), so that a step never floods one provider's system.
    pub per_host: usize,
    /// How pulls keep time (the wall clock's progress in the service, the step's instant in
    /// the demo), how long they hold their claims, and how often the service steps.
    pub pace: Pace,
    /// The keys the ledger has landed among runs still in the amendment window, as of the
    /// last step, so that each step reads only what landed since.
    pub(crate) settled: tokio::sync::Mutex<KeptSettled>,
}

/// The keys landed as of a mark of the ledger's (see `store::settled`), each with when its
/// latest landed run started.
#[derive(Debug, Default)]
pub(crate) struct KeptSettled {
    mark: Option<i64>,
    since: DateTime<Utc>,
    landed: HashMap<RunKey, DateTime<Utc>>,
}

/// How long to wait before trying a failed run again: doubling from two minutes, at most
/// six hours, with up to a fifth more so that many failures do not retry in step.
pub fn backoff(attempt: i64, key: &RunKey) -> Duration {
    let base = 2i64.saturating_pow(attempt.clamp(1, 12) as u32).min(360);
    // Jitter from the key, so that it is the same on every instance and in every test.
    let spread = key
        .provider
        .bytes()
        .chain(key.period.to_string().bytes())
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let jitter = (spread % 20) as i64;
    Duration::seconds(base * 60 * (100 + jitter) / 100)
}

impl Runner {
    /// Everything due at `now`, pulled; returns what each pull did.
    pub async fn step(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<Pulled>> {
        // The step's clock starts with `now`, so that the pulls' times (and leases) keep up
        // with the wall clock however long the reads below take.
        let started = std::time::Instant::now();
        let swept = self.registry.store().expire_leases(now).await?;
        if swept > 0 {
            tracing::warn!(
                runs = swept,
                "Let go of runs whose instance stopped renewing their leases; they are pulled again now."
            );
        }
        let runs = self.due_now(now).await?;
        Ok(self.pull_all(runs, now, started).await)
    }

    /// The runs due now, oldest first and at most [`MOST_PER_STEP`]: what the timetable
    /// asks of every provider with a source, less what the ledger has settled and what is
    /// still waiting out a backoff.
    async fn due_now(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<RunKey>> {
        // Only automated collections are pulled; a manual one is submitted by hand.
        let licensed: Vec<Licensed> = self
            .registry
            .licensed(now)
            .await?
            .into_iter()
            .filter(|l| l.def.capture == crate::domain::definition::Capture::Automated)
            .collect();
        let providers = self.registry.providers().await?;
        let obligations = self.obligations(&licensed, &providers);
        // Only periods still open can be due, and each was pulled (if at all) after it
        // ended: no run that started before the longest deadline and amendment window (and
        // a day for the timezone) can settle one, so the ledger's past is not read.
        let open_for = licensed
            .iter()
            .map(|l| l.def.deadline.duration() + l.def.amendment_window.duration())
            .max()
            .unwrap_or_default();
        let since = now - open_for - Duration::days(2);
        // Held until the step knows what is due, so that steps side by side take turns.
        let mut kept = self.settled.lock().await;
        let leased = self.read_settled(&mut kept, now, since).await?;
        // Keys still waiting out a backoff are left out before the step's limit applies, so
        // that old failures cannot crowd out new periods.
        let backing_off: HashSet<RunKey> = self.backing_off(now).await?.into_iter().collect();
        let settled = |k: &RunKey| {
            kept.landed.contains_key(k) || leased.contains(k) || backing_off.contains(k)
        };
        Ok(due(&obligations, settled, now, MOST_PER_STEP)
            .into_iter()
            .map(|d| d.key)
            .collect())
    }

    /// What each provider with a source owes under each licensed collection, from the
    /// day the collection was listed.
    fn obligations<'a>(
        &self,
        licensed: &'a [Licensed],
        providers: &'a [Provider],
    ) -> Vec<Obligation<'a>> {
        licensed
            .iter()
            .flat_map(|l| {
                providers
                    .iter()
                    .filter(|p| l.def.respondents.kinds.contains(&p.kind))
                    // A provider with no source yet cannot be pulled: it submits by hand.
                    .filter(|p| {
                        self.sources
                            .find(l.def.slug.as_str(), p.code.as_str())
                            .is_some()
                    })
                    .map(|p| Obligation {
                        def: &l.def,
                        provider: p,
                        since: Some(l.effective_from),
                    })
            })
            .collect()
    }

    /// Brings `kept`, the keys the ledger has landed among runs started since `since`, up
    /// to date, and returns the keys held under a live lease now. Only runs landed since
    /// the last step are read, unless `since` went back (a collection with a longer
    /// amendment window was listed) or the ledger's counter is behind the mark kept (the
    /// register restored from a backup under a running service): then the window is read
    /// again. A restored counter that has passed the mark again is not noticed, so the
    /// service is restarted after a restore.
    async fn read_settled(
        &self,
        kept: &mut KeptSettled,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> anyhow::Result<HashSet<RunKey>> {
        let mut after = kept.mark.filter(|_| since >= kept.since);
        // Forgotten until the reading is done, so that a failed one starts again.
        kept.mark = None;
        let mut reading = self.registry.store().settled(now, since, after).await?;
        if after.is_some_and(|a| reading.mark < a) {
            after = None;
            reading = self.registry.store().settled(now, since, None).await?;
        }
        if after.is_none() {
            kept.landed.clear();
        }
        for ((collection, provider, period), started) in reading.landed {
            let Ok(period) = Period::parse(&period) else {
                continue;
            };
            let key = RunKey {
                collection,
                provider,
                period,
            };
            let at = kept.landed.entry(key).or_insert(started);
            *at = (*at).max(started);
        }
        kept.landed.retain(|_, started| *started >= since);
        kept.mark = Some(reading.mark);
        kept.since = since;
        Ok(reading
            .leased
            .into_iter()
            .filter_map(|(collection, provider, period)| {
                Some(RunKey {
                    collection,
                    provider,
                    period: Period::parse(&period).ok()?,
                })
            })
            .collect())
    }

    /// Keys whose last attempt failed or was rejected too recently to try again. No
    /// backoff is longer than six hours and a fifth, so older failures cannot hold anything
    /// back and are not read: the ledger grows, the step does not.
    async fn backing_off(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<RunKey>> {
        let mut last_failure: HashMap<RunKey, (i64, DateTime<Utc>)> = HashMap::new();
        for status in [RunStatus::Failed, RunStatus::Rejected] {
            let filter = RunFilter {
                status: Some(status),
                finished_after: Some(now - Duration::hours(8)),
                limit: 100_000,
                ..RunFilter::default()
            };
            for r in self.registry.store().runs(&filter).await? {
                let (Ok(period), Some(finished)) = (Period::parse(&r.period), r.finished_at) else {
                    continue;
                };
                let key = RunKey {
                    collection: r.collection,
                    provider: r.provider,
                    period,
                };
                let entry = last_failure.entry(key).or_insert((r.attempt, finished));
                if r.attempt > entry.0 {
                    *entry = (r.attempt, finished);
                }
            }
        }
        Ok(last_failure
            .into_iter()
            .filter(|(k, (attempt, at))| now < *at + backoff(*attempt, k))
            .map(|(k, _)| k)
            .collect())
    }

    /// Pulls `runs`, a bounded number at a time and fewer against any one source host.
    /// A pull that panics or fails before it is recorded is logged; the others go on.
    async fn pull_all(
        &self,
        runs: Vec<RunKey>,
        now: DateTime<Utc>,
        started: std::time::Instant,
    ) -> Vec<Pulled> {
        let limit = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let mut tasks = JoinSet::new();
        for key in runs {
            let host = self
                .sources
                .find(&key.collection, &key.provider)
                .and_then(|s| s.connector.host(&self.sources.base))
                .map(|h| {
                    hosts
                        .entry(h)
                        .or_insert_with(|| Arc::new(Semaphore::new(self.per_host.max(1))))
                        .clone()
                });
            let (limit, pace) = (limit.clone(), self.pace);
            let (registry, sources, lake, instance) = (
                self.registry.clone(),
                self.sources.clone(),
                self.lake.clone(),
                self.instance.clone(),
            );
            tasks.spawn(async move {
                // The host's turn first, then a place in the global limit, so that pulls
                // waiting on a busy host never hold places that other hosts could use.
                let _host = match host {
                    Some(h) => Some(h.acquire_owned().await),
                    None => None,
                };
                let _permit = limit.acquire_owned().await;
                // Each pull's clock is the step's, moved on by the time the step has taken
                // (unless the caller keeps a clock of its own).
                let at = pace.timing.since(now, started);
                let puller = Puller {
                    registry: &registry,
                    sources: &sources,
                    lake: &lake,
                    instance: &instance,
                    pace,
                    arrival: Arrival::Pulled,
                };
                let result = puller.pull(&key, at, Again::No).await;
                (key, result)
            });
        }
        let mut out = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (key, result) = match done {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "A pull panicked; its run is let go when its lease runs out.");
                    continue;
                }
            };
            match result {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!(
                    collection = key.collection,
                    provider = key.provider,
                    period = %key.period,
                    error = format!("{e:#}"),
                    "A pull failed before it could be recorded."
                ),
            }
        }
        out
    }

    /// Steps every `pace.every` until `stop` says so, then lets go of anything still held.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        loop {
            match self.step(Utc::now()).await {
                Ok(pulled) if !pulled.is_empty() => {
                    tracing::info!(runs = pulled.len(), "Finished a scheduler step.")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "A scheduler step failed; the next one will try again."
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.pace.every) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        let released = self
            .registry
            .store()
            .release_runs(&self.instance, Utc::now())
            .await?;
        tracing::info!(released, "Stopped the scheduler and released its runs.");
        Ok(())
    }
}
