//! `tally providers …` and `tally obligations`: the organisations that must report, and
//! what each owes.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};

use super::{Json, Outcome, plural, print_json};
use crate::config::Settings;
use crate::domain::Problems;
use crate::providers;

/// `tally providers …`.
#[derive(Subcommand)]
pub enum ProvidersCommand {
    /// Add or update providers from a CSV (columns: code, name, kind, region, icb,
    /// local_authority, opened_on, closed_on, successor). All rows or none.
    Import {
        /// The CSV file.
        csv: PathBuf,
    },
    /// List the providers.
    List(Json),
}

/// `tally obligations`: what each provider owes.
#[derive(Args)]
pub struct ObligationsArgs {
    /// Only this provider (ODS code or CQC location id).
    #[arg(long)]
    provider: Option<String>,
    /// On this day, today or later (default today); providers' open and close dates
    /// apply.
    #[arg(long, value_name = "YYYY-MM-DD")]
    on: Option<NaiveDate>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// Runs one `tally providers …` command.
pub async fn run(s: &Settings, command: ProvidersCommand) -> anyhow::Result<Outcome> {
    match command {
        ProvidersCommand::Import { csv } => import(s, &csv).await,
        ProvidersCommand::List(j) => list(s, j.json).await,
    }
}

/// `tally obligations`.
pub async fn obligations_of(s: &Settings, args: ObligationsArgs) -> anyhow::Result<Outcome> {
    obligations(s, args.provider.as_deref(), args.on, args.json).await
}

async fn import(settings: &Settings, path: &Path) -> anyhow::Result<Outcome> {
    let list = providers::read_csv(path).map_err(Problems)?;
    let contacts = providers::read_contacts(path).map_err(Problems)?;
    let registry = super::open(settings).await?;
    let n = registry.import_providers(&list, chrono::Utc::now()).await?;
    for (code, addresses) in &contacts {
        registry.store().set_contacts(code, addresses).await?;
    }
    println!(
        "Imported {} from {}{}.",
        plural(n, "provider"),
        path.display(),
        if contacts.is_empty() {
            String::new()
        } else {
            format!(
                ", with contact addresses for {}",
                plural(contacts.len() as u64, "provider")
            )
        }
    );
    Ok(Outcome::Done)
}

async fn list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
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

async fn obligations(
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
