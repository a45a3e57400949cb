//! `tally burden` and `tally burden set`: the estimated burden, and DAP's budget.

use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};

use super::{Outcome, print_json, thousands};
use crate::config::Settings;
use crate::registry::burden::BurdenReport;
use crate::registry::views::BudgetChange;

/// `tally burden`: the estimate, or `set` to change DAP's budget.
#[derive(Args)]
pub struct BurdenArgs {
    #[command(subcommand)]
    set: Option<BurdenCommand>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// `tally burden set`.
#[derive(Subcommand)]
pub enum BurdenCommand {
    /// What the periods owed between two days cost as achieved (how each was met, priced
    /// from its definition) beside what the estimate says they cost.
    Achieved {
        /// The first day (default: a year before `--to`).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// The day after the last (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<NaiveDate>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The burden report to the Secretary of State as recorded by the end of a day: the
    /// headline against the budget, the trajectory, the changes by cause, each collection's
    /// estimated and achieved burden and cost, and the year's decisions. The same day gives
    /// the same bytes whenever it is made.
    Report {
        /// The last day the report covers (default: yesterday, the last whole day).
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<NaiveDate>,
        /// json, csv (one long table) or xlsx (a sheet a part).
        #[arg(long, default_value = "xlsx")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
        /// File it in the register as this DAP member, to be listed on /progress.
        #[arg(long, value_name = "NAME")]
        file_by: Option<String>,
    },
    /// Set DAP's cap and reduction target; what is not given stays as it was.
    Set {
        /// Cap on total estimated annual burden, in hours.
        #[arg(long, allow_negative_numbers = true)]
        cap: Option<f64>,
        /// Baseline hours (default: today's total when a goal is first set).
        #[arg(long, allow_negative_numbers = true)]
        baseline: Option<f64>,
        /// Baseline date (default: today when a goal is first set).
        #[arg(long, value_name = "YYYY-MM-DD")]
        baseline_date: Option<NaiveDate>,
        /// Goal, in annual hours.
        #[arg(long, allow_negative_numbers = true)]
        goal: Option<f64>,
        /// Date by which the goal is to be met.
        #[arg(long, value_name = "YYYY-MM-DD")]
        by_date: Option<NaiveDate>,
        /// The DAP member deciding.
        #[arg(long, env = "TALLY_ACTOR")]
        by: String,
        /// Why, in words that will be published with the budget.
        #[arg(long)]
        reason: String,
    },
}

/// Runs `tally burden` or `tally burden set`.
pub async fn run(s: &Settings, args: BurdenArgs) -> anyhow::Result<Outcome> {
    match args.set {
        None => burden(s, args.json).await,
        Some(BurdenCommand::Achieved { from, to, json }) => achieved(s, from, to, json).await,
        Some(BurdenCommand::Report {
            as_of,
            format,
            out,
            file_by,
        }) => report(s, as_of, &format, &out, file_by.as_deref()).await,
        Some(BurdenCommand::Set {
            cap,
            baseline,
            baseline_date,
            goal,
            by_date,
            by,
            reason,
        }) => {
            let change = BudgetChange {
                cap_hours: cap,
                baseline_hours: baseline,
                baseline_date,
                goal_hours: goal,
                target_date: by_date,
            };
            budget_set(s, change, &by, &reason).await
        }
    }
}

pub fn print_burden(r: &BurdenReport, rates: Option<&crate::domain::budget::StaffRates>) {
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
    let (_, pounds) = crate::registry::report::price(&r.collections, rates);
    let by_hand: u32 = r.collections.iter().map(|c| c.by_hand).sum();
    println!(
        "total {} h a year{}: manual {} h, automated {} h{}",
        thousands(r.total_hours),
        pounds
            .map(|p| format!(" ({})", crate::registry::burden::pounds(p)))
            .unwrap_or_default(),
        thousands(r.manual_hours),
        thousands(r.automated_hours),
        match by_hand {
            0 => String::new(),
            n => format!(
                " ({n} respondents send an automated collection by hand, priced at its manual minutes)"
            ),
        }
    );
    if let (Some(_), Some(rates)) = (pounds, rates) {
        println!("priced at the staff rates from {}", rates.source);
    }
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

async fn burden(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let report = registry.burden(Utc::now()).await?;
    if json {
        print_json(&report)?;
    } else {
        print_burden(&report, settings.staff_rates.as_ref());
    }
    Ok(Outcome::Done)
}

async fn achieved(
    settings: &Settings,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let now = Utc::now();
    let to = to.unwrap_or_else(|| now.with_timezone(&settings.timezone).date_naive());
    let from = from.unwrap_or_else(|| to - chrono::Duration::days(365));
    if from >= to || (to - from).num_days() > 1096 {
        anyhow::bail!("--from {from} must be before --to {to}, and at most three years before it");
    }
    let a = registry
        .achieved(from, to, now, settings.staff_rates.as_ref())
        .await?;
    if json {
        print_json(&a)?;
    } else {
        print_achieved(&a);
    }
    Ok(Outcome::Done)
}

async fn report(
    settings: &Settings,
    as_of: Option<NaiveDate>,
    format: &str,
    out: &std::path::Path,
    file_by: Option<&str>,
) -> anyhow::Result<Outcome> {
    use crate::registry::report_files::{Format, write};
    let format = Format::parse(format).map_err(anyhow::Error::msg)?;
    let registry = super::open_existing(settings).await?;
    let today = Utc::now().with_timezone(&settings.timezone).date_naive();
    let as_of = as_of.unwrap_or(today - chrono::Days::new(1));
    let rates = settings.staff_rates.as_ref();
    let (report, filed) = match file_by {
        Some(by) => {
            let (r, id) = registry.file_report(as_of, by, Utc::now(), rates).await?;
            (r, Some(id))
        }
        None => (
            registry
                .progress_report_checked(as_of, Utc::now(), rates)
                .await?,
            None,
        ),
    };
    let bytes = write(&report, format)?;
    std::fs::write(out, &bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    println!(
        "The burden report as of {as_of} is in {} ({} bytes).",
        out.display(),
        bytes.len()
    );
    if let Some(id) = filed {
        println!("Filed as report {id}; it is listed on /progress.");
    }
    Ok(Outcome::Done)
}

/// The achieved burden as a table, each collection's periods by how they were met.
pub fn print_achieved(a: &crate::registry::achieved::Achieved) {
    use crate::registry::burden::hours;
    println!(
        "Burden of the periods owed from {} to {}, as estimated and as achieved",
        a.from,
        a.to - chrono::Duration::days(1)
    );
    println!(
        "{:<24} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>5} {:>6} {:>10} {:>10}",
        "collection",
        "owed",
        "pulled",
        "by hand",
        "forms",
        "fixes",
        "corr.",
        "nil",
        "never",
        "estimated",
        "achieved"
    );
    for c in &a.collections {
        println!(
            "{:<24} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>5} {:>6} {:>10} {:>10}",
            c.collection,
            thousands(f64::from(c.owed)),
            thousands(f64::from(c.pulled)),
            thousands(f64::from(c.uploaded)),
            thousands(f64::from(c.forms)),
            thousands(f64::from(c.fixes)),
            thousands(f64::from(c.corrections)),
            thousands(f64::from(c.nil_returns)),
            thousands(f64::from(c.never_sent)),
            hours(c.estimated_hours),
            hours(c.achieved_hours)
        );
    }
    println!(
        "total: estimated {} h, achieved {} h; never sent is counted and costs nothing",
        hours(a.estimated_hours),
        hours(a.achieved_hours)
    );
    match (&a.rates_source, a.estimated_pounds, a.achieved_pounds) {
        (Some(source), Some(e), Some(p)) => {
            use crate::registry::burden::pounds;
            for c in &a.collections {
                println!(
                    "{:<24} {} estimated, {} achieved ({})",
                    c.collection,
                    c.estimated_pounds.map_or("-".into(), pounds),
                    c.achieved_pounds.map_or("-".into(), pounds),
                    c.staff_group.as_deref().unwrap_or("default rate")
                );
            }
            println!(
                "in pounds: estimated {}, achieved {}, at {source}",
                pounds(e),
                pounds(p)
            );
        }
        (Some(source), _, _) => println!(
            "not priced in pounds: a collection's staff group has no rate in {source}, and there is no default"
        ),
        (None, _, _) => {
            println!("not priced in pounds: set staff_rates and staff_rates_source in tally.toml")
        }
    }
}

async fn budget_set(
    settings: &Settings,
    change: BudgetChange,
    by: &str,
    reason: &str,
) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    registry.set_budget(change, by, reason, Utc::now()).await?;
    println!("Recorded DAP's budget.");
    print_burden(
        &registry.burden(Utc::now()).await?,
        settings.staff_rates.as_ref(),
    );
    Ok(Outcome::Done)
}
