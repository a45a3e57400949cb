//! One pull: the step the runner loop repeats and `tally pull` runs by hand. It asks the
//! register first (rule 1), claims the run, fetches the extract through its source, lands
//! it, keeps the raw input where that is allowed, and records the outcome in the run ledger
//! whatever happens: any error after the claim ends the run as failed with its reason.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::pace::Clock;
pub use super::pace::{LEASE, Pace, Timing};
use crate::connectors::{ConnectorConfig, Fetch, Fetched, Format, Receipt, Sources, convert};
use crate::domain::RunKey;
use crate::domain::definition::CollectionDef;
use crate::domain::{Arrival, PullStatus, RegistryError};
use crate::landing::lake::{Lake, Scratch};
use crate::landing::plausible;
use crate::landing::raw::hash_raw;
use crate::landing::{Outcome, Report, land_csv, land_nil};
use crate::registry::Registry;
use crate::registry::window::deadline;
use crate::store::runs::{ExtractVersion, RunOutcome, RunStatus};

#[derive(Debug, Clone, Serialize)]
pub struct Pulled {
    pub key: RunKey,
    /// `landed`, `late` (the first version, after the deadline), `amended` (a further
    /// version), `rejected`, `failed`, `refused`, or `skipped` when another instance holds
    /// it or it has landed already.
    pub status: PullStatus,
    pub run_id: Option<i64>,
    pub version: Option<i64>,
    pub message: String,
    pub report: Option<Report>,
    /// The extract is the current version's again: nothing new landed.
    pub unchanged: bool,
    /// The rows of the version that was current before this run, when there was one: what
    /// a correction replaces.
    pub rows_before: Option<i64>,
    /// The correction was not made current because it would remove more than half of the
    /// period's rows, and that was not confirmed.
    pub needs_confirmation: bool,
    /// The run failed because the service's disk is full.
    pub disk_full: bool,
}

/// What a pull does about a period that has landed already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Again {
    /// Nothing: the scheduler's pulls, and `tally pull` without `--again`.
    #[default]
    No,
    /// Land the extract as the next version (`tally pull --again`).
    Yes,
    /// A correction handed over by hand: the next version, but one that would remove more
    /// than half of the current version's rows is made current only when `confirmed`.
    Correction { confirmed: bool },
}

/// Aborts a spawned task when dropped, however the scope that holds it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What every pull needs: the register, the sources, the lake, the instance that pulls, and
/// how it keeps time. The runner makes one for each of its pulls; `tally pull` and the
/// upload path make their own.
#[derive(Clone, Copy)]
pub struct Puller<'a> {
    pub registry: &'a Registry,
    pub sources: &'a Sources,
    pub lake: &'a Lake,
    pub instance: &'a str,
    pub pace: Pace,
    /// Pulled from a source, or uploaded by hand: recorded with each run.
    pub arrival: Arrival,
}

/// A pull as `tally pull` and the tests make it: the service's pace, and `again` to land a
/// period that has landed already as its next version.
pub async fn pull(
    registry: &Registry,
    sources: &Sources,
    lake: &Lake,
    key: &RunKey,
    instance: &str,
    now: DateTime<Utc>,
    again: bool,
) -> anyhow::Result<Pulled> {
    let puller = Puller {
        registry,
        sources,
        lake,
        instance,
        pace: Pace::default(),
        arrival: Arrival::Pulled,
    };
    let again = if again { Again::Yes } else { Again::No };
    puller.pull(key, now, again).await
}

/// A run this instance has claimed: what it pulls, under which definition, what to do if it
/// has landed already, and the clock its ledger entries keep.
struct Claimed<'a> {
    key: &'a RunKey,
    def: &'a CollectionDef,
    id: i64,
    again: Again,
    now: DateTime<Utc>,
    clock: Clock,
}

/// What an attempt came to: the run's status and its ledger entry, the answer for whoever
/// asked, and the source's receipt, acknowledged once the run is recorded.
struct Attempted {
    status: RunStatus,
    ledger: RunOutcome,
    pulled: Pulled,
    receipt: Option<(ConnectorConfig, Receipt)>,
}

impl Attempted {
    fn ended(status: RunStatus, ledger: RunOutcome, pulled: Pulled) -> Attempted {
        Attempted {
            status,
            ledger,
            pulled,
            receipt: None,
        }
    }
}

impl Pulled {
    /// Nothing done (yet): what a pull answers when another instance holds the run.
    fn skipped(key: &RunKey) -> Pulled {
        Pulled {
            key: key.clone(),
            status: PullStatus::Skipped,
            run_id: None,
            version: None,
            message: String::new(),
            report: None,
            unchanged: false,
            rows_before: None,
            needs_confirmation: false,
            disk_full: false,
        }
    }
}

impl Puller<'_> {
    /// Pulls `key` at `now`: asks the register, claims the run, and records its outcome
    /// whatever happens.
    pub async fn pull(
        &self,
        key: &RunKey,
        now: DateTime<Utc>,
        again: Again,
    ) -> anyhow::Result<Pulled> {
        let store = self.registry.store();
        let licensed = self.registry.require_listed(&key.collection, now).await;
        let lease = Duration::from_std(self.pace.lease).unwrap_or(Duration::minutes(15));
        let Some(run) = store
            .claim_run(
                key,
                self.instance,
                now,
                now + lease,
                again != Again::No,
                self.arrival,
            )
            .await?
        else {
            let mut pulled = Pulled::skipped(key);
            pulled.message = format!(
                "{} for {} {} has landed already or another instance is pulling it; use --again to pull it again",
                key.collection, key.provider, key.period
            );
            return Ok(pulled);
        };
        let mut pulled = Pulled::skipped(key);
        pulled.run_id = Some(run.id);
        // Times in the ledger follow `now`, so that a run's end is `now` plus how long it
        // took, whatever clock the caller keeps (tests drive the runner with fixed instants).
        let clock = Clock {
            timing: self.pace.timing,
            now,
            started: std::time::Instant::now(),
        };
        let renewal = self.renew_lease(run.id, clock, lease);
        let result = match licensed {
            Ok(l) => {
                let claimed = Claimed {
                    key,
                    def: &l.def,
                    id: run.id,
                    again,
                    now,
                    clock,
                };
                self.attempt(&claimed, pulled.clone()).await
            }
            Err(e) => match e.downcast_ref::<RegistryError>() {
                Some(r @ RegistryError::NotLicensed { .. }) => Ok(Attempted::ended(
                    RunStatus::Refused,
                    RunOutcome {
                        error: Some(r.to_string()),
                        ..RunOutcome::default()
                    },
                    pulled.clone(),
                )),
                _ => Err(e),
            },
        };
        drop(renewal);
        let attempted = result.unwrap_or_else(|e| {
            let mut failed = pulled;
            failed.disk_full = disk_full(&e);
            Attempted::ended(
                RunStatus::Failed,
                RunOutcome {
                    error: Some(format!("{e:#}")),
                    ..RunOutcome::default()
                },
                failed,
            )
        });
        let Attempted {
            status,
            ledger,
            mut pulled,
            receipt,
        } = attempted;
        let (status, ledger) = self
            .record(key, run.id, status, ledger, clock, &mut pulled)
            .await?;
        pulled.status = status.into();
        metrics::counter!("tally_runs_total", "collection" => key.collection.clone(), "status" => status.as_str())
            .increment(1);
        metrics::histogram!("tally_pull_duration_seconds", "collection" => key.collection.clone())
            .record(clock.started.elapsed().as_secs_f64());
        if pulled.message.is_empty() {
            pulled.message = ledger.error.unwrap_or_default();
        }
        // Now that the run is recorded, the source is told the extract was dealt with,
        // landed or rejected with a report (a failed run is not acknowledged, so its retry
        // finds the extract again). If telling it fails, the outcome stands; the next pull
        // may fetch the same extract again.
        if let Some((connector, receipt)) = receipt
            && matches!(
                status,
                RunStatus::Landed | RunStatus::Late | RunStatus::Amended | RunStatus::Rejected
            )
            && let Err(e) = connector.acknowledge(&receipt, &self.sources.base).await
        {
            pulled.message.push_str(&format!(
                "\nThe source was not told the extract was received: {e:#}"
            ));
        }
        Ok(pulled)
    }

    /// Renews the run's lease while the pull goes on, so that a large extract or a slow
    /// source never loses its run to another instance; if the lease is lost all the same,
    /// recording the outcome fails and the other instance's run stands. The renewal stops
    /// however the pull ends, a panic included: a pull that panicked must lose its lease,
    /// so that the run is let go and pulled again.
    fn renew_lease(&self, id: i64, clock: Clock, lease: Duration) -> AbortOnDrop {
        let (store, instance) = (self.registry.store().clone(), self.instance.to_owned());
        let every = self.pace.lease / 3;
        AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let until = clock.at() + lease;
                match store.renew_lease(id, &instance, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(run = id, "Lost the lease on a run still being pulled.");
                        return;
                    }
                    Err(e) => tracing::warn!(
                        run = id,
                        error = format!("{e:#}"),
                        "Could not renew a lease; trying again."
                    ),
                }
            }
        }))
    }

    /// Records the run's outcome. If the register will not take it, the run still must not
    /// stay `running`, and a version it does not name must not stay in the lake: it is
    /// recorded as failed instead.
    async fn record(
        &self,
        key: &RunKey,
        id: i64,
        status: RunStatus,
        ledger: RunOutcome,
        clock: Clock,
        pulled: &mut Pulled,
    ) -> anyhow::Result<(RunStatus, RunOutcome)> {
        let store = self.registry.store();
        let e = match store
            .finish_run(id, self.instance, status, &ledger, clock.at())
            .await
        {
            Ok(()) => return Ok((status, ledger)),
            // The lease was lost: another instance's run stands, and this one's file is not
            // in the register; it is passed over by the next version's number.
            Err(e) if e.downcast_ref::<RegistryError>().is_some() => return Err(e),
            Err(e) => e,
        };
        // Unless the register did take it after all (a commit whose answer was lost).
        if let Some(v) = &ledger.version {
            let recorded = store.current_version(key).await.ok().flatten();
            if recorded.is_none_or(|r| r.version != v.version) {
                self.lake.discard(Path::new(&v.path));
            }
        }
        let failed = RunOutcome {
            error: Some(format!("the outcome could not be recorded: {e:#}")),
            ..RunOutcome::default()
        };
        store
            .finish_run(id, self.instance, RunStatus::Failed, &failed, clock.at())
            .await
            .context("recording that the outcome could not be recorded")?;
        pulled.version = None;
        pulled.message = failed.error.clone().unwrap_or_default();
        Ok((RunStatus::Failed, failed))
    }
}

/// Lands a fetched extract: turned into CSV first when it came in another format (off the
/// async threads, as the landing's own file work is), then checked and written. An extract
/// that cannot be read in its format is rejected with the reason, as an unreadable CSV is.
/// The converted copy's guard is returned so that it lives until the landing is done.
pub(super) async fn land(
    def: &CollectionDef,
    key: &RunKey,
    fetched: &Fetched,
    lake: &Lake,
) -> anyhow::Result<(Outcome, Scratch)> {
    if fetched.format == Format::Csv {
        let outcome = land_off_the_runtime(def, key, &fetched.path, lake).await?;
        return Ok((outcome, Scratch::new(None)));
    }
    let guard = lake.scratch(key, "converted.csv")?;
    let csv = guard.path().to_owned();
    let (format, input, output) = (fetched.format, fetched.path.clone(), csv.clone());
    let timezone = def.frequency.timezone;
    let converted =
        tokio::task::spawn_blocking(move || convert::to_csv(format, &input, &output, timezone))
            .await?;
    if let Err(e) = converted {
        // Only a file that cannot be read is the provider's to fix; anything else (our own
        // disk) fails the run, which is tried again and, for MESH, not acknowledged.
        if e.downcast_ref::<convert::Unreadable>().is_none() {
            return Err(e.context(format!("converting the {} extract", format.name())));
        }
        let report = Report {
            collection: key.collection.clone(),
            provider: key.provider.clone(),
            period: key.period.to_string(),
            rejected: Some(format!(
                "the {} extract cannot be read: {e:#}",
                format.name()
            )),
            ..Report::default()
        };
        return Ok((Outcome::Rejected(report), guard));
    }
    Ok((land_off_the_runtime(def, key, &csv, lake).await?, guard))
}

/// Lands on a blocking thread: reading and writing a large extract takes seconds of file
/// work, which on the async threads would hold up every other pull, and the lease renewals.
async fn land_off_the_runtime(
    def: &CollectionDef,
    key: &RunKey,
    csv: &Path,
    lake: &Lake,
) -> anyhow::Result<Outcome> {
    let handle = tokio::runtime::Handle::current();
    let (def, key, csv, lake) = (def.clone(), key.clone(), csv.to_owned(), lake.clone());
    tokio::task::spawn_blocking(move || handle.block_on(land_csv(&def, &key, &csv, &lake))).await?
}

/// Whether an error is the disk being full (or a quota reached): the service's to fix, and
/// said so to whoever waits on it.
pub fn disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| code == libc::ENOSPC || code == libc::EDQUOT)
    })
}

impl Puller<'_> {
    /// Everything after the claim. An error here fails the run; it never leaves it `running`.
    async fn attempt(&self, run: &Claimed<'_>, mut pulled: Pulled) -> anyhow::Result<Attempted> {
        let Claimed {
            key,
            def,
            id: run_id,
            again,
            now,
            clock,
        } = *run;
        let (store, lake) = (self.registry.store(), self.lake);
        let Some(source) = self.sources.find(&key.collection, &key.provider) else {
            anyhow::bail!(
                "no source is set up for {} from {}: add a [[source]] to the sources file",
                key.collection,
                key.provider
            );
        };
        let work = lake.incoming();
        let current = store.current_version(key).await?;
        let unchanged = |version: i64, how: &str| {
            (
                RunStatus::Landed,
                RunOutcome {
                    rows_accepted: Some(0),
                    ..RunOutcome::default()
                },
                format!("unchanged since version {version} ({how}); nothing new landed"),
            )
        };
        let etag = current.as_ref().and_then(|v| v.etag.as_deref());
        let fetched: Fetched = match source
            .connector
            .fetch(key, &self.sources.base, &work, etag, def.frequency.timezone)
            .await?
        {
            Fetch::Got(f) => f,
            Fetch::Unchanged => {
                let version = current.as_ref().map_or(0, |v| v.version);
                let (status, outcome, message) =
                    unchanged(version, "the source answered 304 Not Modified");
                pulled.version = Some(version);
                pulled.unchanged = true;
                pulled.message = message;
                return Ok(Attempted::ended(status, outcome, pulled));
            }
        };
        let _incoming = Scratch::new(fetched.temporary.then(|| fetched.path.clone()));
        let (outcome, _converted) = if self.arrival == Arrival::Nil {
            // Nothing is read: the empty file stands for the declaration.
            (land_nil(def, key, lake)?, Scratch::new(None))
        } else {
            land(def, key, &fetched, lake).await?
        };
        let report = match &outcome {
            Outcome::Ready(_, r) | Outcome::Rejected(r) => r,
        };
        // The raw input is kept for audit only when landing found nothing but listed items in it;
        // otherwise only its hash is kept (rule 8).
        let raw = fetched.path.clone();
        let extension = fetched.format.extension();
        // Only the first sheet of a workbook is read, so a workbook is never kept whole: another
        // sheet may hold anything (rule 8).
        let keep = report.raw_listed_only && fetched.format != Format::Xlsx;
        let (lake_, key_) = (lake.clone(), key.clone());
        let (sha, bytes, raw_path) =
            tokio::task::spawn_blocking(move || hash_raw(&lake_, &key_, &raw, extension, keep))
                .await??;
        // The source is told once the run is recorded (see `pull`).
        let receipt = fetched
            .receipt
            .clone()
            .map(|r| (source.connector.clone(), r));
        let mut ledger = RunOutcome {
            bytes: Some(bytes),
            raw_sha256: Some(sha.clone()),
            rows_in: Some(report.rows_in as i64),
            rows_rejected: Some(report.rows_rejected as i64),
            report: Some(serde_json::to_value(report)?),
            ..RunOutcome::default()
        };
        let (status, ledger) = match outcome {
            Outcome::Rejected(report) => {
                ledger.rows_accepted = Some(0);
                ledger.error = report.rejected.clone();
                pulled.message = report.text();
                pulled.report = Some(report);
                (RunStatus::Rejected, ledger)
            }
            Outcome::Ready(_, report)
                if current
                    .as_ref()
                    .is_some_and(|v| v.raw_sha256 == sha && !v.raw_sha256.is_empty()) =>
            {
                // The same bytes as the current version: another copy would say nothing new.
                let version = current.as_ref().map_or(0, |v| v.version);
                let (status, mut outcome, message) = unchanged(version, "the same sha256");
                outcome.report = ledger.report.take();
                outcome.bytes = ledger.bytes;
                outcome.raw_sha256 = ledger.raw_sha256.take();
                outcome.rows_in = ledger.rows_in;
                outcome.rows_rejected = ledger.rows_rejected;
                pulled.version = Some(version);
                pulled.unchanged = true;
                pulled.message = message;
                pulled.report = Some(report);
                (status, outcome)
            }
            Outcome::Ready(_, report)
                if matches!(again, Again::Correction { confirmed: false })
                    && current
                        .as_ref()
                        .is_some_and(|v| report.rows_accepted * 2 < v.rows_accepted as u64) =>
            {
                // A correction that would remove more than half of the period's rows is kept
                // out until the provider confirms it: a file of the wrong ward, or one cut
                // short, must not quietly replace a whole day.
                let before = current.as_ref().map_or(0, |v| v.rows_accepted);
                let version = current.as_ref().map_or(0, |v| v.version);
                pulled.needs_confirmation = true;
                pulled.rows_before = Some(before);
                ledger.rows_accepted = Some(0);
                ledger.error = Some(format!(
                    "not made current: it keeps {} of the {before} rows version {version} has; \
                 send it again confirming that it replaces them",
                    report.rows_accepted
                ));
                pulled.message = format!(
                    "{}\n{}",
                    ledger.error.as_deref().unwrap_or(""),
                    report.text()
                );
                pulled.report = Some(report);
                (RunStatus::Rejected, ledger)
            }
            Outcome::Ready(pending, report) => {
                // The next number neither the register nor the lake has used: a version file
                // left by a run that died before recording it is never written over.
                let version = lake.next_version(key, store.next_version(key).await?);
                let path = pending.commit(version)?;
                let mut report = report;
                if self.arrival != Arrival::Nil {
                    let checked = plausible::check_landed(store.as_ref(), def, key, &path).await;
                    report.held_total = checked.total;
                    report.held = checked.held.clone();
                    report.not_compared = checked.not_compared;
                    ledger.report = Some(serde_json::to_value(&report)?);
                    ledger.held = (checked.total, checked.held);
                }
                ledger.version = Some(ExtractVersion {
                    collection: key.collection.clone(),
                    provider: key.provider.clone(),
                    period: key.period.to_string(),
                    version,
                    run_id,
                    path: path.display().to_string(),
                    raw_path: raw_path
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    raw_sha256: sha,
                    bytes,
                    rows_accepted: report.rows_accepted as i64,
                    rows_rejected: report.rows_rejected as i64,
                    report: sqlx::types::Json(serde_json::to_value(&report)?),
                    landed_at: clock.at(),
                    etag: fetched.etag.clone(),
                });
                ledger.rows_accepted = Some(report.rows_accepted as i64);
                pulled.version = Some(version);
                pulled.rows_before = current.as_ref().map(|v| v.rows_accepted);
                pulled.message = report.text();
                pulled.report = Some(report);
                // Late is about the first delivery only; a further version is an amendment,
                // whenever it comes.
                let status = if current.is_some() {
                    RunStatus::Amended
                } else if now > deadline(def, &key.period) {
                    RunStatus::Late
                } else {
                    RunStatus::Landed
                };
                (status, ledger)
            }
        };
        Ok(Attempted {
            status,
            ledger,
            pulled,
            receipt,
        })
    }
}
