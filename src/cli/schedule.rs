//! `tally schedule preview`: when a collection (or any cron expression) fires, local and
//! UTC, and which period each fire collects, so the clock-change policy can be seen.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use clap::Subcommand;

use super::Outcome;
use crate::config::Settings;
use crate::domain::CollectionStatus;
use crate::domain::definition::CollectionDef;
use crate::registry::load;
use crate::schedule::timetable::{Schedule, period_for};

/// `tally schedule …`.
#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Print each fire time, local and UTC, and the period it collects, across clock changes.
    Preview {
        /// A collection's slug in the register, or its definition file.
        #[arg(required_unless_present = "cron", conflicts_with = "cron")]
        collection: Option<String>,
        /// A cron expression to preview instead of a collection.
        #[arg(long)]
        cron: Option<String>,
        /// Timezone for --cron (default: the settings' timezone).
        #[arg(long, requires = "cron")]
        timezone: Option<String>,
        /// Start (exclusive): 2026-03-29, 2026-03-29T01:30 (local) or RFC 3339.
        #[arg(long)]
        from: String,
        /// End (inclusive), in the same forms.
        #[arg(long)]
        to: String,
        /// One JSON object per line: fire_local, fire_utc and, for a collection, period,
        /// period_start and period_end.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `tally schedule …` command.
pub async fn run(s: &Settings, command: ScheduleCommand) -> anyhow::Result<Outcome> {
    match command {
        ScheduleCommand::Preview {
            collection,
            cron,
            timezone,
            from,
            to,
            json,
        } => {
            preview(
                s,
                collection.as_deref(),
                cron.as_deref(),
                timezone.as_deref(),
                &from,
                &to,
                json,
            )
            .await
        }
    }
}

/// The most fires one preview prints: a year of a five-minute schedule.
const MOST: usize = 110_000;

#[derive(Serialize)]
struct Fire {
    fire_local: String,
    fire_utc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    period_start: Option<NaiveDate>,
    /// The period's last day.
    #[serde(skip_serializing_if = "Option::is_none")]
    period_end: Option<NaiveDate>,
}

/// Reads `2026-03-29`, `2026-03-29T01:30` (both local to `tz`) or RFC 3339.
pub fn parse_time(s: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap())
        })
        .with_context(|| {
            format!(
                "\"{s}\" is not a time like 2026-03-29, 2026-03-29T01:30 or 2026-03-29T01:30:00Z"
            )
        })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{s} does not exist in {tz} (it falls in a clock change)"))
}

async fn definition(settings: &Settings, what: &str) -> anyhow::Result<CollectionDef> {
    if what.ends_with(".toml") || Path::new(what).is_file() {
        return Ok(load::load_file(Path::new(what), settings.timezone)?.def);
    }
    let registry = super::open(settings).await?;
    let view = registry.show(what, Utc::now()).await?;
    let version = view
        .versions
        .iter()
        .find(|v| v.status == CollectionStatus::Listed)
        .or(view.versions.last())
        .context("the collection has no versions")?;
    Ok(version.definition.clone())
}

pub async fn preview(
    settings: &Settings,
    collection: Option<&str>,
    cron: Option<&str>,
    timezone: Option<&str>,
    from: &str,
    to: &str,
    json: bool,
) -> anyhow::Result<Outcome> {
    let (schedule, tz, kind) = match (collection, cron) {
        (Some(c), None) => {
            if timezone.is_some() {
                bail!("--timezone goes with --cron; a collection has its own timezone");
            }
            let def = definition(settings, c).await?;
            let tz = def.frequency.timezone;
            (Schedule::of(&def), tz, Some(def.frequency.period))
        }
        (None, Some(expr)) => {
            let tz: Tz = match timezone {
                Some(name) => name.parse().map_err(|_| {
                    anyhow::anyhow!("unknown timezone \"{name}\" (e.g. Europe/London)")
                })?,
                None => settings.timezone,
            };
            (
                Schedule::new(expr, tz).map_err(anyhow::Error::msg)?,
                tz,
                None,
            )
        }
        _ => bail!("give a collection (its slug or definition file) or --cron, not both"),
    };
    let (from, to) = (parse_time(from, tz)?, parse_time(to, tz)?);
    if to <= from {
        bail!("--to must be after --from");
    }
    let fires = schedule.fires(from, to, MOST + 1);
    if fires.len() > MOST {
        bail!("more than {MOST} fires between --from and --to; preview a shorter span");
    }
    for f in &fires {
        let period = kind.map(|k| period_for(k, *f));
        let line = Fire {
            fire_local: f.to_rfc3339(),
            fire_utc: f
                .with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            period: period.map(|p| p.to_string()),
            period_start: period.map(|p| p.first_day()),
            period_end: period.map(|p| p.end().pred_opt().expect("a period ends after it starts")),
        };
        if json {
            println!("{}", serde_json::to_string(&line)?);
        } else {
            let collects = line
                .period
                .as_deref()
                .map(|p| format!("  collects {p}"))
                .unwrap_or_default();
            println!(
                "{}  {}  {}{collects}",
                f.format("%Y-%m-%d %H:%M %Z"),
                line.fire_utc,
                f.format("%a")
            );
        }
    }
    if !json && fires.is_empty() {
        println!("No fires between {from} and {to}.");
    }
    Ok(Outcome::Done)
}
