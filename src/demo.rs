//! `tally demo`: the register's part of Tally's story, played on a fresh embedded registry
//! over a deterministic synthetic England. The manual SitRep and KH03 are the baseline; DAP
//! lists the automated census and care-home collections, retires the manual forms as
//! derivable, and refuses a duplicate and a budget-breaking proposal. Every step goes
//! through the same registry calls as the CLI.

mod world;

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate, Utc};

use crate::cli::{Outcome, thousands};
use crate::config::Settings;
use crate::registry::Registry;
use crate::registry::governance::StatusChange;
use crate::registry::load;
use crate::registry::views::BudgetChange;
use crate::store;

/// The definitions the demo uses, embedded so that it runs from any folder.
const DEFINITIONS: [(&str, &str); 6] = [
    (
        "uec-sitrep-manual.toml",
        include_str!("../collections/uec-sitrep-manual.toml"),
    ),
    (
        "kh03-manual.toml",
        include_str!("../collections/kh03-manual.toml"),
    ),
    (
        "ward-bed-census.toml",
        include_str!("../collections/ward-bed-census.toml"),
    ),
    (
        "care-home-capacity.toml",
        include_str!("../collections/care-home-capacity.toml"),
    ),
    (
        "proposals/care-home-beds-return.toml",
        include_str!("../collections/proposals/care-home-beds-return.toml"),
    ),
    (
        "proposals/discharge-readiness-survey.toml",
        include_str!("../collections/proposals/discharge-readiness-survey.toml"),
    ),
];

/// The automated collections DAP lists in the story.
const AUTOMATED: [&str; 2] = ["ward-bed-census.toml", "care-home-capacity.toml"];

/// Marks a folder as the demo's own, so that re-running may replace it and nothing else.
const MARKER: &str = ".tally-demo";

const DAP: &str = "Data Alliance Partnership board";

/// What the demo did, for its closing summary and for tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub providers: usize,
    pub obligations: usize,
    pub baseline_hours: f64,
    pub final_hours: f64,
    pub listed: Vec<String>,
    pub retired: Vec<String>,
    /// (slug, the rules that blocked it) for each proposal DAP refused.
    pub refused: Vec<(String, Vec<String>)>,
}

fn prepare(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let empty = out.read_dir()?.next().is_none();
        if !empty && !out.join(MARKER).exists() {
            bail!(
                "{} already exists and was not made by `tally demo`; choose another folder with --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out)
            .with_context(|| format!("cannot clear the earlier demo in {}", out.display()))?;
    }
    std::fs::create_dir_all(out.join("collections/proposals"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join(MARKER), "made by tally demo; safe to delete\n")?;
    for (name, text) in DEFINITIONS {
        std::fs::write(out.join("collections").join(name), text)?;
    }
    Ok(())
}

fn step(n: u32, text: &str) {
    println!("\n== {n}. {text}");
}

pub async fn run(
    settings: &Settings,
    out: &Path,
    care_homes: u32,
    seed: u64,
) -> anyhow::Result<Outcome> {
    let summary = play(settings, out, care_homes, seed).await?;
    println!("\n== Summary");
    println!(
        "{} providers, {} obligations to listed collections.",
        summary.providers, summary.obligations
    );
    println!(
        "Estimated burden: {} staff hours a year at the baseline, {} now ({:.0}% less).",
        thousands(summary.baseline_hours),
        thousands(summary.final_hours),
        100.0 * (1.0 - summary.final_hours / summary.baseline_hours)
    );
    println!("Listed: {}.", summary.listed.join(", "));
    println!("Retired as derivable: {}.", summary.retired.join(", "));
    for (slug, rules) in &summary.refused {
        println!(
            "Refused {slug}: blocked by the {} rule{}.",
            rules.join(" and "),
            if rules.len() == 1 { "" } else { "s" }
        );
    }
    println!(
        "\nThe demo's register is in {}. Look around with, for example:\n  TALLY_DATA_DIR={} tally register\n  TALLY_DATA_DIR={} tally collections show uec-sitrep-manual\n  TALLY_DATA_DIR={} tally burden",
        out.display(),
        out.display(),
        out.display(),
        out.display()
    );
    Ok(Outcome::Done)
}

/// Plays the story and returns what happened.
pub async fn play(
    settings: &Settings,
    out: &Path,
    care_homes: u32,
    seed: u64,
) -> anyhow::Result<Summary> {
    prepare(out)?;
    let url = format!("sqlite://{}", out.join("tally.db").display());
    let registry = Registry::new(store::connect(&url).await?, settings.timezone);
    let now = Utc::now;
    let def_path = |name: &str| out.join("collections").join(name);
    let load = |name: &str| {
        load::load_file(&def_path(name), settings.timezone).map_err(anyhow::Error::new)
    };

    step(
        1,
        "A synthetic England: trusts and care homes register as providers.",
    );
    let providers = world::providers(seed, care_homes);
    let csv = out.join("providers.csv");
    world::write_csv(&providers, &csv)?;
    let providers = crate::providers::read_csv(&csv).map_err(load::Problems)?;
    registry.store().import_providers(&providers).await?;
    println!(
        "{} providers imported from {}.",
        providers.len(),
        csv.display()
    );

    step(
        2,
        "Before Tally: the manual SitRep and KH03 forms are listed; their burden is the baseline.",
    );
    for name in ["uec-sitrep-manual.toml", "kh03-manual.toml"] {
        let def = load(name)?;
        registry.propose(&def, DAP, now()).await?;
        let l = registry
            .approve(
                def.def.slug.as_str(),
                DAP,
                "In force before Tally; recorded as the baseline.",
                Vec::new(),
                now(),
            )
            .await?;
        println!("{} listed as {}.", l.slug, l.licence_number);
    }
    let baseline = registry.burden(now()).await?.total_hours;
    // DAP allows for the automated collections running beside the forms they replace until
    // the returns built from them are trusted; nothing else fits under the cap.
    let mut transition = 0.0;
    for name in AUTOMATED {
        transition += registry
            .check(&load(name)?.def, now())
            .await?
            .burden
            .annual_hours;
    }
    let cap = ((baseline + transition) / 100.0).ceil() * 100.0;
    let goal = (baseline * 0.5).round();
    let today = now().with_timezone(&settings.timezone).date_naive();
    let target = NaiveDate::from_ymd_opt(today.year() + 2, 3, 31).context("target date")?;
    registry
        .set_budget(
            BudgetChange {
                cap_hours: Some(cap),
                goal_hours: Some(goal),
                target_date: Some(target),
                ..BudgetChange::default()
            },
            DAP,
            "Cap total burden at the baseline plus the automated collections that replace it, while both run; halve it by the target date.",
            now(),
        )
        .await?;
    println!(
        "Baseline {} h a year; DAP caps the register at {} h (baseline plus {} h for the automated collections during the move) and aims for {} h by {target}.",
        thousands(baseline),
        thousands(cap),
        thousands(transition),
        thousands(goal)
    );

    step(
        3,
        "DAP lists the automated ward bed census and care-home capacity collections.",
    );
    let mut listed = Vec::new();
    for name in AUTOMATED {
        let def = load(name)?;
        let p = registry
            .propose(&def, "NHS England data services", now())
            .await?;
        for f in p
            .report
            .findings
            .iter()
            .filter(|f| !matches!(f.severity, crate::registry::checks::Severity::Pass))
        {
            println!("  {} {}: {}", p.slug, f.rule, f.message);
        }
        let l = registry
            .approve(
                &p.slug,
                DAP,
                "Pulled automatically from source systems; replaces manual forms.",
                Vec::new(),
                now(),
            )
            .await?;
        println!("{} listed as {}.", l.slug, l.licence_number);
        listed.push(l.slug);
    }

    step(
        4,
        "The manual forms are checked again: every figure is derivable from the census, so DAP retires them.",
    );
    let mut retired = Vec::new();
    for name in ["uec-sitrep-manual.toml", "kh03-manual.toml"] {
        let def = load(name)?;
        let report = registry.check(&def.def, now()).await?;
        let derivable = |f: &&crate::registry::checks::Finding| {
            f.rule == crate::registry::checks::Rule::Derivable && f.is_blocking()
        };
        let Some(finding) = report.findings.iter().find(derivable) else {
            bail!("{} should be derivable from the census", report.slug);
        };
        println!("  {}: {}", report.slug, finding.message);
        registry
            .change(
                &report.slug,
                StatusChange::Retire,
                DAP,
                &format!("Derivable: {}", finding.message),
                now(),
            )
            .await?;
        println!("{} retired.", report.slug);
        retired.push(report.slug);
    }

    step(
        5,
        "Creep is refused: a copy of care-home capacity, and a new daily form that breaks the budget.",
    );
    let mut refused = Vec::new();
    for name in [
        "proposals/care-home-beds-return.toml",
        "proposals/discharge-readiness-survey.toml",
    ] {
        let def = load(name)?;
        let p = registry.propose(&def, "A sponsor", now()).await?;
        let blocking: Vec<_> = p.report.blocking().collect();
        if blocking.is_empty() {
            bail!("{} should have been blocked", p.slug);
        }
        let why: Vec<String> = blocking
            .iter()
            .map(|f| format!("[{}] {}", f.rule, f.message))
            .collect();
        for w in &why {
            println!("  {}: {w}", p.slug);
        }
        registry.reject(&p.slug, DAP, &why.join(" "), now()).await?;
        println!("{} rejected.", p.slug);
        refused.push((
            p.slug,
            blocking.iter().map(|f| f.rule.to_string()).collect(),
        ));
    }

    step(6, "The burden falls.");
    let report = registry.burden(now()).await?;
    crate::cli::print_burden(&report);
    Ok(Summary {
        providers: providers.len(),
        obligations: registry.obligations(now()).await?.len(),
        baseline_hours: baseline,
        final_hours: report.total_hours,
        listed,
        retired,
        refused,
    })
}
