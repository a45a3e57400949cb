//! `tally signoffs`: a provider's sign-off of the periods pulled from its source, standing
//! or period by period, as on its page and through the API.

use chrono::{NaiveDate, Utc};
use clap::Subcommand;

use super::{Outcome, print_json};
use crate::config::Settings;

#[derive(Subcommand)]
pub enum SignOffsCommand {
    /// A provider's standing sign-offs and the pulled periods awaiting its sign-off.
    List {
        /// The provider's code.
        #[arg(long)]
        provider: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Give a standing sign-off: every period of the collection pulled from the provider's
    /// source that starts on or after `--from` is signed off in the giver's name.
    Give {
        /// The collection's slug.
        collection: String,
        #[arg(long)]
        provider: String,
        /// It covers the periods that start on or after this day (default: the earliest
        /// period awaiting sign-off, or today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// Who at the provider gives it.
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
    },
    /// Revoke the standing sign-off in force: periods pulled from now on await a sign-off
    /// each.
    Revoke {
        collection: String,
        #[arg(long)]
        provider: String,
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
    },
    /// Sign off one pulled period's current version.
    #[command(disable_version_flag = true)]
    Sign {
        collection: String,
        #[arg(long)]
        provider: String,
        /// The period (2026-11-24, 2026-11, 2026-27-Q1…).
        #[arg(long)]
        period: String,
        /// The version looked at: a newer one is not signed off unseen.
        #[arg(long)]
        version: i64,
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
    },
}

/// `tally signoffs …`.
pub async fn run(settings: &Settings, command: SignOffsCommand) -> anyhow::Result<Outcome> {
    let registry = match command {
        SignOffsCommand::List { .. } => super::open_existing(settings).await?,
        _ => super::open(settings).await?,
    };
    let now = Utc::now();
    let day = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    match command {
        SignOffsCommand::List { provider, json } => {
            let s = registry.signoffs_of(&provider, now).await?;
            if json {
                return print_json(&s).map(|_| Outcome::Done);
            }
            for st in s.standing.iter().filter(|s| s.in_force()) {
                println!(
                    "Standing sign-off of {} from {}, given by {}.",
                    st.collection,
                    day(st.from_day),
                    st.given_by
                );
            }
            if s.awaiting.is_empty() {
                println!("No pulled period awaits {provider}'s sign-off.");
            }
            for a in &s.awaiting {
                println!(
                    "{} {} version {} awaits sign-off; due {}.",
                    a.collection,
                    a.period,
                    a.version,
                    a.deadline
                        .with_timezone(&settings.timezone)
                        .format("%-d %B %Y %H:%M")
                );
            }
        }
        SignOffsCommand::Give {
            collection,
            provider,
            from,
            by,
        } => {
            let s = registry
                .give_standing(&provider, &collection, from, &by, now)
                .await?;
            let detail = format!("from {}", s.from_day);
            audit(
                &registry,
                &by,
                "give standing sign-off",
                &format!("{collection} {provider}"),
                detail,
            )
            .await?;
            println!(
                "Standing sign-off {} given: {} signs off the periods of {collection} for {provider} that start on or after {}.",
                s.id,
                s.given_by,
                day(s.from_day)
            );
        }
        SignOffsCommand::Revoke {
            collection,
            provider,
            by,
        } => {
            let s = registry
                .revoke_standing(&provider, &collection, &by, now)
                .await?;
            let detail = format!("given by {} from {}", s.given_by, s.from_day);
            audit(
                &registry,
                &by,
                "revoke standing sign-off",
                &format!("{collection} {provider}"),
                detail,
            )
            .await?;
            println!(
                "Revoked: periods of {collection} pulled for {provider} from now on await a sign-off each."
            );
        }
        SignOffsCommand::Sign {
            collection,
            provider,
            period,
            version,
            by,
        } => {
            let v = registry
                .sign_period(&provider, &collection, &period, version, &by, now)
                .await?;
            let target = format!("{collection} {period} {provider}");
            audit(
                &registry,
                &by,
                "sign off period",
                &target,
                format!("version {}", v.version),
            )
            .await?;
            println!(
                "Signed off: {collection} {} version {} from {provider}, by {by}.",
                v.period, v.version
            );
        }
    }
    Ok(Outcome::Done)
}

/// Records a sign-off made on the command line in the audit log, in the giver's name, as
/// the pages and the API record theirs.
async fn audit(
    registry: &crate::registry::Registry,
    by: &str,
    action: &str,
    target: &str,
    detail: String,
) -> anyhow::Result<()> {
    registry
        .store()
        .audit(&crate::store::access::NewAudit {
            at: Utc::now(),
            actor: by.into(),
            role: "cli".into(),
            action: action.into(),
            target: target.into(),
            outcome: crate::domain::AuditOutcome::Done,
            detail,
        })
        .await
}
