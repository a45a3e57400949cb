//! What the demo did, for its closing summary, `summary.json`, the tests, and the pages it
//! points to.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{feeds, story, world};
use crate::cli::thousands;
use crate::config::Settings;
use crate::domain::{Period, RunStatus};
use crate::returns::build::Artifact;

/// What the demo did, for its closing summary, `summary.json` and tests.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub from: NaiveDate,
    /// The demo's clock when it stopped: the pages show the world as at this moment.
    pub until: DateTime<Utc>,
    pub trusts: usize,
    pub care_homes: usize,
    /// Providers by how their system reaches Tally.
    pub sources: BTreeMap<String, usize>,
    /// Providers with each habit (late, down some days…).
    pub habits: BTreeMap<String, usize>,
    /// Runs in the ledger by status; uploads by hand among them.
    pub runs: BTreeMap<String, usize>,
    pub uploads: usize,
    /// Artifacts built by return: periods, and versions (more than periods after amendments).
    pub returns: BTreeMap<String, (usize, usize)>,
    /// The latest period of each return: its period, received and expected providers.
    pub completeness: BTreeMap<String, (String, usize, usize)>,
    pub build_failures: Vec<String>,
    /// Notifications recorded to the mail folder, by kind.
    pub mail: BTreeMap<String, usize>,
    pub decisions: story::Decisions,
    pub final_hours: f64,
    /// The estimate now in pounds, where every collection is priced.
    pub final_pounds: Option<f64>,
    /// What moved the estimate since the baseline, by cause.
    pub causes: crate::registry::causes::Attribution,
    /// Versions with figures held for confirmation, and what became of them.
    pub held: Held,
    /// Who signed off the periods pulled from them, and what is unsigned.
    pub signoff: super::signoffs::SignOff,
    /// What the periods owed over the demo cost, as estimated and as achieved.
    pub achieved: crate::registry::achieved::Achieved,
    pub notes: Vec<String>,
    /// A trust and a care home whose pages have most to show.
    pub showcase: Vec<String>,
}

/// Figures held for their provider's confirmation over the demo.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Held {
    /// Versions with held figures, and the figures held in them.
    pub versions: usize,
    pub figures: i64,
    /// Of those versions: replaced by a later one, confirmed, and still awaiting.
    pub corrected: usize,
    pub confirmed: usize,
    pub awaiting: usize,
}

/// What became of the holds the demo's plausibility checks made.
pub(super) async fn held(store: &dyn crate::store::Store) -> anyhow::Result<Held> {
    use crate::store::holds::HoldFilter;
    let all = store
        .holds(&HoldFilter {
            replaced: true,
            ..HoldFilter::default()
        })
        .await?;
    let current = store.holds(&HoldFilter::default()).await?;
    let awaiting = current.iter().filter(|h| h.awaiting()).count();
    Ok(Held {
        versions: all.len(),
        figures: all.iter().map(|h| h.figures).sum(),
        corrected: all.len() - current.len(),
        confirmed: current.len() - awaiting,
        awaiting,
    })
}

/// Per return: (periods built, versions in all).
type Built = BTreeMap<String, (usize, usize)>;
/// Per return: its latest period's (period, providers in, providers expected).
type Latest = BTreeMap<String, (String, usize, usize)>;

/// For each return: how much was built, and the latest period's completeness.
pub(super) fn returns_built(
    settings: &Settings,
    catalogue: &crate::returns::Catalogue,
) -> anyhow::Result<(Built, Latest)> {
    let mut returns = BTreeMap::new();
    let mut completeness = BTreeMap::new();
    for def in catalogue.returns.values() {
        let built = crate::returns::build::built(&settings.returns_dir(), &def.name);
        let versions = built.iter().map(|(_, v)| v.len()).sum();
        returns.insert(def.name.clone(), (built.len(), versions));
        if let Some((period, _)) = built.iter().max_by_key(|(p, _)| p.first_day()) {
            completeness.insert(
                def.name.clone(),
                latest_completeness(settings, &def.name, period)?,
            );
        }
    }
    Ok((returns, completeness))
}

/// A trust and a care home whose pages have most to show: the open ones whose recent runs
/// had the most happen to them (late, failed, rejected, uploaded by hand).
pub(super) fn showcase(
    world: &world::World,
    runs: &[crate::store::runs::RunRow],
    until: DateTime<Utc>,
) -> Vec<String> {
    let mut score: BTreeMap<&str, u32> = BTreeMap::new();
    for r in runs {
        let days = if r.collection == feeds::HOMES { 45 } else { 10 };
        if r.started_at < until - chrono::Duration::days(days) {
            continue;
        }
        let by_hand = r.uploaded();
        let points = match r.status {
            _ if by_hand => 3,
            RunStatus::Late | RunStatus::Failed | RunStatus::Rejected => 1,
            _ => 0,
        };
        *score.entry(r.provider.as_str()).or_default() += points;
    }
    let best = |codes: &mut dyn Iterator<Item = &str>| {
        codes
            .filter(|c| world.provider(c).closed_on.is_none())
            .max_by_key(|c| (score.get(c).copied().unwrap_or(0), std::cmp::Reverse(*c)))
            .map(str::to_owned)
    };
    let trust = best(&mut world.trusts.iter().map(|t| t.code.as_str()));
    let home = best(&mut world.homes.iter().map(|h| h.code.as_str()));
    trust.into_iter().chain(home).collect()
}

fn latest_completeness(
    settings: &Settings,
    name: &str,
    period: &Period,
) -> anyhow::Result<(String, usize, usize)> {
    let a = Artifact::latest(&settings.returns_dir(), name, period)?
        .with_context(|| format!("{name} {period} was built but cannot be read"))?;
    let c = &a.manifest.completeness;
    let received = c.inputs.iter().map(|i| i.received).sum();
    let expected = c.inputs.iter().map(|i| i.expected).sum();
    Ok((period.to_string(), received, expected))
}

pub(super) fn print_summary(s: &Summary, out: &Path) {
    let d = &s.decisions;
    println!("\n== Summary");
    println!(
        "{} trusts and {} care homes, played from {} to {} (seed {}).",
        s.trusts,
        s.care_homes,
        s.from,
        s.until.format("%Y-%m-%d %H:%M UTC"),
        s.seed
    );
    let count = |k: RunStatus| s.runs.get(k.as_str()).copied().unwrap_or(0);
    println!(
        "Runs: {} landed, {} late, {} amended, {} rejected, {} failed and retried, {} refused; {} of them uploads by hand.",
        thousands(count(RunStatus::Landed) as f64),
        thousands(count(RunStatus::Late) as f64),
        thousands(count(RunStatus::Amended) as f64),
        thousands(count(RunStatus::Rejected) as f64),
        thousands(count(RunStatus::Failed) as f64),
        thousands(count(RunStatus::Refused) as f64),
        thousands(s.uploads as f64),
    );
    for (name, (periods, versions)) in &s.returns {
        let c = s.completeness.get(name);
        println!(
            "Return {name}: {periods} period{} built ({versions} version{}){}.",
            if *periods == 1 { "" } else { "s" },
            if *versions == 1 { "" } else { "s" },
            c.map_or(String::new(), |(p, r, e)| format!(
                "; latest {p}: {r} of {e} providers sent everything they owed for it"
            ))
        );
    }
    for f in &s.build_failures {
        println!("Build failed: {f}");
    }
    println!(
        "Estimated burden: {} staff hours a year at the baseline, {} now{} ({:.0}% less); DAP's goal is {} by {}.",
        thousands(d.baseline_hours),
        thousands(s.final_hours),
        s.final_pounds
            .map(|p| format!(" ({})", crate::registry::burden::pounds(p)))
            .unwrap_or_default(),
        100.0 * (1.0 - s.final_hours / d.baseline_hours),
        thousands(d.goal_hours),
        d.target_date.map(|t| t.to_string()).unwrap_or_default(),
    );
    let c = &s.causes;
    let signed = |h: f64| format!("{}{} h", if h > 0.0 { "+" } else { "" }, thousands(h));
    println!(
        "What moved it from {} h at the end of {} (with what was listed that day): programme change {}, adjustment {}, automation {} ({} changes; /progress shows each).",
        thousands(c.start_hours),
        c.from,
        signed(c.programme_change_hours),
        signed(c.adjustment_hours),
        signed(c.automation_hours),
        c.changes.len()
    );
    let a = &s.achieved;
    let count = |f: fn(&crate::registry::achieved::CollectionAchieved) -> u32| -> u32 {
        a.collections.iter().map(f).sum()
    };
    println!(
        "Burden of the periods owed from {} to {}: estimated {} staff hours{}, achieved {}{} ({:+.0}%): {} pulled (a sign-off each), {} uploaded by hand, {} forms, {} fixes after a rejection, {} corrections, {} nil returns, {} never sent.",
        a.from,
        a.to - chrono::Duration::days(1),
        crate::registry::burden::hours(a.estimated_hours),
        in_pounds(a.estimated_pounds),
        crate::registry::burden::hours(a.achieved_hours),
        in_pounds(a.achieved_pounds),
        if a.estimated_hours > 0.0 {
            100.0 * (a.achieved_hours / a.estimated_hours - 1.0)
        } else {
            0.0
        },
        thousands(f64::from(count(|c| c.pulled))),
        thousands(f64::from(count(|c| c.uploaded))),
        thousands(f64::from(count(|c| c.forms))),
        thousands(f64::from(count(|c| c.fixes))),
        thousands(f64::from(count(|c| c.corrections))),
        thousands(f64::from(count(|c| c.nil_returns))),
        thousands(f64::from(count(|c| c.never_sent))),
    );
    if let Some(source) = &a.rates_source {
        println!("Priced at: {source}.");
    }
    println!("Listed: {}.", d.listed.join(", "));
    println!("Retired as derivable: {}.", d.retired.join(", "));
    for (slug, rules, _) in &d.refused {
        println!(
            "Refused {slug}: blocked by the {} rule{}.",
            rules.join(" and "),
            if rules.len() == 1 { "" } else { "s" }
        );
    }
    let h = &s.held;
    if h.versions > 0 {
        println!(
            "Held for confirmation: {} figure{} in {} extract{}, far from the provider's own recent figures; {} replaced by a correction, {} confirmed, {} still awaiting. Returns built meanwhile marked what rested on them provisional.",
            h.figures,
            if h.figures == 1 { "" } else { "s" },
            h.versions,
            if h.versions == 1 { "" } else { "s" },
            h.corrected,
            h.confirmed,
            h.awaiting
        );
    }
    let so = &s.signoff;
    println!(
        "Sign-off of pulled periods: {} standing sign-offs in force; {} providers sign each period off on their page ({} signed); {} pulled period{} from {} provider{} not signed off (each return names those past their deadline as unsigned in its completeness).",
        so.standing,
        so.each,
        so.signed,
        so.unsigned,
        if so.unsigned == 1 { "" } else { "s" },
        so.unsigned_providers,
        if so.unsigned_providers == 1 { "" } else { "s" },
    );
    let mail = |k: &str| s.mail.get(k).copied().unwrap_or(0);
    println!(
        "Mail recorded to {}: {} notices of a new collection, {} reminders, {} overdue notices, {} rejections with their reports, {} asking to confirm held figures.",
        out.join("mail").display(),
        mail("notice"),
        mail("reminder"),
        mail("overdue"),
        mail("rejected"),
        mail("held")
    );
    for c in &d.coming {
        println!(
            "Coming: {} ({}), owed from {}: of the {} trusts that will owe it, {} passed a dry run, {} tried a file that would not land, {} not tried yet.",
            c.slug,
            c.licence,
            c.owed_from.format("%-d %B %Y"),
            c.providers,
            c.passed,
            c.failed,
            c.providers.saturating_sub(c.passed + c.failed)
        );
    }
    println!(
        "Everything is in {}; summary.json has these figures.",
        out.display()
    );
}

/// ` (£1,234)`, or nothing when there is no rate to price at.
fn in_pounds(p: Option<f64>) -> String {
    p.map(|p| format!(" ({})", crate::registry::burden::pounds(p)))
        .unwrap_or_default()
}
