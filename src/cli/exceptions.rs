//! `tally exceptions`: DAP's exceptions to the window a period may be sent in by hand.

use chrono::Utc;
use clap::Subcommand;

use super::{Outcome, plural, print_json};
use crate::config::Settings;
use crate::registry::exceptions::{DEFAULT_DAYS, Grant};

#[derive(Subcommand)]
pub enum ExceptionsCommand {
    /// Let one provider send periods of a collection outside its window: from before the
    /// collection was listed, or after a period's amendment window closed. Recorded with
    /// the reason, in the audit log too, and lapses.
    Grant {
        /// The collection's slug.
        collection: String,
        /// The provider's code.
        #[arg(long)]
        provider: String,
        /// The first period it covers (2026-11-24, 2026-11, 2026-27-Q1…).
        #[arg(long)]
        period: String,
        /// The last period it covers (default: the first alone).
        #[arg(long)]
        to: Option<String>,
        /// Days until it lapses (1 to 90).
        #[arg(long, default_value_t = DEFAULT_DAYS)]
        days: u32,
        /// The DAP member granting it.
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
        /// Why, in words that will be kept with it.
        #[arg(long)]
        reason: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Every exception granted, newest first.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// `tally exceptions …`.
pub async fn run(settings: &Settings, command: ExceptionsCommand) -> anyhow::Result<Outcome> {
    let registry = match command {
        ExceptionsCommand::List { .. } => super::open_existing(settings).await?,
        ExceptionsCommand::Grant { .. } => super::open(settings).await?,
    };
    match command {
        ExceptionsCommand::Grant {
            collection,
            provider,
            period,
            to,
            days,
            by,
            reason,
            json,
        } => {
            let grant = Grant {
                collection: &collection,
                provider: &provider,
                first: &period,
                last: to.as_deref(),
                by: &by,
                reason: &reason,
                days,
            };
            let e = registry.grant_exception(&grant, Utc::now()).await?;
            if json {
                print_json(&e)?;
            } else {
                let periods = if e.first_period == e.last_period {
                    e.first_period.clone()
                } else {
                    format!("{} to {}", e.first_period, e.last_period)
                };
                println!(
                    "Exception {}: {} may send {} of {} by hand until {}.",
                    e.id,
                    e.provider,
                    periods,
                    e.collection,
                    e.lapses_at
                        .with_timezone(&settings.timezone)
                        .format("%-d %B %Y %H:%M")
                );
            }
            Ok(Outcome::Done)
        }
        ExceptionsCommand::List { json } => {
            let all = registry.store().exceptions(None).await?;
            if json {
                return print_json(&all).map(|_| Outcome::Done);
            }
            for e in &all {
                println!(
                    "{:<4} {:<22} {:<12} {} to {}  until {}  by {}: {}",
                    e.id,
                    e.collection,
                    e.provider,
                    e.first_period,
                    e.last_period,
                    e.lapses_at
                        .with_timezone(&settings.timezone)
                        .format("%Y-%m-%d"),
                    e.granted_by,
                    e.reason
                );
            }
            println!("{}", plural(all.len() as u64, "exception"));
            Ok(Outcome::Done)
        }
    }
}
