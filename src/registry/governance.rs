//! DAP's workflow: propose, check, list, reject, suspend, reinstate, retire; the decision log
//! that records each step with the findings at that moment; and `require_listed`, which every
//! other part of Tally calls before it pulls, accepts or publishes anything.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::burden::{CollectionBurden, estimate};
use super::checks;
use super::load::LoadedDef;
use super::notice::{effective, licence_began};
use super::{Registry, require_words};
use crate::domain::definition::CollectionDef;
use crate::domain::finding::{Finding, Override};
use crate::domain::{CollectionStatus, RegistryError, Step};
use crate::store::{Change, NewDecision, NewVersion, VersionRow};

/// How many days before a licence runs out DAP may renew it with the same definition.
pub const RENEWAL_DAYS: i64 = 90;

/// The decisions on a collection other than listing and rejecting its proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Nothing is pulled until it is reinstated; the licence stands.
    Suspend,
    Reinstate,
    /// For good; its licence number is never used again.
    Retire,
}

/// The outcome of running the checks on one definition.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub slug: String,
    pub findings: Vec<Finding>,
    pub burden: CollectionBurden,
}

impl CheckReport {
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_blocking())
    }

    pub fn is_blocked(&self) -> bool {
        self.blocking().next().is_some()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Proposal {
    pub slug: String,
    pub version: i64,
    pub report: CheckReport,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Listing {
    pub slug: String,
    pub version: i64,
    pub licence_number: String,
    /// The first day it is owed.
    pub effective_from: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub retired: Vec<String>,
}

/// A collection that may be pulled, accepted and published right now.
#[derive(Debug, Clone)]
pub struct Licensed {
    pub licence_number: String,
    pub version: i64,
    pub def: CollectionDef,
    /// When the licence began: the listing of the earliest version in force since, which a
    /// later version listed in its place keeps (it changes what is asked, not since when).
    pub listed_at: DateTime<Utc>,
    /// The first day it is owed, in the collection's timezone: set by DAP at the listing,
    /// by default the listing day plus the definition's notice. Obligations, pulls, uploads
    /// and completeness run from this day; before it the collection is *coming*.
    pub effective_from: NaiveDate,
    pub expires_at: DateTime<Utc>,
}

impl Licensed {
    /// Whether anything is owed under it on `day`.
    pub fn in_effect_on(&self, day: NaiveDate) -> bool {
        self.effective_from <= day
    }

    /// The first period owed: the first of its kind that begins on or after the effective
    /// date (a monthly collection owed from 15 July is first owed for August).
    pub fn first_period(&self) -> crate::domain::Period {
        let p = crate::domain::Period::containing(self.def.frequency.period, self.effective_from);
        if p.first_day() >= self.effective_from {
            p
        } else {
            p.next()
        }
    }
}

impl Registry {
    /// Runs the creep checks on a definition against the register as it stands at `at`.
    pub async fn check(
        &self,
        def: &CollectionDef,
        at: DateTime<Utc>,
    ) -> anyhow::Result<CheckReport> {
        let rows = self.rows().await?;
        let live: Vec<_> = Registry::live(&rows, at).collect();
        let providers = self.providers().await?;
        let estimates = self.burden(at).await?.collections;
        let budget = self.store.budget().await?;
        let on = self.day(at);
        let cx = checks::Context {
            listed: live
                .iter()
                .map(|(licence, v)| checks::Listed {
                    licence_number: licence.map(String::as_str),
                    def: &v.definition.0,
                })
                .collect(),
            providers: &providers,
            estimates: &estimates,
            budget: budget.as_ref(),
            on,
        };
        Ok(CheckReport {
            slug: def.slug.to_string(),
            findings: checks::run(def, &cx),
            burden: estimate(def, None, &providers, on),
        })
    }

    /// Records a proposal with its findings. Blocked proposals are recorded too, so that DAP
    /// sees them and decides; only a proposal identical to what is in force or pending is refused.
    pub async fn propose(
        &self,
        loaded: &LoadedDef,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Proposal> {
        let by = require_words("the name of who proposes it", by)?;
        let slug = loaded.def.slug.as_str();
        if let Some((version, status)) = self.same_as(&loaded.def, at).await? {
            return Err(RegistryError::Conflict(format!(
                "{slug} version {version} ({status}) is already the same definition; nothing to propose"
            ))
            .into());
        }
        let report = self.check(&loaded.def, at).await?;
        // The file's name only: where it lay on the server is nobody's business.
        let file = loaded
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{slug}.toml"));
        let version = self
            .store
            .add_version(
                &NewVersion {
                    definition: loaded.def.clone(),
                    source_toml: loaded.source.clone(),
                    sha256: hex::encode(Sha256::digest(loaded.source.as_bytes())),
                    source_file: Some(file.clone()),
                    findings: report.findings.clone(),
                },
                &NewDecision {
                    action: Step::Propose,
                    actor: by,
                    reason: format!("proposed from {file}"),
                    at,
                    findings: report.findings.clone(),
                    overrides: Vec::new(),
                },
            )
            .await
            .with_context(|| format!("recording the proposal of {slug}"))?;
        tracing::info!(
            collection = slug,
            version,
            blocked = report.is_blocked(),
            "Recorded a proposal with its check findings."
        );
        Ok(Proposal {
            slug: slug.into(),
            version,
            report,
        })
    }

    /// Proposes the definition in force again, for a new term: the checks run against today's
    /// register, and DAP lists or rejects it like any proposal. Open from `RENEWAL_DAYS`
    /// before the licence runs out, and after it has.
    pub async fn renew(&self, slug: &str, by: &str, at: DateTime<Utc>) -> anyhow::Result<Proposal> {
        let versions = self.store.versions(slug).await?;
        if versions.is_empty() {
            return Err(RegistryError::NotFound(slug.into()).into());
        }
        let Some(v) = versions
            .iter()
            .rev()
            .find(|v| v.status == CollectionStatus::Listed)
        else {
            return Err(
                RegistryError::Conflict(format!("{slug} has no listed version to renew")).into(),
            );
        };
        if let Some(e) = v.expires_at
            && e > at + Duration::days(RENEWAL_DAYS)
        {
            return Err(RegistryError::Conflict(format!(
                "{slug}'s licence runs until {}; it can be renewed from {RENEWAL_DAYS} days before then",
                e.format("%-d %B %Y")
            ))
            .into());
        }
        let loaded = LoadedDef {
            def: v.definition.0.clone(),
            path: format!("{slug}.toml (renewal of version {})", v.version).into(),
            source: v.source_toml.clone(),
        };
        self.propose(&loaded, by, at).await
    }

    /// The version in force or awaiting a decision that this definition repeats exactly, as
    /// (version, status). A licence that has run out, or runs out within `RENEWAL_DAYS`, may
    /// be renewed with the same definition.
    pub async fn same_as(
        &self,
        def: &CollectionDef,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Option<(i64, CollectionStatus)>> {
        Ok(self
            .store
            .versions(def.slug.as_str())
            .await?
            .into_iter()
            .find(|v| {
                let in_force = v.status == CollectionStatus::Listed
                    && v.expires_at
                        .is_none_or(|e| e > at + Duration::days(RENEWAL_DAYS));
                (in_force || v.status == CollectionStatus::Proposed) && v.definition.0 == *def
            })
            .map(|v| (v.version, v.status)))
    }

    async fn pending(&self, slug: &str) -> anyhow::Result<VersionRow> {
        let Some(row) = self.store.collection(slug).await? else {
            return Err(RegistryError::NotFound(slug.into()).into());
        };
        let state = match &row.licence_number {
            Some(n)
                if !matches!(
                    row.status,
                    CollectionStatus::Proposed | CollectionStatus::Rejected
                ) =>
            {
                format!("it is {} as {n}", row.status)
            }
            _ => format!("it is {}", row.status),
        };
        self.store
            .versions(slug)
            .await?
            .into_iter()
            .rev()
            .find(|v| v.status == CollectionStatus::Proposed)
            .ok_or_else(|| {
                RegistryError::Conflict(format!(
                    "{slug} has no proposal awaiting a decision ({state})"
                ))
                .into()
            })
    }

    /// Lists the pending version of a collection, owed from the default effective date
    /// (see [`Registry::approve_from`]).
    pub async fn approve(
        &self,
        slug: &str,
        by: &str,
        reason: &str,
        overrides: Vec<Override>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Listing> {
        self.approve_from(slug, by, reason, overrides, None, at)
            .await
    }

    /// Lists the pending version of a collection. The checks run again now; each blocking
    /// finding must be overridden with a written reason, and the decision log keeps both.
    ///
    /// A new licence is owed from `effective_from`, by default the listing day plus the
    /// definition's `notice_days`; an earlier day is a blocking `notice` finding, listed only
    /// with an override. A new version of a licence in force keeps the day it is owed from.
    pub async fn approve_from(
        &self,
        slug: &str,
        by: &str,
        reason: &str,
        overrides: Vec<Override>,
        effective_from: Option<NaiveDate>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Listing> {
        let by = require_words("the name of the DAP member deciding", by)?;
        let reason = require_words("a reason", reason)?;
        for o in &overrides {
            if require_words("an override's reason", &o.reason).is_err() {
                return Err(RegistryError::Refused(format!(
                    "the override of the {} rule has no reason, or not one in plain words; an override must say why, for the public register",
                    o.rule
                ))
                .into());
            }
        }
        for (i, o) in overrides.iter().enumerate() {
            if overrides[..i].iter().any(|earlier| earlier.rule == o.rule) {
                return Err(RegistryError::Refused(format!(
                    "the {} rule is overridden more than once; give one reason for it",
                    o.rule
                ))
                .into());
            }
        }
        // Another decision may land between the checks and this one; then the register it
        // was checked against is gone, so check again. A few tries is plenty: each retry
        // follows a decision that has already been made.
        for _ in 0..5 {
            match self
                .try_approve(slug, &by, &reason, &overrides, effective_from, at)
                .await
            {
                Err(e) if matches!(e.downcast_ref(), Some(RegistryError::Stale)) => continue,
                other => return other,
            }
        }
        Err(RegistryError::Stale.into())
    }

    async fn try_approve(
        &self,
        slug: &str,
        by: &str,
        reason: &str,
        overrides: &[Override],
        effective_from: Option<NaiveDate>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Listing> {
        let revision = self.store.revision().await?;
        let pending = self.pending(slug).await?;
        let def = pending.definition.0;
        let mut report = self.check(&def, at).await?;
        let versions = self.store.versions(slug).await?;
        let in_force = licence_began(&versions, def.frequency.timezone).map(|(_, from)| from);
        let (effective_from, short) = effective(&def, in_force, effective_from, at)?;
        report.findings.extend(short);
        let unanswered: Vec<&Finding> = report
            .blocking()
            .filter(|f| !overrides.iter().any(|o| o.rule == f.rule))
            .collect();
        if !unanswered.is_empty() {
            let lines: Vec<String> = unanswered
                .iter()
                .map(|f| format!("  {}: {}", f.rule, f.message))
                .collect();
            return Err(RegistryError::Blocked(format!(
                "{slug} is blocked and cannot be listed without an override, a written reason to list it despite each blocking finding; these have none:\n{}",
                lines.join("\n")
            ))
            .into());
        }
        if let Some(o) = overrides
            .iter()
            .find(|o| !report.blocking().any(|f| f.rule == o.rule))
        {
            return Err(RegistryError::Refused(format!(
                "nothing under the {} rule blocks {slug}, so there is nothing to override",
                o.rule
            ))
            .into());
        }
        let rows = self.rows().await?;
        let retire: Vec<(String, NewDecision)> = def
            .retires
            .iter()
            .filter(|r| Registry::live(&rows, at).any(|(_, v)| v.slug == r.as_str()))
            .map(|r| {
                let d = NewDecision {
                    action: Step::Retire,
                    actor: by.to_owned(),
                    reason: format!("replaced by {slug} (one in, one out)"),
                    at,
                    findings: Vec::new(),
                    overrides: Vec::new(),
                };
                (r.to_string(), d)
            })
            .collect();
        let expires_at = at
            .checked_add_months(Months::new(def.licence_term_months))
            .context("licence expiry is out of range")?;
        let licence = self
            .store
            .apply(
                slug,
                &Change::List {
                    version: pending.version,
                    expires_at,
                    effective_from,
                    retire: retire.clone(),
                },
                &NewDecision {
                    action: Step::List,
                    actor: by.to_owned(),
                    reason: reason.to_owned(),
                    at,
                    findings: report.findings,
                    overrides: overrides.to_vec(),
                },
                Some(revision),
            )
            .await?
            .context("listing assigns a licence number")?;
        tracing::info!(collection = slug, licence = %licence, version = pending.version, "Listed the collection.");
        Ok(Listing {
            slug: slug.into(),
            version: pending.version,
            licence_number: licence,
            effective_from,
            expires_at,
            retired: retire.into_iter().map(|(s, _)| s).collect(),
        })
    }

    /// Rejects the pending version; a listed collection stays in force.
    pub async fn reject(
        &self,
        slug: &str,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let by = require_words("the name of the DAP member deciding", by)?;
        let reason = require_words("a reason", reason)?;
        let pending = self.pending(slug).await?;
        let report = self.check(&pending.definition.0, at).await?;
        let d = NewDecision {
            action: Step::Reject,
            actor: by,
            reason,
            at,
            findings: report.findings,
            overrides: Vec::new(),
        };
        self.store
            .apply(
                slug,
                &Change::Reject {
                    version: pending.version,
                },
                &d,
                None,
            )
            .await?;
        Ok(())
    }

    /// Suspends, reinstates or retires a collection.
    pub async fn change(
        &self,
        slug: &str,
        change: StatusChange,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let (action, change) = match change {
            StatusChange::Suspend => (Step::Suspend, Change::Suspend),
            StatusChange::Reinstate => (Step::Reinstate, Change::Reinstate),
            StatusChange::Retire => (Step::Retire, Change::Retire),
        };
        let by = require_words("the name of the DAP member deciding", by)?;
        let reason = require_words("a reason", reason)?;
        let d = NewDecision {
            action,
            actor: by,
            reason,
            at,
            findings: Vec::new(),
            overrides: Vec::new(),
        };
        self.store.apply(slug, &change, &d, None).await?;
        tracing::info!(
            collection = slug,
            action = action.as_str(),
            "Recorded a decision on the collection."
        );
        Ok(())
    }

    /// Every collection that may be pulled at `at`: listed (not suspended) and unexpired.
    pub async fn licensed(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<Licensed>> {
        let rows = self.rows().await?;
        let mut out = Vec::new();
        for (licence, v) in Registry::live(&rows, at) {
            let listed = rows
                .collection(&v.slug)
                .is_some_and(|c| c.status == CollectionStatus::Listed);
            let (Some(licence), Some(expires_at), true) = (licence, v.expires_at, listed) else {
                continue;
            };
            let tz = v.definition.0.frequency.timezone;
            let Some((listed_at, effective_from)) = licence_began(rows.versions(&v.slug), tz)
            else {
                continue;
            };
            out.push(Licensed {
                licence_number: licence.clone(),
                version: v.version,
                listed_at,
                effective_from,
                expires_at,
                def: v.definition.0.clone(),
            });
        }
        Ok(out)
    }

    /// Rule 1. Every part of Tally that pulls, accepts or publishes data asks this first.
    pub async fn require_listed(&self, slug: &str, at: DateTime<Utc>) -> anyhow::Result<Licensed> {
        let not = |why: String| RegistryError::NotLicensed {
            slug: slug.into(),
            why,
        };
        let rows = self.rows().await?;
        let Some(row) = rows.collection(slug) else {
            return Err(not("it is not on the DAP register".into()).into());
        };
        let versions = rows.versions(slug);
        let in_force = versions
            .iter()
            .find(|v| v.status == CollectionStatus::Listed);
        let began =
            in_force.and_then(|v| licence_began(versions, v.definition.0.frequency.timezone));
        match (row.status, in_force, &row.licence_number) {
            (CollectionStatus::Listed, Some(v), Some(licence)) => match v.expires_at {
                Some(e) if e <= at => Err(not(format!(
                    "its licence {licence} expired on {}",
                    e.with_timezone(&self.tz).format("%-d %B %Y")
                ))
                .into()),
                expires => Ok(Licensed {
                    licence_number: licence.clone(),
                    version: v.version,
                    def: v.definition.0.clone(),
                    listed_at: began.context("a listed version has a listing time")?.0,
                    effective_from: began.context("a listed version has a listing time")?.1,
                    expires_at: expires.context("a listed version has an expiry")?,
                }),
            },
            (status, _, _) => Err(not(format!("its status is {status}")).into()),
        }
    }
}
