//! `tally collections …`: check, propose, decide and read collections.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::Utc;

use clap::{Args, Subcommand};

use super::{Json, Outcome, print_json, thousands};
use crate::config::Settings;
use crate::domain::CollectionStatus;
use crate::domain::RegistryError;
use crate::domain::finding::Override;
use crate::domain::finding::Severity;
use crate::registry::burden::hours;
use crate::registry::burden::{Basis, CollectionBurden};
use crate::registry::governance::CheckReport;
use crate::registry::governance::StatusChange;
use crate::registry::load::{self, LoadedDef};

/// `tally collections …`.
#[derive(Subcommand)]
pub enum CollectionsCommand {
    /// Run the creep checks on a definition file (or a folder of them) without proposing it.
    /// Exits 3 when a check blocks it.
    Check {
        /// A definition file, or a folder of them.
        path: PathBuf,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Propose one definition file: it is recorded with its findings for DAP to decide.
    /// Exits 3 when a check blocks it.
    Propose {
        /// The definition file (collections/<slug>.toml).
        file: PathBuf,
        /// Who proposes it.
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List every collection in the register with its licence and status.
    List(Json),
    /// A collection's definition, versions and decision log.
    Show {
        /// The collection's slug.
        slug: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write a collection's template: its items as columns (CSV), or in a workbook with a
    /// sheet that explains each item (XLSX). Of the version in force, or the one proposed.
    Template {
        /// The collection's slug.
        slug: String,
        /// csv or xlsx.
        #[arg(long, default_value = "xlsx")]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// List (license) the proposal awaiting a decision.
    Approve {
        #[command(flatten)]
        decision: Decision,
        /// Override a blocking finding: RULE="written reason". Overrides are public.
        #[arg(long = "override", value_name = "RULE=REASON")]
        overrides: Vec<String>,
        /// The first day it is owed (default: today plus the definition's notice_days). An
        /// earlier day needs --override notice="reason".
        #[arg(long, value_name = "YYYY-MM-DD")]
        effective_from: Option<chrono::NaiveDate>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Reject the proposal awaiting a decision.
    Reject(Decision),
    /// Suspend a listed collection: nothing is pulled until it is reinstated.
    Suspend(Decision),
    /// Reinstate a suspended collection.
    Reinstate(Decision),
    /// Retire a collection for good.
    Retire(Decision),
}

/// Who decides on which collection, and why.
#[derive(Args)]
pub struct Decision {
    /// The collection's slug.
    pub slug: String,
    /// The DAP member deciding.
    #[arg(long, env = "TALLY_ACTOR")]
    pub by: String,
    /// Why, in words that will be published on the register.
    #[arg(long)]
    pub reason: String,
}

/// Runs one `tally collections …` command.
pub async fn run(s: &Settings, command: CollectionsCommand) -> anyhow::Result<Outcome> {
    use CollectionsCommand as C;
    match command {
        C::Check { path, json } => check(s, &path, json).await,
        C::Propose { file, by, json } => propose(s, &file, &by, json).await,
        C::List(j) => list(s, j.json).await,
        C::Show { slug, json } => show(s, &slug, json).await,
        C::Template { slug, format, out } => template(s, &slug, &format, &out).await,
        C::Approve {
            decision: d,
            overrides,
            effective_from,
            json,
        } => approve(s, &d, &overrides, effective_from, json).await,
        C::Reject(d) => reject(s, &d.slug, &d.by, &d.reason).await,
        C::Suspend(d) => change(s, &d.slug, StatusChange::Suspend, &d.by, &d.reason).await,
        C::Reinstate(d) => change(s, &d.slug, StatusChange::Reinstate, &d.by, &d.reason).await,
        C::Retire(d) => change(s, &d.slug, StatusChange::Retire, &d.by, &d.reason).await,
    }
}

fn load(path: &Path, settings: &Settings) -> anyhow::Result<Vec<LoadedDef>> {
    let loaded = if path.is_dir() {
        load::load_dir(path, settings.timezone)?
    } else {
        vec![load::load_file(path, settings.timezone)?]
    };
    Ok(loaded)
}

pub fn burden_line(b: &CollectionBurden) -> String {
    let basis = match b.basis {
        Basis::Registered => "registered",
        Basis::Estimated => "estimated",
    };
    format!(
        "{} ({basis}) × {} a year × {} min ({}) = {} staff hours a year",
        super::plural(u64::from(b.respondents), "respondent"),
        super::plural(b.submissions_per_year as u64, "submission"),
        b.minutes_per_submission,
        b.capture.as_str(),
        hours(b.annual_hours)
    )
}

fn print_report(r: &CheckReport) {
    let blocking = r.blocking().count();
    let verdict = if blocking > 0 {
        format!(
            "BLOCKED by {blocking} finding{}",
            if blocking == 1 { "" } else { "s" }
        )
    } else {
        "may be listed".into()
    };
    println!("{}: {verdict}", r.slug);
    for f in &r.findings {
        let mark = match f.severity {
            Severity::Blocking => "✗ blocking",
            Severity::Warning => "! warning ",
            Severity::Pass => "✓ pass    ",
        };
        println!("  {mark} {:<9} {}", f.rule.as_str(), f.message);
    }
    println!("  burden: {}", burden_line(&r.burden));
    if blocking > 0 {
        println!(
            "  DAP can list it only by overriding each blocking finding with a written reason, which is published on the register."
        );
    }
}

/// `tally collections check <file|folder>`: the checks, without proposing anything.
pub async fn check(settings: &Settings, path: &Path, json: bool) -> anyhow::Result<Outcome> {
    let loaded = load(path, settings)?;
    let registry = super::open(settings).await?;
    let mut reports = Vec::new();
    let mut same = Vec::new();
    for l in &loaded {
        reports.push(registry.check(&l.def, Utc::now()).await?);
        same.push(registry.same_as(&l.def, Utc::now()).await?);
    }
    if json {
        print_json(&reports)?;
    } else {
        for (r, same) in reports.iter().zip(&same) {
            print_report(r);
            if let Some((version, status)) = same {
                println!(
                    "  (This is version {version} as it stands, {status}: there is nothing new to propose.)"
                );
            }
        }
    }
    Ok(if reports.iter().any(CheckReport::is_blocked) {
        Outcome::Blocked
    } else {
        Outcome::Done
    })
}

/// `tally collections propose <file>`: records a proposal with its findings. One file at a
/// time, so that a proposal is recorded whole or not at all.
pub async fn propose(
    settings: &Settings,
    file: &Path,
    by: &str,
    json: bool,
) -> anyhow::Result<Outcome> {
    if file.is_dir() {
        anyhow::bail!(
            "{} is a folder: propose one definition file at a time (`tally collections check` takes a folder)",
            file.display()
        );
    }
    let loaded = load::load_file(file, settings.timezone)?;
    let registry = super::open(settings).await?;
    let p = registry.propose(&loaded, by, Utc::now()).await?;
    if json {
        print_json(&p)?;
    } else {
        println!("Proposed {} as version {}.", p.slug, p.version);
        print_report(&p.report);
    }
    Ok(if p.report.is_blocked() {
        Outcome::Blocked
    } else {
        Outcome::Done
    })
}

pub async fn approve(
    settings: &Settings,
    d: &Decision,
    overrides: &[String],
    effective_from: Option<chrono::NaiveDate>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let (slug, by, reason) = (d.slug.as_str(), d.by.as_str(), d.reason.as_str());
    let overrides = overrides
        .iter()
        .map(|o| Override::parse(o).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = super::open(settings).await?;
    let l = match registry
        .approve_from(slug, by, reason, overrides, effective_from, Utc::now())
        .await
    {
        Ok(l) => l,
        Err(e) if matches!(e.downcast_ref(), Some(RegistryError::Blocked(_))) => {
            eprintln!("Give each reason as --override RULE=\"reason\".");
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if json {
        return print_json(&l).map(|_| Outcome::Done);
    }
    println!(
        "Listed {} version {} as {}: owed from {}; the licence expires on {}.",
        l.slug,
        l.version,
        l.licence_number,
        l.effective_from.format("%-d %B %Y"),
        l.expires_at
            .with_timezone(&settings.timezone)
            .format("%-d %B %Y")
    );
    for r in &l.retired {
        println!("Retired {r}, which {} replaces (one in, one out).", l.slug);
    }
    Ok(Outcome::Done)
}

pub async fn reject(
    settings: &Settings,
    slug: &str,
    by: &str,
    reason: &str,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    registry.reject(slug, by, reason, Utc::now()).await?;
    println!("Rejected the proposal for {slug}.");
    Ok(Outcome::Done)
}

/// Suspend, reinstate or retire.
pub async fn change(
    settings: &Settings,
    slug: &str,
    change: StatusChange,
    by: &str,
    reason: &str,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    let done = match change {
        StatusChange::Suspend => "Suspended",
        StatusChange::Reinstate => "Reinstated",
        _ => "Retired",
    };
    registry
        .change(slug, change, by, reason, Utc::now())
        .await?;
    println!("{done} {slug}.");
    Ok(Outcome::Done)
}

pub async fn list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let entries = registry.register(Utc::now()).await?;
    if json {
        return print_json(&entries).map(|_| Outcome::Done);
    }
    if entries.is_empty() {
        println!(
            "The register is empty. Propose a collection with `tally collections propose <file> --by <name>`."
        );
        return Ok(Outcome::Done);
    }
    println!(
        "{:<8} {:<10} {:<24} title",
        "licence", "status", "collection"
    );
    for e in entries {
        println!(
            "{:<8} {:<10} {:<24} {}",
            e.licence_number.as_deref().unwrap_or("-"),
            e.status,
            e.slug,
            e.title
        );
    }
    Ok(Outcome::Done)
}

/// `tally collections template`: the file a provider fills in, from the register's version.
pub async fn template(
    settings: &Settings,
    slug: &str,
    format: &str,
    out: &Path,
) -> anyhow::Result<Outcome> {
    use crate::landing::template::{TemplateFormat, template};
    let Some(format) = TemplateFormat::parse(format) else {
        anyhow::bail!("--format must be csv or xlsx, not \"{format}\"");
    };
    let registry = super::open_existing(settings).await?;
    let v = registry.show(slug, Utc::now()).await?;
    let def = v
        .shown()
        .map(|x| &x.definition)
        .with_context(|| format!("{slug} has no definition"))?;
    std::fs::write(out, template(def, format)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "Wrote the {} template of {} to {}: {} columns.",
        format.extension(),
        def.title,
        out.display(),
        def.items.len()
    );
    Ok(Outcome::Done)
}

pub async fn show(settings: &Settings, slug: &str, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let v = registry.show(slug, Utc::now()).await?;
    if json {
        return print_json(&v).map(|_| Outcome::Done);
    }
    let tz = settings.timezone;
    let when = |t: chrono::DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let current = v.shown();
    println!(
        "{} {} ({})",
        v.collection
            .licence_number
            .as_deref()
            .unwrap_or("(no licence)"),
        v.collection.slug,
        v.status
    );
    if let Some(c) = current {
        let d = &c.definition;
        println!("  {}", d.title);
        println!("  sponsor:     {}", d.sponsor);
        println!("  legal basis: {}", d.legal_basis);
        println!("  purpose:     {}", d.purpose);
        println!(
            "  frequency:   {} ({} in {}), {} capture, due {} after each period",
            d.frequency.period.adjective(),
            d.frequency.cron,
            d.frequency.timezone,
            d.capture.as_str(),
            d.deadline
        );
        println!(
            "  grain:       {}; {} items",
            d.grain.as_str(),
            d.items.len()
        );
        if let (Some(e), CollectionStatus::Listed) = (c.expires_at, c.status) {
            let verb = if e <= Utc::now() {
                "expired"
            } else {
                "expires"
            };
            println!("  licence {verb} {}", when(e));
        }
        println!("items:");
        let width = d.items.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for i in &d.items {
            let mut notes = Vec::new();
            if d.key.contains(&i.name) {
                notes.push("key".to_string());
            }
            if d.dimensions.contains(&i.name) {
                notes.push("dimension".to_string());
            }
            if let Some(c) = &i.concept {
                notes.push(format!("measures {c}"));
            }
            if !i.breakdown.is_empty() {
                let parts: Vec<String> = i
                    .breakdown
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                notes.push(parts.join(", "));
            }
            if !i.required {
                notes.push("optional".into());
            }
            println!(
                "  {:<width$} {:<9} {}",
                i.name,
                i.ty.name(),
                notes.join("; ")
            );
        }
    }
    println!("versions:");
    for x in &v.versions {
        println!(
            "  v{} {:<10} proposed by {} on {}; sha256 {}",
            x.version,
            x.status,
            x.proposed_by,
            when(x.proposed_at),
            &x.sha256[..12]
        );
    }
    println!("decision log:");
    for d in &v.decisions {
        let version = d.version.map(|n| format!(" v{n}")).unwrap_or_default();
        println!(
            "  {} {}{version} by {}: {}",
            when(d.at),
            d.action,
            d.actor,
            d.reason
        );
        for o in &d.overrides.0 {
            println!("      override of {}: {}", o.rule, o.reason);
        }
        for f in d.findings.0.iter().filter(|f| f.severity != Severity::Pass) {
            let kind = if f.is_blocking() {
                "blocking"
            } else {
                "warning"
            };
            println!("      {kind} {}: {}", f.rule, f.message);
        }
    }
    Ok(Outcome::Done)
}

/// The public register.
pub async fn register(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let entries = registry.register(Utc::now()).await?;
    if json {
        return print_json(&entries).map(|_| Outcome::Done);
    }
    println!("The register of central health and care data collections");
    let day = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&settings.timezone)
            .format("%Y-%m-%d")
            .to_string()
    };
    for e in &entries {
        println!();
        println!(
            "{} {} — {} [{}]",
            e.licence_number.as_deref().unwrap_or("-------"),
            e.slug,
            e.title,
            e.status
        );
        println!("    sponsor {}; {}, {}", e.sponsor, e.frequency, e.capture);
        println!("    legal basis: {}", e.legal_basis);
        if let Some(from) = e.effective_from {
            let coming = if from > Utc::now().with_timezone(&settings.timezone).date_naive() {
                " (coming: nothing is owed before then)"
            } else {
                ""
            };
            println!("    owed from {from}{coming}");
        }
        if let Some(x) = e.expires_at {
            println!("    licence expires {}", day(x));
        }
        if let Some(h) = e.annual_hours {
            println!("    estimated burden {} staff hours a year", thousands(h));
        }
        if let Some(r) = &e.reason {
            println!("    {}: {r}", e.status);
        }
        for o in &e.overrides {
            println!("    DAP overrode the {} rule: {}", o.rule, o.reason);
        }
    }
    if entries.is_empty() {
        println!("(no collections yet)");
    }
    Ok(Outcome::Done)
}
