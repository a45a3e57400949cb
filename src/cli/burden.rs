//! `tally register`, `tally burden`, `tally providers …` and `tally obligations`.

use std::path::Path;

use chrono::{NaiveDate, Utc};

use super::{Outcome, plural, print_json, thousands};
use crate::config::Settings;
use crate::domain::Problems;
use crate::providers;
use crate::registry::burden::BurdenReport;
use crate::registry::views::BudgetChange;

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

pub fn print_burden(r: &BurdenReport) {
    println!("Estimated burden on providers on {}", r.on);
    println!(
        "{:<8} {:<24} {:>10} {:>9} {:>12}",
        "licence", "collection", "capture", "resp.", "hours/year"
    );
    for c in &r.collections {
        println!(
            "{:<8} {:<24} {:>10} {:>9} {:>12}",
            c.licence_number.as_deref().unwrap_or("-"),
            c.slug,
            c.capture.as_str(),
            thousands(f64::from(c.respondents)),
            thousands(c.annual_hours)
        );
    }
    println!(
        "total {} h a year: manual {} h, automated {} h",
        thousands(r.total_hours),
        thousands(r.manual_hours),
        thousands(r.automated_hours)
    );
    match &r.budget {
        None => println!("DAP has set no budget (tally burden set --cap … --goal … --by-date …)."),
        Some(b) => {
            if let (Some(cap), Some(room)) = (b.cap_hours, r.headroom_hours) {
                let state = if room >= 0.0 {
                    "headroom"
                } else {
                    "OVER the cap by"
                };
                println!(
                    "cap {} h: {state} {} h",
                    thousands(cap),
                    thousands(room.abs())
                );
            }
            if let (Some(base), Some(base_on), Some(goal), Some(by), Some(line)) = (
                b.baseline_hours,
                b.baseline_date,
                b.goal_hours,
                b.target_date,
                r.trajectory_hours,
            ) {
                let track = if r.total_hours <= line {
                    "on track"
                } else {
                    "behind the trajectory"
                };
                println!(
                    "target: from {} h on {base_on} to {} h by {by}; the trajectory allows {} h today: {track}",
                    thousands(base),
                    thousands(goal),
                    thousands(line)
                );
            }
        }
    }
    for c in r.collections.iter().filter(|c| c.annual_hours > 0.0) {
        println!(
            "retiring {} would save {} h a year",
            c.slug,
            thousands(c.annual_hours)
        );
    }
}

pub async fn burden(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let report = registry.burden(Utc::now()).await?;
    if json {
        print_json(&report)?;
    } else {
        print_burden(&report);
    }
    Ok(Outcome::Done)
}

pub async fn budget_set(
    settings: &Settings,
    change: BudgetChange,
    by: &str,
    reason: &str,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    registry.set_budget(change, by, reason, Utc::now()).await?;
    println!("Recorded DAP's budget.");
    print_burden(&registry.burden(Utc::now()).await?);
    Ok(Outcome::Done)
}

pub async fn providers_import(settings: &Settings, path: &Path) -> anyhow::Result<Outcome> {
    let list = providers::read_csv(path).map_err(Problems)?;
    let registry = super::open(settings).await?;
    let n = registry.import_providers(&list).await?;
    println!(
        "Imported {} from {}.",
        plural(n, "provider"),
        path.display()
    );
    Ok(Outcome::Done)
}

pub async fn providers_list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let list = registry.store().providers().await?;
    if json {
        return print_json(&list).map(|_| Outcome::Done);
    }
    if !list.is_empty() {
        println!("{:<12} {:<20} {:<24} name", "code", "kind", "region");
    }
    for p in &list {
        let closed = p
            .closed_on
            .map(|d| format!(" (closed {d})"))
            .unwrap_or_default();
        println!(
            "{:<12} {:<20} {:<24} {}{closed}",
            p.code,
            p.kind.as_str(),
            p.region,
            p.name
        );
    }
    println!("{}", plural(list.len() as u64, "provider"));
    Ok(Outcome::Done)
}

pub async fn obligations(
    settings: &Settings,
    provider: Option<&str>,
    on: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let today = Utc::now().with_timezone(&settings.timezone).date_naive();
    if let Some(day) = on
        && day < today
    {
        anyhow::bail!(
            "--on {day} is in the past: obligations are worked out from the collections in force now, and Tally does not yet rebuild the register as it stood on an earlier day"
        );
    }
    let registry = super::open(settings).await?;
    let at = match on {
        Some(d) => d
            .and_hms_opt(12, 0, 0)
            .and_then(|t| t.and_local_timezone(settings.timezone).single())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now),
        None => Utc::now(),
    };
    if let Some(code) = provider
        && !registry
            .store()
            .providers()
            .await?
            .iter()
            .any(|p| p.code.as_str() == code)
    {
        anyhow::bail!(
            "there is no provider {code} in the provider registry (codes are upper case, like RXX)"
        );
    }
    let list: Vec<_> = registry
        .obligations(at)
        .await?
        .into_iter()
        .filter(|o| provider.is_none_or(|p| o.provider == p))
        .collect();
    if json {
        return print_json(&list).map(|_| Outcome::Done);
    }
    for o in &list {
        println!(
            "{:<12} {:<24} {:<8} {:<10} {}",
            o.provider, o.collection, o.licence_number, o.frequency, o.provider_name
        );
    }
    println!("{}", plural(list.len() as u64, "obligation"));
    Ok(Outcome::Done)
}
