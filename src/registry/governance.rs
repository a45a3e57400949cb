//! DAP's workflow: propose, check, list, reject, suspend, reinstate, retire; the decision log
//! that records each step with the findings at that moment; and `require_listed`, which every
//! other part of Tally calls before it pulls, accepts or publishes anything.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RegistryError;
use super::burden::{Budget, BurdenReport, CollectionBurden, estimate};
use super::checks::{self, Finding, Rule};
use super::definition::CollectionDef;
use super::load::LoadedDef;
use crate::providers::Provider;
use crate::store::{
    Change, CollectionRow, DecisionRow, NewDecision, NewVersion, Store, VersionRow,
};

/// DAP's written reason for listing despite a blocking finding. Overrides are public.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub rule: Rule,
    pub reason: String,
}

impl Override {
    /// Reads `rule=reason`, as the CLI takes it.
    pub fn parse(s: &str) -> Result<Override, String> {
        let (rule, reason) = s.split_once('=').unwrap_or((s, ""));
        let rule = Rule::parse(rule.trim()).ok_or_else(|| {
            let rules: Vec<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            format!(
                "\"{}\" is not a rule (expected one of: {})",
                rule.trim(),
                rules.join(", ")
            )
        })?;
        Ok(Override {
            rule,
            reason: reason.trim().to_owned(),
        })
    }
}

/// The outcome of running the checks on one definition.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub slug: String,
    pub version: i64,
    pub report: CheckReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub slug: String,
    pub version: i64,
    pub licence_number: String,
    pub expires_at: DateTime<Utc>,
    pub retired: Vec<String>,
}

/// A collection that may be pulled, accepted and published right now.
#[derive(Debug, Clone)]
pub struct Licensed {
    pub licence_number: String,
    pub version: i64,
    pub def: CollectionDef,
    pub expires_at: DateTime<Utc>,
}

/// Everything the register holds about one collection.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionView {
    pub collection: CollectionRow,
    /// `listed`, `suspended`, … or `expired` for a listed collection past its licence.
    pub status: String,
    pub versions: Vec<VersionSummary>,
    pub decisions: Vec<DecisionRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionSummary {
    pub version: i64,
    pub status: String,
    pub sha256: String,
    pub source_file: Option<String>,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub listed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub definition: CollectionDef,
}

/// One line of the public register.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterEntry {
    pub slug: String,
    pub licence_number: Option<String>,
    pub status: String,
    pub title: String,
    pub sponsor: String,
    pub legal_basis: String,
    pub frequency: String,
    pub capture: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub annual_hours: Option<f64>,
    /// Why it was retired or rejected, where it was.
    pub reason: Option<String>,
    pub overrides: Vec<Override>,
}

/// One thing a provider owes: a listed collection that applies to its kind while it is open.
#[derive(Debug, Clone, Serialize)]
pub struct Obligation {
    pub provider: String,
    pub provider_name: String,
    pub collection: String,
    pub licence_number: String,
    pub frequency: String,
}

pub struct Registry {
    store: Arc<dyn Store>,
    tz: chrono_tz::Tz,
}

fn require_words(what: &str, value: &str) -> Result<String, RegistryError> {
    let v = value.trim();
    if v.is_empty() {
        Err(RegistryError::Refused(format!(
            "{what} is required and must not be empty"
        )))
    } else {
        Ok(v.to_owned())
    }
}

fn status_at(row: &CollectionRow, in_force: Option<&VersionRow>, at: DateTime<Utc>) -> String {
    match in_force.and_then(|v| v.expires_at) {
        Some(expiry) if row.status == "listed" && expiry <= at => "expired".into(),
        _ => row.status.clone(),
    }
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, tz: chrono_tz::Tz) -> Registry {
        Registry { store, tz }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The versions in force whose licences have not expired at `at`, with licence numbers.
    async fn live(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<(Option<String>, VersionRow)>> {
        let rows = self.store.collections().await?;
        Ok(self
            .store
            .in_force()
            .await?
            .into_iter()
            .filter(|v| v.expires_at.is_none_or(|e| e > at))
            .map(|v| {
                let licence = rows
                    .iter()
                    .find(|c| c.slug == v.slug)
                    .and_then(|c| c.licence_number.clone());
                (licence, v)
            })
            .collect())
    }

    /// Runs the creep checks on a definition against the register as it stands at `at`.
    pub async fn check(
        &self,
        def: &CollectionDef,
        at: DateTime<Utc>,
    ) -> anyhow::Result<CheckReport> {
        let live = self.live(at).await?;
        let providers = self.store.providers().await?;
        let budget = self.store.budget().await?;
        let on = self.day(at);
        let cx = checks::Context {
            listed: live
                .iter()
                .map(|(licence, v)| checks::Listed {
                    licence_number: licence.as_deref(),
                    def: &v.definition.0,
                })
                .collect(),
            providers: &providers,
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
        let by = require_words("the name of who proposes it (--by)", by)?;
        let slug = loaded.def.slug.as_str();
        for v in self.store.versions(slug).await? {
            if (v.status == "listed" || v.status == "proposed") && v.definition.0 == loaded.def {
                return Err(RegistryError::Conflict(format!(
                    "{slug} version {} ({}) is already the same definition; nothing to propose",
                    v.version, v.status
                ))
                .into());
            }
        }
        let report = self.check(&loaded.def, at).await?;
        let version = self
            .store
            .add_version(
                &NewVersion {
                    definition: loaded.def.clone(),
                    source_toml: loaded.source.clone(),
                    sha256: hex::encode(Sha256::digest(loaded.source.as_bytes())),
                    source_file: Some(loaded.path.display().to_string()),
                    findings: report.findings.clone(),
                },
                &NewDecision {
                    action: "propose",
                    actor: by,
                    reason: format!("proposed from {}", loaded.path.display()),
                    at,
                    findings: report.findings.clone(),
                    overrides: Vec::new(),
                },
            )
            .await
            .with_context(|| format!("recording the proposal of {slug}"))?;
        Ok(Proposal {
            slug: slug.into(),
            version,
            report,
        })
    }

    async fn pending(&self, slug: &str) -> anyhow::Result<VersionRow> {
        if self.store.collection(slug).await?.is_none() {
            return Err(RegistryError::NotFound(slug.into()).into());
        }
        self.store
            .versions(slug)
            .await?
            .into_iter()
            .rev()
            .find(|v| v.status == "proposed")
            .ok_or_else(|| {
                RegistryError::Conflict(format!("{slug} has no proposal awaiting a decision"))
                    .into()
            })
    }

    /// Lists the pending version of a collection. The checks run again now; each blocking
    /// finding must be overridden with a written reason, and the decision log keeps both.
    pub async fn approve(
        &self,
        slug: &str,
        by: &str,
        reason: &str,
        overrides: Vec<Override>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Listing> {
        let by = require_words("the name of the DAP member deciding (--by)", by)?;
        let reason = require_words("a reason (--reason)", reason)?;
        if let Some(o) = overrides.iter().find(|o| o.reason.is_empty()) {
            return Err(RegistryError::Refused(format!(
                "the override of the {} rule has no reason; an override must say why, for the public register",
                o.rule
            ))
            .into());
        }
        let pending = self.pending(slug).await?;
        let def = pending.definition.0;
        let report = self.check(&def, at).await?;
        let unanswered: Vec<&Finding> = report
            .blocking()
            .filter(|f| !overrides.iter().any(|o| o.rule == f.rule))
            .collect();
        if !unanswered.is_empty() {
            let lines: Vec<String> = unanswered
                .iter()
                .map(|f| format!("  {}: {}", f.rule, f.message))
                .collect();
            return Err(RegistryError::Refused(format!(
                "{slug} is blocked and cannot be listed without an override for each blocking finding (--override RULE=\"reason\"):\n{}",
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
        let live = self.live(at).await?;
        let retire: Vec<(String, NewDecision)> = def
            .retires
            .iter()
            .filter(|r| live.iter().any(|(_, v)| &v.slug == r.as_str()))
            .map(|r| {
                let d = NewDecision {
                    action: "retire",
                    actor: by.clone(),
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
                    retire: retire.clone(),
                },
                &NewDecision {
                    action: "list",
                    actor: by,
                    reason,
                    at,
                    findings: report.findings,
                    overrides,
                },
            )
            .await?
            .context("listing assigns a licence number")?;
        Ok(Listing {
            slug: slug.into(),
            version: pending.version,
            licence_number: licence,
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
        let by = require_words("the name of the DAP member deciding (--by)", by)?;
        let reason = require_words("a reason (--reason)", reason)?;
        let pending = self.pending(slug).await?;
        let report = self.check(&pending.definition.0, at).await?;
        let d = NewDecision {
            action: "reject",
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
            )
            .await?;
        Ok(())
    }

    /// Suspends, reinstates or retires a collection.
    pub async fn change(
        &self,
        slug: &str,
        change: Change,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let action = match change {
            Change::Suspend => "suspend",
            Change::Reinstate => "reinstate",
            Change::Retire => "retire",
            Change::List { .. } | Change::Reject { .. } => {
                anyhow::bail!("listing and rejecting go through approve and reject")
            }
        };
        let by = require_words("the name of the DAP member deciding (--by)", by)?;
        let reason = require_words("a reason (--reason)", reason)?;
        let d = NewDecision {
            action,
            actor: by,
            reason,
            at,
            findings: Vec::new(),
            overrides: Vec::new(),
        };
        self.store.apply(slug, &change, &d).await?;
        Ok(())
    }

    /// Rule 1. Every part of Tally that pulls, accepts or publishes data asks this first.
    pub async fn require_listed(&self, slug: &str, at: DateTime<Utc>) -> anyhow::Result<Licensed> {
        let not = |why: String| RegistryError::NotLicensed {
            slug: slug.into(),
            why,
        };
        let Some(row) = self.store.collection(slug).await? else {
            return Err(not("it is not on the DAP register".into()).into());
        };
        let in_force = self
            .store
            .versions(slug)
            .await?
            .into_iter()
            .find(|v| v.status == "listed");
        match (row.status.as_str(), in_force, row.licence_number) {
            ("listed", Some(v), Some(licence)) => match v.expires_at {
                Some(e) if e <= at => Err(not(format!(
                    "its licence {licence} expired on {}",
                    e.with_timezone(&self.tz).format("%-d %B %Y")
                ))
                .into()),
                expires => Ok(Licensed {
                    licence_number: licence,
                    version: v.version,
                    def: v.definition.0,
                    expires_at: expires.context("a listed version has an expiry")?,
                }),
            },
            (status, _, _) => Err(not(format!("its status is {status}")).into()),
        }
    }

    pub async fn show(&self, slug: &str, at: DateTime<Utc>) -> anyhow::Result<CollectionView> {
        let Some(collection) = self.store.collection(slug).await? else {
            return Err(RegistryError::NotFound(slug.into()).into());
        };
        let versions = self.store.versions(slug).await?;
        let status = status_at(
            &collection,
            versions.iter().find(|v| v.status == "listed"),
            at,
        );
        Ok(CollectionView {
            status,
            decisions: self.store.decisions(Some(slug)).await?,
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
                    definition: v.definition.0,
                })
                .collect(),
            collection,
        })
    }

    /// The public register: every collection, its licence and status, with the reasons for
    /// retirements and rejections and every override.
    pub async fn register(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<RegisterEntry>> {
        let providers = self.store.providers().await?;
        let decisions = self.store.decisions(None).await?;
        let on = self.day(at);
        let mut out = Vec::new();
        for c in self.store.collections().await? {
            let versions = self.store.versions(&c.slug).await?;
            let in_force = versions.iter().find(|v| v.status == "listed");
            let Some(shown) = in_force.or(versions.last()) else {
                continue;
            };
            let def = &shown.definition.0;
            let status = status_at(&c, in_force, at);
            let own: Vec<&DecisionRow> = decisions.iter().filter(|d| d.slug == c.slug).collect();
            let why_action = match status.as_str() {
                "retired" => Some("retire"),
                "rejected" => Some("reject"),
                "suspended" => Some("suspend"),
                _ => None,
            };
            let reason = why_action.and_then(|action| {
                own.iter()
                    .rev()
                    .find(|d| d.action == action)
                    .map(|d| d.reason.clone())
            });
            out.push(RegisterEntry {
                slug: c.slug.clone(),
                licence_number: c.licence_number.clone(),
                title: def.title.clone(),
                sponsor: def.sponsor.clone(),
                legal_basis: def.legal_basis.clone(),
                frequency: def.frequency.period.adjective().into(),
                capture: def.capture.as_str().into(),
                expires_at: in_force.and_then(|v| v.expires_at),
                annual_hours: (status == "listed")
                    .then(|| estimate(def, None, &providers, on).annual_hours),
                reason,
                overrides: own.iter().flat_map(|d| d.overrides.0.clone()).collect(),
                status,
            });
        }
        Ok(out)
    }

    /// Estimated burden of every live listed collection, against DAP's budget.
    pub async fn burden(&self, at: DateTime<Utc>) -> anyhow::Result<BurdenReport> {
        let providers = self.store.providers().await?;
        let on = self.day(at);
        let rows = self.store.collections().await?;
        let collections = self
            .live(at)
            .await?
            .iter()
            .filter(|(_, v)| {
                rows.iter()
                    .any(|c| c.slug == v.slug && c.status == "listed")
            })
            .map(|(licence, v)| estimate(&v.definition.0, licence.as_deref(), &providers, on))
            .collect();
        Ok(BurdenReport::new(
            collections,
            self.store.budget().await?,
            on,
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
        let set_by = require_words("the name of the DAP member deciding (--by)", by)?;
        let reason = require_words("a reason (--reason)", reason)?;
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
            if v.is_some_and(|h| !h.is_finite() || h < 0.0) {
                return Err(
                    RegistryError::Refused(format!("the {name} must be 0 hours or more")).into(),
                );
            }
        }
        if b.goal_hours.is_some() != b.target_date.is_some() {
            return Err(RegistryError::Refused(
                "a reduction target needs both a goal (--goal) and a date (--by-date)".into(),
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
        let on = self.day(at);
        let providers: Vec<Provider> = self.store.providers().await?;
        let rows = self.store.collections().await?;
        let mut out = Vec::new();
        for (licence, v) in self.live(at).await? {
            if !rows
                .iter()
                .any(|c| c.slug == v.slug && c.status == "listed")
            {
                continue;
            }
            let def = &v.definition.0;
            for p in providers
                .iter()
                .filter(|p| def.respondents.kinds.contains(&p.kind) && p.is_open_on(on))
            {
                out.push(Obligation {
                    provider: p.code.to_string(),
                    provider_name: p.name.clone(),
                    collection: def.slug.to_string(),
                    licence_number: licence.clone().unwrap_or_default(),
                    frequency: def.frequency.period.adjective().into(),
                });
            }
        }
        out.sort_by(|a, b| (&a.provider, &a.collection).cmp(&(&b.provider, &b.collection)));
        Ok(out)
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
