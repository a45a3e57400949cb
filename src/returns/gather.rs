//! What a build reads from the register: each input's current versions for the periods
//! inside the return's period, who has signed them off, the figures held on them, and how
//! complete they are. The scheduled builder asks this for every period still open to
//! amendments each round, so the register is read once for all of a return's periods and
//! the rows are shared out; a build of one period reads it for that period alone, through
//! the same code.

use std::collections::{BTreeSet, HashSet};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};

use super::artifact::InputFile;
use super::catalogue::ReturnDef;
use super::completeness::{self, Completeness, InputCompleteness};
use super::provisional::HeldInput;
use crate::domain::Period;
use crate::domain::definition::CollectionDef;
use crate::domain::periods_within;
use crate::domain::provider::Provider;
use crate::registry::Registry;
use crate::store::holds::{HoldFilter, HoldRow};
use crate::store::runs::CurrentVersion;

/// What a build reads: each input's definition with the current versions of the providers
/// the return is about, the versions read (sorted, for the manifest), and how complete
/// they are.
pub(super) struct Gathered {
    pub inputs: Vec<(CollectionDef, Vec<CurrentVersion>)>,
    /// The versions read that have figures awaiting their provider's confirmation.
    pub held: Vec<HeldInput>,
    pub read: Vec<InputFile>,
    pub completeness: Completeness,
}

/// One period's share of an input, while its inputs are read in turn.
struct Partial {
    gathered: Gathered,
    owed_anything: bool,
    /// Whether some period inside has still to reach its deadline.
    some_not_due: bool,
}

/// Gathers each input's current versions for the periods inside `period` and works out
/// their completeness; refuses a period nobody owes anything for yet.
pub(super) async fn gather(
    registry: &Registry,
    def: &ReturnDef,
    period: &Period,
    now: DateTime<Utc>,
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<Gathered> {
    gather_each(
        registry,
        def,
        std::slice::from_ref(period),
        now,
        providers,
        started,
    )
    .await?
    .pop()
    .ok_or_else(|| anyhow!("no period to gather"))?
}

/// [`gather`] for each of `periods` (of the return's own kind, so none overlaps another),
/// from one reading of the register for them all: each period's reading is the one
/// `gather` gives it alone. Where a period is refused, its error may differ from the one
/// `gather` would give it alone (another input's, say), and the outer error is the first
/// one met that stops them all.
pub(super) async fn gather_each(
    registry: &Registry,
    def: &ReturnDef,
    periods: &[Period],
    now: DateTime<Utc>,
    providers: &[Provider],
    started: std::time::Instant,
) -> anyhow::Result<Vec<anyhow::Result<Gathered>>> {
    let mut each: Vec<anyhow::Result<Partial>> = periods
        .iter()
        .map(|_| {
            Ok(Partial {
                gathered: Gathered {
                    inputs: Vec::new(),
                    held: Vec::new(),
                    read: Vec::new(),
                    completeness: Completeness {
                        complete: true,
                        inputs: Vec::new(),
                    },
                },
                owed_anything: false,
                some_not_due: false,
            })
        })
        .collect();
    let expected: HashSet<&str> = providers
        .iter()
        .filter(|p| def.expects.contains(&p.kind))
        .map(|p| p.code.as_str())
        .collect();
    for slug in &def.inputs {
        let licensed = registry
            .require_listed(slug.as_str(), now)
            .await
            .with_context(|| format!("{}: input {slug}", def.name))?;
        let collection = licensed.def;
        let from = licensed.effective_from;
        let kind = collection.frequency.period;
        if !kind.rolls_up_to(def.period) {
            bail!(
                "{}: {slug} is collected per {}, which does not fit inside a {}",
                def.name,
                kind.as_str(),
                def.period.as_str()
            );
        }
        // The periods of the input inside each period of the return, and their names.
        let inner: Vec<(Vec<Period>, BTreeSet<String>)> = periods
            .iter()
            .map(|period| {
                let inner = periods_within(period, kind);
                let wanted = inner.iter().map(|p| p.to_string()).collect();
                (inner, wanted)
            })
            .collect();
        for ((period, (inner, _)), partial) in periods.iter().zip(&inner).zip(&mut each) {
            if partial.is_ok() && inner.is_empty() {
                *partial = Err(anyhow!(
                    "{period} holds no whole {} of {slug}",
                    kind.as_str()
                ));
            }
        }
        // A period refused stays refused for the reason found first, as it would alone.
        if each.iter().all(Result::is_err) {
            break;
        }
        let open = |i: usize| each[i].is_ok();
        let names: BTreeSet<&String> = (0..periods.len())
            .filter(|&i| open(i))
            .flat_map(|i| inner[i].1.iter())
            .collect();
        let (Some(first), Some(last)) = (names.first(), names.last()) else {
            continue;
        };
        // Only the extracts of the providers the return is about are read.
        let read: Vec<CurrentVersion> = registry
            .store()
            .current_versions(slug.as_str(), first, last)
            .await?
            .into_iter()
            .filter(|v| expected.contains(v.provider.as_str()) && names.contains(&v.period))
            .collect();
        let current: Vec<Vec<CurrentVersion>> = inner
            .iter()
            .enumerate()
            .map(|(i, (_, wanted))| {
                read.iter()
                    .filter(|v| open(i) && wanted.contains(&v.period))
                    .cloned()
                    .collect()
            })
            .collect();
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            collection = %slug,
            versions = read.len(),
            "Read the current versions."
        );
        // A version's period names the return's period it is read for, so the answers for
        // all of them, shared out by period, are each period's own.
        let unsigned = registry.unsigned(slug.as_str(), &read).await?;
        let unsigned: HashSet<(&str, &str)> = unsigned
            .iter()
            .map(|(p, q)| (p.as_str(), q.as_str()))
            .collect();
        let holds = held_in(registry, slug.as_str(), &read).await?;
        for (i, partial) in each.iter_mut().enumerate() {
            let Ok(partial) = partial else { continue };
            let current = &current[i];
            let mut c = completeness::assess(
                &collection,
                &def.expects,
                from,
                providers,
                &inner[i].0,
                current,
                &unsigned,
                now,
            );
            let holds: Vec<HoldRow> = holds
                .iter()
                .filter(|h| inner[i].1.contains(&h.period))
                .cloned()
                .collect();
            c.provisional = completeness::provisional(&holds, providers);
            for h in holds {
                let kept = registry
                    .store()
                    .held_figures(&h.collection, &h.provider, &h.period, h.version)
                    .await?;
                partial.gathered.held.push(HeldInput {
                    whole: (kept.len() as i64) < h.figures,
                    figures: kept.into_iter().map(|f| (f.row, f.item)).collect(),
                    collection: h.collection,
                    provider: h.provider,
                    period: h.period,
                });
            }
            partial.add(collection.clone(), current.clone(), c);
        }
    }
    Ok(periods
        .iter()
        .zip(each)
        .map(|(period, partial)| partial?.finish(def, period))
        .collect())
}

impl Partial {
    /// Adds one input's versions and completeness.
    fn add(
        &mut self,
        collection: CollectionDef,
        current: Vec<CurrentVersion>,
        c: InputCompleteness,
    ) {
        let g = &mut self.gathered;
        self.owed_anything |= c.expected > 0;
        self.some_not_due |= c.periods_due < c.periods;
        // A period still in progress is not complete, however much of it has come in.
        g.completeness.complete &=
            c.missing.is_empty() && c.partial.is_empty() && c.periods_due == c.periods;
        g.read.extend(current.iter().map(|v| InputFile {
            collection: v.collection.clone(),
            provider: v.provider.clone(),
            period: v.period.clone(),
            version: v.version,
            sha256: v.raw_sha256.clone(),
        }));
        g.completeness.inputs.push(c);
        g.inputs.push((collection, current));
    }

    /// The period's reading, once every input is in; refused when nobody owes it anything.
    fn finish(self, def: &ReturnDef, period: &Period) -> anyhow::Result<Gathered> {
        let mut gathered = self.gathered;
        if !self.owed_anything && self.some_not_due {
            bail!(
                "{period} of {} is not owed yet: no part of it has reached its deadline, so \
                 there is nothing to build; build it once its first day is past its deadline",
                def.name
            );
        }
        if !self.owed_anything {
            bail!(
                "{period} is outside the data for {}: no registered provider owes {} for it",
                def.name,
                def.inputs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        gathered.read.sort_by(|a, b| {
            (&a.collection, &a.period, &a.provider).cmp(&(&b.collection, &b.period, &b.provider))
        });
        Ok(gathered)
    }
}

/// The unconfirmed holds on the versions of `collection` a build reads.
async fn held_in(
    registry: &Registry,
    collection: &str,
    current: &[CurrentVersion],
) -> anyhow::Result<Vec<HoldRow>> {
    let read: HashSet<(&str, &str, i64)> = current
        .iter()
        .map(|v| (v.provider.as_str(), v.period.as_str(), v.version))
        .collect();
    let holds = registry
        .store()
        .holds(&HoldFilter {
            collection: Some(collection.to_owned()),
            awaiting: true,
            // The versions read decide: one replaced since they were read is still the
            // one this build reads.
            replaced: true,
            ..HoldFilter::default()
        })
        .await?;
    Ok(holds
        .into_iter()
        .filter(|h| read.contains(&(h.provider.as_str(), h.period.as_str(), h.version)))
        .collect())
}
