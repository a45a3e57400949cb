//! The register's side of the story, each decision made at its moment on the demo's clock
//! through the same registry calls as the CLI and the web: the manual forms as the baseline,
//! the automated collections listed, the manual forms retired as derivable, creep refused.

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::cli::thousands;
use crate::domain::finding::{Finding, Rule, Severity};
use crate::registry::Registry;
use crate::registry::governance::StatusChange;
use crate::registry::load::{self, LoadedDef as Loaded};
use crate::registry::views::BudgetChange;

pub const DAP: &str = "Data Alliance Partnership board";

/// The manual forms in force before Tally.
pub const MANUAL: [&str; 2] = ["uec-sitrep-manual", "kh03-manual"];
/// The automated collections DAP lists.
pub const AUTOMATED: [&str; 2] = ["ward-bed-census", "care-home-capacity"];

pub struct Story<'a> {
    pub registry: &'a Registry,
    pub collections: std::path::PathBuf,
    pub timezone: chrono_tz::Tz,
    /// What the story says as it goes, for the closing summary.
    pub notes: Vec<String>,
}

/// What the register looked like before and after.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Decisions {
    pub baseline_hours: f64,
    pub cap_hours: f64,
    pub goal_hours: f64,
    pub target_date: Option<NaiveDate>,
    pub listed: Vec<String>,
    pub retired: Vec<String>,
    /// (slug, the rules that blocked it, the reasons) for each proposal DAP refused.
    pub refused: Vec<(String, Vec<String>, String)>,
    /// Collections listed with notice that are still to come into effect.
    pub coming: Vec<Coming>,
}

/// A coming collection, for the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Coming {
    pub slug: String,
    pub licence: String,
    pub owed_from: chrono::NaiveDate,
    /// Providers that will owe it.
    pub providers: usize,
    /// Providers with a dry run that passed.
    pub passed: usize,
    /// Providers that tried and have not passed yet.
    pub failed: usize,
}

impl Story<'_> {
    pub(super) fn load(&self, slug: &str) -> anyhow::Result<Loaded> {
        let path = [
            self.collections.join(format!("{slug}.toml")),
            self.collections.join(format!("proposals/{slug}.toml")),
        ]
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("no definition for {slug}"))?;
        load::load_file(&path, self.timezone).map_err(anyhow::Error::new)
    }

    /// DAP licenses the national returns: each query in the queries folder, proposed as the
    /// service reads it, is listed, and from then on the scheduled builder builds it.
    pub async fn license_returns(
        &mut self,
        catalogue: &crate::returns::Catalogue,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        use crate::returns::licence::{decide, licences, register};
        register(self.registry, catalogue, at).await?;
        for (name, pending) in licences(self.registry).await?.pending {
            let version = pending.version;
            let title = catalogue.get(&name)?.title.clone();
            let licence = decide(
                self.registry,
                &name,
                version,
                true,
                DAP,
                "Built by query from the automated collections, instead of a form.",
                at,
            )
            .await?
            .context("listing gives a licence number")?;
            self.say(
                at,
                format!("{title} licensed as {licence} (a query, not a form)."),
            );
        }
        Ok(())
    }

    pub(super) fn say(&mut self, at: DateTime<Utc>, what: String) {
        let local = at.with_timezone(&self.timezone).format("%a %e %b %Y %H:%M");
        self.notes.push(format!("{local}  {what}"));
    }

    /// The manual SitRep and KH03 as they stood before Tally, and DAP's budget.
    pub async fn baseline(&mut self, at: DateTime<Utc>, d: &mut Decisions) -> anyhow::Result<()> {
        for slug in MANUAL {
            let def = self.load(slug)?;
            self.registry.propose(&def, DAP, at).await?;
            // Providers already send these forms: they are owed from today, which needs
            // DAP's written reason for giving no notice.
            let today = at.with_timezone(&self.timezone).date_naive();
            let l = self
                .registry
                .approve_from(
                    slug,
                    DAP,
                    "In force before Tally; recorded as the baseline.",
                    vec![crate::domain::finding::Override {
                        rule: Rule::Notice,
                        reason: "Providers already send this form; nothing new is asked of them."
                            .into(),
                    }],
                    Some(today),
                    at,
                )
                .await?;
            self.say(
                at,
                format!(
                    "{} listed as {} (manual form, the baseline).",
                    l.slug, l.licence_number
                ),
            );
        }
        let baseline = self.registry.burden(at).await?.total_hours;
        // DAP allows for the automated collections running beside the forms they replace
        // until the returns built from them are trusted; nothing else fits under the cap.
        let mut transition = 0.0;
        for slug in AUTOMATED {
            transition += self
                .registry
                .check(&self.load(slug)?.def, at)
                .await?
                .burden
                .annual_hours;
        }
        // To the next 10 hours: any more slack and a small demo world's budget-breaking
        // proposal could fit under it.
        let cap = ((baseline + transition) / 10.0).ceil() * 10.0;
        let goal = (baseline * 0.5).round();
        let today = at.with_timezone(&self.timezone).date_naive();
        let target = NaiveDate::from_ymd_opt(today.year() + 2, 3, 31).context("target date")?;
        self.registry
            .set_budget(
                BudgetChange {
                    cap_hours: Some(cap),
                    baseline_hours: Some(baseline),
                    baseline_date: Some(today),
                    goal_hours: Some(goal),
                    target_date: Some(target),
                },
                DAP,
                "Cap total burden at the baseline plus the automated collections that replace it, while both run; halve it by the target date.",
                at,
            )
            .await?;
        self.say(
            at,
            format!(
                "Baseline {} h a year; cap {} h while the automated collections run beside the forms; goal {} h by {target}.",
                thousands(baseline),
                thousands(cap),
                thousands(goal)
            ),
        );
        d.baseline_hours = baseline;
        d.cap_hours = cap;
        d.goal_hours = goal;
        d.target_date = Some(target);
        Ok(())
    }

    /// NHS England proposes the automated collections and DAP lists them, owed from
    /// `owed_from`: providers get the notice their definitions promise.
    pub async fn list_automated(
        &mut self,
        at: DateTime<Utc>,
        owed_from: NaiveDate,
        d: &mut Decisions,
    ) -> anyhow::Result<()> {
        for slug in AUTOMATED {
            let def = self.load(slug)?;
            let p = self
                .registry
                .propose(&def, "NHS England data services", at)
                .await?;
            for f in p
                .report
                .findings
                .iter()
                .filter(|f| f.severity != Severity::Pass)
            {
                self.say(at, format!("{} {}: {}", p.slug, f.rule, f.message));
            }
            let l = self
                .registry
                .approve_from(
                    &p.slug,
                    DAP,
                    "Pulled automatically from source systems; replaces manual forms.",
                    Vec::new(),
                    Some(owed_from),
                    at,
                )
                .await?;
            self.say(
                at,
                format!(
                    "{} listed as {}, with notice: pulled from source systems for periods from {}.",
                    l.slug,
                    l.licence_number,
                    l.effective_from.format("%-d %B %Y")
                ),
            );
            d.listed.push(l.slug);
        }
        Ok(())
    }

    /// The manual form is checked again; every figure on it is derivable, so DAP retires it.
    pub async fn retire(
        &mut self,
        slug: &str,
        at: DateTime<Utc>,
        d: &mut Decisions,
    ) -> anyhow::Result<()> {
        let def = self.load(slug)?;
        let report = self.registry.check(&def.def, at).await?;
        let derivable = |f: &&Finding| f.rule == Rule::Derivable && f.is_blocking();
        let Some(finding) = report.findings.iter().find(derivable) else {
            bail!("{slug} should be derivable from the census");
        };
        let message = finding.message.clone();
        self.registry
            .change(
                slug,
                StatusChange::Retire,
                DAP,
                &format!("Derivable: {message}"),
                at,
            )
            .await?;
        self.say(at, format!("{slug} retired: {message}"));
        d.retired.push(slug.to_owned());
        Ok(())
    }

    /// A proposal that the creep checks block, refused by DAP with the findings as reasons.
    pub async fn refuse(
        &mut self,
        slug: &str,
        at: DateTime<Utc>,
        d: &mut Decisions,
    ) -> anyhow::Result<()> {
        let def = self.load(slug)?;
        let p = self.registry.propose(&def, "A sponsor", at).await?;
        let blocking: Vec<_> = p.report.blocking().collect();
        if blocking.is_empty() {
            bail!("{slug} should have been blocked");
        }
        let why: Vec<String> = blocking
            .iter()
            .map(|f| format!("[{}] {}", f.rule, f.message))
            .collect();
        self.registry.reject(slug, DAP, &why.join(" "), at).await?;
        self.say(
            at,
            format!("{slug} proposed and refused: {}", why.join(" ")),
        );
        d.refused.push((
            slug.to_owned(),
            blocking.iter().map(|f| f.rule.to_string()).collect(),
            why.join(" "),
        ));
        Ok(())
    }
}
