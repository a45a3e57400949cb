//! What the register shows: one collection with its versions and decisions, the public
//! register, burden against DAP's budget, and what each provider owes.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::burden::{BurdenReport, estimate};
use super::governance::Licensed;
use super::{Registry, require_words, status_at};
use crate::domain::budget::Budget;
use crate::domain::definition::CollectionDef;
use crate::domain::finding::Override;
use crate::domain::provider::Provider;
use crate::domain::{CollectionStatus, RegistryError, Step};
use crate::store::{CollectionRow, DecisionRow};

/// Everything the register holds about one collection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionView {
    pub collection: CollectionRow,
    /// `listed`, `suspended`, … or `expired` for a listed collection past its licence.
    pub status: CollectionStatus,
    pub versions: Vec<VersionSummary>,
    pub decisions: Vec<DecisionRow>,
    /// The first day the licence in force is owed; none when nothing is listed.
    pub effective_from: Option<NaiveDate>,
}

impl CollectionView {
    /// The version a reader is shown: the one listed, else the latest proposed.
    pub fn shown(&self) -> Option<&VersionSummary> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.status == CollectionStatus::Listed)
            .or(self.versions.last())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub version: i64,
    pub status: CollectionStatus,
    pub sha256: String,
    pub source_file: Option<String>,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub listed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The first day it was owed, as DAP set it when listing this version.
    pub effective_from: Option<NaiveDate>,
    /// The definition as its TOML file gives it.
    #[schema(value_type = Object)]
    pub definition: CollectionDef,
}

/// One line of the public register.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisterEntry {
    pub slug: String,
    pub licence_number: Option<String>,
    pub status: CollectionStatus,
    pub title: String,
    pub sponsor: String,
    pub legal_basis: String,
    pub frequency: String,
    pub capture: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The first day the licence in force is owed; before it the collection is coming.
    pub effective_from: Option<NaiveDate>,
    pub annual_hours: Option<f64>,
    /// The reason given for its status: why it was listed, suspended, retired or rejected.
    pub reason: Option<String>,
    pub overrides: Vec<Override>,
}

/// One thing a provider owes: a listed collection that applies to its kind while it is open.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Obligation {
    pub provider: String,
    pub provider_name: String,
    pub collection: String,
    pub licence_number: String,
    pub frequency: String,
    /// The first day it is owed (its effective date).
    pub owed_from: NaiveDate,
}

impl Registry {
    pub async fn show(&self, slug: &str, at: DateTime<Utc>) -> anyhow::Result<CollectionView> {
        let rows = self.rows().await?;
        let Some(collection) = rows.collection(slug).cloned() else {
            return Err(RegistryError::NotFound(slug.into()).into());
        };
        let versions = rows.versions(slug).to_vec();
        let effective_from = owed_from(&versions);
        let status = status_at(
            &collection,
            versions
                .iter()
                .find(|v| v.status == CollectionStatus::Listed),
            at,
        );
        Ok(CollectionView {
            status,
            effective_from,
            decisions: rows.decisions_of(slug).cloned().collect(),
            versions: versions
                .into_iter()
                .map(|v| VersionSummary {
                    version: v.version,
                    status: v.status,
                    sha256: v.sha256,
                    source_file: v.source_file,
                    proposed_by: v.proposed_by,
                    proposed_at: v.proposed_at,
                    listed_at: v.listed_at,
                    expires_at: v.expires_at,
                    effective_from: v.effective_from,
                    definition: v.definition.0,
                })
                .collect(),
            collection,
        })
    }

    /// The public register: every collection, its licence and status, with the reasons for
    /// retirements and rejections and every override.
    pub async fn register(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<RegisterEntry>> {
        let providers = self.providers().await?;
        let rows = self.rows().await?;
        let decisions = rows.decisions();
        let on = self.day(at);
        let estimates = self.burden(at).await?.collections;
        let mut out = Vec::new();
        for c in rows.collections() {
            let versions = rows.versions(&c.slug);
            let in_force = versions
                .iter()
                .find(|v| v.status == CollectionStatus::Listed);
            let Some(shown) = in_force.or(versions.last()) else {
                continue;
            };
            let def = &shown.definition.0;
            let status = status_at(c, in_force, at);
            let own: Vec<&DecisionRow> = decisions.iter().filter(|d| d.slug == c.slug).collect();
            let why_action = match status {
                CollectionStatus::Listed | CollectionStatus::Expired => Some(Step::List),
                CollectionStatus::Retired => Some(Step::Retire),
                CollectionStatus::Rejected => Some(Step::Reject),
                CollectionStatus::Suspended => Some(Step::Suspend),
                CollectionStatus::Proposed
                | CollectionStatus::Withdrawn
                | CollectionStatus::Superseded => None,
            };
            let reason = why_action.and_then(|action| {
                own.iter()
                    .rev()
                    .find(|d| d.action == action)
                    .map(|d| d.reason.clone())
            });
            out.push(RegisterEntry {
                slug: c.slug.clone(),
                // A licence number belongs to the licence: a retired collection proposed
                // again shows none until it is listed under a new one.
                licence_number: c
                    .licence_number
                    .clone()
                    .filter(|_| status.current() || status == CollectionStatus::Retired),
                title: def.title.clone(),
                sponsor: def.sponsor.clone(),
                legal_basis: def.legal_basis.clone(),
                frequency: def.frequency.period.adjective().into(),
                capture: def.capture.as_str().into(),
                expires_at: in_force.and_then(|v| v.expires_at),
                effective_from: owed_from(versions),
                annual_hours: matches!(
                    status,
                    CollectionStatus::Listed | CollectionStatus::Suspended
                )
                .then(|| {
                    estimates
                        .iter()
                        .find(|e| e.slug == c.slug)
                        .map_or_else(|| estimate(def, None, &providers, on), Clone::clone)
                        .annual_hours
                }),
                reason,
                overrides: own.iter().flat_map(|d| d.overrides.0.clone()).collect(),
                status,
            });
        }
        Ok(out)
    }

    /// Estimated burden of every licensed collection, against DAP's budget, as the records
    /// stand at `at` (see `causes`). A suspended collection still counts: it keeps its
    /// licence and its burden comes back with it, so suspending one must not make room
    /// under the cap for another.
    pub async fn burden(&self, at: DateTime<Utc>) -> anyhow::Result<BurdenReport> {
        Ok(BurdenReport::new(
            self.estimate_at(at).await?,
            self.rows().await?.budget().cloned(),
            self.day(at),
        ))
    }

    /// Changes the cap or the target; what is not given stays as it was.
    pub async fn set_budget(
        &self,
        change: BudgetChange,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Budget> {
        if change.cap_hours.is_none()
            && change.baseline_hours.is_none()
            && change.baseline_date.is_none()
            && change.goal_hours.is_none()
            && change.target_date.is_none()
        {
            return Err(RegistryError::Refused(
                "nothing to change: give a cap, a target (a goal and the date to reach it by), or a baseline".into(),
            )
            .into());
        }
        let set_by = require_words("the name of the DAP member deciding", by)?;
        let reason = require_words("a reason", reason)?;
        let old = self.store.budget().await?;
        let keep = |f: fn(&Budget) -> Option<f64>| old.as_ref().and_then(f);
        let baseline_hours = match change.baseline_hours {
            Some(h) => Some(h),
            None if change.goal_hours.is_some() && keep(|b| b.baseline_hours).is_none() => {
                Some(self.burden(at).await?.total_hours)
            }
            None => keep(|b| b.baseline_hours),
        };
        let b = Budget {
            cap_hours: change.cap_hours.or(keep(|b| b.cap_hours)),
            baseline_hours,
            baseline_date: change
                .baseline_date
                .or(old.as_ref().and_then(|b| b.baseline_date))
                .or(change.goal_hours.map(|_| self.day(at))),
            goal_hours: change.goal_hours.or(keep(|b| b.goal_hours)),
            target_date: change
                .target_date
                .or(old.as_ref().and_then(|b| b.target_date)),
            set_by,
            reason,
            set_at: at,
        };
        for (name, v) in [
            ("cap", b.cap_hours),
            ("baseline", b.baseline_hours),
            ("goal", b.goal_hours),
        ] {
            if v.is_some_and(|h| !h.is_finite() || !(0.0..=MOST_HOURS).contains(&h)) {
                return Err(RegistryError::Refused(format!(
                    "the {name} must be a finite number of hours, 0 or more and at most {} (more than all of the NHS's staff work in a month)",
                    super::burden::thousands(MOST_HOURS)
                ))
                .into());
            }
        }
        for (name, day) in [
            ("baseline date", b.baseline_date),
            ("target date", b.target_date),
        ] {
            if let Some(day) = day
                && !(budget_years().contains(&day))
            {
                return Err(RegistryError::Refused(format!(
                    "the {name} {day} is not a day from 2000 to 2100"
                ))
                .into());
            }
        }
        if let (Some(goal), Some(base)) = (b.goal_hours, b.baseline_hours)
            && goal >= base
        {
            return Err(RegistryError::Refused(format!(
                "the goal of {} h is not below the baseline of {} h: a reduction target must reduce",
                super::burden::thousands(goal),
                super::burden::thousands(base)
            ))
            .into());
        }
        if b.goal_hours.is_some() != b.target_date.is_some() {
            return Err(RegistryError::Refused(
                "a reduction target needs both a goal and the date to reach it by".into(),
            )
            .into());
        }
        if let (Some(from), Some(to)) = (b.baseline_date, b.target_date)
            && to <= from
        {
            return Err(RegistryError::Refused(format!(
                "the target date {to} must be after the baseline date {from}"
            ))
            .into());
        }
        self.store.set_budget(&b).await?;
        Ok(b)
    }

    /// Providers × listed collections that apply to their kind, for providers open on `on`.
    pub async fn obligations(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<Obligation>> {
        self.obligations_of(None, at).await
    }

    /// [`Registry::obligations`] of one provider, or of all.
    pub async fn obligations_of(
        &self,
        code: Option<&str>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Obligation>> {
        let on = self.day(at);
        let all = self.providers().await?;
        let providers: Vec<&Provider> = all
            .iter()
            .filter(|p| code.is_none_or(|c| p.code.as_str() == c))
            .collect();
        let mut out = Vec::new();
        for l in self.licensed(at).await? {
            let def = &l.def;
            if !l.in_effect_on(at.with_timezone(&def.frequency.timezone).date_naive()) {
                continue;
            }
            for p in providers
                .iter()
                .filter(|p| def.respondents.kinds.contains(&p.kind) && p.is_open_on(on))
            {
                out.push(Obligation {
                    provider: p.code.to_string(),
                    provider_name: p.name.clone(),
                    collection: def.slug.to_string(),
                    licence_number: l.licence_number.clone(),
                    frequency: def.frequency.period.adjective().into(),
                    owed_from: l.effective_from,
                });
            }
        }
        out.sort_by(|a, b| (&a.provider, &a.collection).cmp(&(&b.provider, &b.collection)));
        Ok(out)
    }

    /// Listed collections a provider will owe but does not yet: their effective dates are
    /// still to come. A provider that will have closed by then owes nothing.
    pub async fn coming_for(
        &self,
        provider: &Provider,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Licensed>> {
        let licensed = self.licensed(at).await?;
        Ok(coming(&licensed, provider, at).cloned().collect())
    }
}

/// [`Registry::coming_for`] among collections already read.
pub fn coming<'a>(
    licensed: &'a [Licensed],
    provider: &'a Provider,
    at: DateTime<Utc>,
) -> impl Iterator<Item = &'a Licensed> {
    licensed.iter().filter(move |l| {
        let today = at.with_timezone(&l.def.frequency.timezone).date_naive();
        !l.in_effect_on(today)
            && l.def.respondents.kinds.contains(&provider.kind)
            && provider.closed_on.is_none_or(|c| c > l.effective_from)
    })
}
impl Registry {
    /// Adds or updates providers, all or none. A successor must be a provider, in the file
    /// or already registered.
    /// A provider new to the register is recorded as joining it `at`.
    pub async fn import_providers(
        &self,
        list: &[Provider],
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let known = self.store.providers().await?;
        let missing: Vec<String> = list
            .iter()
            .filter_map(|p| {
                let s = p.successor.as_ref()?;
                let found = list.iter().chain(known.iter()).any(|q| &q.code == s);
                (!found).then(|| format!("{}: successor {s} is not a provider", p.code))
            })
            .collect();
        if !missing.is_empty() {
            return Err(RegistryError::Refused(format!(
                "nothing imported: {}",
                missing.join("; ")
            ))
            .into());
        }
        self.store.import_providers(list, at).await
    }
}

/// What `tally burden set` changes; `None` keeps the value in force.
#[derive(Debug, Clone, Default)]
pub struct BudgetChange {
    pub cap_hours: Option<f64>,
    pub baseline_hours: Option<f64>,
    pub baseline_date: Option<NaiveDate>,
    pub goal_hours: Option<f64>,
    pub target_date: Option<NaiveDate>,
}

/// The most hours a budget figure may be: a cap or a goal past this is a typing slip, not
/// a plan (the NHS's 1.5 million staff work about 200 million hours a month).
pub const MOST_HOURS: f64 = 100_000_000.0;

/// The days a budget's baseline and target may fall on.
fn budget_years() -> std::ops::RangeInclusive<NaiveDate> {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a day")
        ..=NaiveDate::from_ymd_opt(2100, 12, 31).expect("a day")
}

/// The first day the licence in force is owed, if one is, from a collection's versions.
pub fn owed_from(versions: &[crate::store::VersionRow]) -> Option<NaiveDate> {
    let tz = versions
        .iter()
        .find(|v| v.status == CollectionStatus::Listed)?
        .definition
        .0
        .frequency
        .timezone;
    super::notice::licence_began(versions, tz).map(|(_, from)| from)
}

/// An estimate kept with the reading of the records it was made from and the span of
/// instants it holds for.
pub(super) struct KeptEstimate {
    records: std::sync::Arc<super::records::Records>,
    span: super::causes::Span,
    estimate: Vec<super::burden::CollectionBurden>,
}

impl super::Registry {
    /// Each collection in force at `at` and its estimate then
    /// ([`super::causes::estimate_at`]), kept until the records are read again or `at`
    /// leaves the span between two of the replay's events: replaying fifteen thousand
    /// providers' records on every request would cost milliseconds each.
    pub async fn estimate_at(
        &self,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<super::burden::CollectionBurden>> {
        Ok(self.estimate_from(self.burden_records().await?, at))
    }

    /// [`Self::estimate_at`] from a reading of the records already made, so that a page
    /// showing the estimate beside the replay's history and causes shows one reading.
    pub fn estimate_from(
        &self,
        records: std::sync::Arc<super::records::Records>,
        at: DateTime<Utc>,
    ) -> Vec<super::burden::CollectionBurden> {
        if let Some(k) = self.estimate.lock().expect("not poisoned").as_ref()
            && std::sync::Arc::ptr_eq(&k.records, &records)
            && k.span.0.is_none_or(|from| from <= at)
            && k.span.1.is_none_or(|until| at < until)
        {
            return k.estimate.clone();
        }
        let (estimate, span) = super::causes::estimate_span(&records, at);
        *self.estimate.lock().expect("not poisoned") = Some(KeptEstimate {
            records,
            span,
            estimate: estimate.clone(),
        });
        estimate
    }
}
